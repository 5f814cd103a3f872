/**
 * The repository's `.git` belongs to the runner. The sandboxed code may change the work tree, not
 * the git dir the runner's own git (as root, with the credentials at hand) later reads: a link
 * planted there makes git write through it, a config or a nested repository makes it run a
 * command, and objects written there would poison the code cache. So the adapters keep `.git`
 * read-only to the sandbox (namespaces: a read-only bind over it; user: it stays the runner's,
 * 0755, not handed to the agent's uid), and before every git operation after the sandbox opened
 * the runner checks that `.git` is still the very folder it cloned (same device and inode, a
 * real folder, the same owner): one renamed away and replaced fails the run.
 */
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { AvatarError } from '../../../core/errors.ts';
import type { GitEngine } from '../git/types.ts';

export interface GitDirIdentity {
  dev: number;
  ino: number;
  uid: number;
}

export async function recordGitDir(repoDir: string): Promise<GitDirIdentity> {
  const st = await lstat(path.join(repoDir, '.git'));
  if (!st.isDirectory()) throw new AvatarError('GIT_DIR_TAMPERED', `${repoDir}/.git is not a folder`);
  return { dev: st.dev, ino: st.ino, uid: st.uid };
}

export async function assertGitDirIntact(repoDir: string, id: GitDirIdentity): Promise<void> {
  const st = await lstat(path.join(repoDir, '.git')).catch(() => undefined);
  if (!st || !st.isDirectory() || st.dev !== id.dev || st.ino !== id.ino || st.uid !== id.uid) {
    throw new AvatarError(
      'GIT_DIR_TAMPERED',
      "the repository's .git is no longer the one the runner cloned (removed, replaced or re-owned by the task's code): " +
        'the runner runs no git on it',
    );
  }
}

/** `engine`, checking the git dir of `repoDir` before every call on that repository. */
export function guardGitDir(engine: GitEngine, repoDir: string, id: GitDirIdentity): GitEngine {
  const check = async (dir: string) => {
    if (path.resolve(dir) === path.resolve(repoDir)) await assertGitDirIntact(repoDir, id);
  };
  return {
    name: engine.name,
    lsRemote: (url) => engine.lsRemote(url),
    clone: (o) => engine.clone(o),
    adopt: async (dir, url) => (await check(dir), engine.adopt(dir, url)),
    fetchBranch: async (dir, b) => (await check(dir), engine.fetchBranch(dir, b)),
    checkoutNewBranch: async (dir, b, s) => (await check(dir), engine.checkoutNewBranch(dir, b, s)),
    checkoutRemoteBranch: async (dir, b) => (await check(dir), engine.checkoutRemoteBranch(dir, b)),
    headOid: async (dir) => (await check(dir), engine.headOid(dir)),
    changedFiles: async (dir) => (await check(dir), engine.changedFiles(dir)),
    commit: async (dir, o) => (await check(dir), engine.commit(dir, o)),
    push: async (dir, b) => (await check(dir), engine.push(dir, b)),
    rebaseOnto: async (dir, b, o) => (await check(dir), engine.rebaseOnto(dir, b, o)),
    diffStat: async (dir, f, t) => (await check(dir), engine.diffStat(dir, f, t)),
    diffPatch: async (dir, f) => (await check(dir), engine.diffPatch(dir, f)),
  };
}
