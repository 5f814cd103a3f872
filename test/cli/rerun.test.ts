/**
 * `numa-avatar rerun`: the message it sends, where it finds the queue (--queue-url, or the stack's
 * QueueUrl output), and its exit codes, with the SQS and CloudFormation clients mocked
 * (aws-sdk-client-mock, through `main` as the command line runs it).
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { rerunCommand, rerunMessage, regionOfQueueUrl } from '../../cli/commands/rerun.ts';
import { main } from '../../cli/main.ts';

const sqs = mockClient(SQSClient);
const cfn = mockClient(CloudFormationClient);
const QUEUE = 'https://sqs.eu-west-1.amazonaws.com/123456789012/NumaAvatar-Queue';

/** Runs `numa-avatar ...args` in-process; stdout and stderr captured. */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
    stdout += String(c);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => {
    stderr += String(c);
    return true;
  });
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

function sentBodies(): unknown[] {
  return sqs.commandCalls(SendMessageCommand).map((c) => JSON.parse(c.args[0].input.MessageBody!));
}

describe('numa-avatar rerun', () => {
  const saved = { ...process.env };
  beforeEach(() => {
    sqs.reset();
    cfn.reset();
    sqs.on(SendMessageCommand).resolves({ MessageId: 'msg-0001' });
    // Never real credentials or endpoints from the developer's shell; fake ones for signing.
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
    process.env.AWS_ACCESS_KEY_ID = 'testing';
    process.env.AWS_SECRET_ACCESS_KEY = 'testing';
    process.env.AWS_REGION = 'us-east-1';
  });
  afterEach(() => {
    process.env = { ...saved };
  });

  it('sends {"task_id": <number>, "reason": ...} to --queue-url and prints the message id', async () => {
    const r = await run(['rerun', '123', '--reason', 'flaky test', '--queue-url', QUEUE]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('msg-0001\n');
    expect(r.stderr).toContain(`re-run of task 123 queued on ${QUEUE}`);
    expect(sentBodies()).toEqual([{ task_id: 123, reason: 'flaky test' }]);
    const call = sqs.commandCalls(SendMessageCommand)[0]!;
    expect(call.args[0].input.QueueUrl).toBe(QUEUE);
    expect(call.args[0].input.MessageGroupId).toBeUndefined();
    expect(cfn.calls()).toHaveLength(0);
  });

  it('reads the queue URL from the NumaAvatar stack outputs when --queue-url is not given', async () => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'NumaAvatar',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [
            { OutputKey: 'DlqUrl', OutputValue: `${QUEUE}-dlq` },
            { OutputKey: 'QueueUrl', OutputValue: QUEUE },
          ],
        },
      ],
    });
    const r = await run(['rerun', 'T-42']);
    expect(r.code).toBe(0);
    expect(cfn.commandCalls(DescribeStacksCommand)[0]!.args[0].input).toEqual({ StackName: 'NumaAvatar' });
    expect(sqs.commandCalls(SendMessageCommand)[0]!.args[0].input.QueueUrl).toBe(QUEUE);
    expect(sentBodies()).toEqual([{ task_id: 'T-42' }]);
  });

  it('uses --stack and --region', async () => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'Mine',
          CreationTime: new Date(),
          StackStatus: 'UPDATE_COMPLETE',
          Outputs: [{ OutputKey: 'QueueUrl', OutputValue: QUEUE }],
        },
      ],
    });
    const r = await run(['rerun', '7', '--stack', 'Mine', '--region', 'ap-south-1']);
    expect(r.code).toBe(0);
    const call = cfn.commandCalls(DescribeStacksCommand)[0]!;
    expect(call.args[0].input).toEqual({ StackName: 'Mine' });
    expect(await (call.thisValue as CloudFormationClient).config.region()).toBe('ap-south-1');
  });

  it('takes the region from the queue URL when none is set', async () => {
    delete process.env.AWS_REGION;
    const r = await run(['rerun', '9', '--queue-url', QUEUE]);
    expect(r.code).toBe(0);
    const call = sqs.commandCalls(SendMessageCommand)[0]!;
    expect(await (call.thisValue as SQSClient).config.region()).toBe('eu-west-1');
  });

  it('honours AWS_ENDPOINT_URL', async () => {
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:4566';
    const r = await run(['rerun', '9', '--queue-url', QUEUE]);
    expect(r.code).toBe(0);
    const client = sqs.commandCalls(SendMessageCommand)[0]!.thisValue as SQSClient;
    const endpoint = await client.config.endpoint!();
    expect(`${endpoint.protocol}//${endpoint.hostname}:${endpoint.port}`).toBe('http://127.0.0.1:4566');
  });

  it('adds a message group and a fresh deduplication id on a FIFO queue', async () => {
    const fifo = `${QUEUE}.fifo`;
    expect((await run(['rerun', '5', '--queue-url', fifo])).code).toBe(0);
    expect((await run(['rerun', '5', '--queue-url', fifo])).code).toBe(0);
    const inputs = sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
    expect(inputs[0]!.MessageGroupId).toBe('task-5');
    expect(inputs[0]!.MessageDeduplicationId).toMatch(/^rerun-/);
    expect(inputs[0]!.MessageDeduplicationId).not.toBe(inputs[1]!.MessageDeduplicationId);
  });

  it('exits 69 when the stack does not exist', async () => {
    cfn.on(DescribeStacksCommand).rejects(
      Object.assign(new Error('Stack with id NumaAvatar does not exist'), {
        name: 'ValidationError',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const r = await run(['rerun', '1']);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(
      /DescribeStacks NumaAvatar: ValidationError \(HTTP 400\): Stack with id NumaAvatar does not exist/,
    );
    expect(r.stderr).toMatch(/--queue-url/);
    expect(sqs.calls()).toHaveLength(0);
  });

  it('exits 69 when the stack has no QueueUrl output', async () => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        { StackName: 'NumaAvatar', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [] },
      ],
    });
    const r = await run(['rerun', '1']);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/stack NumaAvatar has no QueueUrl output/);
  });

  it('exits 69 when SQS refuses or cannot be reached', async () => {
    sqs.on(SendMessageCommand).rejects(
      Object.assign(new Error('Access to the resource is denied.'), {
        name: 'AccessDenied',
        $metadata: { httpStatusCode: 403 },
      }),
    );
    let r = await run(['rerun', '1', '--queue-url', QUEUE]);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/SQS SendMessage to .*: AccessDenied \(HTTP 403\)/);
    expect(r.stdout).toBe('');
    sqs
      .on(SendMessageCommand)
      .rejects(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }));
    r = await run(['rerun', '1', '--queue-url', QUEUE]);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/ECONNREFUSED/);
  });

  it.each([
    [['rerun', 'a b', '--queue-url', QUEUE], /task_id: may contain only/],
    [['rerun', '1', '--reason', 'x'.repeat(2001), '--queue-url', QUEUE], /reason: /],
    [['rerun', '1', '--queue-url', 'not a url'], /--queue-url: expected/],
    [['rerun'], /missing required argument/],
  ])('exits 64 on a usage error: %j', async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(message);
    expect(sqs.calls()).toHaveLength(0);
  });

  it('exits 78 on a malformed AWS_ENDPOINT_URL', async () => {
    process.env.AWS_ENDPOINT_URL = 'not a url';
    const r = await run(['rerun', '1', '--queue-url', QUEUE]);
    expect(r.code).toBe(78);
  });

  it('rerunCommand can be handed its clients', async () => {
    const out: string[] = [];
    const code = await rerunCommand(
      '77',
      { queueUrl: QUEUE },
      { sqs: new SQSClient({ region: 'us-east-1' }), out: (t) => out.push(t), err: () => {} },
    );
    expect(code).toBe(0);
    expect(out).toEqual(['msg-0001\n']);
  });
});

describe('rerun helpers', () => {
  it('keeps ids as given: digits become a number, anything else stays a string', () => {
    expect(rerunMessage('123')).toEqual({ task_id: 123 });
    expect(rerunMessage(' 8 ', 'why')).toEqual({ task_id: 8, reason: 'why' });
    expect(rerunMessage('007')).toEqual({ task_id: '007' });
    expect(rerunMessage('99999999999999999999')).toEqual({ task_id: '99999999999999999999' });
    expect(rerunMessage('task-1')).toEqual({ task_id: 'task-1' });
  });

  it('reads the region of an SQS URL', () => {
    expect(regionOfQueueUrl(QUEUE)).toBe('eu-west-1');
    expect(regionOfQueueUrl('http://127.0.0.1:5000/123/q')).toBeUndefined();
  });
});
