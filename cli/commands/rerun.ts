/**
 * `numa-avatar rerun <task_id> [--reason TEXT] [--queue-url URL] [--stack NAME] [--region R]`:
 * asks the AWS deployment to run a task again by sending `{"task_id": 123, "reason": "..."}` to
 * its task queue (what `aws sqs send-message` does by hand). Without --queue-url the queue is the
 * `QueueUrl` output of the CloudFormation stack (default NumaAvatar). AWS_ENDPOINT_URL points
 * both clients at an emulator. Prints the SQS message id.
 *
 * Exit codes: 0 sent, 64 usage (bad task id or reason), 69 SQS or CloudFormation unreachable or
 * refusing (no credentials, no such stack or queue, access denied).
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';
import { awsClientConfig } from '../../adapters/aws/clients.ts';
import { describeAwsError } from '../../adapters/aws/aws-errors.ts';
import { AvatarError, describeError, isAvatarError } from '../../core/errors.ts';
import { describeIssues, taskMessageSchema, type TaskMessage } from '../../core/message.ts';
import { EXIT } from '../exit-codes.ts';

export const DEFAULT_STACK = 'NumaAvatar';
export const QUEUE_URL_OUTPUT = 'QueueUrl';

export interface RerunOptions {
  reason?: string;
  queueUrl?: string;
  stack?: string;
  region?: string;
}

export interface RerunDeps {
  env?: NodeJS.ProcessEnv;
  /** Clients (tests); default: built from awsClientConfig() with the region. */
  sqs?: SQSClient;
  cloudFormation?: CloudFormationClient;
  out?: (text: string) => void;
  err?: (text: string) => void;
}

/** The re-run message: the task id as given (a number when it is all digits), and the reason. */
export function rerunMessage(taskId: string, reason?: string): TaskMessage {
  const id = taskId.trim();
  const value: Record<string, unknown> = {
    task_id: /^(0|[1-9]\d*)$/.test(id) && Number.isSafeInteger(Number(id)) ? Number(id) : id,
  };
  if (reason !== undefined) value.reason = reason;
  const parsed = taskMessageSchema.safeParse(value);
  if (!parsed.success) throw new AvatarError('USAGE', describeIssues(parsed.error));
  return parsed.data;
}

/** The region of an SQS queue URL (https://sqs.<region>.amazonaws.com/...), if it names one. */
export function regionOfQueueUrl(url: string): string | undefined {
  try {
    return /^sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(new URL(url).hostname)?.[1];
  } catch {
    return undefined;
  }
}

export async function rerunCommand(taskId: string, o: RerunOptions, deps: RerunDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const out = deps.out ?? ((t: string) => process.stdout.write(t));
  const err = deps.err ?? ((t: string) => process.stderr.write(t));
  try {
    const message = rerunMessage(taskId, o.reason);
    const stack = o.stack ?? DEFAULT_STACK;
    if (o.queueUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(o.queueUrl)) {
      throw new AvatarError(
        'USAGE',
        `--queue-url: expected the queue's URL (https://sqs...), got ${JSON.stringify(o.queueUrl)}`,
      );
    }
    const region = o.region ?? (o.queueUrl ? regionOfQueueUrl(o.queueUrl) : undefined);
    const config = awsClientConfig({ env, ...(region ? { region } : {}) });
    const queueUrl =
      o.queueUrl ?? (await queueUrlOfStack(deps.cloudFormation ?? new CloudFormationClient(config), stack));
    const sqs = deps.sqs ?? new SQSClient(config);
    const fifo = queueUrl.endsWith('.fifo');
    let messageId: string | undefined;
    try {
      const sent = await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: JSON.stringify(message),
          // A FIFO queue needs a group and a deduplication id; each re-run is a new message.
          ...(fifo
            ? { MessageGroupId: `task-${message.task_id}`, MessageDeduplicationId: `rerun-${randomUUID()}` }
            : {}),
        }),
      );
      messageId = sent.MessageId;
    } catch (e) {
      throw new AvatarError('AWS_FAILED', `SQS SendMessage to ${queueUrl}: ${awsHint(e)}`, { cause: e });
    }
    err(`numa-avatar: re-run of task ${message.task_id} queued on ${queueUrl}\n`);
    out(`${messageId ?? '(no message id returned)'}\n`);
    return EXIT.ok;
  } catch (e) {
    err(`numa-avatar: ${describeError(e)}\n`);
    if (isAvatarError(e, 'USAGE')) return EXIT.usage;
    if (isAvatarError(e, 'AWS_FAILED')) return EXIT.unavailable;
    if (isAvatarError(e, 'CONFIG_INVALID')) return EXIT.config;
    return EXIT.error;
  }
}

/** The stack's QueueUrl output. */
async function queueUrlOfStack(cfn: CloudFormationClient, stack: string): Promise<string> {
  let outputs: Array<{ OutputKey?: string; OutputValue?: string }> | undefined;
  try {
    const res = await cfn.send(new DescribeStacksCommand({ StackName: stack }));
    outputs = res.Stacks?.[0]?.Outputs;
  } catch (e) {
    throw new AvatarError(
      'AWS_FAILED',
      `CloudFormation DescribeStacks ${stack}: ${awsHint(e)} (give the queue with --queue-url, or the stack with --stack)`,
      { cause: e },
    );
  }
  const url = outputs?.find((o) => o.OutputKey === QUEUE_URL_OUTPUT)?.OutputValue;
  if (!url) {
    throw new AvatarError(
      'AWS_FAILED',
      `stack ${stack} has no ${QUEUE_URL_OUTPUT} output: is it the numa-avatar stack? (give the queue with --queue-url)`,
    );
  }
  return url;
}

/** The SDK's error, with what to do about the usual local causes. */
function awsHint(e: unknown): string {
  const text = describeAwsError(e);
  if (/region is missing/i.test(text)) return `${text} (set --region or AWS_REGION)`;
  if (/could not load credentials|CredentialsProviderError/i.test(text)) {
    return `${text} (configure AWS credentials: aws configure, AWS_PROFILE, or the AWS_ACCESS_KEY_ID variables)`;
  }
  return text;
}
