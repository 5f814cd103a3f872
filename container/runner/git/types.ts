/**
 * The runner's Git port. Two engines implement it and pass the same tests: the `git` binary
 * (native.ts) and isomorphic-git inside the process (isomorphic.ts). See design.md, "Facts measured
 * on these machines", for why both exist and how each one must be driven.
 */

/** Credentials for one remote, resolved per URL (see auth.ts). */
export interface GitAuth {
  username: string;
  password: string;
}

export interface GitIdentity {
  name: string;
  email: string;
}

export interface RemoteInfo {
  defaultBranch: string;
  /** Branch name (without refs/heads/) -> commit oid. */
  branches: Record<string, string>;
}

export type PushResult = { ok: true } | { ok: false; rejected: true; reason: string };

export type RebaseResult = { ok: true; oid: string } | { ok: false; reason: string };

export interface DiffStat {
  files: number;
  insertions: number;
  deletions: number;
  /** Human-readable summary in the shape of `git diff --stat`. */
  text: string;
}

export interface CloneOptions {
  url: string;
  dir: string;
  branch: string;
  /** Default 1. 0 or less: full history (never with isomorphic-git on a large repository). */
  depth?: number;
}

export interface CommitOptions {
  message: string;
  author: GitIdentity;
  /** The files touched (relative to the repository root); every change when absent. */
  paths?: string[];
}

export interface GitEngine {
  readonly name: 'native' | 'isomorphic';
  lsRemote(url: string): Promise<RemoteInfo>;
  /** Single-branch clone of `branch`; the stored `origin` URL carries no credentials. */
  clone(opts: CloneOptions): Promise<void>;
  /**
   * Takes over a repository put in `dir` by other means (restored from the code cache) as a clone
   * of `url`: sets its `origin` to the URL without credentials and guards it as clone() does, so
   * fetch and push refuse an origin changed afterwards.
   */
  adopt(dir: string, url: string): Promise<void>;
  /** Fetches origin/<branch> (single branch, no depth); its oid, or undefined when the remote has no such branch. */
  fetchBranch(dir: string, branch: string): Promise<string | undefined>;
  /** Creates (or resets) a local branch at `startOid` (default HEAD) and switches to it. */
  checkoutNewBranch(dir: string, branch: string, startOid?: string): Promise<void>;
  /** A local branch at origin/<branch> that tracks it (fetched first when not yet known locally). */
  checkoutRemoteBranch(dir: string, branch: string): Promise<void>;
  headOid(dir: string): Promise<string>;
  /** Paths added, modified or deleted against HEAD, untracked included, ignored files left out; sorted. */
  changedFiles(dir: string): Promise<string[]>;
  /** Commits the given paths (all changes when absent); the new commit's oid. AvatarError NO_CHANGES when nothing changed. */
  commit(dir: string, opts: CommitOptions): Promise<string>;
  /** Pushes local <branch> to origin/<branch>; a rejection (non-fast-forward and the like) is a result, not an error. */
  push(dir: string, branch: string): Promise<PushResult>;
  /** Replays the local commits since the merge base onto `newBaseOid`; on conflict nothing changes. */
  rebaseOnto(dir: string, branch: string, newBaseOid: string): Promise<RebaseResult>;
  diffStat(dir: string, fromOid: string, toOid: string): Promise<DiffStat>;
  /** Unified diff (git format) of the work tree against `fromOid` (default HEAD), untracked files included. */
  diffPatch(dir: string, fromOid?: string): Promise<string>;
}

export interface GitEngineOptions {
  /** Credentials for a remote URL; undefined for none. */
  auth?: (url: string) => GitAuth | undefined;
  /** Progress lines (already redacted). */
  onProgress?: (line: string) => void;
  /** Per git operation; default 10 minutes. */
  timeoutMs?: number;
  /** Base environment for native git (scrubbed of secrets before use); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The git binary for the native engine; default `git` on PATH. */
  gitBinary?: string;
}

export const DEFAULT_GIT_TIMEOUT_MS = 10 * 60 * 1000;
