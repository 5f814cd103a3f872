/**
 * The git token goes only to the hosts in `git.allowed_hosts`, and the push only to the task's
 * branch. An application's `git_repo_url` comes from the Numa backend, so the runner must not hand
 * `git.token` to whatever host it names: the unit tests pin the host matching (case, trailing
 * dots, ports, userinfo tricks, IDN, http vs https, wildcards) and what the credentials provider
 * hands out; whole runs (runTask against the reference backend, the scripted model and real git
 * servers on 127.0.0.1) show that a repository on an unlisted port gets no Authorization header at
 * all (read from a recording front before that server), that the run fails naming the host and
 * the key, and that a run whose agent made other branches and tags pushes the task branch only.
 */
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validate } from '../../core/config/load.ts';
import { configSchema, DEFAULT_GIT_ALLOWED_HOSTS } from '../../core/config/schema.ts';
import { isAvatarError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { runTask } from '../../container/runner/entry.ts';
import {
  assertBranchName,
  checkGitHost,
  createGitCredentials,
  createNativeGit,
  isLoopbackHost,
  stripCredentials,
  withGitHostPolicy,
} from '../../container/runner/git/index.ts';
import { createIsomorphicGit } from '../../container/runner/git/isomorphic.ts';
import { branchNameProblem } from '../../container/runner/git/refs.ts';
import { createBareRepo, startGitServer, type GitServer } from '../../servers/git-http/index.ts';
import type { ScriptedTurn } from '../../servers/scripted-model/index.ts';
import { finishTurn, REWORD_README, runCommandTurn } from '../helpers/turns.ts';
import { createWorld, GIT_TOKEN, SAMPLE_PROJECT, SANDBOX_AVAILABLE, type World } from '../helpers/world.ts';
import { listenOnLoopback } from './helpers.ts';

const run = promisify(execFile);
const BASIC = `Basic ${Buffer.from(`avatar:${GIT_TOKEN}`).toString('base64')}`;

describe('git.allowed_hosts in the configuration', () => {
  const hostsOf = (allowed_hosts: unknown) =>
    configSchema.parse({ git: { allowed_hosts } }).git.allowed_hosts;

  it('defaults to the three public forges', () => {
    expect(configSchema.parse({}).git.allowed_hosts).toEqual(['github.com', 'gitlab.com', 'bitbucket.org']);
    expect(DEFAULT_GIT_ALLOWED_HOSTS).toEqual(['github.com', 'gitlab.com', 'bitbucket.org']);
    expect(hostsOf([])).toEqual([]);
  });

  it('normalizes entries as URLs normalize hosts', () => {
    expect(
      hostsOf([
        ' GitHub.COM. ',
        '*.Example.com:8443',
        'bücher.example',
        'ｇｉｔｅａ.example',
        '[::1]:8080',
        '127.0.0.1:3000',
      ]),
    ).toEqual([
      'github.com',
      '*.example.com:8443',
      'xn--bcher-kva.example',
      'gitea.example',
      '[::1]:8080',
      '127.0.0.1:3000',
    ]);
  });

  it.each([
    ['https://github.com', /without a scheme/],
    ['github.com/org', /without a scheme/],
    ['token@github.com', /without a scheme/],
    ['git hub.com', /without a scheme/],
    ['*.com', /two labels or more/],
    ['*.127.0.0.1', /two labels or more/],
    ['git*.example.com', /leading "\*\."/],
    ['*', /leading "\*\."|two labels/],
    ['github.com:0', /1-65535/],
    ['github.com:65536', /1-65535/],
    ['github.com:', /host:port/],
    ['::1', /brackets/],
    ['', /host name/],
  ])('refuses %j, naming the key', (entry, why) => {
    const r = configSchema.safeParse({ git: { allowed_hosts: [entry] } });
    expect(r.success).toBe(false);
    const issue = r.error!.issues[0]!;
    expect(issue.path).toEqual(['git', 'allowed_hosts', 0]);
    expect(issue.message).toMatch(why);
  });
});

describe('checkGitHost', () => {
  const allowed = [
    'github.com',
    '*.corp.example',
    'git.example.com:8443',
    '127.0.0.1:3000',
    'bücher.example',
  ];
  const ok = (url: string, list: readonly string[] = allowed) => checkGitHost(url, list);

  it('lets the listed hosts have the token over https', () => {
    expect(ok('https://github.com/o/r.git')).toEqual({ ok: true, host: 'github.com' });
    expect(ok('https://git.example.com:8443/r.git')).toEqual({ ok: true, host: 'git.example.com:8443' });
    expect(ok('https://gitlab.com/o/r.git')).toMatchObject({
      ok: false,
      why: 'not-listed',
      host: 'gitlab.com',
    });
    expect(ok('https://github.com/o/r.git', [])).toMatchObject({ ok: false, why: 'not-listed' });
  });

  it('compares host names without regard to case, and one trailing dot', () => {
    expect(ok('https://GitHub.COM/o/r.git').ok).toBe(true);
    expect(ok('HTTPS://GITHUB.COM/o/r.git').ok).toBe(true);
    expect(ok('https://github.com./o/r.git')).toEqual({ ok: true, host: 'github.com' });
    expect(ok('https://github.com/o/r.git', ['GITHUB.com.']).ok).toBe(true);
    expect(ok('https://github.com../o/r.git').ok).toBe(false);
  });

  it('matches ports exactly: an entry without one means the default port only', () => {
    expect(ok('https://github.com:443/o/r.git').ok).toBe(true);
    expect(ok('https://github.com:8443/o/r.git')).toMatchObject({ ok: false, host: 'github.com:8443' });
    expect(ok('https://git.example.com/r.git').ok).toBe(false);
    expect(ok('https://git.example.com:9443/r.git').ok).toBe(false);
    expect(ok('https://git.example.com/r.git', ['git.example.com:443']).ok).toBe(true);
    expect(ok('http://127.0.0.1:3001/r.git')).toMatchObject({ ok: false, host: '127.0.0.1:3001' });
    expect(ok('http://127.0.0.1/r.git')).toMatchObject({ ok: false, host: '127.0.0.1' });
  });

  it('reads the host after the userinfo, never a user name that looks like a host', () => {
    expect(ok('https://github.com@evil.example/o/r.git')).toMatchObject({ ok: false, host: 'evil.example' });
    expect(ok('https://github.com:443@evil.example/o/r.git')).toMatchObject({
      ok: false,
      host: 'evil.example',
    });
    expect(ok('https://x:y@github.com@evil.example/r.git')).toMatchObject({
      ok: false,
      host: 'evil.example',
    });
    expect(ok('https://github.com%2f@evil.example/r.git')).toMatchObject({ ok: false, host: 'evil.example' });
    expect(ok('https://evil.example\\@github.com/r.git')).toMatchObject({ ok: false, host: 'evil.example' });
    // `\` is a path separator for https URLs: the host is github.com, and that is also where git
    // connects, because the engines are given the normalized URL.
    expect(ok('https://github.com\\@evil.example/r.git').ok).toBe(true);
    expect(stripCredentials('https://github.com\\@evil.example/r.git')).toBe(
      'https://github.com/@evil.example/r.git',
    );
    expect(ok('https://github.com?@evil.example/').ok).toBe(true);
    expect(stripCredentials('https://github.com?@evil.example/')).toBe('https://github.com/?@evil.example/');
  });

  it('does not take look-alike or longer names for the listed one', () => {
    for (const url of [
      'https://github.com.evil.example/o/r.git',
      'https://evilgithub.com/o/r.git',
      'https://api.github.com/o/r.git',
      'https://corp.example/r.git',
      'https://xcorp.example/r.git',
      'https://corp.example.evil.example/r.git',
    ]) {
      expect(ok(url).ok, url).toBe(false);
    }
    expect(ok('https://git.corp.example/r.git').ok).toBe(true);
    expect(ok('https://a.b.corp.example/r.git').ok).toBe(true);
    expect(ok('https://git.corp.example:8443/r.git').ok).toBe(false);
  });

  it('compares IDNs as punycode: homographs are other hosts', () => {
    expect(ok('https://bücher.example/r.git')).toEqual({ ok: true, host: 'xn--bcher-kva.example' });
    expect(ok('https://BÜCHER.example/r.git').ok).toBe(true);
    expect(ok('https://xn--bcher-kva.example/r.git').ok).toBe(true);
    // Cyrillic і, Armenian ս: another host, shown as punycode.
    const cyrillic = ok('https://g\u0456thub.com/o/r.git');
    expect(cyrillic).toMatchObject({ ok: false, why: 'not-listed' });
    expect(cyrillic.host).toMatch(/^xn--/);
    expect(ok('https://gith\u057Db.com/o/r.git')).toMatchObject({ ok: false });
    // Full-width letters map to ASCII in IDNA: the same host, and the one git is given.
    expect(ok('https://\uFF47\uFF49\uFF54\uFF48\uFF55\uFF42.com/o/r.git').ok).toBe(true);
    expect(stripCredentials('https://\uFF47\uFF49\uFF54\uFF48\uFF55\uFF42.com/o/r.git')).toBe(
      'https://github.com/o/r.git',
    );
    expect(ok('https://git%68ub.com/o/r.git').ok).toBe(true);
  });

  it('never lets the token go over plain http, except to loopback', () => {
    expect(ok('http://github.com/o/r.git')).toMatchObject({
      ok: false,
      why: 'plain-http',
      host: 'github.com',
    });
    expect(ok('http://git.example.com:8443/r.git')).toMatchObject({ ok: false, why: 'plain-http' });
    expect(ok('http://127.0.0.1:3000/r.git').ok).toBe(true);
    expect(ok('http://0x7f.1:3000/r.git')).toEqual({ ok: true, host: '127.0.0.1:3000' });
    expect(ok('http://localhost:3000/r.git', ['localhost:3000']).ok).toBe(true);
    expect(ok('http://[::1]:3000/r.git', ['[::1]:3000']).ok).toBe(true);
    expect(ok('http://10.0.0.5:3000/r.git', ['10.0.0.5:3000'])).toMatchObject({ why: 'plain-http' });
    expect(ok('http://localhost.evil.example:3000/r.git', ['localhost.evil.example:3000'])).toMatchObject({
      why: 'plain-http',
    });
    // An unlisted host over http is reported as unlisted first.
    expect(ok('http://evil.example/r.git')).toMatchObject({ why: 'not-listed' });
  });

  it('gives no token to other schemes or to what is not a URL', () => {
    expect(ok('ssh://git@github.com/o/r.git')).toMatchObject({ ok: false, why: 'not-http' });
    expect(ok('git://github.com/o/r.git')).toMatchObject({ ok: false, why: 'not-http' });
    expect(ok('file:///srv/git/r.git')).toMatchObject({ ok: false, why: 'not-http' });
    expect(ok('git@github.com:o/r.git')).toMatchObject({ ok: false });
    expect(ok('/srv/git/r.git')).toMatchObject({ ok: false, why: 'invalid-url' });
    expect(ok('')).toMatchObject({ ok: false, why: 'invalid-url' });
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST.', '[::1]', '[::ffff:7f00:1]'])
      expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['10.0.0.1', '128.0.0.1', 'localhost.evil.example', '[::2]', '127.0.0.1.evil.example'])
      expect(isLoopbackHost(h), h).toBe(false);
  });
});

describe('createGitCredentials', () => {
  const make = (
    allowedHosts: readonly string[] = ['github.com', 'git.example.com'],
    opts: { token?: string } = { token: 'tok-secret-1234' },
  ) => {
    const token = opts.token;
    const lines: string[] = [];
    const creds = createGitCredentials({
      token,
      username: 'bot',
      allowedHosts,
      onWithheld: (l) => lines.push(l),
    });
    return { creds, lines };
  };

  it('gives the token to a listed host, with the provider convention', () => {
    const { creds, lines } = make();
    expect(creds.auth('https://github.com/o/r.git')).toEqual({
      username: 'bot',
      password: 'tok-secret-1234',
    });
    expect(creds.auth('https://git.example.com/r.git')).toEqual({
      username: 'bot',
      password: 'tok-secret-1234',
    });
    expect(creds.withheld('https://github.com/o/r.git')).toBeUndefined();
    expect(lines).toEqual([]);
  });

  it('sends nothing to an unlisted host, and says so once', () => {
    const { creds, lines } = make();
    for (let i = 0; i < 3; i++) expect(creds.auth('https://evil.example/r.git')).toBeUndefined();
    expect(creds.auth('https://github.com@evil.example/r.git')?.password).toBe('');
    expect(creds.auth('http://github.com/o/r.git')).toBeUndefined();
    expect(lines).toEqual([
      'git: host evil.example is not in git.allowed_hosts (github.com, git.example.com): no credentials are sent to it',
      'git: host evil.example is not in git.allowed_hosts (github.com, git.example.com): the git token is not sent to it, only the credentials written in the repository URL',
      'git: http://github.com is plain http to a host that is not loopback: no credentials are sent over it',
    ]);
    expect(creds.withheld('https://evil.example/r.git')).toBe(
      'the git token was not sent: host evil.example is not in git.allowed_hosts (github.com, git.example.com); list it there if it is your git server',
    );
    expect(make([]).creds.withheld('https://github.com/o/r.git')).toMatch(/git\.allowed_hosts \(empty\)/);
  });

  it('never gives the token to an unlisted host, whatever the URL carries', () => {
    const { creds } = make();
    for (const url of [
      'https://evil.example/r.git',
      'https://bot@evil.example/r.git',
      'https://github.com@evil.example/r.git',
      'https://x-access-token:@evil.example/r.git',
      'https://github.com.evil.example/r.git',
      'https://GITHUB.COM:8443/r.git',
      'http://github.com/r.git',
      'ssh://git@github.com/o/r.git',
      'not a url',
    ]) {
      expect(JSON.stringify(creds.auth(url) ?? null), url).not.toContain('tok-secret-1234');
    }
  });

  it('still passes credentials written into the URL to the host they were written for', () => {
    const { creds } = make();
    expect(creds.auth('https://u:p%40ss@evil.example/r.git')).toEqual({ username: 'u', password: 'p@ss' });
    expect(creds.auth('https://u:own@github.com/r.git')).toEqual({ username: 'u', password: 'own' });
  });

  it('without a token there is nothing to withhold, and nothing is logged', () => {
    const { creds, lines } = make(['github.com'], {});
    expect(creds.auth('https://evil.example/r.git')).toBeUndefined();
    expect(creds.withheld('https://evil.example/r.git')).toBeUndefined();
    expect(lines).toEqual([]);
  });
});

describe('branch names in refspecs', () => {
  it('accepts ordinary branch names', () => {
    for (const b of ['main', 'dev-1-title-case', 'feature/x.y', 'user/a_b/c', 'v1.2']) {
      expect(branchNameProblem(b), b).toBeUndefined();
    }
  });

  it('refuses names git would read as several refs, a pattern or an option', () => {
    for (const b of [
      '*',
      'refs/heads/*',
      'a:refs/heads/main',
      '^main',
      '-f',
      '--mirror',
      'a b',
      'a..b',
      'a@{1}',
      '@',
      'HEAD',
      '/a',
      'a/',
      'a//b',
      '.a',
      'a/.b',
      'a.lock',
      'a.',
      'a\\b',
      'a?',
      'a[b',
      'a~1',
      'a\nb',
      '',
    ]) {
      expect(branchNameProblem(b), JSON.stringify(b)).toBeDefined();
    }
    expect(() => assertBranchName('*')).toThrow(/not a valid branch name.*nothing is fetched or pushed/);
  });
});

interface FrontRequest {
  method: string;
  path: string;
  authorization?: string;
}

interface Front {
  url: string;
  seen: FrontRequest[];
  close(): Promise<void>;
}

/**
 * A recording front before a git server: logs every request with its Authorization header (the
 * git server's own log only says whether a request was authorized), and answers 401 Basic to the
 * requests `needsAuth` picks unless they carry the world's token; the rest go through.
 */
async function startFront(target: GitServer, needsAuth: (path: string) => boolean): Promise<Front> {
  const to = new URL(target.url);
  const seen: FrontRequest[] = [];
  const server = http.createServer((req, res) => {
    const entry: FrontRequest = { method: req.method ?? 'GET', path: req.url ?? '/' };
    if (req.headers.authorization !== undefined) entry.authorization = req.headers.authorization;
    seen.push(entry);
    if (needsAuth(entry.path) && req.headers.authorization !== BASIC) {
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"', 'Content-Type': 'text/plain' });
      res.end('Authentication required\n');
      return;
    }
    const headers = { ...req.headers, host: to.host };
    const upstream = http.request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  return { ...(await listenOnLoopback(server)), seen };
}

const FINISH = finishTurn('README: wording', 'reworded');
const ENGINES = ['native', 'isomorphic'] as const;
const refsBranch = (engine: string) => `dev-refs-${engine}`;
/** The agent makes another branch, a tag, and a tag named like the task branch on the base commit. */
const refsTurns = (engine: string): ScriptedTurn[] => [
  runCommandTurn(
    `git branch evil && git tag v9 && git tag ${refsBranch(engine)} && git branch --list && git tag --list`,
  ),
  REWORD_README,
  FINISH,
];

describe('whole runs: the token and the push', () => {
  let world: World;
  let other: GitServer;
  let otherBare: string;
  let locked: Front;
  let pushLocked: Front;

  beforeAll(async () => {
    world = await createWorld({
      model: {
        turns: [],
        sessions: [
          ...ENGINES.map((engine) => ({ match: `PUBLIC-${engine}`, turns: [REWORD_README, FINISH] })),
          ...ENGINES.map((engine) => ({ match: `REFS-${engine}`, turns: refsTurns(engine) })),
        ],
      },
    });
    // A second git server on another loopback port, not in git.allowed_hosts, behind two fronts:
    // one that wants the token for everything, one that serves clones to anyone but wants the
    // token to push (a public repository).
    const otherRoot = path.join(world.root, 'other-git');
    otherBare = await createBareRepo(otherRoot, 'elsewhere', { sourceDir: SAMPLE_PROJECT });
    other = await startGitServer({ root: otherRoot });
    locked = await startFront(other, () => true);
    pushLocked = await startFront(other, (p) => p.includes('receive-pack'));
  });

  afterAll(async () => {
    await Promise.allSettled([locked?.close(), pushLocked?.close(), other?.close()]);
    await world?.close();
  });

  const runFor = async (
    repoUrl: string,
    title: string,
    engine: (typeof ENGINES)[number],
    code_branch?: string,
  ) => {
    const store = world.backend.store;
    const app = store.createApplication({ name: `app-${title}`, git_repo_url: repoUrl });
    const task = store.createTask({
      title,
      description: title,
      application_id: Number(app.id),
      ...(code_branch ? { code_branch } : {}),
    });
    const base = world.configValues();
    const config = validate(
      world.configValues({ git: { ...(base.git as Record<string, unknown>), engine } }),
      'test',
    );
    expect(config.git.allowed_hosts).toEqual([new URL(world.git.url).host]);
    const result = await runTask({
      loaded: { config, workDir: config.work_dir, fileValues: {} },
      taskId: String(task.id),
      logger: silentLogger,
    });
    return { taskId: Number(task.id), code_branch: String(task.code_branch), result };
  };

  const frontHost = (front: Front) => new URL(front.url).host;
  const expectNoAuthorization = (front: Front, from: number) => {
    const requests = front.seen.slice(from);
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((r) => r.authorization !== undefined)).toEqual([]);
  };
  const bareRefs = async (bare: string) =>
    (await run('git', ['--git-dir', bare, 'for-each-ref', '--format=%(refname) %(objectname)'])).stdout
      .trim()
      .split('\n');

  it.each(['file://', '', 'ssh://git@127.0.0.1/', 'git://127.0.0.1/'])(
    'a git_repo_url of %s (a repository on this machine, or another transport) is refused before any git call',
    async (prefix) => {
      const url =
        prefix.startsWith('file') || prefix === '' ? `${prefix}${otherBare}` : `${prefix}elsewhere.git`;
      const { taskId, result } = await runFor(
        url,
        `Reword the README (SCHEME-${prefix || 'path'})`,
        'native',
      );
      expect(result.status).toBe('failed');
      expect(result.errorCode).toBe('GIT_HOST_NOT_ALLOWED');
      expect(result.reason).toMatch(/is not an http\(s\) URL/);
      expect(world.logs(taskId)).not.toMatch(/^.*cloned /m);
    },
  );

  it.each(ENGINES)(
    '%s: a repository on an unlisted host gets no Authorization header, and the run fails naming the host',
    async (engine) => {
      const from = locked.seen.length;
      const { taskId, result } = await runFor(
        `${locked.url}/elsewhere.git`,
        `Reword the README (LOCKED-${engine})`,
        engine,
      );
      expectNoAuthorization(locked, from);
      expect(result.status).toBe('failed');
      expect(result.errorCode).toBe('GIT_HOST_NOT_ALLOWED');
      expect(result.reason).toContain(`host ${frontHost(locked)} is not in git.allowed_hosts`);
      expect(world.statuses(taskId).at(-1)).toBe('failed');
      const logs = world.logs(taskId);
      const line = `git: host ${frontHost(locked)} is not in git.allowed_hosts (${new URL(world.git.url).host}): no credentials are sent to it`;
      expect(logs.split(line).length - 1, logs).toBe(1);
      expect(logs).toMatch(/failed: cloning: GIT_HOST_NOT_ALLOWED: .*git\.allowed_hosts/);
      expect(logs).not.toContain(GIT_TOKEN);
    },
  );

  it.each(ENGINES)(
    '%s: a public repository on an unlisted host clones without credentials; the refused push fails the run naming the host',
    async (engine) => {
      const from = pushLocked.seen.length;
      const { taskId, result } = await runFor(
        `${pushLocked.url}/elsewhere.git`,
        `Reword the README (PUBLIC-${engine})`,
        engine,
      );
      expect(result.status, result.reason).toBe('failed');
      expect(result.errorCode).toBe('GIT_HOST_NOT_ALLOWED');
      expect(result.reason).toMatch(/^pushing: /);
      expect(result.reason).toContain(`host ${frontHost(pushLocked)} is not in git.allowed_hosts`);
      const requests = pushLocked.seen.slice(from);
      // It did clone (upload-pack went through), then tried the push without any credential.
      expect(requests.some((r) => r.path.includes('git-upload-pack'))).toBe(true);
      expect(requests.some((r) => r.path.includes('git-receive-pack'))).toBe(true);
      expectNoAuthorization(pushLocked, from);
      expect(await bareRefs(otherBare)).toHaveLength(1);
      expect((await bareRefs(otherBare))[0]).toMatch(/^refs\/heads\/main /);
      const logs = world.logs(taskId);
      expect(logs).toContain(`git: host ${frontHost(pushLocked)} is not in git.allowed_hosts`);
      expect(logs).toContain('committed ');
      expect(logs).not.toContain(`pushed `);
      expect(logs).not.toContain(GIT_TOKEN);
    },
  );

  it.each(ENGINES)(
    '%s: the agent made a branch, tags, and a tag named like the task branch: only the task branch is pushed',
    async (engine) => {
      const name = `refs-${engine}`;
      const bare = await createBareRepo(path.join(world.root, 'git'), name, { sourceDir: SAMPLE_PROJECT });
      const before = await bareRefs(bare);
      const branch = refsBranch(engine);
      const { result } = await runFor(
        world.git.repoUrl(name),
        `Reword the README (REFS-${engine})`,
        engine,
        branch,
      );
      expect(result.status, result.reason).toBe('done');
      // The agent's command ran; its refs could not be made, as the clone's .git is the runner's
      // and read-only to the sandbox (sandbox/git-dir.ts). Had they been made, none would be pushed.
      const answers = world.model
        .requests()
        .map((r) => JSON.stringify(r.body))
        .filter((b) => b.includes(`REFS-${engine}`));
      if (SANDBOX_AVAILABLE) {
        expect(
          answers.some(
            (b) => /exit code: [1-9]/.test(b) && /Read-only file system|Permission denied/.test(b),
          ),
        ).toBe(true);
      }
      // The remote: main as it was, and the task branch at the run's own commit. No evil, no tags.
      expect(await bareRefs(bare)).toEqual([...before, `refs/heads/${branch} ${result.commit}`].sort());
      const { stdout } = await run('git', [
        '--git-dir',
        bare,
        'log',
        '-1',
        '--format=%s',
        `refs/heads/${branch}`,
      ]);
      expect(stdout.trim()).toBe('README: wording');
    },
  );
});

describe('withGitHostPolicy around an engine', () => {
  let world: World;
  let front: Front;

  beforeAll(async () => {
    world = await createWorld();
    front = await startFront(world.git, () => true);
  });

  afterAll(async () => {
    await front?.close();
    await world?.close();
  });

  it.each([
    ['native', createNativeGit],
    ['isomorphic', createIsomorphicGit],
  ] as const)(
    '%s: localhost and userinfo tricks for a listed 127.0.0.1 port get no token',
    async (_name, create) => {
      const listed = new URL(front.url).host; // 127.0.0.1:<port>
      const port = new URL(front.url).port;
      const lines: string[] = [];
      const credentials = createGitCredentials({
        token: GIT_TOKEN,
        username: 'avatar',
        allowedHosts: [listed],
        onWithheld: (l) => lines.push(l),
      });
      const git = withGitHostPolicy(create({ auth: credentials.auth }), credentials);

      // The listed host itself: the token works.
      const from = front.seen.length;
      expect((await git.lsRemote(`${front.url}/textkit.git`)).defaultBranch).toBe('main');
      expect(front.seen.slice(from).some((r) => r.authorization === BASIC)).toBe(true);

      // Another name for the same server, and the listed host written as a user name.
      for (const url of [
        `http://localhost:${port}/textkit.git`,
        `http://127.0.0.1:${port}@localhost:${port}/textkit.git`,
      ]) {
        const start = front.seen.length;
        const err = await git.lsRemote(url).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isAvatarError(err, 'GIT_HOST_NOT_ALLOWED'), String(err)).toBe(true);
        expect((err as Error).message).toContain(
          `host localhost:${port} is not in git.allowed_hosts (${listed})`,
        );
        const seen = front.seen.slice(start);
        expect(seen.length).toBeGreaterThan(0);
        for (const r of seen) {
          const decoded = r.authorization
            ? Buffer.from(r.authorization.replace(/^Basic /, ''), 'base64').toString('utf8')
            : '';
          expect(decoded).not.toContain(GIT_TOKEN);
        }
      }
      // The plain URL gets no header at all; the userinfo one only its own (user name, no token).
      expect(lines).toEqual([
        `git: host localhost:${port} is not in git.allowed_hosts (${listed}): no credentials are sent to it`,
        `git: host localhost:${port} is not in git.allowed_hosts (${listed}): the git token is not sent to it, only the credentials written in the repository URL`,
      ]);
    },
  );
});

describe('a repository URL that looks like an option', () => {
  it.each([
    ['native', createNativeGit],
    ['isomorphic', createIsomorphicGit],
  ] as const)('%s: is never read as one', async (_name, create) => {
    const marker = path.join(os.tmpdir(), `numa-upload-pack-${process.pid}-${_name}`);
    const git = create({});
    await expect(git.lsRemote(`--upload-pack=touch ${marker}`)).rejects.toThrow();
    await expect(stat(marker)).rejects.toThrow();
  });
});
