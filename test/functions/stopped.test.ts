import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunResult } from '../../container/runner/outcome.ts';
import { startNumaBackend, type NumaBackend } from '../../servers/numa-backend/index.ts';
import { createStoppedHandler, type EcsTaskStateChangeEvent } from '../../functions/dispatcher/stopped.ts';
import { stoppedClaimKey, type StoppedOutcome } from '../../functions/dispatcher/settle.ts';
import {
  ACCOUNT,
  awsError,
  BUCKET,
  captureStdout,
  CLUSTER_ARN,
  fakeS3,
  fakeSecrets,
  fakeSqs,
  lambdaContext,
  MOCK_AWS,
  QUEUE_URL,
  REGION,
  SECRET_ARN,
  TASK_DEF_ARN,
  type Captured,
  type FakeS3,
  type FakeSqs,
} from './harness.ts';

const TOKEN = 'numa_stopped_token_8a2b4c6d1e';
const RUN_ID = '20261122T020000-1a2b3c4d';

let backend: NumaBackend;
let s3: FakeS3;
let sqs: FakeSqs;
let out: Captured;
let appId: number;
let arnSeq = 0;

beforeEach(async () => {
  backend = await startNumaBackend({ port: 0, apiToken: TOKEN });
  appId = backend.store.createApplication({ name: 'app', git_repo_url: 'https://git.example/app.git' }).id;
  s3 = fakeS3();
  sqs = fakeSqs();
  fakeSecrets({ [SECRET_ARN]: TOKEN });
  out = captureStdout();
});

afterEach(async () => {
  out.restore();
  await backend.close();
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    QUEUE_URL,
    BUCKET,
    NUMA_BACKEND_URL: backend.url,
    NUMA_API_TOKEN_SECRET_ARN: SECRET_ARN,
    RUNNER_FAMILY: 'numa-avatar-runner',
    MAX_ATTEMPTS: '2',
    ...extra,
  };
}

function handlerFor(extra: Record<string, string> = {}) {
  return createStoppedHandler({ env: env(extra), aws: MOCK_AWS, numaClient: { maxAttempts: 1 } });
}

interface Stop {
  stopCode?: string;
  stoppedReason?: string;
  exitCode?: number | null;
  reason?: string;
}

function newTask(): number {
  return backend.store.createTask({ title: 't', application_id: appId, status: 'in_progress' }).id;
}

function stoppedEvent(
  taskId: number,
  stop: Stop,
  o: { message?: object; family?: string; lastStatus?: string; taskArn?: string } = {},
): EcsTaskStateChangeEvent {
  const taskArn =
    o.taskArn ??
    `arn:aws:ecs:${REGION}:${ACCOUNT}:task/numa-avatar/${(++arnSeq).toString(16).padStart(32, 'f')}`;
  const message = o.message ?? { task_id: taskId, message_id: 7, topic_id: 1, attempt: 1 };
  const family = o.family ?? 'numa-avatar-runner';
  return {
    version: '0',
    id: `evt-${arnSeq}`,
    'detail-type': 'ECS Task State Change',
    source: 'aws.ecs',
    account: ACCOUNT,
    time: new Date().toISOString(),
    region: REGION,
    resources: [taskArn],
    detail: {
      taskArn,
      clusterArn: CLUSTER_ARN,
      taskDefinitionArn: TASK_DEF_ARN.replace('numa-avatar-runner', family),
      group: `family:${family}`,
      startedBy: `numa-task-${taskId}`,
      lastStatus: o.lastStatus ?? 'STOPPED',
      desiredStatus: 'STOPPED',
      stopCode: stop.stopCode,
      stoppedReason: stop.stoppedReason,
      containers: [
        {
          name: 'runner',
          lastStatus: 'STOPPED',
          ...(stop.exitCode !== undefined ? { exitCode: stop.exitCode } : {}),
          ...(stop.reason ? { reason: stop.reason } : {}),
        },
      ],
      overrides: {
        containerOverrides: [
          {
            name: 'runner',
            environment: [
              { name: 'NUMA_TASK_ID', value: String(taskId) },
              { name: 'NUMA_RUN_ID', value: RUN_ID },
              { name: 'NUMA_MESSAGE', value: JSON.stringify(message) },
            ],
          },
        ],
      },
    },
  };
}

async function invoke(
  handler: ReturnType<typeof handlerFor>,
  event: EcsTaskStateChangeEvent,
): Promise<StoppedOutcome> {
  return (await handler(event, lambdaContext(30_000))) as StoppedOutcome;
}

function statuses(taskId: number): string[] {
  return backend.store.statusHistoryOf(taskId).map((s) => s.status);
}

function logs(taskId: number): string {
  return backend.store
    .logsOf(taskId)
    .map((l) => l.logs)
    .join('\n');
}

function putResult(taskId: number, r: Partial<RunResult>): void {
  s3.putJson(`runs/${taskId}/${RUN_ID}/result.json`, {
    status: 'done',
    taskId: String(taskId),
    runId: RUN_ID,
    startedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs: 1000,
    reported: true,
    ...r,
  } satisfies RunResult);
}

const ESSENTIAL = 'Essential container in task exited';
const STOP_KINDS: Array<[string, Stop, RegExp]> = [
  [
    'out of memory',
    {
      stopCode: 'EssentialContainerExited',
      stoppedReason: ESSENTIAL,
      exitCode: 137,
      reason: 'OutOfMemoryError: Container killed due to memory usage',
    },
    /ran out of memory \(OutOfMemoryError\)/,
  ],
  [
    'Spot interruption',
    { stopCode: 'SpotInterruption', stoppedReason: 'Your Spot Task was interrupted.', exitCode: 143 },
    /Fargate Spot reclaimed the capacity \(SpotInterruption\)/,
  ],
  [
    'timeout or user stop',
    { stopCode: 'UserInitiated', stoppedReason: 'Task stopped by user', exitCode: 143 },
    /the task was stopped \(StopTask by a person or a timeout: UserInitiated\)/,
  ],
  [
    'failed to start',
    {
      stopCode: 'TaskFailedToStart',
      stoppedReason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s): not found',
    },
    /the runner failed to start \(CannotPullContainerError\)/,
  ],
  [
    'non-zero exit',
    { stopCode: 'EssentialContainerExited', stoppedReason: ESSENTIAL, exitCode: 1 },
    /the runner exited with code 1$/m,
  ],
];

describe('stopped-task handler', () => {
  it.each(STOP_KINDS)(
    'a runner that died (%s) is reported failed with the stop named, and re-queued',
    async (_n, stop, words) => {
      const id = newTask();
      const event = stoppedEvent(id, stop);
      const outcome = await invoke(handlerFor(), event);

      expect(outcome).toMatchObject({ kind: 'crashed', requeued: true, attempt: 1 });
      expect(statuses(id)).toEqual(['in_progress', 'failed']);
      const text = logs(id);
      expect(text).toMatch(words);
      expect(text).toContain(
        `runner ${RUN_ID} (Fargate task ${event.detail && (event.detail as { taskArn: string }).taskArn}) stopped without reporting a final status`,
      );
      expect(text).toContain(`stopCode=${stop.stopCode}`);
      expect(text).toContain('re-queued as attempt 2 of 2');
      const [requeued] = sqs.to(QUEUE_URL);
      expect(requeued!.json).toEqual({
        task_id: id,
        message_id: 7,
        topic_id: 1,
        attempt: 2,
        dispatch_key: 'topic-1-msg-7',
      });
      expect(requeued!.attributes.dedup_key).toBe('topic-1-msg-7-a2');
      const m = out.metrics();
      expect(m.totals.RunnerCrashes).toBe(1);
      expect(m.totals.Requeued).toBe(1);
    },
  );

  it('names the container exit code and reason in the log', async () => {
    const id = newTask();
    await invoke(handlerFor(), stoppedEvent(id, STOP_KINDS[0]![1]));
    expect(logs(id)).toContain(
      'container runner exit code 137 (OutOfMemoryError: Container killed due to memory usage)',
    );
  });

  it('reports failed without re-queuing once the attempts are used up', async () => {
    const id = newTask();
    const outcome = await invoke(
      handlerFor(),
      stoppedEvent(id, STOP_KINDS[4]![1], {
        message: { task_id: id, message_id: 7, topic_id: 1, attempt: 2 },
      }),
    );
    expect(outcome).toMatchObject({ kind: 'crashed', requeued: false, attempt: 2 });
    expect(statuses(id)).toEqual(['in_progress', 'failed']);
    expect(logs(id)).toContain('no attempts left (attempt 2 of 2)');
    expect(sqs.sent).toHaveLength(0);
    const m = out.metrics();
    expect(m.totals.RunnerCrashes).toBe(1);
    expect(m.totals.Requeued).toBeUndefined();
  });

  it('does nothing when the runner reported its final status itself', async () => {
    const id = newTask();
    putResult(id, { status: 'done', reported: true });
    const outcome = await invoke(
      handlerFor(),
      stoppedEvent(id, { stopCode: 'EssentialContainerExited', exitCode: 0 }),
    );
    expect(outcome).toEqual({ kind: 'already-reported', status: 'done', requeued: false });
    expect(statuses(id)).toEqual(['in_progress']);
    expect(logs(id)).toBe('');
    expect(sqs.sent).toHaveLength(0);
  });

  it('reports the status the runner wrote but could not report', async () => {
    const id = newTask();
    putResult(id, { status: 'blocked', reported: false, reason: 'which database should the login use?' });
    const outcome = await invoke(
      handlerFor({ STATUS_BLOCKED: 'needs_info' }),
      stoppedEvent(id, { stopCode: 'EssentialContainerExited', exitCode: 3 }),
    );
    expect(outcome).toEqual({ kind: 'reported', status: 'needs_info' });
    expect(statuses(id)).toEqual(['in_progress', 'needs_info']);
    expect(logs(id)).toContain('finished (blocked) but could not report it');
    expect(logs(id)).toContain('which database should the login use?');
    expect(sqs.sent).toHaveLength(0);
    expect(out.metrics().totals.RunnerCrashes).toBeUndefined();
  });

  it('re-queues a task whose runner reported failed because Fargate Spot reclaimed it', async () => {
    const id = newTask();
    putResult(id, { status: 'failed', reported: true, errorCode: 'RUN_ABORTED' });
    const outcome = await invoke(handlerFor(), stoppedEvent(id, STOP_KINDS[1]![1]));
    expect(outcome).toEqual({ kind: 'already-reported', status: 'failed', requeued: true });
    expect(statuses(id)).toEqual(['in_progress']);
    expect(sqs.to(QUEUE_URL)[0]!.json.attempt).toBe(2);
    expect(logs(id)).toContain('re-queued as attempt 2 of 2');
  });

  it('handles a duplicate event once', async () => {
    const id = newTask();
    const event = stoppedEvent(id, STOP_KINDS[0]![1]);
    const handler = handlerFor();
    await invoke(handler, event);
    const second = await invoke(handler, event);
    // A second Lambda container (no shared memory) sees the same claim.
    const third = await invoke(handlerFor(), event);
    expect(second).toEqual({ kind: 'duplicate' });
    expect(third).toEqual({ kind: 'duplicate' });
    expect(statuses(id)).toEqual(['in_progress', 'failed']);
    expect(sqs.sent).toHaveLength(1);
    expect(
      s3.json<{ state: string }>(stoppedClaimKey((event.detail as { taskArn: string }).taskArn))?.state,
    ).toBe('done');
  });

  it('fails the invocation when the backend is away, and the retry reports and re-queues once', async () => {
    const id = newTask();
    const event = stoppedEvent(id, STOP_KINDS[4]![1]);
    backend.setFaults({ errorRate: 1 });
    const handler = handlerFor();
    await expect(invoke(handler, event)).rejects.toThrow(
      /PUT \/api\/tasks\/\d+\/status: backend error \(HTTP 5/,
    );
    expect(sqs.sent).toHaveLength(0);
    expect(
      s3.json<{ state: string }>(stoppedClaimKey((event.detail as { taskArn: string }).taskArn))?.state,
    ).toBe('retry');

    backend.setFaults({});
    expect((await invoke(handler, event)).kind).toBe('crashed');
    expect(statuses(id)).toEqual(['in_progress', 'failed']);
    expect(sqs.sent).toHaveLength(1);
  });

  it('does not report twice when only the re-queue failed', async () => {
    const id = newTask();
    const event = stoppedEvent(id, STOP_KINDS[0]![1]);
    sqs.failWith = awsError('InternalError', 500);
    const handler = handlerFor();
    await expect(invoke(handler, event)).rejects.toThrow(/SQS SendMessage/);
    sqs.failWith = undefined;
    await invoke(handler, event);
    expect(statuses(id)).toEqual(['in_progress', 'failed']);
    expect(sqs.sent).toHaveLength(1);
  });

  it('keys the re-queue of a hand-sent re-run on the stopped ECS task', async () => {
    const id = newTask();
    const event = stoppedEvent(id, STOP_KINDS[2]![1], { message: { task_id: id, reason: 'retry please' } });
    await invoke(handlerFor(), event);
    const arnId = (event.detail as { taskArn: string }).taskArn.split('/').pop();
    expect(sqs.to(QUEUE_URL)[0]!.json).toEqual({
      task_id: id,
      reason: 'retry please',
      attempt: 2,
      dispatch_key: `manual-stopped-${arnId}`,
    });
  });

  it('uses the configured name of the failed status', async () => {
    const id = newTask();
    await invoke(handlerFor({ STATUS_FAILED: 'error' }), stoppedEvent(id, STOP_KINDS[0]![1]));
    expect(statuses(id)).toEqual(['in_progress', 'error']);
  });

  it('ignores other task families and tasks that have not stopped', async () => {
    const id = newTask();
    const handler = handlerFor();
    expect(
      await invoke(handler, stoppedEvent(id, STOP_KINDS[0]![1], { family: 'someone-else' })),
    ).toMatchObject({
      kind: 'ignored',
    });
    expect(await invoke(handler, stoppedEvent(id, {}, { lastStatus: 'RUNNING' }))).toMatchObject({
      kind: 'ignored',
    });
    expect(statuses(id)).toEqual(['in_progress']);
    expect(sqs.sent).toHaveLength(0);
  });
});
