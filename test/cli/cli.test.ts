/**
 * The `numa-avatar` command as a person runs it: `node bin/numa-avatar.mjs ...` in a child
 * process, with a clean environment (no NUMA_*, OPENAI_* or GIT_* overrides) in a temp folder.
 * Exit codes are the README's: 0 ok, 2 task failed, 64 usage, 69 unavailable, 78 configuration.
 * `task` against an unreachable backend is in cli-unreachable.test.ts (it takes about 17 s).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli as runCli, spawnCli, STACK_LINE, type CliOptions } from './helpers.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'numa-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function cli(args: string[], opts: Omit<CliOptions, 'cwd'> = {}) {
  return runCli(args, { cwd: dir, ...opts });
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

  it('run refuses to start without a sandbox (69), saying what to do, before it polls anything', async () => {
    const file = path.join(dir, 'no-sandbox.yaml');
    // The backend is never contacted: the refusal comes first.
    await writeFile(file, 'backend:\n  url: http://127.0.0.1:9\nsandbox:\n  mode: none\n');
    const r = await cli(['run', '--config', file]);
    expect(r.code).toBe(69);
    expect(r.stderr).toContain('SANDBOX_UNAVAILABLE');
    expect(r.stderr).toContain('sandbox.allow_unsandboxed: true');
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

  it('backend --port 0 prints where it listens, serves, and stops on SIGTERM with 0', async () => {
    const child = spawnCli(['backend', '--port', '0'], { cwd: dir });
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
