/**
 * Every file tool × every escape form: list_files, read_file, search_code, write_file and
 * edit_file, called through the agent's real dispatcher (argument parsing included), refuse each
 * path that leaves the repository or enters .git, with PATH_ESCAPE; no answer carries what is
 * outside; nothing outside is created or changed. test/agent/paths.test.ts covers the resolver's
 * forms one by one; this is the cross product at the tools.
 */
import { lstat, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAvatarError } from '../../core/errors.ts';
import { parseToolCall } from '../../container/runner/agent/schemas.ts';
import { runTool } from '../../container/runner/agent/tools/index.ts';
import type { ToolContext } from '../../container/runner/agent/types.ts';
import { makeRepo, toolContext, type TempRepo } from '../agent/helpers.ts';

const OUTSIDE_TEXT = 'outside-secret-7d1c0b';
const GIT_TEXT = 'git-internal-4e2a91';

let repo: TempRepo;
let outside: TempRepo;
let ctx: ToolContext;
let outsideBefore: string[];

/** Every file and folder under `dir`, with the content of the files. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (rel: string): Promise<void> => {
    for (const name of (await readdir(path.join(dir, rel))).sort()) {
      const r = path.join(rel, name);
      const st = await lstat(path.join(dir, r));
      if (st.isDirectory()) {
        out.push(`${r}/`);
        await visit(r);
      } else if (st.isSymbolicLink()) out.push(`${r} -> link`);
      else out.push(`${r}: ${await readFile(path.join(dir, r), 'utf8')}`);
    }
  };
  await visit('');
  return out;
}

beforeAll(async () => {
  outside = await makeRepo({ 'secret.txt': `${OUTSIDE_TEXT}\n`, 'dir/inner.txt': `${OUTSIDE_TEXT}\n` });
  repo = await makeRepo({
    'src/app.ts': 'export const inside = 1;\n',
    '.git/config': `[remote "origin"]\n\turl = ${GIT_TEXT}\n`,
    '.git/HEAD': 'ref: refs/heads/main\n',
    'deep/er/.keep': '',
  });
  const r = (p: string) => path.join(repo.dir, p);
  await symlink(path.join(outside.dir, 'secret.txt'), r('link-file'));
  await symlink(outside.dir, r('link-dir'));
  await symlink(path.join(outside.dir, 'not-yet.txt'), r('dangling'));
  await symlink(path.join(outside.dir, 'new-dir'), r('dangling-dir'));
  await symlink(outside.dir, r('hop2'));
  await symlink('hop2', r('hop1'));
  await symlink('../../..', r('deep/er/up'));
  await symlink(path.relative(repo.dir, outside.dir), r('relative-out'));
  await symlink('.git', r('gitlink'));
  await symlink('/proc/self/environ', r('environ'));
  await symlink('/', r('root'));
  ctx = toolContext(repo.dir);
  outsideBefore = await snapshot(outside.dir);
});

afterAll(async () => {
  await repo?.cleanup();
  await outside?.cleanup();
});

const out = () => path.relative(repo.dir, outside.dir);

/** Escape forms: a name, and the path the tools get. */
const FORMS: Array<[string, () => string]> = [
  ['parent traversal', () => `${out()}/secret.txt`],
  ['traversal after a folder', () => `src/../${out()}/secret.txt`],
  ['absolute path', () => path.join(outside.dir, 'secret.txt')],
  ['absolute folder', () => outside.dir],
  ['root', () => '/'],
  ['home directory', () => '~/.git-credentials'],
  ['URL-encoded ..', () => `%2e%2e/${out()}/secret.txt`],
  ['double URL-encoded ..', () => `%252e%252e%252f${out()}/secret.txt`],
  ['backslashes', () => `..\\${out()}\\secret.txt`],
  ['full-width dots', () => `\uFF0E\uFF0E/${out()}/secret.txt`],
  ['division slash', () => `..\u2215${out()}\u2215secret.txt`],
  ['NUL byte', () => 'src/app.ts\0/../../secret.txt'],
  ['dots and spaces', () => '.. /secret.txt'],
  ['symlink to a file outside', () => 'link-file'],
  ['through a symlinked folder', () => 'link-dir/secret.txt'],
  ['a symlinked folder itself', () => 'link-dir'],
  ['new file under a symlinked folder', () => 'link-dir/planted.txt'],
  ['dangling symlink to outside', () => 'dangling'],
  ['below a dangling folder link', () => 'dangling-dir/planted.txt'],
  ['symlink chain', () => 'hop1/secret.txt'],
  ['relative symlink climbing out', () => `deep/er/up/${path.basename(out())}/secret.txt`],
  ['relative symlink to outside', () => 'relative-out/dir/inner.txt'],
  ['symlink to /proc/self/environ', () => 'environ'],
  ['symlink to /', () => 'root/etc/passwd'],
  ['.git', () => '.git/config'],
  ['.git folder', () => '.git'],
  ['.git, other case', () => '.GIT/config'],
  ['.git with a trailing dot', () => '.git./config'],
  ['.git through a symlink', () => 'gitlink/config'],
  ['.git after ..', () => 'src/../.git/config'],
];

/** The tools, each called with the path as its file or folder argument. */
const TOOLS: Array<[string, (p: string) => Record<string, unknown>]> = [
  ['list_files', (p) => ({ path: p, depth: 3 })],
  ['read_file', (p) => ({ path: p })],
  ['search_code', (p) => ({ pattern: 'secret|git-internal|PATH=', path: p })],
  ['write_file', (p) => ({ path: p, content: 'planted\n' })],
  ['edit_file', (p) => ({ path: p, old_text: OUTSIDE_TEXT, new_text: 'planted' })],
];

async function callTool(name: string, args: Record<string, unknown>): Promise<unknown> {
  const parsed = parseToolCall(name, JSON.stringify(args));
  if (!parsed.ok) throw new Error(`arguments refused: ${parsed.error}`);
  return runTool(ctx, parsed).then(
    (result) => result,
    (err: unknown) => err,
  );
}

describe('file tools × escape forms', () => {
  const cases = TOOLS.flatMap(([tool, args]) => FORMS.map(([form, p]) => [tool, form, args, p] as const));

  it.each(cases)('%s refuses %s', async (tool, _form, args, p) => {
    const res = await callTool(tool, args(p()));
    expect(isAvatarError(res, 'PATH_ESCAPE'), `${tool}(${JSON.stringify(p())}) answered ${String(res)}`).toBe(
      true,
    );
    const message = (res as Error).message;
    expect(message).toContain('refused');
    expect(message).not.toContain(OUTSIDE_TEXT);
    expect(message).not.toContain(GIT_TEXT);
  });

  it('left everything outside the repository and in .git as it was', async () => {
    expect(await snapshot(outside.dir)).toEqual(outsideBefore);
    await expect(lstat(path.join(outside.dir, 'not-yet.txt'))).rejects.toThrow(/ENOENT/);
    await expect(lstat(path.join(outside.dir, 'new-dir'))).rejects.toThrow(/ENOENT/);
    expect(await readFile(path.join(repo.dir, '.git/config'), 'utf8')).toContain(GIT_TEXT);
    expect(ctx.touched.size).toBe(0);
  });

  it('whole-tree listing and search do not follow links out or into .git', async () => {
    const listing = (await callTool('list_files', { path: '.', depth: 8 })) as { output: string };
    expect(listing.output).toContain('link-dir -> ');
    expect(listing.output).not.toMatch(/^\s*secret\.txt$/m);
    expect(listing.output).not.toMatch(/^\s*config$/m);
    for (const pattern of [OUTSIDE_TEXT, GIT_TEXT, 'root:', 'PATH=']) {
      const search = (await callTool('search_code', { pattern })) as { output: string };
      expect(search.output, pattern).toMatch(/^No matches/);
    }
    const globbed = (await callTool('search_code', { pattern: '.', glob: '**/*' })) as { output: string };
    expect(globbed.output).not.toContain(OUTSIDE_TEXT);
    expect(globbed.output).not.toContain(GIT_TEXT);
  });

  it('a folder that becomes a link to outside after a listing is refused at the next call', async () => {
    await mkdir(path.join(repo.dir, 'swap'));
    await writeFile(path.join(repo.dir, 'swap/ok.txt'), 'ok\n');
    expect(((await callTool('read_file', { path: 'swap/ok.txt' })) as { output: string }).output).toContain(
      'ok',
    );
    // What a command the agent runs could do between two tool calls.
    await rm(path.join(repo.dir, 'swap'), { recursive: true });
    await symlink(outside.dir, path.join(repo.dir, 'swap'));
    const res = await callTool('read_file', { path: 'swap/secret.txt' });
    expect(isAvatarError(res, 'PATH_ESCAPE')).toBe(true);
    const written = await callTool('write_file', { path: 'swap/ok.txt', content: 'x\n' });
    expect(isAvatarError(written, 'PATH_ESCAPE')).toBe(true);
    expect(await snapshot(outside.dir)).toEqual(outsideBefore);
  });
});
