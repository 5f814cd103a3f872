/**
 * The AWS path end to end against moto's server mode and the reference backend, with the real
 * handlers invoked directly (moto runs no container and fires no schedule):
 *
 *   backend topic → poller handler → SQS (moto) → dispatcher handler (SQS event built from the
 *   received messages) → ECS RunTask (moto) → the runner "dies" (StopTask) → stopped-task handler
 *   (a synthetic STOPPED event for that task) → the task is `failed` in the backend and re-queued
 *   as attempt 2, which the dispatcher starts.
 *
 * The backend token comes from Secrets Manager in moto, as in AWS.
 */
import {
  CreateClusterCommand,
  DescribeTasksCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  StopTaskCommand,
} from '@aws-sdk/client-ecs';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import type { AwsClientConfigOptions } from '../../adapters/aws/clients.ts';
import { startNumaBackend, TASKS_TOPIC, type NumaBackend } from '../../servers/numa-backend/index.ts';
import { createPollerHandler, type PollSummary } from '../../functions/poller/handler.ts';
import { createDispatcherHandler } from '../../functions/dispatcher/handler.ts';
import type { DispatchRecord } from '../../functions/dispatcher/dispatch.ts';
import { createStoppedHandler, type EcsTaskStateChangeEvent } from '../../functions/dispatcher/stopped.ts';
import type { StoppedOutcome } from '../../functions/dispatcher/settle.ts';
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

const TOKEN = 'numa_path_token_6b3e9d1f4a';
const BUCKET = 'numa-avatar-state';

describeWithMoto('AWS path: poller → SQS → dispatcher → ECS → stopped-task handler', () => {
  let moto: Moto | undefined;
  let sqs: SQSClient;
  let s3: S3Client;
  let ecs: ECSClient;
  let aws: AwsClientConfigOptions;
  let backend: NumaBackend;
  let out: Captured;

  beforeAll(async () => {
    moto = await startMoto();
    aws = { endpoint: moto.endpoint, region: MOTO_REGION, credentials: MOTO_CREDENTIALS, env: {} };
    sqs = new SQSClient(motoClientConfig(moto));
    s3 = new S3Client(motoClientConfig(moto, { s3: true }));
    ecs = new ECSClient(motoClientConfig(moto));
  });

  afterAll(async () => {
    sqs?.destroy();
    s3?.destroy();
    ecs?.destroy();
    await moto?.close();
  });

  beforeEach(async () => {
    backend = await startNumaBackend({ port: 0, apiToken: TOKEN });
    out = captureStdout();
  });

  afterEach(async () => {
    out.restore();
    await backend.close();
  });

  async function receiveAll(queueUrl: string): Promise<Message[]> {
    const got: Message[] = [];
    for (;;) {
      const r = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        }),
      );
      if (!r.Messages?.length) return got;
      got.push(...r.Messages);
    }
  }

  async function s3Json<T>(key: string): Promise<T> {
    const o = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return JSON.parse(await o.Body!.transformToString()) as T;
  }

  it('a message becomes a Fargate task; a runner that dies is reported failed and re-queued as attempt 2', async () => {
    // ---- the account: bucket, queues, secret, cluster, task definition ----
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'numa-avatar-dlq' }))).QueueUrl!;
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'numa-avatar-tasks' }))).QueueUrl!;
    const sm = new SecretsManagerClient(motoClientConfig(moto!));
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

    // ---- the backend: a task and its message, and a malformed message ----
    const app = backend.store.createApplication({ name: 'app', git_repo_url: 'https://git.example/app.git' });
    const task = backend.store.createTask({
      title: 'Implement login',
      application_id: app.id,
      status: 'in_progress',
    });
    backend.store.publish(TASKS_TOPIC.id, { task_id: task.id });
    backend.store.publish(TASKS_TOPIC.id, { task: 'no id' });

    // ---- poller: a window of about a second of long polls ----
    const pollerEnv = { ...common, POLL_WAIT_SECONDS: '1', POLL_SAFETY_MARGIN_SECONDS: '1' };
    const poller = createPollerHandler({ env: pollerEnv, aws });
    const polled = (await poller({}, lambdaContext(2000 + 300))) as PollSummary;
    expect(polled).toMatchObject({ forwarded: 1, deadLettered: 1 });
    expect(await s3Json<{ value: unknown }>('state/cursor.json')).toMatchObject({
      value: { topic_id: TASKS_TOPIC.id, after: 2 },
    });

    const dead = await receiveAll(dlqUrl);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.MessageAttributes?.reason?.StringValue).toMatch(/message 2: data\.task_id: missing/);

    const received = await receiveAll(queueUrl);
    expect(received.map((m) => JSON.parse(m.Body!))).toEqual([
      expect.objectContaining({ task_id: task.id, message_id: 1, attempt: 1 }),
    ]);

    // ---- dispatcher: the SQS event built from what the queue handed out ----
    const dispatcher = createDispatcherHandler({
      env: {
        ...common,
        CLUSTER_ARN: clusterArn,
        TASK_DEFINITION_ARN: taskDefinitionArn,
        SUBNET_IDS: subnets.slice(0, 2).join(','),
        SECURITY_GROUP_IDS: 'sg-0123456789abcdef0',
        CAPACITY_PROVIDER: 'FARGATE',
        MAX_RUNNERS: '5',
        MAX_ATTEMPTS: '2',
      },
      aws,
      placement: 'launch-type', // moto places a RunTask without launchType on EC2
    });
    const toEvent = (ms: Message[]) => sqsEvent(ms.map((m) => ({ messageId: m.MessageId!, body: m.Body! })));
    const dispatched = (await dispatcher(toEvent(received), lambdaContext(60_000))) as SQSBatchResponse;
    expect(dispatched.batchItemFailures).toEqual([]);

    const rec = await s3Json<DispatchRecord>('dispatch/topic-1-msg-1-a1.json');
    expect(rec).toMatchObject({ state: 'launched', attempt: 1, taskId: String(task.id) });
    const described = await ecs.send(
      new DescribeTasksCommand({ cluster: clusterArn, tasks: [rec.taskArn!] }),
    );
    const ecsTask = described.tasks![0]!;
    expect(ecsTask.startedBy).toBe(`numa-task-${task.id}`);
    expect(
      backend.store
        .logsOf(task.id)
        .map((l) => l.logs)
        .join('\n'),
    ).toContain(`dispatched to Fargate task ${rec.taskArn}, attempt 1`);

    // A redelivery of the same SQS message starts nothing new.
    await dispatcher(toEvent(received), lambdaContext(60_000));
    expect((await receiveAll(queueUrl)).length).toBe(0);

    // ---- the runner dies (out of memory) before it reports ----
    await ecs.send(
      new StopTaskCommand({ cluster: clusterArn, task: rec.taskArn!, reason: 'OutOfMemoryError' }),
    );
    const event: EcsTaskStateChangeEvent = {
      version: '0',
      id: 'evt-1',
      'detail-type': 'ECS Task State Change',
      source: 'aws.ecs',
      account: '123456789012',
      time: new Date().toISOString(),
      region: MOTO_REGION,
      resources: [rec.taskArn!],
      detail: {
        taskArn: rec.taskArn,
        clusterArn,
        taskDefinitionArn,
        group: 'family:numa-avatar-runner',
        startedBy: ecsTask.startedBy,
        lastStatus: 'STOPPED',
        desiredStatus: 'STOPPED',
        stopCode: 'EssentialContainerExited',
        stoppedReason: 'Essential container in task exited',
        containers: [
          {
            name: 'runner',
            lastStatus: 'STOPPED',
            exitCode: 137,
            reason: 'OutOfMemoryError: Container killed due to memory usage',
          },
        ],
        // The overrides exactly as ECS reports them for the task the dispatcher started.
        overrides: ecsTask.overrides,
      },
    };
    const stopped = createStoppedHandler({ env: { ...common, MAX_ATTEMPTS: '2' }, aws });
    const outcome = (await stopped(event, lambdaContext(30_000))) as StoppedOutcome;
    expect(outcome).toMatchObject({ kind: 'crashed', requeued: true, attempt: 1 });
    // A duplicate event does nothing.
    expect(await stopped(event, lambdaContext(30_000))).toEqual({ kind: 'duplicate' });

    expect(backend.store.getTask(task.id)!.status).toBe('failed');
    const taskLog = backend.store
      .logsOf(task.id)
      .map((l) => l.logs)
      .join('\n');
    expect(taskLog).toContain('the runner ran out of memory (OutOfMemoryError)');
    expect(taskLog).toContain('re-queued as attempt 2 of 2');

    // ---- attempt 2 is on the queue, and the dispatcher starts it ----
    const requeued = await receiveAll(queueUrl);
    expect(requeued.map((m) => JSON.parse(m.Body!))).toEqual([
      {
        task_id: task.id,
        message_id: 1,
        topic_id: TASKS_TOPIC.id,
        attempt: 2,
        created_at: expect.any(String),
        dispatch_key: 'topic-1-msg-1',
      },
    ]);
    const second = (await dispatcher(toEvent(requeued), lambdaContext(60_000))) as SQSBatchResponse;
    expect(second.batchItemFailures).toEqual([]);
    const rec2 = await s3Json<DispatchRecord>('dispatch/topic-1-msg-1-a2.json');
    expect(rec2).toMatchObject({ state: 'launched', attempt: 2 });
    expect(rec2.taskArn).not.toBe(rec.taskArn);

    const metrics = out.metrics().totals;
    expect(metrics).toMatchObject({
      MessagesForwarded: 1,
      MessagesDeadLettered: 1,
      Dispatches: 2,
      RunnerCrashes: 1,
      Requeued: 1,
    });
    expect(out.text()).not.toContain(TOKEN);
  });
});
