/**
 * The AWS path under faults, against moto's server mode and the reference backend:
 *
 *   backend topic → poller → SQS → dispatcher (two concurrent "containers", SQS events built from
 *   what the queue hands out, batchItemFailures left on the queue) → ECS RunTask → simulated
 *   runners (done, finished but unable to report, or dead) → StopTask → "task stopped" events
 *   (some delivered twice) → stopped-task handler (retried as Lambda retries an asynchronous
 *   invocation) → `failed` and re-queued as attempt 2 → dispatcher again.
 *
 * Every SQS, S3, ECS and Secrets Manager client the handlers build gets a fault middleware
 * (test/helpers/aws-faults.ts): a seeded share of calls is throttled, fails with a 500, loses its
 * connection before the request, or loses the response after moto carried the request out. The
 * backend answers 5xx and 429, is slow, and repeats messages. Malformed messages come from the
 * topic and by hand on the queue.
 *
 * Then it checks what the local soak checks: every valid message led to exactly one RunTask per
 * (message, attempt) that reached ECS (counted at moto and in ECS's task list); nothing is lost
 * (every valid message has a dispatch record, or sits on the queue or the DLQ); malformed
 * messages are in the DLQ with a `reason`; every dead runner's task was re-queued; no task is
 * left `in_progress` by a stopped runner; the backend token is in no log. It prints the figures.
 *
 * Seed: NUMA_FAULT_SEED (default fixed). Runs in about 15–30 s.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type * as SqsModule from '@aws-sdk/client-sqs';
import type * as S3Module from '@aws-sdk/client-s3';
import type * as EcsModule from '@aws-sdk/client-ecs';
import type * as SecretsModule from '@aws-sdk/client-secrets-manager';
import {
  CreateClusterCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  StopTaskCommand,
  type Task as EcsTask,
} from '@aws-sdk/client-ecs';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { AwsClientConfigOptions } from '../../adapters/aws/clients.ts';
import {
  mulberry32,
  startNumaBackend,
  TASKS_TOPIC,
  type NumaBackend,
} from '../../servers/numa-backend/index.ts';
import {
  createPollerHandler,
  CURSOR_KEY,
  PollFailedError,
  type PollSummary,
} from '../../functions/poller/handler.ts';
import { createDispatcherHandler } from '../../functions/dispatcher/handler.ts';
import type { DispatchRecord } from '../../functions/dispatcher/dispatch.ts';
import { createStoppedHandler, type EcsTaskStateChangeEvent } from '../../functions/dispatcher/stopped.ts';
import type { StoppedOutcome } from '../../functions/dispatcher/settle.ts';
import type { TaskMessage } from '../../core/message.ts';
import { AWS_FAULT_KINDS, AWS_SERVICES, awsFaults } from '../helpers/aws-faults.ts';
import {
  describeWithMoto,
  MOTO_CREDENTIALS,
  MOTO_REGION,
  motoClientConfig,
  motoDefaultSubnets,
  startMoto,
  type Moto,
} from '../helpers/moto.ts';
import { captureStdout, lambdaContext, sqsEvent, type Captured } from '../functions/harness.ts';

// Every SDK client the handlers build is a faulty one (the test's own clients are exempted).
vi.mock('@aws-sdk/client-sqs', async (importOriginal) => {
  const mod = await importOriginal<typeof SqsModule>();
  const { faultyClientClass } = await import('../helpers/aws-faults.ts');
  return { ...mod, SQSClient: faultyClientClass(mod.SQSClient, 'sqs') };
});
vi.mock('@aws-sdk/client-s3', async (importOriginal) => {
  const mod = await importOriginal<typeof S3Module>();
  const { faultyClientClass } = await import('../helpers/aws-faults.ts');
  return { ...mod, S3Client: faultyClientClass(mod.S3Client, 's3') };
});
vi.mock('@aws-sdk/client-ecs', async (importOriginal) => {
  const mod = await importOriginal<typeof EcsModule>();
  const { faultyClientClass } = await import('../helpers/aws-faults.ts');
  return { ...mod, ECSClient: faultyClientClass(mod.ECSClient, 'ecs') };
});
vi.mock('@aws-sdk/client-secrets-manager', async (importOriginal) => {
  const mod = await importOriginal<typeof SecretsModule>();
  const { faultyClientClass } = await import('../helpers/aws-faults.ts');
  return { ...mod, SecretsManagerClient: faultyClientClass(mod.SecretsManagerClient, 'secretsmanager') };
});

const TOKEN = 'numa_faults_token_8c1f2e7a9b4d';
const BUCKET = 'numa-avatar-state';
const SEED = Number(process.env.NUMA_FAULT_SEED ?? 20250803);
/** Share of AWS calls that get a fault (before the SDK's own retry, 2 attempts per call). */
const AWS_FAULT_RATE = 0.15;
const BACKEND_FAULTS = {
  errorRate: 0.08,
  rateLimitRate: 0.03,
  retryAfterSeconds: 0,
  delayRate: 0.04,
  delayMs: 1200,
  duplicateRate: 0.25,
};
/** Tasks with one topic message, and tasks published twice (two messages, run one after the other). */
const SINGLE_TASKS = 32;
const DOUBLE_TASKS = 4;
const MALFORMED_TOPIC_DATA: unknown[] = [
  { task: 'no id' },
  { task_id: null },
  'not an object',
  { task_id: '' },
  [],
  { task_id: 'has spaces!' },
];
const HAND_MALFORMED = ['not json {', '{"task_id": null}', '[]', '{"task_id": "a b"}'];
const MANUAL_RERUNS = 2;
const QUEUE_VISIBILITY_SECONDS = 2;
const MAX_RECEIVE_COUNT = 5;
const MAX_ATTEMPTS = 2;
/** Lambda's asynchronous invocation: the first try and 2 retries, then the on-failure destination. */
const STOPPED_TRIES = 3;
const DEADLINE_MS = 38_000;

type Fate = 'done' | 'unreported' | 'oom' | 'spot' | 'exit' | 'start-failure';
const CRASHES: readonly Fate[] = ['oom', 'spot', 'exit', 'start-failure'];

/** A run's fate, from the seed and the (message, attempt): the same on every run of the test. */
function fateOf(group: string): Fate {
  const h = createHash('sha256').update(`${SEED}:${group}`).digest().readUInt32BE(0) / 2 ** 32;
  if (h < 0.5) return 'done';
  if (h < 0.65) return 'unreported';
  return CRASHES[Math.floor(((h - 0.65) / 0.35) * CRASHES.length)] ?? 'oom';
}

/** Which (message, attempt) a runner's NUMA_MESSAGE belongs to. */
function groupOf(msg: TaskMessage): string {
  const which =
    msg.message_id !== undefined ? `msg-${msg.message_id}` : `manual-${msg.task_id}-${msg.reason}`;
  return `${which}#a${msg.attempt ?? 1}`;
}

interface RunnerSim {
  taskArn: string;
  taskId: string;
  group: string;
  fate: Fate;
  attempt: number;
  outcomes: StoppedOutcome[];
  /** Stopped-task invocations for it under way. */
  inFlight: number;
  /** Why stopped-task invocations for it failed. */
  errors: string[];
  /** The stopped event's tries all failed: Lambda sent it to the on-failure destination. */
  exhausted: boolean;
  finished: boolean;
}

describeWithMoto('AWS path under injected SQS, S3, ECS and backend faults', () => {
  let moto: Moto | undefined;
  let sqs: SQSClient;
  let s3: S3Client;
  let ecs: ECSClient;
  let aws: AwsClientConfigOptions;
  let backend: NumaBackend;
  let out: Captured;

  beforeAll(async () => {
    awsFaults.off();
    moto = await startMoto();
    aws = {
      endpoint: moto.endpoint,
      region: MOTO_REGION,
      credentials: MOTO_CREDENTIALS,
      env: {},
    };
    sqs = awsFaults.exempt(new SQSClient(motoClientConfig(moto)));
    s3 = awsFaults.exempt(new S3Client(motoClientConfig(moto, { s3: true })));
    ecs = awsFaults.exempt(new ECSClient(motoClientConfig(moto)));
    backend = await startNumaBackend({ port: 0, apiToken: TOKEN, faults: BACKEND_FAULTS, seed: SEED });
  });

  afterAll(async () => {
    awsFaults.off();
    sqs?.destroy();
    s3?.destroy();
    ecs?.destroy();
    await backend?.close();
    await moto?.close();
  });

  async function receiveAll(queueUrl: string): Promise<Message[]> {
    const got: Message[] = [];
    for (;;) {
      const r = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
          VisibilityTimeout: 60,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        }),
      );
      if (!r.Messages?.length) return got;
      got.push(...r.Messages);
    }
  }

  async function s3Json<T>(key: string): Promise<T | undefined> {
    try {
      const o = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      return JSON.parse(await o.Body!.transformToString()) as T;
    } catch {
      return undefined;
    }
  }

  async function queueCounts(queueUrl: string): Promise<number> {
    const a =
      (
        await sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: queueUrl,
            AttributeNames: [
              'ApproximateNumberOfMessages',
              'ApproximateNumberOfMessagesNotVisible',
              'ApproximateNumberOfMessagesDelayed',
            ],
          }),
        )
      ).Attributes ?? {};
    return (
      Number(a.ApproximateNumberOfMessages ?? 0) +
      Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) +
      Number(a.ApproximateNumberOfMessagesDelayed ?? 0)
    );
  }

  async function allEcsTasks(cluster: string): Promise<EcsTask[]> {
    const arns: string[] = [];
    for (const desiredStatus of ['RUNNING', 'STOPPED'] as const) {
      let nextToken: string | undefined;
      do {
        const page = await ecs.send(new ListTasksCommand({ cluster, desiredStatus, nextToken }));
        arns.push(...(page.taskArns ?? []));
        nextToken = page.nextToken;
      } while (nextToken);
    }
    const tasks: EcsTask[] = [];
    for (let i = 0; i < arns.length; i += 100) {
      const out = await ecs.send(new DescribeTasksCommand({ cluster, tasks: arns.slice(i, i + 100) }));
      tasks.push(...(out.tasks ?? []));
    }
    return tasks;
  }

  it('many tasks through poller, queue, dispatcher and stopped-task handler: none lost, none run twice, none stuck', async () => {
    const started = Date.now();
    const random = mulberry32(SEED ^ 0x5eed);

    // ---- the account ----
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'numa-avatar-dlq' }))).QueueUrl!;
    const dlqArn = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))
    ).Attributes!.QueueArn!;
    const queueUrl = (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: 'numa-avatar-tasks',
          Attributes: {
            VisibilityTimeout: String(QUEUE_VISIBILITY_SECONDS),
            RedrivePolicy: JSON.stringify({
              deadLetterTargetArn: dlqArn,
              maxReceiveCount: MAX_RECEIVE_COUNT,
            }),
          },
        }),
      )
    ).QueueUrl!;
    const sm = awsFaults.exempt(new SecretsManagerClient(motoClientConfig(moto!)));
    const secretArn = (
      await sm.send(new CreateSecretCommand({ Name: 'numa-avatar/backend-token', SecretString: TOKEN }))
    ).ARN!;
    sm.destroy();
    const clusterArn = (await ecs.send(new CreateClusterCommand({ clusterName: 'numa-avatar' }))).cluster!
      .clusterArn!;
    const taskDefinitionArn = (
      await ecs.send(
        new RegisterTaskDefinitionCommand({
          family: 'numa-avatar-runner',
          networkMode: 'awsvpc',
          requiresCompatibilities: ['FARGATE'],
          cpu: '1024',
          memory: '2048',
          containerDefinitions: [
            { name: 'runner', image: 'numa-avatar-runner:test', memoryReservation: 512 },
          ],
        }),
      )
    ).taskDefinition!.taskDefinitionArn!;
    const subnets = await motoDefaultSubnets(moto!);

    const common = {
      NUMA_BACKEND_URL: backend.url,
      NUMA_API_TOKEN_SECRET_ARN: secretArn,
      QUEUE_URL: queueUrl,
      DLQ_URL: dlqUrl,
      BUCKET,
    };
    const pollerEnv = { ...common, POLL_WAIT_SECONDS: '1', POLL_SAFETY_MARGIN_SECONDS: '1', POLL_LIMIT: '8' };
    const dispatcherEnv = {
      ...common,
      CLUSTER_ARN: clusterArn,
      TASK_DEFINITION_ARN: taskDefinitionArn,
      SUBNET_IDS: subnets.slice(0, 2).join(','),
      SECURITY_GROUP_IDS: 'sg-0123456789abcdef0',
      CAPACITY_PROVIDER: 'FARGATE',
      MAX_RUNNERS: '12',
      MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    };
    const stoppedEnv = { ...common, MAX_ATTEMPTS: String(MAX_ATTEMPTS) };
    // Short client timeouts and backoffs: the run is seconds long, not minutes.
    const numaClient = (maxAttempts: number) => ({
      timeoutMs: 1000,
      maxAttempts,
      backoff: { baseMs: 20, capMs: 200 },
    });
    const makePoller = () =>
      createPollerHandler({
        env: pollerEnv,
        aws,
        numaClient: { timeoutMs: 1000 },
        backoff: { baseMs: 50, capMs: 300 },
      });
    const makeDispatcher = () =>
      createDispatcherHandler({
        env: dispatcherEnv,
        aws,
        placement: 'launch-type', // moto places a RunTask without launchType on EC2
        numaClient: numaClient(3),
        settings: {
          capacityTries: 3,
          capacityBackoff: { baseMs: 20, capMs: 100 },
          deferral: { baseSeconds: 1, maxSeconds: 2 },
        },
      });
    const makeStopped = () => createStoppedHandler({ env: stoppedEnv, aws, numaClient: numaClient(4) });

    // ---- what is published ----
    const app = backend.store.createApplication({ name: 'app', git_repo_url: 'https://git.example/app.git' });
    const taskIds: number[] = [];
    for (let i = 0; i < SINGLE_TASKS + DOUBLE_TASKS; i++) {
      taskIds.push(backend.store.createTask({ title: `Task ${i}`, application_id: app.id }).id);
    }
    const plan: unknown[] = [
      ...taskIds.map((id) => ({ task_id: id })),
      ...taskIds.slice(0, DOUBLE_TASKS).map((id) => ({ task_id: id })),
      ...MALFORMED_TOPIC_DATA,
    ];
    for (let i = plan.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [plan[i], plan[j]] = [plan[j], plan[i]];
    }
    const validTopic: Array<{ id: number; taskId: number }> = [];
    const malformedTopic: number[] = [];
    const manual: Array<{ sqsMessageId: string; taskId: number; reason: string }> = [];
    const handSent: string[] = [];
    let published = false;

    const stats = {
      polls: 0,
      pollErrors: 0,
      pollerInvocations: 0,
      pollerProblems: 0,
      dispatcherInvocations: 0,
      dispatcherInvocationErrors: 0,
      batchItemFailures: 0,
      coldStarts: 0,
      stoppedInvocations: 0,
      stoppedInvocationErrors: 0,
      stoppedDuplicatesSent: 0,
    };
    const runners = new Map<string, RunnerSim>();
    const runnerWork = new Set<Promise<void>>();
    const runnerErrors: string[] = [];
    let stopping = false;

    out = captureStdout();
    awsFaults.configure({ rate: AWS_FAULT_RATE, seed: SEED });

    // ---- the publisher: four bursts, hand-sent messages in between ----
    const publisher = (async () => {
      const bursts = 4;
      const per = Math.ceil(plan.length / bursts);
      for (let b = 0; b < bursts; b++) {
        for (const data of plan.slice(b * per, (b + 1) * per)) {
          const m = backend.store.publish(TASKS_TOPIC.id, data);
          const isValid =
            data !== null &&
            typeof data === 'object' &&
            !Array.isArray(data) &&
            typeof (data as { task_id?: unknown }).task_id === 'number';
          if (isValid) validTopic.push({ id: m.id, taskId: (data as { task_id: number }).task_id });
          else malformedTopic.push(m.id);
        }
        if (b === 1) {
          for (const body of HAND_MALFORMED) {
            await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
            handSent.push(body);
          }
        }
        if (b === 2) {
          for (let i = 0; i < MANUAL_RERUNS; i++) {
            const taskId = taskIds[DOUBLE_TASKS + i]!;
            const reason = `re-run by hand ${i + 1}`;
            const r = await sqs.send(
              new SendMessageCommand({
                QueueUrl: queueUrl,
                MessageBody: JSON.stringify({ task_id: taskId, reason }),
              }),
            );
            manual.push({ sqsMessageId: r.MessageId!, taskId, reason });
          }
        }
        await sleep(500);
      }
      published = true;
    })();

    // ---- the poller: back-to-back invocations, as the schedule runs it ----
    const pollerLoop = (async () => {
      let handler = makePoller();
      while (!stopping) {
        if (random() < 0.1) {
          handler = makePoller(); // a new Lambda container
          stats.coldStarts++;
        }
        stats.pollerInvocations++;
        // An invocation without a successful poll fails (a Lambda error), carrying its summary.
        const s = await Promise.resolve(handler({}, lambdaContext(2400))).then(
          (r) => r as PollSummary,
          (err: unknown) => {
            if (err instanceof PollFailedError) return err.summary;
            throw err;
          },
        );
        stats.polls += s.polls;
        stats.pollErrors += s.pollErrors;
        if (s.problem) stats.pollerProblems++;
      }
    })();

    // ---- the dispatcher: two concurrent containers fed by what SQS hands out ----
    const dispatcherLoop = async () => {
      let handler = makeDispatcher();
      while (!stopping) {
        const r = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 0,
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
        );
        const got = r.Messages ?? [];
        if (got.length === 0) {
          await sleep(80);
          continue;
        }
        if (random() < 0.1) {
          handler = makeDispatcher();
          stats.coldStarts++;
        }
        stats.dispatcherInvocations++;
        let failed: Set<string>;
        try {
          const res = await handler(
            sqsEvent(
              got.map((m) => ({
                messageId: m.MessageId!,
                body: m.Body!,
                receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
              })),
            ),
            lambdaContext(60_000),
          );
          failed = new Set(res.batchItemFailures.map((f) => f.itemIdentifier));
        } catch {
          stats.dispatcherInvocationErrors++;
          failed = new Set(got.map((m) => m.MessageId!));
        }
        stats.batchItemFailures += failed.size;
        // What the event source mapping does: delete the successes; failures come back after the
        // visibility timeout (and go to the DLQ after maxReceiveCount receives).
        const done = got.filter((m) => !failed.has(m.MessageId!));
        if (done.length > 0) {
          await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: done.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle! })),
            }),
          );
        }
      }
    };
    const dispatchers = [dispatcherLoop(), dispatcherLoop()];

    // ---- runners and their "task stopped" events ----
    const stoppedHandlers = [makeStopped(), makeStopped()];
    const deliver = async (sim: RunnerSim, event: EcsTaskStateChangeEvent): Promise<void> => {
      for (let attempt = 1; attempt <= STOPPED_TRIES; attempt++) {
        const i = Math.floor(random() * stoppedHandlers.length);
        if (random() < 0.1) {
          stoppedHandlers[i] = makeStopped();
          stats.coldStarts++;
        }
        stats.stoppedInvocations++;
        sim.inFlight++;
        try {
          sim.outcomes.push((await stoppedHandlers[i]!(event, lambdaContext(60_000))) as StoppedOutcome);
          return;
        } catch (err) {
          sim.errors.push(err instanceof Error ? err.message : String(err));
          stats.stoppedInvocationErrors++;
        } finally {
          sim.inFlight--;
        }
        // Lambda retries an asynchronous invocation after a minute or two: by then any other call
        // for the same event has ended (the function's timeout is a minute). Wait for that here.
        while (sim.inFlight > 0) await sleep(50);
        await sleep(100);
      }
      // Lambda's on-failure destination: the event, with the error, on the DLQ for a person.
      sim.exhausted = true;
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: dlqUrl,
          MessageBody: JSON.stringify({
            requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: STOPPED_TRIES },
            requestPayload: event,
          }),
        }),
      );
    };

    const runRunner = async (sim: RunnerSim, env: Record<string, string>): Promise<void> => {
      backend.store.setStatus(sim.taskId, 'in_progress');
      await sleep(50 + random() * 250);
      const runId = env.NUMA_RUN_ID!;
      const result = (reported: boolean) =>
        s3.send(
          new PutObjectCommand({
            Bucket: BUCKET,
            Key: `runs/${sim.taskId}/${runId}/result.json`,
            Body: JSON.stringify({
              status: 'done',
              taskId: sim.taskId,
              runId,
              startedAt: new Date().toISOString(),
              finishedAt: new Date().toISOString(),
              durationMs: 1,
              reported,
            }),
          }),
        );
      if (sim.fate === 'done') {
        backend.store.setStatus(sim.taskId, 'done');
        await result(true);
      } else if (sim.fate === 'unreported') {
        await result(false);
      }
      const stop = {
        done: { stopCode: 'EssentialContainerExited', reason: 'Essential container in task exited', exit: 0 },
        unreported: {
          stopCode: 'EssentialContainerExited',
          reason: 'Essential container in task exited',
          exit: 0,
        },
        oom: {
          stopCode: 'EssentialContainerExited',
          reason: 'OutOfMemoryError: Container killed due to memory usage',
          exit: 137,
        },
        spot: { stopCode: 'SpotInterruption', reason: 'Your Spot Task was interrupted.', exit: 143 },
        exit: { stopCode: 'EssentialContainerExited', reason: 'Essential container in task exited', exit: 1 },
        'start-failure': {
          stopCode: 'TaskFailedToStart',
          reason: 'CannotPullContainerError: pull access denied',
          exit: undefined,
        },
      }[sim.fate];
      await ecs.send(new StopTaskCommand({ cluster: clusterArn, task: sim.taskArn, reason: stop.reason }));
      const described = (
        await ecs.send(new DescribeTasksCommand({ cluster: clusterArn, tasks: [sim.taskArn] }))
      ).tasks![0]!;
      const event: EcsTaskStateChangeEvent = {
        version: '0',
        id: `evt-${createHash('sha256').update(sim.taskArn).digest('hex').slice(0, 12)}`,
        'detail-type': 'ECS Task State Change',
        source: 'aws.ecs',
        account: '123456789012',
        time: new Date().toISOString(),
        region: MOTO_REGION,
        resources: [sim.taskArn],
        detail: {
          taskArn: sim.taskArn,
          clusterArn,
          taskDefinitionArn,
          group: 'family:numa-avatar-runner',
          startedBy: described.startedBy,
          lastStatus: 'STOPPED',
          desiredStatus: 'STOPPED',
          stopCode: stop.stopCode,
          stoppedReason: stop.reason,
          containers: [
            {
              name: 'runner',
              lastStatus: 'STOPPED',
              ...(stop.exit !== undefined ? { exitCode: stop.exit } : {}),
              reason: stop.reason,
            },
          ],
          overrides: described.overrides,
        },
      };
      // EventBridge delivers at least once: a quarter of the events come twice.
      const twice = random() < 0.25;
      if (twice) stats.stoppedDuplicatesSent++;
      if (twice && random() < 0.5) {
        await Promise.all([deliver(sim, event), deliver(sim, event)]);
      } else {
        await deliver(sim, event);
        if (twice) await deliver(sim, event);
      }
      sim.finished = true;
    };

    const runnerLoop = (async () => {
      while (!stopping) {
        for (const call of awsFaults.runTasks) {
          if (!call.taskArn || runners.has(call.taskArn)) continue;
          const msg = JSON.parse(call.env.NUMA_MESSAGE ?? '{}') as TaskMessage;
          const group = groupOf(msg);
          const sim: RunnerSim = {
            taskArn: call.taskArn,
            taskId: call.env.NUMA_TASK_ID!,
            group,
            fate: fateOf(group),
            attempt: msg.attempt ?? 1,
            outcomes: [],
            inFlight: 0,
            errors: [],
            exhausted: false,
            finished: false,
          };
          runners.set(call.taskArn, sim);
          const p: Promise<void> = runRunner(sim, call.env)
            .catch((err: unknown) => {
              runnerErrors.push(`${sim.group}: ${String(err)}`);
              sim.finished = true;
            })
            .finally(() => runnerWork.delete(p));
          runnerWork.add(p);
        }
        await sleep(50);
      }
    })();

    // ---- until everything has settled (or the deadline) ----
    let quiet = 0;
    while (Date.now() - started < DEADLINE_MS) {
      await sleep(300);
      if (!published) continue;
      const lastId = backend.store.lastMessageId(TASKS_TOPIC.id);
      const cursor = await s3Json<{ value: { after?: number } }>(CURSOR_KEY);
      const caughtUp = Number(cursor?.value.after ?? 0) >= lastId;
      const pending = await queueCounts(queueUrl);
      const runnersDone =
        runnerWork.size === 0 && awsFaults.runTasks.every((c) => !c.taskArn || runners.has(c.taskArn));
      quiet = caughtUp && pending === 0 && runnersDone ? quiet + 1 : 0;
      if (quiet >= 3) break;
    }
    stopping = true;
    await Promise.all([publisher, pollerLoop, ...dispatchers, runnerLoop]);
    await Promise.all([...runnerWork]);
    awsFaults.off();
    const wallMs = Date.now() - started;
    out.restore();

    // ---- what happened ----
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'dispatch/', ContinuationToken: token }),
      );
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const records = new Map<string, DispatchRecord>();
    for (const key of keys) {
      const rec = await s3Json<DispatchRecord>(key);
      if (rec) records.set(rec.key, rec);
    }
    const dead = await receiveAll(dlqUrl);
    const leftover = await receiveAll(queueUrl);
    const ecsTasks = await allEcsTasks(clusterArn);
    const text = out.text();

    const deadBodies = dead.map((m) => {
      try {
        return JSON.parse(m.Body ?? '') as unknown;
      } catch {
        return m.Body;
      }
    });
    const reasonOf = (m: Message) => m.MessageAttributes?.reason?.StringValue;
    /** A valid message that SQS itself moved to the DLQ (maxReceiveCount) or is still queued. */
    const parked = (match: (body: Record<string, unknown>) => boolean) =>
      [...dead, ...leftover].some((m) => {
        try {
          const b = JSON.parse(m.Body ?? '') as Record<string, unknown>;
          return b !== null && typeof b === 'object' && match(b);
        } catch {
          return false;
        }
      });

    // Every valid message: attempt 1 dispatched (or parked on a queue); every crashed first
    // attempt: attempt 2 dispatched (or its stopped event / message parked on the DLQ).
    const sims = [...runners.values()];
    const simsOf = (group: string) => sims.filter((s) => s.group === group);
    const lost: string[] = [];
    let parkedCount = 0;
    const launchedGroups = new Set(
      [...records.values()].filter((r) => r.state === 'launched').map((r) => groupOf(r.message)),
    );
    const check = (group: string, matches: (b: Record<string, unknown>) => boolean) => {
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const g = `${group}#a${attempt}`;
        if (attempt > 1) {
          const prev = simsOf(`${group}#a${attempt - 1}`);
          if (!prev.some((s) => CRASHES.includes(s.fate))) break;
          if (prev.some((s) => s.exhausted)) {
            parkedCount++;
            break;
          }
        }
        if (launchedGroups.has(g)) continue;
        if (parked((b) => matches(b) && (b.attempt ?? 1) === attempt)) {
          parkedCount++;
          break;
        }
        lost.push(g);
        break;
      }
    };
    for (const m of validTopic) check(`msg-${m.id}`, (b) => b.message_id === m.id);
    for (const m of manual) check(`manual-${m.taskId}-${m.reason}`, (b) => b.reason === m.reason);

    // RunTask calls that reached ECS, and ECS's own task list, per (message, attempt).
    const perGroup = new Map<string, number>();
    for (const c of awsFaults.runTasks) {
      const g = groupOf(JSON.parse(c.env.NUMA_MESSAGE ?? '{}') as TaskMessage);
      perGroup.set(g, (perGroup.get(g) ?? 0) + 1);
    }
    const listedPerGroup = new Map<string, number>();
    for (const t of ecsTasks) {
      const env = Object.fromEntries(
        (t.overrides?.containerOverrides?.[0]?.environment ?? []).map((e) => [e.name!, e.value!]),
      );
      const g = groupOf(JSON.parse(env.NUMA_MESSAGE ?? '{}') as TaskMessage);
      listedPerGroup.set(g, (listedPerGroup.get(g) ?? 0) + 1);
    }
    const duplicates = [...perGroup].filter(([, n]) => n > 1).map(([g, n]) => `${g} ×${n}`);
    const listedDuplicates = [...listedPerGroup].filter(([, n]) => n > 1).map(([g, n]) => `${g} ×${n}`);
    const orphanRunners = [...perGroup.keys()].filter((g) => !launchedGroups.has(g));

    // Each stopped runner was settled as its fate says (unless its event is on the DLQ). Twice is
    // tolerated: two calls that both take over a claim left "retry" race (see the report), and
    // what they do twice (the status, the re-queue of one attempt key) is idempotent downstream.
    const expectedOutcome = (s: RunnerSim) =>
      s.fate === 'done' ? 'already-reported' : s.fate === 'unreported' ? 'reported' : 'crashed';
    const realOutcomes = (s: RunnerSim) => s.outcomes.filter((o) => o.kind !== 'duplicate');
    const unsettled = sims
      .filter((s) => !s.exhausted)
      .filter((s) => {
        const real = realOutcomes(s);
        return real.length === 0 || real.some((o) => o.kind !== expectedOutcome(s));
      })
      .map((s) => `${s.group} (${s.fate}): ${JSON.stringify(s.outcomes.map((o) => o.kind))}`);
    const settledTwice = sims.filter((s) => realOutcomes(s).length > 1).length;
    const requeued = sims.filter((s) => s.outcomes.some((o) => o.kind === 'crashed' && o.requeued)).length;
    const firstAttemptCrashes = sims.filter(
      (s) => s.attempt < MAX_ATTEMPTS && CRASHES.includes(s.fate) && !s.exhausted,
    );

    // No task left in_progress by a stopped runner (a runner whose stopped event is on the DLQ
    // is a person's to look at, and says so there).
    const stuck = backend.store
      .listTasks()
      .filter((t) => t.status === 'in_progress')
      .filter((t) => !sims.some((s) => s.taskId === String(t.id) && s.exhausted))
      .map(
        (t) =>
          `task ${t.id} (${sims
            .filter((s) => s.taskId === String(t.id))
            .map((s) => `${s.group}:${s.fate}`)
            .join(', ')})`,
      );

    // Malformed messages: in the DLQ with a reason.
    const topicLetters = dead.filter(
      (m) => m.MessageAttributes?.source?.StringValue === `topic ${TASKS_TOPIC.id}`,
    );
    const malformedMissing = malformedTopic.filter(
      (id) =>
        !topicLetters.some(
          (m) =>
            (JSON.parse(m.Body!) as { id?: unknown }).id === id &&
            new RegExp(`^message ${id}: data`).test(reasonOf(m) ?? ''),
        ),
    );
    const handMissing = handSent.filter(
      (body) =>
        !dead.some(
          (m, i) =>
            deadBodies[i] === body &&
            /^(invalid task message|message body is not valid JSON)/.test(reasonOf(m) ?? ''),
        ),
    );

    const logs = backend.store
      .listTasks()
      .flatMap((t) => backend.store.logsOf(t.id).map((l) => l.logs))
      .join('\n');
    const metrics = out.metrics().totals;
    const faultsBy = awsFaults.faultsByKind();
    const awsCalls = AWS_SERVICES.reduce((n, s) => n + awsFaults.calls[s], 0);

    const figures = [
      `seed ${SEED}, wall time ${(wallMs / 1000).toFixed(1)} s`,
      `messages: ${validTopic.length} valid on the topic (${SINGLE_TASKS + DOUBLE_TASKS} tasks, ${DOUBLE_TASKS} published twice), ` +
        `${malformedTopic.length} malformed on the topic, ${manual.length} hand-sent re-runs, ${handSent.length} hand-sent malformed`,
      `AWS calls by the handlers: ${awsCalls} (${AWS_SERVICES.map((s) => `${s} ${awsFaults.calls[s]}`).join(', ')}); ` +
        `faults injected: ${awsFaults.totalFaults()} (${AWS_FAULT_KINDS.map((k) => `${k} ${faultsBy[k]}`).join(', ')})`,
      `  by service: ${AWS_SERVICES.map((s) => `${s} {${AWS_FAULT_KINDS.map((k) => `${k}: ${awsFaults.counts[s][k]}`).join(', ')}}`).join('; ')}`,
      `  by call: ${[...awsFaults.byCommand]
        .sort((a, b) => b[1] - a[1])
        .map(([c, n]) => `${c} ${n}`)
        .join(', ')}`,
      `backend faults: ${JSON.stringify(backend.faultCounts())}`,
      `RunTask: ${awsFaults.runTasks.length} reached ECS, ${awsFaults.runTasks.filter((c) => c.taskArn).length} started a task, ` +
        `${awsFaults.runTaskReplays} answered from their clientToken, ${awsFaults.tokenMismatches.length} token reuses with other parameters; ` +
        `ECS lists ${ecsTasks.length} tasks`,
      `runners: ${sims.length} (${(['done', 'unreported', ...CRASHES] as Fate[]).map((f) => `${f} ${sims.filter((s) => s.fate === f).length}`).join(', ')}); ` +
        `re-queued ${requeued}; stopped events sent twice ${stats.stoppedDuplicatesSent}; stopped events exhausted ${sims.filter((s) => s.exhausted).length}`,
      `invocations: poller ${stats.pollerInvocations} (${stats.polls} polls, ${stats.pollErrors} poll errors, ${stats.pollerProblems} without a poll), ` +
        `dispatcher ${stats.dispatcherInvocations} (${stats.dispatcherInvocationErrors} failed whole, ${stats.batchItemFailures} batch item failures), ` +
        `stopped ${stats.stoppedInvocations} (${stats.stoppedInvocationErrors} failed), cold starts ${stats.coldStarts}`,
      // (RunnersRunning is a gauge: its sum means nothing)
      `metrics: ${JSON.stringify(Object.fromEntries(Object.entries(metrics).filter(([k]) => k !== 'RunnersRunning')))}`,
      `DLQ: ${dead.length} (${topicLetters.length} from the topic, ${dead.filter((m) => /^dispatcher/.test(m.MessageAttributes?.source?.StringValue ?? '')).length} from the dispatcher, ` +
        `${dead.filter((m) => !m.MessageAttributes?.reason).length} without a reason attribute: redriven by SQS or stopped events)`,
      `duplicates: ${duplicates.length} (message, attempt) with more than one RunTask reaching ECS, ${listedDuplicates.length} in ECS's list, ` +
        `${orphanRunners.length} runners without a dispatch record`,
      `lost ${lost.length}, parked on a queue ${parkedCount}, stuck in_progress ${stuck.length}, unsettled runners ${unsettled.length}, settled twice ${settledTwice}`,
    ];
    for (const s of sims.filter((x) => x.exhausted)) {
      figures.push(`stopped event exhausted for ${s.group} (${s.fate}): ${s.errors.join(' | ')}`);
    }
    for (const u of unsettled) figures.push(`unsettled: ${u}`);
    for (const d of duplicates) {
      const g = d.split(' ')[0]!;
      const calls = awsFaults.runTasks.filter(
        (c) => groupOf(JSON.parse(c.env.NUMA_MESSAGE ?? '{}') as TaskMessage) === g,
      );
      figures.push(`duplicate ${d}: tokens ${calls.map((c) => c.clientToken.slice(0, 12)).join(', ')}`);
      const msgId = /^msg-(\S+)#a(\d+)$/.exec(g);
      const key = msgId ? `topic-${TASKS_TOPIC.id}-msg-${msgId[1]}-a${msgId[2]}` : g;
      for (const line of text
        .split('\n')
        .filter((l) => l.includes(`"${key}"`))
        .slice(0, 20)) {
        const j = JSON.parse(line) as Record<string, unknown>;
        figures.push(
          `    ${String(j.message)} ${j.error ? String(j.error).slice(0, 160) : ''} ${j.task_arn ? String(j.task_arn).slice(-12) : ''}`,
        );
      }
    }
    for (const t of stuck) figures.push(`stuck: ${t}`);
    console.log(`[aws faults]\n  ${figures.join('\n  ')}`);

    // ---- the checks ----
    expect(awsFaults.totalFaults(), 'faults were injected').toBeGreaterThan(50);
    for (const k of AWS_FAULT_KINDS) expect(faultsBy[k], `${k} faults injected`).toBeGreaterThan(0);
    expect(runnerErrors, 'the simulated runners failed').toEqual([]);
    expect(lost, 'valid messages with no dispatch record and on no queue').toEqual([]);
    expect(duplicates, 'more than one RunTask reached ECS for one (message, attempt)').toEqual([]);
    expect(listedDuplicates, 'ECS lists more than one task for one (message, attempt)').toEqual([]);
    expect(ecsTasks.length).toBe(awsFaults.runTasks.length);
    expect(orphanRunners, 'ECS tasks no dispatch record accounts for').toEqual([]);
    expect(awsFaults.tokenMismatches, 'a clientToken reused with other parameters').toEqual([]);
    expect(
      leftover.map((m) => m.Body),
      'messages still on the task queue',
    ).toEqual([]);
    expect(malformedMissing, 'malformed topic messages not in the DLQ with a reason').toEqual([]);
    expect(handMissing, 'hand-sent malformed messages not in the DLQ with a reason').toEqual([]);
    expect(unsettled, 'stopped runners not settled as their fate says').toEqual([]);
    expect(requeued, 'every first attempt that died was re-queued').toBe(firstAttemptCrashes.length);
    expect(stuck, 'tasks left in_progress by a stopped runner').toEqual([]);
    for (const m of validTopic) {
      const rec = records.get(`topic-${TASKS_TOPIC.id}-msg-${m.id}-a1`);
      expect(rec?.state === 'launched' || parked((b) => b.message_id === m.id)).toBe(true);
    }
    expect(text, 'the backend token in the Lambda logs').not.toContain(TOKEN);
    expect(logs, 'the backend token in the task logs').not.toContain(TOKEN);
    expect(JSON.stringify(dead), 'the backend token on the DLQ').not.toContain(TOKEN);
    expect(JSON.stringify([...records.values()]), 'the backend token in dispatch records').not.toContain(
      TOKEN,
    );
  }, 90_000);
});
