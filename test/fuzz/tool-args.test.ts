/**
 * Fuzzing the agent's tool arguments (container/runner/agent/schemas.ts, paths.ts, tools/): paths
 * with `..`, absolute, `~`, URL-encoded, Unicode look-alikes, NUL, backslashes, very long ones, through
 * symbolic links in and out of the repository; sizes and line numbers of every type; contents in
 * any encoding. Every file tool either stays inside the repository (and out of .git) or refuses
 * with PATH_ESCAPE / TOOL_INVALID: nothing outside changes, nothing outside is shown, no other
 * error escapes. parseToolCall never throws, whatever the model sends.
 */
import { lstat, mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AvatarError } from '../../core/errors.ts';
import { Redactor } from '../../core/redact.ts';
import { normalizeRepoPath, RepoPaths } from '../../container/runner/agent/paths.ts';
import { parseToolCall, TOOL_NAMES } from '../../container/runner/agent/schemas.ts';
import { runTool } from '../../container/runner/agent/tools/index.ts';
import type { ToolContext } from '../../container/runner/agent/types.ts';

const RUNS = { numRuns: 1000 };
const OUTSIDE_SECRET = 'OUTSIDE-SECRET-MARKER-7d1c';
const GIT_SECRET = 'GIT-CONFIG-MARKER-93ab';
const OUTSIDE_NAME = 'listing-marker-OUTSIDE-4e2f.txt';
const MARK = 'FUZZMARK';

const BASE_FILES: Record<string, string> = {
  'a.txt': 'hello\nworld\nhello again\n',
  'src/index.ts': 'export const x = 1;\n',
  '.gitignore': 'ignored/\n',
  '.git/config': `[remote "origin"]\n\turl = https://git.example/${GIT_SECRET}.git\n`,
};

let sandbox: string;
let repo: string;
let outside: string;
let baseline: string;
let ctx: ToolContext;

/** Names and contents under a directory (symlinks as their target), for "nothing changed" checks. */
async function snapshot(dir: string): Promise<string> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const abs = path.join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isSymbolicLink()) out.push(`${r} -> link`);
      else if (e.isDirectory()) {
        out.push(`${r}/`);
        await walk(abs, r);
      } else out.push(`${r}: ${(await readFile(abs)).toString('base64')}`);
    }
  };
  await walk(dir, '');
  return out.join('\n');
}

/** The state outside the repository's work tree: the sandbox, the outside folder, .git, tmpdir. */
async function outsideState(): Promise<string> {
  const tmpMarks = (await readdir(os.tmpdir())).filter((n) => n.includes(MARK));
  return [
    (await readdir(sandbox)).sort().join(','),
    await snapshot(outside),
    await snapshot(path.join(repo, '.git')),
    tmpMarks.join(','),
    (await readdir(path.dirname(sandbox))).filter((n) => n.includes(MARK)).join(','),
  ].join('\n---\n');
}

/** Puts the work tree back as it was (fast: only what a run may have changed). */
async function restoreRepo(): Promise<void> {
  const keep = new Set([
    'a.txt',
    'src',
    '.gitignore',
    '.git',
    'link-out',
    'link-secret',
    'link-git',
    'link-abs',
    'dangling',
    'link-in',
  ]);
  for (const name of await readdir(repo)) {
    if (!keep.has(name)) await rm(path.join(repo, name), { recursive: true, force: true });
  }
  for (const name of await readdir(path.join(repo, 'src'))) {
    if (name !== 'index.ts') await rm(path.join(repo, 'src', name), { recursive: true, force: true });
  }
  for (const rel of ['a.txt', 'src/index.ts', '.gitignore']) {
    const abs = path.join(repo, rel);
    const now = await readFile(abs, 'utf8').catch(() => undefined);
    if (now !== BASE_FILES[rel]) {
      await rm(abs, { recursive: true, force: true });
      await writeFile(abs, BASE_FILES[rel]!);
    }
  }
}

beforeAll(async () => {
  sandbox = await realpath(await mkdtemp(path.join(os.tmpdir(), 'numa-fuzz-tools-')));
  repo = path.join(sandbox, 'repo');
  outside = path.join(sandbox, 'outside');
  await mkdir(outside, { recursive: true });
  await writeFile(path.join(outside, 'secret.txt'), `${OUTSIDE_SECRET}\n`);
  await writeFile(path.join(outside, OUTSIDE_NAME), 'x\n');
  for (const [rel, content] of Object.entries(BASE_FILES)) {
    await mkdir(path.dirname(path.join(repo, rel)), { recursive: true });
    await writeFile(path.join(repo, rel), content);
  }
  await symlink('../outside', path.join(repo, 'link-out'));
  await symlink('../outside/secret.txt', path.join(repo, 'link-secret'));
  await symlink('.git', path.join(repo, 'link-git'));
  await symlink(outside, path.join(repo, 'link-abs'));
  await symlink(`../outside/${MARK}-dangling.txt`, path.join(repo, 'dangling'));
  await symlink('src', path.join(repo, 'link-in'));
  baseline = await outsideState();
  ctx = {
    paths: new RepoPaths(repo),
    limits: { commandTimeoutMs: 5000, maxOutputChars: 12_000 },
    runTests: async () => ({ passed: true, command: 'true', exitCode: 0, output: '', durationMs: 0 }),
    touched: new Set(),
    redactor: new Redactor(),
  };
});

afterAll(async () => {
  if (sandbox) await rm(sandbox, { recursive: true, force: true });
});

const SEGMENTS = [
  '..',
  '.',
  '',
  'a.txt',
  'src',
  'index.ts',
  'outside',
  'secret.txt',
  'repo',
  OUTSIDE_NAME,
  'link-out',
  'link-secret',
  'link-git',
  'link-abs',
  'dangling',
  'link-in',
  'config',
  '.git',
  '.GIT',
  '.git.',
  '.git ',
  'GIT~1',
  '.git::$INDEX_ALLOCATION',
  '.Git',
  '~',
  '~root',
  '%2e%2e',
  '%2E%2E',
  '%252e%252e',
  '..%2f..',
  '%2F',
  '%00',
  '%5c',
  '%ZZ',
  '\u2024\u2024',
  '\uFF0E\uFF0E',
  '\u2215',
  '\uFF0F',
  '\uFF3C',
  '\u3002\u3002',
  'C:',
  'c:\\',
  '\\',
  '..\\..',
  '\0',
  'x\u0000y',
  '...',
  '. .',
  ' ',
  ' .. ',
  MARK,
  `${MARK}.txt`,
  'new dir',
  'ünï©ødé',
  '日本語.txt',
  '\u202Egnp.exe',
  'e\u0301',
  '\u200B',
  'a'.repeat(255),
  'b'.repeat(256),
  'c'.repeat(300),
];
const segment = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...SEGMENTS) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }) },
);
const pathArb = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(
        fc.constantFrom('', '', '', '/', '//', './', '~/', '\\\\', 'file://', '/tmp/', `${os.tmpdir()}/`),
        fc.array(segment, { minLength: 1, maxLength: 5 }),
        fc.constantFrom('/', '/', '/', '\\', '//', '/./'),
        fc.constantFrom('', '', '/', '/.', '\0'),
      )
      .map(([pre, segs, sep, post]) => pre + segs.join(sep) + post),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'x/'.repeat(2100),
      `${'../'.repeat(50)}etc/passwd`,
      'd'.repeat(5000),
      `src/${'e'.repeat(4090)}`,
    ),
  },
);

/** A number a model might send for a line, a depth or a time: anything. */
const sizeArb = fc.oneof(
  fc.integer({ min: -5, max: 400 }),
  fc.double(),
  fc.constantFrom(0, 1, 2, 3, 1e300, -0, 2 ** 53 + 1, '3', '1e400', 'NaN', '', ' 2 ', null, true, [], {}),
  fc.string({ maxLength: 6 }),
);
const contentArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.constantFrom(
    '',
    '\uFEFFbom\r\n',
    'a\r\nb\r\n',
    '\uD800 lone surrogate',
    '\u0000 nul',
    'x'.repeat(20_000),
  ),
);

type Call = { name: string; args: Record<string, unknown> };
const callArb: fc.Arbitrary<Call> = fc.oneof(
  fc.record({ p: pathArb, s: fc.option(sizeArb), e: fc.option(sizeArb) }).map(({ p, s, e }) => ({
    name: 'read_file',
    args: { path: p, ...(s !== null ? { start_line: s } : {}), ...(e !== null ? { end_line: e } : {}) },
  })),
  fc
    .record({ p: pathArb, c: contentArb })
    .map(({ p, c }) => ({ name: 'write_file', args: { path: p, content: c } })),
  fc
    .record({
      p: pathArb,
      o: fc.oneof(fc.constantFrom('hello', 'world\n', 'x = 1', ''), contentArb),
      n: contentArb,
    })
    .map(({ p, o, n }) => ({ name: 'edit_file', args: { path: p, old_text: o, new_text: n } })),
  fc.record({ p: fc.option(pathArb), d: fc.option(sizeArb) }).map(({ p, d }) => ({
    name: 'list_files',
    args: { ...(p !== null ? { path: p } : {}), ...(d !== null ? { depth: d } : {}) },
  })),
  fc
    .record({
      pattern: fc.oneof(
        fc.constantFrom('.', 'MARKER', 'hello', 'url', '(', '[a-', '\\'),
        fc.string({ maxLength: 8 }),
      ),
      p: fc.option(pathArb),
      g: fc.option(
        fc.oneof(
          fc.constantFrom('*.ts', '**/*', '{a,b', '[', '[!x]', '**', '\\', '*.{ts,', '../*'),
          fc.string({ maxLength: 8 }),
        ),
      ),
    })
    .map(({ pattern, p, g }) => ({
      name: 'search_code',
      args: { pattern, ...(p !== null ? { path: p } : {}), ...(g !== null ? { glob: g } : {}) },
    })),
);

describe('agent tool arguments (fuzz)', () => {
  beforeEach(async () => {
    await restoreRepo();
  });

  it('normalizeRepoPath: a relative path inside the repository, or PATH_ESCAPE', () => {
    fc.assert(
      fc.property(fc.oneof(pathArb, fc.anything({ maxDepth: 1 })), (p) => {
        let rel: string;
        try {
          rel = normalizeRepoPath(p);
        } catch (err) {
          if (!(err instanceof AvatarError)) throw err;
          expect(err.code).toBe('PATH_ESCAPE');
          expect(err.message).toMatch(/^path .* refused: /s);
          return;
        }
        expect(rel.startsWith('/')).toBe(false);
        expect(rel.split('/')).not.toContain('..');
        expect(rel.split('/').some((s) => s.toLowerCase() === '.git')).toBe(false);
        expect(rel.includes('\\') || rel.includes('\0')).toBe(false);
        expect(path.resolve(repo, rel).startsWith(repo)).toBe(true);
      }),
      { ...RUNS, examples: [[{ toString: false }], [Object.create(null)]] },
    );
  });

  it('RepoPaths.resolve: inside the repository (through symbolic links too), or PATH_ESCAPE', async () => {
    await fc.assert(
      fc.asyncProperty(pathArb, async (p) => {
        let abs: string;
        try {
          abs = (await ctx.paths.resolve(p)).abs;
        } catch (err) {
          if (!(err instanceof AvatarError)) throw err;
          expect(err.code).toBe('PATH_ESCAPE');
          return;
        }
        expect(abs === repo || abs.startsWith(`${repo}/`)).toBe(true);
        // Where it really leads (the deepest existing part, links followed) is inside too, not in .git.
        let probe = abs;
        for (;;) {
          try {
            await lstat(probe);
            break;
          } catch {
            probe = path.dirname(probe);
          }
        }
        const real = await realpath(probe);
        expect(real === repo || real.startsWith(`${repo}/`), `${JSON.stringify(p)} → ${real}`).toBe(true);
        expect(path.relative(repo, real).split(path.sep)).not.toContain('.git');
      }),
      RUNS,
    );
  });

  it('every file tool stays inside the repository or refuses with PATH_ESCAPE / TOOL_INVALID', async () => {
    await fc.assert(
      fc.asyncProperty(callArb, async (call) => {
        const parsed = parseToolCall(call.name, JSON.stringify(call.args));
        if (parsed.ok) {
          try {
            const result = await runTool(ctx, parsed);
            // (the outside file's name may be in the arguments, and so in the answer, on its own)
            const asked = JSON.stringify(call.args);
            for (const secret of [OUTSIDE_SECRET, GIT_SECRET, OUTSIDE_NAME].filter(
              (x) => !asked.includes(x),
            )) {
              expect(result.output, `${call.name} ${asked.slice(0, 300)}`).not.toContain(secret);
            }
            if (parsed.name === 'write_file') {
              const rel = /^(?:created|overwrote) (.+?) \(\d+ lines?, \d+ bytes?\)/s.exec(result.output)?.[1];
              expect(rel, result.output).toBeDefined();
              const abs = path.join(repo, rel!);
              const real = await realpath(abs);
              expect(
                real.startsWith(`${repo}/`) && !path.relative(repo, real).split(path.sep).includes('.git'),
              ).toBe(true);
              expect((await readFile(abs)).equals(Buffer.from(parsed.args.content, 'utf8'))).toBe(true);
            }
          } catch (err) {
            if (!(err instanceof AvatarError)) {
              throw new Error(
                `${call.name} ${JSON.stringify(call.args).slice(0, 300)} threw ${String(err)}`,
                { cause: err },
              );
            }
            expect(['PATH_ESCAPE', 'TOOL_INVALID'], `${err.code}: ${err.message}`).toContain(err.code);
            for (const secret of [OUTSIDE_SECRET, GIT_SECRET]) expect(err.message).not.toContain(secret);
          }
        } else {
          expect(parsed.error.length).toBeGreaterThan(0);
        }
        expect(await outsideState(), `after ${call.name} ${JSON.stringify(call.args).slice(0, 300)}`).toBe(
          baseline,
        );
        await restoreRepo();
      }),
      {
        ...RUNS,
        examples: [
          [{ name: 'write_file', args: { path: `new/${'b'.repeat(300)}`, content: '' } }],
          [{ name: 'write_file', args: { path: `日本語.txt/${'c'.repeat(300)}/link-in`, content: '' } }],
        ],
      },
    );
  });

  it('write_file then read_file: any content comes back as written (UTF-8), line by line', async () => {
    await fc.assert(
      fc.asyncProperty(
        contentArb,
        fc.constantFrom('w.txt', 'src/w.ts', 'new dir/日本語.md', 'ünï©ødé/e\u0301.txt'),
        async (content, rel) => {
          const write = parseToolCall('write_file', JSON.stringify({ path: rel, content }));
          expect(write.ok).toBe(true);
          if (!write.ok) return;
          await runTool(ctx, write);
          const stored = await readFile(path.join(repo, rel), 'utf8');
          expect(stored).toBe(Buffer.from(content, 'utf8').toString('utf8'));
          const read = parseToolCall('read_file', JSON.stringify({ path: rel, start_line: 1, end_line: 3 }));
          if (!read.ok) throw new Error(read.error);
          const out = (await runTool(ctx, read)).output;
          const firstLine = stored.split(/\r?\n/)[0]!;
          // (a text file: read_file shows its lines; one with control characters may count as binary)
          const controls = [...stored.slice(0, 8000)].some(
            (ch) => ch.charCodeAt(0) < 0x20 && !'\t\n\r\f\v'.includes(ch),
          );
          if (stored.length > 0 && !controls && firstLine.length <= 2000) {
            expect(out).toContain(firstLine);
          }
        },
      ),
      RUNS,
    );
  });
});

describe('parseToolCall (fuzz)', () => {
  it('never throws on any name and any argument text; a refusal says what was wrong', () => {
    const nameArb = fc.oneof(
      fc.constantFrom(...TOOL_NAMES),
      fc.string({ maxLength: 20 }),
      fc.constantFrom('__proto__', 'constructor', 'toString'),
    );
    const argsArb = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.json({ maxDepth: 3 }),
      callArb.map((c) => JSON.stringify(c.args)),
      fc.constantFrom(
        '',
        '   ',
        'null',
        '[]',
        '"x"',
        '{"path": "a.txt"',
        '{"__proto__": {"path": "x"}}',
        '{"path": {"toString": 1}}',
        `{"content": "${'x'.repeat(10_000)}"}`,
        '9'.repeat(400),
      ),
    );
    fc.assert(
      fc.property(nameArb, argsArb, (name, args) => {
        const r = parseToolCall(name, args);
        if (r.ok) expect(TOOL_NAMES).toContain(r.name);
        else expect(r.error).toMatch(/^(There is no tool named|The arguments of your|Invalid arguments for)/);
      }),
      RUNS,
    );
  });
});
