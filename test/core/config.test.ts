import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ENV_OVERRIDES,
  getPath,
  loadConfig,
  mergeValues,
  saveConfigFile,
  setPath,
  validate,
} from '../../core/config/load.ts';
import { commitIdentity, configForApplication, configSchema } from '../../core/config/schema.ts';
import { createGitCredentials } from '../../container/runner/git/index.ts';
import { AvatarError, isAvatarError } from '../../core/errors.ts';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
const EXAMPLE = path.join(REPO_ROOT, 'config.example.yaml');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'numa-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeYaml(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  return file;
}

/** Runs `fn`, expects an AvatarError with `code`, returns its message. */
async function failure(fn: () => Promise<unknown>, code: string): Promise<string> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AvatarError);
    expect((err as AvatarError).code).toBe(code);
    return (err as AvatarError).message;
  }
  throw new Error(`expected ${code}, but nothing was thrown`);
}

describe('git identity and credentials from the defaults', () => {
  it("the token goes with each host's own user name unless git.username is set", async () => {
    const { config } = await loadConfig({ file: await writeYaml('config.yaml', ''), env: {}, cwd: dir });
    const creds = createGitCredentials({
      token: 'tok-0123456789',
      username: config.git.username,
      allowedHosts: [...config.git.allowed_hosts, 'git.example.com'],
    });
    expect(creds.auth('https://github.com/o/r.git')?.username).toBe('x-access-token');
    expect(creds.auth('https://gitlab.com/o/r.git')?.username).toBe('oauth2');
    expect(creds.auth('https://bitbucket.org/o/r.git')?.username).toBe('x-token-auth');
    expect(creds.auth('https://git.example.com/r.git')?.username).toBe('git');
    const set = (
      await loadConfig({ file: await writeYaml('set.yaml', 'git: { username: bot }'), env: {}, cwd: dir })
    ).config;
    expect(
      createGitCredentials({ token: 't', username: set.git.username, allowedHosts: ['github.com'] }).auth(
        'https://github.com/o/r.git',
      )?.username,
    ).toBe('bot');
  });

  it('commits are by the avatar, at an address that is never @localhost', async () => {
    const { config } = await loadConfig({
      file: await writeYaml('config.yaml', 'avatar: { id: "team avatar/1", name: "Team Avatar" }'),
      env: {},
      cwd: dir,
    });
    expect(commitIdentity(config)).toEqual({
      name: 'Team Avatar',
      email: 'team-avatar-1@numa-avatar.invalid',
    });
    const set = (
      await loadConfig({
        file: await writeYaml('set.yaml', 'git: { author_name: Bot, email: bot@example.org }'),
        env: {},
        cwd: dir,
      })
    ).config;
    expect(commitIdentity(set)).toEqual({ name: 'Bot', email: 'bot@example.org' });
  });
});

describe('loadConfig: defaults and the file', () => {
  it('an empty file gives every default', async () => {
    const file = await writeYaml('config.yaml', '');
    const loaded = await loadConfig({ file, env: {}, cwd: dir });
    const c = loaded.config;
    expect(loaded.file).toBe(file);
    expect(loaded.fileValues).toEqual({});
    expect(c.backend).toEqual({ url: 'http://localhost:7301', timeout: 30, max_attempts: 5 });
    expect(c.backend.api_token).toBeUndefined();
    expect(c.git).toEqual({
      engine: 'auto',
      timeout: 600,
      allowed_hosts: ['github.com', 'gitlab.com', 'bitbucket.org'],
    });
    expect(c.avatar).toEqual({ id: 'avatar_001', name: 'Developer Avatar' });
    expect(c.polling).toEqual({ interval: 5, wait: 20, limit: 50 });
    expect(c.work_dir).toBe('.numa-avatar');
    expect(c.concurrency).toBe(2);
    expect(c.status_port).toBe(7302);
    expect(c.model.name).toBe('gpt-4o-mini');
    expect(c.model.base_url).toBeUndefined();
    expect(c.model.api_key).toBeUndefined();
    expect(c.limits.max_steps).toBe(40);
    expect(c.statuses).toEqual({
      in_progress: 'in_progress',
      done: 'done',
      failed: 'failed',
      blocked: 'blocked',
    });
    expect(c.tests).toEqual({ flaky_reruns: 1, dependency_cache: true });
    expect(c.setup).toEqual({ commands: [], timeout: 600 });
    expect(c.gates).toEqual({ lint: true, secrets: 'block', test_edits: 'revert', dangerous: 'report' });
    expect(c.limits.repair_rounds).toBe(3);
    expect(c.logs).toEqual({ flush_interval: 2, flush_lines: 40, level: 'info', format: 'text' });
    expect(loaded.workDir).toBe(path.join(dir, '.numa-avatar'));
  });

  it('a file with only comments is an empty config too, and so is a section whose keys are commented out', async () => {
    const file = await writeYaml('config.yaml', '# nothing here\ntests:\n  # command: npm test\n');
    const { config } = await loadConfig({ file, env: {}, cwd: dir });
    expect(config.tests).toEqual({ flaky_reruns: 1, dependency_cache: true });
    expect(config.backend.url).toBe('http://localhost:7301');
  });

  it('the seed design example file loads', async () => {
    const file = await writeYaml(
      'config.yaml',
      [
        'backend:',
        '  url: "http://numa.internal:7301"',
        '  api_token: "your_api_token"',
        'git:',
        '  username: "your_git_username"',
        '  email: "your_email@example.com"',
        'avatar:',
        '  id: "avatar_001"',
        '  name: "Developer Avatar"',
        'polling:',
        '  interval: 5   # seconds',
        '',
      ].join('\n'),
    );
    const { config, fileValues } = await loadConfig({ file, env: {}, cwd: dir });
    expect(config.backend.url).toBe('http://numa.internal:7301');
    expect(config.backend.api_token).toBe('your_api_token');
    expect(config.git.username).toBe('your_git_username');
    expect(config.git.email).toBe('your_email@example.com');
    expect(config.polling.interval).toBe(5);
    expect(config.polling.wait).toBe(20);
    expect(getPath(fileValues, 'backend.api_token')).toBe('your_api_token');
  });

  it('NUMA_CONFIG names the file when no file is given; an explicit file wins over it', async () => {
    const a = await writeYaml('a.yaml', 'avatar:\n  id: from_a\n');
    const b = await writeYaml('b.yaml', 'avatar:\n  id: from_b\n');
    const viaEnv = await loadConfig({ env: { NUMA_CONFIG: 'a.yaml' }, cwd: dir });
    expect(viaEnv.file).toBe(a);
    expect(viaEnv.config.avatar.id).toBe('from_a');
    const explicit = await loadConfig({ file: b, env: { NUMA_CONFIG: a }, cwd: dir });
    expect(explicit.config.avatar.id).toBe('from_b');
  });

  it('a missing file is CONFIG_NOT_FOUND naming the path (explicit and via NUMA_CONFIG)', async () => {
    const missing = path.join(dir, 'nope.yaml');
    expect(
      await failure(() => loadConfig({ file: missing, env: {}, cwd: dir }), 'CONFIG_NOT_FOUND'),
    ).toContain(missing);
    expect(
      await failure(() => loadConfig({ env: { NUMA_CONFIG: 'nope.yaml' }, cwd: dir }), 'CONFIG_NOT_FOUND'),
    ).toContain(missing);
  });

  it('no file at all: defaults, no file, work dir relative to cwd', async () => {
    const loaded = await loadConfig({ env: {}, cwd: dir });
    expect(loaded.file).toBeUndefined();
    expect(loaded.fileValues).toEqual({});
    expect(loaded.config.avatar.id).toBe('avatar_001');
    expect(loaded.workDir).toBe(path.join(dir, '.numa-avatar'));
  });
});

describe('loadConfig: environment overrides', () => {
  const cases: Array<[string, string, string, unknown]> = [
    [
      'NUMA_BACKEND_URL',
      'https://numa.example.com:8443/base',
      'backend.url',
      'https://numa.example.com:8443/base',
    ],
    ['NUMA_API_TOKEN', 'tok_env_123456', 'backend.api_token', 'tok_env_123456'],
    ['NUMA_WORK_DIR', 'state/here', 'work_dir', 'state/here'],
    ['NUMA_STATUS_PORT', '8088', 'status_port', 8088],
    ['NUMA_CONCURRENCY', ' 7 ', 'concurrency', 7],
    ['OPENAI_BASE_URL', 'http://127.0.0.1:9/v1', 'model.base_url', 'http://127.0.0.1:9/v1'],
    ['OPENAI_API_KEY', 'sk-env-key-0123456789', 'model.api_key', 'sk-env-key-0123456789'],
    ['NUMA_MODEL', 'qwen2.5-coder', 'model.name', 'qwen2.5-coder'],
    ['GIT_TOKEN', 'ghp_envtoken', 'git.token', 'ghp_envtoken'],
    ['GIT_USERNAME', 'robot', 'git.username', 'robot'],
    ['GIT_EMAIL', 'robot@example.org', 'git.email', 'robot@example.org'],
    ['GIT_AUTHOR_NAME', 'Robot', 'git.author_name', 'Robot'],
  ];

  it('the table covers every variable of ENV_OVERRIDES, each mapped to a key of the schema', () => {
    expect(new Set(cases.map((c) => c[0]))).toEqual(new Set(Object.keys(ENV_OVERRIDES)));
    for (const [name, , key] of cases) expect(ENV_OVERRIDES[name]?.key).toBe(key);
    const keys = new Set(schemaKeys(configSchema));
    for (const rule of Object.values(ENV_OVERRIDES)) expect(keys).toContain(rule.key);
  });

  it.each(cases)('%s overrides the file', async (name, raw, key, expected) => {
    const file = await writeYaml(
      'config.yaml',
      [
        'backend: { url: "http://file:1", api_token: file_token }',
        'work_dir: from-file',
        'status_port: 1',
        'concurrency: 1',
        'model: { base_url: "http://file:2/v1", api_key: file_key, name: file-model }',
        'git: { token: file_git, username: file_user, email: "file@example.com" }',
        '',
      ].join('\n'),
    );
    const loaded = await loadConfig({ file, env: { [name]: raw }, cwd: dir });
    expect(getPath(loaded.config as unknown as Record<string, unknown>, key)).toEqual(expected);
    // The file's own values are kept apart from the environment (POST /config persists them).
    expect(getPath(loaded.fileValues, key)).not.toEqual(expected);
  });

  it('an empty variable is ignored', async () => {
    const file = await writeYaml('config.yaml', 'concurrency: 3\n');
    const { config } = await loadConfig({
      file,
      env: { NUMA_CONCURRENCY: '', NUMA_BACKEND_URL: '' },
      cwd: dir,
    });
    expect(config.concurrency).toBe(3);
    expect(config.backend.url).toBe('http://localhost:7301');
  });

  it.each(['abc', '1.5', '-2', '0x10'])(
    'NUMA_CONCURRENCY=%s names the variable and what was expected',
    async (v) => {
      const msg = await failure(
        () => loadConfig({ env: { NUMA_CONCURRENCY: v }, cwd: dir }),
        'CONFIG_INVALID',
      );
      expect(msg).toContain('NUMA_CONCURRENCY');
      expect(msg).toContain('whole number');
      expect(msg).toContain(JSON.stringify(v));
    },
  );

  it('NUMA_STATUS_PORT out of range names the key', async () => {
    const msg = await failure(
      () => loadConfig({ env: { NUMA_STATUS_PORT: '70000' }, cwd: dir }),
      'CONFIG_INVALID',
    );
    expect(msg).toContain('status_port');
  });

  it('a bad URL or email from the environment names the key', async () => {
    expect(
      await failure(() => loadConfig({ env: { NUMA_BACKEND_URL: 'ftp://x' }, cwd: dir }), 'CONFIG_INVALID'),
    ).toMatch(/backend\.url: .*http/);
    expect(
      await failure(() => loadConfig({ env: { GIT_EMAIL: 'not an email' }, cwd: dir }), 'CONFIG_INVALID'),
    ).toMatch(/git\.email: .*email/);
  });
});

describe('loadConfig: validation errors name the key and what was expected', () => {
  async function invalid(yamlText: string): Promise<string> {
    const file = await writeYaml('bad.yaml', yamlText);
    const msg = await failure(() => loadConfig({ file, env: {}, cwd: dir }), 'CONFIG_INVALID');
    expect(msg).toContain(file);
    return msg;
  }

  it('wrong type', async () => {
    const msg = await invalid('polling:\n  interval: "five"\n');
    expect(msg).toContain('polling.interval');
    expect(msg).toMatch(/number/);
  });

  it('wrong type of a section', async () => {
    expect(await invalid('backend: "http://x"\n')).toMatch(/backend: .*object/);
  });

  it('out of range', async () => {
    expect(await invalid('concurrency: 0\n')).toContain('concurrency');
    expect(await invalid('polling:\n  wait: 61\n')).toContain('polling.wait');
  });

  it('unknown key, top level and nested', async () => {
    const top = await invalid('backend_url: "http://x"\n');
    expect(top).toContain('backend_url');
    const nested = await invalid('backend:\n  token: abc\n');
    expect(nested).toContain('backend');
    expect(nested).toContain('token');
  });

  it('bad URL', async () => {
    expect(await invalid('backend:\n  url: "not a url"\n')).toMatch(
      /backend\.url: .*http:\/\/ or https:\/\//,
    );
    expect(await invalid('backend:\n  url: "ftp://host/x"\n')).toContain('backend.url');
    expect(await invalid('model:\n  base_url: "localhost:8000"\n')).toContain('model.base_url');
  });

  it('bad email', async () => {
    expect(await invalid('git:\n  email: "avatar"\n')).toMatch(/git\.email: .*email/);
    expect(await invalid('git:\n  email: "a b@c"\n')).toContain('git.email');
  });

  it('bad enum value', async () => {
    const msg = await invalid('git:\n  engine: fast\n');
    expect(msg).toContain('git.engine');
    expect(msg).toMatch(/native/);
  });

  it('bad status name', async () => {
    expect(await invalid('statuses:\n  done: "all done"\n')).toContain('statuses.done');
  });

  it('invalid YAML', async () => {
    const msg = await invalid('backend:\n  url: "http://x\n  api_token: [\n');
    expect(msg).toContain('not valid YAML');
  });

  it('a file that is a list, or a scalar', async () => {
    expect(await invalid('- backend\n- git\n')).toContain('expected a mapping of keys at the top level');
    expect(await invalid('just text\n')).toContain('expected a mapping of keys at the top level');
  });

  it('several problems are all reported', async () => {
    const msg = await invalid('concurrency: "x"\nstatus_port: -1\n');
    expect(msg).toContain('concurrency');
    expect(msg).toContain('status_port');
  });

  it('validate() names where the values came from', () => {
    try {
      validate({ concurrency: 'many' }, 'POST /config');
      expect.unreachable('validate accepted a string concurrency');
    } catch (err) {
      expect(isAvatarError(err, 'CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(/^POST \/config: concurrency: /);
    }
    expect(validate({}, 'x').concurrency).toBe(2);
  });
});

describe('loadConfig: the work directory', () => {
  it('a relative work_dir in a file is relative to the file', async () => {
    const file = await writeYaml('etc/avatar/config.yaml', 'work_dir: data\n');
    const elsewhere = path.join(dir, 'elsewhere');
    await mkdir(elsewhere);
    const loaded = await loadConfig({ file, env: {}, cwd: elsewhere });
    expect(loaded.workDir).toBe(path.join(dir, 'etc/avatar/data'));
  });

  it('the default work_dir is relative to the file as well', async () => {
    const file = await writeYaml('etc/config.yaml', 'avatar:\n  id: x\n');
    const loaded = await loadConfig({ file, env: {}, cwd: os.tmpdir() });
    expect(loaded.workDir).toBe(path.join(dir, 'etc/.numa-avatar'));
  });

  it('NUMA_WORK_DIR is relative to the current directory, not the file', async () => {
    const file = await writeYaml('etc/config.yaml', 'work_dir: data\n');
    const cwd = path.join(dir, 'cwd');
    await mkdir(cwd);
    const loaded = await loadConfig({ file, env: { NUMA_WORK_DIR: 'w' }, cwd });
    expect(loaded.workDir).toBe(path.join(cwd, 'w'));
  });

  it('an absolute work_dir stays as it is', async () => {
    const abs = path.join(dir, 'abs-work');
    const file = await writeYaml('etc/config.yaml', `work_dir: ${JSON.stringify(abs)}\n`);
    expect((await loadConfig({ file, env: {}, cwd: os.tmpdir() })).workDir).toBe(abs);
  });

  it('with no file named, <work_dir>/config.yaml persisted by POST /config is picked up', async () => {
    const workDir = path.join(dir, '.numa-avatar');
    await mkdir(workDir);
    const persisted = path.join(workDir, 'config.yaml');
    // What the service persists: only the keys POST /config changed.
    await saveConfigFile(persisted, { backend: { url: 'http://persisted:7301' } });
    const loaded = await loadConfig({ env: {}, cwd: dir });
    expect(loaded.file).toBe(persisted);
    expect(loaded.config.backend.url).toBe('http://persisted:7301');
    expect(loaded.fileValues).toEqual({ backend: { url: 'http://persisted:7301' } });
    // The work dir is the one the file was found in (not a .numa-avatar nested inside it).
    expect(loaded.workDir).toBe(workDir);
  });

  it('the persisted file is looked up in NUMA_WORK_DIR, and environment overrides still win over it', async () => {
    const workDir = path.join(dir, 'custom');
    await mkdir(workDir);
    await saveConfigFile(path.join(workDir, 'config.yaml'), { concurrency: 4, avatar: { id: 'persisted' } });
    const loaded = await loadConfig({ env: { NUMA_WORK_DIR: 'custom', NUMA_CONCURRENCY: '6' }, cwd: dir });
    expect(loaded.file).toBe(path.join(workDir, 'config.yaml'));
    expect(loaded.config.avatar.id).toBe('persisted');
    expect(loaded.config.concurrency).toBe(6);
    expect(loaded.workDir).toBe(workDir);
  });

  it('a persisted file is not used when a file is named', async () => {
    await mkdir(path.join(dir, '.numa-avatar'));
    await saveConfigFile(path.join(dir, '.numa-avatar/config.yaml'), { avatar: { id: 'persisted' } });
    const file = await writeYaml('named.yaml', 'avatar:\n  id: named\n');
    const loaded = await loadConfig({ file, env: {}, cwd: dir });
    expect(loaded.config.avatar.id).toBe('named');
  });

  it('an invalid persisted file is reported with its path', async () => {
    await mkdir(path.join(dir, '.numa-avatar'));
    const persisted = path.join(dir, '.numa-avatar/config.yaml');
    await writeFile(persisted, 'concurrency: lots\n');
    const msg = await failure(() => loadConfig({ env: {}, cwd: dir }), 'CONFIG_INVALID');
    expect(msg).toContain(persisted);
    expect(msg).toContain('concurrency');
  });
});

describe('mergeValues, getPath, setPath', () => {
  it('objects merge deeply, everything else replaces, inputs are not changed', () => {
    const base = {
      backend: { url: 'http://a', api_token: 't' },
      tests: { command: 'npm test' },
      list: [1, 2],
      n: 1,
    };
    const patch = { backend: { url: 'http://b' }, list: [3], n: null, extra: { x: 1 } };
    const before = structuredClone(base);
    const merged = mergeValues(base, patch);
    expect(merged).toEqual({
      backend: { url: 'http://b', api_token: 't' },
      tests: { command: 'npm test' },
      list: [3],
      n: null,
      extra: { x: 1 },
    });
    expect(base).toEqual(before);
    expect(patch.backend).toEqual({ url: 'http://b' });
  });

  it('a scalar replaces an object and an object replaces a scalar', () => {
    expect(mergeValues({ a: { b: 1 } }, { a: 2 })).toEqual({ a: 2 });
    expect(mergeValues({ a: 2 }, { a: { b: 1 } })).toEqual({ a: { b: 1 } });
  });

  it('getPath and setPath walk dotted keys', () => {
    const o: Record<string, unknown> = { a: 1 };
    setPath(o, 'backend.url', 'http://x');
    setPath(o, 'a.b', 2);
    expect(o).toEqual({ a: { b: 2 }, backend: { url: 'http://x' } });
    expect(getPath(o, 'backend.url')).toBe('http://x');
    expect(getPath(o, 'backend.url.deeper')).toBeUndefined();
    expect(getPath(o, 'missing.key')).toBeUndefined();
  });
});

describe('saveConfigFile', () => {
  it('writes mode 0600 and round-trips through loadConfig', async () => {
    const file = path.join(dir, 'saved.yaml');
    const values = {
      backend: { url: 'http://saved:7301', api_token: 'tok: with "quotes" and #hash' },
      avatar: { name: '开发者 Avatar ✓' },
      tests: { command: 'npm test -- --run' },
      concurrency: 3,
    };
    await saveConfigFile(file, values);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(parseYaml(await readFile(file, 'utf8'))).toEqual(values);
    const loaded = await loadConfig({ file, env: {}, cwd: dir });
    expect(loaded.fileValues).toEqual(values);
    expect(loaded.config.backend.api_token).toBe('tok: with "quotes" and #hash');
    expect(loaded.config.avatar.name).toBe('开发者 Avatar ✓');
    expect(loaded.config.concurrency).toBe(3);
  });

  it('replaces an existing file, keeps mode 0600, and leaves no temp file', async () => {
    const file = path.join(dir, 'saved.yaml');
    await writeFile(file, 'concurrency: 1\n', { mode: 0o644 });
    await saveConfigFile(file, { concurrency: 5 });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await loadConfig({ file, env: {}, cwd: dir })).config.concurrency).toBe(5);
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(dir)).toEqual(['saved.yaml']);
  });
});

describe('config.example.yaml', () => {
  it('loads with the schema and mentions every key of the schema', async (ctx) => {
    if (!existsSync(EXAMPLE)) {
      ctx.skip('config.example.yaml does not exist yet at the repo root (the lead writes it)');
    }
    const text = await readFile(EXAMPLE, 'utf8');
    // Parses as YAML and validates with configSchema (through the loader, which reads a section whose
    // keys are all commented out as empty).
    const loaded = await loadConfig({ file: EXAMPLE, env: {}, cwd: dir });
    expect(loaded.config).toEqual(configSchema.parse(loaded.fileValues));
    // Every value shown is the default (the header says so), secrets empty.
    const defaults = configSchema.parse({});
    for (const key of schemaKeys(configSchema)) {
      const shown = getPath(loaded.fileValues, key);
      if (shown === undefined || shown === '') continue;
      expect(shown, `config.example.yaml: ${key}`).toEqual(
        getPath(defaults as unknown as Record<string, unknown>, key),
      );
    }

    const missing = schemaKeys(configSchema).filter((key) => !mentions(text, key));
    expect(missing, 'keys of configSchema that config.example.yaml does not mention').toEqual([]);
  });
});

/** Dotted paths of every leaf key of an object schema (sections walked through default/prefault/optional). */
function schemaKeys(schema: z.ZodType, prefix = ''): string[] {
  const inner = unwrap(schema);
  if (!('shape' in inner)) return [prefix];
  const shape = (inner as unknown as { shape: Record<string, z.ZodType> }).shape;
  return Object.entries(shape).flatMap(([k, v]) => schemaKeys(v, prefix ? `${prefix}.${k}` : k));
}

function unwrap(schema: z.ZodType): z.ZodType {
  let cur = schema;
  for (;;) {
    const def = (cur as unknown as { def: { type: string; innerType?: z.ZodType } }).def;
    if (['default', 'prefault', 'optional', 'nullable'].includes(def.type) && def.innerType)
      cur = def.innerType;
    else return cur;
  }
}

/** Whether the YAML text has the key (possibly commented out) at its place: `section:` block, then `  key:`. */
function mentions(text: string, dotted: string): boolean {
  const lines = text.split('\n');
  const parts = dotted.split('.');
  const keyLine = (depth: number, name: string) => new RegExp(`^${'  '.repeat(depth)}(?:#\\s*)?${name}:`);
  let from = 0;
  let to = lines.length;
  for (let depth = 0; depth < parts.length; depth++) {
    const re = keyLine(depth, parts[depth]!);
    const at = lines.slice(from, to).findIndex((l) => re.test(l));
    if (at < 0) return false;
    from = from + at + 1;
    // The block of this key ends at the next line indented no deeper than it (that is not a comment).
    const end = lines
      .slice(from, to)
      .findIndex((l) => l.trim() !== '' && !/^\s*#/.test(l) && indent(l) <= depth * 2);
    to = end < 0 ? to : from + end;
  }
  return true;
}

function indent(line: string): number {
  return line.length - line.trimStart().length;
}

describe('applications', () => {
  it("an application's own settings apply to its tasks only, over the rest", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'numa-apps-'));
    try {
      const file = path.join(dir, 'c.yaml');
      await writeFile(
        file,
        'tests: { command: "npm test", flaky_reruns: 2 }\napplications: { "42": { tests: { command: "make check" }, verify: { allow_unverified: true } } }\n',
      );
      const { config } = await loadConfig({ file, env: {}, cwd: dir });
      const own = configForApplication(config, 42);
      expect(own.tests).toEqual({ command: 'make check', flaky_reruns: 2, dependency_cache: true });
      expect(own.verify.allow_unverified).toBe(true);
      expect(configForApplication(config, 7)).toBe(config);
      expect(config.verify.allow_unverified).toBe(false);
      await writeFile(file, 'applications: { "a b": {} }\n');
      await expect(loadConfig({ file, env: {}, cwd: dir })).rejects.toThrow(
        /applications: expected application ids as keys .*got "a b"/,
      );
      await writeFile(file, 'applications: { "1": { model: { name: x } } }\n');
      await expect(loadConfig({ file, env: {}, cwd: dir })).rejects.toThrow(/applications\.1/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
