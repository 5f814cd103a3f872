/**
 * The task queue and its dead-letter queue. SSE with SQS-managed keys (no KMS cost), TLS only.
 * A message the dispatcher fails 5 times lands in the DLQ and stays 14 days for a person.
 */
import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface QueuesProps {
  /** The dispatcher Lambda's timeout: the queue's visibility timeout is 6× it (AWS's advice). */
  dispatcherTimeout: Duration;
}

export const MAX_RECEIVE_COUNT = 5;

export class Queues extends Construct {
  readonly queue: sqs.Queue;
  readonly dlq: sqs.Queue;

  constructor(scope: Construct, id: string, props: QueuesProps) {
    super(scope, id);
    this.dlq = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'TaskQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(props.dispatcherTimeout.toSeconds() * 6),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.dlq, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
  }
}
