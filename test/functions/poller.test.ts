import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAvatarError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { CursorState } from '../../core/polling/poller.ts';
import { startNumaBackend, TASKS_TOPIC, type NumaBackend } from '../../servers/numa-backend/index.ts';
import {
  createPollerHandler,
  CURSOR_KEY,
  PollFailedError,
  type PollSummary,
} from '../../functions/poller/handler.ts';
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
/** Every request the backend answered: method, path (no query), status. */
let requests: Array<{ method: string; path: string; status: number }>;
/** Called after each answered request (a test's hook into the backend). */
let onRequest: ((r: { method: string; path: string; status: number }) => void) | undefined;

/** The backend's request log as a list (its debug line per answered request). */
function recordingLogger(): Logger {
  const ignore = () => undefined;
  const log: Logger = {
    debug: (msg, fields) => {
      if (msg !== 'request' || !fields) return;
      const r = {
        method: String(fields.method),
        path: String(fields.path).split('?')[0]!,
        status: Number(fields.status),
      };
      requests.push(r);
      onRequest?.(r);
    },
    info: ignore,
    warn: ignore,
    error: ignore,
    child: () => log,
  };
  return log;
}

const MESSAGES_PATH = `/api/topics/${TASKS_TOPIC.id}/messages`;
const messageRequests = () => requests.filter((r) => r.path === MESSAGES_PATH);

beforeEach(async () => {
  requests = [];
  onRequest = undefined;
  backend = await startNumaBackend({ port: 0, apiToken: TOKEN, seed: 1, logger: recordingLogger() });
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

/** The PollFailedError an invocation without a successful poll throws (a Lambda error). */
async function failure(run: unknown): Promise<PollFailedError> {
  const err = await Promise.resolve(run).then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(err).toBeInstanceOf(PollFailedError);
  expect(isAvatarError(err, 'POLL_FAILED')).toBe(true);
  return err as PollFailedError;
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

    // The poll that brought the three, then one that brought nothing new: the end.
    expect(summary).toMatchObject({ polls: 2, end: 'idle' });
    const m = out.metrics();
    expect(m.namespaces).toEqual(new Set(['NumaAvatar']));
    expect(m.dimensions).toEqual(new Set(['service=numa-avatar']));
    expect(m.totals).toEqual({ MessagesForwarded: 2, MessagesDeadLettered: 1 });
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
    const first = (await failure(handler(SCHEDULED, contextWithWindow(env(), 300)))).summary;
    expect(first.polls).toBe(0);
    expect(first.pollErrors).toBeGreaterThanOrEqual(1);
    expect(cursor()?.after).toBeUndefined();
    expect(cursor()?.topic_id).toBe(TASKS_TOPIC.id);

    sqs.failWith = undefined;
    await handler(SCHEDULED, contextWithWindow(env(), 300));
    expect(sqs.to(QUEUE_URL).map((m) => m.json.task_id)).toEqual([id]);
    expect(cursor()?.after).toBe(1);
  });

  it('survives an unreachable backend: retries until the budget ends, then fails the invocation with PollErrors', async () => {
    const port = await closedPort();
    const e = env({ NUMA_BACKEND_URL: `http://127.0.0.1:${port}` });
    const handler = createPollerHandler({ env: e, aws: MOCK_AWS, backoff: { baseMs: 50, capMs: 100 } });
    const err = await failure(handler(SCHEDULED, contextWithWindow(e, 400)));
    const summary = err.summary;
    expect(summary).toMatchObject({ polls: 0, end: 'budget' });
    // Backoff at least 250 ms between polls: two failed polls in a 400 ms budget.
    expect(summary.pollErrors).toBeGreaterThanOrEqual(2);
    expect(summary.problem).toMatch(/BACKEND_UNAVAILABLE/);
    expect(err.message).toMatch(/^no successful poll in this invocation: BACKEND_UNAVAILABLE/);
    expect(out.text()).toContain('no successful poll in this invocation');
    const m = out.metrics();
    expect(m.totals).toEqual({ PollErrors: summary.pollErrors });
    expect(sqs.sent).toHaveLength(0);
  });

  it('retries a failed poll with backoff inside the invocation, and then succeeds', async () => {
    const id = publishTask('a');
    // The first messages request is answered 503, the next ones normally.
    backend.setFaults({ errorRate: 1, paths: [MESSAGES_PATH] });
    onRequest = (r) => {
      if (r.path === MESSAGES_PATH && r.status >= 500) backend.setFaults({});
    };
    const summary = (await handlerFor()(SCHEDULED, contextWithWindow(env(), 2000))) as PollSummary;
    expect(summary).toMatchObject({ polls: 2, pollErrors: 1, forwarded: 1, end: 'idle' });
    expect(messageRequests().map((r) => r.status)).toEqual([expect.any(Number), 200, 200]);
    expect(messageRequests()[0]!.status).toBeGreaterThanOrEqual(500);
    expect(sqs.to(QUEUE_URL).map((m) => m.json.task_id)).toEqual([id]);
    expect(out.metrics().totals).toEqual({ PollErrors: 1, MessagesForwarded: 1 });
  });

  it('fails the invocation with PollErrors when the Lambda leaves no time for a single poll', async () => {
    publishTask('a');
    const err = await failure(handlerFor()(SCHEDULED, lambdaContext(500)));
    expect(err.summary.polls).toBe(0);
    expect(err.summary.problem).toMatch(/raise the Lambda timeout/);
    expect(out.metrics().totals).toEqual({ PollErrors: 1 });
    expect(sqs.sent).toHaveLength(0);
    expect(messageRequests()).toHaveLength(0);
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

  it('fails the invocation when the token secret cannot be read, and reads it again next time', async () => {
    publishTask('a');
    const e = env({ NUMA_API_TOKEN_SECRET_ARN: SECRET_ARN.replace('AbCdEf', 'Gone00') });
    const handler = createPollerHandler({ env: e, aws: MOCK_AWS });
    const err = await failure(handler(SCHEDULED, contextWithWindow(e, 300)));
    expect(err.summary.polls).toBe(0);
    expect(err.summary.problem).toMatch(
      /NUMA_API_TOKEN_SECRET_ARN: cannot read secret .*ResourceNotFoundException/,
    );
    // The log names the secret (its name is not a secret; the redactor leaves it alone).
    expect(out.text()).toContain('cannot read secret \\"numa-avatar/backend-token-Gone00\\"');
    await failure(handler(SCHEDULED, contextWithWindow(e, 300)));
    expect(secrets.calls()).toBe(2);
    expect(out.metrics().totals.PollErrors).toBe(2);
  });
});

describe('poller handler: idle and busy', () => {
  it('idle: makes ONE long poll of the window and returns, writing no metric at all', async () => {
    const e = env({ POLL_WAIT_SECONDS: '1' });
    const handler = createPollerHandler({ env: e, aws: MOCK_AWS });
    await handler(SCHEDULED, contextWithWindow(e, 10_000)); // learns the topic id
    requests.length = 0;
    const started = Date.now();
    const summary = (await handler(SCHEDULED, contextWithWindow(e, 10_000))) as PollSummary;
    const elapsed = Date.now() - started;
    expect(summary).toMatchObject({ polls: 1, pollErrors: 0, forwarded: 0, end: 'idle' });
    expect(messageRequests()).toHaveLength(1);
    // The backend held the poll for the window (1 s), and the invocation ended right after it,
    // far inside its 10 s budget.
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(3000);
    expect(out.metrics().totals).toEqual({});
    expect(out.text()).not.toContain('_aws');
    // Powertools' warning for an invocation without metrics is not written either.
    expect(out.text()).not.toContain('No application metrics');
    expect(out.text()).toContain('poller invocation done');
  });

  it('idle against a backend that ignores `wait`: one poll, and no interval sleep before it returns', async () => {
    await backend.close();
    backend = await startNumaBackend({
      port: 0,
      apiToken: TOKEN,
      longPolling: false,
      logger: recordingLogger(),
    });
    const e = env({ POLL_WAIT_SECONDS: '5', POLL_INTERVAL_SECONDS: '5' });
    const handler = createPollerHandler({ env: e, aws: MOCK_AWS });
    const started = Date.now();
    const summary = (await handler(SCHEDULED, contextWithWindow(e, 10_000))) as PollSummary;
    expect(summary).toMatchObject({ polls: 1, end: 'idle' });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(messageRequests()).toHaveLength(1);
  });

  it('busy: keeps polling while messages keep arriving, until the time budget runs out', async () => {
    const e = env({ POLL_WAIT_SECONDS: '2' });
    const handler = createPollerHandler({ env: e, aws: MOCK_AWS });
    await handler(SCHEDULED, contextWithWindow(e, 5000)); // learns the topic id
    requests.length = 0;
    // A message every 250 ms, well inside the 2 s window: each poll brings one.
    const published: number[] = [];
    const timer = setInterval(() => published.push(publishTask(`busy ${published.length}`)), 250);
    const started = Date.now();
    let summary: PollSummary;
    try {
      summary = (await handler(SCHEDULED, contextWithWindow(e, 2500))) as PollSummary;
    } finally {
      clearInterval(timer);
    }
    const elapsed = Date.now() - started;
    expect(summary.end).toBe('budget');
    expect(summary.polls).toBeGreaterThanOrEqual(5);
    expect(summary.forwarded).toBeGreaterThanOrEqual(5);
    expect(messageRequests().length).toBe(summary.polls);
    // It used its budget (2.5 s) instead of returning after the first message.
    expect(elapsed).toBeGreaterThanOrEqual(2300);
    const queued = sqs.to(QUEUE_URL).map((m) => m.json.task_id);
    expect(queued).toEqual(published.slice(0, queued.length));
    expect(out.metrics().totals.MessagesForwarded).toBe(summary.forwarded);
  });

  it('busy: drains a backlog larger than one page in one invocation, then ends at the first empty poll', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => publishTask(`backlog ${i}`));
    const summary = (await handlerFor({ POLL_LIMIT: '5' })(
      SCHEDULED,
      contextWithWindow(env(), 5000),
    )) as PollSummary;
    // Pages of 5, 5 and 2, then one that brings nothing.
    expect(summary).toMatchObject({ polls: 4, forwarded: 12, end: 'idle' });
    expect(sqs.to(QUEUE_URL).map((m) => m.json.task_id)).toEqual(ids);
    expect(cursor()?.after).toBe(12);
  });
});

describe('poller handler: the JSON secret', () => {
  const GIT_TOKEN = 'ghp_poller_json_secret_0123456789';
  const MODEL_KEY = 'sk-poller-json-secret-abcdef012345';
  const jsonSecret = (fields: Record<string, unknown>) => {
    secrets = fakeSecrets({ [SECRET_ARN]: JSON.stringify(fields) });
  };

  it('reads the backend token from its field and registers every value for redaction', async () => {
    jsonSecret({ backend_token: ` ${TOKEN} `, git_token: GIT_TOKEN, model_api_key: MODEL_KEY });
    const id = publishTask('a');
    const handler = handlerFor({ NUMA_API_TOKEN_SECRET_FIELD: 'backend_token' });
    const summary = (await handler(SCHEDULED, contextWithWindow(env(), 300))) as PollSummary;
    // The backend demands the token: a forwarded message means it was sent, trimmed.
    expect(summary.forwarded).toBe(1);
    expect(sqs.to(QUEUE_URL).map((m) => m.json.task_id)).toEqual([id]);
    expect(secrets.calls()).toBe(1);
    // A value that reaches a log line is cut, whichever field it came from.
    const { sharedRedactor } = await import('../../functions/common/logger.ts');
    for (const v of [TOKEN, GIT_TOKEN, MODEL_KEY]) {
      expect(sharedRedactor.redact(`x ${v} y`)).toBe('x [REDACTED] y');
    }
    expect(out.text()).not.toContain(TOKEN);
  });

  it('fails loudly, naming the field and never a value, when the field is missing or empty', async () => {
    for (const fields of [
      { git_token: GIT_TOKEN, model_api_key: MODEL_KEY },
      { backend_token: '   ', git_token: GIT_TOKEN, model_api_key: MODEL_KEY },
    ]) {
      jsonSecret(fields);
      const handler = handlerFor({ NUMA_API_TOKEN_SECRET_FIELD: 'backend_token' });
      const err = await Promise.resolve(handler(SCHEDULED, contextWithWindow(env(), 300))).catch(
        (x: unknown) => x,
      );
      expect(isAvatarError(err, 'CONFIG_INVALID')).toBe(true);
      const message = (err as Error).message;
      expect(message).toMatch(/^NUMA_API_TOKEN_SECRET_ARN: secret "numa-avatar\/backend-token-AbCdEf": /);
      expect(message).toMatch(/field "backend_token"/);
      expect(message).toMatch(fields.backend_token === undefined ? /has no field/ : /is empty/);
      for (const v of [GIT_TOKEN, MODEL_KEY]) expect(message).not.toContain(v);
      expect(out.text()).not.toContain(GIT_TOKEN);
    }
    expect(messageRequests()).toHaveLength(0);
  });
});

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
