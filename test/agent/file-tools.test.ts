import { readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isAvatarError } from '../../core/errors.ts';
import { Redactor } from '../../core/redact.ts';
import { askClarification } from '../../container/runner/agent/tools/ask-clarification.ts';
import { editFile } from '../../container/runner/agent/tools/edit-file.ts';
import { finish } from '../../container/runner/agent/tools/finish.ts';
import { LIST_MAX_ENTRIES, listFiles } from '../../container/runner/agent/tools/list-files.ts';
import { READ_WINDOW_LINES, readFileTool } from '../../container/runner/agent/tools/read-file.ts';
import { runTestsTool } from '../../container/runner/agent/tools/run-tests.ts';
import { SEARCH_MAX_HITS, globMatcher, searchCode } from '../../container/runner/agent/tools/search-code.ts';
import { writeFileTool } from '../../container/runner/agent/tools/write-file.ts';
import { makeRepo, toolContext } from './helpers.ts';
import type { TempRepo } from './helpers.ts';

const repos: TempRepo[] = [];
async function repoWith(files: Record<string, string>): Promise<TempRepo> {
  const r = await makeRepo(files);
  repos.push(r);
  return r;
}
afterEach(async () => {
  while (repos.length) await repos.pop()?.cleanup();
});

const lines = (n: number, prefix = 'line') =>
  Array.from({ length: n }, (_, i) => `${prefix} ${i + 1}`).join('\n') + '\n';

describe('list_files', () => {
  it('lists a tree, leaving out .git and what .gitignore ignores (nested files, negation, dir-only)', async () => {
    const r = await repoWith({
      '.gitignore': 'node_modules/\n*.log\n/build\n!keep.log\n# a comment\n',
      'src/index.ts': '',
      'src/lib/util.ts': '',
      'src/.gitignore': 'generated/\n',
      'src/generated/x.ts': '',
      'debug.log': '',
      'keep.log': '',
      'node_modules/pkg/index.js': '',
      'build/out.js': '',
      'lib/build/kept.js': '',
      'README.md': '',
      '.git/HEAD': 'ref: refs/heads/main\n',
      '.git/info/exclude': 'secret-notes.txt\n',
      'secret-notes.txt': '',
    });
    const res = await listFiles(toolContext(r.dir), { depth: 3 });
    const out = res.output;
    expect(out).toContain('src/\n  .gitignore\n  index.ts\n  lib/\n    util.ts');
    expect(out).toContain('keep.log');
    expect(out).toContain('README.md');
    expect(out).toContain('lib/\n  build/\n    kept.js'); // /build is anchored to the root
    for (const hidden of ['node_modules', 'debug.log', 'generated', 'out.js', 'HEAD', 'secret-notes']) {
      expect(out).not.toContain(hidden);
    }
    expect(out.split('\n').map((l) => l.trim())).not.toContain('.git/');
  });

  it('respects depth, marks unexpanded directories, and lists a subdirectory', async () => {
    const r = await repoWith({ 'a/b/c/d.txt': '', 'a/top.txt': '' });
    const shallow = await listFiles(toolContext(r.dir), {});
    expect(shallow.output).toContain('a/\n  b/ …\n  top.txt');
    expect(shallow.output).not.toContain('d.txt');
    expect(shallow.output).toMatch(/marked … have more inside/);
    const sub = await listFiles(toolContext(r.dir), { path: 'a/b', depth: 5 });
    expect(sub.output).toMatch(/^a\/b\/ /);
    expect(sub.output).toContain('c/\n  d.txt');
  });

  it('shows symlinks without following them, and errors on files and missing paths', async () => {
    const r = await repoWith({ 'f.txt': 'x' });
    await symlink('/etc', path.join(r.dir, 'etc'));
    const res = await listFiles(toolContext(r.dir), { depth: 3 });
    expect(res.output).toContain('etc -> /etc');
    expect(res.output).not.toContain('passwd');
    await expect(listFiles(toolContext(r.dir), { path: 'f.txt' })).rejects.toThrow(/is a file/);
    await expect(listFiles(toolContext(r.dir), { path: 'nope' })).rejects.toThrow(/no such directory/);
    await expect(listFiles(toolContext(r.dir), { path: 'etc' })).rejects.toThrow(/symbolic link/);
  });

  it('cuts very long listings with a note', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < LIST_MAX_ENTRIES + 20; i++) files[`f${String(i).padStart(4, '0')}.txt`] = '';
    const r = await repoWith(files);
    const res = await listFiles(toolContext(r.dir), {});
    expect(res.output).toContain(`Listing cut at ${LIST_MAX_ENTRIES} entries`);
    expect(res.output).not.toContain(`f${LIST_MAX_ENTRIES + 10}.txt`);
  });
});

describe('read_file', () => {
  it('shows a small file whole, numbered', async () => {
    const r = await repoWith({ 'a.txt': 'alpha\nβeta 中文\n' });
    const res = await readFileTool(toolContext(r.dir), { path: 'a.txt' });
    expect(res.output).toBe(
      'a.txt (2 lines; the numbers before the tab are not part of the file)\n1\talpha\n2\tβeta 中文',
    );
  });

  it(`windows a large file at ${READ_WINDOW_LINES} lines and says how to see more`, async () => {
    const r = await repoWith({ 'big.txt': lines(950) });
    const first = await readFileTool(toolContext(r.dir), { path: 'big.txt' });
    expect(first.output).toMatch(/^big\.txt: lines 1-200 of 950/);
    expect(first.output).toContain('200\tline 200');
    expect(first.output).not.toContain('line 201');
    expect(first.output).toContain('750 more lines: call read_file with start_line=201 to see more.');

    const mid = await readFileTool(toolContext(r.dir), { path: 'big.txt', start_line: 400, end_line: 402 });
    expect(mid.output).toContain('lines 400-402 of 950');
    expect(mid.output.split('\n').filter((l) => /^\d+\t/.test(l))).toEqual([
      '400\tline 400',
      '401\tline 401',
      '402\tline 402',
    ]);

    const capped = await readFileTool(toolContext(r.dir), { path: 'big.txt', start_line: 1, end_line: 900 });
    expect(capped.output).toContain('lines 1-200 of 950');
    expect(capped.output).toContain('at most 200 lines per call');

    const tail = await readFileTool(toolContext(r.dir), { path: 'big.txt', start_line: 900 });
    expect(tail.output).toContain('lines 900-950 of 950');
    expect(tail.output).not.toContain('more lines');
  });

  it('errors clearly: missing, directory, past the end, bad range; binary and empty files', async () => {
    const r = await repoWith({ 'a.txt': 'one\n', 'empty.txt': '', 'dir/x': '' });
    await writeFile(path.join(r.dir, 'bin.dat'), Buffer.from([1, 2, 0, 3]));
    const ctx = toolContext(r.dir);
    await expect(readFileTool(ctx, { path: 'nope.txt' })).rejects.toThrow(/no such file/);
    await expect(readFileTool(ctx, { path: 'dir' })).rejects.toThrow(/is a directory/);
    await expect(readFileTool(ctx, { path: 'a.txt', start_line: 5 })).rejects.toThrow(
      /past the end: a.txt has 1 lines/,
    );
    await expect(readFileTool(ctx, { path: 'a.txt', start_line: 1, end_line: 0 })).rejects.toThrow(
      /before start_line/,
    );
    await expect(readFileTool(ctx, { path: '../etc/passwd' })).rejects.toSatisfy((e) =>
      isAvatarError(e, 'PATH_ESCAPE'),
    );
    expect((await readFileTool(ctx, { path: 'bin.dat' })).output).toMatch(/binary file \(4 bytes\)/);
    expect((await readFileTool(ctx, { path: 'empty.txt' })).output).toMatch(/empty \(0 lines\)/);
  });
});

describe('search_code', () => {
  it('finds regex hits as file:line: text, skipping ignored and binary files', async () => {
    const r = await repoWith({
      '.gitignore': 'dist/\n',
      'src/a.ts': 'const x = 1;\nfunction login() {}\n',
      'src/b.js': 'function login2() {}\n',
      'dist/a.js': 'function login() {}\n',
      'notes.md': 'login here\n',
    });
    await writeFile(
      path.join(r.dir, 'src/blob.bin'),
      Buffer.concat([Buffer.from('function login'), Buffer.from([0])]),
    );
    const res = await searchCode(toolContext(r.dir), { pattern: 'function\\s+login' });
    expect(res.output).toBe(
      [
        '/function\\s+login/ in the repository: 2 hits in 2 files (4 files searched; 1 binary file skipped).',
        'Files:',
        '  src/a.ts (1 hit)',
        '  src/b.js (1 hit)',
        'Hits:',
        'src/a.ts:2: function login() {}',
        'src/b.js:1: function login2() {}',
      ].join('\n'),
    );
  });

  it('filters by glob (names, paths, braces) and by path', async () => {
    const r = await repoWith({
      'src/a.ts': 'hit\n',
      'src/deep/b.tsx': 'hit\n',
      'c.js': 'hit\n',
      'test/d.ts': 'hit\n',
    });
    const ctx = toolContext(r.dir);
    const files = async (args: { glob?: string; path?: string }) =>
      (await searchCode(ctx, { pattern: 'hit', ...args })).output
        .split('\n')
        .filter((l) => l.includes(':1:'))
        .map((l) => l.split(':')[0]);
    expect(await files({ glob: '*.ts' })).toEqual(['src/a.ts', 'test/d.ts']);
    expect(await files({ glob: 'src/**/*.{ts,tsx}' })).toEqual(['src/a.ts', 'src/deep/b.tsx']);
    expect(await files({ path: 'src' })).toEqual(['src/a.ts', 'src/deep/b.tsx']);
    expect(await files({ path: 'c.js' })).toEqual(['c.js']);
    expect(globMatcher('**/*.md')('a/b/c.md')).toBe(true);
    expect(globMatcher('**/*.md')('c.md')).toBe(true);
  });

  it(`stops at ${SEARCH_MAX_HITS} hits and says so; reports no matches and bad patterns`, async () => {
    const r = await repoWith({ 'many.txt': lines(300, 'needle'), 'z/other.txt': 'needle\nneedle\n' });
    const ctx = toolContext(r.dir);
    const res = await searchCode(ctx, { pattern: 'needle' });
    const hits = res.output.split('\n').filter((l) => /^[\w/.]+:\d+: /.test(l));
    expect(hits).toHaveLength(SEARCH_MAX_HITS);
    // Every matching file is listed with its count before the hits, even the one whose hits were cut.
    expect(res.output.split('\n').slice(0, 4)).toEqual([
      '/needle/ in the repository: 302 hits in 2 files (2 files searched).',
      'Files:',
      '  many.txt (300 hits)',
      '  z/other.txt (2 hits)',
    ]);
    expect(res.output).toContain(`Hits (the first ${SEARCH_MAX_HITS} of 302:`);
    expect(res.output).not.toContain('z/other.txt:1:');
    expect((await searchCode(ctx, { pattern: 'haystack' })).output).toMatch(
      /^No matches for \/haystack\/ in the repository: 2 files searched/,
    );
    await expect(searchCode(ctx, { pattern: '(unclosed' })).rejects.toThrow(
      /not a valid JavaScript regular expression/,
    );
    await expect(searchCode(ctx, { pattern: 'x', path: '/etc' })).rejects.toThrow(/absolute/);
  });
});

describe('write_file', () => {
  it('creates (with parents) and overwrites, recording touched paths', async () => {
    const r = await repoWith({ 'old.txt': 'old\n' });
    const ctx = toolContext(r.dir);
    const created = await writeFileTool(ctx, {
      path: 'src/new/deep.ts',
      content: 'export const 名 = "値";\n',
    });
    expect(created.output).toBe('created src/new/deep.ts (1 line, 26 bytes)');
    expect(await readFile(path.join(r.dir, 'src/new/deep.ts'), 'utf8')).toBe('export const 名 = "値";\n');
    const over = await writeFileTool(ctx, { path: 'old.txt', content: 'a\nb\n' });
    expect(over.output).toMatch(/^overwrote old.txt \(2 lines/);
    expect([...ctx.touched]).toEqual(['src/new/deep.ts', 'old.txt']);
  });

  it('refuses directories, the root, and paths through symlinks that leave the repository', async () => {
    const r = await repoWith({ 'd/x': '' });
    await symlink('/tmp', path.join(r.dir, 'tmp-link'));
    const ctx = toolContext(r.dir);
    await expect(writeFileTool(ctx, { path: 'd', content: '' })).rejects.toThrow(/is a directory/);
    await expect(writeFileTool(ctx, { path: '.', content: '' })).rejects.toThrow(/repository root/);
    await expect(writeFileTool(ctx, { path: 'tmp-link/evil.txt', content: '' })).rejects.toThrow(
      /symbolic link/,
    );
    expect(ctx.touched.size).toBe(0);
  });
});

describe('edit_file', () => {
  it('replaces exactly one occurrence', async () => {
    const r = await repoWith({ 'a.ts': 'const a = 1;\nconst b = 2;\n' });
    const ctx = toolContext(r.dir);
    const res = await editFile(ctx, {
      path: 'a.ts',
      old_text: 'const b = 2;',
      new_text: 'const b = 3;\nconst c = 4;',
    });
    expect(res.output).toMatch(/^edited a.ts: replaced 1 occurrence at line 2/);
    expect(await readFile(path.join(r.dir, 'a.ts'), 'utf8')).toBe(
      'const a = 1;\nconst b = 3;\nconst c = 4;\n',
    );
    expect(ctx.touched.has('a.ts')).toBe(true);
  });

  it('says when old_text is not found, and leaves the file alone', async () => {
    const r = await repoWith({ 'a.ts': 'const a = 1;\n' });
    const ctx = toolContext(r.dir);
    await expect(editFile(ctx, { path: 'a.ts', old_text: 'const a = 2;', new_text: 'x' })).rejects.toThrow(
      /not found in a.ts \(0 occurrences\)/,
    );
    expect(await readFile(path.join(r.dir, 'a.ts'), 'utf8')).toBe('const a = 1;\n');
    expect(ctx.touched.size).toBe(0);
  });

  it('says how many times and where when old_text occurs several times', async () => {
    const r = await repoWith({ 'a.ts': 'x();\ny();\nx();\nx();\n' });
    await expect(
      editFile(toolContext(r.dir), { path: 'a.ts', old_text: 'x();', new_text: 'z();' }),
    ).rejects.toThrow(/occurs 3 times in a.ts \(at lines 1, 3, 4\)/);
    expect(await readFile(path.join(r.dir, 'a.ts'), 'utf8')).toBe('x();\ny();\nx();\nx();\n');
  });

  it('matches LF old_text in a CRLF file, keeps CRLF; refuses empty old_text and missing files', async () => {
    const r = await repoWith({ 'w.txt': 'one\r\ntwo\r\nthree\r\n' });
    const ctx = toolContext(r.dir);
    await editFile(ctx, { path: 'w.txt', old_text: 'one\ntwo', new_text: 'uno\ndos' });
    expect(await readFile(path.join(r.dir, 'w.txt'), 'utf8')).toBe('uno\r\ndos\r\nthree\r\n');
    await expect(editFile(ctx, { path: 'w.txt', old_text: '', new_text: 'x' })).rejects.toThrow(
      /must not be empty/,
    );
    await expect(editFile(ctx, { path: 'none.txt', old_text: 'a', new_text: 'b' })).rejects.toThrow(
      /no such file/,
    );
  });
});

describe('edit_file feedback: the closest candidates', () => {
  const source = [
    'export function add(a, b) {',
    '    return a - b;',
    '}',
    '',
    'export function sub(a, b) {',
    '    return a - b;',
    '}',
    '',
    'export function mul(a, b) {',
    '    return a * b;',
    '}',
    '',
  ].join('\n');

  async function miss(oldText: string, text = source): Promise<string> {
    const r = await repoWith({ 'm.js': text });
    const err = await editFile(toolContext(r.dir), { path: 'm.js', old_text: oldText, new_text: 'x' }).catch(
      (e: unknown) => e,
    );
    expect(isAvatarError(err, 'TOOL_INVALID')).toBe(true);
    expect(await readFile(path.join(r.dir, 'm.js'), 'utf8')).toBe(text);
    return (err as Error).message;
  }

  it('shows the closest block, numbered, and says when only the indentation differs', async () => {
    const message = await miss('export function mul(a, b) {\n  return a * b;\n}');
    expect(message).toContain('old_text was not found in m.js (0 occurrences)');
    expect(message).toContain(
      'lines 9-11 (98% similar; line 10 differs only in whitespace or indentation: the file has "    return a * b;", old_text has "  return a * b;"):\n' +
        ' 9\texport function mul(a, b) {\n10\t    return a * b;\n11\t}',
    );
    // The best candidate comes first.
    expect(message.indexOf('lines 9-11')).toBeLessThan(message.indexOf('lines 1-3'));
  });

  it('points at the first differing line of a near miss, and lists several candidates', async () => {
    const message = await miss('export function add(a, b) {\n    return a + b;\n}');
    expect(message).toMatch(
      /lines 1-3 \(\d+% similar; first difference at line 2: the file has " {4}return a - b;", old_text has " {4}return a \+ b;"\)/,
    );
    expect(message).toMatch(/lines 5-7 \(\d+% similar/);
    expect(message).toContain('Copy old_text from the file as it is');
  });

  it('a one-line miss finds the closest lines', async () => {
    const message = await miss('retrun a * b;');
    expect(message).toMatch(/The closest parts? of the file/);
    expect(message).toMatch(/lines 10-10 \(\d+% similar; first difference at line 10/);
  });

  it('says when nothing is similar', async () => {
    const message = await miss('SELECT * FROM users WHERE id = 1;');
    expect(message).toMatch(/nothing in the file is similar/);
  });

  it('large files stay quick and still find the place', async () => {
    const big =
      Array.from(
        { length: 20_000 },
        (_, i) => `const value${i} = compute(${i}, "${'x'.repeat(i % 40)}");`,
      ).join('\n') + '\n';
    const message = await miss(
      'const value15000 = compute(15000, "");\nconst value15001 = compute(15001, "y");\nconst value15002 = compute(15002, "xx")',
      big,
    );
    expect(message).toMatch(/lines 15001-15003/);
  });
});

describe('write_file and edit_file: the syntax check', () => {
  /** A stand-in checker: "BROKEN" on a line is a syntax error there; *.txt files are unsupported. */
  const checkSyntax = async (p: string, text: string) => {
    if (p.endsWith('.txt')) return { ok: 'unsupported' as const };
    const lines = text.split('\n');
    const i = lines.findIndex((l) => l.includes('BROKEN'));
    return i < 0
      ? { ok: true as const }
      : {
          ok: false as const,
          line: i + 1,
          column: (lines[i] as string).indexOf('BROKEN') + 1,
          message: 'unexpected token BROKEN',
        };
  };

  it('rejects an edit that breaks the file, says where, and leaves the file unchanged', async () => {
    const r = await repoWith({ 'a.ts': 'const a = 1;\nconst b = 2;\nconst c = 3;\n' });
    const ctx = toolContext(r.dir, { checkSyntax });
    const err = await editFile(ctx, {
      path: 'a.ts',
      old_text: 'const b = 2;',
      new_text: 'const b = BROKEN;',
    }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe(
      'edit rejected: a.ts would not parse after this edit (line 2, column 11: unexpected token BROKEN).\n' +
        'The new content around it:\n1\tconst a = 1;\n2\tconst b = BROKEN;   <-- here\n3\tconst c = 3;\n' +
        'The file is unchanged. Fix the new_text and try again.',
    );
    expect(await readFile(path.join(r.dir, 'a.ts'), 'utf8')).toBe(
      'const a = 1;\nconst b = 2;\nconst c = 3;\n',
    );
    expect(ctx.touched.size).toBe(0);
  });

  it('rejects write_file content that does not parse (nothing created)', async () => {
    const r = await repoWith({});
    const ctx = toolContext(r.dir, { checkSyntax });
    await expect(writeFileTool(ctx, { path: 'src/new.ts', content: 'ok\nBROKEN\n' })).rejects.toThrow(
      /^write rejected: src\/new\.ts would not parse after this write \(line 2, column 1/,
    );
    await expect(readFile(path.join(r.dir, 'src/new.ts'), 'utf8')).rejects.toThrow();
    // Unsupported languages are not checked.
    expect((await writeFileTool(ctx, { path: 'notes.txt', content: 'BROKEN\n' })).output).toMatch(
      /^created notes.txt/,
    );
  });

  it('lets a file that did not parse before be changed, with a warning', async () => {
    const r = await repoWith({ 'b.ts': 'BROKEN one\nBROKEN two\n' });
    const ctx = toolContext(r.dir, { checkSyntax });
    const res = await editFile(ctx, { path: 'b.ts', old_text: 'BROKEN one', new_text: 'fixed one' });
    expect(res.output).toMatch(
      /^edited b\.ts: .*\nWarning: b\.ts still does not parse \(line 2, column 1: unexpected token BROKEN\); it did not parse before this edit either\.$/,
    );
    const fixed = await editFile(ctx, { path: 'b.ts', old_text: 'BROKEN two', new_text: 'fixed two' });
    expect(fixed.output).not.toContain('Warning');
  });

  it('a checker that throws never blocks a change', async () => {
    const r = await repoWith({ 'c.ts': 'x\n' });
    const ctx = toolContext(r.dir, {
      checkSyntax: async () => {
        throw new Error('parser crashed');
      },
    });
    expect((await editFile(ctx, { path: 'c.ts', old_text: 'x', new_text: 'BROKEN' })).output).toMatch(
      /^edited c\.ts/,
    );
  });
});

describe('no file tool reaches outside the repository', () => {
  it('read, write, edit, list and search all refuse escapes; nothing outside changes', async () => {
    const outside = await repoWith({ 'secret.txt': 'outside secret\n' });
    const r = await repoWith({ 'in.txt': 'inside\n' });
    await symlink(outside.dir, path.join(r.dir, 'out'));
    await symlink(path.join(outside.dir, 'secret.txt'), path.join(r.dir, 'secret-link'));
    const ctx = toolContext(r.dir);
    const escapes = [
      '../x',
      outside.dir + '/secret.txt',
      'out/secret.txt',
      'secret-link',
      '%2e%2e/x',
      '.git/config',
    ];
    for (const p of escapes) {
      for (const attempt of [
        () => readFileTool(ctx, { path: p }),
        () => writeFileTool(ctx, { path: p, content: 'pwned\n' }),
        () => editFile(ctx, { path: p, old_text: 'outside', new_text: 'pwned' }),
        () => listFiles(ctx, { path: p }),
        () => searchCode(ctx, { pattern: 'secret', path: p }),
      ]) {
        const err = await attempt().catch((e: unknown) => e);
        expect(isAvatarError(err, 'PATH_ESCAPE'), `${p}: ${String(err)}`).toBe(true);
      }
    }
    expect(await readFile(path.join(outside.dir, 'secret.txt'), 'utf8')).toBe('outside secret\n');
    expect(ctx.touched.size).toBe(0);
    // Searching the whole repository does not follow the links out either.
    expect((await searchCode(ctx, { pattern: 'outside secret' })).output).toMatch(/^No matches/);
  });
});

describe('run_tests, ask_clarification, finish', () => {
  it('run_tests reports pass/fail and the redacted tail of the output', async () => {
    const r = await repoWith({});
    const ctx = toolContext(r.dir, {
      redactor: new Redactor(['hunter2-secret-value']),
      runTests: async () => ({
        passed: false,
        command: 'npm test',
        exitCode: 1,
        output: 'x'.repeat(50_000) + '\nFAIL sum.test.js token hunter2-secret-value\n',
        durationMs: 1500,
      }),
    });
    const res = await runTestsTool(ctx);
    expect(res.output).toMatch(/^tests FAILED: `npm test` exit code 1\n/);
    expect(res.output).toContain('FAIL sum.test.js token [REDACTED]');
    expect(res.output).toContain('earlier characters cut');
    expect(res.output.length).toBeLessThan(12_500);
    expect(res.brief).toBe('failed (exit 1, 1.5 s)');
  });

  it('ask_clarification and finish return their control outcome', async () => {
    const ctx = toolContext('/nonexistent');
    expect((await askClarification(ctx, { question: ' Which DB? ' })).control).toEqual({
      kind: 'blocked',
      question: 'Which DB?',
    });
    await expect(askClarification(ctx, { question: '  ' })).rejects.toThrow(/must not be empty/);
    expect((await finish(ctx, { summary: 'Did it', commit_message: 'Add x' })).control).toEqual({
      kind: 'finish',
      summary: 'Did it',
      commitMessage: 'Add x',
    });
  });
});
