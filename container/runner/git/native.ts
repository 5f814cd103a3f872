/**
 * The Git port on the `git` binary (on real repositories 3–50× faster than isomorphic-git with a
 * few MB of memory, see design.md). Each operation runs one or a few `git` child processes (see
 * process.ts for how they are run and how credentials reach a network call without touching the
 * disk). Fetch and push name the remote URL explicitly (origin.ts), never the `origin` remote.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AvatarError } from '../../../core/errors.ts';
import { credentialsFromUrl, stripCredentials } from './auth.ts';
import { gitError, redactorFor } from './errors.ts';
import { assertConfigAllowed } from './config-guard.ts';
import { assertNoNestedRepository } from './nested.ts';
import { byPath, normalizeRepoPath } from './paths.ts';
import { createOriginGuard } from './origin.ts';
import { createGitRunner } from './process.ts';
import { assertBranchName } from './refs.ts';
import type { GitRunOptions } from './process.ts';
import type { GitAuth, GitEngine, GitEngineOptions, PushResult, RemoteInfo } from './types.ts';
import { DEFAULT_GIT_TIMEOUT_MS } from './types.ts';

const NUL = '\u0000';

export function createNativeGit(opts: GitEngineOptions = {}): GitEngine {
  const runner = createGitRunner({
    binary: opts.gitBinary,
    baseEnv: opts.env,
    timeoutMs: opts.timeoutMs ?? DEFAULT_GIT_TIMEOUT_MS,
    redactor: redactorFor,
  });
  /** Credentials seen embedded in a URL, kept in memory for later calls on the same (stripped) URL. */
  const embedded = new Map<string, GitAuth>();

  const resolveAuth = (url: string): GitAuth | undefined => {
    const clean = stripCredentials(url);
    const inUrl = credentialsFromUrl(url);
    if (inUrl) embedded.set(clean, inUrl);
    return opts.auth?.(url) ?? embedded.get(clean);
  };

  /** Every call in a repository first checks that its config holds only what the runner allows (config-guard.ts). */
  const git = async (args: string[], runOpts: GitRunOptions) => {
    if (runOpts.cwd !== undefined) {
      const listed = await runner.run(['config', '--local', '--list', '-z'], {
        cwd: runOpts.cwd,
        okCodes: [0, 1],
        what: 'reading the repository configuration',
      });
      assertConfigAllowed(runOpts.cwd, listed.stdout);
    }
    return runner.run(args, runOpts);
  };

  const origins = createOriginGuard();

  const originUrl = async (dir: string): Promise<string> => {
    const r = await git(['config', '--get', 'remote.origin.url'], {
      cwd: dir,
      okCodes: [0, 1],
      what: 'reading the origin URL',
    });
    return origins.verify(dir, r.stdout.trim());
  };

  /** Options for a call that talks to `origin`. */
  const remoteCall = async (dir: string, what: string): Promise<GitRunOptions & { remoteUrl: string }> => {
    const url = await originUrl(dir);
    return {
      cwd: dir,
      auth: resolveAuth(url),
      remoteUrl: url,
      what: `${what} (${url})`,
      onProgress: opts.onProgress,
    };
  };

  const revParse = async (dir: string, rev: string): Promise<string | undefined> => {
    const r = await git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], {
      cwd: dir,
      okCodes: [0, 1],
      what: `resolving ${rev}`,
    });
    return r.code === 0 ? r.stdout.trim() : undefined;
  };

  const progressFlag = () => (opts.onProgress ? ['--progress'] : ['--quiet']);

  /** Fetches origin/<branch> (single branch; no depth unless given); its oid, undefined when the remote lacks it. */
  const fetchInto = async (dir: string, branch: string, depth?: number): Promise<string | undefined> => {
    assertBranchName(branch);
    const call = await remoteCall(dir, `fetching ${branch}`);
    const args = ['fetch', ...progressFlag(), '--no-tags', ...(depth ? ['--depth', String(depth)] : [])];
    try {
      await git([...args, '--', call.remoteUrl, `+refs/heads/${branch}:refs/remotes/origin/${branch}`], call);
    } catch (err) {
      if (
        err instanceof AvatarError &&
        err.code === 'GIT_NOT_FOUND' &&
        /couldn't find remote ref/i.test(err.message)
      ) {
        return undefined;
      }
      throw err;
    }
    return revParse(dir, `refs/remotes/origin/${branch}`);
  };

  const engine: GitEngine = {
    name: 'native',

    async lsRemote(url) {
      const clean = stripCredentials(url);
      // `--`: a URL from the backend that starts with "-" is not an option (--upload-pack=…).
      const r = await git(['ls-remote', '--symref', '--', clean], {
        auth: resolveAuth(url),
        remoteUrl: clean,
        what: `listing the branches of ${clean}`,
      });
      const info: RemoteInfo = { defaultBranch: '', branches: {} };
      let headOid: string | undefined;
      for (const line of r.stdout.split('\n')) {
        const sym = /^ref: refs\/heads\/(\S+)\tHEAD$/.exec(line);
        if (sym?.[1]) {
          info.defaultBranch = sym[1];
          continue;
        }
        const m = /^([0-9a-f]{40,64})\t(\S+)$/.exec(line);
        if (!m?.[1] || !m[2]) continue;
        if (m[2] === 'HEAD') headOid = m[1];
        else if (m[2].startsWith('refs/heads/')) info.branches[m[2].slice('refs/heads/'.length)] = m[1];
      }
      if (!info.defaultBranch) {
        info.defaultBranch = Object.entries(info.branches).find(([, oid]) => oid === headOid)?.[0] ?? 'main';
      }
      return info;
    },

    async clone({ url, dir, branch, depth = 1 }) {
      const clean = stripCredentials(url);
      const args = ['clone', ...progressFlag(), '--single-branch', '--no-tags', '--branch', branch];
      if (depth > 0) args.push('--depth', String(depth));
      args.push('--', clean, dir);
      await git(args, {
        auth: resolveAuth(url),
        remoteUrl: clean,
        what: `cloning ${clean} (branch ${branch})`,
        onProgress: opts.onProgress,
      });
      origins.remember(dir, clean);
    },

    async adopt(dir, url) {
      const clean = stripCredentials(url);
      await git(['config', 'remote.origin.url', clean], { cwd: dir, what: 'setting the origin URL' });
      await git(['config', 'remote.origin.fetch', '+refs/heads/*:refs/remotes/origin/*'], {
        cwd: dir,
        what: 'setting the origin refspec',
      });
      origins.remember(dir, clean);
    },

    fetchBranch: (dir, branch) => fetchInto(dir, branch),

    async checkoutNewBranch(dir, branch, startOid) {
      await git(['switch', '--quiet', '--no-guess', '-C', branch, ...(startOid ? [startOid] : [])], {
        cwd: dir,
        what: `creating branch ${branch}`,
      });
    },

    async checkoutRemoteBranch(dir, branch) {
      // A branch new to this clone is fetched as shallow as the clone itself.
      const known = await revParse(dir, `refs/remotes/origin/${branch}`);
      if (!known && !(await fetchInto(dir, branch, 1))) {
        throw new AvatarError('GIT_NOT_FOUND', `branch ${branch} does not exist on the remote`);
      }
      // A single-branch clone's fetch refspec does not cover other branches, so git will not set
      // up tracking by itself: it is written here.
      await git(['switch', '--quiet', '--no-track', '-C', branch, `refs/remotes/origin/${branch}`], {
        cwd: dir,
        what: `checking out ${branch}`,
      });
      await git(['config', `branch.${branch}.remote`, 'origin'], { cwd: dir, what: 'setting the upstream' });
      await git(['config', `branch.${branch}.merge`, `refs/heads/${branch}`], {
        cwd: dir,
        what: 'setting the upstream',
      });
    },

    async headOid(dir) {
      const oid = await revParse(dir, 'HEAD');
      if (!oid) throw new AvatarError('GIT_FAILED', `the repository in ${dir} has no commit checked out`);
      return oid;
    },

    async changedFiles(dir) {
      const r = await git(['status', '--porcelain=v1', '-z', '--untracked-files=all', '--no-renames'], {
        cwd: dir,
        what: 'listing changed files',
      });
      const tokens = r.stdout.split(NUL);
      const files = new Set<string>();
      for (let i = 0; i < tokens.length; i++) {
        const t = tokens[i]!;
        if (t.length < 4) continue;
        const xy = t.slice(0, 2);
        files.add(t.slice(3));
        // Renames and copies carry the original path in the next token.
        if (xy[0] === 'R' || xy[0] === 'C') {
          const orig = tokens[++i];
          if (orig) files.add(orig);
        }
      }
      return [...files].sort(byPath);
    },

    async commit(dir, { message, author, paths }) {
      await assertNoNestedRepository(dir);
      const literal = { GIT_LITERAL_PATHSPECS: '1' };
      if (paths) {
        const wanted = [...new Set(paths.map(normalizeRepoPath))];
        if (wanted.length > 0) {
          // Only paths git knows (tracked, or untracked and not ignored): `git add` refuses the others.
          // Many paths are listed through the whole tree rather than on the command line.
          const known = await git(
            [
              'ls-files',
              '-z',
              '--cached',
              '--others',
              '--exclude-standard',
              ...(wanted.length > 200 ? [] : ['--', ...wanted]),
            ],
            { cwd: dir, env: literal, what: 'listing paths to commit' },
          );
          const existing = new Set<string>();
          for (const file of known.stdout.split(NUL)) {
            // The file and every folder holding it.
            for (let p = file; p; p = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '') existing.add(p);
          }
          const addable = wanted.filter((p) => existing.has(p));
          if (addable.length > 0) {
            await git(['add', '-A', '--pathspec-from-file=-', '--pathspec-file-nul'], {
              cwd: dir,
              input: addable.join(NUL) + NUL,
              env: literal,
              what: 'staging changes',
            });
          }
        }
      } else {
        await git(['add', '-A'], { cwd: dir, what: 'staging changes' });
      }
      const staged = await git(['diff', '--cached', '--quiet'], {
        cwd: dir,
        okCodes: [0, 1],
        what: 'checking staged changes',
      });
      if (staged.code === 0)
        throw new AvatarError('NO_CHANGES', 'nothing to commit: the files are the same as in HEAD');
      await git(
        ['-c', 'commit.gpgsign=false', 'commit', '--quiet', '--no-verify', '--cleanup=whitespace', '-F', '-'],
        {
          cwd: dir,
          input: message,
          env: identityEnv(author),
          what: 'committing',
        },
      );
      return engine.headOid(dir);
    },

    async push(dir, branch): Promise<PushResult> {
      assertBranchName(branch);
      const call = await remoteCall(dir, `pushing ${branch}`);
      // Exactly the one branch, to the URL the engine cloned from (never a remote's name, whose
      // push URL and refspecs .git/config would decide): no force, no tags, no submodules.
      const r = await git(
        [
          'push',
          '--porcelain',
          '--no-verify',
          '--no-follow-tags',
          '--recurse-submodules=no',
          ...progressFlag(),
          '--',
          call.remoteUrl,
          `refs/heads/${branch}:refs/heads/${branch}`,
        ],
        { ...call, okCodes: [0, 1] },
      );
      if (r.code === 0) return { ok: true };
      const line = r.stdout.split('\n').find((l) => l.startsWith('!\t'));
      if (line) {
        const reason = line.split('\t')[2] ?? 'rejected';
        return {
          ok: false,
          rejected: true,
          reason: reason.replace(/^\[(remote )?rejected\]\s*/, '').replace(/^\((.*)\)$/, '$1'),
        };
      }
      throw gitError(call.what, r.stderr, redactorFor(call.auth));
    },

    async rebaseOnto(dir, branch, newBaseOid) {
      // The replayed commits get a committer; use the one of the current tip (our own commit).
      const who = await git(['log', '-1', '--format=%cn%x00%ce'], {
        cwd: dir,
        what: 'reading the committer',
      });
      const [name = 'numa-avatar', email = 'numa-avatar@localhost'] = who.stdout.trim().split(NUL);
      const r = await git(['rebase', '--no-autostash', '--no-verify', '--quiet', newBaseOid, branch], {
        cwd: dir,
        env: identityEnv({ name, email }),
        okCodes: [0, 1],
        what: `rebasing ${branch}`,
      });
      if (r.code === 0) return { ok: true, oid: await engine.headOid(dir) };
      const conflicts = await git(['diff', '--name-only', '--diff-filter=U', '-z'], {
        cwd: dir,
        okCodes: [0, 1, 128],
        what: 'listing conflicts',
      });
      await git(['rebase', '--abort'], { cwd: dir, okCodes: [0, 1, 128], what: 'aborting the rebase' });
      const files = conflicts.stdout.split(NUL).filter(Boolean);
      return {
        ok: false,
        reason: files.length
          ? `conflict in ${files.join(', ')}: changed both locally and on the remote`
          : redactorFor(undefined).redact(r.stderr.trim().split('\n').slice(-3).join(' ') || 'rebase failed'),
      };
    },

    async diffStat(dir, fromOid, toOid) {
      const range = [fromOid, toOid, '--'];
      const common = ['diff', '--no-renames', '--no-ext-diff', '--no-textconv'];
      const num = await git([...common, '--numstat', '-z', ...range], {
        cwd: dir,
        what: 'computing the diff stat',
      });
      const stat = await git([...common, '--stat=80', ...range], {
        cwd: dir,
        what: 'computing the diff stat',
      });
      let files = 0;
      let insertions = 0;
      let deletions = 0;
      for (const entry of num.stdout.split(NUL)) {
        const m = /^(-|\d+)\t(-|\d+)\t/.exec(entry);
        if (!m) continue;
        files++;
        if (m[1] !== '-') insertions += Number(m[1]);
        if (m[2] !== '-') deletions += Number(m[2]);
      }
      return { files, insertions, deletions, text: stat.stdout };
    },

    async diffPatch(dir, fromOid = 'HEAD') {
      // Stage everything into a throwaway index, so untracked files are included and the real index is untouched.
      const tmp = await mkdtemp(path.join(os.tmpdir(), 'numa-git-index-'));
      const index = path.join(tmp, 'index');
      try {
        const gitDir = (
          await git(['rev-parse', '--absolute-git-dir'], { cwd: dir, what: 'locating .git' })
        ).stdout.trim();
        await copyFile(path.join(gitDir, 'index'), index).catch(() => undefined);
        const env = { GIT_INDEX_FILE: index };
        await git(['add', '-A'], { cwd: dir, env, what: 'collecting the work tree for a snapshot' });
        const r = await git(
          ['diff', '--cached', '--no-renames', '--no-ext-diff', '--no-textconv', fromOid, '--'],
          {
            cwd: dir,
            env,
            what: 'computing the snapshot patch',
          },
        );
        return r.stdout;
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    },
  };
  return engine;
}

function identityEnv(who: { name: string; email: string }): Record<string, string> {
  return {
    GIT_AUTHOR_NAME: who.name,
    GIT_AUTHOR_EMAIL: who.email,
    GIT_COMMITTER_NAME: who.name,
    GIT_COMMITTER_EMAIL: who.email,
  };
}
