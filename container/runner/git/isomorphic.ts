/**
 * The Git port on isomorphic-git, inside the Node process (no binary needed). Driven as the
 * measurements in design.md require: clone depth 1 + single branch, fetch single branch without
 * depth, commits built from the touched paths only (trees written along those paths, no
 * whole-tree walk), at most one statusMatrix per call. Credentials reach it through `onAuth`
 * only; a refused credential cancels (`onAuthFailure`) instead of retrying.
 */
import fs from 'node:fs';
import { lstat, readFile, readlink, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import git from 'isomorphic-git';
import type { AuthCallback, AuthFailureCallback, CommitObject, GitProgressEvent } from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { AvatarError } from '../../../core/errors.ts';
import type { ErrorCode } from '../../../core/errors.ts';
import type { Redactor } from '../../../core/redact.ts';
import { credentialsFromUrl, stripCredentials } from './auth.ts';
import { createOriginGuard } from './origin.ts';
import { assertBranchName } from './refs.ts';
import { gitError, redactorFor } from './errors.ts';
import type { BlobEntry, TreeCtx } from './iso-tree.ts';
import { applyTreeChanges, commitTreeOid, diffTrees, listTreeFiles, lookupEntry } from './iso-tree.ts';
import { byPath, normalizeRepoPath, pathsOverlap } from './paths.ts';
import type { DiffSide, FileChange } from './unidiff.ts';
import { fileStat, formatFilePatch, formatStat } from './unidiff.ts';
import type { GitAuth, GitEngine, GitEngineOptions, PushResult, RebaseResult, RemoteInfo } from './types.ts';
import { DEFAULT_GIT_TIMEOUT_MS } from './types.ts';

interface IsoError {
  code?: string;
  message?: string;
  data?: { statusCode?: number; reason?: string; prettyDetails?: string };
}

/** A work-tree file as git would store it. */
interface WorkFile extends BlobEntry {
  content: Uint8Array;
}

export function createIsomorphicGit(opts: GitEngineOptions = {}): GitEngine {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_GIT_TIMEOUT_MS;
  const embedded = new Map<string, GitAuth>();
  // One object cache per repository folder (parsed pack indexes are reused between calls).
  const caches = new Map<string, object>();
  const cacheFor = (dir: string) => {
    let c = caches.get(dir);
    if (!c) caches.set(dir, (c = {}));
    return c;
  };
  const ctx = (dir: string): TreeCtx => ({ dir, cache: cacheFor(dir) });

  const resolveAuth = (url: string): GitAuth | undefined => {
    const clean = stripCredentials(url);
    const inUrl = credentialsFromUrl(url);
    if (inUrl) embedded.set(clean, inUrl);
    return opts.auth?.(url) ?? embedded.get(clean);
  };

  /** Callbacks and redactor for a call to `url` (credentials only through onAuth). */
  const remote = (url: string) => {
    const auth = resolveAuth(url);
    const onAuth: AuthCallback = () =>
      auth ? { username: auth.username, password: auth.password } : undefined;
    const onAuthFailure: AuthFailureCallback = () => ({ cancel: true });
    const redactor = redactorFor(auth);
    return { auth, onAuth, onAuthFailure, redactor, ...progress(redactor) };
  };

  /** Progress callbacks reporting through opts.onProgress: a line per phase and 10 % step, remote messages redacted. */
  const progress = (redactor: Redactor) => {
    const onProgress = opts.onProgress;
    if (!onProgress) return {};
    const report = (line: string) => onProgress(redactor.redact(line));
    let lastPhase = '';
    let lastStep = -1;
    return {
      onProgress: (e: GitProgressEvent) => {
        const step = e.total ? Math.floor((e.loaded / e.total) * 10) : -1;
        if (e.phase === lastPhase && step === lastStep) return;
        lastPhase = e.phase;
        lastStep = step;
        report(e.total ? `${e.phase}: ${step * 10}% (${e.loaded}/${e.total})` : `${e.phase}: ${e.loaded}`);
      },
      onMessage: (m: string) => {
        for (const line of m.split(/[\r\n]+/)) if (line.trim()) report(`remote: ${line.trim()}`);
      },
    };
  };

  const run = async <T>(
    what: string,
    redactor: Redactor,
    op: () => Promise<T>,
    network = false,
  ): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            gitError(what, `timed out after ${Math.round(timeoutMs / 1000)} s`, redactor, {
              code: 'GIT_FAILED',
            }),
          ),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([op(), timeout]);
    } catch (err) {
      throw toAvatarError(what, err, redactor, network);
    } finally {
      clearTimeout(timer);
    }
  };

  const local = redactorFor(undefined);

  const origins = createOriginGuard();

  const originUrl = async (dir: string): Promise<string> =>
    origins.verify(dir, (await git.getConfig({ fs, dir, path: 'remote.origin.url' })) as string | undefined);

  const tryResolve = async (dir: string, ref: string): Promise<string | undefined> => {
    try {
      return await git.resolveRef({ fs, dir, ref });
    } catch {
      return undefined;
    }
  };

  const headOid = async (dir: string): Promise<string> => {
    const oid = await tryResolve(dir, 'HEAD');
    if (!oid) throw new AvatarError('GIT_FAILED', `the repository in ${dir} has no commit checked out`);
    return oid;
  };

  const fetchInto = async (dir: string, branch: string, depth?: number): Promise<string | undefined> => {
    assertBranchName(branch);
    const url = await originUrl(dir);
    const r = remote(url);
    const what = `fetching ${branch} (${url})`;
    try {
      await run(
        what,
        r.redactor,
        () =>
          git.fetch({
            fs,
            http,
            dir,
            cache: cacheFor(dir),
            remote: 'origin',
            url,
            corsProxy: '',
            // Only HEAD is offered as "have": with singleBranch isomorphic-git uses `ref` for that.
            ref: 'HEAD',
            remoteRef: branch,
            singleBranch: true,
            tags: false,
            ...(depth ? { depth } : {}),
            onAuth: r.onAuth,
            onAuthFailure: r.onAuthFailure,
            onProgress: r.onProgress,
            onMessage: r.onMessage,
          }),
        true,
      );
    } catch (err) {
      if (err instanceof AvatarError && err.code === 'GIT_NOT_FOUND' && /Could not find/i.test(err.message))
        return undefined;
      throw err;
    }
    return tryResolve(dir, `refs/remotes/origin/${branch}`);
  };

  /** The work-tree file at `p` as git would store it, or undefined when absent (or a folder). */
  const workFile = async (dir: string, p: string): Promise<WorkFile | undefined> => {
    const full = path.join(dir, p);
    const st = await lstat(full).catch(() => undefined);
    if (!st || st.isDirectory()) return undefined;
    let content: Uint8Array;
    let mode: string;
    if (st.isSymbolicLink()) {
      content = Buffer.from(await readlink(full), 'utf8');
      mode = '120000';
    } else {
      content = await readFile(full);
      mode = st.mode & 0o100 ? '100755' : '100644';
    }
    const { oid } = await git.hashBlob({ object: content });
    return { mode, oid, content };
  };

  /** Files under a work-tree folder (not .git), relative to the repository root. */
  const workFilesUnder = async (dir: string, rel: string): Promise<string[]> => {
    const out: string[] = [];
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = `${rel}/${e.name}`;
      if (e.name === '.git') continue;
      if (e.isDirectory()) out.push(...(await workFilesUnder(dir, p)));
      else out.push(p);
    }
    return out;
  };

  const readBlobAt = async (dir: string, entry: BlobEntry): Promise<DiffSide> => {
    if (entry.mode === '160000') return { ...entry, content: new Uint8Array() };
    const { blob } = await git.readBlob({ fs, dir, oid: entry.oid, cache: cacheFor(dir) });
    return { ...entry, content: blob };
  };

  /**
   * Paths whose content or mode differ between the work tree and `ref`, ignored files left out: one
   * walk, like statusMatrix (which does not see mode changes), hashing only files the index does not vouch for.
   */
  const changedAgainst = async (dir: string, ref = 'HEAD'): Promise<string[]> => {
    const found = (await git.walk({
      fs,
      dir,
      cache: cacheFor(dir),
      trees: [git.TREE({ ref }), git.WORKDIR(), git.STAGE()],
      map: async (filepath, [head, workdir, stage]) => {
        if (filepath === '.') return undefined;
        if (!head && !stage && workdir && (await git.isIgnored({ fs, dir, filepath }))) return null;
        const [headType, workType, stageType] = await Promise.all([
          head?.type(),
          workdir?.type(),
          stage?.type(),
        ]);
        // Submodules are left alone.
        if (headType === 'commit' || stageType === 'commit') return null;
        const headBlob = headType === 'blob';
        const workBlob = workType === 'blob';
        if (!headBlob && !workBlob) return undefined;
        if (headBlob !== workBlob) return filepath;
        if ((await head!.mode()) !== (await workdir!.mode())) return filepath;
        return (await head!.oid()) !== (await workdir!.oid()) ? filepath : undefined;
      },
    })) as string[];
    return found.sort(byPath);
  };

  const engine: GitEngine = {
    name: 'isomorphic',

    async lsRemote(url) {
      const clean = stripCredentials(url);
      const r = remote(url);
      const refs = await run(
        `listing the branches of ${clean}`,
        r.redactor,
        () =>
          git.listServerRefs({
            http,
            url: clean,
            onAuth: r.onAuth,
            onAuthFailure: r.onAuthFailure,
            protocolVersion: 1,
            symrefs: true,
          }),
        true,
      );
      const info: RemoteInfo = { defaultBranch: '', branches: {} };
      let headOidRemote: string | undefined;
      for (const ref of refs) {
        if (ref.ref === 'HEAD') {
          headOidRemote = ref.oid;
          if (ref.target?.startsWith('refs/heads/'))
            info.defaultBranch = ref.target.slice('refs/heads/'.length);
        } else if (ref.ref.startsWith('refs/heads/')) {
          info.branches[ref.ref.slice('refs/heads/'.length)] = ref.oid;
        }
      }
      if (!info.defaultBranch) {
        info.defaultBranch =
          Object.entries(info.branches).find(([, oid]) => oid === headOidRemote)?.[0] ?? 'main';
      }
      return info;
    },

    async clone({ url, dir, branch, depth = 1 }) {
      const clean = stripCredentials(url);
      const r = remote(url);
      const existed = await stat(dir).then(
        () => true,
        () => false,
      );
      try {
        await run(
          `cloning ${clean} (branch ${branch})`,
          r.redactor,
          () =>
            git.clone({
              fs,
              http,
              dir,
              url: clean,
              ref: branch,
              singleBranch: true,
              noTags: true,
              ...(depth > 0 ? { depth } : {}),
              cache: cacheFor(dir),
              onAuth: r.onAuth,
              onAuthFailure: r.onAuthFailure,
              onProgress: r.onProgress,
              onMessage: r.onMessage,
            }),
          true,
        );
      } catch (err) {
        caches.delete(dir);
        if (!existed) await rm(dir, { recursive: true, force: true });
        throw err;
      }
      origins.remember(dir, clean);
      // isomorphic-git's push leaves out the objects reachable from origin/HEAD when the remote
      // has them; without it, pushing a new branch sends the whole tree (1 s instead of 50 ms for
      // a 23 MB checkout). A single-branch clone does not write origin/HEAD: point it at the
      // cloned branch.
      await git.writeRef({
        fs,
        dir,
        ref: 'refs/remotes/origin/HEAD',
        value: `refs/remotes/origin/${branch}`,
        symbolic: true,
        force: true,
      });
    },

    async adopt(dir, url) {
      const clean = stripCredentials(url);
      await run('setting the origin URL', local, async () => {
        await git.setConfig({ fs, dir, path: 'remote.origin.url', value: clean });
        await git.setConfig({
          fs,
          dir,
          path: 'remote.origin.fetch',
          value: '+refs/heads/*:refs/remotes/origin/*',
        });
      });
      origins.remember(dir, clean);
    },

    fetchBranch: (dir, branch) => fetchInto(dir, branch),

    async checkoutNewBranch(dir, branch, startOid) {
      await run(`creating branch ${branch}`, local, async () => {
        const head = await headOid(dir);
        const start = startOid ? await git.resolveRef({ fs, dir, ref: startOid }) : head;
        await git.branch({ fs, dir, ref: branch, object: start, force: true });
        if (start !== head) await git.checkout({ fs, dir, ref: branch, cache: cacheFor(dir) });
        else
          await git.writeRef({
            fs,
            dir,
            ref: 'HEAD',
            value: `refs/heads/${branch}`,
            symbolic: true,
            force: true,
          });
      });
    },

    async checkoutRemoteBranch(dir, branch) {
      // A branch new to this clone is fetched as shallow as the clone itself.
      const oid =
        (await tryResolve(dir, `refs/remotes/origin/${branch}`)) ?? (await fetchInto(dir, branch, 1));
      if (!oid) throw new AvatarError('GIT_NOT_FOUND', `branch ${branch} does not exist on the remote`);
      await run(`checking out ${branch}`, local, async () => {
        await git.branch({ fs, dir, ref: branch, object: oid, force: true });
        await git.setConfig({ fs, dir, path: `branch.${branch}.remote`, value: 'origin' });
        await git.setConfig({ fs, dir, path: `branch.${branch}.merge`, value: `refs/heads/${branch}` });
        await git.checkout({ fs, dir, ref: branch, cache: cacheFor(dir) });
      });
    },

    headOid,

    changedFiles: (dir) => run('listing changed files', local, () => changedAgainst(dir)),

    async commit(dir, { message, author, paths }) {
      return run('committing', local, async () => {
        const c = ctx(dir);
        const head = await tryResolve(dir, 'HEAD');
        const headTree = head ? await commitTreeOid(c, head) : undefined;

        // Candidate files: the given paths (folders expanded on both sides), or every change.
        const candidates = new Set<string>();
        if (paths) {
          for (const raw of paths) {
            const p = normalizeRepoPath(raw);
            const st = await lstat(path.join(dir, p)).catch(() => undefined);
            if (st?.isDirectory()) for (const f of await workFilesUnder(dir, p)) candidates.add(f);
            const inHead = headTree ? await lookupEntry(c, headTree, p) : undefined;
            if (inHead?.type === 'tree')
              for (const f of await listTreeFiles(c, inHead.oid, p)) candidates.add(f.path);
            else if (!st?.isDirectory()) candidates.add(p);
          }
        } else {
          for (const p of await changedAgainst(dir)) candidates.add(p);
        }

        const changes = new Map<string, BlobEntry | null>();
        const toAdd: string[] = [];
        const toRemove: string[] = [];
        for (const p of [...candidates].sort(byPath)) {
          const before = headTree ? await lookupEntry(c, headTree, p) : undefined;
          const tracked = before !== undefined && before.type !== 'tree';
          const now = await workFile(dir, p);
          if (!now) {
            if (tracked) {
              changes.set(p, null);
              toRemove.push(p);
            }
            continue;
          }
          if (!tracked && (await git.isIgnored({ fs, dir, filepath: p }))) continue;
          if (tracked && before.oid === now.oid && before.mode === now.mode) continue;
          changes.set(p, { mode: now.mode, oid: now.oid });
          toAdd.push(p);
        }
        if (changes.size === 0)
          throw new AvatarError('NO_CHANGES', 'nothing to commit: the files are the same as in HEAD');

        // The index follows (blobs are written by `add`), then the tree is built along the changed paths only.
        if (toAdd.length) await git.add({ fs, dir, filepath: toAdd, cache: c.cache });
        for (const p of toRemove) await git.remove({ fs, dir, filepath: p, cache: c.cache });
        const tree =
          (await applyTreeChanges(c, headTree, changes)) ?? (await git.writeTree({ fs, dir, tree: [] }));
        const who = { name: author.name, email: author.email };
        return git.commit({
          fs,
          dir,
          message,
          author: who,
          committer: who,
          tree,
          parent: head ? [head] : [],
          cache: c.cache,
        });
      });
    },

    async push(dir, branch): Promise<PushResult> {
      assertBranchName(branch);
      const url = await originUrl(dir);
      const r = remote(url);
      try {
        await run(
          `pushing ${branch} (${url})`,
          r.redactor,
          () =>
            git
              .push({
                fs,
                http,
                dir,
                cache: cacheFor(dir),
                remote: 'origin',
                url,
                corsProxy: '',
                // Full names: isomorphic-git expands a short one trying refs/tags/ before
                // refs/heads/, so a tag the agent made with the branch's name would be pushed.
                ref: `refs/heads/${branch}`,
                remoteRef: `refs/heads/${branch}`,
                onAuth: r.onAuth,
                onAuthFailure: r.onAuthFailure,
                onProgress: r.onProgress,
                onMessage: r.onMessage,
              })
              .catch((err: unknown) => {
                const e = err as IsoError;
                if (e.code === 'PushRejectedError') throw new PushRejected(e.data?.reason ?? 'rejected');
                if (e.code === 'GitPushError')
                  throw new PushRejected((e.data?.prettyDetails ?? 'rejected').trim());
                throw err;
              }),
          true,
        );
        return { ok: true };
      } catch (err) {
        if (err instanceof PushRejected)
          return { ok: false, rejected: true, reason: r.redactor.redact(err.reason) };
        throw err;
      }
    },

    async rebaseOnto(dir, branch, newBaseOid): Promise<RebaseResult> {
      return run(`rebasing ${branch}`, local, async () => {
        const c = ctx(dir);
        const head = await headOid(dir);
        const newBase = await git.resolveRef({ fs, dir, ref: newBaseOid });
        const reachable = await ancestors(dir, newBase);

        // Local commits: first-parent chain from HEAD down to the first commit the new base contains.
        const localCommits: Array<{ oid: string; commit: CommitObject }> = [];
        let cursor = head;
        const shallow = await shallowCommits(dir);
        while (!reachable.has(cursor)) {
          const { commit } = await git.readCommit({ fs, dir, oid: cursor, cache: c.cache });
          if (commit.parent.length > 1)
            return { ok: false, reason: `local commit ${cursor.slice(0, 12)} is a merge` };
          localCommits.push({ oid: cursor, commit });
          const parent = commit.parent[0];
          if (!parent || shallow.has(cursor)) {
            return { ok: false, reason: `no common ancestor between ${branch} and ${newBase.slice(0, 12)}` };
          }
          cursor = parent;
        }
        const mergeBase = cursor;
        localCommits.reverse();

        const remoteChanges = await diffTrees(
          c,
          await commitTreeOid(c, mergeBase),
          await commitTreeOid(c, newBase),
        );
        const remotePaths = remoteChanges.map((ch) => ch.path);

        let tip = newBase;
        let tree = await commitTreeOid(c, newBase);
        for (const { commit } of localCommits) {
          const parentTree = await commitTreeOid(c, commit.parent[0]!);
          const ours = await diffTrees(c, parentTree, commit.tree);
          const clash = ours
            .filter((o) => remotePaths.some((p) => pathsOverlap(o.path, p)))
            .map((o) => o.path);
          if (clash.length) {
            return {
              ok: false,
              reason: `conflict in ${clash.join(', ')}: changed both locally and on the remote`,
            };
          }
          const changes = new Map(ours.map((o) => [o.path, o.new ?? null] as const));
          tree = (await applyTreeChanges(c, tree, changes)) ?? (await git.writeTree({ fs, dir, tree: [] }));
          const now = Math.floor(Date.now() / 1000);
          tip = await git.writeCommit({
            fs,
            dir,
            commit: {
              message: commit.message,
              tree,
              parent: [tip],
              author: commit.author,
              committer: {
                name: commit.committer.name,
                email: commit.committer.email,
                timestamp: now,
                timezoneOffset: new Date().getTimezoneOffset(),
              },
            },
          });
        }

        // Bring the work tree and index to the new tip: only the remote's changes differ from what is there.
        if (remotePaths.length) {
          try {
            await git.checkout({
              fs,
              dir,
              ref: tip,
              filepaths: remotePaths,
              noUpdateHead: true,
              cache: c.cache,
            });
          } catch (err) {
            const e = err as IsoError;
            if (e.code === 'CheckoutConflictError') {
              return {
                ok: false,
                reason: `local uncommitted changes conflict with the remote: ${e.message}`,
              };
            }
            throw err;
          }
        }
        await git.writeRef({ fs, dir, ref: `refs/heads/${branch}`, value: tip, force: true });
        await git.writeRef({
          fs,
          dir,
          ref: 'HEAD',
          value: `refs/heads/${branch}`,
          symbolic: true,
          force: true,
        });
        return { ok: true, oid: tip };
      });
    },

    async diffStat(dir, fromOid, toOid) {
      return run('computing the diff stat', local, async () => {
        const c = ctx(dir);
        const from = await git.resolveRef({ fs, dir, ref: fromOid });
        const to = await git.resolveRef({ fs, dir, ref: toOid });
        const changes = await diffTrees(c, await commitTreeOid(c, from), await commitTreeOid(c, to));
        const stats = [];
        for (const ch of changes) stats.push(fileStat(await loadChange(dir, ch)));
        return {
          files: stats.length,
          insertions: stats.reduce((s, x) => s + x.insertions, 0),
          deletions: stats.reduce((s, x) => s + x.deletions, 0),
          text: formatStat(stats),
        };
      });
    },

    async diffPatch(dir, fromOid = 'HEAD') {
      return run('computing the snapshot patch', local, async () => {
        const c = ctx(dir);
        const from = await git.resolveRef({ fs, dir, ref: fromOid });
        const fromTree = await commitTreeOid(c, from);
        let patch = '';
        for (const p of await changedAgainst(dir, from)) {
          const before = await lookupEntry(c, fromTree, p);
          const old = before && before.type !== 'tree' ? await readBlobAt(dir, before) : undefined;
          const now = await workFile(dir, p);
          patch += formatFilePatch({ path: p, ...(old ? { old } : {}), ...(now ? { new: now } : {}) });
        }
        return patch;
      });
    },
  };

  const loadChange = async (
    dir: string,
    ch: { path: string; old?: BlobEntry; new?: BlobEntry },
  ): Promise<FileChange> => ({
    path: ch.path,
    ...(ch.old ? { old: await readBlobAt(dir, ch.old) } : {}),
    ...(ch.new ? { new: await readBlobAt(dir, ch.new) } : {}),
  });

  /** Commits reachable from `oid` within this clone (stops at shallow boundaries and missing objects). */
  const ancestors = async (dir: string, oid: string, limit = 50_000): Promise<Set<string>> => {
    const shallow = await shallowCommits(dir);
    const seen = new Set<string>([oid]);
    const queue = [oid];
    while (queue.length && seen.size < limit) {
      const current = queue.shift()!;
      if (shallow.has(current)) continue;
      let parents: string[];
      try {
        parents = (await git.readCommit({ fs, dir, oid: current, cache: cacheFor(dir) })).commit.parent;
      } catch {
        continue;
      }
      for (const p of parents) {
        if (!seen.has(p)) {
          seen.add(p);
          queue.push(p);
        }
      }
    }
    return seen;
  };

  return engine;
}

class PushRejected extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

async function shallowCommits(dir: string): Promise<Set<string>> {
  const text = await readFile(path.join(dir, '.git', 'shallow'), 'utf8').catch(() => '');
  return new Set(text.split('\n').filter((l) => /^[0-9a-f]{40}$/.test(l)));
}

function toAvatarError(what: string, err: unknown, redactor: Redactor, network: boolean): unknown {
  if (err instanceof AvatarError || err instanceof PushRejected) return err;
  const e = (err ?? {}) as IsoError;
  let code: ErrorCode = 'GIT_FAILED';
  const status = e.data?.statusCode;
  if (e.code === 'HttpError' && (status === 401 || status === 403)) code = 'GIT_AUTH';
  else if (e.code === 'UserCanceledError') code = 'GIT_AUTH';
  else if (e.code === 'HttpError' && status === 404) code = 'GIT_NOT_FOUND';
  else if (network && e.code === 'NotFoundError') code = 'GIT_NOT_FOUND';
  const detail = `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`;
  return gitError(what, detail, redactor, { code, cause: err });
}
