/**
 * The local TaskQueue: a durable queue in a folder, which survives `kill -9` and restarts.
 *
 *   pending/   messages waiting, one JSON file each, named `<sequence>-<random>.json` (FIFO by name)
 *   inflight/  messages handed out by receive() and not yet acked or released (same file name)
 *   dead/      dead letters: { at, reason, source, raw }
 *   keys/      dedup index: one file per dedupKey ever sent (sha-256 of the key), kept after ack
 *
 * Every change is a whole-file atomic write (temp file, fsync, rename, fsync the folder) or an
 * atomic rename between folders, so a crash leaves either the old or the new state. The receipt
 * of a message is its file name, which never changes.
 *
 * send() writes the message first and its key second: a crash in between leaves a message
 * without a key (never a key without its message, which would lose it), and the next owner
 * restores the missing keys before serving anything.
 *
 * One process owns the folder at a time (see lock.ts: the caller holds acquireLock(dir)); within
 * that process, operations run one at a time.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { AvatarError } from '../../core/errors.ts';
import { describeIssues, taskMessageSchema } from '../../core/message.ts';
import type { TaskMessage } from '../../core/message.ts';
import { systemClock } from '../../core/ports.ts';
import type { Clock, DeadLetter, OutgoingMessage, ReceivedMessage, TaskQueue } from '../../core/ports.ts';
import {
  createFileExclusive,
  errnoCode,
  isTempName,
  moveFile,
  removeFile,
  sweepTemps,
  writeFileAtomic,
} from './atomic.ts';
import { Serial } from './serial.ts';

export interface FileQueueOptions {
  dir: string;
  clock?: Clock;
  /**
   * Seconds after which a received, unacknowledged message becomes receivable again (like SQS's
   * visibility timeout). 0 (the default): it stays claimed until ack/release or recoverInflight().
   */
  visibilityTimeoutSeconds?: number;
}

/** What a message file holds. */
export interface StoredMessage {
  id: string;
  seq: number;
  dedupKey: string;
  body: TaskMessage;
  receiveCount: number;
  sentAt: string;
  /** Epoch ms before which receive() skips it (set by release with a delay). */
  notBefore?: number;
  /** Epoch ms of the last receive (inflight only). */
  claimedAt?: number;
}

export interface StoredDeadLetter {
  at: string;
  reason: string;
  source: string;
  raw: unknown;
}

const MESSAGE_NAME = /^(\d{16})-([0-9a-f]{8})\.json$/;
const SUBDIRS = ['pending', 'inflight', 'dead', 'keys'] as const;

export class FileQueue implements TaskQueue {
  readonly dir: string;
  private readonly clock: Clock;
  private readonly visibilityMs: number;
  private readonly serial = new Serial();
  private ready: Promise<void> | undefined;
  private lastSeq = 0;
  private deadCounter = 0;

  constructor(opts: FileQueueOptions) {
    this.dir = path.resolve(opts.dir);
    this.clock = opts.clock ?? systemClock;
    const vt = opts.visibilityTimeoutSeconds ?? 0;
    if (!Number.isFinite(vt) || vt < 0) {
      throw new AvatarError('QUEUE_IO', `visibilityTimeoutSeconds must be a number >= 0, got ${vt}`);
    }
    this.visibilityMs = vt * 1000;
  }

  private get pendingDir() {
    return path.join(this.dir, 'pending');
  }
  private get inflightDir() {
    return path.join(this.dir, 'inflight');
  }
  private get deadDir() {
    return path.join(this.dir, 'dead');
  }
  private get keysDir() {
    return path.join(this.dir, 'keys');
  }

  send(messages: OutgoingMessage[]): Promise<void> {
    return this.op('send', async () => {
      for (const m of messages) {
        const parsed = taskMessageSchema.safeParse(m.body);
        if (!parsed.success) {
          throw new AvatarError('MESSAGE_MALFORMED', `invalid task message: ${describeIssues(parsed.error)}`);
        }
        if (typeof m.dedupKey !== 'string' || m.dedupKey === '') {
          throw new AvatarError('MESSAGE_MALFORMED', 'dedupKey: must be a non-empty string');
        }
        if (await exists(this.keyPath(m.dedupKey))) continue;
        const seq = this.nextSeq();
        const name = `${String(seq).padStart(16, '0')}-${randomBytes(4).toString('hex')}.json`;
        const stored: StoredMessage = {
          id: name.slice(0, -'.json'.length),
          seq,
          dedupKey: m.dedupKey,
          body: parsed.data,
          receiveCount: 0,
          sentAt: new Date(this.clock.now()).toISOString(),
        };
        await writeFileAtomic(path.join(this.pendingDir, name), JSON.stringify(stored));
        await this.writeKey(m.dedupKey, name);
      }
    });
  }

  receive(max: number): Promise<ReceivedMessage[]> {
    return this.op('receive', async () => {
      const out: ReceivedMessage[] = [];
      if (!(max >= 1)) return out;
      const now = this.clock.now();
      if (this.visibilityMs > 0) await this.returnExpired(now);
      for (const name of await this.names(this.pendingDir)) {
        if (out.length >= Math.floor(max)) break;
        const file = path.join(this.pendingDir, name);
        const stored = await this.readMessage(file, name);
        if (stored === undefined) continue;
        if (stored.notBefore !== undefined && stored.notBefore > now) continue;
        const claimed: StoredMessage = { ...stored, receiveCount: stored.receiveCount + 1, claimedAt: now };
        delete claimed.notBefore;
        // Count first, then claim: a crash in between over-counts by one (safe for poison-message
        // limits), never hands out a message whose count was not recorded.
        await writeFileAtomic(file, JSON.stringify(claimed));
        await moveFile(file, path.join(this.inflightDir, name));
        out.push(toReceived(name, claimed));
      }
      return out;
    });
  }

  ack(receipt: string): Promise<void> {
    return this.op('ack', async () => {
      const name = checkReceipt(receipt);
      // Idempotent. A message returned to pending by the visibility timeout is acked there too:
      // the work it stood for was done.
      if (!(await removeFile(path.join(this.inflightDir, name)))) {
        await removeFile(path.join(this.pendingDir, name));
      }
    });
  }

  release(receipt: string, delaySeconds: number): Promise<void> {
    return this.op('release', async () => {
      const name = checkReceipt(receipt);
      const file = path.join(this.inflightDir, name);
      const stored = await this.readMessage(file, name);
      if (stored === undefined) {
        throw new AvatarError('QUEUE_IO', `release: no in-flight message with receipt ${name}`);
      }
      const delayMs = Math.max(0, Number.isFinite(delaySeconds) ? delaySeconds : 0) * 1000;
      const back: StoredMessage = { ...stored };
      delete back.claimedAt;
      if (delayMs > 0) back.notBefore = this.clock.now() + delayMs;
      else delete back.notBefore;
      await writeFileAtomic(file, JSON.stringify(back));
      await moveFile(file, path.join(this.pendingDir, name));
    });
  }

  deadLetter(letter: DeadLetter): Promise<void> {
    return this.op('deadLetter', () => this.writeDead(letter));
  }

  depth(): Promise<number> {
    return this.op('depth', async () => (await this.names(this.pendingDir)).length);
  }

  /** Messages received and neither acked nor released (for recovery after a crash). */
  inflight(): Promise<ReceivedMessage[]> {
    return this.op('inflight', async () => {
      const out: ReceivedMessage[] = [];
      for (const name of await this.names(this.inflightDir)) {
        const stored = await this.readMessage(path.join(this.inflightDir, name), name);
        if (stored !== undefined) out.push(toReceived(name, stored));
      }
      return out;
    });
  }

  /** Moves every in-flight message back to pending (at start, after a crash). Returns how many. */
  recoverInflight(): Promise<number> {
    return this.op('recoverInflight', async () => {
      let n = 0;
      for (const name of await this.names(this.inflightDir)) {
        if (await this.returnToPending(name)) n++;
      }
      return n;
    });
  }

  /** The dead letters, oldest first. */
  deadLetters(): Promise<StoredDeadLetter[]> {
    return this.op('deadLetters', async () => {
      const out: StoredDeadLetter[] = [];
      for (const name of await this.names(this.deadDir)) {
        const text = await readText(path.join(this.deadDir, name));
        if (text === undefined) continue;
        try {
          const v = JSON.parse(text) as Partial<StoredDeadLetter>;
          out.push({ at: String(v.at), reason: String(v.reason), source: String(v.source), raw: v.raw });
        } catch {
          out.push({
            at: '',
            reason: `unreadable dead-letter file ${name}`,
            source: 'file-queue',
            raw: text,
          });
        }
      }
      return out;
    });
  }

  /** Whether a message with this dedupKey was ever sent. */
  hasSent(dedupKey: string): Promise<boolean> {
    return this.op('hasSent', () => exists(this.keyPath(dedupKey)));
  }

  // ---- internals ----

  private op<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.serial.run(async () => {
      try {
        await this.init();
        return await fn();
      } catch (err) {
        if (err instanceof AvatarError) throw err;
        throw new AvatarError('QUEUE_IO', `queue ${this.dir}: ${what} failed: ${String(err)}`, {
          cause: err,
        });
      }
    });
  }

  private init(): Promise<void> {
    this.ready ??= this.open().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  /** Creates the folders, sweeps temp files of a crashed owner, restores missing keys. */
  private async open(): Promise<void> {
    for (const sub of SUBDIRS) {
      await fs.mkdir(path.join(this.dir, sub), { recursive: true });
      await sweepTemps(path.join(this.dir, sub));
    }
    for (const dir of [this.pendingDir, this.inflightDir]) {
      for (const name of await this.names(dir)) {
        const m = MESSAGE_NAME.exec(name);
        if (m) this.lastSeq = Math.max(this.lastSeq, Number(m[1]));
        const stored = await this.readMessage(path.join(dir, name), name);
        if (stored !== undefined && !(await exists(this.keyPath(stored.dedupKey)))) {
          await this.writeKey(stored.dedupKey, name);
        }
      }
    }
  }

  private nextSeq(): number {
    // Time-based so sequence numbers keep growing across restarts even when the queue was empty;
    // +1 so they grow within a millisecond and when the clock stands still or steps back.
    this.lastSeq = Math.max(this.lastSeq + 1, Math.floor(this.clock.now()) * 1000);
    return this.lastSeq;
  }

  private keyPath(dedupKey: string): string {
    return path.join(this.keysDir, createHash('sha256').update(dedupKey).digest('hex'));
  }

  private async writeKey(dedupKey: string, name: string): Promise<void> {
    const record = JSON.stringify({ dedupKey, message: name, at: new Date(this.clock.now()).toISOString() });
    await createFileExclusive(this.keyPath(dedupKey), record);
  }

  /** Message file names in a folder, FIFO order; temp files and strangers are not messages. */
  private async names(dir: string): Promise<string[]> {
    const all = await fs.readdir(dir);
    return all.filter((n) => !isTempName(n) && n.endsWith('.json')).sort();
  }

  /**
   * Reads a message file. One that cannot be parsed (edited by hand, or not ours) is moved to
   * dead/ with the reason, so it neither blocks the queue nor disappears.
   */
  private async readMessage(file: string, name: string): Promise<StoredMessage | undefined> {
    const text = await readText(file);
    if (text === undefined) return undefined;
    let reason: string;
    try {
      const v = JSON.parse(text) as Partial<StoredMessage>;
      const body = taskMessageSchema.safeParse(v.body);
      if (body.success && typeof v.dedupKey === 'string' && typeof v.receiveCount === 'number') {
        return {
          id: typeof v.id === 'string' ? v.id : name.replace(/\.json$/, ''),
          seq: typeof v.seq === 'number' ? v.seq : 0,
          dedupKey: v.dedupKey,
          body: body.data,
          receiveCount: v.receiveCount,
          sentAt: typeof v.sentAt === 'string' ? v.sentAt : '',
          ...(typeof v.notBefore === 'number' ? { notBefore: v.notBefore } : {}),
          ...(typeof v.claimedAt === 'number' ? { claimedAt: v.claimedAt } : {}),
        };
      }
      reason = body.success
        ? 'queue file lacks dedupKey or receiveCount'
        : `invalid task message: ${describeIssues(body.error, 'body')}`;
    } catch {
      reason = 'queue file is not valid JSON';
    }
    await this.writeDead({ raw: text, reason: `${reason} (${name})`, source: 'file-queue' });
    await removeFile(file);
    return undefined;
  }

  private async writeDead(letter: DeadLetter): Promise<void> {
    const now = this.clock.now();
    let raw: unknown = letter.raw;
    try {
      JSON.stringify(raw);
    } catch {
      raw = String(raw); // circular or BigInt: keep what can be kept
    }
    const record: StoredDeadLetter = {
      at: new Date(now).toISOString(),
      reason: letter.reason,
      source: letter.source,
      raw,
    };
    const name = `${String(Math.max(0, Math.floor(now))).padStart(16, '0')}-${String(this.deadCounter++).padStart(6, '0')}-${randomBytes(4).toString('hex')}.json`;
    await writeFileAtomic(path.join(this.deadDir, name), JSON.stringify(record));
  }

  /** Visibility timeout: claimed longer ago than the timeout → back to pending. */
  private async returnExpired(now: number): Promise<void> {
    for (const name of await this.names(this.inflightDir)) {
      const stored = await this.readMessage(path.join(this.inflightDir, name), name);
      if (stored !== undefined && (stored.claimedAt ?? 0) + this.visibilityMs <= now) {
        await this.returnToPending(name);
      }
    }
  }

  private async returnToPending(name: string): Promise<boolean> {
    const file = path.join(this.inflightDir, name);
    const stored = await this.readMessage(file, name);
    if (stored === undefined) return false;
    if (stored.claimedAt !== undefined) {
      const back: StoredMessage = { ...stored };
      delete back.claimedAt;
      await writeFileAtomic(file, JSON.stringify(back));
    }
    await moveFile(file, path.join(this.pendingDir, name));
    return true;
  }
}

function toReceived(name: string, stored: StoredMessage): ReceivedMessage {
  return { id: stored.id, receipt: name, receiveCount: stored.receiveCount, body: stored.body };
}

function checkReceipt(receipt: string): string {
  if (typeof receipt !== 'string' || !MESSAGE_NAME.test(receipt)) {
    throw new AvatarError(
      'QUEUE_IO',
      `not a receipt of this queue: ${JSON.stringify(String(receipt)).slice(0, 80)}`,
    );
  }
  return receipt;
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}
