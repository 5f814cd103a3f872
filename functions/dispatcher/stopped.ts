/**
 * The stopped-task Lambda: an EventBridge rule on "ECS Task State Change" with lastStatus STOPPED
 * for the runner's task family invokes it. It makes sure no task stays `in_progress` when its
 * runner is gone (settle.ts): the status the runner could not report is reported; a runner that
 * died is reported `failed` with the stop reason and re-queued while attempts remain. Idempotent
 * per ECS task. An error fails the invocation so that Lambda's asynchronous retries try again.
 * Metrics: RunnerCrashes, Requeued.
 */
import middy from '@middy/core';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context, EventBridgeEvent } from 'aws-lambda';
import { describeError } from '../../core/errors.ts';
import type { Logger as CoreLogger } from '../../core/log.ts';
import type { NumaClientOptions } from '../../core/numa/client.ts';
import { systemClock, type Clock } from '../../core/ports.ts';
import type { AwsClientConfigOptions } from '../../adapters/aws/clients.ts';
import { S3BlobStore } from '../../adapters/aws/s3-blob-store.ts';
import { readStoppedEnv, type Env } from '../common/env.ts';
import { lazy } from '../common/lazy.ts';
import { sharedRedactor } from '../common/logger.ts';
import { createFunctionClients } from '../common/clients.ts';
import { handleStoppedTask, type StoppedDeps, type StoppedOutcome } from './settle.ts';
import { sqsDispatchSender } from './sqs-send.ts';
import { handlerTelemetry } from '../common/telemetry.ts';

export type StoppedRuntime = Omit<StoppedDeps, 'logger' | 'metrics'>;

export type EcsTaskStateChangeEvent = EventBridgeEvent<'ECS Task State Change', unknown>;

export interface StoppedHandlerOptions {
  env?: Env;
  aws?: AwsClientConfigOptions;
  logger?: Logger;
  metrics?: Metrics;
  numaClient?: Partial<NumaClientOptions>;
  clock?: Clock;
  init?: () => Promise<StoppedRuntime>;
}

export async function stoppedRuntimeFromEnv(
  env: Env,
  o: Pick<StoppedHandlerOptions, 'aws' | 'numaClient' | 'clock'> & { log: CoreLogger },
): Promise<StoppedRuntime> {
  const cfg = readStoppedEnv(env);
  const {
    s3,
    sqs,
    numa: client,
  } = await createFunctionClients(cfg, o, {
    timeoutMs: 10_000,
    maxAttempts: 4,
    backoff: { baseMs: 500, capMs: 5000 },
  });
  return {
    blobs: new S3BlobStore({ client: s3, bucket: cfg.bucket }),
    send: sqsDispatchSender(sqs, cfg.queueUrl),
    client,
    clock: o.clock ?? systemClock,
    settings: {
      family: cfg.family,
      containerName: cfg.containerName,
      maxAttempts: cfg.maxAttempts,
      statuses: cfg.statuses,
    },
    redactor: sharedRedactor,
  };
}

export function createStoppedHandler(opts: StoppedHandlerOptions = {}) {
  const { logger, metrics, log, sink } = handlerTelemetry(opts);
  const runtime = lazy(
    opts.init ??
      (() =>
        stoppedRuntimeFromEnv(opts.env ?? process.env, {
          log,
          aws: opts.aws,
          numaClient: opts.numaClient,
          clock: opts.clock,
        })),
  );

  const onStopped = async (event: EcsTaskStateChangeEvent, _context: Context): Promise<StoppedOutcome> => {
    let outcome: StoppedOutcome;
    try {
      outcome = await handleStoppedTask(event.detail, { ...(await runtime()), logger: log, metrics: sink });
    } catch (err) {
      // Lambda retries the event (asynchronous invocation); the claim keeps what was already done.
      log.error('could not settle the stopped task; failing so that Lambda retries', {
        error: describeError(err),
      });
      throw err;
    }
    log.info('stopped task handled', {
      outcome: outcome.kind,
      ...('reason' in outcome ? { reason: outcome.reason } : {}),
    });
    return outcome;
  };

  return middy(onStopped).use(injectLambdaContext(logger)).use(logMetrics(metrics));
}

/** The Lambda entry point: `functions/dispatcher/stopped.ts` export `handler`. */
export const handler = createStoppedHandler();
