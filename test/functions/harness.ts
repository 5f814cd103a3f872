/**
 * Test doubles for the Lambda handlers, built on aws-sdk-client-mock: an in-memory S3 with the
 * conditional-write semantics the adapters rely on (If-None-Match: *, If-Match), SQS that keeps
 * what was sent, ECS with RunTask/ListTasks/DescribeTasks over a list of tasks (clientToken
 * idempotent, scripted failures), Secrets Manager with one secret. Plus a Lambda context with a
 * chosen deadline and a capture of stdout (Powertools logs and EMF metrics).
 */
import { createHash, randomUUID } from 'node:crypto';
import { vi } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  type SendMessageBatchCommandInput,
  type SendMessageCommandInput,
} from '@aws-sdk/client-sqs';
import {
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RunTaskCommand,
  type RunTaskCommandInput,
} from '@aws-sdk/client-ecs';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';
export const QUEUE_URL = `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/numa-avatar-tasks`;
export const DLQ_URL = `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/numa-avatar-dlq`;
export const BUCKET = 'numa-avatar-state';
export const CLUSTER_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/numa-avatar`;
export const TASK_DEF_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/numa-avatar-runner:3`;
export const SECRET_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:numa-avatar/backend-token-AbCdEf`;
/** Client options for handlers under aws-sdk-client-mock (no real endpoint, fixed credentials). */
export const MOCK_AWS = { region: REGION, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } };

export function awsError(name: string, status: number, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
}

// ---- S3 ----

export interface FakeS3 {
  objects: Map<string, { body: Buffer; etag: string }>;
  json<T = unknown>(key: string): T | undefined;
  putJson(key: string, value: unknown): void;
  /** Runs before each PutObject of `key` is applied (once per call), e.g. to simulate a racing writer. */
  beforePut?: (key: string) => void;
  /** Errors thrown by the next calls of a command on a key prefix. */
  failNext(command: 'GetObject' | 'PutObject' | 'DeleteObject', keyPrefix: string, error: Error): void;
}

function etagOf(body: Buffer): string {
  return `"${createHash('md5').update(body).digest('hex')}"`;
}

export function fakeS3(): FakeS3 {
  const mock = mockClient(S3Client);
  const objects = new Map<string, { body: Buffer; etag: string }>();
  const failures: Array<{ command: string; prefix: string; error: Error }> = [];
  const fail = (command: string, key: string) => {
    const i = failures.findIndex((f) => f.command === command && key.startsWith(f.prefix));
    if (i >= 0) throw failures.splice(i, 1)[0]!.error;
  };
  const fake: FakeS3 = {
    objects,
    json: <T>(key: string) => {
      const o = objects.get(key);
      return o ? (JSON.parse(o.body.toString('utf8')) as T) : undefined;
    },
    putJson: (key, value) => {
      const body = Buffer.from(JSON.stringify(value));
      objects.set(key, { body, etag: etagOf(body) });
    },
    failNext: (command, prefix, error) => failures.push({ command, prefix, error }),
  };
  mock.on(GetObjectCommand).callsFake(async (input: { Key: string }) => {
    fail('GetObject', input.Key);
    const o = objects.get(input.Key);
    if (!o) throw awsError('NoSuchKey', 404, 'The specified key does not exist.');
    return {
      ETag: o.etag,
      Body: {
        transformToByteArray: async () => new Uint8Array(o.body),
        transformToString: async () => o.body.toString('utf8'),
      },
    };
  });
  mock
    .on(PutObjectCommand)
    .callsFake(
      async (input: { Key: string; Body: Buffer | string; IfNoneMatch?: string; IfMatch?: string }) => {
        fail('PutObject', input.Key);
        fake.beforePut?.(input.Key);
        const existing = objects.get(input.Key);
        if (input.IfNoneMatch === '*' && existing) throw awsError('PreconditionFailed', 412);
        if (input.IfMatch !== undefined) {
          if (!existing) throw awsError('NoSuchKey', 404);
          if (existing.etag !== input.IfMatch) throw awsError('PreconditionFailed', 412);
        }
        const body = Buffer.isBuffer(input.Body) ? input.Body : Buffer.from(String(input.Body));
        const etag = etagOf(body);
        objects.set(input.Key, { body, etag });
        return { ETag: etag };
      },
    );
  mock.on(DeleteObjectCommand).callsFake(async (input: { Key: string }) => {
    fail('DeleteObject', input.Key);
    objects.delete(input.Key);
    return {};
  });
  mock.on(ListObjectsV2Command).callsFake(async (input: { Prefix?: string }) => ({
    Contents: [...objects.keys()].filter((k) => k.startsWith(input.Prefix ?? '')).map((Key) => ({ Key })),
    IsTruncated: false,
  }));
  return fake;
}

// ---- SQS ----

export interface SentMessage {
  queueUrl: string;
  body: string;
  json: Record<string, unknown>;
  attributes: Record<string, string>;
  delaySeconds: number;
  messageId: string;
}

export interface FakeSqs {
  sent: SentMessage[];
  to(queueUrl: string): SentMessage[];
  /** SendMessage/SendMessageBatch fail with this error while it is set. */
  failWith?: Error;
}

export function fakeSqs(): FakeSqs {
  const mock = mockClient(SQSClient);
  const fake: FakeSqs = {
    sent: [],
    to: (url) => fake.sent.filter((m) => m.queueUrl === url),
  };
  const record = (
    queueUrl: string,
    body: string,
    attrs: Record<string, { StringValue?: string }> | undefined,
    delay: number | undefined,
  ): string => {
    const messageId = randomUUID();
    fake.sent.push({
      queueUrl,
      body,
      json: JSON.parse(body) as Record<string, unknown>,
      attributes: Object.fromEntries(Object.entries(attrs ?? {}).map(([k, v]) => [k, v.StringValue ?? ''])),
      delaySeconds: delay ?? 0,
      messageId,
    });
    return messageId;
  };
  mock.on(SendMessageCommand).callsFake(async (input: SendMessageCommandInput) => {
    if (fake.failWith) throw fake.failWith;
    return {
      MessageId: record(input.QueueUrl!, input.MessageBody!, input.MessageAttributes, input.DelaySeconds),
    };
  });
  mock.on(SendMessageBatchCommand).callsFake(async (input: SendMessageBatchCommandInput) => {
    if (fake.failWith) throw fake.failWith;
    const Successful = (input.Entries ?? []).map((e) => ({
      Id: e.Id!,
      MessageId: record(input.QueueUrl!, e.MessageBody!, e.MessageAttributes, e.DelaySeconds),
      MD5OfMessageBody: '',
    }));
    return { Successful, Failed: [] };
  });
  return fake;
}

/** An SQS event for the dispatcher from bodies (or from messages the fake SQS received). */
export function sqsEvent(
  records: Array<{ body: string; messageId?: string; receiveCount?: number }>,
): SQSEvent {
  return {
    Records: records.map((r): SQSRecord => ({
      messageId: r.messageId ?? randomUUID(),
      receiptHandle: `rh-${randomUUID()}`,
      body: r.body,
      attributes: {
        ApproximateReceiveCount: String(r.receiveCount ?? 1),
        SentTimestamp: String(Date.now()),
        SenderId: 'AIDTEST',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:${REGION}:${ACCOUNT}:numa-avatar-tasks`,
      awsRegion: REGION,
    })),
  };
}

// ---- ECS ----

export interface FakeTask {
  taskArn: string;
  startedBy?: string;
  family: string;
  lastStatus: string;
  clientToken?: string;
  input?: RunTaskCommandInput;
}

export interface FakeEcs {
  tasks: FakeTask[];
  runTaskCalls: RunTaskCommandInput[];
  /** Scripted RunTask answers, used in order before the normal behaviour. */
  script: Array<'capacity' | Error>;
  /** ECS's eventual consistency: tasks RunTask started are not listed yet. */
  listLag: boolean;
  /** Adds a task of the runner family (running unless said otherwise). */
  addTask(t: Partial<FakeTask>): FakeTask;
  env(task: FakeTask): Record<string, string>;
}

export function fakeEcs(): FakeEcs {
  const mock = mockClient(ECSClient);
  let n = 0;
  const fake: FakeEcs = {
    tasks: [],
    runTaskCalls: [],
    script: [],
    listLag: false,
    addTask: (t) => {
      const task: FakeTask = {
        taskArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task/numa-avatar/${(++n).toString(16).padStart(32, '0')}`,
        family: 'numa-avatar-runner',
        lastStatus: 'RUNNING',
        ...t,
      };
      fake.tasks.push(task);
      return task;
    },
    env: (task) =>
      Object.fromEntries(
        (task.input?.overrides?.containerOverrides?.[0]?.environment ?? []).map((e) => [e.name!, e.value!]),
      ),
  };
  mock.on(RunTaskCommand).callsFake(async (input: RunTaskCommandInput) => {
    fake.runTaskCalls.push(input);
    const step = fake.script.shift();
    if (step instanceof Error) throw step;
    if (step === 'capacity') {
      return {
        tasks: [],
        failures: [
          {
            reason:
              'Capacity is unavailable at this time. Please try again later or in a different availability zone',
          },
        ],
      };
    }
    const same = fake.tasks.find((t) => input.clientToken && t.clientToken === input.clientToken);
    if (same) return { tasks: [{ taskArn: same.taskArn, lastStatus: same.lastStatus }], failures: [] };
    const task = fake.addTask({
      startedBy: input.startedBy,
      clientToken: input.clientToken,
      lastStatus: 'PROVISIONING',
      input,
    });
    return { tasks: [{ taskArn: task.taskArn, lastStatus: task.lastStatus }], failures: [] };
  });
  mock.on(ListTasksCommand).callsFake(async (input: { family?: string; startedBy?: string }) => {
    const live = (t: FakeTask) => t.lastStatus !== 'STOPPED';
    const arns = fake.tasks
      .filter((t) => !(fake.listLag && t.input))
      .filter((t) => (input.startedBy ? t.startedBy === input.startedBy : live(t)))
      .filter((t) => !input.family || t.family === input.family)
      .map((t) => t.taskArn);
    return { taskArns: arns };
  });
  mock.on(DescribeTasksCommand).callsFake(async (input: { tasks: string[] }) => ({
    tasks: fake.tasks
      .filter((t) => input.tasks.includes(t.taskArn))
      .map((t) => ({ taskArn: t.taskArn, lastStatus: t.lastStatus })),
  }));
  return fake;
}

// ---- Secrets Manager ----

export function fakeSecrets(values: Record<string, string>): { calls: () => number } {
  const mock = mockClient(SecretsManagerClient);
  let calls = 0;
  mock.on(GetSecretValueCommand).callsFake(async (input: { SecretId: string }) => {
    calls++;
    const v = values[input.SecretId];
    if (v === undefined)
      throw awsError('ResourceNotFoundException', 400, "Secrets Manager can't find the specified secret.");
    return { ARN: input.SecretId, SecretString: v };
  });
  return { calls: () => calls };
}

// ---- Lambda ----

/** A Lambda context whose remaining time counts down from `remainingMs`. */
export function lambdaContext(remainingMs: number, name = 'numa-avatar-test'): Context {
  const deadline = Date.now() + remainingMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'test',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

// ---- stdout and stderr (Powertools logs and EMF) ----

export interface Captured {
  text(): string;
  /** Sums of each metric over every EMF document written, with the namespaces and dimensions seen. */
  metrics(): {
    totals: Record<string, number>;
    values: Record<string, number[]>;
    namespaces: Set<string>;
    dimensions: Set<string>;
  };
  restore(): void;
}

export function captureStdout(): Captured {
  const chunks: string[] = [];
  const keep = (chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  };
  const spies = [
    vi.spyOn(process.stdout, 'write').mockImplementation(keep),
    vi.spyOn(process.stderr, 'write').mockImplementation(keep),
  ];
  return {
    text: () => chunks.join(''),
    metrics: () => {
      const totals: Record<string, number> = {};
      const values: Record<string, number[]> = {};
      const namespaces = new Set<string>();
      const dimensions = new Set<string>();
      for (const line of chunks.join('').split('\n')) {
        if (!line.includes('"_aws"')) continue;
        const doc = JSON.parse(line) as {
          _aws: {
            CloudWatchMetrics: Array<{
              Namespace: string;
              Dimensions: string[][];
              Metrics: Array<{ Name: string }>;
            }>;
          };
          [k: string]: unknown;
        };
        for (const m of doc._aws.CloudWatchMetrics) {
          namespaces.add(m.Namespace);
          for (const d of m.Dimensions.flat()) dimensions.add(`${d}=${String(doc[d])}`);
          for (const { Name } of m.Metrics) {
            const v = doc[Name];
            const list = (Array.isArray(v) ? v : [v]).map(Number);
            (values[Name] ??= []).push(...list);
            totals[Name] = (totals[Name] ?? 0) + list.reduce((a, b) => a + b, 0);
          }
        }
      }
      return { totals, values, namespaces, dimensions };
    },
    restore: () => spies.forEach((s) => s.mockRestore()),
  };
}
