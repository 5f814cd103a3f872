/**
 * The dependency cache: what the install step downloads (the package managers' caches in the
 * sandbox's home: npm's, pip's and uv's, pnpm's store, Go's module cache, cargo's registry,
 * Maven's and Gradle's), kept in the blob store (S3 on AWS, the work dir locally) under
 * `cache/deps/<sha256>.tar`, keyed by the repository, the install command and the content of its
 * lockfiles. A second task on the same repository and lockfiles installs from it instead of the
 * network.
 *
 * Archives are made and unpacked inside the run's sandbox, as the sandbox's user, with no network:
 * the runner never unpacks what a repository's install step produced. It is saved right after an
 * install that ran before the agent started (what the lockfile and the install scripts made,
 * nothing the agent did), and only ever restored into a run of the same repository.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import { describeError } from '../../../core/errors.ts';
import type { BlobStore } from '../../../core/ports.ts';
import { readRepoText } from '../agent/safe-fs.ts';
import { stripCredentials } from '../git/auth.ts';
import type { Sandbox } from '../sandbox/types.ts';
import { runTestCommand } from '../testing/run.ts';

export const DEPS_CACHE_PREFIX = 'cache/deps/';

/** The lockfiles and requirement files that decide what an install step brings (when present). */
export const LOCKFILES = [
  'package-lock.json',
  'npm-shrinkwrap.json',
  'pnpm-lock.yaml',
  'yarn.lock',
  'uv.lock',
  'poetry.lock',
  'pdm.lock',
  'Pipfile.lock',
  'requirements.txt',
  'requirements-dev.txt',
  'requirements-test.txt',
  'test-requirements.txt',
  'go.sum',
  'Cargo.lock',
] as const;

/** The package managers' caches, relative to the sandbox's home (each kept when present). */
export const HOME_CACHES = [
  '.npm',
  '.cache',
  '.local/share/pnpm',
  '.yarn/berry/cache',
  'go/pkg/mod',
  '.cargo/registry',
  '.cargo/git',
  '.m2/repository',
  '.gradle/caches',
] as const;

const ARCHIVE_IN = '.numa-deps-in.tar';
const ARCHIVE_OUT = '.numa-deps-out.tar';

export interface DepsCacheOptions {
  blobs: BlobStore;
  /** Archives larger than this are not stored (default 512 MiB: an archive is held in memory). */
  maxBytes?: number;
  /** Per tar run (default 10 minutes). */
  timeoutMs?: number;
}

export interface DepsCacheContext {
  repoUrl: string;
  repoDir: string;
  installCommand: string;
  sandbox: Sandbox;
  /** The commands' environment (default: the scrubbed one runTestCommand makes). */
  env?: NodeJS.ProcessEnv;
  log: (line: string) => void;
  signal?: AbortSignal;
}

/** A cache entry's blob key, and the lockfiles it was made from (for the log). */
export interface DepsKey {
  key: string;
  lockfiles: string[];
}

export class DepsCache {
  private readonly maxBytes: number;
  private readonly timeoutMs: number;

  constructor(private readonly opts: DepsCacheOptions) {
    this.maxBytes = opts.maxBytes ?? 512 * 1024 ** 2;
    this.timeoutMs = opts.timeoutMs ?? 10 * 60_000;
  }

  /**
   * The blob key for this repository, install command and lockfiles; undefined when the
   * repository has no lockfile (nothing pins what the install brings) or the commands have no
   * home of their own (unsandboxed).
   */
  async key(ctx: DepsCacheContext): Promise<DepsKey | undefined> {
    if (!ctx.sandbox.homeDir) return undefined;
    const lockfiles: Array<[string, string]> = [];
    for (const name of LOCKFILES) {
      const text = await readRepoText(ctx.repoDir, name, 64 * 1024 * 1024);
      if (text !== undefined) lockfiles.push([name, sha256(text)]);
    }
    if (lockfiles.length === 0) return undefined;
    const digest = sha256(
      JSON.stringify({
        v: 1,
        repo: stripCredentials(ctx.repoUrl),
        // The workspace's own virtualenv folder (ecosystems/python-setup.ts) differs per run:
        // the key is the same install wherever it runs.
        install: ctx.installCommand.replace(/\.numa-venvs\/[0-9a-f]{12}\b/g, '.numa-venvs/<workspace>'),
        lockfiles,
        platform: `${process.platform}-${process.arch}`,
      }),
    );
    return { key: `${DEPS_CACHE_PREFIX}${digest}.tar`, lockfiles: lockfiles.map(([n]) => n) };
  }

  /**
   * Unpacks the archive cached under `k` (key(), looked up before the install) into the
   * sandbox's home; false when there is none or it fails.
   */
  async restore(ctx: DepsCacheContext, k: DepsKey | undefined): Promise<boolean> {
    const home = ctx.sandbox.homeDir;
    if (home && !k) ctx.log('dependency cache: not used (no lockfile pins what the install brings)');
    if (!home || !k) return false;
    const t0 = performance.now();
    let archive: Buffer | undefined;
    try {
      archive = await this.opts.blobs.get(k.key);
    } catch (err) {
      ctx.log(`dependency cache: could not read it (${describeError(err)}); installing from the network`);
      return false;
    }
    if (!archive) {
      ctx.log(`dependency cache: none yet for ${k.lockfiles.join(', ')}`);
      return false;
    }
    const inside = path.join(home, ARCHIVE_IN);
    try {
      // The home is the sandbox's: whatever is at that name (a link planted by a setup step) goes,
      // and the archive is a new file, never written through a link.
      await rm(inside, { force: true });
      const fh = await open(
        inside,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o644,
      );
      try {
        await fh.writeFile(archive);
      } finally {
        await fh.close();
      }
    } catch (err) {
      ctx.log(
        `dependency cache: could not hand it to the sandbox (${describeError(err)}); installing without it`,
      );
      return false;
    }
    try {
      const r = await this.inSandbox(ctx, `tar -xf "$HOME/${ARCHIVE_IN}" -C "$HOME"`);
      if (!r.passed) {
        ctx.log(
          `dependency cache: could not unpack it (exit ${r.exitCode ?? 'none'}); installing without it`,
        );
        return false;
      }
    } finally {
      await rm(inside, { force: true });
    }
    ctx.log(
      `dependency cache: restored ${mib(archive.length)} for ${k.lockfiles.join(', ')} in ${Math.round(performance.now() - t0)} ms`,
    );
    return true;
  }

  /**
   * Packs the package managers' caches in the sandbox's home and stores them. Never throws.
   * `k` is the key looked up before the install: an install without a lockfile writes one (npm's
   * package-lock.json), and a key made from it would never be looked up again.
   */
  async save(ctx: DepsCacheContext, k: DepsKey | undefined): Promise<void> {
    const home = ctx.sandbox.homeDir;
    if (!home || !k) return;
    const t0 = performance.now();
    const out = path.join(home, ARCHIVE_OUT);
    try {
      const list = HOME_CACHES.map((d) => `"${d}"`).join(' ');
      const r = await this.inSandbox(
        ctx,
        `cd "$HOME" && set -- && for d in ${list}; do [ -d "$d" ] && set -- "$@" "$d"; done; ` +
          `[ "$#" -gt 0 ] || exit 3; tar -cf "$HOME/${ARCHIVE_OUT}" "$@"`,
      );
      if (r.exitCode === 3) {
        ctx.log('dependency cache: the install left no package manager cache to keep');
        return;
      }
      if (!r.passed) {
        ctx.log(`dependency cache: could not pack it (exit ${r.exitCode ?? 'none'}); not saved`);
        return;
      }
      const archive = await readSandboxArchive(out, this.maxBytes);
      if (typeof archive === 'string') {
        ctx.log(`dependency cache: not saved: ${archive}`);
        return;
      }
      await this.opts.blobs.put(k.key, archive);
      ctx.log(
        `dependency cache: saved ${mib(archive.length)} for ${k.lockfiles.join(', ')} in ${Math.round(performance.now() - t0)} ms`,
      );
    } catch (err) {
      ctx.log(`dependency cache: not saved (${describeError(err)})`);
    } finally {
      await rm(out, { force: true }).catch(() => undefined);
    }
  }

  private inSandbox(ctx: DepsCacheContext, command: string) {
    return runTestCommand({
      command,
      cwd: ctx.repoDir,
      timeoutMs: this.timeoutMs,
      signal: ctx.signal,
      env: ctx.env,
      sandbox: ctx.sandbox,
    });
  }
}

/**
 * A file the sandbox wrote, for the runner to read: a plain file with one link (not a hard link
 * to anything else), opened without following a symbolic link, at most `maxBytes`; else why not.
 */
export async function readSandboxArchive(file: string, maxBytes: number): Promise<Buffer | string> {
  let fh;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    return `the archive cannot be opened (${(err as NodeJS.ErrnoException).code ?? describeError(err)})`;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.nlink !== 1) return 'the archive is not a plain file of its own';
    if (st.size > maxBytes) return `${mib(st.size)} is over the limit of ${mib(maxBytes)}`;
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function mib(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}
