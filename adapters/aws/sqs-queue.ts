/**
 * The AWS TaskQueue: an SQS standard queue and its dead-letter queue.
 *
 * - send(): SendMessageBatch in chunks of 10; each body is the task message as JSON and carries
 *   its dedup key as the message attribute `dedup_key`. Entries SQS reports in `Failed` are sent
 *   again with backoff; any still unsent after the last attempt (or refused as the sender's fault)
 *   make send() throw AWS_FAILED naming their dedup keys, so the caller (the poller) does not move
 *   its cursor past them. Nothing is dropped silently.
 *   A standard queue does not deduplicate: a message sent twice (a poller that crashed before it
 *   saved its cursor) is delivered twice, and the dispatcher's idempotency record
 *   (`dispatch/<messageKey>-a<attempt>.json`, put-if-absent) runs it once. Within one send() call
 *   a repeated dedup key is sent once.
 * - receive(): ReceiveMessage with ApproximateReceiveCount. Bodies that are not valid task
 *   messages are dead-lettered (reason and source attributes) and deleted, like the local queue
 *   moves unreadable files to dead/, so they neither come back forever nor vanish.
 *   `receiveBatch()` is the same without that step: it returns the invalid entries to the caller,
 *   who decides (`deadLetterInvalid()` does what receive() does).
 * - ack() = DeleteMessage, release() = ChangeMessageVisibility, depth() = waiting messages
 *   (visible + delayed).
 * - deadLetter(): SendMessage to the DLQ. The body is always `JSON.stringify(raw)`, so
 *   `JSON.parse(body)` gives back exactly what was dead-lettered (for a queue message that failed
 *   validation: its body text); attributes `reason` and `source` (trimmed to safe lengths).
 *   A body too large for SQS is replaced by a JSON object holding its head and size, with the
 *   attribute `truncated=true`, so a huge message can never wedge the caller.
 * - sendDelayed(): a fresh message with DelaySeconds (≤ 900), for the dispatcher to bring a
 *   message back later without it counting toward the DLQ's maxReceiveCount.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import type { Message, MessageAttributeValue, SQSClient } from '@aws-sdk/client-sqs';
import { AvatarError } from '../../core/errors.ts';
import { describeIssues, taskMessageSchema } from '../../core/message.ts';
import type { TaskMessage } from '../../core/message.ts';
import type { DeadLetter, OutgoingMessage, ReceivedMessage, TaskQueue } from '../../core/ports.ts';
import { backoffDelay } from '../../core/retry.ts';
import { awsFailed } from './aws-errors.ts';

export interface SqsTaskQueueOptions {
  client: SQSClient;
  queueUrl: string;
  dlqUrl: string;
  /** Backoff between attempts at failed batch entries; default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  /** Long-poll wait of receive() in seconds (0–20); default 0 (answer at once). */
  waitTimeSeconds?: number;
  /** Attempts at each batch entry SQS reports as failed (default 4: the first and 3 more). */
  maxSendAttempts?: number;
  /** For the backoff's jitter; default Math.random. */
  random?: () => number;
}

/** A received message whose body is not a valid task message. */
export interface InvalidReceivedMessage {
  id: string;
  receipt: string;
  receiveCount: number;
  /** The body exactly as it arrived. */
  raw: string;
  /** Why it was refused ("invalid task message: task_id: ..."). */
  reason: string;
}

export interface ReceiveBatch {
  messages: ReceivedMessage[];
  invalid: InvalidReceivedMessage[];
}

/** SQS limits (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html). */
export const SQS_BATCH_SIZE = 10;
export const SQS_MAX_DELAY_SECONDS = 900;
export const SQS_MAX_VISIBILITY_SECONDS = 43_200;
/** Limits of our own, well inside SQS's 256 KiB per message (body and attributes together). */
export const DLQ_REASON_MAX_CHARS = 1000;
export const DLQ_SOURCE_MAX_CHARS = 256;
export const DLQ_BODY_MAX_BYTES = 200 * 1024;
const DLQ_HEAD_CHARS = 30_000;

export class SqsTaskQueue implements TaskQueue {
  readonly queueUrl: string;
  readonly dlqUrl: string;
  private readonly client: SQSClient;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly waitTimeSeconds: number;
  private readonly maxSendAttempts: number;
  private readonly random: () => number;

  constructor(opts: SqsTaskQueueOptions) {
    if (!opts.queueUrl) throw new AvatarError('CONFIG_INVALID', 'SqsTaskQueue: queueUrl is required');
    if (!opts.dlqUrl) throw new AvatarError('CONFIG_INVALID', 'SqsTaskQueue: dlqUrl is required');
    const wait = opts.waitTimeSeconds ?? 0;
    if (!Number.isInteger(wait) || wait < 0 || wait > 20) {
      throw new AvatarError('CONFIG_INVALID', `SqsTaskQueue: waitTimeSeconds must be 0–20, got ${wait}`);
    }
    const attempts = opts.maxSendAttempts ?? 4;
    if (!Number.isInteger(attempts) || attempts < 1) {
      throw new AvatarError('CONFIG_INVALID', `SqsTaskQueue: maxSendAttempts must be >= 1, got ${attempts}`);
    }
    this.client = opts.client;
    this.queueUrl = opts.queueUrl;
    this.dlqUrl = opts.dlqUrl;
    this.sleep = opts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.waitTimeSeconds = wait;
    this.maxSendAttempts = attempts;
    this.random = opts.random ?? Math.random;
  }

  /** The queue's name (the URL's last segment), for messages. */
  get queueName(): string {
    return queueNameOf(this.queueUrl);
  }

  async send(messages: OutgoingMessage[]): Promise<void> {
    // Validate everything before sending anything: a bad message fails the call, not half of it.
    const entries: Array<{ dedupKey: string; body: string }> = [];
    const seen = new Set<string>();
    for (const m of messages) {
      const body = checkBody(m.body);
      if (typeof m.dedupKey !== 'string' || m.dedupKey === '') {
        throw new AvatarError('MESSAGE_MALFORMED', 'dedupKey: must be a non-empty string');
      }
      if (seen.has(m.dedupKey)) continue;
      seen.add(m.dedupKey);
      entries.push({ dedupKey: m.dedupKey, body: JSON.stringify(body) });
    }
    for (let i = 0; i < entries.length; i += SQS_BATCH_SIZE) {
      await this.sendChunk(entries.slice(i, i + SQS_BATCH_SIZE));
    }
  }

  /** Sends up to 10 entries; retries the ones SQS reports failed; throws naming those never sent. */
  private async sendChunk(chunk: Array<{ dedupKey: string; body: string }>): Promise<void> {
    let pending = chunk;
    const refused: string[] = []; // sender's fault: sending again cannot help
    let lastErrors = new Map<string, string>();
    for (let attempt = 0; attempt < this.maxSendAttempts && pending.length > 0; attempt++) {
      if (attempt > 0)
        await this.sleep(backoffDelay(attempt - 1, { baseMs: 200, capMs: 5000, random: this.random }));
      const batch = pending;
      let out;
      try {
        out = await this.client.send(
          new SendMessageBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: batch.map((e, i) => ({
              Id: `m${i}`,
              MessageBody: e.body,
              MessageAttributes: { dedup_key: stringAttribute(e.dedupKey) },
            })),
          }),
        );
      } catch (err) {
        throw awsFailed(
          `SQS SendMessageBatch on ${this.queueName} (${batch.map((e) => e.dedupKey).join(', ')})`,
          err,
        );
      }
      const succeeded = new Set((out.Successful ?? []).map((s) => s.Id));
      const failed = new Map((out.Failed ?? []).map((f) => [f.Id, f]));
      const next: typeof pending = [];
      lastErrors = new Map();
      batch.forEach((e, i) => {
        const id = `m${i}`;
        const failure = failed.get(id);
        if (failure === undefined && succeeded.has(id)) return;
        const why = failure
          ? `${failure.Code ?? 'failed'}${failure.Message ? `: ${failure.Message}` : ''}`
          : 'missing from the response';
        if (failure?.SenderFault) {
          refused.push(`${e.dedupKey} (${why})`);
        } else {
          lastErrors.set(e.dedupKey, why);
          next.push(e);
        }
      });
      pending = next;
    }
    const unsent = [...refused, ...pending.map((e) => `${e.dedupKey} (${lastErrors.get(e.dedupKey)})`)];
    if (unsent.length > 0) {
      throw new AvatarError(
        'AWS_FAILED',
        `SQS SendMessageBatch on ${this.queueName}: ${unsent.length} of ${chunk.length} messages not sent ` +
          `after ${this.maxSendAttempts} attempts: ${unsent.join('; ')}`,
      );
    }
  }

  async receive(max: number): Promise<ReceivedMessage[]> {
    const batch = await this.receiveBatch(max);
    // Dead-letter first: if that fails the call throws and every message of the batch comes back
    // after the visibility timeout (nothing lost).
    for (const inv of batch.invalid) await this.deadLetterInvalid(inv);
    return batch.messages;
  }

  /** Receives up to `max` messages and returns the valid and the invalid ones apart. */
  async receiveBatch(max: number): Promise<ReceiveBatch> {
    const result: ReceiveBatch = { messages: [], invalid: [] };
    const want = Number.isFinite(max) ? Math.floor(max) : 0;
    let first = true;
    while (result.messages.length + result.invalid.length < want) {
      const n = Math.min(SQS_BATCH_SIZE, want - result.messages.length - result.invalid.length);
      let out;
      try {
        out = await this.client.send(
          new ReceiveMessageCommand({
            QueueUrl: this.queueUrl,
            MaxNumberOfMessages: n,
            WaitTimeSeconds: first ? this.waitTimeSeconds : 0,
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
            MessageAttributeNames: ['All'],
          }),
        );
      } catch (err) {
        throw awsFailed(`SQS ReceiveMessage on ${this.queueName}`, err);
      }
      first = false;
      const got = out.Messages ?? [];
      for (const m of got) {
        const r = classify(m);
        if (r.ok) result.messages.push(r.message);
        else result.invalid.push(r.invalid);
      }
      if (got.length < n) break; // the queue had no more for now
    }
    return result;
  }

  /** Dead-letters an invalid message (reason and source attributes), then deletes it from the queue. */
  async deadLetterInvalid(inv: InvalidReceivedMessage): Promise<void> {
    await this.deadLetter({
      raw: inv.raw,
      reason: `${inv.reason} (SQS message ${inv.id}, received ${inv.receiveCount} time${inv.receiveCount === 1 ? '' : 's'})`,
      source: `sqs ${this.queueName}`,
    });
    await this.ack(inv.receipt);
  }

  async ack(receipt: string): Promise<void> {
    checkReceipt(receipt);
    try {
      await this.client.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receipt }));
    } catch (err) {
      throw awsFailed(`SQS DeleteMessage on ${this.queueName}`, err);
    }
  }

  async release(receipt: string, delaySeconds: number): Promise<void> {
    checkReceipt(receipt);
    const timeout = clampSeconds(delaySeconds, SQS_MAX_VISIBILITY_SECONDS);
    try {
      await this.client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.queueUrl,
          ReceiptHandle: receipt,
          VisibilityTimeout: timeout,
        }),
      );
    } catch (err) {
      throw awsFailed(`SQS ChangeMessageVisibility on ${this.queueName}`, err);
    }
  }

  /**
   * Puts a fresh copy of `body` on the queue, receivable after `delaySeconds` (0–900, clamped).
   * Unlike release(), the copy starts with a receive count of 1, so deferring a message (runner
   * cap reached) never pushes it toward the DLQ. Returns the new message's id.
   */
  async sendDelayed(body: TaskMessage, delaySeconds: number, dedupKey?: string): Promise<string> {
    const checked = checkBody(body);
    try {
      const out = await this.client.send(
        new SendMessageCommand({
          QueueUrl: this.queueUrl,
          MessageBody: JSON.stringify(checked),
          DelaySeconds: clampSeconds(delaySeconds, SQS_MAX_DELAY_SECONDS),
          ...(dedupKey ? { MessageAttributes: { dedup_key: stringAttribute(dedupKey) } } : {}),
        }),
      );
      return out.MessageId ?? '';
    } catch (err) {
      throw awsFailed(`SQS SendMessage (delayed) on ${this.queueName}`, err);
    }
  }

  async deadLetter(letter: DeadLetter): Promise<void> {
    const { body, truncated } = deadLetterBody(letter.raw);
    const attributes: Record<string, MessageAttributeValue> = {
      reason: stringAttribute(clip(letter.reason, DLQ_REASON_MAX_CHARS) || '(no reason given)'),
      source: stringAttribute(clip(letter.source, DLQ_SOURCE_MAX_CHARS) || '(unknown)'),
    };
    if (truncated) attributes.truncated = stringAttribute('true');
    try {
      await this.client.send(
        new SendMessageCommand({ QueueUrl: this.dlqUrl, MessageBody: body, MessageAttributes: attributes }),
      );
    } catch (err) {
      throw awsFailed(`SQS SendMessage to the dead-letter queue ${queueNameOf(this.dlqUrl)}`, err);
    }
  }

  /** Messages waiting: visible plus delayed (not those received and not yet deleted). */
  async depth(): Promise<number> {
    try {
      const out = await this.client.send(
        new GetQueueAttributesCommand({
          QueueUrl: this.queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesDelayed'],
        }),
      );
      const a = out.Attributes ?? {};
      return toCount(a.ApproximateNumberOfMessages) + toCount(a.ApproximateNumberOfMessagesDelayed);
    } catch (err) {
      throw awsFailed(`SQS GetQueueAttributes on ${this.queueName}`, err);
    }
  }
}

function classify(
  m: Message,
): { ok: true; message: ReceivedMessage } | { ok: false; invalid: InvalidReceivedMessage } {
  if (!m.MessageId || !m.ReceiptHandle) {
    throw new AvatarError(
      'AWS_FAILED',
      'SQS ReceiveMessage returned a message without MessageId or ReceiptHandle',
    );
  }
  const count = Number(m.Attributes?.ApproximateReceiveCount);
  const receiveCount = Number.isInteger(count) && count >= 1 ? count : 1;
  const raw = m.Body ?? '';
  const base = { id: m.MessageId, receipt: m.ReceiptHandle, receiveCount };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, invalid: { ...base, raw, reason: 'message body is not valid JSON' } };
  }
  const parsed = taskMessageSchema.safeParse(value);
  if (!parsed.success) {
    return {
      ok: false,
      invalid: { ...base, raw, reason: `invalid task message: ${describeIssues(parsed.error)}` },
    };
  }
  return { ok: true, message: { ...base, body: parsed.data } };
}

function checkBody(body: TaskMessage): TaskMessage {
  const parsed = taskMessageSchema.safeParse(body);
  if (!parsed.success) {
    throw new AvatarError('MESSAGE_MALFORMED', `invalid task message: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}

function checkReceipt(receipt: string): void {
  if (typeof receipt !== 'string' || receipt === '') {
    throw new AvatarError('QUEUE_IO', 'not an SQS receipt handle: must be a non-empty string');
  }
}

function stringAttribute(value: string): MessageAttributeValue {
  return { DataType: 'String', StringValue: sqsSafe(value) };
}

function clampSeconds(seconds: number, max: number): number {
  if (!Number.isFinite(seconds) || seconds <= 0) return 0;
  return Math.min(max, Math.round(seconds));
}

function toCount(v: string | undefined): number {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

export function queueNameOf(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1) || url;
}

/**
 * SQS accepts only #x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD | #x10000–#x10FFFF: other
 * control characters, lone surrogates and U+FFFE/U+FFFF become U+FFFD.
 */
export function sqsSafe(text: string): string {
  return text.replace(
    // eslint-disable-next-line no-control-regex -- the control characters SQS refuses, on purpose
    /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
    '\uFFFD',
  );
}

/** Cuts `text` to `max` characters (marking the cut), SQS-safe. */
function clip(text: string, max: number): string {
  const s = typeof text === 'string' ? text : String(text);
  return sqsSafe(s.length > max ? `${s.slice(0, max - 1)}…` : s);
}

/** The DLQ body: JSON of `raw`, or (too large for SQS) JSON of its head and size. */
export function deadLetterBody(raw: unknown): { body: string; truncated: boolean } {
  let text: string | undefined;
  try {
    text = JSON.stringify(raw);
  } catch {
    text = undefined; // circular or BigInt
  }
  text ??= JSON.stringify(String(raw));
  const bytes = Buffer.byteLength(text);
  if (bytes <= DLQ_BODY_MAX_BYTES) return { body: sqsSafe(text), truncated: false };
  return {
    body: sqsSafe(
      JSON.stringify({ truncated: true, json_bytes: bytes, json_head: text.slice(0, DLQ_HEAD_CHARS) }),
    ),
    truncated: true,
  };
}
