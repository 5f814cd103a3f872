/**
 * Local dispatch: takes messages off the durable queue and starts a runner for each, at most
 * `concurrency` at once and never two runs of one task at once. One run per message (and attempt):
 * a dispatch record is written with put-if-absent before the runner starts, so a redelivered
 * message never starts a second run. When a runner dies without reporting a final status, the
 * task is reported `failed` with the reason and the message is re-queued while attempts remain.
 * After a restart (even `kill -9`), `recover()` adopts runners still alive and settles the rest.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../core/config/schema.ts';
import { describeError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { messageKey, type TaskMessage } from '../core/message.ts';
import type { NumaClient } from '../core/numa/client.ts';
import type { BlobStore, ReceivedMessage } from '../core/ports.ts';
import type { Redactor } from '../core/redact.ts';
import type { FileQueue } from '../adapters/local/file-queue.ts';
import { formatTimestamp } from '../container/runner/task-log.ts';
import { readResult, runPrefix } from '../container/runner/snapshot.ts';
import { newRunId } from '../container/runner/run-id.ts';
import { ReportOutbox } from './report-outbox.ts';
import {
  findRunnerPid,
  isRunnerAlive,
  type ChildExit,
  type ProcessLauncher,
  type RunningChild,
} from './process-launcher.ts';

export interface DispatchRecord {
  key: string;
  runId: string;
  taskId: string;
  attempt: number;
  receipt: string;
  message: TaskMessage;
  pid?: number;
  startedAt: string;
  endedAt?: string;
  outcome?: string;
}

export interface ActiveRun {
  taskId: string;
  runId: string;
  attempt: number;
  startedAt: string;
  pid: number;
}

export interface LocalDispatcherOptions {
  queue: FileQueue;
  blobs: BlobStore;
  launcher: ProcessLauncher;
  workDir: string;
  config: () => Config;
  client: () => NumaClient;
  logger: Logger;
  redactor: Redactor;
  /** The arguments and environment of a runner process. */
  runnerSpec: (rec: DispatchRecord) => { args: string[]; env: NodeJS.ProcessEnv };
  /** Called when a run ends, however it ended. */
  onRunEnded?: (rec: DispatchRecord, outcome: string) => void;
}

export class LocalDispatcher {
  private readonly active = new Map<string, ActiveRun & { child: RunningChild }>();
  private readonly activeTasks = new Set<string>();
  private wake: (() => void) | undefined;
  private readonly settling = new Set<Promise<void>>();
  private readonly outbox: ReportOutbox;
  private lastOutboxRetry = 0;

  constructor(private readonly opts: LocalDispatcherOptions) {
    this.outbox = new ReportOutbox(opts.blobs, opts.logger);
  }

  runs(): ActiveRun[] {
    return [...this.active.values()].map(({ child: _c, ...run }) => run);
  }

  /** Wakes the loop (a message was queued, a run ended). */
  poke(): void {
    this.wake?.();
  }

  /**
   * Settles what an earlier process left: messages claimed but not acknowledged. A live runner is
   * adopted; a finished one is acknowledged; a dead one without a result is handled as a crash;
   * a message that never started goes back to the queue.
   */
  async recover(): Promise<void> {
    const inflight = await this.opts.queue.inflight();
    for (const m of inflight) {
      const rec = await this.loadRecord(this.keyOf(m));
      if (!rec) {
        await this.opts.queue.release(m.receipt, 0);
        continue;
      }
      rec.receipt = m.receipt;
      if (rec.endedAt) {
        // Settled (reported, re-queued, recorded) before the crash; only the ack was missing.
        await this.opts.queue.ack(m.receipt);
        continue;
      }
      // Started, but the service died before it saved the pid: look for the runner by its run id.
      rec.pid ??= findRunnerPid(rec.runId);
      if (rec.pid && isRunnerAlive(rec.pid, rec.runId)) {
        this.opts.logger.info('adopting a runner still alive from before the restart', {
          task_id: rec.taskId,
          run_id: rec.runId,
          pid: rec.pid,
        });
        this.track(rec, this.opts.launcher.adopt(rec.runId, rec.pid));
        continue;
      }
      await this.settle(rec, { code: null, signal: null, adopted: true });
    }
  }

  /** The dispatch loop; returns when `signal` aborts (running children are left to the caller). */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.retryReports();
        const free = this.opts.config().concurrency - this.active.size;
        if (free > 0) {
          for (const m of await this.opts.queue.receive(free)) {
            if (signal.aborted) {
              await this.opts.queue.release(m.receipt, 0);
              continue;
            }
            await this.dispatch(m);
          }
        }
      } catch (err) {
        this.opts.logger.error('dispatch failed; retrying', { error: describeError(err) });
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, 1000);
        const onAbort = () => done();
        signal.addEventListener('abort', onAbort, { once: true });
        this.wake = done;
        function done() {
          clearTimeout(t);
          signal.removeEventListener('abort', onAbort);
          resolve();
        }
      });
      this.wake = undefined;
    }
  }

  /** Resolves when every run has ended and been settled, or after `timeoutMs`; true if all ended. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while ((this.active.size > 0 || this.settling.size > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    return this.active.size === 0 && this.settling.size === 0;
  }

  private keyOf(m: ReceivedMessage): string {
    return `${messageKey(m.body, m.id)}-a${m.body.attempt ?? 1}`;
  }

  private recordKey(key: string): string {
    return `dispatch/${key}.json`;
  }

  private async loadRecord(key: string): Promise<DispatchRecord | undefined> {
    const data = await this.opts.blobs.get(this.recordKey(key));
    return data ? (JSON.parse(data.toString('utf8')) as DispatchRecord) : undefined;
  }

  private async dispatch(m: ReceivedMessage): Promise<void> {
    const taskId = String(m.body.task_id);
    if (this.activeTasks.has(taskId)) {
      // One run per task at a time: this message waits for the current run to end.
      await this.opts.queue.release(m.receipt, 2);
      return;
    }
    const key = this.keyOf(m);
    const rec: DispatchRecord = {
      key,
      runId: newRunId(),
      taskId,
      attempt: m.body.attempt ?? 1,
      receipt: m.receipt,
      message: m.body,
      startedAt: new Date().toISOString(),
    };
    if (!(await this.opts.blobs.putIfAbsent(this.recordKey(key), JSON.stringify(rec)))) {
      this.opts.logger.info('message already dispatched once; not running it again', {
        key,
        task_id: taskId,
      });
      await this.opts.queue.ack(m.receipt);
      return;
    }
    let child: RunningChild;
    try {
      const spec = this.opts.runnerSpec(rec);
      child = this.opts.launcher.start({
        runId: rec.runId,
        args: spec.args,
        env: spec.env,
        logFile: this.logFile(rec),
      });
    } catch (err) {
      // No runner (no log file, no fd, no process): settled as a run that could not start, so the
      // message is neither left claimed nor lost.
      this.opts.logger.error('could not start a runner', { task_id: taskId, error: describeError(err) });
      await this.settle(rec, {
        code: null,
        signal: null,
        adopted: false,
        startError: describeError(err),
      });
      return;
    }
    rec.pid = child.pid;
    await this.opts.blobs.put(this.recordKey(key), JSON.stringify(rec));
    this.opts.logger.info('runner started', {
      task_id: taskId,
      run_id: rec.runId,
      pid: child.pid,
      attempt: rec.attempt,
    });
    this.track(rec, child);
  }

  private logFile(rec: DispatchRecord): string {
    return path.join(this.opts.workDir, runPrefix(rec.taskId, rec.runId), 'runner.log');
  }

  private track(rec: DispatchRecord, child: RunningChild): void {
    this.active.set(rec.runId, {
      taskId: rec.taskId,
      runId: rec.runId,
      attempt: rec.attempt,
      startedAt: rec.startedAt,
      pid: child.pid,
      child,
    });
    this.activeTasks.add(rec.taskId);
    void child.exited.then((exit) => {
      const p = this.settle(rec, exit)
        .catch((err: unknown) =>
          this.opts.logger.error('could not settle a run', { run_id: rec.runId, error: describeError(err) }),
        )
        .finally(() => {
          this.settling.delete(p);
          this.active.delete(rec.runId);
          this.activeTasks.delete(rec.taskId);
          this.poke();
        });
      this.settling.add(p);
    });
  }

  /** Decides how a run ended, reports a crash, re-queues while attempts remain, acknowledges. */
  private async settle(rec: DispatchRecord, exit: ChildExit): Promise<void> {
    const result = await readResult(this.opts.blobs, rec.taskId, rec.runId);
    const config = this.opts.config();
    let outcome: string;
    if (result) {
      // The runner wrote its result: that is the outcome, whatever the exit looked like.
      outcome = result.status;
      if (!result.reported) await this.report(rec, statusName(config, result.status), []);
    } else {
      const how = exit.startError
        ? `could not be started: ${exit.startError}`
        : exit.signal
          ? `killed by ${exit.signal}`
          : exit.code !== null
            ? `exited with code ${exit.code}`
            : 'ended with an unknown exit status (it was started before the service restarted)';
      const tail = await this.tailOfLog(rec);
      const requeue = rec.attempt < config.limits.max_attempts;
      const reason =
        `runner ${rec.runId} died without reporting a final status: ${how}` +
        (requeue
          ? `; re-queued as attempt ${rec.attempt + 1} of ${config.limits.max_attempts}`
          : '; no attempts left');
      this.opts.logger.warn('runner crashed', { task_id: rec.taskId, run_id: rec.runId, how });
      await this.report(rec, config.statuses.failed, [
        reason,
        ...(tail ? ['last runner output:', tail] : []),
      ]);
      if (requeue) {
        const next: TaskMessage = { ...rec.message, attempt: rec.attempt + 1 };
        const base = rec.key.replace(/-a\d+$/, '');
        await this.opts.queue.send([{ dedupKey: `${base}-a${rec.attempt + 1}`, body: next }]);
      }
      outcome = 'crashed';
    }
    rec.endedAt = new Date().toISOString();
    rec.outcome = outcome;
    await this.opts.blobs.put(this.recordKey(rec.key), JSON.stringify(rec));
    await this.opts.queue.ack(rec.receipt);
    this.opts.onRunEnded?.(rec, outcome);
  }

  private async report(rec: DispatchRecord, status: string, lines: string[]): Promise<void> {
    const stamp = formatTimestamp(new Date());
    const logs = lines.length
      ? this.opts.redactor.redact(
          lines
            .flatMap((l) => l.split('\n'))
            .map((l) => `${stamp} - ${l}`)
            .join('\n'),
        )
      : undefined;
    await this.outbox.deliver(this.opts.client(), {
      taskId: rec.taskId,
      status,
      ...(logs ? { logs } : {}),
      firstTriedAt: new Date().toISOString(),
    });
  }

  /** Retries reports kept while the backend was away (called by the loop, at most every 10 s). */
  private async retryReports(): Promise<void> {
    if (Date.now() - this.lastOutboxRetry < 10_000) return;
    this.lastOutboxRetry = Date.now();
    await this.outbox.retry(this.opts.client());
  }

  private async tailOfLog(rec: DispatchRecord): Promise<string> {
    try {
      const text = await readFile(this.logFile(rec), 'utf8');
      return this.opts.redactor.redact(text.trimEnd().split('\n').slice(-15).join('\n'));
    } catch {
      return '';
    }
  }
}

function statusName(config: Config, status: 'done' | 'failed' | 'blocked'): string {
  return config.statuses[status];
}
