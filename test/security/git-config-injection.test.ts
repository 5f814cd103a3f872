/**
 * Both git engines against a git configuration rewritten by hand after the clone, as a command of
 * the agent could do it without `git config` (which the command policy refuses): url.*.insteadOf
 * pointing the push at another repository of the same server, http.proxy (also URL-specific, also
 * through include.path, also in ~/.gitconfig) pointing it through a server that records what it
 * receives. The push either stops before git runs (native: the repository's config holds settings
 * the runner does not allow; the global config is never read) or goes to the cloned repository
 * only (isomorphic-git reads none of these); the recording server never hears a thing.
 * prompt-injection.test.ts has the same rewrite inside a whole run.
 */
import { execFile } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAvatarError } from '../../core/errors.ts';
import { authForUrl, createNativeGit } from '../../container/runner/git/index.ts';
import { createIsomorphicGit } from '../../container/runner/git/isomorphic.ts';
import type { GitEngine } from '../../container/runner/git/index.ts';
import { isAllowedConfigKey } from '../../container/runner/git/config-guard.ts';
import { createBareRepo } from '../../servers/git-http/index.ts';
import { createWorld, GIT_TOKEN, SAMPLE_PROJECT, type World } from '../helpers/world.ts';
import { startSink, type Sink } from './helpers.ts';

const run = promisify(execFile);

describe('both git engines against a rewritten git configuration', () => {
  let world: World;
  let sink: Sink;
  let scratch: string;
  let evilBare: string;

  beforeAll(async () => {
    world = await createWorld();
    sink = await startSink();
    scratch = await mkdtemp(path.join(os.tmpdir(), 'numa-git-rewrite-'));
    evilBare = await createBareRepo(path.join(world.root, 'git'), 'evil2', { sourceDir: SAMPLE_PROJECT });
  });

  afterAll(async () => {
    await world?.close();
    await sink?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  const engines: Array<[string, (home: string) => GitEngine]> = [
    [
      'native',
      (home) =>
        createNativeGit({
          env: { ...process.env, HOME: home },
          auth: (u) => authForUrl(u, GIT_TOKEN, 'avatar'),
        }),
    ],
    ['isomorphic', () => createIsomorphicGit({ auth: (u) => authForUrl(u, GIT_TOKEN, 'avatar') })],
  ];
  const rewrites: Array<[string, (dir: string, home: string) => Promise<void>]> = [
    [
      'url.*.insteadOf to another repository',
      (dir) =>
        appendFile(
          path.join(dir, '.git/config'),
          `[url "${world.git.repoUrl('evil2')}"]\n\tinsteadOf = ${world.repoUrl}\n`,
        ),
    ],
    ['http.proxy', (dir) => appendFile(path.join(dir, '.git/config'), `[http]\n\tproxy = ${sink.url}\n`)],
    [
      'a URL-specific http.<url>.proxy',
      (dir) =>
        appendFile(path.join(dir, '.git/config'), `[http "${world.git.url}"]\n\tproxy = ${sink.url}\n`),
    ],
    [
      'include.path of a file in the work tree',
      async (dir) => {
        await writeFile(path.join(dir, 'inc.cfg'), `[http]\n\tproxy = ${sink.url}\n`);
        await appendFile(path.join(dir, '.git/config'), `[include]\n\tpath = ../inc.cfg\n`);
      },
    ],
    [
      'http.proxy in ~/.gitconfig',
      (_dir, home) => writeFile(path.join(home, '.gitconfig'), `[http]\n\tproxy = ${sink.url}\n`),
    ],
  ];

  let n = 0;
  for (const [engineName, make] of engines) {
    for (const [what, rewrite] of rewrites) {
      it(`${engineName}: ${what}`, async () => {
        n++;
        const home = path.join(scratch, `home-${n}`);
        await mkdir(home);
        const git = make(home);
        const dir = path.join(scratch, `repo-${n}`);
        const branch = `rewrite-${n}`;
        await git.clone({ url: world.repoUrl, dir, branch: 'main' });
        await git.checkoutNewBranch(dir, branch);
        await writeFile(path.join(dir, 'change.txt'), `${n}\n`);
        await git.commit(dir, {
          message: 'change',
          author: { name: 'a', email: 'a@x' },
          paths: ['change.txt'],
        });
        sink.seen.length = 0;
        await rewrite(dir, home);
        const pushed = await git.push(dir, branch).catch((err: unknown) => err);
        // Either refused before git ran, or pushed to the cloned repository only.
        if (isAvatarError(pushed, 'GIT_FAILED')) {
          expect(pushed.message).toMatch(/no credentials are sent/);
          expect(await world.remoteBranch(branch)).toBeUndefined();
        } else {
          expect(pushed).toEqual({ ok: true });
          expect(await world.remoteBranch(branch)).toBeDefined();
        }
        expect(sink.seen).toEqual([]);
        const refs = (await run('git', ['--git-dir', evilBare, 'for-each-ref', '--format=%(refname)']))
          .stdout;
        expect(refs.trim()).toBe('refs/heads/main');
      });
    }
  }
});

describe('the repository config keys the native engine allows', () => {
  it.each([
    'core.repositoryformatversion',
    'core.hookspath',
    'remote.origin.url',
    'remote.origin.fetch',
    'remote.origin.tagopt',
    'branch.dev-1-Feature.remote',
    'branch.release/1.2.merge',
    'submodule.lib.url',
    'user.email',
    'gc.auto',
  ])('allows %s (written by git, the engine, or inert tools such as husky)', (key) => {
    expect(isAllowedConfigKey(key)).toBe(true);
  });

  it.each([
    'url.http://evil/.insteadof',
    'url.http://evil/.pushinsteadof',
    'http.proxy',
    'http.http://127.0.0.1:1/.proxy',
    'http.sslverify',
    'http.sslcainfo',
    'http.extraheader',
    'remote.origin.proxy',
    'include.path',
    'includeif.gitdir:/tmp/.path',
    'credential.helper',
    'credential.http://host.helper',
    'core.sshcommand',
    'core.gitproxy',
    'core.askpass',
    'core.alternaterefscommand',
    'core.worktree',
    'filter.x.clean',
    'filter.x.smudge',
    'diff.external',
    'merge.x.driver',
    'gpg.program',
    'push.gpgsign',
    'extensions.worktreeconfig',
    'protocol.allow',
  ])('refuses %s', (key) => {
    expect(isAllowedConfigKey(key)).toBe(false);
  });

  it('a setup step that sets core.hooksPath (husky) does not stop the push', async () => {
    const world = await createWorld();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'numa-husky-'));
    try {
      const git = createNativeGit({ auth: (u) => authForUrl(u, GIT_TOKEN, 'avatar') });
      await git.clone({ url: world.repoUrl, dir, branch: 'main' });
      await git.checkoutNewBranch(dir, 'husky');
      await run('git', ['-C', dir, 'config', 'core.hooksPath', '.husky/_']);
      await writeFile(path.join(dir, 'x.txt'), 'x\n');
      await git.commit(dir, { message: 'x', author: { name: 'a', email: 'a@x' } });
      expect(await git.push(dir, 'husky')).toEqual({ ok: true });
      expect(await world.remoteBranch('husky')).toBeDefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
      await world.close();
    }
  });
});
