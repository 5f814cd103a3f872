/**
 * The poller Lambda (EventBridge rate(1 minute), reserved concurrency 1). It runs the core poll
 * loop (core/polling/loop.ts) for most of its run: long polls one after another until the time
 * left is below `POLL_WAIT_SECONDS + POLL_SAFETY_MARGIN_SECONDS`, so pickup is nearly continuous.
 *
 * - Messages go to SQS (SqsTaskQueue.send: SendMessageBatch) before the cursor moves past them;
 *   malformed ones go to the DLQ with a `reason` attribute (the poll step does both).
 * - The cursor and the topic id live in S3 at state/cursor.json (S3VersionedStore: ETag
 *   conditional writes), so an overlapping invocation can neither move it back nor duplicate.
 * - A poll error never fails the invocation (the loop backs off and goes on). An invocation that
 *   made no successful poll at all emits PollErrors and ends normally; the "no successful poll
 *   for 5 minutes" alarm watches PollSuccess.
 * - Metrics (EMF): PollSuccess (1 per successful poll), MessagesForwarded, MessagesDeadLettered,
 *   PollErrors (1 per failed poll, and at least 1 when the invocation had no successful poll).
 */
import middy from '@middy/core';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context } from 'aws-lambda';
import { describeError, isAvatarError } from '../../core/errors.ts';
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
  polls: number;
  pollErrors: number;
  forwarded: number;
  deadLettered: number;
  cursor?: Id;
  topicId?: Id;
  /** Why the invocation ended without a successful poll, if it did. */
  problem?: string;
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
 * Polls until the Lambda's remaining time is below wait + safety margin. Sleeps (backoff, the
 * interval of a backend that does not long-poll) are cut at the window's end, and a hard stop at
 * half the margin aborts a poll still running then, so the invocation always ends in time.
 */
export async function runPollWindow(o: PollWindowOptions): Promise<PollSummary> {
  const { settings } = o.runtime;
  const clock = o.clock ?? systemClock;
  const reserveMs = (settings.waitSeconds + settings.safetyMarginSeconds) * 1000;
  const remaining = () => o.context.getRemainingTimeInMillis();
  const until = () => remaining() < reserveMs;
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

  const summary: PollSummary = { polls: 0, pollErrors: 0, forwarded: 0, deadLettered: 0 };
  let lastError: string | undefined;
  try {
    await runPollLoop({
      client: () => o.runtime.client,
      queue: o.runtime.queue,
      cursor: o.runtime.cursor,
      log: o.log,
      clock: windowClock,
      signal: controller.signal,
      until,
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
          o.metrics.count(METRIC.PollSuccess);
          if (r.forwarded > 0) o.metrics.count(METRIC.MessagesForwarded, r.forwarded);
          if (r.deadLettered > 0) o.metrics.count(METRIC.MessagesDeadLettered, r.deadLettered);
        },
        onError: (err) => {
          summary.pollErrors++;
          lastError = describeError(err);
          o.metrics.count(METRIC.PollErrors);
        },
      },
    });
  } finally {
    clearTimeout(hardStop);
  }

  if (summary.polls === 0) {
    summary.problem =
      lastError ??
      `no time to poll: ${remaining()} ms left, a poll needs wait + margin = ${reserveMs} ms (raise the Lambda timeout)`;
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
      // A broken configuration fails the invocation loudly; anything else (a secret briefly
      // unreadable) is a failed poll: logged, counted, and tried again next minute.
      if (isAvatarError(err, 'CONFIG_INVALID')) throw err;
      log.error('poller could not start', { error: describeError(err) });
      return { polls: 0, pollErrors: 1, forwarded: 0, deadLettered: 0, problem: describeError(err) };
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
    return summary;
  };

  return middy(poll).use(injectLambdaContext(logger)).use(logMetrics(metrics));
}

/** The Lambda entry point: `functions/poller/handler.ts` export `handler`. */
export const handler = createPollerHandler();
