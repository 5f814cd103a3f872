/**
 * The poller Lambda (EventBridge rate(1 minute), reserved concurrency 1). Each invocation runs the
 * core poll loop (core/polling/loop.ts) for as long as there is work:
 *
 * - Idle: ONE long poll of `POLL_WAIT_SECONDS` (the window), then it returns. An idle stack pays for
 *   about the window each minute, and a message published between two invocations waits for the
 *   next one: the worst-case pickup latency while idle is about the schedule's period minus the
 *   window.
 * - Busy: while polls bring new messages it keeps polling (each poll returns as soon as a message
 *   is there), until the time left is below `POLL_WAIT_SECONDS + POLL_SAFETY_MARGIN_SECONDS`, so
 *   a busy period costs no pickup latency. The first poll that brings nothing new ends it.
 * - A failed poll is retried with backoff while that time budget lasts (the loop never dies of a
 *   backend error); the invocation ends at its first successful poll that brings nothing new.
 *
 * - Messages go to SQS (SqsTaskQueue.send: SendMessageBatch) before the cursor moves past them;
 *   malformed ones go to the DLQ with a `reason` attribute (the poll step does both).
 * - The cursor and the topic id live in S3 at state/cursor.json (S3VersionedStore: ETag
 *   conditional writes), so an overlapping invocation can neither move it back nor duplicate.
 * - An invocation that made no successful poll at all fails (PollFailedError, code POLL_FAILED,
 *   after logging why): the Lambda's own Errors metric then counts it, and the "no successful poll
 *   for 5 minutes" alarm watches the poller's Invocations minus its Errors
 *   (infra/constructs/monitoring.ts). The schedule runs it again next minute; nothing retries the
 *   failed one.
 * - Metrics (EMF), written only when there is one to write, so an idle invocation emits none:
 *   MessagesForwarded and MessagesDeadLettered (when messages came), PollErrors (1 per failed
 *   poll, and at least 1 when the invocation had no successful poll).
 */
import middy from '@middy/core';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { AvatarError, describeError, isAvatarError } from '../../core/errors.ts';
import type { Logger as CoreLogger } from '../../core/log.ts';
import type { Id } from '../../core/message.ts';
import type { NumaClient, NumaClientOptions } from '../../core/numa/client.ts';
import { runPollLoop } from '../../core/polling/loop.ts';
import type { CursorState } from '../../core/polling/poller.ts';
import { systemClock, type Clock, type TaskQueue, type VersionedStore } from '../../core/ports.ts';
import type { AwsClientConfigOptions } from '../../adapters/aws/clients.ts';
import { S3VersionedStore } from '../../adapters/aws/s3-versioned-store.ts';
import { SqsTaskQueue } from '../../adapters/aws/sqs-queue.ts';
import { readPollerEnv, type Env, type PollerEnv } from '../common/env.ts';
import { lazy } from '../common/lazy.ts';
import { sharedRedactor } from '../common/logger.ts';
import { METRIC, type MetricSink } from '../common/metrics.ts';
import { createFunctionClients } from '../common/clients.ts';
import { handlerTelemetry } from '../common/telemetry.ts';

export const CURSOR_KEY = 'state/cursor.json';

export interface PollerRuntime {
  client: NumaClient;
  queue: TaskQueue;
  cursor: VersionedStore<CursorState>;
  settings: Pick<PollerEnv, 'waitSeconds' | 'limit' | 'safetyMarginSeconds' | 'intervalSeconds'>;
}

export interface PollSummary {
  /** Successful polls. */
  polls: number;
  pollErrors: number;
  forwarded: number;
  deadLettered: number;
  cursor?: Id;
  topicId?: Id;
  /**
   * Why the polling stopped: `idle`, a successful poll brought nothing new; `budget`, the time
   * left fell below wait + margin (messages kept coming, or polls kept failing).
   */
  end: 'idle' | 'budget';
  /** Why the invocation ended without a successful poll, if it did. */
  problem?: string;
}

/**
 * The invocation made no successful poll: thrown by the handler so that the Lambda counts an
 * error (the alarms watch the poller's own Errors and Invocations). The message is redacted: the
 * Lambda runtime writes a thrown error to the log itself, outside the redacting logger.
 */
export class PollFailedError extends AvatarError {
  constructor(
    readonly summary: PollSummary,
    options?: { cause?: unknown },
  ) {
    super(
      'POLL_FAILED',
      sharedRedactor.redact(`no successful poll in this invocation: ${summary.problem ?? 'unknown'}`),
      options,
    );
    this.name = 'PollFailedError';
  }
}

/** The part of the Lambda context the window needs. */
export type RemainingTime = Pick<Context, 'getRemainingTimeInMillis'>;

export interface PollWindowOptions {
  runtime: PollerRuntime;
  context: RemainingTime;
  log: CoreLogger;
  metrics: MetricSink;
  clock?: Clock;
  backoff?: { baseMs: number; capMs: number };
  random?: () => number;
}

/**
 * Polls until a successful poll brings nothing new (idle), or until the Lambda's remaining time is
 * below wait + safety margin (the time budget). Sleeps (backoff, the interval of a backend that
 * does not long-poll) are cut at the budget's end, and a hard stop at half the margin aborts a poll
 * still running then, so the invocation always ends in time.
 */
export async function runPollWindow(o: PollWindowOptions): Promise<PollSummary> {
  const { settings } = o.runtime;
  const clock = o.clock ?? systemClock;
  const reserveMs = (settings.waitSeconds + settings.safetyMarginSeconds) * 1000;
  const remaining = () => o.context.getRemainingTimeInMillis();
  /** The last poll succeeded and brought no new message: nothing to keep polling for. */
  let idle = false;
  const budgetSpent = () => remaining() < reserveMs;
  const windowClock: Clock = {
    now: () => clock.now(),
    sleep: (ms, signal) => clock.sleep(Math.min(ms, Math.max(0, remaining() - reserveMs)), signal),
  };
  const controller = new AbortController();
  const hardStop = setTimeout(
    () => controller.abort(),
    Math.max(0, remaining() - (settings.safetyMarginSeconds * 1000) / 2),
  );
  hardStop.unref?.();

  const summary: PollSummary = { polls: 0, pollErrors: 0, forwarded: 0, deadLettered: 0, end: 'budget' };
  let lastError: unknown;
  try {
    await runPollLoop({
      client: () => o.runtime.client,
      queue: o.runtime.queue,
      cursor: o.runtime.cursor,
      log: o.log,
      clock: windowClock,
      signal: controller.signal,
      until: () => idle || budgetSpent(),
      settings: {
        wait: () => settings.waitSeconds,
        limit: () => settings.limit,
        intervalSeconds: () => settings.intervalSeconds,
        ...(o.backoff ? { backoff: o.backoff } : {}),
      },
      ...(o.random ? { random: o.random } : {}),
      hooks: {
        onPoll: (r) => {
          summary.polls++;
          summary.forwarded += r.forwarded;
          summary.deadLettered += r.deadLettered;
          summary.cursor = r.cursor;
          summary.topicId = r.topicId;
          idle = r.forwarded + r.deadLettered === 0;
          if (r.forwarded > 0) o.metrics.count(METRIC.MessagesForwarded, r.forwarded);
          if (r.deadLettered > 0) o.metrics.count(METRIC.MessagesDeadLettered, r.deadLettered);
        },
        onError: (err) => {
          summary.pollErrors++;
          lastError = err;
          o.metrics.count(METRIC.PollErrors);
        },
      },
    });
  } finally {
    clearTimeout(hardStop);
  }
  if (idle) summary.end = 'idle';

  if (summary.polls === 0) {
    summary.problem =
      lastError !== undefined
        ? describeError(lastError)
        : `no time to poll: ${remaining()} ms left, a poll needs wait + margin = ${reserveMs} ms (raise the Lambda timeout)`;
    if (summary.pollErrors === 0) o.metrics.count(METRIC.PollErrors);
    o.log.error('no successful poll in this invocation', { problem: summary.problem });
  }
  return summary;
}

export interface PollerHandlerOptions {
  /** Default process.env. */
  env?: Env;
  /** AWS client settings (tests: an emulator's endpoint and fake credentials). */
  aws?: AwsClientConfigOptions;
  logger?: Logger;
  metrics?: Metrics;
  /** Overrides for the Numa client (tests). */
  numaClient?: Partial<NumaClientOptions>;
  clock?: Clock;
  backoff?: { baseMs: number; capMs: number };
  /** Builds the runtime instead of reading the environment (tests). */
  init?: () => Promise<PollerRuntime>;
}

/** Builds the poller's adapters from the environment: once per container. */
export async function pollerRuntimeFromEnv(
  env: Env,
  o: { aws?: AwsClientConfigOptions; log: CoreLogger; numaClient?: Partial<NumaClientOptions> },
): Promise<PollerRuntime> {
  const cfg = readPollerEnv(env);
  // A poll takes wait + the client timeout at most: well inside the safety margin.
  const {
    s3,
    sqs,
    numa: client,
  } = await createFunctionClients(cfg, o, {
    timeoutMs: Math.max(1000, (cfg.safetyMarginSeconds * 1000) / 2),
  });
  return {
    client,
    queue: new SqsTaskQueue({ client: sqs, queueUrl: cfg.queueUrl, dlqUrl: cfg.dlqUrl }),
    cursor: new S3VersionedStore<CursorState>({ client: s3, bucket: cfg.bucket, key: CURSOR_KEY }),
    settings: cfg,
  };
}

export function createPollerHandler(opts: PollerHandlerOptions = {}) {
  const { logger, metrics, log, sink } = handlerTelemetry(opts);
  const runtime = lazy(
    opts.init ??
      (() =>
        pollerRuntimeFromEnv(opts.env ?? process.env, {
          log,
          ...(opts.aws ? { aws: opts.aws } : {}),
          ...(opts.numaClient ? { numaClient: opts.numaClient } : {}),
        })),
  );

  const poll = async (_event: unknown, context: Context): Promise<PollSummary> => {
    let rt: PollerRuntime;
    try {
      rt = await runtime();
    } catch (err) {
      sink.count(METRIC.PollErrors);
      // A broken configuration fails the invocation as it is; anything else (a secret briefly
      // unreadable) is a failed poll: logged, counted, and tried again next minute.
      if (isAvatarError(err, 'CONFIG_INVALID')) throw err;
      log.error('poller could not start', { error: describeError(err) });
      const summary: PollSummary = {
        polls: 0,
        pollErrors: 1,
        forwarded: 0,
        deadLettered: 0,
        end: 'budget',
        problem: describeError(err),
      };
      throw new PollFailedError(summary, { cause: err });
    }
    const summary = await runPollWindow({
      runtime: rt,
      context,
      log,
      metrics: sink,
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.backoff ? { backoff: opts.backoff } : {}),
    });
    log.info('poller invocation done', { ...summary });
    if (summary.polls === 0) throw new PollFailedError(summary);
    return summary;
  };

  return middy(poll).use(injectLambdaContext(logger)).use(publishMetricsIfAny(metrics));
}

/**
 * Powertools' logMetrics, minus its line for an invocation without metrics ("No application
 * metrics to publish", a warning on every idle minute): the stored metrics are written after the
 * handler, and on its error, only when there are some.
 */
function publishMetricsIfAny(metrics: Metrics): middy.MiddlewareObj {
  const publish = () => {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  };
  return { after: publish, onError: publish };
}

/** The Lambda entry point: `functions/poller/handler.ts` export `handler`. */
export const handler = createPollerHandler();
