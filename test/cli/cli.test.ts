/**
 * The `numa-avatar` command as a person runs it: `node bin/numa-avatar.mjs ...` in a child
 * process, with a clean environment (no NUMA_*, OPENAI_* or GIT_* overrides) in a temp folder.
 * Exit codes are the README's: 0 ok, 2 task failed, 64 usage, 69 unavailable, 78 configuration.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, REPO_ROOT } from '../helpers/world.ts';

const BIN = path.join(REPO_ROOT, 'bin', 'numa-avatar.mjs');
const STACK_LINE = /^\s+at .+[(:]\d+/m;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'numa-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The environment minus every variable that would override the configuration. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(NUMA_|OPENAI_|GIT_(TOKEN|USERNAME|EMAIL)$)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its end (killed after `timeoutMs`, which then fails the test's expectations). */
function cli(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: cleanEnv(opts.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

// Each command starts Node and tsx (about a second); they run side by side.
describe.concurrent('numa-avatar CLI', () => {
  it('--help prints the usage, the commands and the exit codes, and exits 0', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: numa-avatar');
    for (const cmd of ['run', 'task', 'backend', 'demo'])
      expect(r.stdout).toMatch(new RegExp(`^\\s+${cmd}\\b`, 'm'));
    expect(r.stdout).toContain('Exit codes');
  });

  it.for(['run', 'task', 'backend', 'demo'])('%s --help prints its usage and exits 0', async (cmd) => {
    const r = await cli([cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: numa-avatar ${cmd}`);
    expect(r.stdout).toContain('Exit codes');
    expect(r.stderr).toBe('');
  });

  it('an unknown command is a usage error (64)', async () => {
    const r = await cli(['frobnicate']);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('frobnicate');
  });

  it('task with a bad id is a usage error (64) naming task_id', async () => {
    const r = await cli(['task', '../etc/passwd']);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('task_id');
    expect(r.stderr).not.toMatch(STACK_LINE);
  });

  it('run --config with a missing file is a configuration error (78) naming the file', async () => {
    const r = await cli(['run', '--config', 'missing.yaml']);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(path.join(dir, 'missing.yaml'));
    expect(r.stderr).not.toMatch(STACK_LINE);
  });

  it('a config value of the wrong type is a configuration error (78) naming the key', async () => {
    const file = path.join(dir, 'bad-concurrency.yaml');
    await writeFile(file, 'concurrency: "x"\nstatus_port: 0\n');
    const r = await cli(['run', '--config', file]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('bad-concurrency.yaml');
    expect(r.stderr).toMatch(/concurrency: .*expected number/);
    expect(r.stderr).not.toMatch(STACK_LINE);
  });

  it('a bad environment override is a configuration error (78) naming the variable', async () => {
    const r = await cli(['run'], {
      env: { NUMA_CONCURRENCY: 'abc', NUMA_WORK_DIR: path.join(dir, 'env-work'), NUMA_STATUS_PORT: '0' },
    });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('NUMA_CONCURRENCY');
    expect(r.stderr).toContain('"abc"');
    expect(r.stderr).not.toMatch(STACK_LINE);
  });

  it('task against a backend where nothing listens fails (2) with the reason and no stack trace', async () => {
    const port = await freePort();
    const file = path.join(dir, 'unreachable.yaml');
    await writeFile(
      file,
      [
        `backend: { url: "http://127.0.0.1:${port}", max_attempts: 1, timeout: 5 }`,
        `work_dir: ${JSON.stringify(path.join(dir, 'task-work'))}`,
        'status_port: 0',
      ].join('\n') + '\n',
    );
    // The runner keeps trying to deliver the task's log for 15 s before it gives up.
    const r = await cli(['task', '1', '--config', file], { timeoutMs: 40_000 });
    // outcome.ts: a run that fails exits 2 (`failed`), also when the failure is the backend itself.
    expect(r.signal).toBeNull();
    expect(r.code).toBe(2);
    const out = r.stdout + r.stderr;
    expect(out).toContain('BACKEND_UNAVAILABLE');
    expect(out).toContain(`127.0.0.1:${port}`);
    expect(out).not.toMatch(STACK_LINE);
  }, 45_000);

  it('backend --port 0 prints where it listens, serves, and stops on SIGTERM with 0', async () => {
    const child = spawn(process.execPath, [BIN, 'backend', '--port', '0'], {
      cwd: dir,
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('close', (code, signal) => resolve({ code, signal })),
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "listening" line; stderr: ${stderr}`)), 15_000);
        child.stdout.on('data', (c: Buffer) => {
          stdout += c.toString('utf8');
          const m = /listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(stdout);
          if (m && Number(m[2]) > 0) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        void exited.then(() => reject(new Error(`the backend exited early; stderr: ${stderr}`)));
      });
      const res = await fetch(`${url}/api/topics/tasks`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ name: 'tasks' });

      child.kill('SIGTERM');
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(stderr).not.toMatch(STACK_LINE);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
