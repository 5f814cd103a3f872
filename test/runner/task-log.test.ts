import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatTimestamp, TaskLog, type TaskLogOptions } from '../../container/runner/task-log.ts';
import { Redactor } from '../../core/redact.ts';

const AT = new Date('2025-08-03T10:00:00.000Z');
const STAMP = '2025-08-03 10:00:00 - ';

afterEach(() => {
  vi.useRealTimers();
});

/** A send that records each batch; `fail` decides per call whether it rejects. */
function recorder(fail: (call: number) => boolean = () => false) {
  const batches: string[] = [];
  let calls = 0;
  const send = async (text: string) => {
    calls++;
    if (fail(calls)) throw new Error(`backend down (call ${calls})`);
    batches.push(text);
  };
  return { batches, send, calls: () => calls };
}

function taskLog(opts: Partial<TaskLogOptions> & Pick<TaskLogOptions, 'send'>): TaskLog {
  return new TaskLog({
    redactor: new Redactor(),
    flushIntervalMs: 60_000,
    flushLines: 1000,
    now: () => AT,
    ...opts,
  });
}

/** Lets queued promise callbacks run (no timers involved). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('formatTimestamp', () => {
  it('is "YYYY-MM-DD HH:MM:SS" in UTC', () => {
    expect(formatTimestamp(new Date('2025-08-03T10:05:09.987Z'))).toBe('2025-08-03 10:05:09');
    expect(formatTimestamp(new Date('1999-12-31T23:59:59.999Z'))).toBe('1999-12-31 23:59:59');
  });
});

describe('TaskLog', () => {
  it('timestamps every line as "YYYY-MM-DD HH:MM:SS - text", a multi-line text line by line', async () => {
    const r = recorder();
    const mirrored: string[] = [];
    const log = taskLog({ send: r.send, mirror: (l) => mirrored.push(l) });
    log.line('task started');
    log.line('first\nsecond\r\nthird');
    log.line('仓库已克隆 ✓');
    await log.flush();
    const expected = [
      `${STAMP}task started`,
      `${STAMP}first`,
      `${STAMP}second`,
      `${STAMP}third`,
      `${STAMP}仓库已克隆 ✓`,
    ];
    expect(r.batches).toEqual([expected.join('\n')]);
    expect(log.lines()).toEqual(expected);
    expect(mirrored).toEqual(expected);
  });

  it('sends a batch every flushLines lines', async () => {
    const r = recorder();
    const log = taskLog({ send: r.send, flushLines: 3 });
    log.line('a');
    log.line('b');
    await settle();
    expect(r.calls()).toBe(0);
    log.line('c');
    await settle();
    expect(r.batches).toEqual([[`${STAMP}a`, `${STAMP}b`, `${STAMP}c`].join('\n')]);
    log.line('d');
    await settle();
    expect(r.calls()).toBe(1);
    await log.flush();
    expect(r.batches[1]).toBe(`${STAMP}d`);
  });

  it('sends what is buffered every flushIntervalMs', async () => {
    vi.useFakeTimers();
    const r = recorder();
    const log = taskLog({ send: r.send, flushIntervalMs: 2000, flushLines: 100 });
    log.line('a');
    await vi.advanceTimersByTimeAsync(1000);
    log.line('b'); // does not restart the interval
    await vi.advanceTimersByTimeAsync(999);
    expect(r.calls()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.batches).toEqual([`${STAMP}a\n${STAMP}b`]);
    // Nothing buffered: no empty sends.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(r.calls()).toBe(1);
    log.line('c');
    await vi.advanceTimersByTimeAsync(2000);
    expect(r.batches[1]).toBe(`${STAMP}c`);
  });

  it('redacts a planted token and a URL with credentials before anything sees the line', async () => {
    const token = 'gtok_plantedSecret_9f8e7d';
    const r = recorder();
    const mirrored: string[] = [];
    const log = taskLog({ send: r.send, redactor: new Redactor([token]), mirror: (l) => mirrored.push(l) });
    log.line(`git push https://avatar:${token}@git.example.com/app.git`);
    log.line(`token is ${token}; clone https://bob:hunter2@example.org/r.git`);
    await log.flush();
    const all = [r.batches.join('\n'), log.lines().join('\n'), mirrored.join('\n')];
    for (const text of all) {
      expect(text).not.toContain(token);
      expect(text).not.toContain('hunter2');
      expect(text).toContain('https://[REDACTED]@git.example.com/app.git');
      expect(text).toContain('https://[REDACTED]@example.org/r.git');
    }
  });

  it('a failing send keeps the lines and sends them with the next flush, in order', async () => {
    const r = recorder((call) => call === 1);
    const errors: string[] = [];
    const log = taskLog({ send: r.send, onSendError: (e) => errors.push((e as Error).message) });
    log.line('a');
    log.line('b');
    await log.flush();
    expect(errors).toEqual(['backend down (call 1)']);
    expect(r.batches).toEqual([]);
    log.line('c');
    await log.flush();
    expect(r.batches).toEqual([[`${STAMP}a`, `${STAMP}b`, `${STAMP}c`].join('\n')]);
  });

  it('lines written while a failing send is in flight go after the lines it puts back', async () => {
    let rejectFirst!: (e: Error) => void;
    const batches: string[] = [];
    let calls = 0;
    const log = taskLog({
      send: (text) => {
        calls++;
        if (calls === 1) return new Promise<void>((_res, rej) => (rejectFirst = rej));
        batches.push(text);
        return Promise.resolve();
      },
    });
    log.line('a');
    const first = log.flush();
    log.line('b');
    rejectFirst(new Error('down'));
    await first;
    await log.flush();
    expect(batches).toEqual([`${STAMP}a\n${STAMP}b`]);
  });

  it('after a failed send the interval timer retries on its own', async () => {
    vi.useFakeTimers();
    const r = recorder((call) => call === 1);
    const log = taskLog({ send: r.send, flushIntervalMs: 500 });
    log.line('a');
    await vi.advanceTimersByTimeAsync(500);
    expect(r.calls()).toBe(1);
    await vi.advanceTimersByTimeAsync(500);
    expect(r.batches).toEqual([`${STAMP}a`]);
  });

  it('a slow send never blocks line(); what came meanwhile goes next, in order', async () => {
    const resolvers: Array<() => void> = [];
    const batches: string[] = [];
    const log = taskLog({
      flushLines: 2,
      send: (text) =>
        new Promise<void>((resolve) => {
          batches.push(text);
          resolvers.push(resolve);
        }),
    });
    log.line('1');
    log.line('2'); // starts a send that does not finish
    await settle();
    expect(batches).toHaveLength(1);
    for (let i = 3; i <= 7; i++) log.line(String(i)); // returns at once each time
    expect(log.lines()).toHaveLength(7);
    await settle();
    expect(batches).toHaveLength(1); // one send at a time
    resolvers[0]!();
    await settle();
    expect(batches).toHaveLength(2);
    resolvers[1]!();
    await settle();
    await log.flush();
    for (const r of resolvers.slice(2)) r();
    await log.flush();
    const sent = batches.join('\n').split('\n');
    expect(sent).toEqual(['1', '2', '3', '4', '5', '6', '7'].map((n) => STAMP + n));
  });

  it('close() delivers everything, then ignores further lines', async () => {
    const r = recorder();
    const log = taskLog({ send: r.send });
    log.line('a');
    log.line('b');
    expect(await log.close(1000)).toEqual({ delivered: true });
    log.line('late');
    await log.flush();
    expect(r.batches).toEqual([`${STAMP}a\n${STAMP}b`]);
    expect(log.lines()).toHaveLength(2);
  });

  it('close() with nothing to send is delivered at once', async () => {
    const r = recorder();
    expect(await taskLog({ send: r.send }).close(0)).toEqual({ delivered: true });
    expect(r.calls()).toBe(0);
  });

  it('close() retries a failing send until it succeeds within the timeout', async () => {
    vi.useFakeTimers();
    const r = recorder((call) => call <= 2);
    const log = taskLog({ send: r.send });
    log.line('a');
    const closing = log.close(10_000);
    await vi.advanceTimersByTimeAsync(5000);
    expect(await closing).toEqual({ delivered: true });
    expect(r.batches).toEqual([`${STAMP}a`]);
    expect(r.calls()).toBe(3);
  });

  it('close() reports not delivered, with the last error, when the send keeps failing', async () => {
    vi.useFakeTimers();
    const r = recorder(() => true);
    const errors: unknown[] = [];
    const log = taskLog({ send: r.send, onSendError: (e) => errors.push(e) });
    log.line('a');
    const closing = log.close(2500);
    await vi.advanceTimersByTimeAsync(5000);
    const result = await closing;
    expect(result.delivered).toBe(false);
    expect(result.error).toMatch(/backend down \(call \d+\)/);
    expect(r.calls()).toBeGreaterThanOrEqual(2);
    expect(errors.length).toBe(r.calls()); // the caller's own handler still hears about each failure
  });

  it('close() returns after its timeout even when a send never answers', async () => {
    vi.useFakeTimers();
    const log = taskLog({ send: () => new Promise<void>(() => {}) });
    log.line('a');
    let result: { delivered: boolean; error?: string } | undefined;
    void log.close(3000).then((r) => (result = r));
    await vi.advanceTimersByTimeAsync(3000);
    expect(result).toBeDefined();
    expect(result!.delivered).toBe(false);
    expect(result!.error).toMatch(/3000 ms/);
  });

  it('past maxBufferedLines the oldest lines are dropped and summarised', async () => {
    const r = recorder((call) => call === 1);
    const log = taskLog({ send: r.send, maxBufferedLines: 3 });
    for (let i = 1; i <= 5; i++) log.line(`line ${i}`);
    await log.flush(); // fails: the summary and the lines are kept
    log.line('line 6'); // one more over the cap
    await log.flush();
    expect(r.batches).toHaveLength(1);
    const sent = r.batches[0]!.split('\n');
    expect(sent).toEqual([
      `${STAMP}[3 earlier log lines were not delivered: backend unavailable]`,
      `${STAMP}line 4`,
      `${STAMP}line 5`,
      `${STAMP}line 6`,
    ]);
    // Everything written is still there for the local run log.
    expect(log.lines()).toHaveLength(6);
  });
});
