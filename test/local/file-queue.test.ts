import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAvatarError } from '../../core/errors.ts';
import { FileQueue } from '../../adapters/local/file-queue.ts';
import { acquireLock } from '../../adapters/local/lock.ts';
import type { Clock, OutgoingMessage } from '../../core/ports.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

class FakeClock implements Clock {
  constructor(public t = 1_700_000_000_000) {}
  now() {
    return this.t;
  }
  async sleep(ms: number) {
    this.t += ms;
  }
}

function msg(i: number, key = `k-${i}`): OutgoingMessage {
  return { dedupKey: key, body: { task_id: i, message_id: i, topic_id: 7 } };
}

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'numa-queue-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('FileQueue', () => {
  it('delivers in FIFO order and creates its folders', async () => {
    const q = new FileQueue({ dir });
    await q.send([msg(3), msg(1)]);
    await q.send([msg(2)]);
    expect(await q.depth()).toBe(3);
    const got = await q.receive(10);
    expect(got.map((m) => m.body.task_id)).toEqual([3, 1, 2]);
    expect(got.every((m) => m.receiveCount === 1)).toBe(true);
    expect((await fs.readdir(dir)).sort()).toEqual(['dead', 'inflight', 'keys', 'pending']);
  });

  it('keeps FIFO order when the clock stands still or steps back', async () => {
    const clock = new FakeClock(5_000);
    const q = new FileQueue({ dir, clock });
    await q.send([msg(1)]);
    clock.t = 1_000;
    await q.send([msg(2)]);
    await q.send([msg(3)]);
    expect((await q.receive(5)).map((m) => m.body.task_id)).toEqual([1, 2, 3]);
  });

  it('skips a dedupKey sent before, also after the message was acked and in a new instance', async () => {
    const q = new FileQueue({ dir });
    await q.send([msg(1), msg(1)]);
    expect(await q.depth()).toBe(1);
    const [m] = await q.receive(1);
    await q.ack(m!.receipt);
    expect(await q.depth()).toBe(0);
    await q.send([msg(1)]);
    expect(await q.depth()).toBe(0);
    const q2 = new FileQueue({ dir });
    await q2.send([msg(1), msg(2)]);
    expect((await q2.receive(10)).map((x) => x.body.task_id)).toEqual([2]);
    expect(await q2.hasSent('k-1')).toBe(true);
    expect(await q2.hasSent('k-9')).toBe(false);
  });

  it('claims a message once; ack removes it; ack is idempotent', async () => {
    const q = new FileQueue({ dir });
    await q.send([msg(1), msg(2)]);
    const [a, b] = await Promise.all([q.receive(1), q.receive(1)]);
    expect(a).toHaveLength(1);
    expect(b).toHaveLength(1);
    expect(a![0]!.receipt).not.toBe(b![0]!.receipt);
    expect(await q.receive(5)).toEqual([]);
    expect(await q.depth()).toBe(0);
    expect((await q.inflight()).map((m) => m.body.task_id).sort()).toEqual([1, 2]);
    await q.ack(a![0]!.receipt);
    await q.ack(a![0]!.receipt);
    expect((await q.inflight()).map((m) => m.body.task_id)).toEqual([2]);
  });

  it('refuses a receipt that is not one of its file names', async () => {
    const q = new FileQueue({ dir });
    await expect(q.ack('../pending/x.json')).rejects.toSatisfy((e) => isAvatarError(e, 'QUEUE_IO'));
    await expect(q.release('nope', 0)).rejects.toThrow(/not a receipt/);
  });

  it('release with a delay hides the message until the delay has passed, and counts receives', async () => {
    const clock = new FakeClock();
    const q = new FileQueue({ dir, clock });
    await q.send([msg(1), msg(2)]);
    const [first] = await q.receive(1);
    expect(first!.body.task_id).toBe(1);
    await q.release(first!.receipt, 30);
    expect(await q.depth()).toBe(2);
    // 1 is hidden: the next receive skips it and hands out 2
    const next = await q.receive(5);
    expect(next.map((m) => m.body.task_id)).toEqual([2]);
    clock.t += 29_000;
    expect(await q.receive(5)).toEqual([]);
    clock.t += 1_000;
    const again = await q.receive(5);
    expect(again.map((m) => [m.body.task_id, m.receiveCount, m.receipt])).toEqual([[1, 2, first!.receipt]]);
    // release without delay: visible at once
    await q.release(again[0]!.receipt, 0);
    expect((await q.receive(5)).map((m) => m.receiveCount)).toEqual([3]);
  });

  it('visibility timeout returns an unacked message to the queue', async () => {
    const clock = new FakeClock();
    const q = new FileQueue({ dir, clock, visibilityTimeoutSeconds: 60 });
    await q.send([msg(1)]);
    expect(await q.receive(1)).toHaveLength(1);
    clock.t += 59_000;
    expect(await q.receive(1)).toHaveLength(0);
    clock.t += 1_000;
    const again = await q.receive(1);
    expect(again.map((m) => m.receiveCount)).toEqual([2]);
  });

  it('lists dead letters with time, reason, source and the raw message', async () => {
    const clock = new FakeClock(Date.parse('2025-08-03T10:00:00Z'));
    const q = new FileQueue({ dir, clock });
    await q.deadLetter({ raw: '{not json', reason: 'message body is not valid JSON', source: 'poller' });
    clock.t += 1000;
    await q.deadLetter({ raw: { data: {} }, reason: 'data.task_id: missing', source: 'topic 1 message 5' });
    const letters = await q.deadLetters();
    expect(letters).toEqual([
      {
        at: '2025-08-03T10:00:00.000Z',
        reason: 'message body is not valid JSON',
        source: 'poller',
        raw: '{not json',
      },
      {
        at: '2025-08-03T10:00:01.000Z',
        reason: 'data.task_id: missing',
        source: 'topic 1 message 5',
        raw: { data: {} },
      },
    ]);
    expect(await q.depth()).toBe(0);
  });

  it('moves an unreadable message file to dead letters instead of blocking the queue', async () => {
    const q = new FileQueue({ dir });
    await q.send([msg(1)]);
    await fs.writeFile(path.join(dir, 'pending', '0000000000000001-deadbeef.json'), '{"torn');
    const got = await q.receive(5);
    expect(got.map((m) => m.body.task_id)).toEqual([1]);
    const letters = await q.deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]!.reason).toMatch(/not valid JSON.*0000000000000001-deadbeef\.json/);
    expect(letters[0]!.raw).toBe('{"torn');
  });

  it('rejects an invalid task message at send', async () => {
    const q = new FileQueue({ dir });
    await expect(
      q.send([{ dedupKey: 'x', body: { task_id: 'bad id!' } as unknown as OutgoingMessage['body'] }]),
    ).rejects.toSatisfy((e) => isAvatarError(e, 'MESSAGE_MALFORMED'));
    expect(await q.depth()).toBe(0);
  });

  it('after a simulated crash a new instance sees in-flight messages and recovers them', async () => {
    const q = new FileQueue({ dir });
    await q.send([msg(1), msg(2), msg(3)]);
    const claimed = await q.receive(2);
    await q.ack(claimed[1]!.receipt);
    // "crash": drop q without ack/release; leave a torn temp file as a killed writer would
    await fs.writeFile(path.join(dir, 'pending', '.tmp-999-abc'), '{"half');
    const q2 = new FileQueue({ dir });
    const inflight = await q2.inflight();
    expect(inflight.map((m) => [m.body.task_id, m.receipt, m.receiveCount])).toEqual([
      [1, claimed[0]!.receipt, 1],
    ]);
    expect(await q2.recoverInflight()).toBe(1);
    expect(await q2.inflight()).toEqual([]);
    expect(await q2.depth()).toBe(2);
    const again = await q2.receive(5);
    expect(again.map((m) => [m.body.task_id, m.receiveCount])).toEqual([
      [1, 2],
      [3, 1],
    ]);
    expect(await fs.readdir(path.join(dir, 'pending'))).toEqual([]);
  });

  it('restores a missing dedup key when it opens (crash between message and key)', async () => {
    const q = new FileQueue({ dir });
    await q.send([msg(1)]);
    const keyFile = path.join(dir, 'keys', createHash('sha256').update('k-1').digest('hex'));
    await fs.rm(keyFile);
    const q2 = new FileQueue({ dir });
    await q2.send([msg(1)]);
    expect(await q2.depth()).toBe(1);
    expect(JSON.parse(await fs.readFile(keyFile, 'utf8'))).toMatchObject({ dedupKey: 'k-1' });
  });
});

describe('FileQueue under kill -9', () => {
  it('leaves a consistent folder when the writer is killed at a random point', async () => {
    const target = 5 + Math.floor(Math.random() * 30);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(here, 'fixtures', 'queue-writer.ts'), dir],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    let killing = false;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_c, sig) => resolve(sig)),
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const sent = stdout.match(/^sent \d+$/gm)?.length ?? 0;
        if (!killing && sent >= target) {
          killing = true;
          // let it run on for a random moment so the kill lands anywhere inside a send
          setTimeout(
            () => {
              child.kill('SIGKILL');
              resolve();
            },
            Math.floor(Math.random() * 5),
          );
        }
      });
      child.on('exit', () => {
        if (!killing) reject(new Error(`writer exited before it was killed: ${stderr}`));
      });
    });
    expect(await exited).toBe('SIGKILL');
    const acked = (stdout.match(/^sent (\d+)$/gm) ?? []).map((l) => Number(l.slice(5)));
    const lastAcked = Math.max(...acked);
    expect(lastAcked).toBeGreaterThanOrEqual(target - 1);

    // Raw check: every message file parses, keys point at existing messages.
    const pendingNames = await fs.readdir(path.join(dir, 'pending'));
    const messageNames = pendingNames.filter((n) => !n.startsWith('.tmp-'));
    const ids: number[] = [];
    const msgKeys = new Set<string>();
    for (const n of messageNames) {
      expect(n).toMatch(/^\d{16}-[0-9a-f]{8}\.json$/);
      const stored = JSON.parse(await fs.readFile(path.join(dir, 'pending', n), 'utf8'));
      ids.push(stored.body.task_id);
      msgKeys.add(stored.dedupKey);
    }
    // FIFO file names reflect send order; every send that resolved is there; no duplicates.
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i));
    expect(ids.length).toBeGreaterThanOrEqual(lastAcked + 1);
    expect(ids.length).toBeLessThanOrEqual(lastAcked + 2);
    const keyNames = (await fs.readdir(path.join(dir, 'keys'))).filter((n) => !n.startsWith('.tmp-'));
    const keyRecords = await Promise.all(
      keyNames.map(async (n) => JSON.parse(await fs.readFile(path.join(dir, 'keys', n), 'utf8'))),
    );
    for (const k of keyRecords) expect(msgKeys.has(k.dedupKey)).toBe(true);
    // at most the message being sent at the kill lacks its key
    expect(msgKeys.size - keyRecords.length).toBeLessThanOrEqual(1);

    // A new owner takes over the dead writer's lock, sweeps temp files, restores keys.
    const lock = await acquireLock(dir);
    try {
      const q = new FileQueue({ dir });
      expect(await q.depth()).toBe(ids.length);
      for (const sub of ['pending', 'keys', 'inflight', 'dead']) {
        expect((await fs.readdir(path.join(dir, sub))).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
      }
      expect((await fs.readdir(path.join(dir, 'keys'))).length).toBe(ids.length);
      // resending everything queues only what was never sent
      await q.send(Array.from({ length: ids.length + 3 }, (_, i) => msg(i)));
      const all = await q.receive(1000);
      expect(all.map((m) => m.body.task_id)).toEqual(Array.from({ length: ids.length + 3 }, (_, i) => i));
    } finally {
      await lock.release();
    }
  });
});
