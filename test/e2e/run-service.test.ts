/**
 * End to end: `numa-avatar run` as a real child process against the reference backend, a real git
 * server and the scripted model. Several tasks go from publish to a pushed commit and `done`; one
 * whose tests keep failing ends `failed` with nothing pushed; a malformed message is dead-lettered;
 * the backend answers 5xx for a while; the service is killed with SIGKILL mid-run and restarted,
 * and the run it left behind is adopted, not repeated.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRecordedSession, type ScriptedTurn } from '../../servers/scripted-model/index.ts';
import {
  API_TOKEN,
  createWorld,
  freePort,
  GIT_TOKEN,
  MODEL_KEY,
  RECORDED_SESSION,
  REPO_ROOT,
  type World,
} from '../helpers/world.ts';

const BIN = path.join(REPO_ROOT, 'bin/numa-avatar.mjs');

const failingTurns: ScriptedTurn[] = [
  {
    tool_calls: [
      {
        name: 'write_file',
        arguments: {
          path: 'test/broken.test.js',
          content:
            "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\ntest('broken', () => assert.equal(1, 2));\n",
        },
      },
    ],
  },
  { tool_calls: [{ name: 'finish', arguments: { summary: 'added a test', commit_message: 'Add a test' } }] },
  { tool_calls: [{ name: 'finish', arguments: { summary: 'still broken', commit_message: 'Add a test' } }] },
];

function slowTurns(): ScriptedTurn[] {
  const turns = loadRecordedSession(RECORDED_SESSION);
  // Hold the run in the middle long enough to kill the service under it.
  return turns.map((t, i) => (i === 3 ? { ...t, delayMs: 4000 } : t));
}

describe('numa-avatar run (end to end)', () => {
  let world: World;
  let service: ChildProcess | undefined;
  let output = '';
  let statusPort = 0;

  const startService = async (configFile: string) => {
    const child = spawn(process.execPath, [BIN, 'run', '--config', configFile], {
      env: { ...process.env, NUMA_CONFIG: '', OPENAI_API_KEY: '', GIT_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    service = child;
    const deadline = Date.now() + 20_000;
    while (!output.includes('numa-avatar running')) {
      if (child.exitCode !== null) throw new Error(`service exited ${child.exitCode}:\n${output}`);
      if (Date.now() > deadline) throw new Error(`service did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return child;
  };

  const stopService = async (signal: NodeJS.Signals) => {
    const child = service;
    if (!child || child.exitCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    return exited;
  };

  beforeAll(async () => {
    world = await createWorld({
      model: {
        turns: [],
        sessions: [
          { match: 'SLOW', turns: slowTurns() },
          { match: 'BROKEN', turns: failingTurns },
          { match: 'titleCase', turns: loadRecordedSession(RECORDED_SESSION), repeat: true },
        ],
      },
    });
    statusPort = await freePort();
  });

  afterAll(async () => {
    await stopService('SIGKILL');
    await world?.close();
  });

  it('runs tasks to done and failed, dead-letters a malformed message, survives a 5xx outage and a SIGKILL restart', async () => {
    const configFile = await world.writeConfig({ status_port: statusPort });
    await startService(configFile);

    // 1. A good task, a task whose tests keep failing, and a malformed message.
    const good = await world.createTask({ title: 'Add titleCase to textkit' });
    const broken = await world.createTask({ title: 'BROKEN: add a test that fails' });
    world.publish({ task_id: good.id });
    world.publish({ taskid: 'oops' });
    world.publish({ task_id: broken.id });

    expect(await world.waitForStatus(good.id, ['done', 'failed', 'blocked'])).toBe('done');
    expect(await world.waitForStatus(broken.id, ['done', 'failed', 'blocked'])).toBe('failed');
    expect(world.statuses(good.id)).toEqual(['todo', 'in_progress', 'done']);
    expect(await world.remoteBranch(good.code_branch)).toMatch(/^[0-9a-f]{40}$/);
    expect(await world.showFile(good.code_branch, 'src/strings.js')).toContain('export function titleCase');
    expect(await world.remoteBranch(broken.code_branch)).toBeUndefined();
    expect(world.logs(broken.id)).toMatch(/tests fail/);
    expect(world.logs(good.id)).toMatch(/pushed [0-9a-f]{12} to /);

    const deadDir = path.join(world.root, 'work/queue/dead');
    const dead = await readdir(deadDir);
    expect(dead).toHaveLength(1);
    expect(await readFile(path.join(deadDir, dead[0]!), 'utf8')).toMatch(/task_id: missing/);

    // 2. /status answers, without secrets. A runner reports its final status a moment before its
    // process exits and the service settles it, so wait for the count to come back to 0.
    const statusNow = async () => (await fetch(`http://127.0.0.1:${statusPort}/status`)).text();
    await expect.poll(async () => JSON.parse(await statusNow()).tasks_running, { timeout: 15_000 }).toBe(0);
    const statusText = await statusNow();
    const status = JSON.parse(statusText) as Record<string, unknown>;
    expect(status).toMatchObject({ status: 'running', avatar_id: 'avatar_001', tasks_running: 0 });
    for (const secret of [GIT_TOKEN, API_TOKEN, MODEL_KEY]) expect(statusText).not.toContain(secret);

    // 3. The backend answers 5xx on the topic for a while; a task published meanwhile still runs.
    world.backend.setFaults({ errorRate: 1, paths: ['/api/topics'] });
    // The long poll already waiting is answered normally; publish once polls are failing.
    while ((world.backend.faultCounts().error ?? 0) === 0) await new Promise((r) => setTimeout(r, 50));
    const during = await world.createTask({ title: 'Add titleCase during the outage' });
    world.publish({ task_id: during.id });
    await new Promise((r) => setTimeout(r, 2500));
    expect(world.statuses(during.id)).toEqual(['todo']);
    world.backend.setFaults({});
    expect(await world.waitForStatus(during.id, ['done', 'failed'])).toBe('done');
    expect(output.match(/polling failed, retrying with backoff/g)).toHaveLength(1);
    expect(output).toMatch(/backend reachable again/);

    // 4. SIGKILL the service in the middle of a run, restart it: the runner is adopted, not repeated.
    const slow = await world.createTask({ title: 'SLOW: add titleCase slowly' });
    world.publish({ task_id: slow.id });
    await world.waitForStatus(slow.id, ['in_progress']);
    expect(await stopService('SIGKILL')).toBeNull();
    await startService(configFile);
    expect(await world.waitForStatus(slow.id, ['done', 'failed'])).toBe('done');
    expect(world.statuses(slow.id)).toEqual(['todo', 'in_progress', 'done']);
    expect(output).toMatch(/adopting a runner still alive/);

    // 5. SIGTERM stops it cleanly.
    expect(await stopService('SIGTERM')).toBe(0);
    expect(output).toMatch(/numa-avatar stopped/);

    // No secret in anything the service or the runners wrote to the task logs.
    for (const id of [good.id, broken.id, during.id, slow.id]) {
      for (const secret of [GIT_TOKEN, API_TOKEN, MODEL_KEY]) expect(world.logs(id)).not.toContain(secret);
    }
    for (const secret of [GIT_TOKEN, API_TOKEN, MODEL_KEY]) expect(output).not.toContain(secret);
  }, 180_000);
});
