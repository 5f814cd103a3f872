/**
 * The task's execution log (POST /api/tasks/{id}/logs). Lines are timestamped
 * ("2025-08-03 10:00:00 - repository cloned"), redacted, and sent in batches: every
 * `flushIntervalMs` or every `flushLines` lines, whichever comes first. Sending happens in the
 * background: a slow or failing backend never blocks the run; unsent lines stay queued and go out
 * with the next batch. Past `maxBufferedLines` the oldest unsent lines are summarised, not kept,
 * so a long outage cannot exhaust memory.
 */
import type { Redactor } from '../../core/redact.ts';
import { describeError } from '../../core/errors.ts';

export interface TaskLogOptions {
  send: (text: string) => Promise<void>;
  redactor: Redactor;
  flushIntervalMs: number;
  flushLines: number;
  maxBufferedLines?: number;
  now?: () => Date;
  /** Also receives every line (the runner's own stdout and the local run log). */
  mirror?: (line: string) => void;
  onSendError?: (err: unknown) => void;
  /**
   * True for an error that retrying cannot fix (the task does not exist, the token is refused):
   * the log then stops sending and keeps its lines only locally (`lines()`).
   */
  isPermanent?: (err: unknown) => boolean;
}

export function formatTimestamp(d: Date): string {
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

export class TaskLog {
  private buffer: string[] = [];
  private dropped = 0;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private disabledBy: unknown;
  private readonly all: string[] = [];

  constructor(private readonly opts: TaskLogOptions) {}

  /** Adds one or more lines (a multi-line text becomes several lines, each timestamped). */
  line(text: string): void {
    if (this.closed) return;
    const stamp = formatTimestamp(this.now());
    for (const part of this.opts.redactor.redact(text).split(/\r?\n/)) {
      const line = `${stamp} - ${part}`;
      this.buffer.push(line);
      this.all.push(line);
      this.opts.mirror?.(line);
    }
    const max = this.opts.maxBufferedLines ?? 5000;
    if (this.buffer.length > max) {
      const excess = this.buffer.length - max;
      this.buffer.splice(0, excess);
      this.dropped += excess;
    }
    if (this.buffer.length >= this.opts.flushLines) void this.flush();
    else this.schedule();
  }

  /** Every line written so far (for the local run log and the end-of-run summary). */
  lines(): readonly string[] {
    return this.all;
  }

  /** Sends what is buffered; resolves when that attempt is over (never rejects). */
  flush(): Promise<void> {
    if (this.inFlight) return this.inFlight.then(() => (this.buffer.length ? this.flush() : undefined));
    if (this.disabledBy !== undefined) {
      this.buffer = [];
      this.dropped = 0;
      return Promise.resolve();
    }
    if (this.buffer.length === 0 && this.dropped === 0) return Promise.resolve();
    this.clearTimer();
    const batch = this.buffer;
    this.buffer = [];
    if (this.dropped > 0) {
      batch.unshift(
        `${formatTimestamp(this.now())} - [${this.dropped} earlier log lines were not delivered: backend unavailable]`,
      );
    }
    const dropped = this.dropped;
    this.dropped = 0;
    this.inFlight = this.opts
      .send(batch.join('\n'))
      .catch((err: unknown) => {
        this.opts.onSendError?.(err);
        if (this.opts.isPermanent?.(err)) {
          this.disabledBy = err;
          this.buffer = [];
          this.dropped = 0;
          return;
        }
        // Put the batch back in front of anything newer; it goes out with the next flush.
        this.buffer = [...batch.slice(dropped > 0 ? 1 : 0), ...this.buffer];
        this.dropped += dropped;
        this.schedule();
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  /** Sends what is buffered now, waiting at most `timeoutMs`; true when it went out. */
  async flushWithin(timeoutMs: number): Promise<boolean> {
    const settled = await settlesWithin(this.flush(), timeoutMs);
    return settled && this.buffer.length === 0 && this.disabledBy === undefined;
  }

  /**
   * Flushes, retrying until everything is sent or `timeoutMs` passes; then stops accepting lines.
   * A send that does not answer is not waited for past the timeout (its lines count as not delivered).
   */
  async close(timeoutMs: number): Promise<{ delivered: boolean; error?: string }> {
    this.clearTimer();
    const deadline = Date.now() + timeoutMs;
    let lastError: string | undefined;
    const previous = this.opts.onSendError;
    this.opts.onSendError = (err) => {
      lastError = describeError(err);
      previous?.(err);
    };
    const pending = () => this.buffer.length > 0 || this.inFlight !== undefined || this.dropped > 0;
    while (pending()) {
      const settled = await settlesWithin(this.flush(), Math.max(0, deadline - Date.now()));
      this.clearTimer();
      if (!settled) {
        lastError = `the backend did not answer within ${timeoutMs} ms`;
        break;
      }
      if (!pending() || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(0, deadline - Date.now()))));
    }
    this.closed = true;
    if (this.disabledBy !== undefined) return { delivered: false, error: describeError(this.disabledBy) };
    const delivered = !pending();
    return delivered ? { delivered } : { delivered, error: lastError };
  }

  private now(): Date {
    return (this.opts.now ?? (() => new Date()))();
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.opts.flushIntervalMs);
    this.timer.unref?.();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Whether `p` settles within `ms` (it is not cancelled either way). */
function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    p.then(done, done);
  });
}
