import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SQSBatchResponse } from 'aws-lambda';
import { isAvatarError } from '../../core/errors.ts';
import type { Clock } from '../../core/ports.ts';
import { clientTokenFor, startedByFor } from '../../adapters/aws/ecs-launcher.ts';
import { startNumaBackend, type NumaBackend } from '../../servers/numa-backend/index.ts';
import { createDispatcherHandler } from '../../functions/dispatcher/handler.ts';
import { dispatchRecordKey, type DispatchRecord } from '../../functions/dispatcher/dispatch.ts';
import {
  awsError,
  BUCKET,
  captureStdout,
  CLUSTER_ARN,
  DLQ_URL,
  fakeEcs,
  fakeS3,
  fakeSecrets,
  fakeSqs,
  lambdaContext,
  MOCK_AWS,
  QUEUE_URL,
  SECRET_ARN,
  sqsEvent,
  TASK_DEF_ARN,
  type Captured,
  type FakeEcs,
  type FakeS3,
  type FakeSqs,
} from './harness.ts';

const TOKEN = 'numa_dispatch_token_3c9f1e7b2d';

let backend: NumaBackend;
let s3: FakeS3;
let sqs: FakeSqs;
let ecs: FakeEcs;
let out: Captured;
let appId: number;
let sleeps: number[];

beforeEach(async () => {
  backend = await startNumaBackend({ port: 0, apiToken: TOKEN });
  appId = backend.store.createApplication({ name: 'app', git_repo_url: 'https://git.example/app.git' }).id;
  s3 = fakeS3();
  sqs = fakeSqs();
  ecs = fakeEcs();
  fakeSecrets({ [SECRET_ARN]: TOKEN });
  out = captureStdout();
  sleeps = [];
});

afterEach(async () => {
  out.restore();
  await backend.close();
});

const clock: Clock = {
  now: () => Date.now(),
  sleep: async (ms) => {
    sleeps.push(ms);
  },
};

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    QUEUE_URL,
    DLQ_URL,
    BUCKET,
    CLUSTER_ARN,
    TASK_DEFINITION_ARN: TASK_DEF_ARN,
    SUBNET_IDS: 'subnet-0a1, subnet-0b2',
    SECURITY_GROUP_IDS: 'sg-0c3',
    ASSIGN_PUBLIC_IP: 'DISABLED',
    CAPACITY_PROVIDER: 'FARGATE_SPOT',
    MAX_RUNNERS: '2',
    MAX_ATTEMPTS: '2',
    NUMA_BACKEND_URL: backend.url,
    NUMA_API_TOKEN_SECRET_ARN: SECRET_ARN,
    RUNNER_FAMILY: 'numa-avatar-runner',
    ...extra,
  };
}

function handlerFor(extra: Record<string, string> = {}) {
  return createDispatcherHandler({ env: env(extra), aws: MOCK_AWS, clock, random: () => 0.5 });
}

async function invoke(
  handler: ReturnType<typeof handlerFor>,
  records: Array<{ body: string | object; messageId?: string }>,
): Promise<string[]> {
  const event = sqsEvent(
    records.map((r) => ({
      body: typeof r.body === 'string' ? r.body : JSON.stringify(r.body),
      ...(r.messageId ? { messageId: r.messageId } : {}),
    })),
  );
  const res = (await handler(event, lambdaContext(60_000))) as SQSBatchResponse;
  return res.batchItemFailures.map((f) => f.itemIdentifier);
}

function newTask(title = 'a task'): number {
  return backend.store.createTask({ title, application_id: appId }).id;
}

function topicMessage(taskId: number, messageId: number, attempt = 1) {
  return { task_id: taskId, message_id: messageId, topic_id: 1, attempt };
}

function record(key: string): DispatchRecord | undefined {
  return s3.json<DispatchRecord>(dispatchRecordKey(key));
}

function logs(taskId: number): string {
  return backend.store
    .logsOf(taskId)
    .map((l) => l.logs)
    .join('\n');
}

describe('dispatcher handler', () => {
  it('starts a Fargate runner with the message as environment overrides, records it, and posts a log line', async () => {
    const id = newTask();
    const failures = await invoke(handlerFor(), [{ body: topicMessage(id, 7) }]);

    expect(failures).toEqual([]);
    expect(ecs.runTaskCalls).toHaveLength(1);
    const input = ecs.runTaskCalls[0]!;
    const rec = record('topic-1-msg-7-a1')!;
    expect(rec).toMatchObject({ state: 'launched', taskId: String(id), attempt: 1 });
    expect(input).toMatchObject({
      cluster: CLUSTER_ARN,
      taskDefinition: TASK_DEF_ARN,
      capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }],
      startedBy: startedByFor(id),
      clientToken: clientTokenFor('topic-1-msg-7-a1', 1),
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: ['subnet-0a1', 'subnet-0b2'],
          securityGroups: ['sg-0c3'],
          assignPublicIp: 'DISABLED',
        },
      },
    });
    const task = ecs.tasks[0]!;
    const runnerEnv = ecs.env(task);
    expect(runnerEnv.NUMA_TASK_ID).toBe(String(id));
    expect(runnerEnv.NUMA_RUN_ID).toBe(rec.runId);
    expect(JSON.parse(runnerEnv.NUMA_MESSAGE!)).toEqual(topicMessage(id, 7));
    expect(rec.taskArn).toBe(task.taskArn);
    expect(logs(id)).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d - dispatched to Fargate task ${task.taskArn}, attempt 1$`,
      ),
    );
    const m = out.metrics();
    expect(m.totals.Dispatches).toBe(1);
    expect(m.values.RunnersRunning).toEqual([1]);
    expect(out.text()).not.toContain(TOKEN);
  });

  it('is idempotent: a redelivered message or a second copy of a topic message starts no second runner', async () => {
    const id = newTask();
    const handler = handlerFor();
    await invoke(handler, [{ body: topicMessage(id, 7), messageId: 'sqs-1' }]);
    const again = await invoke(handler, [{ body: topicMessage(id, 7), messageId: 'sqs-1' }]);
    const copy = await invoke(handler, [{ body: topicMessage(id, 7), messageId: 'sqs-2' }]);
    expect([...again, ...copy]).toEqual([]);
    expect(ecs.runTaskCalls).toHaveLength(1);
    expect(out.metrics().totals.Dispatches).toBe(1);
  });

  it('starts a record left "launching" again with the same clientToken and run id (ECS returns the same task)', async () => {
    const id = newTask();
    const key = 'topic-1-msg-7-a1';
    // A crash after RunTask and before the record said "launched": the task exists already.
    s3.putJson(dispatchRecordKey(key), {
      version: 1,
      key,
      state: 'launching',
      taskId: String(id),
      attempt: 1,
      runId: '20261122T010000-aaaabbbb',
      launchKey: key,
      message: topicMessage(id, 7),
      sqsMessageId: 'sqs-1',
      createdAt: new Date().toISOString(),
    } satisfies DispatchRecord);
    const existing = ecs.addTask({ startedBy: startedByFor(id), clientToken: clientTokenFor(key, 1) });

    const failures = await invoke(handlerFor(), [{ body: topicMessage(id, 7), messageId: 'sqs-1' }]);

    expect(failures).toEqual([]);
    expect(ecs.runTaskCalls).toHaveLength(1);
    expect(ecs.runTaskCalls[0]!.clientToken).toBe(clientTokenFor(key, 1));
    const env0 = ecs.runTaskCalls[0]!.overrides!.containerOverrides![0]!.environment!;
    expect(env0.find((e) => e.name === 'NUMA_RUN_ID')?.value).toBe('20261122T010000-aaaabbbb');
    expect(ecs.tasks).toHaveLength(1);
    expect(record(key)).toMatchObject({ state: 'launched', taskArn: existing.taskArn });
  });

  it('defers over the runner cap with a growing delay, and runs the deferred copy once there is room', async () => {
    const id = newTask();
    const a = ecs.addTask({ startedBy: 'numa-task-other1' });
    ecs.addTask({ startedBy: 'numa-task-other2' });
    const handler = handlerFor();

    expect(await invoke(handler, [{ body: topicMessage(id, 7) }])).toEqual([]);
    expect(ecs.runTaskCalls).toHaveLength(0);
    expect(record('topic-1-msg-7-a1')).toBeUndefined();
    const [deferred] = sqs.to(QUEUE_URL);
    expect(deferred!.json).toMatchObject({
      ...topicMessage(id, 7),
      deferrals: 1,
      dispatch_key: 'topic-1-msg-7',
    });
    expect(deferred!.delaySeconds).toBe(23); // 30 s for the first deferral: half fixed, half jitter (0.5)
    expect(out.metrics().totals.DispatchDeferred).toBe(1);

    // Still full: deferred again, longer.
    await invoke(handler, [{ body: { ...deferred!.json, deferrals: 3 } }]);
    expect(sqs.to(QUEUE_URL)[1]!.json.deferrals).toBe(4);
    expect(sqs.to(QUEUE_URL)[1]!.delaySeconds).toBe(180); // 240 s ceiling

    a.lastStatus = 'STOPPED';
    expect(await invoke(handler, [{ body: deferred!.body }])).toEqual([]);
    expect(ecs.runTaskCalls).toHaveLength(1);
    expect(ecs.runTaskCalls[0]!.clientToken).toBe(clientTokenFor('topic-1-msg-7-a1#d1', 1));
    const env0 = ecs.runTaskCalls[0]!.overrides!.containerOverrides![0]!.environment!;
    // The runner gets the core message only.
    expect(JSON.parse(env0.find((e) => e.name === 'NUMA_MESSAGE')!.value!)).toEqual(topicMessage(id, 7));
    expect(record('topic-1-msg-7-a1')).toMatchObject({ state: 'launched' });
  });

  it('counts the runners it starts within a batch against the cap', async () => {
    ecs.addTask({ startedBy: 'numa-task-other' });
    ecs.listLag = true; // ECS does not list the runner just started yet
    const ids = [newTask('a'), newTask('b'), newTask('c')];
    const failures = await invoke(
      handlerFor(),
      ids.map((id, i) => ({ body: topicMessage(id, 10 + i) })),
    );
    expect(failures).toEqual([]);
    expect(ecs.runTaskCalls).toHaveLength(1);
    expect(sqs.to(QUEUE_URL).map((m) => m.json.task_id)).toEqual([ids[1], ids[2]]);
    const m = out.metrics();
    expect(m.totals.Dispatches).toBe(1);
    expect(m.values.RunnersRunning).toEqual([2]);
    expect(m.totals.DispatchDeferred).toBe(2);
  });

  it('runs one runner per task at a time: a task already running, or twice in one batch, is deferred', async () => {
    const busy = newTask('busy');
    const other = newTask('other');
    ecs.addTask({ startedBy: startedByFor(busy), lastStatus: 'RUNNING' });
    ecs.listLag = true;
    const failures = await invoke(handlerFor({ MAX_RUNNERS: '10' }), [
      { body: topicMessage(busy, 1) },
      { body: topicMessage(other, 2) },
      { body: topicMessage(other, 3) },
    ]);
    expect(failures).toEqual([]);
    expect(ecs.runTaskCalls.map((c) => c.startedBy)).toEqual([startedByFor(other)]);
    expect(sqs.to(QUEUE_URL).map((m) => [m.json.task_id, m.json.message_id])).toEqual([
      [busy, 1],
      [other, 3],
    ]);
  });

  it('retries capacity errors with backoff within the invocation', async () => {
    const id = newTask();
    ecs.script.push('capacity', awsError('ThrottlingException', 400, 'Rate exceeded'));
    const failures = await invoke(handlerFor(), [{ body: topicMessage(id, 7) }]);
    expect(failures).toEqual([]);
    expect(ecs.runTaskCalls).toHaveLength(3);
    expect(new Set(ecs.runTaskCalls.map((c) => c.clientToken)).size).toBe(1);
    expect(sleeps).toHaveLength(2);
    expect(record('topic-1-msg-7-a1')?.state).toBe('launched');
  });

  it('defers after the last capacity error, removing the record, so the message is neither lost nor counted toward the DLQ', async () => {
    const id = newTask();
    ecs.script.push('capacity', 'capacity', 'capacity');
    const failures = await invoke(handlerFor(), [{ body: topicMessage(id, 7) }]);
    expect(failures).toEqual([]);
    expect(ecs.runTaskCalls).toHaveLength(3);
    expect(ecs.tasks).toHaveLength(0);
    expect(record('topic-1-msg-7-a1')).toBeUndefined();
    const [copy] = sqs.to(QUEUE_URL);
    expect(copy!.json).toMatchObject({ task_id: id, deferrals: 1, dispatch_key: 'topic-1-msg-7' });
    expect(copy!.delaySeconds).toBeGreaterThan(0);
    expect(out.metrics().totals.DispatchDeferred).toBe(1);
  });

  it('fails only the record whose launch failed (partial batch failure); its redelivery uses the same token', async () => {
    const bad = newTask('bad');
    const good = newTask('good');
    ecs.script.push(awsError('ClientException', 400, 'TaskDefinition is inactive'));
    const handler = handlerFor();
    const failures = await invoke(handler, [
      { body: topicMessage(bad, 1), messageId: 'm-bad' },
      { body: topicMessage(good, 2), messageId: 'm-good' },
    ]);
    expect(failures).toEqual(['m-bad']);
    expect(record('topic-1-msg-1-a1')).toMatchObject({
      state: 'launching',
      lastError: expect.stringMatching(/LAUNCH_FAILED: .*TaskDefinition is inactive/),
    });
    expect(record('topic-1-msg-2-a1')?.state).toBe('launched');
    expect(out.metrics().totals.DispatchFailed).toBe(1);

    const retry = await invoke(handler, [{ body: topicMessage(bad, 1), messageId: 'm-bad' }]);
    expect(retry).toEqual([]);
    const tokens = ecs.runTaskCalls
      .filter((c) => c.startedBy === startedByFor(bad))
      .map((c) => c.clientToken);
    expect(tokens).toEqual([clientTokenFor('topic-1-msg-1-a1', 1), clientTokenFor('topic-1-msg-1-a1', 1)]);
    expect(record('topic-1-msg-1-a1')?.state).toBe('launched');
    expect(record('topic-1-msg-1-a1')?.lastError).toBeUndefined();
  });

  it('sends malformed messages to the DLQ with the reason, and does not retry them', async () => {
    const failures = await invoke(handlerFor(), [
      { body: 'not json at all', messageId: 'm1' },
      { body: { task_id: -5 }, messageId: 'm2' },
      { body: { message_id: 3, reason: 'no task id' }, messageId: 'm3' },
    ]);
    expect(failures).toEqual([]);
    const dead = sqs.to(DLQ_URL);
    expect(dead.map((d) => d.attributes.reason)).toEqual([
      'message body is not valid JSON',
      expect.stringMatching(/^invalid task message: task_id: /),
      expect.stringMatching(/^invalid task message: task_id: /),
    ]);
    expect(dead[0]!.attributes.source).toBe('dispatcher (SQS message m1)');
    expect(JSON.parse(dead[0]!.body)).toBe('not json at all');
    expect(ecs.runTaskCalls).toHaveLength(0);
    expect(out.metrics().totals.MessagesDeadLettered).toBe(3);
  });

  it('runs every hand-sent re-run, each once', async () => {
    const id = newTask();
    const handler = handlerFor();
    const rerun = { task_id: id, reason: 'flaky test, please retry' };
    await invoke(handler, [{ body: rerun, messageId: 'hand-1' }]);
    ecs.tasks[0]!.lastStatus = 'STOPPED';
    await invoke(handler, [{ body: rerun, messageId: 'hand-1' }]); // redelivery: nothing new
    await invoke(handler, [{ body: rerun, messageId: 'hand-2' }]); // a second re-run: runs
    expect(ecs.runTaskCalls).toHaveLength(2);
    expect(record('manual-hand-1-a1')?.state).toBe('launched');
    expect(record('manual-hand-2-a1')?.state).toBe('launched');
    expect(logs(id)).toContain('re-run requested by hand: flaky test, please retry');
  });

  it('keeps a deferred hand-sent re-run idempotent: the copy and a redelivered original start one runner', async () => {
    const id = newTask();
    const blocker = ecs.addTask({ startedBy: startedByFor(id) });
    const handler = handlerFor();
    await invoke(handler, [{ body: { task_id: id }, messageId: 'hand-1' }]);
    const [copy] = sqs.to(QUEUE_URL);
    expect(copy!.json.dispatch_key).toBe('manual-hand-1');
    blocker.lastStatus = 'STOPPED';
    await invoke(handler, [{ body: copy!.body, messageId: copy!.messageId }]);
    await invoke(handler, [{ body: { task_id: id }, messageId: 'hand-1' }]);
    expect(ecs.runTaskCalls).toHaveLength(1);
    expect(record('manual-hand-1-a1')?.state).toBe('launched');
  });

  it('still dispatches when the log line cannot be posted', async () => {
    const failures = await invoke(handlerFor(), [{ body: topicMessage(424242, 9) }]);
    expect(failures).toEqual([]);
    expect(record('topic-1-msg-9-a1')?.state).toBe('launched');
    expect(out.text()).toMatch(/could not post the dispatch log line/);
  });

  it('fails the whole invocation on a broken configuration, naming the variable', async () => {
    const e = env();
    delete e.MAX_RUNNERS;
    const handler = createDispatcherHandler({ env: e, aws: MOCK_AWS });
    const err = await Promise.resolve(handler(sqsEvent([{ body: '{}' }]), lambdaContext(5000))).catch(
      (x: unknown) => x,
    );
    expect(isAvatarError(err, 'CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/MAX_RUNNERS: missing/);
  });
});
