/**
 * Safe resolution of the repository-relative paths the agent's file tools receive. A path that
 * would leave the repository (`..`, absolute, `~`, URL-encoded or backslash tricks, NUL bytes,
 * Unicode look-alikes of `.`, `/` and `\`, names of only dots and spaces, a symlink whose target
 * is outside) is refused with AvatarError('PATH_ESCAPE'); git's own `.git` directory is refused too
 * (it holds the remote's configuration and hooks that git runs), in the spellings other file
 * systems fold into it (`.GIT`, `.git.`, `.git `, `.git::$INDEX_ALLOCATION`, `GIT~1`).
 */
import { lstat, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { AvatarError } from '../../../core/errors.ts';

export interface ResolvedPath {
  /** Absolute path inside the repository (lexically normalised, not symlink-resolved). */
  abs: string;
  /** Repository-relative path with forward slashes; `.` for the root. */
  rel: string;
}

const MAX_LINK_HOPS = 40;

function refuse(input: string, why: string): never {
  throw new AvatarError(
    'PATH_ESCAPE',
    `path ${JSON.stringify(input)} refused: ${why}. Paths are relative to the repository root, e.g. "src/index.ts".`,
  );
}

/** Repeatedly percent-decodes (so `%252e` counts too); undefined when the text is not valid percent-encoding. */
function percentDecoded(input: string): string | undefined {
  let cur = input;
  for (let i = 0; i < 5 && /%[0-9a-f]{2}/i.test(cur); i++) {
    try {
      cur = decodeURIComponent(cur);
    } catch {
      return undefined;
    }
  }
  return cur;
}

/** Characters that look like (or some layer folds into) '.', '/' or '\\', beyond what NFKC folds. */
const LOOKALIKES: ReadonlyArray<[RegExp, string]> = [
  [/[\u2024\uFE52\uFF0E\u3002\uFF61\u0701\u0702\uA60E\u2E31\u00B7\u2027]/g, '.'],
  [/[\u2215\u2044\u29F8\uFF0F\u2571\u1735]/g, '/'],
  [/[\u2216\uFE68\uFF3C\u29F9\u2572]/g, '\\'],
];

/** The path as a lenient layer might read it: NFKC-normalised and look-alikes folded. */
function folded(input: string): string {
  let out = input.normalize('NFKC');
  for (const [re, to] of LOOKALIKES) out = out.replace(re, to);
  return out;
}

/**
 * Whether one path segment names git's `.git` directory, in the spellings other file systems fold
 * into it (`.GIT`, `.git.`, `.git `, `.git::$INDEX_ALLOCATION`, `GIT~1`).
 */
export function isGitDirName(seg: string): boolean {
  // Windows strips trailing dots and spaces and reads `name::$DATA`-style stream suffixes as the name.
  const base = seg
    .replace(/:+\$.*$/, '')
    .replace(/[. ]+$/, '')
    .toLowerCase();
  return base === '.git' || seg.toLowerCase() === 'git~1';
}

/** Why one path segment is refused (after the '..' and absolute checks), or undefined. */
function segmentProblem(seg: string): string | undefined {
  if (seg !== '.' && seg !== '..' && /^[. ]+$/.test(seg)) {
    return `its part ${JSON.stringify(seg)} is made only of dots and spaces (some file systems read it as ".." or ".")`;
  }
  if (isGitDirName(seg)) {
    return "it is inside git's internal .git directory, which the tools do not read or change";
  }
  return undefined;
}

/** What a non-string "path" was, without calling its toString (which may throw or lie). */
function describeNonString(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'an array';
  if (typeof input === 'object') return 'an object';
  if (typeof input === 'function') return 'a function';
  return `${typeof input} ${String(input)}`.slice(0, 60);
}

/** The lexical checks; returns the normalised relative path ('' for the root). */
export function normalizeRepoPath(input: unknown): string {
  if (typeof input !== 'string') refuse(`(${describeNonString(input)})`, 'a path must be a string');
  const raw = input.trim();
  if (raw.includes('\0')) refuse(input, 'it contains a NUL byte');
  if (raw.includes('\\')) refuse(input, 'it contains a backslash (use forward slashes "/")');
  if (raw.startsWith('/')) refuse(input, 'it is absolute');
  if (/^[a-z]:/i.test(raw)) refuse(input, 'it is an absolute (drive-letter) path');
  // `~` and `~user` are what a shell would expand to a home directory: never meant literally here.
  if (/^~[A-Za-z0-9_.-]*$/.test(raw.split('/')[0] ?? '')) {
    refuse(input, 'it starts with "~" (the home directory is outside the repository)');
  }
  const decoded = percentDecoded(raw);
  if (decoded !== undefined && decoded !== raw) {
    // A name may contain '%'; what it may not do is decode into an escape.
    if (
      decoded.includes('\0') ||
      decoded.includes('\\') ||
      decoded.startsWith('/') ||
      decoded.split('/').some((seg) => seg === '..' || segmentProblem(seg) !== undefined)
    ) {
      refuse(
        input,
        `it is URL-encoded and decodes to ${JSON.stringify(decoded)}, which leaves the repository`,
      );
    }
  }
  const lookalike = folded(raw);
  if (lookalike !== raw) {
    const escapes =
      lookalike.includes('\0') ||
      lookalike.includes('\\') ||
      lookalike.startsWith('/') ||
      lookalike.split('/').some((seg) => seg === '..' || segmentProblem(seg) !== undefined);
    if (escapes) {
      refuse(
        input,
        `it contains Unicode characters that look like "." "/" or "\\" (read as ${JSON.stringify(lookalike)}, it leaves the repository or enters .git)`,
      );
    }
  }
  if (raw === '' || raw === '.') return '';
  for (const seg of raw.split('/')) {
    const problem = segmentProblem(seg);
    if (problem) refuse(input, problem);
  }
  const normalized = path.posix.normalize(raw).replace(/\/+$/, '');
  if (normalized === '..' || normalized.startsWith('../'))
    refuse(input, 'it leads outside the repository (..)');
  if (normalized === '.' || normalized === '') return '';
  for (const seg of normalized.split('/')) {
    const problem = segmentProblem(seg);
    if (problem) refuse(input, problem);
  }
  return normalized;
}

function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

function isErrno(err: unknown, ...codes: string[]): boolean {
  return err instanceof Error && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}

/**
 * Where `p` really is: its realpath when it exists, otherwise the realpath of its nearest existing
 * ancestor plus the rest. Dangling symlinks are followed by hand (writing through one would
 * create its target).
 */
async function physicalPath(p: string, hops = 0): Promise<string> {
  if (hops > MAX_LINK_HOPS) throw new Error(`too many levels of symbolic links at ${p}`);
  let cur = p;
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(await realpath(cur), ...rest);
    } catch (err) {
      if (!isErrno(err, 'ENOENT', 'ENOTDIR')) throw err;
    }
    try {
      const st = await lstat(cur);
      if (st.isSymbolicLink()) {
        const target = path.resolve(path.dirname(cur), await readlink(cur));
        return path.join(await physicalPath(target, hops + 1), ...rest);
      }
    } catch (err) {
      if (!isErrno(err, 'ENOENT', 'ENOTDIR')) throw err;
    }
    const parent = path.dirname(cur);
    if (parent === cur) return path.join(cur, ...rest);
    rest.unshift(path.basename(cur));
    cur = parent;
  }
}

/** A resolver bound to one repository root (its realpath computed once). */
export class RepoPaths {
  readonly root: string;
  private realRoot: Promise<string> | undefined;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  private getRealRoot(): Promise<string> {
    this.realRoot ??= realpath(this.root);
    return this.realRoot;
  }

  /** Resolves a repository-relative path, refusing anything that leaves the repository. */
  async resolve(input: unknown): Promise<ResolvedPath> {
    const rel = normalizeRepoPath(input);
    const abs = rel === '' ? this.root : path.join(this.root, ...rel.split('/'));
    if (!isInside(this.root, abs)) refuse(String(input), 'it leads outside the repository');
    const realRoot = await this.getRealRoot();
    let physical: string;
    try {
      physical = await physicalPath(abs);
    } catch (err) {
      refuse(String(input), `it could not be resolved (${err instanceof Error ? err.message : String(err)})`);
    }
    if (!isInside(realRoot, physical)) {
      refuse(String(input), 'it goes through a symbolic link that points outside the repository');
    }
    // The physical path may land in .git through a symlink inside the repository.
    const physRel = path.relative(realRoot, physical).split(path.sep);
    if (physRel.some((seg) => seg.toLowerCase() === '.git')) {
      refuse(String(input), "it resolves into git's internal .git directory");
    }
    return { abs, rel: rel === '' ? '.' : rel };
  }

  /** The repository-relative form of an absolute path inside the root (for listings). */
  relative(abs: string): string {
    const r = path.relative(this.root, abs).split(path.sep).join('/');
    return r === '' ? '.' : r;
  }
}

/** One-shot form of RepoPaths#resolve. */
export function resolveRepoPath(root: string, input: unknown): Promise<ResolvedPath> {
  return new RepoPaths(root).resolve(input);
}
