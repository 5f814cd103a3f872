/**
 * `numa-avatar rerun` as a person runs it (the CLI in a child process) against moto's server mode:
 * the queue URL read from a CloudFormation stack's QueueUrl output, the message on the queue.
 * AWS_ENDPOINT_URL points the CLI at moto; the credentials are moto's fake ones.
 */
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithMoto, motoClientConfig, MOTO_REGION, startMoto, type Moto } from '../helpers/moto.ts';
import { cli } from './helpers.ts';

const TEMPLATE = JSON.stringify({
  Resources: { Queue: { Type: 'AWS::SQS::Queue', Properties: { QueueName: 'numa-rerun-test' } } },
  Outputs: { QueueUrl: { Value: { Ref: 'Queue' } } },
});

describeWithMoto('numa-avatar rerun against moto', () => {
  let moto: Moto;
  let dir: string;

  beforeAll(async () => {
    moto = await startMoto();
    dir = await mkdtemp(path.join(os.tmpdir(), 'numa-rerun-moto-'));
    await new CloudFormationClient(motoClientConfig(moto)).send(
      new CreateStackCommand({ StackName: 'NumaAvatarRerunTest', TemplateBody: TEMPLATE }),
    );
  });

  afterAll(async () => {
    await moto?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const awsEnv = () => ({
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_REGION: MOTO_REGION,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_CONFIG_FILE: path.join(dir, 'none'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'none'),
  });

  it('finds the queue through the stack output and sends the re-run message', async () => {
    const r = await cli(['rerun', '321', '--reason', 'try again', '--stack', 'NumaAvatarRerunTest'], {
      cwd: dir,
      env: awsEnv(),
      timeoutMs: 30_000,
    });
    expect(r.stderr).toContain('re-run of task 321 queued on');
    expect(r.code).toBe(0);
    const messageId = r.stdout.trim();
    expect(messageId).toMatch(/^[0-9a-f-]{36}$/);

    const sqs = new SQSClient(motoClientConfig(moto));
    const queueUrl = /queued on (\S+)/.exec(r.stderr)![1]!;
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
    expect(got.Messages?.map((m) => [m.MessageId, JSON.parse(m.Body!)])).toEqual([
      [messageId, { task_id: 321, reason: 'try again' }],
    ]);
  });

  it('exits 69 when the stack does not exist', async () => {
    const r = await cli(['rerun', '1', '--stack', 'NoSuchStack'], {
      cwd: dir,
      env: awsEnv(),
      timeoutMs: 30_000,
    });
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/DescribeStacks NoSuchStack/);
  });
});
