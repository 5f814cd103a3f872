import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redactor } from '../../core/redact.ts';
import { runCommand } from '../../container/runner/agent/tools/run-command.ts';
import { makeRepo, toolContext } from './helpers.ts';
import type { TempRepo } from './helpers.ts';

let repo: TempRepo;
beforeAll(async () => {
  repo = await makeRepo({ 'hello.txt': 'hello from the repo\n' });
});
afterAll(() => repo.cleanup());

/** Whether a process exists and is not a zombie (a container's PID 1 may not reap it at once). */
async function alive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/^\d+ \(.*\) Z/.test(stat);
}

async function waitGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (!(await alive(pid))) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

describe('run_command', () => {
  it('runs in the repository root and reports the exit code', async () => {
    const ok = await runCommand(toolContext(repo.dir), { command: 'pwd; cat hello.txt' });
    expect(ok.output).toBe(`exit code: 0\n${repo.dir}\nhello from the repo\n`);
    const bad = await runCommand(toolContext(repo.dir), { command: 'echo oops >&2; exit 3' });
    expect(bad.output).toBe('exit code: 3\noops\n');
    expect(bad.brief).toMatch(/^exit 3 /);
  });

  it('says "(no output)" when there is none', async () => {
    const res = await runCommand(toolContext(repo.dir), { command: 'true' });
    expect(res.output).toBe('exit code: 0\n(no output)');
  });

  it('cuts long output to its head and tail with a note', async () => {
    const ctx = toolContext(repo.dir, { limits: { commandTimeoutMs: 30_000, maxOutputChars: 2000 } });
    const res = await runCommand(ctx, { command: 'echo FIRST-LINE; seq 1 20000; echo LAST-LINE' });
    expect(res.output).toContain('FIRST-LINE');
    expect(res.output).toContain('LAST-LINE');
    expect(res.output).toMatch(
      /\[output cut: \d+ characters omitted from the middle; showing the first 800 and the last \d+\]/,
    );
    expect(res.output).not.toContain('\n10000\n');
    expect(res.output.length).toBeLessThan(2200);
  });

  it('kills the whole process group on timeout and says so', async () => {
    const pidFile = path.join(repo.dir, 'bg.pid');
    const res = await runCommand(toolContext(repo.dir), {
      command: `echo started; sleep 30 & echo $! > ${pidFile}; wait`,
      timeout_s: 0.5,
    });
    expect(res.output).toMatch(
      /^timed out after 0.5 s: the command and every process it started were killed/,
    );
    expect(res.output).toContain('started');
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    expect(pid).toBeGreaterThan(0);
    expect(await waitGone(pid)).toBe(true);
  });

  it('stops background processes the command leaves behind', async () => {
    const pidFile = path.join(repo.dir, 'linger.pid');
    const res = await runCommand(toolContext(repo.dir), {
      command: `sleep 30 & echo $! > ${pidFile}; echo done`,
    });
    expect(res.output).toBe('exit code: 0\ndone\n');
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    expect(await waitGone(pid)).toBe(true);
  });

  it('caps the time limit at limits.commandTimeoutMs and at the remaining wall clock', async () => {
    const capped = await runCommand(
      toolContext(repo.dir, { limits: { commandTimeoutMs: 300, maxOutputChars: 12_000 } }),
      { command: 'sleep 20', timeout_s: 999 },
    );
    expect(capped.output).toMatch(/^timed out after 0.3 s \(capped at the maximum of 0.3 s\)/);
    const remaining = await runCommand(toolContext(repo.dir, { remainingMs: () => 200 }), {
      command: 'sleep 20',
    });
    expect(remaining.output).toMatch(/^timed out after 0.2 s \(capped by the run's remaining time\)/);
  });

  describe('environment', () => {
    const secrets = {
      GIT_TOKEN: 'ghp_secretgittokenvalue1234567890',
      OPENAI_API_KEY: 'sk-secretopenaikey1234567890',
      AWS_SECRET_ACCESS_KEY: 'awsSecretAccessKeyValue/1234567890',
      NUMA_API_TOKEN: 'numa-secret-token-value',
      AWS_SESSION_TOKEN: 'awsSessionTokenValue1234567890',
      AWS_ACCESS_KEY_ID: 'AKIAABCDEFGHIJKLMNOP',
      GITHUB_TOKEN: 'ghs_githubtokenvalue1234567890abcd',
      GH_TOKEN: 'gho_ghtokenvalue1234567890abcdefgh',
      NPM_TOKEN: 'npm-token-value-1234567890',
      MY_SERVICE_PASSWORD: 'service-password-value',
    };
    const saved: Record<string, string | undefined> = {};
    beforeAll(() => {
      for (const [k, v] of Object.entries({ ...secrets, PLAIN_AGENT_TEST_VAR: 'visible-value' })) {
        saved[k] = process.env[k];
        process.env[k] = v;
      }
    });
    afterAll(() => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    });

    it("has no secrets from the parent, none of its other variables but the allow-list's, and disables git prompts", async () => {
      const res = await runCommand(toolContext(repo.dir, { redactor: new Redactor() }), { command: 'env' });
      const names = res.output
        .split('\n')
        .slice(1)
        .map((l) => l.split('=')[0]);
      for (const [name, value] of Object.entries(secrets)) {
        expect(names).not.toContain(name);
        expect(res.output).not.toContain(value);
      }
      // Not a secret, but the runner's own (core/env.ts passes only the allow-listed names).
      expect(names).not.toContain('PLAIN_AGENT_TEST_VAR');
      expect(res.output).toContain('GIT_TERMINAL_PROMPT=0');
      expect(names).toContain('PATH');
    });
  });

  it('redacts secrets that appear in the output anyway', async () => {
    const ctx = toolContext(repo.dir, { redactor: new Redactor(['printed-secret-9876']) });
    const res = await runCommand(ctx, {
      command: 'echo token=printed-secret-9876; echo https://user:pw@example.com/r.git',
    });
    expect(res.output).not.toContain('printed-secret-9876');
    expect(res.output).not.toContain('user:pw');
  });

  it('stops when the run is aborted', async () => {
    const ac = new AbortController();
    const p = runCommand(toolContext(repo.dir, { signal: ac.signal }), { command: 'sleep 20' });
    setTimeout(() => ac.abort(), 100);
    const res = await p;
    expect(res.output).toMatch(/^stopped: the run was aborted/);
  });
});
