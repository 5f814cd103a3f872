/**
 * Sends a dispatcher message (the core task message plus `deferrals` / `dispatch_key`) to the task
 * queue, optionally delayed. SqsTaskQueue.sendDelayed validates against the core schema, which
 * drops those two fields, so the dispatcher and the stopped-task handler send their copies here.
 */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { AvatarError } from '../../core/errors.ts';
import { describeIssues } from '../../core/message.ts';
import { awsFailed } from '../../adapters/aws/aws-errors.ts';
import { queueNameOf, SQS_MAX_DELAY_SECONDS } from '../../adapters/aws/sqs-queue.ts';
import { dispatchMessageSchema, type DispatchMessage } from './message.ts';

export interface SendDispatchMessage {
  (body: DispatchMessage, delaySeconds: number, dedupKey?: string): Promise<void>;
}

export function sqsDispatchSender(client: SQSClient, queueUrl: string): SendDispatchMessage {
  return async (body, delaySeconds, dedupKey) => {
    const parsed = dispatchMessageSchema.safeParse(body);
    if (!parsed.success) {
      throw new AvatarError('MESSAGE_MALFORMED', `invalid task message: ${describeIssues(parsed.error)}`);
    }
    const delay = Number.isFinite(delaySeconds)
      ? Math.min(SQS_MAX_DELAY_SECONDS, Math.max(0, Math.round(delaySeconds)))
      : 0;
    try {
      await client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: JSON.stringify(parsed.data),
          DelaySeconds: delay,
          ...(dedupKey
            ? { MessageAttributes: { dedup_key: { DataType: 'String', StringValue: dedupKey } } }
            : {}),
        }),
      );
    } catch (err) {
      throw awsFailed(`SQS SendMessage on ${queueNameOf(queueUrl)}`, err);
    }
  };
}
