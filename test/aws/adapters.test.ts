/**
 * Unit tests of the AWS adapters against aws-sdk-client-mock: the request shapes and every
 * branch of the error handling (the moto tests cover the same adapters against real protocols).
 */
import {
  ClientException,
  DescribeTasksCommand,
  ECSClient,
  ECSServiceException,
  ListTasksCommand,
  RunTaskCommand,
  ServerException,
} from '@aws-sdk/client-ecs';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import type { GetObjectCommandOutput } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SendMessageBatchCommandInput } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { awsClientConfig, s3ClientConfig } from '../../adapters/aws/clients.ts';
import {
  EcsLauncher,
  clientTokenFor,
  isRetryableLaunchError,
  startedByFor,
  type EcsLauncherOptions,
} from '../../adapters/aws/ecs-launcher.ts';
import { S3BlobStore } from '../../adapters/aws/s3-blob-store.ts';
import { S3VersionedStore } from '../../adapters/aws/s3-versioned-store.ts';
import { DLQ_BODY_MAX_BYTES, DLQ_REASON_MAX_CHARS, SqsTaskQueue } from '../../adapters/aws/sqs-queue.ts';
import { AvatarError, isAvatarError } from '../../core/errors.ts';
import type { OutgoingMessage } from '../../core/ports.ts';

const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/numa-tasks';
const DLQ_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/numa-tasks-dlq';
const creds = { accessKeyId: 'testing', secretAccessKey: 'testing' };

function s3Error(name: string, status: number): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: status },
    message: name,
  });
}

function body(text: string): GetObjectCommandOutput['Body'] {
  const bytes = Buffer.from(text);
  return {
    transformToByteArray: async () => new Uint8Array(bytes),
    transformToString: async () => text,
  } as unknown as GetObjectCommandOutput['Body'];
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

function outgoing(n: number): OutgoingMessage[] {
  return Array.from({ length: n }, (_, i) => ({
    dedupKey: `topic-7-msg-${i + 1}`,
    body: { task_id: 100 + i, message_id: i + 1, topic_id: 7, attempt: 1 },
  }));
}

describe('awsClientConfig', () => {
  it('reads AWS_ENDPOINT_URL and the region from the given env; path style only for S3', () => {
    const env = { AWS_ENDPOINT_URL: 'http://127.0.0.1:5000', AWS_REGION: 'eu-west-1' };
    expect(awsClientConfig({ env })).toEqual({ endpoint: 'http://127.0.0.1:5000', region: 'eu-west-1' });
    expect(s3ClientConfig({ env, credentials: creds })).toEqual({
      endpoint: 'http://127.0.0.1:5000',
      region: 'eu-west-1',
      credentials: creds,
      forcePathStyle: true,
    });
    expect(awsClientConfig({ env: {} })).toEqual({});
    expect(s3ClientConfig({ env: {} })).toEqual({});
    expect(awsClientConfig({ env, endpoint: 'http://localhost:4566', region: 'us-east-1' })).toEqual({
      endpoint: 'http://localhost:4566',
      region: 'us-east-1',
    });
  });

  it('refuses endpoints that are not http(s) or carry credentials, without echoing them', () => {
    expect(() => awsClientConfig({ env: { AWS_ENDPOINT_URL: 'ftp://x' } })).toThrow(/http\(s\)/);
    const err = (() => {
      try {
        awsClientConfig({ endpoint: 'http://AKIA:s3cr3t@127.0.0.1:1' });
      } catch (e) {
        return e;
      }
    })();
    expect(isAvatarError(err, 'CONFIG_INVALID')).toBe(true);
    expect(String((err as Error).message)).not.toContain('s3cr3t');
  });
});

describe('SqsTaskQueue (mocked SQS)', () => {
  const sqs = mockClient(SQSClient);
  const sleeps: number[] = [];
  let queue: SqsTaskQueue;

  beforeEach(() => {
    sqs.reset();
    sleeps.length = 0;
    queue = new SqsTaskQueue({
      client: new SQSClient({ region: 'us-east-1', credentials: creds }),
      queueUrl: QUEUE_URL,
      dlqUrl: DLQ_URL,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
  });
  afterEach(() => sqs.reset());

  it('sends in chunks of 10 with JSON bodies and the dedup_key attribute', async () => {
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({
      Successful: (input.Entries ?? []).map((e) => ({
        Id: e.Id,
        MessageId: `id-${e.Id}`,
        MD5OfMessageBody: 'x',
      })),
      Failed: [],
    }));
    await queue.send(outgoing(23));
    const calls = sqs.commandCalls(SendMessageBatchCommand);
    expect(calls.map((c) => c.args[0].input.Entries?.length)).toEqual([10, 10, 3]);
    const first = calls[0]!.args[0].input.Entries![0]!;
    expect(first.MessageAttributes?.dedup_key).toEqual({ DataType: 'String', StringValue: 'topic-7-msg-1' });
    expect(JSON.parse(first.MessageBody!)).toEqual({ task_id: 100, message_id: 1, topic_id: 7, attempt: 1 });
    expect(calls.every((c) => c.args[0].input.QueueUrl === QUEUE_URL)).toBe(true);
    const ids = calls[0]!.args[0].input.Entries!.map((e) => e.Id);
    expect(new Set(ids).size).toBe(10);
  });

  it('sends a dedup key repeated within one call once, and refuses an invalid body before sending', async () => {
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({
      Successful: (input.Entries ?? []).map((e) => ({ Id: e.Id, MessageId: 'm', MD5OfMessageBody: 'x' })),
    }));
    const [a] = outgoing(1);
    await queue.send([a!, a!]);
    expect(sqs.commandCalls(SendMessageBatchCommand)[0]!.args[0].input.Entries).toHaveLength(1);

    sqs.resetHistory();
    const bad = { dedupKey: 'k', body: { task_id: -5 } } as OutgoingMessage;
    const err = await caught(queue.send([...outgoing(3), bad]));
    expect(isAvatarError(err, 'MESSAGE_MALFORMED')).toBe(true);
    expect(sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
  });

  it('retries entries reported in Failed with backoff until they are sent', async () => {
    sqs
      .on(SendMessageBatchCommand)
      .resolvesOnce({
        Successful: [{ Id: 'm0', MessageId: 'a', MD5OfMessageBody: 'x' }],
        Failed: [
          { Id: 'm1', Code: 'InternalError', SenderFault: false, Message: 'try again' },
          { Id: 'm2', Code: 'ServiceUnavailable', SenderFault: false },
        ],
      })
      .resolvesOnce({
        Successful: [{ Id: 'm0', MessageId: 'b', MD5OfMessageBody: 'x' }],
        Failed: [{ Id: 'm1', Code: 'InternalError', SenderFault: false }],
      })
      .resolvesOnce({ Successful: [{ Id: 'm0', MessageId: 'c', MD5OfMessageBody: 'x' }], Failed: [] });
    await queue.send(outgoing(3));
    const calls = sqs.commandCalls(SendMessageBatchCommand);
    expect(
      calls.map((c) => c.args[0].input.Entries!.map((e) => e.MessageAttributes!.dedup_key!.StringValue)),
    ).toEqual([
      ['topic-7-msg-1', 'topic-7-msg-2', 'topic-7-msg-3'],
      ['topic-7-msg-2', 'topic-7-msg-3'],
      ['topic-7-msg-3'],
    ]);
    expect(sleeps).toHaveLength(2);
  });

  it('throws AWS_FAILED naming the entries still failing after the last attempt', async () => {
    // msg-1 goes through; msg-2 and msg-3 fail every time.
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => {
      const entries = input.Entries ?? [];
      const bad = (e: (typeof entries)[number]) =>
        e.MessageAttributes?.dedup_key?.StringValue !== 'topic-7-msg-1';
      return {
        Successful: entries
          .filter((e) => !bad(e))
          .map((e) => ({ Id: e.Id, MessageId: 'a', MD5OfMessageBody: 'x' })),
        Failed: entries.filter(bad).map((e) => ({ Id: e.Id, Code: 'InternalError', SenderFault: false })),
      };
    });
    const err = await caught(queue.send(outgoing(3)));
    expect(isAvatarError(err, 'AWS_FAILED')).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toContain('topic-7-msg-2');
    expect(msg).toContain('topic-7-msg-3');
    expect(msg).not.toContain('topic-7-msg-1 ');
    expect(msg).toContain('InternalError');
    expect(sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(4);
  });

  it('does not retry sender faults, and still reports them', async () => {
    sqs
      .on(SendMessageBatchCommand)
      .resolves({ Successful: [{ Id: 'm0', MessageId: 'a', MD5OfMessageBody: 'x' }], Failed: [] });
    sqs.on(SendMessageBatchCommand).resolvesOnce({
      Successful: [{ Id: 'm0', MessageId: 'a', MD5OfMessageBody: 'x' }],
      Failed: [{ Id: 'm1', Code: 'InvalidMessageContents', SenderFault: true, Message: 'bad' }],
    });
    const err = await caught(queue.send(outgoing(2)));
    expect((err as Error).message).toMatch(/topic-7-msg-2 \(InvalidMessageContents: bad\)/);
    expect(sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(1);
  });

  it('treats an entry missing from the response as failed', async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const err = await caught(queue.send(outgoing(1)));
    expect((err as Error).message).toMatch(/topic-7-msg-1 \(missing from the response\)/);
  });

  it('wraps a failing SendMessageBatch call as AWS_FAILED', async () => {
    sqs.on(SendMessageBatchCommand).rejects(new Error('socket hang up'));
    const err = await caught(queue.send(outgoing(2)));
    expect(isAvatarError(err, 'AWS_FAILED')).toBe(true);
    expect((err as Error).message).toMatch(/SendMessageBatch on numa-tasks .*socket hang up/);
  });

  it('receives valid messages with their receive count; dead-letters and deletes invalid bodies', async () => {
    sqs.on(ReceiveMessageCommand).resolvesOnce({
      Messages: [
        {
          MessageId: 'mid-1',
          ReceiptHandle: 'rh-1',
          Body: JSON.stringify({ task_id: 5, message_id: 9, topic_id: 1 }),
          Attributes: { ApproximateReceiveCount: '3' },
        },
        { MessageId: 'mid-2', ReceiptHandle: 'rh-2', Body: '{"task_id": -1}', Attributes: {} },
        { MessageId: 'mid-3', ReceiptHandle: 'rh-3', Body: 'not json' },
      ],
    });
    sqs.on(SendMessageCommand).resolves({ MessageId: 'dlq' });
    sqs.on(DeleteMessageCommand).resolves({});

    const got = await queue.receive(5);
    expect(got).toEqual([
      { id: 'mid-1', receipt: 'rh-1', receiveCount: 3, body: { task_id: 5, message_id: 9, topic_id: 1 } },
    ]);
    const recv = sqs.commandCalls(ReceiveMessageCommand)[0]!.args[0].input;
    expect(recv.MaxNumberOfMessages).toBe(5);
    expect(recv.MessageSystemAttributeNames).toContain('ApproximateReceiveCount');

    const dead = sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
    expect(dead.map((d) => d.QueueUrl)).toEqual([DLQ_URL, DLQ_URL]);
    expect(JSON.parse(dead[0]!.MessageBody!)).toBe('{"task_id": -1}');
    expect(dead[0]!.MessageAttributes!.reason!.StringValue).toMatch(
      /^invalid task message: task_id: .*mid-2/,
    );
    expect(dead[0]!.MessageAttributes!.source!.StringValue).toBe('sqs numa-tasks');
    expect(dead[1]!.MessageAttributes!.reason!.StringValue).toMatch(/not valid JSON/);
    expect(sqs.commandCalls(DeleteMessageCommand).map((c) => c.args[0].input.ReceiptHandle)).toEqual([
      'rh-2',
      'rh-3',
    ]);
  });

  it('receiveBatch surfaces invalid messages without touching them', async () => {
    sqs.on(ReceiveMessageCommand).resolvesOnce({
      Messages: [
        {
          MessageId: 'mid-2',
          ReceiptHandle: 'rh-2',
          Body: '[]',
          Attributes: { ApproximateReceiveCount: '2' },
        },
      ],
    });
    const batch = await queue.receiveBatch(10);
    expect(batch.messages).toEqual([]);
    expect(batch.invalid).toEqual([
      {
        id: 'mid-2',
        receipt: 'rh-2',
        receiveCount: 2,
        raw: '[]',
        reason: expect.stringMatching(/invalid task message/),
      },
    ]);
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
  });

  it('receives more than 10 in several calls and stops when the queue runs dry', async () => {
    const msgs = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        MessageId: `m${from + i}`,
        ReceiptHandle: `r${from + i}`,
        Body: JSON.stringify({ task_id: from + i }),
      }));
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: msgs(0, 10) })
      .resolvesOnce({ Messages: msgs(10, 4) });
    const got = await queue.receive(25);
    expect(got).toHaveLength(14);
    const calls = sqs.commandCalls(ReceiveMessageCommand).map((c) => c.args[0].input.MaxNumberOfMessages);
    expect(calls).toEqual([10, 10]);
    expect(await queue.receive(0)).toEqual([]);
  });

  it('acks, releases (clamped) and reports depth as visible + delayed', async () => {
    sqs.on(DeleteMessageCommand).resolves({});
    sqs.on(ChangeMessageVisibilityCommand).resolves({});
    sqs.on(GetQueueAttributesCommand).resolves({
      Attributes: { ApproximateNumberOfMessages: '4', ApproximateNumberOfMessagesDelayed: '2' },
    });
    await queue.ack('rh-1');
    await queue.release('rh-2', 30);
    await queue.release('rh-3', 10 ** 9);
    await queue.release('rh-4', -3);
    expect(await queue.depth()).toBe(6);
    expect(sqs.commandCalls(DeleteMessageCommand)[0]!.args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      ReceiptHandle: 'rh-1',
    });
    expect(
      sqs.commandCalls(ChangeMessageVisibilityCommand).map((c) => c.args[0].input.VisibilityTimeout),
    ).toEqual([30, 43_200, 0]);
    await expect(queue.ack('')).rejects.toThrow(/receipt/);
  });

  it('dead-letters with body = JSON of the raw message and reason/source attributes, trimmed', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'x' });
    const raw = { id: 12, data: { nope: true } };
    await queue.deadLetter({ raw, reason: 'data.task_id: missing', source: 'topic 7' });
    await queue.deadLetter({ raw: 'x', reason: 'r'.repeat(5000), source: '' });
    const [a, b] = sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
    expect(a!.QueueUrl).toBe(DLQ_URL);
    expect(JSON.parse(a!.MessageBody!)).toEqual(raw);
    expect(a!.MessageAttributes).toEqual({
      reason: { DataType: 'String', StringValue: 'data.task_id: missing' },
      source: { DataType: 'String', StringValue: 'topic 7' },
    });
    expect(b!.MessageAttributes!.reason!.StringValue!.length).toBe(DLQ_REASON_MAX_CHARS);
    expect(b!.MessageAttributes!.reason!.StringValue!.endsWith('…')).toBe(true);
    expect(b!.MessageAttributes!.source!.StringValue).toBe('(unknown)');
  });

  it('dead-letters a huge or unserialisable raw message without failing', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'x' });
    await queue.deadLetter({ raw: { blob: 'y'.repeat(DLQ_BODY_MAX_BYTES * 2) }, reason: 'big', source: 's' });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await queue.deadLetter({ raw: circular, reason: 'circular', source: 's' });
    await queue.deadLetter({ raw: 'bad \u0001 char \uFFFF', reason: 'ctl \u0000', source: 's' });
    const [big, circ, ctl] = sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
    expect(Buffer.byteLength(big!.MessageBody!)).toBeLessThan(DLQ_BODY_MAX_BYTES);
    expect(JSON.parse(big!.MessageBody!)).toMatchObject({ truncated: true });
    expect(big!.MessageAttributes!.truncated!.StringValue).toBe('true');
    expect(JSON.parse(circ!.MessageBody!)).toBe('[object Object]');
    expect(ctl!.MessageBody!.includes('\u0001') || ctl!.MessageBody!.includes('\uFFFF')).toBe(false);
    expect(ctl!.MessageBody!.includes('\uFFFD')).toBe(true);
    expect(ctl!.MessageAttributes!.reason!.StringValue).toBe('ctl \uFFFD');
  });

  it('sendDelayed puts a fresh copy with DelaySeconds capped at 900', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'new-1' });
    expect(await queue.sendDelayed({ task_id: 3, attempt: 2 }, 60, 'manual-abc')).toBe('new-1');
    await queue.sendDelayed({ task_id: 3 }, 5000);
    const [a, b] = sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
    expect(a).toMatchObject({ QueueUrl: QUEUE_URL, DelaySeconds: 60 });
    expect(JSON.parse(a!.MessageBody!)).toEqual({ task_id: 3, attempt: 2 });
    expect(a!.MessageAttributes!.dedup_key!.StringValue).toBe('manual-abc');
    expect(b!.DelaySeconds).toBe(900);
    expect(b!.MessageAttributes).toBeUndefined();
    await expect(queue.sendDelayed({ task_id: '' } as never, 1)).rejects.toThrow(AvatarError);
  });
});

describe('S3BlobStore (mocked S3)', () => {
  const s3 = mockClient(S3Client);
  let store: S3BlobStore;

  beforeEach(() => {
    s3.reset();
    store = new S3BlobStore({
      client: new S3Client({ region: 'us-east-1', credentials: creds }),
      bucket: 'b',
      prefix: 'avatar',
    });
  });

  it('get returns the bytes, or undefined for NoSuchKey; other errors are AWS_FAILED', async () => {
    s3.on(GetObjectCommand, { Key: 'avatar/a/x.json' }).resolves({ Body: body('{"a":1}') });
    s3.on(GetObjectCommand, { Key: 'avatar/a/missing' }).rejects(s3Error('NoSuchKey', 404));
    s3.on(GetObjectCommand, { Key: 'avatar/a/denied' }).rejects(s3Error('AccessDenied', 403));
    expect((await store.get('a/x.json'))?.toString()).toBe('{"a":1}');
    expect(await store.get('a/missing')).toBeUndefined();
    const err = await caught(store.get('a/denied'));
    expect(isAvatarError(err, 'AWS_FAILED')).toBe(true);
    expect((err as Error).message).toMatch(/s3:\/\/b\/avatar\/a\/denied.*AccessDenied/);
  });

  it('validates keys like the local store', async () => {
    for (const key of ['', '/abs', 'a/../b', 'a//b', 'a\\b', './a', 'x'.repeat(1100)]) {
      const err = await caught(store.get(key));
      expect(isAvatarError(err, 'PATH_ESCAPE'), key.slice(0, 20)).toBe(true);
    }
    expect(s3.calls()).toHaveLength(0);
    await expect(store.list('../')).rejects.toThrow(/invalid blob key/);
  });

  it('putIfAbsent: If-None-Match *, 412 → false, 409 tried once more, two 409s → AWS_FAILED', async () => {
    s3.on(PutObjectCommand).resolvesOnce({ ETag: '"1"' }).rejectsOnce(s3Error('PreconditionFailed', 412));
    expect(await store.putIfAbsent('dispatch/k-a1.json', '{}')).toBe(true);
    expect(await store.putIfAbsent('dispatch/k-a1.json', '{}')).toBe(false);
    const input = s3.commandCalls(PutObjectCommand)[0]!.args[0].input;
    expect(input).toMatchObject({ Bucket: 'b', Key: 'avatar/dispatch/k-a1.json', IfNoneMatch: '*' });

    s3.reset();
    s3.on(PutObjectCommand)
      .rejectsOnce(s3Error('ConditionalRequestConflict', 409))
      .resolvesOnce({ ETag: '"2"' });
    expect(await store.putIfAbsent('dispatch/k-a2.json', '{}')).toBe(true);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(2);

    s3.reset();
    s3.on(PutObjectCommand).rejects(s3Error('ConditionalRequestConflict', 409));
    const err = await caught(store.putIfAbsent('dispatch/k-a3.json', '{}'));
    expect(isAvatarError(err, 'AWS_FAILED')).toBe(true);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(2);
  });

  it('put writes unconditionally; delete ignores a missing key', async () => {
    s3.on(PutObjectCommand).resolves({});
    s3.on(DeleteObjectCommand).resolves({});
    await store.put('runs/1/r/result.json', Buffer.from('{}'));
    const input = s3.commandCalls(PutObjectCommand)[0]!.args[0].input;
    expect(input.IfNoneMatch).toBeUndefined();
    expect(input.IfMatch).toBeUndefined();
    expect(input.ContentType).toBe('application/json');
    await store.delete('runs/1/r/result.json');
    expect(s3.commandCalls(DeleteObjectCommand)[0]!.args[0].input).toEqual({
      Bucket: 'b',
      Key: 'avatar/runs/1/r/result.json',
    });
  });

  it('list follows continuation tokens, strips the store prefix and sorts', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce({
        Contents: [{ Key: 'avatar/runs/2/b' }, { Key: 'avatar/runs/1/a' }],
        IsTruncated: true,
        NextContinuationToken: 't1',
      })
      .resolvesOnce({ Contents: [{ Key: 'avatar/runs/10/c' }], IsTruncated: false });
    expect(await store.list('runs/')).toEqual(['runs/1/a', 'runs/10/c', 'runs/2/b']);
    const calls = s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input);
    expect(calls).toEqual([
      { Bucket: 'b', Prefix: 'avatar/runs/', ContinuationToken: undefined },
      { Bucket: 'b', Prefix: 'avatar/runs/', ContinuationToken: 't1' },
    ]);
  });
});

describe('S3VersionedStore (mocked S3)', () => {
  const s3 = mockClient(S3Client);
  let store: S3VersionedStore<{ after: number }>;

  beforeEach(() => {
    s3.reset();
    let n = 0;
    store = new S3VersionedStore({
      client: new S3Client({ region: 'us-east-1', credentials: creds }),
      bucket: 'b',
      key: 'state/cursor.json',
      newId: () => `w${++n}`,
      now: () => 0,
    });
  });

  it('load returns the value and the ETag, or undefined when nothing is stored', async () => {
    s3.on(GetObjectCommand)
      .rejectsOnce(s3Error('NoSuchKey', 404))
      .resolvesOnce({ Body: body('{"value":{"after":4},"write_id":"w"}'), ETag: '"abc"' })
      .resolvesOnce({ Body: body('{"after":4}'), ETag: '"def"' });
    expect(await store.load()).toBeUndefined();
    expect(await store.load()).toEqual({ value: { after: 4 }, version: '"abc"' });
    await expect(store.load()).rejects.toThrow(/not a versioned record/);
  });

  it('save uses If-None-Match * with no expected version and If-Match otherwise; 412 and 404 → false', async () => {
    s3.on(PutObjectCommand)
      .resolvesOnce({ ETag: '"v1"' })
      .resolvesOnce({ ETag: '"v2"' })
      .rejectsOnce(s3Error('PreconditionFailed', 412))
      .rejectsOnce(s3Error('NoSuchKey', 404));
    expect(await store.save({ after: 1 }, undefined)).toBe(true);
    expect(await store.save({ after: 2 }, '"v1"')).toBe(true);
    expect(await store.save({ after: 3 }, '"v1"')).toBe(false);
    expect(await store.save({ after: 3 }, '"v2"')).toBe(false);
    const inputs = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(inputs[0]).toMatchObject({ Key: 'state/cursor.json', IfNoneMatch: '*' });
    expect(inputs[0]!.IfMatch).toBeUndefined();
    expect(inputs[1]).toMatchObject({ IfMatch: '"v1"' });
    expect(inputs[1]!.IfNoneMatch).toBeUndefined();
    expect(JSON.parse(String(inputs[1]!.Body))).toEqual({
      value: { after: 2 },
      write_id: 'w2',
      saved_at: '1970-01-01T00:00:00.000Z',
    });
  });

  it('save: If-None-Match * on an existing object → false; 409 tried once more; other errors thrown', async () => {
    s3.on(PutObjectCommand).rejectsOnce(s3Error('PreconditionFailed', 412));
    expect(await store.save({ after: 1 }, undefined)).toBe(false);
    s3.reset();
    s3.on(PutObjectCommand).rejectsOnce(s3Error('ConditionalRequestConflict', 409)).resolvesOnce({});
    expect(await store.save({ after: 1 }, '"v1"')).toBe(true);
    s3.reset();
    s3.on(PutObjectCommand).rejects(s3Error('AccessDenied', 403));
    const err = await caught(store.save({ after: 1 }, '"v1"'));
    expect(isAvatarError(err, 'AWS_FAILED')).toBe(true);
    expect((err as Error).message).toMatch(/If-Match: "v1".*AccessDenied/);
  });
});

describe('EcsLauncher (mocked ECS)', () => {
  const ecs = mockClient(ECSClient);
  const base: Omit<EcsLauncherOptions, 'client'> = {
    cluster: 'numa',
    taskDefinition: 'numa-avatar-runner:3',
    containerName: 'runner',
    family: 'numa-avatar-runner',
    subnets: ['subnet-1', 'subnet-2'],
    securityGroups: ['sg-1'],
    assignPublicIp: false,
    capacityProvider: 'FARGATE_SPOT',
    environment: { BUCKET: 'bkt', NUMA_RUN_ID: 'must-not-win' },
  };
  const client = new ECSClient({ region: 'us-east-1', credentials: creds });
  const req = {
    message: { task_id: 42, message_id: 7, topic_id: 1, attempt: 2 },
    messageKey: 'topic-1-msg-7',
    runId: 'run-abc',
  };

  beforeEach(() => ecs.reset());

  it('RunTask with the strategy, awsvpc, env overrides, startedBy and clientToken', async () => {
    ecs
      .on(RunTaskCommand)
      .resolves({ tasks: [{ taskArn: 'arn:aws:ecs:us-east-1:1:task/numa/abc' }], failures: [] });
    const launcher = new EcsLauncher({ client, ...base });
    const out = await launcher.launchTask(req);
    expect(out.taskArn).toBe('arn:aws:ecs:us-east-1:1:task/numa/abc');
    const input = ecs.commandCalls(RunTaskCommand)[0]!.args[0].input;
    expect(input).toMatchObject({
      cluster: 'numa',
      taskDefinition: 'numa-avatar-runner:3',
      count: 1,
      capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }],
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: ['subnet-1', 'subnet-2'],
          securityGroups: ['sg-1'],
          assignPublicIp: 'DISABLED',
        },
      },
      startedBy: 'numa-task-42',
      clientToken: clientTokenFor('topic-1-msg-7', 2),
    });
    expect(input.launchType).toBeUndefined();
    const env = Object.fromEntries(
      input.overrides!.containerOverrides![0]!.environment!.map((e) => [e.name, e.value]),
    );
    expect(input.overrides!.containerOverrides![0]!.name).toBe('runner');
    expect(env).toEqual({
      BUCKET: 'bkt',
      NUMA_TASK_ID: '42',
      NUMA_RUN_ID: 'run-abc',
      NUMA_MESSAGE: JSON.stringify(req.message),
    });
    await launcher.launch(req); // the port's form resolves to nothing
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(2);
  });

  it('launch-type placement sends launchType FARGATE instead of a strategy (FARGATE only)', async () => {
    ecs.on(RunTaskCommand).resolves({ tasks: [{ taskArn: 'arn:t' }] });
    const launcher = new EcsLauncher({
      client,
      ...base,
      capacityProvider: 'FARGATE',
      placement: 'launch-type',
      assignPublicIp: true,
    });
    await launcher.launchTask(req);
    const input = ecs.commandCalls(RunTaskCommand)[0]!.args[0].input;
    expect(input.launchType).toBe('FARGATE');
    expect(input.capacityProviderStrategy).toBeUndefined();
    expect(input.networkConfiguration!.awsvpcConfiguration!.assignPublicIp).toBe('ENABLED');
    expect(() => new EcsLauncher({ client, ...base, placement: 'launch-type' })).toThrow(/FARGATE only/);
    expect(() => new EcsLauncher({ client, ...base, subnets: [] })).toThrow(/subnet/);
  });

  it('maps failures[]: capacity reasons → LAUNCH_CAPACITY (retryable), others → LAUNCH_FAILED', async () => {
    const launcher = new EcsLauncher({ client, ...base });
    const cases: Array<[string, string]> = [
      [
        'Capacity is unavailable at this time. Please try again later or in a different availability zone',
        'LAUNCH_CAPACITY',
      ],
      ['RESOURCE:MEMORY', 'LAUNCH_CAPACITY'],
      ['RESOURCE:ENI', 'LAUNCH_CAPACITY'],
      ['MISSING', 'LAUNCH_FAILED'],
      ['ATTRIBUTE', 'LAUNCH_FAILED'],
    ];
    for (const [reason, code] of cases) {
      ecs.reset();
      ecs.on(RunTaskCommand).resolves({ tasks: [], failures: [{ arn: 'arn:x', reason, detail: 'd' }] });
      const err = await caught(launcher.launchTask(req));
      expect(isAvatarError(err), reason).toBe(true);
      expect((err as AvatarError).code, reason).toBe(code);
      expect((err as Error).message).toContain(reason);
      expect(isRetryableLaunchError(err)).toBe(code === 'LAUNCH_CAPACITY');
    }
    ecs.reset();
    ecs.on(RunTaskCommand).resolves({ tasks: [], failures: [] });
    expect(((await caught(launcher.launchTask(req))) as AvatarError).code).toBe('LAUNCH_FAILED');
  });

  it('maps thrown errors: throttling, server and limit errors are retryable; the rest are not', async () => {
    const launcher = new EcsLauncher({ client, ...base });
    const throttle = new ECSServiceException({
      name: 'ThrottlingException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
      message: 'Rate exceeded',
    });
    const server = new ServerException({ $metadata: { httpStatusCode: 500 }, message: 'boom' });
    const limit = new ClientException({
      $metadata: { httpStatusCode: 400 },
      message: "You've reached the limit on the number of tasks you can run concurrently",
    });
    const badDef = new ClientException({
      $metadata: { httpStatusCode: 400 },
      message: 'TaskDefinition is inactive',
    });
    const denied = new ECSServiceException({
      name: 'AccessDeniedException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
      message: 'not authorized',
    });
    const cases: Array<[Error, boolean]> = [
      [throttle, true],
      [server, true],
      [limit, true],
      [badDef, false],
      [denied, false],
    ];
    for (const [error, retryable] of cases) {
      ecs.reset();
      ecs.on(RunTaskCommand).rejects(error);
      const err = await caught(launcher.launchTask(req));
      expect(isRetryableLaunchError(err), error.name).toBe(retryable);
      expect((err as AvatarError).code).toBe(retryable ? 'LAUNCH_CAPACITY' : 'LAUNCH_FAILED');
      expect((err as Error).message).toMatch(/ECS RunTask for task 42 \(run run-abc, attempt 2\) failed/);
    }
    expect(isRetryableLaunchError(new Error('x'))).toBe(false);
  });

  it('startedBy: "numa-task-<id>", sanitised and hashed to at most 36 characters when needed', () => {
    expect(startedByFor(42)).toBe('numa-task-42');
    expect(startedByFor('abc_DEF-9')).toBe('numa-task-abc_DEF-9');
    const odd = ['a.b', 'a:b', 'x'.repeat(128), 'ok-h0123abcd', `${'7'.repeat(26)}`, `${'7'.repeat(27)}`];
    const values = odd.map(startedByFor);
    for (const v of values) {
      expect(v.length).toBeLessThanOrEqual(36);
      expect(v).toMatch(/^numa-task-[A-Za-z0-9_-]+$/);
    }
    expect(values[4]).toBe(`numa-task-${'7'.repeat(26)}`);
    expect(values[5]).toMatch(/-h[0-9a-f]{8}$/);
    expect(startedByFor('a.b')).not.toBe(startedByFor('a:b'));
    expect(startedByFor('a.b')).not.toBe(startedByFor('a_b'));
  });

  it('clientToken: 64 hex characters, one per message key and attempt', () => {
    const t = clientTokenFor('topic-1-msg-7', 1);
    expect(t).toMatch(/^[0-9a-f]{64}$/);
    expect(clientTokenFor('topic-1-msg-7', 1)).toBe(t);
    expect(clientTokenFor('topic-1-msg-7', 2)).not.toBe(t);
    expect(clientTokenFor('topic-1-msg-71', 1)).not.toBe(clientTokenFor('topic-1-msg-7', 11));
    expect(clientTokenFor('x'.repeat(5000), 1)).toHaveLength(64);
  });

  it('running() counts every page of RUNNING tasks in the family', async () => {
    ecs
      .on(ListTasksCommand)
      .resolvesOnce({ taskArns: ['a', 'b'], nextToken: 'n1' })
      .resolvesOnce({ taskArns: ['c'] });
    const launcher = new EcsLauncher({ client, ...base });
    expect(await launcher.running()).toBe(3);
    const inputs = ecs.commandCalls(ListTasksCommand).map((c) => c.args[0].input);
    expect(inputs[0]).toMatchObject({
      cluster: 'numa',
      family: 'numa-avatar-runner',
      desiredStatus: 'RUNNING',
    });
    expect(inputs[1]!.nextToken).toBe('n1');
  });

  it('isRunning() lists by startedBy alone and ignores tasks already STOPPED', async () => {
    const launcher = new EcsLauncher({ client, ...base });
    ecs.on(ListTasksCommand).resolves({ taskArns: [] });
    expect(await launcher.isRunning('42')).toBe(false);
    expect(ecs.commandCalls(ListTasksCommand)[0]!.args[0].input).toEqual({
      cluster: 'numa',
      startedBy: 'numa-task-42',
      maxResults: 100,
      nextToken: undefined,
    });
    expect(ecs.commandCalls(DescribeTasksCommand)).toHaveLength(0);

    ecs.reset();
    ecs.on(ListTasksCommand).resolves({ taskArns: ['t1', 't2'] });
    ecs
      .on(DescribeTasksCommand)
      .resolvesOnce({
        tasks: [
          { taskArn: 't1', lastStatus: 'STOPPED' },
          { taskArn: 't2', lastStatus: 'STOPPED' },
        ],
      })
      .resolvesOnce({
        tasks: [
          { taskArn: 't1', lastStatus: 'STOPPED' },
          { taskArn: 't2', lastStatus: 'PROVISIONING' },
        ],
      });
    expect(await launcher.isRunning('42')).toBe(false);
    expect(await launcher.isRunning('42')).toBe(true);

    ecs.reset();
    ecs.on(ListTasksCommand).rejects(new Error('network down'));
    const err = await caught(launcher.isRunning('42'));
    expect(isAvatarError(err, 'AWS_FAILED')).toBe(true);
  });
});
