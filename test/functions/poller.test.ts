import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAvatarError } from '../../core/errors.ts';
import type { CursorState } from '../../core/polling/poller.ts';
import { startNumaBackend, TASKS_TOPIC, type NumaBackend } from '../../servers/numa-backend/index.ts';
import { createPollerHandler, CURSOR_KEY, type PollSummary } from '../../functions/poller/handler.ts';
import {
  BUCKET,
  captureStdout,
  DLQ_URL,
  fakeS3,
  fakeSecrets,
  fakeSqs,
  lambdaContext,
  MOCK_AWS,
  QUEUE_URL,
  SECRET_ARN,
  awsError,
  type Captured,
  type FakeS3,
  type FakeSqs,
} from './harness.ts';

const TOKEN = 'numa_poller_token_5e1d9c2b7a';
const SCHEDULED = { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} };

let backend: NumaBackend;
let s3: FakeS3;
let sqs: FakeSqs;
let secrets: { calls: () => number };
let out: Captured;
let appId: number;

beforeEach(async () => {
  backend = await startNumaBackend({ port: 0, apiToken: TOKEN, seed: 1 });
  appId = backend.store.createApplication({ name: 'app', git_repo_url: 'https://git.example/app.git' }).id;
  s3 = fakeS3();
  sqs = fakeSqs();
  secrets = fakeSecrets({ [SECRET_ARN]: `${TOKEN}\n` });
  out = captureStdout();
});

afterEach(async () => {
  out.restore();
  await backend.close();
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    NUMA_BACKEND_URL: backend.url,
    NUMA_API_TOKEN_SECRET_ARN: SECRET_ARN,
    QUEUE_URL,
    DLQ_URL,
    BUCKET,
    POLL_WAIT_SECONDS: '0',
    POLL_SAFETY_MARGIN_SECONDS: '1',
    POLL_INTERVAL_SECONDS: '1',
    ...extra,
  };
}

function handlerFor(extra: Record<string, string> = {}) {
  return createPollerHandler({ env: env(extra), aws: MOCK_AWS, backoff: { baseMs: 50, capMs: 100 } });
}

/** A context whose window (time left minus wait and margin) is `windowMs`. */
function contextWithWindow(e: Record<string, string>, windowMs: number) {
  const reserve = (Number(e.POLL_WAIT_SECONDS) + Number(e.POLL_SAFETY_MARGIN_SECONDS)) * 1000;
  return lambdaContext(reserve + windowMs);
}

function publishTask(title: string): number {
  const task = backend.store.createTask({ title, application_id: appId });
  backend.store.publish(TASKS_TOPIC.id, { task_id: task.id });
  return task.id;
}

function cursor(): CursorState | undefined {
  return s3.json<{ value: CursorState }>(CURSOR_KEY)?.value;
}

describe('poller handler', () => {
  it('forwards valid messages to SQS, dead-letters malformed ones with the reason, and saves cursor and topic id', async () => {
    const a = publishTask('first');
    backend.store.publish(TASKS_TOPIC.id, { nothing: 'here' });
    const b = publishTask('second');
    const handler = handlerFor();

    const summary = (await handler(SCHEDULED, contextWithWindow(env(), 400))) as PollSummary;

    expect(summary.polls).toBeGreaterThanOrEqual(1);
    expect(summary.forwarded).toBe(2);
    expect(summary.deadLettered).toBe(1);
    const queued = sqs.to(QUEUE_URL);
    expect(queued.map((m) => m.json.task_id)).toEqual([a, b]);
    expect(queued[0]!.json).toMatchObject({ message_id: 1, topic_id: TASKS_TOPIC.id, attempt: 1 });
    expect(queued[0]!.attributes.dedup_key).toBe(`topic-${TASKS_TOPIC.id}-msg-1`);
    const dead = sqs.to(DLQ_URL);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.attributes.reason).toMatch(/message 2: data\.task_id: missing/);
    expect(dead[0]!.attributes.source).toBe(`topic ${TASKS_TOPIC.id}`);
    expect(cursor()).toMatchObject({ topic_id: TASKS_TOPIC.id, after: 3 });

    const m = out.metrics();
    expect(m.namespaces).toEqual(new Set(['NumaAvatar']));
    expect(m.dimensions).toEqual(new Set(['service=numa-avatar']));
    expect(m.totals.MessagesForwarded).toBe(2);
    expect(m.totals.MessagesDeadLettered).toBe(1);
    expect(m.totals.PollSuccess).toBe(summary.polls);
    expect(m.totals.PollErrors).toBeUndefined();
  });

  it('never forwards a message twice across invocations, fetches the token once, and never logs it', async () => {
    publishTask('one');
    const handler = handlerFor();
    await handler(SCHEDULED, contextWithWindow(env(), 300));
    await handler(SCHEDULED, contextWithWindow(env(), 300));
    expect(sqs.to(QUEUE_URL)).toHaveLength(1);

    const c = publishTask('two');
    await handler(SCHEDULED, contextWithWindow(env(), 300));
    expect(sqs.to(QUEUE_URL).map((m) => m.json.task_id)).toEqual([1, c]);
    expect(secrets.calls()).toBe(1);
    expect(out.text()).toContain('poller invocation done');
    expect(out.text()).not.toContain(TOKEN);
  });

  it('long-polls: a message published while the poll is held open is forwarded in the same invocation', async () => {
    const e = env({ POLL_WAIT_SECONDS: '1' });
    const handler = createPollerHandler({ env: e, aws: MOCK_AWS });
    const run = handler(SCHEDULED, contextWithWindow(e, 300)) as Promise<PollSummary>;
    // Publish once the poller is parked on the backend.
    for (let i = 0; i < 200 && backend.pendingPolls() === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(backend.pendingPolls()).toBe(1);
    const id = publishTask('while waiting');
    const summary = await run;
    expect(summary.forwarded).toBe(1);
    expect(sqs.to(QUEUE_URL).map((m) => m.json.task_id)).toEqual([id]);
  });

  it('never moves the cursor back when an overlapping invocation saved a later one', async () => {
    publishTask('a');
    publishTask('b');
    s3.putJson(CURSOR_KEY, { value: { topic_id: TASKS_TOPIC.id }, write_id: 'x', saved_at: '' });
    let raced = false;
    s3.beforePut = (key) => {
      // Another invocation moves the cursor to 50 between this one's read and its write.
      if (key === CURSOR_KEY && !raced) {
        raced = true;
        s3.putJson(CURSOR_KEY, {
          value: { topic_id: TASKS_TOPIC.id, after: 50 },
          write_id: 'y',
          saved_at: '',
        });
      }
    };
    await handlerFor()(SCHEDULED, contextWithWindow(env(), 300));
    expect(raced).toBe(true);
    expect(cursor()?.after).toBe(50);
  });

  it('keeps the cursor where it was when SQS refuses the batch, and forwards the message next time', async () => {
    const id = publishTask('a');
    sqs.failWith = awsError('InternalError', 500, 'We encountered an internal error.');
    const handler = handlerFor();
    const first = (await handler(SCHEDULED, contextWithWindow(env(), 300))) as PollSummary;
    expect(first.polls).toBe(0);
    expect(first.pollErrors).toBeGreaterThanOrEqual(1);
    expect(cursor()?.after).toBeUndefined();
    expect(cursor()?.topic_id).toBe(TASKS_TOPIC.id);

    sqs.failWith = undefined;
    await handler(SCHEDULED, contextWithWindow(env(), 300));
    expect(sqs.to(QUEUE_URL).map((m) => m.json.task_id)).toEqual([id]);
    expect(cursor()?.after).toBe(1);
  });

  it('survives an unreachable backend: ends normally, emits PollErrors and no PollSuccess', async () => {
    const port = await closedPort();
    const e = env({ NUMA_BACKEND_URL: `http://127.0.0.1:${port}` });
    const handler = createPollerHandler({ env: e, aws: MOCK_AWS, backoff: { baseMs: 50, capMs: 100 } });
    const summary = (await handler(SCHEDULED, contextWithWindow(e, 400))) as PollSummary;
    expect(summary.polls).toBe(0);
    expect(summary.pollErrors).toBeGreaterThanOrEqual(1);
    expect(summary.problem).toMatch(/BACKEND_UNAVAILABLE/);
    const m = out.metrics();
    expect(m.totals.PollErrors).toBe(summary.pollErrors);
    expect(m.totals.PollSuccess).toBeUndefined();
    expect(sqs.sent).toHaveLength(0);
  });

  it('emits PollErrors when the Lambda leaves no time for a single poll', async () => {
    publishTask('a');
    const summary = (await handlerFor()(SCHEDULED, lambdaContext(500))) as PollSummary;
    expect(summary.polls).toBe(0);
    expect(summary.problem).toMatch(/raise the Lambda timeout/);
    expect(out.metrics().totals.PollErrors).toBe(1);
    expect(sqs.sent).toHaveLength(0);
  });

  it('fails loudly on a broken configuration, naming the variable', async () => {
    const e = env();
    delete e.QUEUE_URL;
    const handler = createPollerHandler({ env: e, aws: MOCK_AWS });
    const err = await Promise.resolve(handler(SCHEDULED, lambdaContext(5000))).catch((x: unknown) => x);
    expect(isAvatarError(err, 'CONFIG_INVALID')).toBe(true);
    expect(String((err as Error).message)).toMatch(/QUEUE_URL: missing/);
    expect(out.metrics().totals.PollErrors).toBe(1);
  });

  it('ends normally when the token secret cannot be read, and reads it again next time', async () => {
    publishTask('a');
    const e = env({ NUMA_API_TOKEN_SECRET_ARN: SECRET_ARN.replace('AbCdEf', 'Gone00') });
    const handler = createPollerHandler({ env: e, aws: MOCK_AWS });
    const summary = (await handler(SCHEDULED, contextWithWindow(e, 300))) as PollSummary;
    expect(summary.polls).toBe(0);
    expect(summary.problem).toMatch(
      /NUMA_API_TOKEN_SECRET_ARN: cannot read secret .*ResourceNotFoundException/,
    );
    // The log names the secret (its name is not a secret; the redactor leaves it alone).
    expect(out.text()).toContain('cannot read secret \\"numa-avatar/backend-token-Gone00\\"');
    await handler(SCHEDULED, contextWithWindow(e, 300));
    expect(secrets.calls()).toBe(2);
    expect(out.metrics().totals.PollErrors).toBe(2);
  });
});

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
