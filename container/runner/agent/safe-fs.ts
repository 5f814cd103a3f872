/**
 * File access under a repository root for the code that runs in the runner's own process (the
 * agent's file tools, the context builder, the pre-commit gate), safe against a hostile repository
 * and against a process that swaps its entries while the runner works on them.
 *
 * Node has no openat(2), so each path is walked a component at a time from a descriptor of the
 * root: every directory is opened with O_DIRECTORY|O_NOFOLLOW through `/proc/self/fd/<dir fd>/<name>`
 * (the kernel looks `<name>` up in the very directory the descriptor holds, wherever it has been
 * moved to since: openat semantics), so a folder swapped for a symlink between two steps is never
 * followed. Symbolic links met on the way are resolved by hand, inside the repository: their
 * target is joined to the (already physical) folder that holds them and the walk starts again
 * from the root; a target that leaves the repository (absolute, `..` past the root, or into
 * `.git`) is refused with PATH_ESCAPE. The final entry is lstat'ed first (a FIFO, socket or device
 * is refused without being opened: a FIFO would hang the runner) and opened with
 * O_NOFOLLOW|O_NONBLOCK (and O_CREAT|O_EXCL to create, never O_TRUNC); then the descriptor is
 * checked: a regular file, one link only (a hard link may be a file outside the repository), the
 * same inode as the name in its folder, and the file the descriptor really holds
 * (`/proc/self/fd/<fd>`, the runner's own descriptor) inside the repository's real path. Only then
 * is anything read or written (a write replaces the content in place, then truncates).
 *
 * Without /proc (not Linux), the walk falls back to absolute paths (still O_NOFOLLOW at each
 * step) and the last check to realpath plus inode identity: checked, but not race-free.
 */
import { constants, type Dirent, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, realpath, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { AvatarError } from '../../../core/errors.ts';
import { isGitDirName, normalizeRepoPath } from './paths.ts';

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK, O_NOCTTY } =
  constants;

const MAX_LINK_HOPS = 40;
/** Attempts at one step that a concurrent change made fail (created, then gone again, …). */
const MAX_RETRIES = 8;

export type RepoFileProblem =
  /** Nothing by that name. */
  | 'missing'
  /** A directory where a file was wanted. */
  | 'directory'
  /** A file (or other non-directory) where a directory was wanted, the path's folders included. */
  | 'not_directory'
  /** A FIFO, socket, device (or a symbolic link where links are not followed). */
  | 'not_regular'
  /** A regular file with more than one name. */
  | 'hard_link'
  /** It leads outside the repository (or into .git), or changed under the runner while being opened. */
  | 'escape'
  /** Larger than the caller's limit. */
  | 'too_large';

/** Why a repository file was not read or written. PATH_ESCAPE for escapes and hard links, TOOL_INVALID otherwise. */
export class RepoFileError extends AvatarError {
  readonly problem: RepoFileProblem;
  /** The path as asked for (repository-relative). */
  readonly rel: string;
  /** For too_large: the size seen. */
  readonly size?: number;

  constructor(
    problem: RepoFileProblem,
    rel: string,
    message: string,
    opts: { cause?: unknown; size?: number } = {},
  ) {
    super(problem === 'escape' || problem === 'hard_link' ? 'PATH_ESCAPE' : 'TOOL_INVALID', message, {
      cause: opts.cause,
    });
    this.problem = problem;
    this.rel = rel;
    if (opts.size !== undefined) this.size = opts.size;
  }
}

export function isRepoFileError(err: unknown, problem?: RepoFileProblem): err is RepoFileError {
  return err instanceof RepoFileError && (problem === undefined || err.problem === problem);
}

/** What a non-regular entry is, for messages. */
export function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isFile()) return 'a regular file';
  return 'not a regular file';
}

function errno(err: unknown): string | undefined {
  return err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
}

function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

function refused(shown: string, why: string, cause?: unknown): RepoFileError {
  return new RepoFileError('escape', shown, `path ${JSON.stringify(shown)} refused: ${why}`, { cause });
}

/** A link's target; undefined when it is no longer a link (removed or replaced since it was seen). */
async function readLinkOrUndefined(p: string): Promise<string | undefined> {
  try {
    return await readlink(p);
  } catch (err) {
    if (errno(err) === 'ENOENT' || errno(err) === 'EINVAL') return undefined;
    throw err;
  }
}

interface Root {
  /** The root's realpath. */
  real: string;
  handle: FileHandle;
  /** Whether /proc/self/fd shows this process's descriptors (the race-free walk). */
  proc: boolean;
}

async function openRoot(root: string): Promise<Root> {
  const real = await realpath(root);
  const handle = await open(real, O_RDONLY | O_DIRECTORY);
  let proc = false;
  try {
    proc = (await readlink(`/proc/self/fd/${handle.fd}`)) === real;
  } catch {
    proc = false;
  }
  return { real, handle, proc };
}

interface Dir {
  handle: FileHandle;
  /** Repository-relative physical segments of this folder. */
  segs: string[];
  owned: boolean;
}

/** The name `name` inside `dir`, as a path the kernel looks up in that very directory. */
function entryPath(root: Root, dir: Dir, name: string): string {
  return root.proc ? `/proc/self/fd/${dir.handle.fd}/${name}` : path.join(root.real, ...dir.segs, name);
}

/** Where a symbolic link found at `linkRel` (in the physical folder `dirSegs`) points, as segments; refuses escapes. */
function linkTarget(root: Root, shown: string, linkRel: string, dirSegs: string[], target: string): string[] {
  let joined: string;
  if (path.posix.isAbsolute(target)) {
    const abs = path.resolve(target);
    if (!isInside(root.real, abs)) {
      throw refused(
        shown,
        `it goes through the symbolic link ${linkRel}, which points outside the repository`,
      );
    }
    joined = path.relative(root.real, abs).split(path.sep).join('/');
  } else {
    joined = path.posix.normalize([...dirSegs, target].join('/'));
    if (joined === '..' || joined.startsWith('../')) {
      throw refused(
        shown,
        `it goes through the symbolic link ${linkRel}, which points outside the repository (..)`,
      );
    }
  }
  const segs = joined.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.some(isGitDirName)) {
    throw refused(
      shown,
      `it goes through the symbolic link ${linkRel}, which points into git's .git directory`,
    );
  }
  return segs;
}

type Intent =
  /** lstat of the final entry (after in-repository links, when followed). */
  | { kind: 'stat' }
  /** The target of the final entry, a symbolic link. */
  | { kind: 'link' }
  | { kind: 'dir' }
  | { kind: 'read' }
  /** Read and write an existing file. */
  | { kind: 'update' }
  /** Write an existing file, or create it (and its folders) when `create`. */
  | { kind: 'write'; create: boolean };

interface Found {
  /** Repository-relative physical path of what was found ('.' for the root). */
  rel: string;
  stats: Stats;
  handle?: FileHandle;
  created: boolean;
  target?: string;
}

interface Options {
  /** Follow a final symbolic link that stays inside the repository (default true); links on the way always are. */
  follow?: boolean;
  /**
   * The path is a name as git or readdir gives it, not the agent's input: only `/`-separated
   * segments, `..` refused, and none of the lexical checks of paths.ts (a file may be called
   * `a\b` or `%2e%2e` on Linux).
   */
  listedName?: boolean;
}

/** The repository-relative form of `input` ('.' for the root). */
function shownPath(input: string, opts: Options): string {
  if (!opts.listedName) return normalizeRepoPath(input) || '.';
  const segs = input.split('/').filter((seg) => seg !== '' && seg !== '.');
  if (input.includes('\0') || input.startsWith('/') || segs.includes('..')) {
    throw refused(input, 'it leads outside the repository');
  }
  return segs.length === 0 ? '.' : segs.join('/');
}

async function locate(rootDir: string, input: string, intent: Intent, opts: Options): Promise<Found> {
  const shown = shownPath(input, opts);
  const root = await openRoot(rootDir);
  try {
    let segs = shown === '.' ? [] : shown.split('/');
    for (let hops = 0; ; hops++) {
      if (hops > MAX_LINK_HOPS) throw refused(shown, 'too many levels of symbolic links');
      const r = await attempt(root, shown, segs, intent, opts.follow ?? true);
      if (Array.isArray(r)) segs = r;
      else return r;
    }
  } catch (err) {
    throw namedError(err, shown);
  } finally {
    await root.handle.close();
  }
}

/** A system error about `/proc/self/fd/<n>/name`, told about the repository path instead (its code kept). */
function namedError(err: unknown, shown: string): unknown {
  if (err instanceof AvatarError || !(err instanceof Error)) return err;
  const e = err as NodeJS.ErrnoException;
  if (e.code === undefined) return err;
  const out: NodeJS.ErrnoException = new Error(`${e.code}: cannot ${e.syscall ?? 'open'} ${shown}`, {
    cause: err,
  });
  out.code = e.code;
  return out;
}

/** One walk from the root: what was found, or the segments to walk next (a link was met). */
async function attempt(
  root: Root,
  shown: string,
  segs: string[],
  intent: Intent,
  follow: boolean,
): Promise<Found | string[]> {
  const dir: Dir = { handle: root.handle, segs: [], owned: false };
  try {
    if (segs.length === 0) return await openRootItself(root, shown, intent);
    const create = intent.kind === 'write' && intent.create;
    for (let i = 0; i < segs.length - 1; i++) {
      const name = segs[i]!;
      const here = [...dir.segs, name].join('/');
      if (isGitDirName(name)) throw refused(shown, "it is inside git's internal .git directory");
      const p = entryPath(root, dir, name);
      let h: FileHandle | undefined;
      for (let tries = 0; h === undefined; tries++) {
        try {
          h = await open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        } catch (err) {
          const code = errno(err);
          if (tries >= MAX_RETRIES) throw refused(shown, `${here} kept changing while being opened`, err);
          if (code === 'ENOENT') {
            if (!create) throw new RepoFileError('missing', shown, `${shown}: no such file or directory`);
            // mkdir through the folder's descriptor; what it made is opened (O_NOFOLLOW) next round.
            await mkdir(p).catch((e: unknown) => {
              if (errno(e) !== 'EEXIST') throw e;
            });
            continue;
          }
          if (code !== 'ELOOP' && code !== 'ENOTDIR') throw err;
          const st = await lstat(p).catch(() => undefined);
          const to = st?.isSymbolicLink() ? await readLinkOrUndefined(p) : undefined;
          if (to !== undefined) return [...linkTarget(root, shown, here, dir.segs, to), ...segs.slice(i + 1)];
          if (st && !st.isDirectory() && !st.isSymbolicLink()) {
            throw new RepoFileError(
              'not_directory',
              shown,
              `${shown}: ${here} is ${kindOf(st)}, not a directory`,
              { cause: err },
            );
          }
          // It changed between the two calls: once more.
        }
      }
      if (dir.owned) await dir.handle.close();
      dir.handle = h;
      dir.owned = true;
      dir.segs.push(name);
    }
    return await openFinal(root, shown, dir, segs[segs.length - 1]!, intent, follow);
  } finally {
    if (dir.owned) await dir.handle.close();
  }
}

async function openRootItself(root: Root, shown: string, intent: Intent): Promise<Found> {
  if (intent.kind === 'stat') return { rel: '.', stats: await root.handle.stat(), created: false };
  if (intent.kind !== 'dir') {
    throw new RepoFileError('directory', shown, `${shown} is the repository root, a directory`);
  }
  const handle = await open(
    root.proc ? `/proc/self/fd/${root.handle.fd}/.` : root.real,
    O_RDONLY | O_DIRECTORY,
  );
  return { rel: '.', stats: await handle.stat(), handle, created: false };
}

async function openFinal(
  root: Root,
  shown: string,
  dir: Dir,
  name: string,
  intent: Intent,
  follow: boolean,
): Promise<Found | string[]> {
  const rel = [...dir.segs, name].join('/');
  if (isGitDirName(name)) throw refused(shown, "it is inside git's internal .git directory");
  const p = entryPath(root, dir, name);
  const create = intent.kind === 'write' && intent.create;
  const st = await lstat(p).catch((err: unknown) => {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  });
  if (st?.isSymbolicLink()) {
    const to = await readLinkOrUndefined(p);
    if (to === undefined) return [...dir.segs, name]; // replaced since the lstat: walk again
    if (intent.kind === 'link') return { rel, stats: st, created: false, target: to };
    if (follow) return linkTarget(root, shown, rel, dir.segs, to);
    if (intent.kind === 'stat') return { rel, stats: st, created: false };
    throw new RepoFileError('not_regular', shown, `${shown} is a symbolic link; not followed here`);
  }
  if (!st && !create) throw new RepoFileError('missing', shown, `${shown}: no such file or directory`);
  if (st && intent.kind === 'stat') return { rel, stats: st, created: false };
  if (st && intent.kind === 'link') {
    throw new RepoFileError('not_regular', shown, `${shown} is ${kindOf(st)}, not a symbolic link`);
  }
  if (intent.kind === 'dir') {
    if (!st!.isDirectory()) {
      throw new RepoFileError('not_directory', shown, `${shown} is ${kindOf(st!)}, not a directory`);
    }
  } else if (st) {
    if (st.isDirectory()) throw new RepoFileError('directory', shown, `${shown} is a directory`);
    if (!st.isFile()) {
      throw new RepoFileError(
        'not_regular',
        shown,
        `path ${JSON.stringify(shown)} refused: it is ${kindOf(st)}, not a regular file`,
      );
    }
  }

  const flags =
    intent.kind === 'dir'
      ? O_RDONLY | O_DIRECTORY
      : intent.kind === 'read'
        ? O_RDONLY
        : intent.kind === 'update'
          ? O_RDWR
          : O_WRONLY;
  let handle: FileHandle;
  let created = false;
  try {
    if (st) handle = await open(p, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    else {
      handle = await open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, 0o666);
      created = true;
    }
  } catch (err) {
    const code = errno(err);
    // Changed since the lstat (appeared, vanished, became a link): walk again.
    if (code === 'ELOOP' || code === 'EEXIST' || code === 'ENOENT') return [...dir.segs, name];
    if (code === 'ENXIO' || code === 'ENOTDIR') {
      throw new RepoFileError(
        'not_regular',
        shown,
        `path ${JSON.stringify(shown)} refused: not a regular file`,
        {
          cause: err,
        },
      );
    }
    if (code === 'EISDIR')
      throw new RepoFileError('directory', shown, `${shown} is a directory`, { cause: err });
    throw err;
  }
  try {
    const stats = await verify(root, shown, rel, p, handle, intent.kind === 'dir');
    return { rel, stats, handle, created };
  } catch (err) {
    await handle.close().catch(() => undefined);
    if (created) await unlink(p).catch(() => undefined);
    throw err;
  }
}

/** The checks on an opened descriptor; its fstat. */
async function verify(
  root: Root,
  shown: string,
  rel: string,
  p: string,
  handle: FileHandle,
  wantDir: boolean,
): Promise<Stats> {
  const st = await handle.stat();
  if (wantDir) {
    if (!st.isDirectory()) {
      throw new RepoFileError('not_directory', shown, `${shown} is ${kindOf(st)}, not a directory`);
    }
  } else if (!st.isFile()) {
    if (st.isDirectory()) throw new RepoFileError('directory', shown, `${shown} is a directory`);
    throw new RepoFileError(
      'not_regular',
      shown,
      `path ${JSON.stringify(shown)} refused: it is ${kindOf(st)}, not a regular file`,
    );
  }
  if (!wantDir && st.nlink !== 1) {
    throw new RepoFileError(
      'hard_link',
      shown,
      `path ${JSON.stringify(shown)} refused: it is a hard link (the file has ${st.nlink} names), so it may be a file outside the repository`,
    );
  }
  // The name still holds the inode the descriptor has (not replaced, not unlinked after the open).
  const now = await lstat(p).catch(() => undefined);
  if (!now || now.ino !== st.ino || now.dev !== st.dev) {
    throw refused(shown, 'it changed while it was being opened');
  }
  let where: string | undefined;
  if (root.proc) {
    where = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
    if (where?.endsWith(' (deleted)')) where = undefined;
  } else {
    where = await realpath(path.join(root.real, ...rel.split('/'))).catch(() => undefined);
    const again = where === undefined ? undefined : await stat(where).catch(() => undefined);
    if (!again || again.ino !== st.ino || again.dev !== st.dev) where = undefined;
  }
  if (where === undefined) throw refused(shown, 'it changed while it was being opened');
  if (!isInside(root.real, where)) throw refused(shown, 'it is outside the repository');
  if (path.relative(root.real, where).split(path.sep).some(isGitDirName)) {
    throw refused(shown, "it resolves into git's internal .git directory");
  }
  return st;
}

// ---- the public operations ----

/** An opened repository file (regular, one link, inside the repository). Close it. */
export class RepoFile {
  constructor(
    readonly handle: FileHandle,
    /** fstat at open time. */
    readonly stats: Stats,
    /** The path as asked for. */
    readonly shown: string,
    /** Repository-relative physical path (after in-repository links). */
    readonly rel: string,
    readonly created: boolean,
  ) {}

  /**
   * The content from the start, at most `maxBytes`: a longer file is refused (too_large), or cut
   * when `cut`.
   */
  async read(opts: { maxBytes?: number; cut?: boolean } = {}): Promise<Buffer> {
    const limit = opts.maxBytes ?? Number.MAX_SAFE_INTEGER;
    const tooLarge = (size: number) =>
      new RepoFileError(
        'too_large',
        this.shown,
        `${this.shown} is ${size} bytes, over the limit of ${limit}`,
        {
          size,
        },
      );
    if (this.stats.size > limit && !opts.cut) throw tooLarge(this.stats.size);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const room = limit - total;
      const size = Math.min(Math.max(this.stats.size - total + 1, 4096), 1024 * 1024, room + 1);
      const buf = Buffer.allocUnsafe(size);
      const { bytesRead } = await this.handle.read(buf, 0, size, total);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > limit) {
        if (!opts.cut) throw tooLarge(total);
        return Buffer.concat(chunks).subarray(0, limit);
      }
    }
    return Buffer.concat(chunks);
  }

  /** Replaces the whole content (written from the start, then truncated to its length). */
  async replace(data: string | Uint8Array): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await this.handle.write(buf, off, buf.length - off, off);
      off += bytesWritten;
    }
    await this.handle.truncate(buf.length);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/**
 * Opens a repository file: `read`, `update` (read and write an existing file) or `write` (an
 * existing file, or a new one with its missing folders when `create`). Symbolic links inside the
 * repository are followed; see the module comment for what is refused.
 */
export async function openRepoFile(
  root: string,
  rel: string,
  mode: 'read' | 'update' | 'write',
  opts: { create?: boolean } & Pick<Options, 'listedName'> = {},
): Promise<RepoFile> {
  const intent: Intent = mode === 'write' ? { kind: 'write', create: opts.create ?? true } : { kind: mode };
  const lexical = { listedName: opts.listedName };
  const found = await locate(root, rel, intent, lexical);
  return new RepoFile(found.handle!, found.stats, shownPath(rel, lexical), found.rel, found.created);
}

/** A repository file's content (see RepoFile#read for the limit). */
export async function readRepoFile(
  root: string,
  rel: string,
  opts: { maxBytes?: number; cut?: boolean } & Pick<Options, 'listedName'> = {},
): Promise<Buffer> {
  const file = await openRepoFile(root, rel, 'read', { listedName: opts.listedName });
  try {
    return await file.read(opts);
  } finally {
    await file.close();
  }
}

/**
 * A repository file as UTF-8 text, at most `maxBytes` (cut); undefined when it cannot be read
 * safely. `rel` is a name as listed (see Options.listedName).
 */
export async function readRepoText(root: string, rel: string, maxBytes: number): Promise<string | undefined> {
  try {
    return (await readRepoFile(root, rel, { maxBytes, cut: true, listedName: true })).toString('utf8');
  } catch {
    return undefined;
  }
}

/** Writes a whole repository file (creating it and its folders unless `create` is false). */
export async function writeRepoFile(
  root: string,
  rel: string,
  data: string | Uint8Array,
  opts: { create?: boolean } = {},
): Promise<{ created: boolean; rel: string }> {
  const file = await openRepoFile(root, rel, 'write', opts);
  try {
    await file.replace(data);
    return { created: file.created, rel: file.rel };
  } finally {
    await file.close();
  }
}

/** lstat of a repository entry (after in-repository links, unless `follow` is false for the last one). */
export async function statInRepo(
  root: string,
  rel: string,
  opts: Options = {},
): Promise<{ rel: string; stats: Stats }> {
  const found = await locate(root, rel, { kind: 'stat' }, opts);
  return { rel: found.rel, stats: found.stats };
}

/** Whether a repository entry exists inside the repository (links followed only inside it). */
export async function existsInRepo(root: string, rel: string): Promise<boolean> {
  try {
    await statInRepo(root, rel, { listedName: true });
    return true;
  } catch {
    return false;
  }
}

/** The target text of a symbolic link in the repository (the link itself is not followed). */
export async function readLinkInRepo(
  root: string,
  rel: string,
  opts: Pick<Options, 'listedName'> = {},
): Promise<string> {
  const found = await locate(root, rel, { kind: 'link' }, { ...opts, follow: false });
  return found.target!;
}

/** A repository directory held open by its descriptor (see withRepoDir). */
export interface OpenedRepoDir {
  /** Repository-relative physical path ('.' for the root). */
  rel: string;
  /** Its entries (read through the descriptor). */
  entries: Dirent[];
  /** lstat of one of its entries, looked up in this very directory (the entry itself is not followed). */
  lstat(name: string): Promise<Stats>;
}

/**
 * Opens a repository directory (never through a link out), lists it, and runs `fn` while it is
 * held open. `rel` is a name as listed (see Options.listedName).
 */
export async function withRepoDir<T>(
  root: string,
  rel: string,
  fn: (dir: OpenedRepoDir) => Promise<T>,
): Promise<T> {
  const found = await locate(root, rel, { kind: 'dir' }, { listedName: true });
  const handle = found.handle!;
  try {
    const viaFd = `/proc/self/fd/${handle.fd}`;
    const proc = await readlink(viaFd).then(
      () => true,
      () => false,
    );
    const where = proc
      ? viaFd
      : path.join(await realpath(root), ...(found.rel === '.' ? [] : found.rel.split('/')));
    const entries = await readdir(where, { withFileTypes: true });
    return await fn({
      rel: found.rel,
      entries,
      lstat: (name) => {
        if (name === '' || name === '.' || name === '..' || name.includes('/')) {
          return Promise.reject(
            new RepoFileError('escape', name, `${JSON.stringify(name)} is not an entry name`),
          );
        }
        return lstat(`${where}/${name}`);
      },
    });
  } finally {
    await handle.close();
  }
}

/** The entries of a repository directory, read through a descriptor of it (never a link out). */
export function readRepoDir(root: string, rel: string): Promise<Dirent[]> {
  return withRepoDir(root, rel, async (dir) => dir.entries);
}
