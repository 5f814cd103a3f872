/**
 * The dispatcher Lambda: SQS event source (ReportBatchItemFailures) → middy + Powertools
 * BatchProcessor → one Dispatcher decision per record (dispatch.ts) → `{ batchItemFailures }`.
 * Records are processed one after another (the runner cap and the per-task lock are counted as the
 * batch goes). A record that throws is reported as a failure and SQS delivers it again (then the
 * DLQ, by the queue's redrive policy); every other outcome (launched, duplicate, deferred,
 * dead-lettered) succeeds.
 */
import middy from '@middy/core';
import { ECSClient } from '@aws-sdk/client-ecs';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { describeError } from '../../core/errors.ts';
import type { Logger as CoreLogger } from '../../core/log.ts';
import type { NumaClientOptions } from '../../core/numa/client.ts';
import { systemClock, type BlobStore, type Clock } from '../../core/ports.ts';
import { awsClientConfig, type AwsClientConfigOptions } from '../../adapters/aws/clients.ts';
import {
  EcsLauncher,
  isRetryableLaunchError,
  type EcsLauncherOptions,
} from '../../adapters/aws/ecs-launcher.ts';
import { S3BlobStore } from '../../adapters/aws/s3-blob-store.ts';
import { SqsTaskQueue } from '../../adapters/aws/sqs-queue.ts';
import { readDispatcherEnv, type Env } from '../common/env.ts';
import { lazy } from '../common/lazy.ts';
import { sharedRedactor } from '../common/logger.ts';
import { createFunctionClients } from '../common/clients.ts';
import { Dispatcher, type DispatcherDeps, type DispatchOutcome, type RunnerLauncher } from './dispatch.ts';
import { sqsDispatchSender } from './sqs-send.ts';
import { handlerTelemetry } from '../common/telemetry.ts';

/** What stays the same for the container's life; a Dispatcher is made per batch from it. */
export type DispatcherRuntime = Omit<DispatcherDeps, 'logger' | 'metrics'>;

export interface DispatcherHandlerOptions {
  env?: Env;
  aws?: AwsClientConfigOptions;
  logger?: Logger;
  metrics?: Metrics;
  numaClient?: Partial<NumaClientOptions>;
  clock?: Clock;
  /** RunTask placement (tests against moto use 'launch-type'). */
  placement?: EcsLauncherOptions['placement'];
  /** Overrides of the dispatch settings (tests: no real sleeps between capacity retries). */
  settings?: Partial<DispatcherDeps['settings']>;
  random?: () => number;
  init?: () => Promise<DispatcherRuntime>;
}

/** The ECS launcher as the dispatch logic uses it (launchTask returns the task ARN). */
export function ecsRunnerLauncher(launcher: EcsLauncher): RunnerLauncher {
  return {
    launch: async (req) => ({ taskArn: (await launcher.launchTask(req)).taskArn }),
    running: () => launcher.running(),
    isRunning: (taskId) => launcher.isRunning(taskId),
  };
}

export async function dispatcherRuntimeFromEnv(
  env: Env,
  o: Pick<DispatcherHandlerOptions, 'aws' | 'numaClient' | 'clock' | 'placement' | 'settings' | 'random'> & {
    log: CoreLogger;
  },
): Promise<DispatcherRuntime> {
  const cfg = readDispatcherEnv(env);
  const {
    s3,
    sqs,
    numa: client,
  } = await createFunctionClients(cfg, o, {
    timeoutMs: 10_000,
    maxAttempts: 3,
    backoff: { baseMs: 300, capMs: 3000 },
  });
  const queue = new SqsTaskQueue({ client: sqs, queueUrl: cfg.queueUrl, dlqUrl: cfg.dlqUrl });
  const send = sqsDispatchSender(sqs, cfg.queueUrl);
  const blobs: BlobStore = new S3BlobStore({ client: s3, bucket: cfg.bucket });
  const launcher = new EcsLauncher({
    client: new ECSClient(awsClientConfig(o.aws)),
    cluster: cfg.clusterArn,
    taskDefinition: cfg.taskDefinitionArn,
    containerName: cfg.containerName,
    family: cfg.family,
    subnets: cfg.subnetIds,
    securityGroups: cfg.securityGroupIds,
    assignPublicIp: cfg.assignPublicIp === 'ENABLED',
    capacityProvider: cfg.capacityProvider,
    ...(o.placement ? { placement: o.placement } : {}),
  });
  return {
    queue: { sendDelayed: (body, delay) => send(body, delay), deadLetter: (l) => queue.deadLetter(l) },
    blobs,
    launcher: ecsRunnerLauncher(launcher),
    client,
    clock: o.clock ?? systemClock,
    settings: { maxRunners: cfg.maxRunners, ...o.settings },
    isCapacityError: isRetryableLaunchError,
    redactor: sharedRedactor,
    ...(o.random ? { random: o.random } : {}),
  };
}

export function createDispatcherHandler(opts: DispatcherHandlerOptions = {}) {
  const { logger, metrics, log, sink } = handlerTelemetry(opts);
  const runtime = lazy(
    opts.init ??
      (() =>
        dispatcherRuntimeFromEnv(opts.env ?? process.env, {
          log,
          aws: opts.aws,
          numaClient: opts.numaClient,
          clock: opts.clock,
          placement: opts.placement,
          settings: opts.settings,
          random: opts.random,
        })),
  );

  const dispatchBatch = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    let rt: DispatcherRuntime;
    try {
      rt = await runtime();
    } catch (err) {
      // Nothing was processed: the whole batch comes back (a broken configuration fails loudly).
      log.error('dispatcher could not start', { error: describeError(err) });
      throw err;
    }
    const dispatcher = new Dispatcher({ ...rt, logger: log, metrics: sink });
    const recordHandler = async (record: SQSRecord): Promise<DispatchOutcome> => {
      const count = Number(record.attributes?.ApproximateReceiveCount);
      return dispatcher.dispatch({
        messageId: record.messageId,
        body: record.body,
        ...(Number.isInteger(count) ? { receiveCount: count } : {}),
      });
    };
    return processPartialResponse(event, recordHandler, new BatchProcessor(EventType.SQS), {
      context,
      processInParallel: false,
      throwOnFullBatchFailure: false,
    });
  };

  return middy(dispatchBatch).use(injectLambdaContext(logger)).use(logMetrics(metrics));
}

/** The Lambda entry point: `functions/dispatcher/handler.ts` export `handler`. */
export const handler = createDispatcherHandler();
