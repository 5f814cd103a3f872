/**
 * The runner's container entry (`numa-avatar runner-aws`, what the Dockerfile runs) in a child
 * process, with S3 on moto's server mode and the reference backend, git server and scripted model
 * on 127.0.0.1: a run that ends done with its artifacts and code cache in the bucket and its EMF
 * line on stdout; a run stopped with SIGTERM that reports failed, stores its snapshot and exits 2.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { S3BlobStore } from '../../adapters/aws/s3-blob-store.ts';
import { codeCacheKey } from '../../container/runner/code-cache.ts';
import { loadRecordedSession, type ScriptedTurn } from '../../servers/scripted-model/index.ts';
import { BIN } from '../cli/helpers.ts';
import { describeWithMoto, motoClientConfig, MOTO_REGION, startMoto, type Moto } from '../helpers/moto.ts';
import {
  API_TOKEN,
  createWorld,
  GIT_TOKEN,
  MODEL_KEY,
  RECORDED_SESSION,
  type World,
} from '../helpers/world.ts';

const BUCKET = 'numa-avatar-runner-test';

const slowTurns: ScriptedTurn[] = [
  { tool_calls: [{ name: 'read_file', arguments: { path: 'README.md' } }], delayMs: 30_000 },
];

describeWithMoto('runner-aws entry against moto S3', () => {
  let moto: Moto;
  let world: World;
  let dir: string;
  let blobs: S3BlobStore;

  beforeAll(async () => {
    [moto, world] = await Promise.all([
      startMoto(),
      createWorld({
        model: {
          turns: [],
          sessions: [
            { match: 'SIGTERM', turns: slowTurns },
            { match: 'titleCase', turns: loadRecordedSession(RECORDED_SESSION), repeat: true },
          ],
        },
      }),
    ]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'numa-runner-moto-'));
    const s3 = new S3Client(motoClientConfig(moto, { s3: true }));
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    blobs = new S3BlobStore({ client: s3, bucket: BUCKET });
  });

  afterAll(async () => {
    await Promise.allSettled([moto?.close(), world?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Starts the runner as ECS would: the task and the settings in the environment only. */
  const startRunner = (taskId: number, runId: string) => {
    const child = spawn(process.execPath, [BIN, 'runner-aws'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        NUMA_TASK_ID: String(taskId),
        NUMA_RUN_ID: runId,
        NUMA_MESSAGE: JSON.stringify({ task_id: taskId, message_id: taskId, topic_id: 1 }),
        BUCKET,
        NUMA_BACKEND_URL: world.backend.url,
        NUMA_API_TOKEN: API_TOKEN,
        GIT_TOKEN,
        GIT_USERNAME: 'avatar',
        OPENAI_API_KEY: MODEL_KEY,
        OPENAI_BASE_URL: world.model.baseURL,
        NUMA_MODEL: 'scripted',
        NUMA_RUN_TIMEOUT_SECONDS: '600',
        NUMA_CONFIG_YAML:
          'logs:\n  flush_interval: 0.3\nbackend:\n  timeout: 5\n' +
          `git:\n  allowed_hosts: ['${new URL(world.git.url).host}']\n`,
        NUMA_WORK_DIR: path.join(dir, `work-${runId}`),
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_REGION: MOTO_REGION,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_CONFIG_FILE: path.join(dir, 'none'),
        AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'none'),
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      }),
    );
    return { child, exited };
  };

  const emfOf = (stdout: string) =>
    stdout
      .split('\n')
      .filter((l) => l.startsWith('{"_aws"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('runs a task to done: artifacts and the code cache in S3, EMF on stdout, exit 0', async () => {
    const task = await world.createTask({ title: 'Add titleCase (runner-aws)' });
    const r = await startRunner(task.id, 'run-done').exited;
    expect(r.code, r.stderr).toBe(0);
    expect(world.statuses(task.id)).toEqual(['todo', 'in_progress', 'done']);
    const prefix = `runs/${task.id}/run-done/`;
    const keys = await blobs.list(prefix);
    expect(keys).toEqual(
      expect.arrayContaining(
        ['meta.json', 'result.json', 'task.log', 'transcript.jsonl'].map((f) => prefix + f),
      ),
    );
    expect(await blobs.get(codeCacheKey(world.repoUrl))).toBeDefined();
    expect(emfOf(r.stdout)).toEqual([
      expect.objectContaining({ status: 'done', RunsDone: 1, task_id: String(task.id) }),
    ]);
    // Task log lines are in the container's output; no secret anywhere in it.
    expect(r.stdout).toMatch(/pushed [0-9a-f]{12}/);
    for (const secret of [GIT_TOKEN, API_TOKEN, MODEL_KEY]) expect(r.stdout + r.stderr).not.toContain(secret);
  });

  it('on SIGTERM keeps a snapshot in S3, reports failed and exits 2', async () => {
    const task = await world.createTask({ title: 'SIGTERM: reword the README' });
    const run = startRunner(task.id, 'run-stopped');
    while (!world.model.requests().some((q) => JSON.stringify(q.body).includes('SIGTERM: reword'))) {
      if (run.child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    run.child.kill('SIGTERM');
    const r = await run.exited;
    expect(r.code, r.stderr).toBe(2);
    expect(world.statuses(task.id)).toEqual(['todo', 'in_progress', 'failed']);
    expect(world.logs(task.id)).toMatch(/the runner was asked to stop/);
    const prefix = `runs/${task.id}/run-stopped/`;
    const keys = await blobs.list(prefix);
    expect(keys).toEqual(expect.arrayContaining([prefix + 'failed.patch', prefix + 'result.json']));
    expect(JSON.parse((await blobs.get(prefix + 'result.json'))!.toString('utf8'))).toMatchObject({
      status: 'failed',
      reported: true,
    });
    expect(emfOf(r.stdout)).toEqual([expect.objectContaining({ status: 'failed', RunsFailed: 1 })]);
    // The cache the first test's run saved was used (the tests of a file run in order).
    expect(world.logs(task.id)).toMatch(/restored the repository from the code cache/);
  });
});
