/**
 * The Git port: the same suite for both engines (the git binary and isomorphic-git) against the
 * smart-HTTP server on 127.0.0.1 with Basic auth, checked from the server side with
 * `git --git-dir` on the bare repositories.
 */
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAvatarError } from '../../core/errors.ts';
import { authForUrl, createNativeGit, selectGitEngine } from '../../container/runner/git/index.ts';
import { createIsomorphicGit } from '../../container/runner/git/isomorphic.ts';
import type { GitEngine, GitEngineOptions } from '../../container/runner/git/index.ts';
import { createBareRepo, startGitServer } from '../../servers/git-http/index.ts';
import type { GitServer } from '../../servers/git-http/index.ts';
import { bareGit, gitCli, readAllFiles, tempDir } from './helpers.ts';

const USER = 'avatar-bot';
const PASS = 'Sup3r-Secret-Git-Pa55word';
const ME = { name: 'Numa Avatar', email: 'avatar@example.test' };

let root: { path: string; remove: () => Promise<void> };
let work: { path: string; remove: () => Promise<void> };
let server: GitServer;
let seq = 0;
const timings: Record<string, number> = {};

beforeAll(async () => {
  root = await tempDir('numa-engines-root-');
  work = await tempDir('numa-engines-work-');
  server = await startGitServer({ root: root.path, auth: { username: USER, password: PASS } });
  template = await createBareRepo(root.path, 'template', { files: SEED });
});

afterAll(async () => {
  await server?.close();
  await root?.remove();
  await work?.remove();
  console.log(
    'git engine suite time (ms): ' +
      Object.entries(timings)
        .map(([k, v]) => `${k}=${Math.round(v)}`)
        .join(', '),
  );
});

const SEED = {
  'README.md': '# Sample\n\nA small project.\n',
  'src/a.txt': 'alpha\n',
  'src/b.txt': 'bravo\n',
  '.gitignore': 'build/\n*.log\nnode_modules/\n',
};

let template: string;

/** A fresh bare repository (a copy of the seeded template unless other files or branch are asked for). */
async function newRepo(files?: Record<string, string>, defaultBranch = 'main') {
  const name = `repo-${++seq}`;
  let bare: string;
  if (!files && defaultBranch === 'main') {
    bare = path.join(root.path, `${name}.git`);
    await cp(template, bare, { recursive: true });
  } else {
    bare = await createBareRepo(root.path, name, { files: files ?? SEED, defaultBranch });
  }
  return { name, bare, url: server.repoUrl(name) };
}

const newDir = (label: string) => path.join(work.path, `${label}-${++seq}`);
const read = (dir: string, p: string) => readFile(path.join(dir, p), 'utf8');
const write = async (dir: string, p: string, content: string) => {
  await mkdir(path.dirname(path.join(dir, p)), { recursive: true });
  await writeFile(path.join(dir, p), content);
};

async function expectCode(p: Promise<unknown>, code: string): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeDefined();
  expect(isAvatarError(err) ? err.code : err).toBe(code);
  return err as Error;
}

/** No file under .git holds the password (plain, URL-encoded or inside a Basic header). */
async function expectNoSecretOnDisk(dir: string) {
  const needles = [PASS, encodeURIComponent(PASS), Buffer.from(`${USER}:${PASS}`).toString('base64')];
  for (const f of await readAllFiles(path.join(dir, '.git'))) {
    for (const n of needles) expect(f.content.includes(n), `${f.path} holds the password`).toBe(false);
  }
  const config = await read(dir, '.git/config');
  expect(config).toMatch(/url = http:\/\/127\.0\.0\.1:\d+\/repo-\d+\.git/);
  expect(config).not.toContain('@');
}

const engines: Array<[string, (opts: GitEngineOptions) => GitEngine]> = [
  ['native', createNativeGit],
  ['isomorphic', createIsomorphicGit],
];

describe.each(engines)('%s engine', (name, factory) => {
  const progress: string[] = [];
  const git = factory({
    auth: (url) => authForUrl(url, PASS, USER),
    onProgress: (line) => progress.push(line),
    timeoutMs: 30_000,
  });
  let started = 0;
  beforeAll(() => {
    started = performance.now();
  });
  afterAll(() => {
    timings[name] = performance.now() - started;
  });

  it('has its name', () => {
    expect(git.name).toBe(name);
  });

  it('lists the default branch and the branches of a remote', async () => {
    const repo = await newRepo(undefined, 'trunk');
    await bareGit(repo.bare, ['branch', 'feature', 'trunk']);
    const tip = (await bareGit(repo.bare, ['rev-parse', 'trunk'])).trim();
    const info = await git.lsRemote(repo.url);
    expect(info).toEqual({ defaultBranch: 'trunk', branches: { trunk: tip, feature: tip } });
  });

  it('clones the default branch shallow, with no credentials stored', async () => {
    const repo = await newRepo();
    const dir = newDir('clone');
    await git.clone({ url: repo.url, dir, branch: 'main' });
    expect(await read(dir, 'README.md')).toBe(SEED['README.md']);
    expect(await read(dir, 'src/a.txt')).toBe('alpha\n');
    expect(await git.headOid(dir)).toBe((await bareGit(repo.bare, ['rev-parse', 'main'])).trim());
    expect(existsSync(path.join(dir, '.git', 'shallow'))).toBe(true);
    expect(await git.changedFiles(dir)).toEqual([]);
    await expectNoSecretOnDisk(dir);
    // Progress was reported, without secrets.
    expect(progress.length).toBeGreaterThan(0);
    for (const line of progress) expect(line).not.toContain(PASS);
  });

  it('honours credentials embedded in the URL without storing them', async () => {
    const repo = await newRepo();
    const bare = factory({ timeoutMs: 30_000 });
    const dir = newDir('embedded');
    const withCreds = repo.url.replace('http://', `http://${USER}:${encodeURIComponent(PASS)}@`);
    await bare.clone({ url: withCreds, dir, branch: 'main' });
    await expectNoSecretOnDisk(dir);
    // Later calls on the stored (clean) URL still have the credentials.
    await write(dir, 'README.md', 'changed\n');
    await bare.commit(dir, { message: 'embedded creds', author: ME });
    expect(await bare.push(dir, 'main')).toEqual({ ok: true });
    await expectNoSecretOnDisk(dir);
  });

  it('fails with GIT_AUTH on wrong or missing credentials, without leaking them', async () => {
    const repo = await newRepo();
    const wrongPass = 'Wrong-Pa55word-123';
    const wrong = factory({ auth: () => ({ username: USER, password: wrongPass }), timeoutMs: 30_000 });
    const dir = newDir('auth');
    const err = await expectCode(wrong.clone({ url: repo.url, dir, branch: 'main' }), 'GIT_AUTH');
    expect(err.message).not.toContain(wrongPass);
    expect(existsSync(dir)).toBe(false);
    await expectCode(wrong.lsRemote(repo.url), 'GIT_AUTH');
    const none = factory({ timeoutMs: 30_000 });
    await expectCode(none.clone({ url: repo.url, dir, branch: 'main' }), 'GIT_AUTH');
  });

  it('sends no credentials to an origin changed after the clone', async () => {
    const repo = await newRepo();
    const dir = newDir('moved');
    await git.clone({ url: repo.url, dir, branch: 'main' });
    const elsewhere = await startGitServer({
      root: root.path,
      auth: { username: USER, password: 'other-pass-1234' },
    });
    try {
      await gitCli(['config', 'remote.origin.url', elsewhere.repoUrl(repo.name)], dir);
      await gitCli(['config', 'remote.origin.pushurl', elsewhere.repoUrl(repo.name)], dir);
      await write(dir, 'README.md', 'moved\n');
      await git.commit(dir, { message: 'moved', author: ME });
      const err = await expectCode(git.push(dir, 'main'), 'GIT_FAILED');
      expect(err.message).toContain('origin URL');
      await expectCode(git.fetchBranch(dir, 'main'), 'GIT_FAILED');
      expect(elsewhere.requests()).toEqual([]);
      // Back to the cloned URL, with a pushurl pointing elsewhere: the push still goes to the cloned URL.
      await gitCli(['config', 'remote.origin.url', repo.url], dir);
      expect(await git.push(dir, 'main')).toEqual({ ok: true });
      expect(elsewhere.requests()).toEqual([]);
    } finally {
      await elsewhere.close();
    }
  });

  it('fails with GIT_NOT_FOUND for a missing repository or branch', async () => {
    await expectCode(
      git.clone({ url: server.repoUrl('no-such-repo'), dir: newDir('nf'), branch: 'main' }),
      'GIT_NOT_FOUND',
    );
    await expectCode(git.lsRemote(server.repoUrl('no-such-repo')), 'GIT_NOT_FOUND');
    const repo = await newRepo();
    await expectCode(
      git.clone({ url: repo.url, dir: newDir('nf'), branch: 'no-such-branch' }),
      'GIT_NOT_FOUND',
    );
    const dir = newDir('nf');
    await git.clone({ url: repo.url, dir, branch: 'main' });
    expect(await git.fetchBranch(dir, 'no-such-branch')).toBeUndefined();
    await expectCode(git.checkoutRemoteBranch(dir, 'no-such-branch'), 'GIT_NOT_FOUND');
  });

  it('creates a branch, commits additions, changes and deletions, and pushes them', async () => {
    const repo = await newRepo();
    const dir = newDir('flow');
    await git.clone({ url: repo.url, dir, branch: 'main' });
    const base = await git.headOid(dir);
    await git.checkoutNewBranch(dir, 'task-1');

    await write(dir, 'README.md', '# Sample\n\nA small project, changed.\n');
    await write(dir, 'src/new/deep.txt', 'new file\n');
    await rm(path.join(dir, 'src/a.txt'));
    await write(dir, 'build/out.txt', 'ignored\n');
    await write(dir, 'debug.log', 'ignored\n');

    const changed = await git.changedFiles(dir);
    expect(changed).toEqual(['README.md', 'src/a.txt', 'src/new/deep.txt']);
    const oid = await git.commit(dir, {
      message: 'Change things\n\nWith a body.',
      author: ME,
      paths: changed,
    });
    expect(oid).toMatch(/^[0-9a-f]{40}$/);
    expect(await git.headOid(dir)).toBe(oid);
    expect(await git.changedFiles(dir)).toEqual([]);
    await expectCode(git.commit(dir, { message: 'empty', author: ME }), 'NO_CHANGES');

    expect(await git.push(dir, 'task-1')).toEqual({ ok: true });
    expect((await bareGit(repo.bare, ['rev-parse', 'refs/heads/task-1'])).trim()).toBe(oid);
    expect((await bareGit(repo.bare, ['rev-parse', 'refs/heads/main'])).trim()).toBe(base);
    expect(await bareGit(repo.bare, ['ls-tree', '-r', '--name-only', 'task-1'])).toBe(
      '.gitignore\nREADME.md\nsrc/b.txt\nsrc/new/deep.txt\n',
    );
    expect(await bareGit(repo.bare, ['show', 'task-1:README.md'])).toBe(
      '# Sample\n\nA small project, changed.\n',
    );
    expect(await bareGit(repo.bare, ['log', '-1', '--format=%an|%ae|%cn|%ce|%P|%B', 'task-1'])).toBe(
      `${ME.name}|${ME.email}|${ME.name}|${ME.email}|${base}|Change things\n\nWith a body.\n\n`,
    );
    await bareGit(repo.bare, ['fsck', '--no-dangling']);
    await expectNoSecretOnDisk(dir);
  });

  it('commits only the paths it is given, and every change without paths', async () => {
    const repo = await newRepo();
    const dir = newDir('paths');
    await git.clone({ url: repo.url, dir, branch: 'main' });
    await write(dir, 'src/a.txt', 'alpha 2\n');
    await write(dir, 'src/b.txt', 'bravo 2\n');
    await write(dir, 'notes/todo.txt', 'later\n');
    await write(dir, 'debug.log', 'ignored\n');
    const first = await git.commit(dir, { message: 'only a', author: ME, paths: ['src/a.txt', './notes'] });
    expect(await git.changedFiles(dir)).toEqual(['src/b.txt']);
    expect(await gitCli(['show', '--name-only', '--format=', first], dir)).toBe(
      'notes/todo.txt\nsrc/a.txt\n',
    );
    await rm(path.join(dir, 'notes'), { recursive: true });
    await git.commit(dir, { message: 'the rest', author: ME });
    expect(await git.changedFiles(dir)).toEqual([]);
    expect(await gitCli(['show', '--name-status', '--format=', 'HEAD'], dir)).toBe(
      'D\tnotes/todo.txt\nM\tsrc/b.txt\n',
    );
    expect(await gitCli(['ls-files'], dir)).not.toContain('debug.log');
    await gitCli(['fsck', '--no-dangling'], dir);
  });

  it('checks out an existing remote branch that tracks origin', async () => {
    const repo = await newRepo();
    const seedClone = newDir('seed');
    await gitCli(['clone', '-q', repo.bare, seedClone]);
    await gitCli(['checkout', '-q', '-b', 'feature'], seedClone);
    await write(seedClone, 'feature.txt', 'feature work\n');
    await gitCli(['add', '-A'], seedClone);
    await gitCli(
      ['-c', 'user.name=X', '-c', 'user.email=x@example.test', 'commit', '-q', '-m', 'feature'],
      seedClone,
    );
    await gitCli(['push', '-q', 'origin', 'feature'], seedClone);
    const featureTip = (await bareGit(repo.bare, ['rev-parse', 'feature'])).trim();

    const dir = newDir('remote-branch');
    await git.clone({ url: repo.url, dir, branch: 'main' });
    expect(existsSync(path.join(dir, 'feature.txt'))).toBe(false);
    await git.checkoutRemoteBranch(dir, 'feature');
    expect(await git.headOid(dir)).toBe(featureTip);
    expect(await read(dir, 'feature.txt')).toBe('feature work\n');
    expect((await gitCli(['symbolic-ref', 'HEAD'], dir)).trim()).toBe('refs/heads/feature');
    expect((await gitCli(['config', 'branch.feature.merge'], dir)).trim()).toBe('refs/heads/feature');
    expect(await git.changedFiles(dir)).toEqual([]);

    await write(dir, 'feature.txt', 'feature work, continued\n');
    const oid = await git.commit(dir, { message: 'continue', author: ME });
    expect(await git.push(dir, 'feature')).toEqual({ ok: true });
    expect((await bareGit(repo.bare, ['rev-parse', 'feature'])).trim()).toBe(oid);
  });

  it('is rejected when the remote moved, then fetches, rebases and pushes', async () => {
    const repo = await newRepo();
    const mine = newDir('mine');
    const theirs = newDir('theirs');
    await git.clone({ url: repo.url, dir: mine, branch: 'main' });
    await git.clone({ url: repo.url, dir: theirs, branch: 'main' });

    await write(theirs, 'src/b.txt', 'bravo from them\n');
    await write(theirs, 'theirs.txt', 'theirs\n');
    const theirCommit = await git.commit(theirs, {
      message: 'theirs',
      author: { name: 'Other', email: 'o@example.test' },
    });
    expect(await git.push(theirs, 'main')).toEqual({ ok: true });

    await write(mine, 'README.md', '# Sample\n\nMine.\n');
    await write(mine, 'mine.txt', 'mine\n');
    const myCommit = await git.commit(mine, { message: 'mine', author: ME });
    const rejected = await git.push(mine, 'main');
    expect(rejected.ok).toBe(false);
    expect(rejected).toMatchObject({ rejected: true });
    expect((await bareGit(repo.bare, ['rev-parse', 'main'])).trim()).toBe(theirCommit);

    const tip = await git.fetchBranch(mine, 'main');
    expect(tip).toBe(theirCommit);
    const rebased = await git.rebaseOnto(mine, 'main', tip!);
    expect(rebased.ok).toBe(true);
    if (!rebased.ok) return;
    expect(rebased.oid).not.toBe(myCommit);
    expect(await git.headOid(mine)).toBe(rebased.oid);
    expect(await read(mine, 'theirs.txt')).toBe('theirs\n');
    expect(await read(mine, 'src/b.txt')).toBe('bravo from them\n');
    expect(await read(mine, 'README.md')).toBe('# Sample\n\nMine.\n');
    expect(await git.changedFiles(mine)).toEqual([]);

    expect(await git.push(mine, 'main')).toEqual({ ok: true });
    expect((await bareGit(repo.bare, ['rev-parse', 'main'])).trim()).toBe(rebased.oid);
    expect((await bareGit(repo.bare, ['rev-parse', 'main^'])).trim()).toBe(theirCommit);
    expect(await bareGit(repo.bare, ['log', '-1', '--format=%an|%s', 'main'])).toBe(`${ME.name}|mine\n`);
    expect(await bareGit(repo.bare, ['ls-tree', '-r', '--name-only', 'main'])).toBe(
      '.gitignore\nREADME.md\nmine.txt\nsrc/a.txt\nsrc/b.txt\ntheirs.txt\n',
    );
    await bareGit(repo.bare, ['fsck', '--no-dangling']);
    await expectNoSecretOnDisk(mine);
  });

  it('fails a conflicting rebase cleanly, leaving the work tree on the original commit', async () => {
    const repo = await newRepo();
    const mine = newDir('mine');
    const theirs = newDir('theirs');
    await git.clone({ url: repo.url, dir: mine, branch: 'main' });
    await git.clone({ url: repo.url, dir: theirs, branch: 'main' });
    await write(theirs, 'README.md', '# Sample\n\nTheirs.\n');
    await git.commit(theirs, { message: 'theirs', author: ME });
    expect(await git.push(theirs, 'main')).toEqual({ ok: true });

    await write(mine, 'README.md', '# Sample\n\nMine.\n');
    const myCommit = await git.commit(mine, { message: 'mine', author: ME });
    expect((await git.push(mine, 'main')).ok).toBe(false);
    const tip = await git.fetchBranch(mine, 'main');
    const result = await git.rebaseOnto(mine, 'main', tip!);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason).toContain('README.md');
    expect(await git.headOid(mine)).toBe(myCommit);
    expect((await gitCli(['symbolic-ref', 'HEAD'], mine)).trim()).toBe('refs/heads/main');
    expect(await read(mine, 'README.md')).toBe('# Sample\n\nMine.\n');
    expect(await git.changedFiles(mine)).toEqual([]);
    expect(existsSync(path.join(mine, '.git', 'rebase-merge'))).toBe(false);
  });

  it('produces a diff stat and a snapshot patch that applies', async () => {
    const repo = await newRepo();
    const dir = newDir('diff');
    await git.clone({ url: repo.url, dir, branch: 'main' });
    const base = await git.headOid(dir);
    await write(dir, 'README.md', '# Sample\n\nA small project.\nSecond line.\n');
    await rm(path.join(dir, 'src/b.txt'));
    await write(dir, 'src/c.txt', 'charlie\ndelta\n');
    await write(dir, 'debug.log', 'ignored\n');

    const patch = await git.diffPatch(dir);
    expect(patch).toContain('diff --git a/README.md b/README.md');
    expect(patch).toContain('+Second line.');
    expect(patch).toContain('deleted file mode 100644');
    expect(patch).toContain('-bravo');
    expect(patch).toContain('new file mode 100644');
    expect(patch).toContain('+++ b/src/c.txt');
    expect(patch).toContain('+charlie');
    expect(patch).not.toContain('debug.log');
    // The snapshot did not stage anything.
    expect(await gitCli(['diff', '--cached', '--name-only'], dir)).toBe('');

    // Applied to a fresh checkout of the base, the patch reproduces the work tree.
    const other = newDir('apply');
    await gitCli(['clone', '-q', repo.bare, other]);
    await gitCli(['apply', '--index', '-'], other, patch);
    expect(await read(other, 'README.md')).toBe(await read(dir, 'README.md'));
    expect(await read(other, 'src/c.txt')).toBe('charlie\ndelta\n');
    expect(existsSync(path.join(other, 'src/b.txt'))).toBe(false);

    const oid = await git.commit(dir, { message: 'diff me', author: ME });
    expect(await git.diffPatch(dir)).toBe('');
    expect(await git.diffPatch(dir, base)).toBe(patch);
    const stat = await git.diffStat(dir, base, oid);
    expect(stat).toMatchObject({ files: 3, insertions: 3, deletions: 1 });
    expect(stat.text).toContain('README.md');
    expect(stat.text).toContain('src/c.txt');
    expect(stat.text).toContain('3 files changed, 3 insertions(+), 1 deletion(-)');
  });

  it('respects .gitignore in changedFiles', async () => {
    const repo = await newRepo();
    const dir = newDir('ignore');
    await git.clone({ url: repo.url, dir, branch: 'main' });
    await write(dir, 'node_modules/pkg/index.js', 'x\n');
    await write(dir, 'build/app.js', 'x\n');
    await write(dir, 'logs/today.log', 'x\n');
    await write(dir, 'kept.txt', 'x\n');
    await write(dir, 'src/nested/.gitignore', 'secret.txt\n');
    await write(dir, 'src/nested/secret.txt', 'x\n');
    expect(await git.changedFiles(dir)).toEqual(['kept.txt', 'src/nested/.gitignore']);
  });
});

describe('both engines on the same repository', () => {
  const native = createNativeGit({ auth: (url) => authForUrl(url, PASS, USER) });
  const iso = createIsomorphicGit({ auth: (url) => authForUrl(url, PASS, USER) });

  it('agree on changed files, snapshot patches and diff stats', async () => {
    const long = Array.from({ length: 40 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';
    const repo = await newRepo({
      ...SEED,
      'long.txt': long,
      'tool.sh': '#!/bin/sh\necho hi\n',
      'noeol.txt': 'a\nb',
    });
    const dir = newDir('agree');
    await native.clone({ url: repo.url, dir, branch: 'main' });
    const base = await native.headOid(dir);

    const lines = long.split('\n');
    lines[2] = 'line 3 changed';
    lines.splice(20, 1);
    lines.splice(35, 0, 'inserted near the end');
    await write(dir, 'long.txt', lines.join('\n'));
    await chmod(path.join(dir, 'tool.sh'), 0o755);
    await write(dir, 'noeol.txt', 'a\nb\nc');
    await write(dir, 'bin/data.bin', '\u0000\u0001binary');
    await write(dir, 'empty.txt', '');
    await write(dir, 'with space.txt', 'spaced\n');
    await write(dir, 'quo"te.txt', 'quoted\n');
    await write(dir, 'ünïcode.txt', 'ü\n');
    await rm(path.join(dir, 'src'), { recursive: true });

    const changed = await native.changedFiles(dir);
    expect(await iso.changedFiles(dir)).toEqual(changed);
    const patch = await native.diffPatch(dir);
    expect(await iso.diffPatch(dir)).toBe(patch);

    const oid = await iso.commit(dir, { message: 'iso commit', author: ME, paths: changed });
    await gitCli(['fsck', '--no-dangling'], dir);
    expect(await native.changedFiles(dir)).toEqual([]);
    expect(await native.diffPatch(dir, base)).toBe(patch);
    const nStat = await native.diffStat(dir, base, oid);
    const iStat = await iso.diffStat(dir, base, oid);
    expect({ ...iStat, text: '' }).toEqual({ ...nStat, text: '' });
    expect(nStat.files).toBe(changed.length);
  });
});

describe('selectGitEngine', () => {
  it('picks native when git runs, isomorphic when asked or when it does not', async () => {
    expect((await selectGitEngine('auto', {})).name).toBe('native');
    expect((await selectGitEngine('native', {})).name).toBe('native');
    expect((await selectGitEngine('isomorphic', {})).name).toBe('isomorphic');
    expect((await selectGitEngine('auto', { gitBinary: '/nonexistent/git' })).name).toBe('isomorphic');
    await expectCode(selectGitEngine('native', { gitBinary: '/nonexistent/git' }), 'CONFIG_INVALID');
  });
});
