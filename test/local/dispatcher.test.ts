/**
 * The local dispatcher and process launcher, with real parts: a FileQueue and a FileBlobStore in a
 * temp dir, the reference Numa backend on 127.0.0.1, a NumaClient, and runner child processes
 * (test/local/fixtures/fake-runner.mjs, which behaves as its task's title says).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../core/config/schema.ts';
import { FileBlobStore } from '../../adapters/local/file-blob-store.ts';
import { FileQueue } from '../../adapters/local/file-queue.ts';
import type { Logger, LogFields } from '../../core/log.ts';
import { NumaClient } from '../../core/numa/client.ts';
import { Redactor } from '../../core/redact.ts';
import { LocalDispatcher, type DispatchRecord } from '../../local/dispatcher.ts';
import {
  isRunnerAlive,
  killGroup,
  ProcessLauncher,
  type ChildExit,
  type RunningChild,
  type SpawnSpec,
} from '../../local/process-launcher.ts';
import { startNumaBackend, type NumaBackend } from '../../servers/numa-backend/index.ts';

const FAKE_RUNNER = path.join(import.meta.dirname, 'fixtures', 'fake-runner.mjs');

interface RunnerEvent {
  event: 'start' | 'end';
  taskId: string;
  runId: string;
  attempt: number;
  pid: number;
}

interface Harness {
  dispatcher: LocalDispatcher;
  ended: Array<{ rec: DispatchRecord; outcome: string }>;
  logs: Array<{ level: string; msg: string; fields?: LogFields }>;
  /** Starts the dispatch loop. */
  start(): void;
  /** Stops the loop (the runs go on). */
  stopLoop(): Promise<void>;
  /** Stops the loop and waits for the runs to end. */
  stop(): Promise<void>;
}

let root: string;
let workDir: string;
let control: string;
let eventsFile: string;
let backend: NumaBackend;
let client: NumaClient;
let appId: number;
/** The dispatch loops started by the current test (stopped after it). */
const loops: Array<() => Promise<void>> = [];

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'numa-dispatch-'));
  workDir = path.join(root, 'work');
  control = path.join(root, 'control');
  eventsFile = path.join(root, 'events.log');
  await mkdir(workDir, { recursive: true });
  await mkdir(control, { recursive: true });
  await writeFile(eventsFile, '');
  backend = await startNumaBackend({ port: 0 });
  client = new NumaClient({ baseUrl: backend.url, maxAttempts: 1, timeoutMs: 5000 });
  appId = Number(
    backend.store.createApplication({ name: 'app', git_repo_url: 'http://127.0.0.1:1/app.git' }).id,
  );
});

afterEach(async () => {
  for (const stopLoop of loops.splice(0)) await stopLoop().catch(() => {});
  // Only the runner processes this test started (each leaves a pid-<pid> file holding its run id).
  for (const name of await readdir(control).catch(() => [])) {
    const m = /^pid-(\d+)$/.exec(name);
    if (!m) continue;
    const runId = await readFile(path.join(control, name), 'utf8').catch(() => '');
    if (runId && isRunnerAlive(Number(m[1]), runId)) killGroup(Number(m[1]), 'SIGKILL');
  }
  await backend.close();
  await rm(root, { recursive: true, force: true });
});

function newQueue(): FileQueue {
  return new FileQueue({ dir: path.join(workDir, 'queue') });
}

function newBlobs(): FileBlobStore {
  return new FileBlobStore({ root: workDir });
}

function makeDispatcher(
  opts: {
    concurrency?: number;
    maxAttempts?: number;
    queue?: FileQueue;
    launcher?: ProcessLauncher;
    env?: Record<string, string>;
  } = {},
): Harness {
  const config = configSchema.parse({
    concurrency: opts.concurrency ?? 2,
    limits: { max_attempts: opts.maxAttempts ?? 2 },
  });
  const ended: Harness['ended'] = [];
  const logs: Harness['logs'] = [];
  const logger: Logger = {
    debug: (msg, fields) => logs.push({ level: 'debug', msg, fields }),
    info: (msg, fields) => logs.push({ level: 'info', msg, fields }),
    warn: (msg, fields) => logs.push({ level: 'warn', msg, fields }),
    error: (msg, fields) => logs.push({ level: 'error', msg, fields }),
    child: () => logger,
  };
  const dispatcher = new LocalDispatcher({
    queue: opts.queue ?? newQueue(),
    blobs: newBlobs(),
    launcher:
      opts.launcher ?? new ProcessLauncher({ command: [process.execPath, FAKE_RUNNER], adoptPollMs: 50 }),
    workDir,
    config: () => config,
    client: () => client,
    logger,
    redactor: new Redactor(),
    runnerSpec: (rec) => ({
      args: ['task', rec.taskId, '--run-id', rec.runId, '--message', JSON.stringify(rec.message)],
      env: {
        PATH: process.env.PATH,
        FAKE_BACKEND_URL: backend.url,
        FAKE_BLOB_ROOT: workDir,
        FAKE_EVENTS: eventsFile,
        FAKE_CONTROL: control,
        ...opts.env,
      },
    }),
    onRunEnded: (rec, outcome) => ended.push({ rec, outcome }),
  });
  let stopLoop: () => Promise<void> = async () => {};
  return {
    dispatcher,
    ended,
    logs,
    start() {
      const ac = new AbortController();
      const loop = dispatcher.run(ac.signal);
      stopLoop = async () => {
        ac.abort();
        await loop;
      };
      loops.push(stopLoop);
    },
    stopLoop: () => stopLoop(),
    async stop() {
      await stopLoop();
      expect(await dispatcher.drain(10_000)).toBe(true);
    },
  };
}

/** A launcher that starts runners but never hears of their exit: the service "died" after starting them. */
class ForgetfulLauncher extends ProcessLauncher {
  override start(spec: SpawnSpec): RunningChild {
    const child = super.start(spec);
    return { ...child, exited: new Promise<ChildExit>(() => {}) };
  }
}

function createTask(title: string): number {
  return Number(backend.store.createTask({ title, application_id: appId }).id);
}

async function send(queue: FileQueue, taskId: number, messageId: number, dedupKey?: string): Promise<void> {
  await queue.send([
    {
      dedupKey: dedupKey ?? `topic-1-msg-${messageId}`,
      body: { task_id: taskId, message_id: messageId, topic_id: 1 },
    },
  ]);
}

async function events(): Promise<RunnerEvent[]> {
  const text = await readFile(eventsFile, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [event, taskId, runId, attempt, pid] = line.split(' ');
      return {
        event: event as RunnerEvent['event'],
        taskId: taskId!,
        runId: runId!,
        attempt: Number(attempt),
        pid: Number(pid),
      };
    });
}

async function startsOf(taskId: number): Promise<RunnerEvent[]> {
  return (await events()).filter((e) => e.event === 'start' && e.taskId === String(taskId));
}

function statuses(taskId: number): string[] {
  return backend.store.statusHistoryOf(taskId).map((h) => h.status);
}

function taskLogs(taskId: number): string {
  return backend.store
    .logsOf(taskId)
    .map((l) => l.logs)
    .join('\n');
}

async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function record(key: string): Promise<DispatchRecord | undefined> {
  const data = await newBlobs().get(`dispatch/${key}.json`);
  return data ? (JSON.parse(data.toString('utf8')) as DispatchRecord) : undefined;
}

async function queueIsEmpty(queue: FileQueue): Promise<boolean> {
  return (await queue.depth()) === 0 && (await queue.inflight()).length === 0;
}

describe('LocalDispatcher: runs that end', () => {
  it('acknowledges a run that ends done, records it, and does not run it again', async () => {
    const queue = newQueue();
    const done = createTask('done');
    const unreported = createTask('done-unreported');
    const failed = createTask('fail');
    const h = makeDispatcher({ queue, concurrency: 3 });
    h.start();
    await send(queue, done, 1);
    await send(queue, unreported, 2);
    await send(queue, failed, 3);
    h.dispatcher.poke();
    await waitFor(() => h.ended.length === 3, 'three runs to end');
    await h.stop();

    const outcome = Object.fromEntries(h.ended.map((e) => [e.rec.taskId, e.outcome]));
    expect(outcome).toEqual({ [done]: 'done', [unreported]: 'done', [failed]: 'failed' });
    expect(statuses(done)).toEqual(['todo', 'in_progress', 'done']);
    // The runner wrote its result without reaching the backend: the dispatcher reports it.
    expect(statuses(unreported)).toEqual(['todo', 'done']);
    // A run that failed (with a result) is not a crash: reported once, by the runner, not re-queued.
    expect(statuses(failed)).toEqual(['todo', 'in_progress', 'failed']);
    expect(taskLogs(failed)).not.toContain('died without reporting');

    expect(await queueIsEmpty(queue)).toBe(true);
    const rec = await record('topic-1-msg-1-a1');
    expect(rec).toMatchObject({ taskId: String(done), attempt: 1, outcome: 'done' });
    expect(rec?.endedAt).toBeTruthy();
    expect(rec?.pid).toBeGreaterThan(0);
    for (const t of [done, unreported, failed]) expect(await startsOf(t)).toHaveLength(1);
    expect(h.dispatcher.runs()).toEqual([]);
  });

  it('reports a crash failed with the reason and the runner output, and re-queues it until max_attempts', async () => {
    const queue = newQueue();
    const crash = createTask('crash');
    const killed = createTask('sigkill');
    const once = createTask('crash-once');
    const h = makeDispatcher({ queue, concurrency: 3, maxAttempts: 2 });
    h.start();
    await send(queue, crash, 1);
    await send(queue, killed, 2);
    await send(queue, once, 3);
    h.dispatcher.poke();
    // crash: 2 runs, sigkill: 2 runs, crash-once: 2 runs (the second done).
    await waitFor(() => h.ended.length === 6, 'six runs to end');
    await h.stop();

    expect((await startsOf(crash)).map((e) => e.attempt)).toEqual([1, 2]);
    expect(statuses(crash)).toEqual(['todo', 'in_progress', 'failed', 'in_progress', 'failed']);
    const crashLogs = taskLogs(crash);
    expect(crashLogs).toContain('exited with code 1');
    expect(crashLogs).toContain('re-queued as attempt 2 of 2');
    expect(crashLogs).toContain('no attempts left');
    // The last lines of the runner's output, not all of it.
    expect(crashLogs).toContain(`fake runner: boom in task ${crash} attempt 1`);
    expect(crashLogs).toContain(`fake runner: boom in task ${crash} attempt 2`);
    expect(crashLogs).toMatch(/fake runner output line 20$/m);
    expect(crashLogs).not.toMatch(/fake runner output line 1$/m);

    expect((await startsOf(killed)).map((e) => e.attempt)).toEqual([1, 2]);
    expect(taskLogs(killed)).toContain('killed by SIGKILL');
    expect(statuses(killed).at(-1)).toBe('failed');

    expect((await startsOf(once)).map((e) => e.attempt)).toEqual([1, 2]);
    expect(statuses(once)).toEqual(['todo', 'in_progress', 'failed', 'in_progress', 'done']);

    // Nothing left to run: no third attempt.
    expect(await queueIsEmpty(queue)).toBe(true);
    expect((await record('topic-1-msg-1-a1'))?.outcome).toBe('crashed');
    expect((await record('topic-1-msg-1-a2'))?.outcome).toBe('crashed');
    expect(await record('topic-1-msg-1-a3')).toBeUndefined();
    expect((await record('topic-1-msg-3-a2'))?.outcome).toBe('done');
  });

  it('reports a runner that could not be started, naming why', async () => {
    const queue = newQueue();
    const t = createTask('done');
    const launcher = new ProcessLauncher({ command: [path.join(root, 'no-such-node')] });
    const h = makeDispatcher({ queue, launcher, maxAttempts: 1 });
    h.start();
    await send(queue, t, 1);
    h.dispatcher.poke();
    await waitFor(() => h.ended.length === 1, 'the run to end');
    await h.stop();
    expect(h.ended[0]?.outcome).toBe('crashed');
    expect(statuses(t)).toEqual(['todo', 'failed']);
    const logs = taskLogs(t);
    expect(logs).toContain('could not be started');
    expect(logs).toContain('ENOENT');
    expect(logs).not.toContain('service restarted');
  });

  it('reports a run whose launch throws (its log file cannot be created) instead of leaving it claimed', async () => {
    const queue = newQueue();
    const t = createTask('done');
    // runs/<task> is a file: the launcher cannot create the run's log folder.
    await mkdir(path.join(workDir, 'runs'), { recursive: true });
    await writeFile(path.join(workDir, 'runs', String(t)), 'not a folder');
    const h = makeDispatcher({ queue, maxAttempts: 2 });
    h.start();
    await send(queue, t, 1);
    h.dispatcher.poke();
    await waitFor(() => h.ended.length === 2, 'both attempts to end');
    await h.stop();
    expect(h.ended.map((e) => [e.rec.attempt, e.outcome])).toEqual([
      [1, 'crashed'],
      [2, 'crashed'],
    ]);
    expect(statuses(t)).toEqual(['todo', 'failed', 'failed']);
    expect(taskLogs(t)).toContain('could not be started');
    expect(await queueIsEmpty(queue)).toBe(true);
    expect(await startsOf(t)).toHaveLength(0);
  });
});

describe('LocalDispatcher: limits', () => {
  it('never runs more than `concurrency` runners at once', async () => {
    const queue = newQueue();
    const tasks = Array.from({ length: 6 }, () => createTask('slow'));
    const h = makeDispatcher({ queue, concurrency: 2, env: { FAKE_SLOW_MS: '400' } });
    for (const [i, t] of tasks.entries()) await send(queue, t, i + 1);
    h.start();
    await waitFor(() => h.ended.length === 6, 'six runs to end', 15_000);
    await h.stop();

    // The runners append start/end in the order they happen; a runner counts as running from
    // before its `start` line to after its `end` line, so this undercounts, never overcounts.
    let running = 0;
    let most = 0;
    for (const e of await events()) {
      running += e.event === 'start' ? 1 : -1;
      most = Math.max(most, running);
    }
    expect(running).toBe(0);
    expect(most).toBe(2);
    expect(h.ended.map((e) => e.outcome)).toEqual(Array(6).fill('done'));
  });

  it('never runs two runs of one task at once: a second message waits for the first run', async () => {
    const queue = newQueue();
    const t = createTask('slow');
    const h = makeDispatcher({ queue, concurrency: 3, env: { FAKE_SLOW_MS: '250' } });
    await send(queue, t, 1);
    await send(queue, t, 2);
    h.start();
    await waitFor(() => h.ended.length === 2, 'both runs to end');
    await h.stop();

    const seq = (await events()).map((e) => `${e.event} ${e.runId}`);
    expect(seq).toHaveLength(4);
    const [r1, r2] = [seq[0]!.split(' ')[1], seq[2]!.split(' ')[1]];
    expect(r1).not.toBe(r2);
    expect(seq).toEqual([`start ${r1}`, `end ${r1}`, `start ${r2}`, `end ${r2}`]);
    expect(statuses(t)).toEqual(['todo', 'in_progress', 'done', 'in_progress', 'done']);
    expect(await queueIsEmpty(queue)).toBe(true);
  });

  it('does not start a second run for a message delivered again (the dispatch record)', async () => {
    const queue = newQueue();
    const t = createTask('done');
    const h = makeDispatcher({ queue });
    h.start();
    await send(queue, t, 7, 'first-delivery');
    h.dispatcher.poke();
    await waitFor(() => h.ended.length === 1, 'the run to end');
    // The same topic message again, under a key the queue has not seen (a second poller, a
    // restored queue): only the dispatch record can tell.
    await send(queue, t, 7, 'second-delivery');
    h.dispatcher.poke();
    await waitFor(
      () => h.logs.some((l) => l.msg.includes('already dispatched')),
      'the dispatcher to skip the message',
    );
    await waitFor(() => queueIsEmpty(queue), 'the message to be acknowledged');
    await h.stop();
    expect(await startsOf(t)).toHaveLength(1);
    expect(h.ended).toHaveLength(1);
    expect(statuses(t)).toEqual(['todo', 'in_progress', 'done']);
  });
});

describe('LocalDispatcher: recover() after the service died', () => {
  /**
   * Runs a first dispatcher that starts runners for `tasks` and then "dies": its loop stops and
   * it never hears of its runners again. Returns once every runner has started.
   */
  async function crashedService(queue: FileQueue, tasks: number[]): Promise<DispatchRecord[]> {
    const launcher = new ForgetfulLauncher({ command: [process.execPath, FAKE_RUNNER] });
    const first = makeDispatcher({ queue, launcher, concurrency: tasks.length });
    for (const [i, t] of tasks.entries()) await send(queue, t, i + 1);
    first.start();
    await waitFor(() => first.dispatcher.runs().length === tasks.length, 'the runners to start');
    await waitFor(async () => (await events()).length >= tasks.length, 'the runners to say they started');
    // The service dies: its loop stops, and it never hears of its runners again.
    await first.stopLoop();
    const recs: DispatchRecord[] = [];
    for (const i of tasks.keys()) recs.push((await record(`topic-1-msg-${i + 1}-a1`))!);
    expect(recs.every((r) => r && r.pid && r.pid > 0)).toBe(true);
    return recs;
  }

  it('adopts a runner still alive and honours its result when it exits', async () => {
    const queue = newQueue();
    const t = createTask('sleep');
    const [rec] = await crashedService(queue, [t]);

    const second = makeDispatcher({ queue: newQueue() });
    await second.dispatcher.recover();
    expect(second.dispatcher.runs()).toMatchObject([{ taskId: String(t), runId: rec!.runId, pid: rec!.pid }]);
    expect(statuses(t)).toEqual(['todo', 'in_progress']);

    await writeFile(path.join(control, `stop-${t}`), '');
    expect(await second.dispatcher.drain(10_000)).toBe(true);
    expect(second.ended.map((e) => e.outcome)).toEqual(['done']);
    expect(statuses(t)).toEqual(['todo', 'in_progress', 'done']);
    expect(await queueIsEmpty(queue)).toBe(true);
    expect(await startsOf(t)).toHaveLength(1);
  });

  it('reports an adopted runner that then dies without a result failed, and re-queues it', async () => {
    const queue = newQueue();
    const t = createTask('sleep');
    const [rec] = await crashedService(queue, [t]);
    const second = makeDispatcher({ queue: newQueue(), maxAttempts: 2 });
    await second.dispatcher.recover();
    expect(second.dispatcher.runs()).toHaveLength(1);

    killGroup(rec!.pid!, 'SIGKILL');
    expect(await second.dispatcher.drain(10_000)).toBe(true);
    expect(second.ended.map((e) => e.outcome)).toEqual(['crashed']);
    expect(statuses(t)).toEqual(['todo', 'in_progress', 'failed']);
    const logs = taskLogs(t);
    expect(logs).toContain(`runner ${rec!.runId} died without reporting a final status`);
    expect(logs).toContain('started before the service restarted');
    expect(logs).toContain(`fake runner ${rec!.runId} for task ${t}, attempt 1`);
    expect(await queue.inflight()).toEqual([]);
    expect((await queue.receive(5)).map((m) => m.body.attempt)).toEqual([2]);
  });

  it('reports a runner that died meanwhile without a result failed, and re-queues it', async () => {
    const queue = newQueue();
    const t = createTask('sleep');
    const [rec] = await crashedService(queue, [t]);
    killGroup(rec!.pid!, 'SIGKILL');
    await waitFor(() => !isRunnerAlive(rec!.pid!, rec!.runId), 'the runner to die');

    const second = makeDispatcher({ queue: newQueue(), maxAttempts: 2 });
    await second.dispatcher.recover();
    expect(second.dispatcher.runs()).toEqual([]);
    expect(statuses(t)).toEqual(['todo', 'in_progress', 'failed']);
    expect(taskLogs(t)).toContain(`runner ${rec!.runId} died without reporting a final status`);
    expect(taskLogs(t)).toContain('re-queued as attempt 2 of 2');
    expect((await queue.inflight()).length).toBe(0);
    const next = await queue.receive(5);
    expect(next.map((m) => m.body)).toEqual([{ task_id: t, message_id: 1, topic_id: 1, attempt: 2 }]);
    expect((await record('topic-1-msg-1-a1'))?.outcome).toBe('crashed');
  });

  it('honours the result of a runner that finished while the service was down', async () => {
    const queue = newQueue();
    const t = createTask('sleep');
    const [rec] = await crashedService(queue, [t]);
    await writeFile(path.join(control, `stop-${t}`), '');
    await waitFor(() => !isRunnerAlive(rec!.pid!, rec!.runId), 'the runner to finish');

    const second = makeDispatcher({ queue: newQueue() });
    await second.dispatcher.recover();
    expect(second.ended.map((e) => e.outcome)).toEqual(['done']);
    expect(statuses(t)).toEqual(['todo', 'in_progress', 'done']);
    expect(await queueIsEmpty(queue)).toBe(true);
  });

  it('puts a claimed message that never started back on the queue', async () => {
    const queue = newQueue();
    const t = createTask('done');
    await send(queue, t, 1);
    const [claimed] = await queue.receive(1);
    expect(claimed).toBeDefined();
    expect(await queue.depth()).toBe(0);

    const second = makeDispatcher({ queue: newQueue() });
    await second.dispatcher.recover();
    expect(await queue.depth()).toBe(1);
    expect(await queue.inflight()).toEqual([]);
    expect(statuses(t)).toEqual(['todo']);

    // And it then runs, once.
    second.start();
    await waitFor(() => second.ended.length === 1, 'the run to end');
    await second.stop();
    expect(statuses(t)).toEqual(['todo', 'in_progress', 'done']);
    expect(await startsOf(t)).toHaveLength(1);
  });

  it('does not settle a run twice when the service died after settling it but before the ack', async () => {
    const t = createTask('crash');
    /** The service dies at the ack: the ack never happens, and nothing more is received. */
    class DiesAtAck extends FileQueue {
      dead = false;
      override ack(): Promise<void> {
        this.dead = true;
        return Promise.reject(new Error('the service died before the ack'));
      }
      override receive(max: number) {
        return this.dead ? Promise.resolve([]) : super.receive(max);
      }
    }
    const dying = new DiesAtAck({ dir: path.join(workDir, 'queue') });
    const first = makeDispatcher({ queue: dying, maxAttempts: 2 });
    await send(dying, t, 1);
    first.start();
    await waitFor(
      () => first.logs.some((l) => l.msg === 'could not settle a run'),
      'the first settle to stop at the ack',
    );
    await first.stop();
    expect(statuses(t)).toEqual(['todo', 'in_progress', 'failed']);

    const queue = newQueue();
    const second = makeDispatcher({ queue, maxAttempts: 2 });
    await second.dispatcher.recover();
    expect(statuses(t)).toEqual(['todo', 'in_progress', 'failed']);
    expect(taskLogs(t).match(/died without reporting/g)).toHaveLength(1);
    expect(await queue.inflight()).toEqual([]);
    // The re-queue the first settle made is there once.
    expect((await queue.receive(5)).map((m) => m.body.attempt)).toEqual([2]);
  });
});

describe('LocalDispatcher.drain', () => {
  it('waits for running runs to end and be settled', async () => {
    const queue = newQueue();
    const t = createTask('sleep');
    const h = makeDispatcher({ queue });
    h.start();
    await send(queue, t, 1);
    h.dispatcher.poke();
    await waitFor(async () => (await startsOf(t)).length === 1, 'the runner to start');
    expect(await h.dispatcher.drain(200)).toBe(false);
    expect(h.dispatcher.runs()).toHaveLength(1);

    await writeFile(path.join(control, `stop-${t}`), '');
    expect(await h.dispatcher.drain(10_000)).toBe(true);
    // Settled by the time drain resolves: reported, recorded, acknowledged.
    expect(h.dispatcher.runs()).toEqual([]);
    expect(h.ended.map((e) => e.outcome)).toEqual(['done']);
    expect((await record('topic-1-msg-1-a1'))?.outcome).toBe('done');
    expect(await queueIsEmpty(queue)).toBe(true);
    expect(existsSync(path.join(workDir, 'runs', String(t)))).toBe(true);
  });
});
