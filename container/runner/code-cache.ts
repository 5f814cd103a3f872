/**
 * The code cache: each repository's git objects, kept in the blob store (S3 on AWS, the work dir
 * locally) under `cache/git/<sha256 of the URL without credentials>.tar`, so a runner that finds
 * one turns a cold clone into a download plus an incremental fetch (design.md).
 *
 * What is stored is data only: `.git/objects`, `.git/refs`, `.git/packed-refs`, `.git/shallow`,
 * `.git/HEAD`, and a `.git/config` generated here with the clean URL. Never the repository's own
 * config (credentials, filter drivers, include paths), hooks, reflogs, the index or the work
 * tree. A restored archive is checked before anything is extracted (plain files and folders under
 * those paths only), and its config is written afresh.
 *
 * Archives are made and read by the `tar` binary (GNU tar in the runner image, bsdtar works too)
 * without compression: pack files are compressed already.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { scrubEnv } from '../../core/env.ts';
import { AvatarError, describeError } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../core/log.ts';
import type { BlobStore } from '../../core/ports.ts';
import { patternRedactor } from '../../core/redact.ts';
import { stripCredentials } from './git/auth.ts';
import type { GitEngine } from './git/index.ts';

export interface CodeCache {
  /** Puts the cached `.git` of `repoUrl` in `dir` (created); false when there is none or it is unusable. */
  restore(repoUrl: string, dir: string): Promise<boolean>;
  /** Stores the `.git` of the repository in `dir` as the cache of `repoUrl`. */
  save(repoUrl: string, dir: string): Promise<void>;
}

export const CODE_CACHE_PREFIX = 'cache/git/';

/** The blob key of a repository's cache: the URL without credentials, hashed. */
export function codeCacheKey(repoUrl: string): string {
  const digest = createHash('sha256').update(stripCredentials(repoUrl)).digest('hex');
  return `${CODE_CACHE_PREFIX}${digest}.tar`;
}

export interface BlobStoreCodeCacheOptions {
  blobs: BlobStore;
  /** Default `tar` on PATH. */
  tarBinary?: string;
  /** Archives larger than this are not stored (default 256 MiB: the archive is held in memory). */
  maxBytes?: number;
  /** Per tar call (default 10 minutes). */
  timeoutMs?: number;
  logger?: Logger;
}

const FETCH_REFSPEC = '+refs/heads/*:refs/remotes/origin/*';
/** The top-level entries of `.git` that are stored (when present). */
const STORED = ['HEAD', 'objects', 'refs', 'packed-refs', 'shallow'] as const;

export class BlobStoreCodeCache implements CodeCache {
  private readonly blobs: BlobStore;
  private readonly tar: string;
  private readonly maxBytes: number;
  private readonly timeoutMs: number;
  private readonly logger: Logger;

  constructor(opts: BlobStoreCodeCacheOptions) {
    this.blobs = opts.blobs;
    this.tar = opts.tarBinary ?? 'tar';
    this.maxBytes = opts.maxBytes ?? 256 * 1024 ** 2;
    this.timeoutMs = opts.timeoutMs ?? 10 * 60_000;
    this.logger = opts.logger ?? silentLogger;
  }

  async restore(repoUrl: string, dir: string): Promise<boolean> {
    const key = codeCacheKey(repoUrl);
    const archive = await this.blobs.get(key);
    if (!archive) return false;
    const existing = await readdir(dir).catch(() => []);
    if (existing.length > 0) {
      throw new AvatarError(
        'GIT_FAILED',
        `cannot restore the code cache into ${dir}: the folder is not empty`,
      );
    }
    try {
      await this.check(archive);
      await mkdir(dir, { recursive: true });
      await this.runTar(
        ['-x', '-f', '-', '--no-same-owner', '--no-same-permissions', '-C', path.resolve(dir)],
        archive,
      );
      const gitDir = path.join(dir, '.git');
      await readableByAll(gitDir);
      await checkHead(gitDir);
      // Objects are read from the archive only, never from a folder it names.
      await rm(path.join(gitDir, 'objects/info/alternates'), { force: true });
      await rm(path.join(gitDir, 'objects/info/http-alternates'), { force: true });
      await writeFile(path.join(gitDir, 'config'), gitConfig(repoUrl));
      await mkdir(path.join(gitDir, 'refs', 'heads'), { recursive: true });
      await mkdir(path.join(gitDir, 'refs', 'tags'), { recursive: true });
      this.logger.debug('code cache restored', { key, bytes: archive.length });
      return true;
    } catch (err) {
      this.logger.warn('code cache unusable, ignored', { key, error: describeError(err) });
      await rm(dir, { recursive: true, force: true });
      return false;
    }
  }

  async save(repoUrl: string, dir: string): Promise<void> {
    const key = codeCacheKey(repoUrl);
    const gitDir = path.join(dir, '.git');
    const st = await lstat(gitDir).catch(() => undefined);
    if (!st?.isDirectory()) throw new AvatarError('GIT_FAILED', `no .git folder in ${dir} to cache`);
    const members: string[] = [];
    for (const name of STORED) {
      if (await lstat(path.join(gitDir, name)).catch(() => undefined)) members.push(`.git/${name}`);
    }
    // The config goes in from a folder of its own, written here: the repository's own is never stored.
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'numa-code-cache-'));
    try {
      await mkdir(path.join(tmp, '.git'));
      await writeFile(path.join(tmp, '.git', 'config'), gitConfig(repoUrl));
      const archive = await this.runTar([
        '-c',
        '-f',
        '-',
        '--exclude=.git/objects/info/alternates',
        '--exclude=.git/objects/info/http-alternates',
        '-C',
        path.resolve(dir),
        ...members,
        '-C',
        tmp,
        '.git/config',
      ]);
      // What would not be restored is not stored either.
      await this.check(archive);
      await this.blobs.put(key, archive);
      this.logger.info('code cache saved', { key, bytes: archive.length });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** Refuses an archive holding anything but plain files and folders under the stored paths. */
  private async check(archive: Buffer): Promise<void> {
    const names = splitLines((await this.runTar(['-t', '-f', '-'], archive)).toString('utf8'));
    const long = splitLines((await this.runTar(['-t', '-v', '-f', '-'], archive)).toString('utf8'));
    if (names.length === 0) throw new AvatarError('GIT_FAILED', 'the code cache archive is empty');
    if (long.length !== names.length) {
      throw new AvatarError('GIT_FAILED', 'the code cache archive lists its entries inconsistently');
    }
    for (const [i, name] of names.entries()) {
      if (!allowedMember(name)) {
        throw new AvatarError(
          'GIT_FAILED',
          `the code cache archive holds an unexpected entry: ${JSON.stringify(name)}`,
        );
      }
      const type = long[i]![0];
      if (type !== '-' && type !== 'd') {
        throw new AvatarError(
          'GIT_FAILED',
          `the code cache archive holds a link or special file: ${JSON.stringify(name)}`,
        );
      }
    }
  }

  private runTar(args: string[], input?: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.tar, args, {
        env: scrubEnv(process.env),
        stdio: ['pipe', 'pipe', 'pipe'],
        shell: false,
      });
      const out: Buffer[] = [];
      let size = 0;
      let stderr = '';
      let failure: AvatarError | undefined;
      const fail = (err: AvatarError) => {
        failure ??= err;
        child.kill('SIGKILL');
      };
      const timer = setTimeout(
        () =>
          fail(new AvatarError('GIT_FAILED', `tar timed out after ${Math.round(this.timeoutMs / 1000)} s`)),
        this.timeoutMs,
      );
      child.stdout.on('data', (c: Buffer) => {
        size += c.length;
        if (size > this.maxBytes) {
          fail(
            new AvatarError(
              'GIT_FAILED',
              `the code cache archive is larger than ${this.maxBytes} bytes: not cached`,
            ),
          );
          return;
        }
        out.push(c);
      });
      child.stderr.on('data', (c: Buffer) => {
        stderr = (stderr + c.toString('utf8')).slice(-4000);
      });
      child.stdin.on('error', () => {
        // tar may stop reading early (a refused archive); its exit code says what happened.
      });
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new AvatarError('GIT_FAILED', `could not run ${this.tar}: ${e.message}`));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (failure) reject(failure);
        else if (code !== 0) {
          const detail = patternRedactor.redact(stderr.trim().split('\n').slice(-3).join(' '));
          reject(
            new AvatarError('GIT_FAILED', `tar ${args[0]} exited with ${code}: ${detail || 'no message'}`),
          );
        } else resolve(Buffer.concat(out));
      });
      child.stdin.end(input ?? Buffer.alloc(0));
    });
  }
}

/**
 * Restores `dir` from the cache and checks out `branch` (fetched from the remote when it exists
 * there, else created from the fetched default branch). True when the work tree is ready; false
 * when there is no usable cache, with `dir` removed so the caller clones instead.
 */
export async function checkoutFromCodeCache(o: {
  cache: CodeCache;
  git: GitEngine;
  url: string;
  dir: string;
  branch: string;
  branchExists: boolean;
  defaultBranch: string;
  log: (line: string) => void;
  logger: Logger;
}): Promise<boolean> {
  let restored = false;
  try {
    restored = await o.cache.restore(o.url, o.dir);
  } catch (err) {
    o.logger.warn('could not read the code cache', { error: describeError(err) });
  }
  if (!restored) return false;
  try {
    await o.git.adopt(o.dir, o.url);
    const start = o.branchExists ? o.branch : o.defaultBranch;
    const tip = await o.git.fetchBranch(o.dir, start);
    if (!tip) throw new AvatarError('GIT_NOT_FOUND', `branch ${start} is not on the remote`);
    await o.git.checkoutRemoteBranch(o.dir, start);
    if (!o.branchExists) await o.git.checkoutNewBranch(o.dir, o.branch);
    return true;
  } catch (err) {
    o.log(`the code cache could not be used (${describeError(err)}); cloning instead`);
    await rm(o.dir, { recursive: true, force: true });
    return false;
  }
}

/** Stores the repository as the cache of its URL; never fails the run (a failure is logged). */
export async function saveToCodeCache(
  cache: CodeCache,
  url: string,
  dir: string,
  logger: Logger,
): Promise<void> {
  try {
    await cache.save(url, dir);
  } catch (err) {
    logger.warn('could not save the code cache', { error: describeError(err) });
  }
}

/**
 * The restored `.git` readable by all, as a fresh clone's is: the sandbox's uid reads it (a
 * project's tests may walk the whole tree: `node --test` with no file fails on a folder it cannot
 * read). What a run commits is made under the sandbox's umask (0007), so a cache saved after a
 * commit holds folders of 0750 that no other uid may enter. Only read (and, for folders, search)
 * is added; the archive holds only plain files and folders (check).
 */
async function readableByAll(gitDir: string): Promise<void> {
  const names = await readdir(gitDir, { recursive: true });
  for (const p of [gitDir, ...names.map((n) => path.join(gitDir, n))]) {
    const st = await lstat(p);
    const wanted = st.isDirectory() ? 0o055 : st.isFile() ? 0o044 : 0;
    if ((st.mode & wanted) !== wanted) await chmod(p, (st.mode & 0o7777) | wanted);
  }
}

/** A minimal config: the clean URL as origin, every branch fetched into refs/remotes/origin. */
function gitConfig(repoUrl: string): string {
  const url = stripCredentials(repoUrl);
  if (/[\r\n\0]/.test(url)) throw new AvatarError('GIT_FAILED', 'the repository URL holds a line break');
  return (
    '[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n' +
    `[remote "origin"]\n\turl = ${configValue(url)}\n\tfetch = ${FETCH_REFSPEC}\n`
  );
}

/** A git config value, quoted when it holds what the format treats specially. */
function configValue(v: string): string {
  if (!/[\s"\\;#]/.test(v)) return v;
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function allowedMember(raw: string): boolean {
  const name = raw.replace(/\/$/, '');
  // tar prints names it had to escape with backslashes: such names are never ours.
  if (name.includes('\\') || name.startsWith('/')) return false;
  const parts = name.split('/');
  if (parts[0] !== '.git' || parts.slice(1).some((p) => p === '' || p === '.' || p === '..')) return false;
  if (parts.length === 1) return true;
  const top = parts[1]!;
  if (top === 'objects' || top === 'refs') return true;
  return parts.length === 2 && ['HEAD', 'config', 'packed-refs', 'shallow'].includes(top);
}

/** HEAD must name a branch that exists in the archive, or a commit id. */
async function checkHead(gitDir: string): Promise<void> {
  const head = (await readFile(path.join(gitDir, 'HEAD'), 'utf8').catch(() => '')).trim();
  if (/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(head)) return;
  const m = /^ref: (refs\/heads\/[^\s]+)$/.exec(head);
  if (!m?.[1] || m[1].split('/').includes('..')) {
    throw new AvatarError('GIT_FAILED', 'the code cache has no valid HEAD');
  }
  const ref = m[1];
  const loose = await lstat(path.join(gitDir, ref)).catch(() => undefined);
  if (loose?.isFile()) return;
  const packed = await readFile(path.join(gitDir, 'packed-refs'), 'utf8').catch(() => '');
  if (packed.split('\n').some((l) => l.endsWith(` ${ref}`))) return;
  throw new AvatarError('GIT_FAILED', `the code cache's HEAD names ${ref}, which it does not hold`);
}

function splitLines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0);
}
