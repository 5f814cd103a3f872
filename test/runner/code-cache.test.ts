/**
 * The code cache over the local FileBlobStore and the real smart-HTTP git server, for both git
 * engines: what is stored (data only, the clean URL, no credential), a second checkout restored
 * from it fetching only the new objects, the origin guard on a restored repository, and archives
 * that are refused.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileBlobStore } from '../../adapters/local/file-blob-store.ts';
import { isAvatarError } from '../../core/errors.ts';
import { BlobStoreCodeCache, codeCacheKey } from '../../container/runner/code-cache.ts';
import { authForUrl, createNativeGit } from '../../container/runner/git/index.ts';
import { createIsomorphicGit } from '../../container/runner/git/isomorphic.ts';
import type { GitEngine, GitEngineOptions } from '../../container/runner/git/index.ts';
import { createBareRepo, startGitServer, type GitServer } from '../../servers/git-http/index.ts';
import { bareGit, gitCli, readAllFiles, tempDir } from '../git/helpers.ts';

const run = promisify(execFile);
const USER = 'avatar-bot';
const PASS = 'Cache-Test-Git-Pa55word-77';
const ME = { name: 'Numa Avatar', email: 'avatar@example.test' };

/** 48 files in 4 folders: a full clone brings 50+ objects, an incremental fetch a handful. */
const SEED: Record<string, string> = { 'README.md': '# cached\n' };
for (let d = 0; d < 4; d++) {
  for (let f = 0; f < 12; f++) SEED[`pkg${d}/file${f}.txt`] = `folder ${d} file ${f}\n`;
}

let root: { path: string; remove: () => Promise<void> };
let work: { path: string; remove: () => Promise<void> };
let server: GitServer;
let seq = 0;

beforeAll(async () => {
  root = await tempDir('numa-cache-root-');
  work = await tempDir('numa-cache-work-');
  server = await startGitServer({ root: root.path, auth: { username: USER, password: PASS } });
});

afterAll(async () => {
  await server?.close();
  await root?.remove();
  await work?.remove();
});

const newDir = (label: string) => path.join(work.path, `${label}-${++seq}`);

/** Loose plus packed objects of a repository. */
async function objectCount(dir: string): Promise<number> {
  const out = await gitCli(['count-objects', '-v'], dir);
  const n = (k: string) => Number(new RegExp(`^${k}: (\\d+)$`, 'm').exec(out)?.[1] ?? 0);
  return n('count') + n('in-pack');
}

/** Commits a change to one file on `branch` of the bare repository, from a clone of its own. */
async function pushElsewhere(bare: string, branch: string, file: string, content: string): Promise<string> {
  const dir = newDir('elsewhere');
  await run('git', ['clone', '-q', '--branch', branch, bare, dir]);
  await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
  await writeFile(path.join(dir, file), content);
  await run('git', ['-C', dir, 'add', '-A']);
  await run('git', [
    '-C',
    dir,
    '-c',
    'user.name=x',
    '-c',
    'user.email=x@y',
    'commit',
    '-qm',
    `change ${file}`,
  ]);
  await run('git', ['-C', dir, 'push', '-q', 'origin', branch]);
  return (await bareGit(bare, ['rev-parse', branch])).trim();
}

/** Extracts an archive (a Buffer) into a fresh folder. */
async function extract(archive: Buffer): Promise<string> {
  const dir = newDir('extracted');
  await mkdir(dir);
  await new Promise<void>((resolve, reject) => {
    const child = execFile('tar', ['-x', '-f', '-', '-C', dir], (err) => (err ? reject(err) : resolve()));
    child.stdin?.end(archive);
  });
  return dir;
}

/** A tar archive of `entries` (paths relative to `from`). */
async function makeTar(from: string, entries: string[]): Promise<Buffer> {
  const { stdout } = await run('tar', ['-c', '-f', '-', '-C', from, ...entries], {
    encoding: 'buffer',
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

const engines: Array<[string, (opts: GitEngineOptions) => GitEngine]> = [
  ['native', createNativeGit],
  ['isomorphic', createIsomorphicGit],
];

describe.each(engines)('code cache with the %s engine', (_name, create) => {
  const engine = create({ auth: (url) => authForUrl(url, PASS, USER) });

  it('stores data only with the clean URL; a restored repository fetches only what is new and pushes', async () => {
    const name = `repo-${++seq}`;
    const bare = await createBareRepo(root.path, name, { files: SEED });
    const url = server.repoUrl(name);
    const withCredentials = url.replace('http://', `http://${USER}:${encodeURIComponent(PASS)}@`);
    const blobs = new FileBlobStore({ root: newDir('blobs') });
    const cache = new BlobStoreCodeCache({ blobs });

    // First run: clone, commit on a new branch, push, save.
    const first = newDir('first');
    await engine.clone({ url, dir: first, branch: 'main', depth: 1 });
    await engine.checkoutNewBranch(first, 'feature/one');
    await writeFile(path.join(first, 'pkg0/file0.txt'), 'changed by the first run\n');
    await engine.commit(first, { message: 'first run', author: ME, paths: ['pkg0/file0.txt'] });
    expect(await engine.push(first, 'feature/one')).toEqual({ ok: true });
    // A planted hook and config entry in the repository must not travel through the cache.
    await writeFile(path.join(first, '.git/hooks/post-checkout'), '#!/bin/sh\necho planted\n', {
      mode: 0o755,
    });
    await writeFile(path.join(first, '.git/config'), `[filter "x"]\n\tsmudge = cat\n`, { flag: 'a' });
    await cache.save(withCredentials, first);

    // Keyed by the URL without credentials; nothing but data, and no credential anywhere.
    const key = codeCacheKey(url);
    expect(codeCacheKey(withCredentials)).toBe(key);
    expect(key).toMatch(/^cache\/git\/[0-9a-f]{64}\.tar$/);
    expect(await blobs.list('cache/git/')).toEqual([key]);
    const archive = (await blobs.get(key))!;
    const needles = [PASS, encodeURIComponent(PASS), Buffer.from(`${USER}:${PASS}`).toString('base64')];
    for (const n of needles) expect(archive.includes(n)).toBe(false);
    const stored = await extract(archive);
    const present = ['HEAD', 'objects', 'packed-refs', 'refs', 'shallow'].filter((e) =>
      existsSync(path.join(first, '.git', e)),
    );
    expect((await readdir(path.join(stored, '.git'))).sort()).toEqual([...present, 'config'].sort());
    expect(present).toContain('shallow');
    const storedConfig = await readFile(path.join(stored, '.git/config'), 'utf8');
    expect(storedConfig).toContain(`url = ${url}\n`);
    expect(storedConfig).not.toContain('@');
    expect(storedConfig).not.toContain('filter');
    for (const f of await readAllFiles(stored)) {
      for (const n of needles) expect(f.content.includes(n), `${f.path} holds the password`).toBe(false);
    }

    // Someone else moves main on by one commit.
    const tip = await pushElsewhere(bare, 'main', 'pkg3/file11.txt', 'moved on\n');

    // Second run: restored from the cache, fetches main, only the new objects come over the wire.
    const second = newDir('second');
    expect(await cache.restore(url, second)).toBe(true);
    expect(existsSync(path.join(second, '.git/hooks/post-checkout'))).toBe(false);
    await engine.adopt(second, url);
    const before = await objectCount(second);
    expect(before).toBeGreaterThan(50);
    const requestsBefore = server.requests().length;
    expect(await engine.fetchBranch(second, 'main')).toBe(tip);
    const fetched = (await objectCount(second)) - before;
    expect(fetched).toBeGreaterThan(0);
    expect(fetched).toBeLessThanOrEqual(8);
    const packRequests = server
      .requests()
      .slice(requestsBefore)
      .filter((r) => r.method === 'POST' && r.path.endsWith('/git-upload-pack'));
    expect(packRequests.length).toBeGreaterThan(0);

    // Its work tree is complete and clean, at the new tip.
    await engine.checkoutRemoteBranch(second, 'main');
    expect(await engine.headOid(second)).toBe(tip);
    expect(await engine.changedFiles(second)).toEqual([]);
    expect(await readFile(path.join(second, 'pkg3/file11.txt'), 'utf8')).toBe('moved on\n');
    expect(await readFile(path.join(second, 'pkg0/file0.txt'), 'utf8')).toBe('folder 0 file 0\n');
    const listed = (await bareGit(bare, ['ls-tree', '-r', '--name-only', 'main'])).trim().split('\n');
    for (const f of listed) expect(existsSync(path.join(second, f)), f).toBe(true);

    // A new branch from it is pushed like from a clone.
    await engine.checkoutNewBranch(second, 'feature/two');
    await writeFile(path.join(second, 'pkg1/new.txt'), 'second run\n');
    const commit = await engine.commit(second, {
      message: 'second run',
      author: ME,
      paths: ['pkg1/new.txt'],
    });
    expect(await engine.push(second, 'feature/two')).toEqual({ ok: true });
    expect((await bareGit(bare, ['rev-parse', 'feature/two'])).trim()).toBe(commit);
    expect((await bareGit(bare, ['rev-parse', `${commit}^`])).trim()).toBe(tip);

    // The cache saved after it restores the existing branch of the first run too.
    await cache.save(url, second);
    const third = newDir('third');
    expect(await cache.restore(url, third)).toBe(true);
    await engine.adopt(third, url);
    await engine.fetchBranch(third, 'feature/one');
    await engine.checkoutRemoteBranch(third, 'feature/one');
    expect(await readFile(path.join(third, 'pkg0/file0.txt'), 'utf8')).toBe('changed by the first run\n');
    expect(await engine.changedFiles(third)).toEqual([]);
  });

  it('guards the origin of a restored repository: credentials do not follow a changed origin', async () => {
    const name = `repo-${++seq}`;
    await createBareRepo(root.path, name, { files: SEED });
    const url = server.repoUrl(name);
    const cache = new BlobStoreCodeCache({ blobs: new FileBlobStore({ root: newDir('blobs') }) });
    const first = newDir('first');
    await engine.clone({ url, dir: first, branch: 'main', depth: 1 });
    await cache.save(url, first);

    const dir = newDir('restored');
    expect(await cache.restore(url, dir)).toBe(true);
    await engine.adopt(dir, url);
    await engine.fetchBranch(dir, 'main');
    await engine.checkoutRemoteBranch(dir, 'main');
    await gitCli(['config', 'remote.origin.url', 'http://127.0.0.1:9/elsewhere.git'], dir);
    const err = await engine.fetchBranch(dir, 'main').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAvatarError(err, 'GIT_FAILED')).toBe(true);
    expect(String((err as Error).message)).toMatch(/origin URL .* changed/);
  });
});

describe('code cache archives that are refused', () => {
  const url = 'https://git.example.test/team/app.git';

  async function restoreFrom(archive: Buffer): Promise<{ ok: boolean; dir: string }> {
    const blobs = new FileBlobStore({ root: newDir('blobs') });
    await blobs.put(codeCacheKey(url), archive);
    const dir = newDir('target');
    const ok = await new BlobStoreCodeCache({ blobs }).restore(url, dir);
    return { ok, dir };
  }

  async function repoSkeleton(): Promise<string> {
    const src = newDir('src');
    await gitCli(['init', '-q', '-b', 'main', src]);
    await writeFile(path.join(src, 'a.txt'), 'a\n');
    await gitCli(['add', '-A'], src);
    await gitCli(['-c', 'user.name=x', '-c', 'user.email=x@y', 'commit', '-qm', 'a'], src);
    return src;
  }

  it('finds nothing when no cache is stored', async () => {
    const cache = new BlobStoreCodeCache({ blobs: new FileBlobStore({ root: newDir('blobs') }) });
    expect(await cache.restore(url, newDir('none'))).toBe(false);
  });

  it('accepts a well-formed archive', async () => {
    const src = await repoSkeleton();
    const { ok, dir } = await restoreFrom(await makeTar(src, ['.git/HEAD', '.git/objects', '.git/refs']));
    expect(ok).toBe(true);
    expect(await readFile(path.join(dir, '.git/config'), 'utf8')).toContain(`url = ${url}`);
  });

  it('refuses an entry outside .git', async () => {
    const src = await repoSkeleton();
    const { ok, dir } = await restoreFrom(
      await makeTar(src, ['.git/HEAD', '.git/objects', '.git/refs', 'a.txt']),
    );
    expect(ok).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses hooks and links', async () => {
    const src = await repoSkeleton();
    expect(
      (await restoreFrom(await makeTar(src, ['.git/HEAD', '.git/objects', '.git/refs', '.git/hooks']))).ok,
    ).toBe(false);
    await run('ln', ['-s', '/etc', path.join(src, '.git/refs/evil')]);
    const { ok, dir } = await restoreFrom(await makeTar(src, ['.git/HEAD', '.git/objects', '.git/refs']));
    expect(ok).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses a HEAD naming a branch it does not hold', async () => {
    const src = await repoSkeleton();
    await writeFile(path.join(src, '.git/HEAD'), 'ref: refs/heads/missing\n');
    expect((await restoreFrom(await makeTar(src, ['.git/HEAD', '.git/objects', '.git/refs']))).ok).toBe(
      false,
    );
  });

  it('refuses to restore into a folder that is not empty', async () => {
    const src = await repoSkeleton();
    const blobs = new FileBlobStore({ root: newDir('blobs') });
    await blobs.put(codeCacheKey(url), await makeTar(src, ['.git/HEAD', '.git/objects', '.git/refs']));
    const dir = newDir('busy');
    await mkdir(dir);
    await writeFile(path.join(dir, 'x'), 'x');
    const err = await new BlobStoreCodeCache({ blobs }).restore(url, dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAvatarError(err, 'GIT_FAILED')).toBe(true);
  });

  it('does not store an archive over the size limit', async () => {
    const src = await repoSkeleton();
    const blobs = new FileBlobStore({ root: newDir('blobs') });
    const err = await new BlobStoreCodeCache({ blobs, maxBytes: 1024 }).save(url, src).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String((err as Error).message)).toMatch(/larger than 1024 bytes/);
    expect(await blobs.list('cache/')).toEqual([]);
  });
});
