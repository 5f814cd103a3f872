/**
 * core/env.ts's environment of the repository's commands: an allow-list of names (repoEnv), with
 * the value check as a second guard (scrubAgentEnv). scrubEnv, the runner's own tools' deny-list,
 * is tested in redact.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { isRepoEnvName, repoEnv, scrubAgentEnv } from '../../core/env.ts';
import { Redactor } from '../../core/redact.ts';

/** A runner's environment: what a shell, a base image, ECS and the avatar's own settings put there. */
const RUNNER: NodeJS.ProcessEnv = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: '/home/avatar',
  TMPDIR: '/var/tmp',
  USER: 'avatar',
  LOGNAME: 'avatar',
  LANG: 'C.UTF-8',
  LANGUAGE: 'en',
  LC_ALL: 'C.UTF-8',
  LC_MESSAGES: 'C',
  TZ: 'Etc/UTC',
  TERM: 'xterm',
  JAVA_HOME: '/usr/lib/jvm/default',
  GOROOT: '/usr/lib/go',
  RUSTUP_HOME: '/opt/rustup',
  PYENV_ROOT: '/opt/pyenv',
  // dropped: the runner's own, none of them a secret
  NODE_ENV: 'production',
  NODE_OPTIONS: '--max-old-space-size=4096',
  NODE_COMPILE_CACHE: '/app/.node-compile-cache',
  NODE_EXTRA_CA_CERTS: '/etc/ssl/extra.pem',
  npm_config_omit: 'dev',
  NPM_CONFIG_PRODUCTION: 'true',
  YARN_PRODUCTION: 'true',
  HTTPS_PROXY: 'http://proxy:3128',
  http_proxy: 'http://proxy:3128',
  NO_PROXY: 'localhost',
  GIT_DIR: '/elsewhere/.git',
  GIT_CONFIG_GLOBAL: '/root/.gitconfig',
  GOPATH: '/go',
  GOFLAGS: '-mod=mod',
  CARGO_HOME: '/usr/local/cargo',
  PYTHONPATH: '/app/lib',
  VIRTUAL_ENV: '/app/.venv',
  SHELL: '/bin/bash',
  NUMA_WORK_DIR: '/work/avatar',
  NUMA_CONFIG: '/etc/numa.yaml',
  OPENAI_BASE_URL: 'http://model',
  AWS_REGION: 'eu-west-1',
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/credentials/x',
  ECS_CONTAINER_METADATA_URI_V4: 'http://169.254.170.2/v4',
  CI: 'false',
  GIT_TERMINAL_PROMPT: '1',
  // lower-case spellings are other variables
  path: '/tmp/evil',
  lang: 'x',
};
const KEPT = [
  'PATH',
  'HOME',
  'TMPDIR',
  'USER',
  'LOGNAME',
  'LANG',
  'LANGUAGE',
  'LC_ALL',
  'LC_MESSAGES',
  'TZ',
  'TERM',
  'JAVA_HOME',
  'GOROOT',
  'RUSTUP_HOME',
  'PYENV_ROOT',
];

describe('repoEnv', () => {
  it('keeps the allow-listed names only, sets CI=true and GIT_TERMINAL_PROMPT=0', () => {
    const out = repoEnv(RUNNER);
    const expected = Object.fromEntries(KEPT.map((k) => [k, RUNNER[k]]));
    expect(out).toEqual({ ...expected, CI: 'true', GIT_TERMINAL_PROMPT: '0' });
  });

  it('adds the extras last (they win) and does not change its input', () => {
    const input = { PATH: '/bin', NODE_ENV: 'production' };
    expect(repoEnv(input, { CI: '1', PATH: '/custom/bin', FORCE_COLOR: '0' })).toEqual({
      PATH: '/custom/bin',
      CI: '1',
      GIT_TERMINAL_PROMPT: '0',
      FORCE_COLOR: '0',
    });
    expect(input).toEqual({ PATH: '/bin', NODE_ENV: 'production' });
  });

  it('isRepoEnvName: exact names, LC_ categories, never a secret-looking one', () => {
    for (const k of KEPT) expect(isRepoEnvName(k), k).toBe(true);
    for (const k of ['NODE_ENV', 'npm_config_omit', 'path', 'LC_', 'LC_all', 'LCX', 'HOMEDIR', 'PATHEXT'])
      expect(isRepoEnvName(k), k).toBe(false);
  });
});

describe('scrubAgentEnv', () => {
  it('is repoEnv, less an allow-listed variable whose value the redactor changes', () => {
    const env = {
      ...RUNNER,
      // a configured secret, and a well-known token format, under allow-listed names
      TERM: 'numa-configured-backend-token',
      LANGUAGE: 'ghp_plantedpersonaltoken0123456789abcd',
      TZ: 'https://user:pw@proxy.example/',
    };
    const out = scrubAgentEnv(env, new Redactor(['numa-configured-backend-token']), { CI: 'true' });
    for (const k of ['TERM', 'LANGUAGE', 'TZ']) expect(out, k).not.toHaveProperty(k);
    expect(out).toMatchObject({ PATH: RUNNER.PATH, HOME: RUNNER.HOME, LANG: 'C.UTF-8', CI: 'true' });
    for (const k of ['NODE_ENV', 'NODE_OPTIONS', 'HTTPS_PROXY', 'NUMA_WORK_DIR', 'AWS_REGION'])
      expect(out, k).not.toHaveProperty(k);
  });

  it("the extras are the caller's: not checked", () => {
    const out = scrubAgentEnv({ PATH: '/bin' }, new Redactor(['given-on-purpose-value']), {
      GIVEN: 'given-on-purpose-value',
    });
    expect(out.GIVEN).toBe('given-on-purpose-value');
  });
});
