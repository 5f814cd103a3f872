import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AvatarError } from '../../core/errors.ts';
import { FileQueue } from '../../adapters/local/file-queue.ts';
import { FileVersionedStore } from '../../adapters/local/file-versioned-store.ts';
import { createLogger } from '../../core/log.ts';
import type { Id } from '../../core/message.ts';
import { NumaClient } from '../../core/numa/client.ts';
import { compareIds, isAfter } from '../../core/polling/ids.ts';
import { runPollLoop } from '../../core/polling/loop.ts';
import { pollOnce, type CursorState, type PollDeps } from '../../core/polling/poller.ts';
import type { Clock, OutgoingMessage, TaskQueue, VersionedStore } from '../../core/ports.ts';
import {
  startNumaBackend,
  type NumaBackend,
  type NumaBackendOptions,
} from '../../servers/numa-backend/index.ts';

// ---- helpers ----

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function backend(opts: NumaBackendOptions = {}): Promise<NumaBackend> {
  const b = await startNumaBackend({ port: 0, seed: 1, ...opts });
  cleanups.push(() => b.close());
  return b;
}

async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'numa-poller-'));
  cleanups.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

interface Setup {
  dir: string;
  queue: FileQueue;
  cursor: FileVersionedStore<CursorState>;
  client: NumaClient;
  deps: PollDeps;
}

async function setup(baseUrl: string): Promise<Setup> {
  const dir = await tempDir();
  const queue = new FileQueue({ dir: path.join(dir, 'queue') });
  const cursor = new FileVersionedStore<CursorState>({ file: path.join(dir, 'state', 'cursor.json') });
  const client = new NumaClient({ baseUrl, maxAttempts: 1, timeoutMs: 10_000 });
  return { dir, queue, cursor, client, deps: { client, queue, cursor } };
}

async function after(cursor: VersionedStore<CursorState>): Promise<Id | undefined> {
  return (await cursor.load())?.value.after;
}

async function queued(queue: FileQueue): Promise<Array<{ task_id: Id; message_id?: Id }>> {
  const got = await queue.receive(1000);
  for (const m of got) await queue.release(m.receipt, 0);
  return got.map((m) => ({ task_id: m.body.task_id, message_id: m.body.message_id }));
}

async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A queue that delegates to a real one, with a hook before (or after) send. */
function wrapQueue(
  inner: TaskQueue,
  hooks: {
    beforeSend?: (m: OutgoingMessage[]) => Promise<void>;
    afterSend?: (m: OutgoingMessage[]) => Promise<void>;
  },
): TaskQueue {
  return {
    send: async (m) => {
      await hooks.beforeSend?.(m);
      await inner.send(m);
      await hooks.afterSend?.(m);
    },
    receive: (n) => inner.receive(n),
    ack: (r) => inner.ack(r),
    release: (r, d) => inner.release(r, d),
    deadLetter: (l) => inner.deadLetter(l),
    depth: () => inner.depth(),
  };
}

/** A small Numa backend double answering the topic and a fixed message list (string ids and other shapes). */
async function messageServer(topic: unknown, list: () => unknown): Promise<string> {
  const server: Server = createServer((req, res) => {
    const body = req.url?.startsWith('/api/topics/tasks') ? topic : list();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const PLAIN = { wait: 0, limit: 50 };

// ---- ids ----

describe('compareIds / isAfter', () => {
  it('integer-like ids compare numerically, as numbers or strings', () => {
    expect(compareIds('10', '9')).toBeGreaterThan(0);
    expect(compareIds(9, '10')).toBeLessThan(0);
    expect(compareIds('007', 7)).toBe(0);
    expect(compareIds('123456789012345678901234567890', '123456789012345678901234567889')).toBeGreaterThan(0);
    expect(isAfter('10', '9')).toBe(true);
    expect(isAfter(9, '10')).toBe(false);
    expect(isAfter(1, undefined)).toBe(true);
  });

  it('other ids compare by length, then code points', () => {
    expect(compareIds('b', 'a')).toBeGreaterThan(0);
    expect(compareIds('msg-10', 'msg-9')).toBeGreaterThan(0);
    expect(compareIds('abc', 'abc')).toBe(0);
  });
});

// ---- pollOnce ----

describe('pollOnce', () => {
  it('forwards new messages in id order with a dedup key, then moves the cursor', async () => {
    const b = await backend();
    for (const tid of [10, 11, 12]) b.store.publish(1, { task_id: tid });
    const s = await setup(b.url);
    const r = await pollOnce(s.deps, PLAIN);
    expect(r).toMatchObject({
      topicId: 1,
      received: 3,
      forwarded: 3,
      deadLettered: 0,
      alreadySeen: 0,
      cursor: 3,
    });
    const got = await s.queue.receive(10);
    expect(got.map((m) => m.body)).toEqual([
      { task_id: 10, message_id: 1, topic_id: 1, attempt: 1, created_at: expect.any(String) },
      { task_id: 11, message_id: 2, topic_id: 1, attempt: 1, created_at: expect.any(String) },
      { task_id: 12, message_id: 3, topic_id: 1, attempt: 1, created_at: expect.any(String) },
    ]);
    for (const id of [1, 2, 3]) expect(await s.queue.hasSent(`topic-1-msg-${id}`)).toBe(true);
    expect((await s.cursor.load())?.value).toMatchObject({ topic_id: 1, after: 3 });

    // Nothing new: nothing forwarded, cursor unchanged.
    const again = await pollOnce(s.deps, PLAIN);
    expect(again).toMatchObject({ forwarded: 0, received: 0, cursor: 3 });
    expect(await s.queue.depth()).toBe(0);
  });

  it('asks for messages after the cursor, at most `limit` at a time', async () => {
    const b = await backend();
    for (let i = 1; i <= 5; i++) b.store.publish(1, { task_id: 100 + i });
    const s = await setup(b.url);
    expect((await pollOnce(s.deps, { wait: 0, limit: 2 })).cursor).toBe(2);
    expect((await pollOnce(s.deps, { wait: 0, limit: 2 })).cursor).toBe(4);
    expect((await pollOnce(s.deps, { wait: 0, limit: 2 })).cursor).toBe(5);
    expect((await queued(s.queue)).map((m) => m.task_id)).toEqual([101, 102, 103, 104, 105]);
  });

  it('the topic id is looked up once and kept with the cursor', async () => {
    const b = await backend();
    const s = await setup(b.url);
    await pollOnce(s.deps, PLAIN);
    expect((await s.cursor.load())?.value.topic_id).toBe(1);
    // A stored topic id is used as it is (here one the backend does not know: 404, not a new lookup).
    await s.cursor.save({ topic_id: 77, after: 0 }, (await s.cursor.load())?.version);
    await expect(pollOnce(s.deps, PLAIN)).rejects.toMatchObject({ code: 'BACKEND_NOT_FOUND' });
  });

  it.each(['before', 'after'] as const)(
    'send fails (%s writing): the cursor does not move, the next poll forwards the same messages, the queue keeps one copy',
    async (when) => {
      const b = await backend();
      for (const tid of [1, 2, 3]) b.store.publish(1, { task_id: tid });
      const s = await setup(b.url);
      let failures = 1;
      const fail = async () => {
        if (failures-- > 0) throw new AvatarError('QUEUE_IO', 'disk full (test)');
      };
      const queue = wrapQueue(s.queue, when === 'before' ? { beforeSend: fail } : { afterSend: fail });
      const deps = { ...s.deps, queue };

      await expect(pollOnce(deps, PLAIN)).rejects.toThrow('disk full (test)');
      expect(await after(s.cursor)).toBeUndefined();

      const r = await pollOnce(deps, PLAIN);
      expect(r).toMatchObject({ forwarded: 3, cursor: 3 });
      expect(await after(s.cursor)).toBe(3);
      expect((await queued(s.queue)).map((m) => m.message_id)).toEqual([1, 2, 3]);
    },
  );

  it('malformed messages are dead-lettered with a reason naming the field, and do not block later ones', async () => {
    const b = await backend();
    b.store.publish(1, { task_id: 1 });
    b.store.publish(1, { taskId: 2 }); // no task_id
    b.store.publish(1, { task_id: null });
    b.store.publish(1, 'just a string');
    b.store.publish(1, { task_id: '' });
    b.store.publish(1, { task_id: 6 });
    const s = await setup(b.url);
    const r = await pollOnce(s.deps, PLAIN);
    expect(r).toMatchObject({ received: 6, forwarded: 2, deadLettered: 4, cursor: 6 });
    expect((await queued(s.queue)).map((m) => m.task_id)).toEqual([1, 6]);

    const dead = await s.queue.deadLetters();
    expect(dead.map((d) => d.reason)).toEqual([
      'message 2: data.task_id: missing',
      expect.stringMatching(/^message 3: data\.task_id: .*\(got null\)$/),
      'message 4: data: expected an object with task_id, got the string "just a string"',
      expect.stringMatching(/^message 5: data\.task_id: /),
    ]);
    // The whole message is kept for a person to inspect.
    expect(dead[0]!.raw).toMatchObject({ id: 2, topic_id: 1, data: { taskId: 2 } });
    expect(dead[0]!.source).toBe('topic 1');

    // Handled: not dead-lettered again.
    await pollOnce(s.deps, PLAIN);
    expect(await s.queue.deadLetters()).toHaveLength(4);
  });

  it('a topic made only of malformed messages still moves the cursor', async () => {
    const b = await backend();
    b.store.publish(1, []);
    b.store.publish(1, { task_id: { nested: 1 } });
    const s = await setup(b.url);
    expect(await pollOnce(s.deps, PLAIN)).toMatchObject({ forwarded: 0, deadLettered: 2, cursor: 2 });
  });

  it('entries without an id are dead-lettered too', async () => {
    const url = await messageServer({ id: 1, name: 'tasks' }, () => ({
      data: [{ data: { task_id: 5 } }, { id: 2, data: { task_id: 6 } }],
    }));
    const s = await setup(url);
    const r = await pollOnce(s.deps, PLAIN);
    expect(r).toMatchObject({ forwarded: 1, deadLettered: 1, cursor: 2 });
    const dead = await s.queue.deadLetters();
    expect(dead[0]!.reason).toMatch(/^data\[0\]: id: /);
    expect(dead[0]!.raw).toEqual({ data: { task_id: 5 } });
  });

  it('messages at or below the cursor that the backend sends again are ignored', async () => {
    const b = await backend();
    for (const tid of [1, 2, 3]) b.store.publish(1, { task_id: tid });
    const s = await setup(b.url);
    await pollOnce(s.deps, PLAIN);
    b.store.publish(1, { task_id: 4 });
    b.setFaults({ duplicateRate: 1 });
    const r = await pollOnce(s.deps, PLAIN);
    expect(b.faultCounts().duplicate).toBe(1);
    expect(r).toMatchObject({ received: 4, alreadySeen: 3, forwarded: 1, cursor: 4 });
    expect((await queued(s.queue)).map((m) => m.task_id)).toEqual([1, 2, 3, 4]);
  });

  it('string ids compare numerically ("10" comes after "9"), and a repeated id is forwarded once', async () => {
    let list: unknown[] = [
      { id: '10', topic_id: 't1', data: { task_id: 'T-10' } },
      { id: '8', topic_id: 't1', data: { task_id: 'T-8' } },
      { id: '9', topic_id: 't1', data: { task_id: 'T-9' } },
      { id: '10', topic_id: 't1', data: { task_id: 'T-10' } },
    ];
    const url = await messageServer({ id: 't1', name: 'tasks' }, () => ({ data: list }));
    const s = await setup(url);
    await s.cursor.save({ topic_id: 't1', after: '8' }, undefined);

    const r = await pollOnce(s.deps, PLAIN);
    expect(r).toMatchObject({ topicId: 't1', forwarded: 2, alreadySeen: 2, cursor: '10' });
    expect(await queued(s.queue)).toEqual([
      { task_id: 'T-9', message_id: '9' },
      { task_id: 'T-10', message_id: '10' },
    ]);
    expect(await s.queue.hasSent('topic-t1-msg-10')).toBe(true);

    // The same list again (a backend that ignores `after`), plus an older one: nothing is forwarded.
    list = [...list, { id: '2', topic_id: 't1', data: { task_id: 'T-2' } }];
    const again = await pollOnce(s.deps, PLAIN);
    expect(again).toMatchObject({ forwarded: 0, alreadySeen: 5, cursor: '10' });
    expect(await after(s.cursor)).toBe('10');
  });

  it('a backend that does not long-poll: answeredAtOnce once nothing is new', async () => {
    const b = await backend({ longPolling: false });
    for (const tid of [1, 2]) b.store.publish(1, { task_id: tid });
    const s = await setup(b.url);
    const first = await pollOnce(s.deps, { wait: 5, limit: 50 });
    expect(first).toMatchObject({ forwarded: 2, answeredAtOnce: false });
    const second = await pollOnce(s.deps, { wait: 5, limit: 50 });
    expect(second).toMatchObject({ forwarded: 0, alreadySeen: 2, answeredAtOnce: true });
  });

  it.each([0, 1])(
    'with wait=%i an empty answer counts as answered at once (the loop then sleeps)',
    async (wait) => {
      const b = await backend({ longPolling: false });
      const s = await setup(b.url);
      expect((await pollOnce(s.deps, { wait, limit: 50 })).answeredAtOnce).toBe(true);
    },
  );

  it(
    'a long poll returns as soon as a message is published during the wait',
    { timeout: 15_000 },
    async () => {
      const b = await backend({ maxWaitSeconds: 30 });
      const s = await setup(b.url);
      await pollOnce(s.deps, PLAIN); // topic id
      const poll = pollOnce(s.deps, { wait: 30, limit: 50 });
      await until(() => b.pendingPolls() === 1, 'the long poll to be parked');
      b.store.publish(1, { task_id: 42 });
      const r = await poll;
      expect(r).toMatchObject({ forwarded: 1, cursor: 1, answeredAtOnce: false });
      expect(await queued(s.queue)).toEqual([{ task_id: 42, message_id: 1 }]);
    },
  );

  it('two pollers racing on one cursor never move it back', async () => {
    const b = await backend();
    for (let i = 1; i <= 5; i++) b.store.publish(1, { task_id: i });
    const s = await setup(b.url);
    await s.cursor.save({ topic_id: 1 }, undefined);

    // A reads messages 1-2, then stalls before queueing them; B reads and queues 1-5 meanwhile.
    let release!: () => void;
    const stalled = new Promise<void>((r) => (release = r));
    let aSending = false;
    const slowQueue = wrapQueue(s.queue, {
      beforeSend: async () => {
        aSending = true;
        await stalled;
      },
    });
    const a = pollOnce({ ...s.deps, queue: slowQueue }, { wait: 0, limit: 2 });
    await until(() => aSending, 'poller A to reach send');
    const rb = await pollOnce(s.deps, { wait: 0, limit: 5 });
    expect(rb.cursor).toBe(5);
    release();
    const ra = await a;
    expect(ra.cursor).toBe(2);
    expect(await after(s.cursor)).toBe(5);
    expect((await queued(s.queue)).map((m) => m.task_id)).toEqual([1, 2, 3, 4, 5]);
  });

  it('many pollers at once: every save moves the cursor forward, and nothing is queued twice', async () => {
    const b = await backend();
    const s = await setup(b.url);
    const saved: Id[] = [];
    const recording: VersionedStore<CursorState> = {
      load: () => s.cursor.load(),
      save: async (value, expected) => {
        const ok = await s.cursor.save(value, expected);
        if (ok && value.after !== undefined) saved.push(value.after);
        return ok;
      },
    };
    let published = 0;
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 7; i++) b.store.publish(1, { task_id: ++published });
      await Promise.all(
        [1, 3, 2, 7, 5].map((limit) => pollOnce({ ...s.deps, cursor: recording }, { wait: 0, limit })),
      );
    }
    while ((await pollOnce(s.deps, PLAIN)).forwarded > 0);
    for (let i = 1; i < saved.length; i++)
      expect(compareIds(saved[i]!, saved[i - 1]!)).toBeGreaterThanOrEqual(0);
    expect(await after(s.cursor)).toBe(published);
    const ids = (await queued(s.queue)).map((m) => m.task_id);
    expect(ids).toHaveLength(published);
    expect(new Set(ids).size).toBe(published);
  });
});

// ---- runPollLoop ----

interface Line {
  level: string;
  msg: string;
  [k: string]: unknown;
}

function capture() {
  const lines: Line[] = [];
  const log = createLogger({
    level: 'debug',
    format: 'json',
    write: (l) => lines.push(JSON.parse(l) as Line),
  });
  return { lines, log };
}

/** A clock whose sleeps are recorded and end at the next turn of the event loop (or at abort). */
function fastClock(): Clock & { sleeps: number[] } {
  let t = Date.UTC(2025, 7, 3, 10, 0, 0);
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: (ms) => {
      sleeps.push(ms);
      t += ms;
      return new Promise((resolve) => setImmediate(resolve));
    },
  };
}

describe('runPollLoop', () => {
  it('survives a backend answering 5xx for a while; logs the outage once at warn and its end once at info', async () => {
    const b = await backend();
    b.store.publish(1, { task_id: 1 });
    b.setFaults({ errorRate: 1 });
    const s = await setup(b.url);
    const { lines, log } = capture();
    const clock = fastClock();
    const ac = new AbortController();
    const errors: number[] = [];
    let polls = 0;
    await runPollLoop({
      client: () => s.client,
      queue: s.queue,
      cursor: s.cursor,
      log,
      clock,
      random: () => 0.5,
      signal: ac.signal,
      settings: { wait: () => 0, limit: () => 50, intervalSeconds: () => 5 },
      hooks: {
        onError: (_err, consecutive) => {
          errors.push(consecutive);
          if (consecutive === 4) b.setFaults({});
        },
        onPoll: () => {
          if (++polls === 3) ac.abort();
        },
      },
    });
    expect(errors).toEqual([1, 2, 3, 4]);
    expect(b.faultCounts().error).toBe(4);
    const warns = lines.filter((l) => l.level === 'warn');
    expect(warns).toHaveLength(1);
    expect(warns[0]!.msg).toContain('polling failed');
    expect(String(warns[0]!.error)).toContain('BACKEND_UNAVAILABLE');
    const back = lines.filter((l) => l.level === 'info' && l.msg === 'backend reachable again');
    expect(back).toHaveLength(1);
    expect(back[0]).toMatchObject({ failed_polls: 4 });
    expect(lines.filter((l) => l.level === 'debug' && l.msg === 'polling still failing')).toHaveLength(3);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    // The message got through once the backend was back.
    expect((await queued(s.queue)).map((m) => m.task_id)).toEqual([1]);
    // Backoff with full jitter (random 0.5 of 1 s * 2^n, at least 250 ms) between failures, then the
    // interval between empty polls (wait 0: the backend answers at once).
    expect(clock.sleeps.slice(0, 4)).toEqual([500, 1000, 2000, 4000]);
    expect(clock.sleeps.slice(4)).toEqual([5000, 5000]);
  });

  it('a second outage is logged again', async () => {
    const b = await backend();
    const s = await setup(b.url);
    const { lines, log } = capture();
    const ac = new AbortController();
    let polls = 0;
    await runPollLoop({
      client: () => s.client,
      queue: s.queue,
      cursor: s.cursor,
      log,
      clock: fastClock(),
      signal: ac.signal,
      settings: { wait: () => 0, limit: () => 50, intervalSeconds: () => 1 },
      hooks: {
        onPoll: () => {
          polls++;
          if (polls === 1 || polls === 2) b.setFaults({ errorRate: 1 });
          if (polls === 3) ac.abort();
        },
        onError: (_e, n) => {
          if (n === 2) b.setFaults({});
        },
      },
    });
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(2);
    expect(lines.filter((l) => l.msg === 'backend reachable again')).toHaveLength(2);
  });

  it('an auth failure is called a configuration problem', async () => {
    const b = await backend({ apiToken: 'right-token-1234' });
    const s = await setup(b.url);
    const { lines, log } = capture();
    const ac = new AbortController();
    await runPollLoop({
      client: () => s.client,
      queue: s.queue,
      cursor: s.cursor,
      log,
      clock: fastClock(),
      signal: ac.signal,
      settings: { wait: () => 0, limit: () => 50, intervalSeconds: () => 1 },
      hooks: { onError: (_e, n) => n === 2 && ac.abort() },
    });
    const warns = lines.filter((l) => l.level === 'warn');
    expect(warns).toHaveLength(1);
    expect(warns[0]!.msg).toContain('fix the token');
    expect(String(warns[0]!.error)).toContain('backend.api_token');
  });

  it('takes a new client before each poll (a configuration change applies at once)', async () => {
    const b = await backend();
    b.store.publish(1, { task_id: 9 });
    const s = await setup(b.url);
    // A port nothing listens on: take one from the OS, then close it.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const dead = new NumaClient({ baseUrl: `http://127.0.0.1:${port}`, maxAttempts: 1 });
    let current = dead;
    const { log } = capture();
    const ac = new AbortController();
    await runPollLoop({
      client: () => current,
      queue: s.queue,
      cursor: s.cursor,
      log,
      clock: fastClock(),
      signal: ac.signal,
      settings: { wait: () => 0, limit: () => 50, intervalSeconds: () => 1 },
      hooks: {
        onError: () => (current = s.client),
        onPoll: (r) => r.forwarded > 0 && ac.abort(),
      },
    });
    expect((await queued(s.queue)).map((m) => m.task_id)).toEqual([9]);
  });

  it('forwards a message published while it long-polls, and stops when the signal aborts mid-poll', async () => {
    const b = await backend();
    const s = await setup(b.url);
    const { lines, log } = capture();
    const ac = new AbortController();
    const loop = runPollLoop({
      client: () => s.client,
      queue: s.queue,
      cursor: s.cursor,
      log,
      signal: ac.signal,
      settings: { wait: () => 20, limit: () => 50, intervalSeconds: () => 5 },
    });
    await until(() => b.pendingPolls() === 1, 'a parked long poll');
    b.store.publish(1, { task_id: 77 });
    await until(async () => (await s.queue.depth()) === 1, 'the message to be queued');
    await until(() => b.pendingPolls() === 1, 'the next parked long poll');
    ac.abort();
    await loop;
    expect(lines.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
    expect(lines.filter((l) => l.msg === 'messages received')).toHaveLength(1);
  });

  it('stops when the signal aborts during the backoff sleep (real clock)', async () => {
    const b = await backend();
    b.setFaults({ errorRate: 1 });
    const s = await setup(b.url);
    const { log } = capture();
    const ac = new AbortController();
    let failed = false;
    const loop = runPollLoop({
      client: () => s.client,
      queue: s.queue,
      cursor: s.cursor,
      log,
      signal: ac.signal,
      random: () => 1,
      settings: {
        wait: () => 0,
        limit: () => 50,
        intervalSeconds: () => 5,
        backoff: { baseMs: 3_600_000, capMs: 3_600_000 },
      },
      hooks: { onError: () => (failed = true) },
    });
    await until(() => failed, 'the first failure');
    ac.abort();
    await loop;
    expect(b.faultCounts().error).toBe(1);
  });

  it('does not start when the signal is already aborted, and stops once `until` says so', async () => {
    const b = await backend();
    const s = await setup(b.url);
    const { log } = capture();
    const aborted = AbortSignal.abort();
    let polls = 0;
    const base = {
      client: () => s.client,
      queue: s.queue,
      cursor: s.cursor,
      log,
      clock: fastClock(),
      settings: { wait: () => 0, limit: () => 50, intervalSeconds: () => 1 },
      hooks: { onPoll: () => void polls++ },
    };
    await runPollLoop({ ...base, signal: aborted });
    expect(polls).toBe(0);
    await runPollLoop({ ...base, signal: new AbortController().signal, until: () => polls >= 2 });
    expect(polls).toBe(2);
  });
});
