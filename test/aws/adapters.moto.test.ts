/**
 * The AWS adapters against moto's server mode (real SQS, S3 and ECS protocols on 127.0.0.1).
 * One moto server for the file. moto limits found (see adapters/aws/ecs-launcher.ts): its RunTask
 * ignores capacityProviderStrategy (a RunTask without launchType is placed on EC2 container
 * instances and fails) and clientToken, so the launcher runs here with placement 'launch-type';
 * the strategy and the token are covered by the aws-sdk-client-mock tests.
 */
import {
  CreateClusterCommand,
  DescribeTasksCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  StopTaskCommand,
} from '@aws-sdk/client-ecs';
import { CreateBucketCommand, DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EcsLauncher, startedByFor } from '../../adapters/aws/ecs-launcher.ts';
import { S3BlobStore } from '../../adapters/aws/s3-blob-store.ts';
import { S3VersionedStore } from '../../adapters/aws/s3-versioned-store.ts';
import { SqsTaskQueue } from '../../adapters/aws/sqs-queue.ts';
import { isAvatarError } from '../../core/errors.ts';
import type { OutgoingMessage } from '../../core/ports.ts';
import {
  describeWithMoto,
  motoClientConfig,
  motoDefaultSubnets,
  startMoto,
  type Moto,
} from '../helpers/moto.ts';

describeWithMoto('AWS adapters against moto', () => {
  let moto: Moto | undefined;
  let sqs: SQSClient;
  let s3: S3Client;
  let ecs: ECSClient;

  beforeAll(async () => {
    moto = await startMoto();
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

  async function queues(name: string): Promise<{ queue: SqsTaskQueue; queueUrl: string; dlqUrl: string }> {
    const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
    const q = await sqs.send(new CreateQueueCommand({ QueueName: name }));
    const queueUrl = q.QueueUrl!;
    const dlqUrl = dlq.QueueUrl!;
    return {
      queue: new SqsTaskQueue({ client: sqs, queueUrl, dlqUrl, sleep: async () => {} }),
      queueUrl,
      dlqUrl,
    };
  }

  async function drainDlq(dlqUrl: string) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
      }),
    );
    return (out.Messages ?? []).map((m) => ({
      body: JSON.parse(m.Body!) as unknown,
      reason: m.MessageAttributes?.reason?.StringValue,
      source: m.MessageAttributes?.source?.StringValue,
    }));
  }

  it('SQS: send in batches, receive with counts, release, ack, depth', async () => {
    const { queue } = await queues('tasks-basic');
    const out: OutgoingMessage[] = Array.from({ length: 13 }, (_, i) => ({
      dedupKey: `topic-1-msg-${i + 1}`,
      body: { task_id: i + 1, message_id: i + 1, topic_id: 1, attempt: 1 },
    }));
    await queue.send(out);
    expect(await queue.depth()).toBe(13);

    const got = await queue.receive(20);
    expect(got).toHaveLength(13);
    expect(got.map((m) => m.body.task_id).sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: 13 }, (_, i) => i + 1),
    );
    expect(got.every((m) => m.receiveCount === 1)).toBe(true);
    expect(await queue.depth()).toBe(0);

    const [first, ...rest] = got;
    await queue.release(first!.receipt, 0);
    const again = await queue.receive(5);
    expect(again).toHaveLength(1);
    expect(again[0]!.id).toBe(first!.id);
    expect(again[0]!.receiveCount).toBe(2);

    for (const m of [...rest, ...again]) await queue.ack(m.receipt);
    expect(await queue.receive(10)).toEqual([]);
    expect(await queue.depth()).toBe(0);
  });

  it('SQS: an invalid body is dead-lettered with reason and source, then deleted', async () => {
    const { queue, queueUrl, dlqUrl } = await queues('tasks-invalid');
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: '{"task_id": "bad id!"}' }));
    await queue.send([{ dedupKey: 'topic-1-msg-9', body: { task_id: 9, message_id: 9, topic_id: 1 } }]);

    const got = await queue.receive(10);
    expect(got.map((m) => m.body.task_id)).toEqual([9]);
    const dead = await drainDlq(dlqUrl);
    expect(dead).toEqual([
      {
        body: '{"task_id": "bad id!"}',
        reason: expect.stringMatching(
          /^invalid task message: task_id: .*\(SQS message .*, received 1 time\)$/,
        ),
        source: 'sqs tasks-invalid',
      },
    ]);
    await queue.ack(got[0]!.receipt);
    // Deleted from the task queue: nothing comes back, visible or not.
    const attrs = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    expect(attrs.Attributes?.ApproximateNumberOfMessagesNotVisible).toBe('0');

    await queue.deadLetter({
      raw: { id: 5, data: null },
      reason: 'data: expected an object',
      source: 'topic 1',
    });
    expect(await drainDlq(dlqUrl)).toEqual([
      { body: { id: 5, data: null }, reason: 'data: expected an object', source: 'topic 1' },
    ]);
  });

  it('SQS: sendDelayed puts a fresh copy that waits (counted in depth) and starts at receive count 1', async () => {
    const { queue } = await queues('tasks-delayed');
    await queue.send([{ dedupKey: 'manual-x', body: { task_id: 77, reason: 'again' } }]);
    const [m] = await queue.receive(1);
    expect(m!.receiveCount).toBe(1);
    await queue.sendDelayed(m!.body, 600, 'manual-x');
    await queue.ack(m!.receipt);
    expect(await queue.receive(10)).toEqual([]); // still delayed
    expect(await queue.depth()).toBe(1);
  });

  it('S3 blob store: put/get/list/delete under a prefix; putIfAbsent has exactly one winner', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'blobs' }));
    const store = new S3BlobStore({ client: s3, bucket: 'blobs', prefix: 'avatar/' });
    expect(await store.get('runs/1/r1/result.json')).toBeUndefined();
    await store.put('runs/1/r1/result.json', '{"status":"done"}');
    await store.put('runs/1/r1/task.log', Buffer.from([0, 1, 2, 255]));
    await store.put('runs/2/r2/result.json', '{}');
    expect((await store.get('runs/1/r1/result.json'))?.toString()).toBe('{"status":"done"}');
    expect(await store.get('runs/1/r1/task.log')).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(await store.list('runs/1/')).toEqual(['runs/1/r1/result.json', 'runs/1/r1/task.log']);
    expect(await store.list('runs/')).toHaveLength(3);
    expect(await store.list('nothing/')).toEqual([]);
    await store.delete('runs/1/r1/task.log');
    await store.delete('runs/1/r1/task.log'); // twice: no error
    expect(await store.list('runs/1/')).toEqual(['runs/1/r1/result.json']);

    // Conditional write (If-None-Match: *): moto 5.2.1 implements it on PutObject.
    expect(await store.putIfAbsent('dispatch/topic-1-msg-1-a1.json', 'first')).toBe(true);
    expect(await store.putIfAbsent('dispatch/topic-1-msg-1-a1.json', 'second')).toBe(false);
    expect((await store.get('dispatch/topic-1-msg-1-a1.json'))?.toString()).toBe('first');
    const racers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.putIfAbsent('dispatch/race.json', `writer ${i}`)),
    );
    expect(racers.filter(Boolean)).toHaveLength(1);
  });

  it('S3 versioned store: ETag compare-and-set with If-None-Match / If-Match', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'state' }));
    const a = new S3VersionedStore<{ after?: number }>({
      client: s3,
      bucket: 'state',
      key: 'state/cursor.json',
    });
    const b = new S3VersionedStore<{ after?: number }>({
      client: s3,
      bucket: 'state',
      key: 'state/cursor.json',
    });
    expect(await a.load()).toBeUndefined();
    expect(await a.save({ after: 1 }, undefined)).toBe(true);
    expect(await b.save({ after: 99 }, undefined)).toBe(false); // something is stored already

    const v1 = (await b.load())!;
    expect(v1.value).toEqual({ after: 1 });
    expect(await b.save({ after: 2 }, v1.version)).toBe(true);
    expect(await a.save({ after: 3 }, v1.version)).toBe(false); // stale version
    const v2 = (await a.load())!;
    expect(v2.value).toEqual({ after: 2 });
    expect(v2.version).not.toBe(v1.version);

    // The same value written again still gets a new version (no A-B-A).
    expect(await a.save({ after: 2 }, v2.version)).toBe(true);
    const v3 = (await a.load())!;
    expect(v3.version).not.toBe(v2.version);
    expect(await b.save({ after: 5 }, v2.version)).toBe(false);

    // If-Match on an object that is gone: false, not an error.
    await s3.send(new DeleteObjectCommand({ Bucket: 'state', Key: 'state/cursor.json' }));
    expect(await a.save({ after: 4 }, v3.version)).toBe(false);
    expect(await a.save({ after: 4 }, undefined)).toBe(true);
  });

  it('ECS launcher: RunTask on Fargate, running() and isRunning() by startedBy', async () => {
    await ecs.send(new CreateClusterCommand({ clusterName: 'numa' }));
    const def = await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'numa-avatar-runner',
        networkMode: 'awsvpc',
        requiresCompatibilities: ['FARGATE'],
        cpu: '1024',
        memory: '2048',
        containerDefinitions: [{ name: 'runner', image: 'numa-avatar-runner:test', memoryReservation: 512 }],
      }),
    );
    const subnets = await motoDefaultSubnets(moto!);
    const launcher = new EcsLauncher({
      client: ecs,
      cluster: 'numa',
      taskDefinition: def.taskDefinition!.taskDefinitionArn!,
      containerName: 'runner',
      family: 'numa-avatar-runner',
      subnets: subnets.slice(0, 2),
      securityGroups: ['sg-0123456789abcdef0'],
      assignPublicIp: false,
      capacityProvider: 'FARGATE',
      placement: 'launch-type', // moto ignores capacityProviderStrategy (see the file's header)
      environment: { BUCKET: 'blobs' },
    });

    expect(await launcher.running()).toBe(0);
    expect(await launcher.isRunning('42')).toBe(false);

    const message = { task_id: 42, message_id: 7, topic_id: 1, attempt: 1 };
    const launched = await launcher.launchTask({ message, messageKey: 'topic-1-msg-7', runId: 'run-1' });
    expect(launched.taskArn).toMatch(/^arn:aws:ecs:us-east-1:\d+:task\//);
    await launcher.launch({ message: { task_id: 'T-43' }, messageKey: 'manual-x', runId: 'run-2' });

    const described = await ecs.send(
      new DescribeTasksCommand({ cluster: 'numa', tasks: [launched.taskArn] }),
    );
    const task = described.tasks![0]!;
    expect(task.startedBy).toBe('numa-task-42');
    const env = Object.fromEntries(
      task.overrides!.containerOverrides![0]!.environment!.map((e) => [e.name, e.value]),
    );
    expect(env).toEqual({
      BUCKET: 'blobs',
      NUMA_TASK_ID: '42',
      NUMA_RUN_ID: 'run-1',
      NUMA_MESSAGE: JSON.stringify(message),
    });

    expect(await launcher.running()).toBe(2);
    expect(await launcher.isRunning('42')).toBe(true);
    expect(await launcher.isRunning('T-43')).toBe(true);
    expect(await launcher.isRunning('44')).toBe(false);
    expect(startedByFor('T-43')).toBe('numa-task-T-43');

    await ecs.send(new StopTaskCommand({ cluster: 'numa', task: launched.taskArn, reason: 'test' }));
    expect(await launcher.isRunning('42')).toBe(false);
    expect(await launcher.running()).toBe(1);
  });

  it('ECS launcher: a RunTask the service refuses is LAUNCH_FAILED, not retryable', async () => {
    const subnets = await motoDefaultSubnets(moto!);
    const launcher = new EcsLauncher({
      client: ecs,
      cluster: 'no-such-cluster',
      taskDefinition: 'numa-avatar-runner',
      containerName: 'runner',
      family: 'numa-avatar-runner',
      subnets,
      securityGroups: ['sg-0123456789abcdef0'],
      assignPublicIp: false,
      capacityProvider: 'FARGATE',
      placement: 'launch-type',
    });
    const err = await launcher
      .launchTask({ message: { task_id: 1 }, messageKey: 'manual-y', runId: 'run-3' })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isAvatarError(err, 'LAUNCH_FAILED')).toBe(true);
    expect((err as Error).message).toMatch(/ClusterNotFoundException/);
  });
});
