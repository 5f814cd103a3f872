/**
 * The AWS runner entry (`runAwsRunner`) in-process, with the task and config in an environment
 * object, the local FileBlobStore in place of S3, and a stand-in for the process's signals; the
 * reference backend, the real git server and the scripted model on 127.0.0.1. Covers: a done run
 * with its artifacts, code cache and EMF metrics; SIGTERM (snapshot, `failed` reported, exit 2);
 * a run that does not end within the stop grace (exit 1); the run timeout; the environment
 * checks (exit 64).
 */
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileBlobStore } from '../../adapters/local/file-blob-store.ts';
import { silentLogger } from '../../core/log.ts';
import type { BlobStore } from '../../core/ports.ts';
import {
  loadRunnerConfig,
  readRunnerEnv,
  runAwsRunner,
  type AwsRunnerOptions,
} from '../../container/runner/aws-main.ts';
import { codeCacheKey } from '../../container/runner/code-cache.ts';
import { loadRecordedSession, type ScriptedTurn } from '../../servers/scripted-model/index.ts';
import {
  API_TOKEN,
  createWorld,
  GIT_TOKEN,
  MODEL_KEY,
  RECORDED_SESSION,
  type World,
} from '../helpers/world.ts';

/** Reads README.md (answer delayed by `delayMs`), rewords it, finishes. */
const slowTurns = (delayMs: number): ScriptedTurn[] => [
  { tool_calls: [{ name: 'read_file', arguments: { path: 'README.md' } }], delayMs },
  {
    tool_calls: [
      {
        name: 'edit_file',
        arguments: { path: 'README.md', old_text: 'Run the tests', new_text: 'Always run the tests' },
      },
    ],
  },
  { tool_calls: [{ name: 'finish', arguments: { summary: 'README', commit_message: 'README: wording' } }] },
];

const CONFIG_YAML = `
backend:
  timeout: 5
  max_attempts: 2
git:
  email: avatar@test.example
logs:
  flush_interval: 0.3
limits:
  repair_rounds: 1
`;

describe('AWS runner entry', () => {
  let world: World;
  let scratch: string;

  beforeAll(async () => {
    world = await createWorld({
      model: {
        turns: [],
        sessions: [
          { match: 'STOPPED', turns: slowTurns(20_000) },
          { match: 'STUCK', turns: slowTurns(20_000) },
          { match: 'TIMEOUT', turns: slowTurns(20_000) },
          { match: 'titleCase', turns: loadRecordedSession(RECORDED_SESSION), repeat: true },
        ],
      },
    });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'numa-aws-main-'));
  });

  afterAll(async () => {
    await world?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  let seq = 0;
  const envFor = (taskId: number, extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
    const runId = `run-${++seq}`;
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NUMA_TASK_ID: String(taskId),
      NUMA_RUN_ID: runId,
      NUMA_MESSAGE: JSON.stringify({ task_id: taskId, message_id: 100 + seq, topic_id: 1, attempt: 1 }),
      NUMA_BACKEND_URL: world.backend.url,
      NUMA_API_TOKEN: API_TOKEN,
      GIT_TOKEN,
      GIT_USERNAME: 'avatar',
      OPENAI_API_KEY: MODEL_KEY,
      OPENAI_BASE_URL: world.model.baseURL,
      NUMA_MODEL: 'gpt-4o-mini',
      NUMA_WORK_DIR: path.join(scratch, `work-${seq}`),
      // git.allowed_hosts: the world's git server (a loopback port), where GIT_TOKEN may go.
      NUMA_CONFIG_YAML: CONFIG_YAML.replace(
        'git:\n',
        `git:\n  allowed_hosts: ['${new URL(world.git.url).host}']\n`,
      ),
      ...extra,
    };
  };

  /** Runs with everything captured; `signals` lets the test send SIGTERM. */
  const start = (env: NodeJS.ProcessEnv, opts: Partial<AwsRunnerOptions> = {}) => {
    const signals = new EventEmitter();
    const metrics: string[] = [];
    const lines: string[] = [];
    const errors: string[] = [];
    const blobs = 'blobs' in opts ? opts.blobs : new FileBlobStore({ root: path.join(scratch, 'blobs') });
    const exit = runAwsRunner({
      env,
      blobs,
      signals,
      logger: silentLogger,
      writeMetrics: (l) => metrics.push(l),
      writeLine: (l) => lines.push(l),
      writeError: (l) => errors.push(l),
      ...opts,
    });
    return { exit, signals, metrics, lines, errors, blobs: blobs! };
  };

  const waitFor = async (cond: () => boolean) => {
    while (!cond()) await new Promise((r) => setTimeout(r, 20));
  };

  it('runs the task: exit 0, artifacts and the code cache in the blob store, EMF metrics on stdout', async () => {
    const task = await world.createTask({ title: 'Add titleCase (AWS runner)' });
    const env = envFor(task.id);
    const r = start(env);
    expect(await r.exit).toBe(0);
    expect(world.statuses(task.id)).toEqual(['todo', 'in_progress', 'done']);
    const prefix = `runs/${task.id}/${env.NUMA_RUN_ID}/`;
    expect(await r.blobs.list(prefix)).toEqual(
      expect.arrayContaining(
        ['meta.json', 'result.json', 'task.log', 'transcript.jsonl'].map((f) => prefix + f),
      ),
    );
    const result = JSON.parse((await r.blobs.get(prefix + 'result.json'))!.toString('utf8')) as {
      status: string;
    };
    expect(result.status).toBe('done');
    expect(await r.blobs.list('cache/git/')).toEqual([codeCacheKey(world.repoUrl)]);
    for (const key of await r.blobs.list(prefix)) {
      const text = (await r.blobs.get(key))!.toString('utf8');
      for (const secret of [GIT_TOKEN, API_TOKEN, MODEL_KEY]) expect(text).not.toContain(secret);
    }
    // The task log lines went to stdout (the container's log).
    expect(r.lines.join('\n')).toMatch(/pushed [0-9a-f]{12} to /);

    expect(r.metrics).toHaveLength(1);
    const emf = JSON.parse(r.metrics[0]!) as Record<string, unknown> & {
      _aws: {
        CloudWatchMetrics: Array<{
          Namespace: string;
          Dimensions: string[][];
          Metrics: Array<{ Name: string }>;
        }>;
      };
    };
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'NumaAvatar',
      Dimensions: [['service']],
    });
    expect(emf).toMatchObject({
      service: 'numa-avatar',
      status: 'done',
      task_id: String(task.id),
      run_id: env.NUMA_RUN_ID,
      RunsDone: 1,
      RunsFailed: 0,
      RunsBlocked: 0,
    });
    expect(emf.RunPromptTokens).toBeGreaterThan(0);
    expect(emf.RunCompletionTokens).toBeGreaterThan(0);
    expect(emf.RunDurationSeconds).toBeGreaterThan(0);
    // gpt-4o-mini has a known price: the cost is the tokens at that price.
    expect(emf.RunCostUsd).toBeCloseTo(
      ((emf.RunPromptTokens as number) * 0.15 + (emf.RunCompletionTokens as number) * 0.6) / 1e6,
      5,
    );
  });

  it('on SIGTERM keeps a snapshot, reports failed and exits 2', async () => {
    const task = await world.createTask({ title: 'STOPPED: reword the README' });
    const env = envFor(task.id);
    const r = start(env);
    await waitFor(() =>
      world.model.requests().some((q) => JSON.stringify(q.body).includes('STOPPED: reword')),
    );
    r.signals.emit('SIGTERM');
    r.signals.emit('SIGTERM');
    expect(await r.exit).toBe(2);
    expect(world.statuses(task.id)).toEqual(['todo', 'in_progress', 'failed']);
    expect(world.logs(task.id)).toMatch(/run interrupted while developing \(the runner was asked to stop\)/);
    const prefix = `runs/${task.id}/${env.NUMA_RUN_ID}/`;
    const keys = await r.blobs.list(prefix);
    expect(keys).toContain(prefix + 'failed.patch');
    const result = JSON.parse((await r.blobs.get(prefix + 'result.json'))!.toString('utf8')) as Record<
      string,
      unknown
    >;
    expect(result).toMatchObject({ status: 'failed', reported: true });
    expect(JSON.parse(r.metrics[0]!)).toMatchObject({ status: 'failed', RunsFailed: 1, RunsDone: 0 });
    // The listeners are removed once the run is over.
    expect(r.signals.listenerCount('SIGTERM')).toBe(0);
  });

  it('exits 1 without waiting further when the run does not end within the stop grace', async () => {
    const task = await world.createTask({ title: 'STUCK: reword the README' });
    const env = envFor(task.id);
    const files = new FileBlobStore({ root: path.join(scratch, 'blobs-stuck') });
    // Storing the result never completes: the run cannot end.
    const stuck: BlobStore = {
      get: (k) => files.get(k),
      put: (k, d) => (k.endsWith('result.json') ? new Promise<void>(() => {}) : files.put(k, d)),
      putIfAbsent: (k, d) => files.putIfAbsent(k, d),
      list: (p) => files.list(p),
      delete: (k) => files.delete(k),
    };
    const r = start(env, { blobs: stuck, stopGraceMs: 300 });
    await waitFor(() => world.statuses(task.id).at(-1) === 'in_progress');
    r.signals.emit('SIGTERM');
    expect(await r.exit).toBe(1);
    expect(JSON.parse(r.metrics[0]!)).toMatchObject({
      status: 'crash',
      RunsFailed: 0,
      error_code: 'RUN_ABORTED',
    });
  });

  it('enforces NUMA_RUN_TIMEOUT_SECONDS: the run fails with the timeout as its reason', async () => {
    const task = await world.createTask({ title: 'TIMEOUT: reword the README' });
    const env = envFor(task.id, { NUMA_RUN_TIMEOUT_SECONDS: '1' });
    const r = start(env);
    expect(await r.exit).toBe(2);
    expect(world.statuses(task.id).at(-1)).toBe('failed');
    expect(world.logs(task.id)).toMatch(/run timeout: the run took longer than limits\.run_timeout \(1 s\)/);
    expect(JSON.parse(r.metrics[0]!)).toMatchObject({ status: 'failed', error_code: 'RUN_TIMEOUT' });
  });

  describe('environment checks (exit 64, nothing run)', () => {
    const cases: Array<[string, Record<string, string | undefined>, RegExp]> = [
      ['no task id', { NUMA_TASK_ID: undefined, NUMA_MESSAGE: undefined }, /NUMA_TASK_ID is not set/],
      [
        'a bad task id',
        { NUMA_TASK_ID: '12/../3', NUMA_MESSAGE: undefined },
        /NUMA_TASK_ID: expected a task id/,
      ],
      [
        'a message for another task',
        { NUMA_TASK_ID: '5', NUMA_MESSAGE: '{"task_id": 6}' },
        /NUMA_MESSAGE is for task 6/,
      ],
      ['a malformed message', { NUMA_MESSAGE: '{"task_id": ' }, /NUMA_MESSAGE: MESSAGE_MALFORMED/],
      [
        'a bad run timeout',
        { NUMA_RUN_TIMEOUT_SECONDS: '10m' },
        /NUMA_RUN_TIMEOUT_SECONDS: expected whole seconds/,
      ],
      ['a bad run id', { NUMA_RUN_ID: 'a b' }, /NUMA_RUN_ID: expected/],
      [
        'a secret in NUMA_CONFIG_YAML',
        { NUMA_CONFIG_YAML: 'git:\n  token: abcdefgh\n' },
        /NUMA_CONFIG_YAML sets git\.token/,
      ],
      [
        'an invalid NUMA_CONFIG_YAML',
        { NUMA_CONFIG_YAML: 'concurrency: lots\n' },
        /NUMA_CONFIG_YAML: concurrency/,
      ],
      ['no bucket', { BUCKET: undefined }, /BUCKET is not set/],
    ];
    it.each(cases)('%s', async (_name, extra, message) => {
      const env = { ...envFor(1), ...extra };
      const r = start(env, extra.BUCKET === undefined && 'BUCKET' in extra ? { blobs: undefined } : {});
      expect(await r.exit).toBe(64);
      expect(r.errors.join('\n')).toMatch(message);
      expect(JSON.parse(r.metrics[0]!)).toMatchObject({ status: 'crash', RunsFailed: 0 });
    });
  });

  it('loads the config: NUMA_CONFIG_YAML under the environment, the run timeout, JSON logs, a work dir from here', async () => {
    const env = {
      NUMA_CONFIG_YAML: 'work_dir: wd\nmodel:\n  name: from-yaml\nlimits:\n  max_steps: 7\n',
      NUMA_MODEL: 'from-env',
    };
    const loaded = await loadRunnerConfig(env, {
      ...readRunnerEnv({ NUMA_TASK_ID: '1' }),
      runTimeoutSeconds: 120,
    });
    expect(loaded.config.model.name).toBe('from-env');
    expect(loaded.config.limits).toMatchObject({ max_steps: 7, run_timeout: 120 });
    expect(loaded.config.logs.format).toBe('json');
    expect(loaded.workDir).toBe(path.resolve('wd'));
    const text = await loadRunnerConfig(
      { NUMA_CONFIG_YAML: 'logs:\n  format: text\n' },
      readRunnerEnv({ NUMA_TASK_ID: '1' }),
    );
    expect(text.config.logs.format).toBe('text');
  });

  it('reads the task from the message when NUMA_TASK_ID is absent, and numbers a run id when none is given', () => {
    const env = readRunnerEnv({ NUMA_MESSAGE: '{"task_id": 42, "reason": "again"}' });
    expect(env).toMatchObject({ taskId: '42', message: { task_id: 42, reason: 'again' } });
    expect(env.runId).toMatch(/^[A-Za-z0-9._-]+$/);
  });
});
