/**
 * The dispatcher's decisions for one SQS record, written against injected ports (queue, blobs,
 * launcher, Numa client, clock) so the handler wires AWS adapters and tests wire fakes or moto.
 *
 *  1. Validate (zod). A malformed body goes to the DLQ with the reason; the record succeeds (it
 *     would never get better by retrying).
 *  2. Idempotency record `dispatch/<key>-a<attempt>.json` (put-if-absent). Already `launched`:
 *     a redelivery, nothing to do. Still `launching` (a crash or an error between the record and
 *     RunTask): RunTask again with the record's clientToken and parameters (ECS makes that
 *     idempotent).
 *  3. One runner per task at a time, at most `maxRunners` in all: otherwise a delayed copy goes
 *     back on the queue (its delay grows with `deferrals`) and the record succeeds: neither lost
 *     nor counted toward the DLQ.
 *  4. RunTask. Capacity errors are retried with backoff within the invocation, then deferred the
 *     same way; any other launch error fails the record (SQS retries it, then the DLQ).
 *  5. A log line to the task ("dispatched to Fargate task <arn>, attempt n"); a failure to post it
 *     never fails the dispatch.
 *
 * One Dispatcher serves one batch: it remembers the runners it started, so that records of the same
 * batch see them even before ECS lists them.
 */
import { AvatarError, describeError, isAvatarError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { describeIssues, isManual, type TaskMessage } from '../../core/message.ts';
import type { NumaClient } from '../../core/numa/client.ts';
import type { BlobStore, Clock, DeadLetter } from '../../core/ports.ts';
import { patternRedactor, type Redactor } from '../../core/redact.ts';
import { backoffDelay } from '../../core/retry.ts';
import { formatTimestamp } from '../../container/runner/task-log.ts';
import { newRunId } from '../../container/runner/run-id.ts';
import { METRIC, type MetricSink } from '../common/metrics.ts';
import { attemptKey, baseKey, coreMessage, dispatchMessageSchema, type DispatchMessage } from './message.ts';

/** The queue operations the dispatcher needs (SqsTaskQueue provides them). */
export interface DispatchQueue {
  /** Sends a copy of the message, visible after `delaySeconds` (at most 900). */
  sendDelayed(body: DispatchMessage, delaySeconds: number): Promise<void>;
  deadLetter(letter: DeadLetter): Promise<void>;
}

export interface RunnerLaunch {
  /** The core message: what the runner receives in NUMA_MESSAGE. */
  message: TaskMessage;
  /**
   * What RunTask's clientToken is derived from (EcsLauncher: sha256 of "<messageKey>#<attempt>"):
   * the same for every retry of one launch, so ECS starts one task however often it is asked.
   */
  messageKey: string;
  runId: string;
}

export interface RunnerLauncher {
  /** Starts a runner; resolves with the ECS task ARN (EcsLauncher.launchTask). */
  launch(req: RunnerLaunch): Promise<{ taskArn: string }>;
  /** Runners under way now, in all. */
  running(): Promise<number>;
  isRunning(taskId: string): Promise<boolean>;
}

export interface DispatchSettings {
  maxRunners: number;
  /** RunTask tries on capacity errors within one invocation (default 3). */
  capacityTries?: number;
  /** Backoff between those tries (default base 1 s, cap 8 s, full jitter). */
  capacityBackoff?: { baseMs: number; capMs: number };
  /** Delay of a deferred copy: base * 2^deferrals seconds, at most max (default 30 s .. 900 s). */
  deferral?: { baseSeconds: number; maxSeconds: number };
}

export interface DispatcherDeps {
  queue: DispatchQueue;
  blobs: BlobStore;
  launcher: RunnerLauncher;
  client: NumaClient;
  clock: Clock;
  logger: Logger;
  metrics: MetricSink;
  settings: DispatchSettings;
  /** Whether a launch error is a capacity (or throttling) error worth retrying later. */
  isCapacityError?: (err: unknown) => boolean;
  redactor?: Redactor;
  random?: () => number;
  newRunId?: () => string;
}

/** An SQS record, as far as the dispatcher cares. */
export interface IncomingRecord {
  messageId: string;
  body: string;
  /** ApproximateReceiveCount, when known (logs only). */
  receiveCount?: number;
}

export interface DispatchRecord {
  version: 1;
  key: string;
  state: 'launching' | 'launched';
  taskId: string;
  attempt: number;
  runId: string;
  /** The launcher's key for this launch (see launchKeyFor). */
  launchKey: string;
  message: TaskMessage;
  sqsMessageId: string;
  createdAt: string;
  taskArn?: string;
  launchedAt?: string;
  lastError?: string;
}

export type DispatchOutcome =
  | { kind: 'launched'; key: string; taskArn: string; runId: string; attempt: number; resumed: boolean }
  | { kind: 'duplicate'; key: string; taskArn?: string }
  | { kind: 'deferred'; reason: 'task-running' | 'cap' | 'capacity'; delaySeconds: number; deferrals: number }
  | { kind: 'dead-lettered'; reason: string };

export const DISPATCH_PREFIX = 'dispatch/';

export function dispatchRecordKey(key: string): string {
  return `${DISPATCH_PREFIX}${key}.json`;
}

/**
 * The key RunTask's clientToken is derived from: the attempt key, plus the deferral count once the
 * message was deferred (a capacity deferral removes the record, and the next launch must not be
 * answered with the cached failure of the old token).
 */
export function launchKeyFor(key: string, deferrals = 0): string {
  return deferrals > 0 ? `${key}#d${deferrals}` : key;
}

export class Dispatcher {
  private runningBase: number | undefined;
  private launchedHere = 0;
  private readonly tasksHere = new Set<string>();
  private readonly redactor: Redactor;

  constructor(private readonly deps: DispatcherDeps) {
    this.redactor = deps.redactor ?? patternRedactor;
  }

  /** Decides one record; throws when SQS should deliver it again (counted as DispatchFailed). */
  async dispatch(rec: IncomingRecord): Promise<DispatchOutcome> {
    try {
      return await this.dispatchOne(rec);
    } catch (err) {
      this.deps.metrics.count(METRIC.DispatchFailed);
      this.deps.logger.error('dispatch failed; SQS will deliver the message again', {
        sqs_message_id: rec.messageId,
        receive_count: rec.receiveCount,
        error: describeError(err),
      });
      throw err;
    }
  }

  private async dispatchOne(rec: IncomingRecord): Promise<DispatchOutcome> {
    const parsed = this.parse(rec);
    if (!parsed.ok) return this.deadLetter(rec, parsed.reason);
    const msg = parsed.message;
    const attempt = msg.attempt ?? 1;
    const base = baseKey(msg, rec.messageId);
    const key = attemptKey(base, attempt);
    const taskId = String(msg.task_id);
    const log = this.deps.logger.child({ task_id: taskId, key, sqs_message_id: rec.messageId });

    const existing = await this.loadRecord(key);
    if (existing?.state === 'launched') {
      log.info('message already dispatched; not starting a second runner', { task_arn: existing.taskArn });
      return { kind: 'duplicate', key, ...(existing.taskArn ? { taskArn: existing.taskArn } : {}) };
    }
    if (existing) {
      log.warn('dispatch record still "launching": starting it again with the same clientToken');
      return this.launch(existing, msg, base, log, true);
    }

    // Not dispatched yet: the per-task lock and the cap.
    if (this.tasksHere.has(taskId) || (await this.deps.launcher.isRunning(taskId))) {
      return this.defer(msg, base, 'task-running', log);
    }
    const running = await this.runningNow();
    if (running >= this.deps.settings.maxRunners) {
      log.info('runner cap reached', { running, max_runners: this.deps.settings.maxRunners });
      return this.defer(msg, base, 'cap', log);
    }

    const record: DispatchRecord = {
      version: 1,
      key,
      state: 'launching',
      taskId,
      attempt,
      runId: (this.deps.newRunId ?? newRunId)(),
      launchKey: launchKeyFor(key, msg.deferrals),
      message: coreMessage(msg),
      sqsMessageId: rec.messageId,
      createdAt: new Date(this.deps.clock.now()).toISOString(),
    };
    if (!(await this.deps.blobs.putIfAbsent(dispatchRecordKey(key), JSON.stringify(record, null, 2)))) {
      // Another invocation got there first (a concurrent redelivery).
      const other = await this.loadRecord(key);
      if (!other || other.state === 'launched') {
        log.info('message dispatched by a concurrent invocation; nothing to do');
        return { kind: 'duplicate', key, ...(other?.taskArn ? { taskArn: other.taskArn } : {}) };
      }
      return this.launch(other, msg, base, log, true);
    }
    return this.launch(record, msg, base, log, false);
  }

  private parse(rec: IncomingRecord): { ok: true; message: DispatchMessage } | { ok: false; reason: string } {
    let value: unknown;
    try {
      value = JSON.parse(rec.body);
    } catch {
      return { ok: false, reason: 'message body is not valid JSON' };
    }
    const parsed = dispatchMessageSchema.safeParse(value);
    if (!parsed.success)
      return { ok: false, reason: `invalid task message: ${describeIssues(parsed.error)}` };
    return { ok: true, message: parsed.data };
  }

  private async deadLetter(rec: IncomingRecord, reason: string): Promise<DispatchOutcome> {
    this.deps.logger.warn('malformed message sent to the dead-letter queue', {
      sqs_message_id: rec.messageId,
      reason,
    });
    await this.deps.queue.deadLetter({
      raw: rec.body,
      reason,
      source: `dispatcher (SQS message ${rec.messageId})`,
    });
    this.deps.metrics.count(METRIC.MessagesDeadLettered);
    return { kind: 'dead-lettered', reason };
  }

  private async runningNow(): Promise<number> {
    this.runningBase ??= await this.deps.launcher.running();
    return this.runningBase + this.launchedHere;
  }

  private deferDelay(deferrals: number): number {
    const { baseSeconds, maxSeconds } = this.deps.settings.deferral ?? { baseSeconds: 30, maxSeconds: 900 };
    const ceiling = Math.min(maxSeconds, 900, baseSeconds * 2 ** Math.min(deferrals, 20));
    const random = this.deps.random ?? Math.random;
    // Half fixed, half jitter: deferred messages do not all come back at the same second.
    return Math.max(1, Math.round(ceiling / 2 + (random() * ceiling) / 2));
  }

  private async defer(
    msg: DispatchMessage,
    base: string,
    reason: 'task-running' | 'cap' | 'capacity',
    log: Logger,
  ): Promise<DispatchOutcome> {
    const deferrals = (msg.deferrals ?? 0) + 1;
    const delaySeconds = this.deferDelay(deferrals - 1);
    await this.deps.queue.sendDelayed({ ...msg, deferrals, dispatch_key: base }, delaySeconds);
    this.deps.metrics.count(METRIC.DispatchDeferred);
    const why = {
      'task-running': 'a runner of this task is already under way',
      cap: 'the runner cap is reached',
      capacity: 'Fargate has no capacity right now',
    }[reason];
    log.info(`dispatch deferred: ${why}`, { delay_seconds: delaySeconds, deferrals });
    return { kind: 'deferred', reason, delaySeconds, deferrals };
  }

  private async launch(
    record: DispatchRecord,
    msg: DispatchMessage,
    base: string,
    log: Logger,
    resumed: boolean,
  ): Promise<DispatchOutcome> {
    const tries = Math.max(1, this.deps.settings.capacityTries ?? 3);
    const backoff = this.deps.settings.capacityBackoff ?? { baseMs: 1000, capMs: 8000 };
    const isCapacity = this.deps.isCapacityError ?? ((e: unknown) => isAvatarError(e, 'LAUNCH_CAPACITY'));
    let taskArn: string | undefined;
    for (let i = 1; taskArn === undefined; i++) {
      try {
        ({ taskArn } = await this.deps.launcher.launch({
          message: record.message,
          messageKey: record.launchKey,
          runId: record.runId,
        }));
      } catch (err) {
        if (isCapacity(err) && i < tries) {
          const delay = Math.max(200, backoffDelay(i - 1, { ...backoff, random: this.deps.random }));
          log.info('no capacity for the runner; retrying', {
            try: i,
            delay_ms: delay,
            error: describeError(err),
          });
          await this.deps.clock.sleep(delay);
          continue;
        }
        if (isCapacity(err)) {
          // No task was started (every try was refused): the record goes, the message comes back later.
          log.warn('no capacity for the runner after retries; deferring', {
            tries,
            error: describeError(err),
          });
          await this.deps.blobs.delete(dispatchRecordKey(record.key));
          return this.defer(msg, base, 'capacity', log);
        }
        const detail = describeError(err);
        await this.deps.blobs
          .put(dispatchRecordKey(record.key), JSON.stringify({ ...record, lastError: detail }, null, 2))
          .catch(() => undefined);
        throw new AvatarError('LAUNCH_FAILED', `starting a runner for task ${record.taskId}: ${detail}`, {
          cause: err,
        });
      }
    }

    const launched: DispatchRecord = {
      ...record,
      state: 'launched',
      taskArn,
      launchedAt: new Date(this.deps.clock.now()).toISOString(),
    };
    delete launched.lastError;
    await this.deps.blobs.put(dispatchRecordKey(record.key), JSON.stringify(launched, null, 2));

    const running = (await this.runningNow()) + 1;
    this.launchedHere++;
    this.tasksHere.add(record.taskId);
    this.deps.metrics.count(METRIC.Dispatches);
    this.deps.metrics.gauge(METRIC.RunnersRunning, running);
    log.info('runner started', { task_arn: taskArn, run_id: record.runId, attempt: record.attempt, resumed });

    await this.postLog(record, taskArn, log);
    return {
      kind: 'launched',
      key: record.key,
      taskArn,
      runId: record.runId,
      attempt: record.attempt,
      resumed,
    };
  }

  private async postLog(record: DispatchRecord, taskArn: string, log: Logger): Promise<void> {
    const stamp = formatTimestamp(new Date(this.deps.clock.now()));
    const lines = [`dispatched to Fargate task ${taskArn}, attempt ${record.attempt}`];
    if (isManual(record.message) && record.attempt === 1) {
      lines.push(
        record.message.reason
          ? `re-run requested by hand: ${record.message.reason}`
          : 're-run requested by hand',
      );
    }
    const text = this.redactor.redact(
      lines
        .flatMap((l) => l.split(/\r?\n/))
        .map((l) => `${stamp} - ${l}`)
        .join('\n'),
    );
    try {
      await this.deps.client.appendLogs(record.message.task_id, text, { maxAttempts: 2 });
    } catch (err) {
      log.warn('could not post the dispatch log line to the task', { error: describeError(err) });
    }
  }

  private async loadRecord(key: string): Promise<DispatchRecord | undefined> {
    const data = await this.deps.blobs.get(dispatchRecordKey(key));
    if (!data) return undefined;
    try {
      const rec = JSON.parse(data.toString('utf8')) as DispatchRecord;
      if (
        rec &&
        typeof rec === 'object' &&
        typeof rec.runId === 'string' &&
        typeof rec.launchKey === 'string'
      ) {
        return rec;
      }
    } catch {
      /* fall through */
    }
    throw new AvatarError('AWS_FAILED', `dispatch record ${dispatchRecordKey(key)} is not a dispatch record`);
  }
}
