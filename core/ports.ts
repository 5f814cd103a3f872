/**
 * The ports. The poll loop, the dispatcher logic and the runner pipeline are written once against
 * these interfaces; local mode and AWS mode differ only in the adapters handed to them
 * (see design.md, "Ports and adapters").
 */
import type { TaskMessage } from './message.ts';

/** A message as the queue hands it out. `receipt` acknowledges or releases it. */
export interface ReceivedMessage {
  /** The queue's own id of this delivery's message. */
  id: string;
  receipt: string;
  /** How many times it has been handed out, this time included. */
  receiveCount: number;
  body: TaskMessage;
}

export interface OutgoingMessage {
  /** Deduplication key: two sends with the same key put the message on the queue once. */
  dedupKey: string;
  body: TaskMessage;
}

export interface DeadLetter {
  /** The raw message as it arrived (kept whole for a person to inspect). */
  raw: unknown;
  reason: string;
  source: string;
}

export interface TaskQueue {
  /** Durable once this resolves: a crash after it loses nothing. */
  send(messages: OutgoingMessage[]): Promise<void>;
  receive(max: number): Promise<ReceivedMessage[]>;
  ack(receipt: string): Promise<void>;
  /** Hands the message back to the queue, visible again after `delaySeconds`. */
  release(receipt: string, delaySeconds: number): Promise<void>;
  deadLetter(letter: DeadLetter): Promise<void>;
  /** Messages waiting (not counting those being worked on). */
  depth(): Promise<number>;
}

export interface BlobStore {
  get(key: string): Promise<Buffer | undefined>;
  put(key: string, data: Buffer | string): Promise<void>;
  /** Writes only if nothing is stored at `key`; true when this call wrote it. */
  putIfAbsent(key: string, data: Buffer | string): Promise<boolean>;
  list(prefix: string): Promise<string[]>;
  /** Removes the blob; no error when there is none. */
  delete(key: string): Promise<void>;
}

/** A versioned record updated with compare-and-set, for the poll cursor. */
export interface VersionedStore<T> {
  load(): Promise<{ value: T; version: string } | undefined>;
  /** Saves if the stored version is still `expected` (undefined: nothing stored yet); false when it is not. */
  save(value: T, expected: string | undefined): Promise<boolean>;
}

export interface LaunchRequest {
  message: TaskMessage;
  messageKey: string;
  runId: string;
}

export interface Launcher {
  launch(req: LaunchRequest): Promise<void>;
  /** Runs under way now, in all. */
  running(): Promise<number>;
  /** Whether a run of this task is under way now. */
  isRunning(taskId: string): Promise<boolean>;
}

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};
