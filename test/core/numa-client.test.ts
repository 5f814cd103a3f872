import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { AvatarError, type ErrorCode } from '../../core/errors.ts';
import { NumaClient, type NumaClientOptions } from '../../core/numa/client.ts';
import type { Clock } from '../../core/ports.ts';
import { backoffDelay, parseRetryAfter } from '../../core/retry.ts';
import { startNumaBackend, type NumaBackend } from '../../servers/numa-backend/index.ts';

const TOKEN = 'numa-test-token-5e4d3c2b1a';

// ---- helpers ----

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function backend(opts: Parameters<typeof startNumaBackend>[0] = {}): Promise<NumaBackend> {
  const b = await startNumaBackend({ port: 0, ...opts });
  cleanups.push(() => b.close());
  return b;
}

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

interface Stub {
  url: string;
  requests: Recorded[];
}

/** A node:http server on 127.0.0.1:0 answering with `handler` (n: the request's number, from 1). */
async function stub(handler: (req: Recorded, res: ServerResponse, n: number) => void): Promise<Stub> {
  const requests: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: Recorded = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(rec);
      handler(rec, res, requests.length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** A clock that records every sleep and returns at once (time moves by the sleep). */
function fakeClock(start = Date.UTC(2025, 7, 3, 10, 0, 0)): Clock & { sleeps: number[] } {
  let t = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: async (ms) => {
      sleeps.push(ms);
      t += ms;
    },
  };
}

function client(baseUrl: string, extra: Partial<NumaClientOptions> = {}): NumaClient {
  return new NumaClient({ baseUrl, clock: fakeClock(), random: () => 0.5, ...extra });
}

async function failure(p: Promise<unknown>, code: ErrorCode): Promise<AvatarError> {
  try {
    await p;
  } catch (err) {
    expect(err, String(err)).toBeInstanceOf(AvatarError);
    expect((err as AvatarError).code, (err as Error).message).toBe(code);
    return err as AvatarError;
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}

const TASK = {
  id: 123,
  title: 'Implement user login',
  description: '实现用户登录页面',
  status: 'todo',
  assigned_to: 1,
  code_branch: 'dev-123-user-login',
  solution_id: 456,
  requirement_id: 789,
  application_id: 1,
  started_at: null,
  completed_at: null,
};

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// ---- the reference backend: the six endpoints ----

describe('NumaClient against the reference backend', () => {
  async function world() {
    const b = await backend({ apiToken: TOKEN });
    const app = b.store.createApplication({
      name: 'my-app',
      description: 'My application',
      git_repo_url: 'https://github.com/user/my-app.git',
      owner: 'user',
    });
    const task = b.store.createTask({
      title: 'Implement user login',
      description: '构建登录页面 🚀',
      application_id: app.id,
      code_branch: 'dev-1-user-login',
    });
    return { b, app, task, c: client(b.url, { apiToken: TOKEN }) };
  }

  it('GET /api/topics/tasks', async () => {
    const { c } = await world();
    expect(await c.getTaskTopic()).toEqual({ id: 1, name: 'tasks', description: 'Development tasks topic' });
  });

  it('GET messages with after/limit, topic id as a number and as a string', async () => {
    const { b, c, task } = await world();
    for (let i = 0; i < 3; i++) b.store.publish(1, { task_id: task.id });
    const all = await c.getMessages(1, { after: 0, wait: 0, limit: 10 });
    expect(all.invalid).toEqual([]);
    expect(all.messages.map((m) => m.id)).toEqual([1, 2, 3]);
    expect(all.messages[0]).toMatchObject({ id: 1, topic_id: 1, data: { task_id: task.id } });
    expect(typeof all.messages[0]!.created_at).toBe('string');
    const page = await c.getMessages('1', { after: '1', limit: 1 });
    expect(page.messages.map((m) => m.id)).toEqual([2]);
  });

  it('GET task, ids as numbers and as strings; Unicode description intact', async () => {
    const { c, task } = await world();
    const byNumber = await c.getTask(task.id);
    const byString = await c.getTask(String(task.id));
    expect(byNumber).toEqual(byString);
    expect(byNumber).toMatchObject({
      id: task.id,
      title: 'Implement user login',
      description: '构建登录页面 🚀',
      status: 'todo',
      code_branch: 'dev-1-user-login',
      application_id: task.application_id,
      started_at: null,
      completed_at: null,
    });
  });

  it('PUT status returns the updated task', async () => {
    const { b, c, task } = await world();
    const updated = await c.updateStatus(String(task.id), 'in_progress');
    expect(updated.status).toBe('in_progress');
    expect(updated.started_at).toEqual(expect.any(String));
    await c.updateStatus(task.id, 'done');
    expect(b.store.statusHistoryOf(task.id).map((h) => h.status)).toEqual(['todo', 'in_progress', 'done']);
  });

  it('POST logs', async () => {
    const { b, c, task } = await world();
    await c.appendLogs(task.id, '2025-08-03 10:00:00 - task started\n2025-08-03 10:05:00 - 仓库已克隆');
    await c.appendLogs(String(task.id), '2025-08-03 10:06:00 - more');
    expect(b.store.logsOf(task.id).map((l) => l.logs)).toEqual([
      '2025-08-03 10:00:00 - task started\n2025-08-03 10:05:00 - 仓库已克隆',
      '2025-08-03 10:06:00 - more',
    ]);
  });

  it('GET application, id as a number and as a string', async () => {
    const { c, app } = await world();
    const expected = {
      id: app.id,
      name: 'my-app',
      description: 'My application',
      git_repo_url: 'https://github.com/user/my-app.git',
      owner: 'user',
    };
    expect(await c.getApplication(app.id)).toEqual(expected);
    expect(await c.getApplication(String(app.id))).toEqual(expected);
  });

  it('getOptional: the value, or undefined on 404', async () => {
    const { b, c } = await world();
    const doc = b.store.createSolution({ title: 'S', content: 'use JWT' });
    const schema = z.looseObject({ id: z.number(), content: z.string() });
    expect(await c.getOptional(`/api/solutions/${doc.id}`, schema)).toMatchObject({ content: 'use JWT' });
    expect(await c.getOptional('/api/solutions/999', schema)).toBeUndefined();
  });

  it('401 (wrong or missing token) is BACKEND_AUTH naming backend.api_token, not retried', async () => {
    const { b } = await world();
    for (const apiToken of ['wrong-token-value', undefined]) {
      const clock = fakeClock();
      const retries: number[] = [];
      const c = client(b.url, { apiToken, clock, onRetry: (r) => retries.push(r.attempt) });
      const err = await failure(c.getTaskTopic(), 'BACKEND_AUTH');
      expect(err.message).toContain('backend.api_token');
      expect(err.message).toContain('401');
      expect(err.message).not.toContain('wrong-token-value');
      expect(clock.sleeps).toEqual([]);
      expect(retries).toEqual([]);
    }
  });

  it('404 on a task or an application is BACKEND_NOT_FOUND, not retried', async () => {
    const { b } = await world();
    const clock = fakeClock();
    const c = client(b.url, { apiToken: TOKEN, clock });
    const err = await failure(c.getTask(999), 'BACKEND_NOT_FOUND');
    expect(err.message).toContain('/api/tasks/999');
    expect(err.message).toContain('task 999 not found');
    await failure(c.getApplication('999'), 'BACKEND_NOT_FOUND');
    await failure(c.updateStatus(999, 'done'), 'BACKEND_NOT_FOUND');
    expect(clock.sleeps).toEqual([]);
  });
});

// ---- stub servers: retries, errors, validation ----

describe('NumaClient: requests', () => {
  it('sends Bearer auth, JSON, and ids as given (string ids are path-encoded)', async () => {
    const s = await stub((req, res) => {
      if (req.url.includes('/logs')) return json(res, 200, { success: true });
      json(res, 200, { ...TASK, id: 'T-42', status: 'done' });
    });
    const c = client(s.url + '/', { apiToken: TOKEN });
    const task = await c.updateStatus('T-42', 'done');
    expect(task.id).toBe('T-42');
    await c.appendLogs('T 42/x', 'line');
    expect(s.requests[0]).toMatchObject({
      method: 'PUT',
      url: '/api/tasks/T-42/status',
      body: '{"status":"done"}',
    });
    expect(s.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(s.requests[0]!.headers['content-type']).toBe('application/json');
    expect(s.requests[1]).toMatchObject({
      method: 'POST',
      url: '/api/tasks/T%2042%2Fx/logs',
      body: '{"logs":"line"}',
    });
  });

  it('no Authorization header without a token', async () => {
    const s = await stub((_req, res) => json(res, 200, { id: 1, name: 'tasks' }));
    await client(s.url).getTaskTopic();
    expect(s.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('passes after, wait and limit as given', async () => {
    const s = await stub((_req, res) => json(res, 200, { data: [] }));
    await client(s.url).getMessages('topic-7', { after: 'abc:41', wait: 0, limit: 5 });
    await client(s.url).getMessages(7, {});
    expect(s.requests.map((r) => r.url)).toEqual([
      '/api/topics/topic-7/messages?after=abc%3A41&wait=0&limit=5',
      '/api/topics/7/messages',
    ]);
  });

  it('refuses a base URL that is not http(s), naming backend.url', () => {
    expect(() => new NumaClient({ baseUrl: 'ftp://x' })).toThrow(/backend\.url/);
    expect(() => new NumaClient({ baseUrl: 'not a url' })).toThrow(/backend\.url/);
  });
});

describe('NumaClient: retries', () => {
  it('5xx then success: retried with backoff, every request counted', async () => {
    const s = await stub((_req, res, n) => {
      if (n === 1) return json(res, 503, { error: 'down' });
      if (n === 2) {
        res.writeHead(502, { 'content-type': 'text/html' });
        return res.end('<html>Bad Gateway</html>');
      }
      json(res, 200, { id: 1, name: 'tasks' });
    });
    const clock = fakeClock();
    const retries: Array<{ attempt: number; delayMs: number; code: string }> = [];
    const c = client(s.url, {
      clock,
      onRetry: (r) => retries.push({ attempt: r.attempt, delayMs: r.delayMs, code: r.error.code }),
    });
    expect(await c.getTaskTopic()).toMatchObject({ id: 1 });
    expect(s.requests).toHaveLength(3);
    // Full jitter: random 0.5 of base 500 * 2^n.
    expect(clock.sleeps).toEqual([250, 500]);
    expect(retries).toEqual([
      { attempt: 1, delayMs: 250, code: 'BACKEND_UNAVAILABLE' },
      { attempt: 2, delayMs: 500, code: 'BACKEND_UNAVAILABLE' },
    ]);
  });

  it('5xx every time: gives up after maxAttempts with BACKEND_UNAVAILABLE naming the status', async () => {
    const s = await stub((_req, res) => json(res, 500, { error: 'database on fire' }));
    const clock = fakeClock();
    const err = await failure(client(s.url, { clock, maxAttempts: 4 }).getTask(1), 'BACKEND_UNAVAILABLE');
    expect(s.requests).toHaveLength(4);
    expect(clock.sleeps).toHaveLength(3);
    expect(err.message).toContain('HTTP 500');
    expect(err.message).toContain('database on fire');
    expect(err.message).toContain('GET /api/tasks/1');
  });

  it('a per-call maxAttempts overrides the client (the poll loop makes one attempt)', async () => {
    const s = await stub((_req, res) => json(res, 503, {}));
    const clock = fakeClock();
    await failure(client(s.url, { clock }).getTaskTopic({ maxAttempts: 1 }), 'BACKEND_UNAVAILABLE');
    expect(s.requests).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('429 with Retry-After in seconds: waits that long', async () => {
    const s = await stub((_req, res, n) =>
      n === 1 ? json(res, 429, { error: 'slow down' }, { 'retry-after': '7' }) : json(res, 200, TASK),
    );
    const clock = fakeClock();
    expect((await client(s.url, { clock }).getTask(123)).id).toBe(123);
    expect(s.requests).toHaveLength(2);
    expect(clock.sleeps).toEqual([7000]);
  });

  it('429 with Retry-After as an HTTP date: waits until then', async () => {
    const clock = fakeClock();
    const at = new Date(clock.now() + 12_000).toUTCString();
    const s = await stub((_req, res, n) =>
      n === 1 ? json(res, 429, {}, { 'retry-after': at }) : json(res, 200, { id: 1 }),
    );
    await client(s.url, { clock }).getTaskTopic();
    expect(clock.sleeps).toEqual([12_000]);
  });

  it('429 with a huge Retry-After: capped at maxRetryAfterMs', async () => {
    const s = await stub((_req, res, n) =>
      n === 1 ? json(res, 429, {}, { 'retry-after': '86400' }) : json(res, 200, { id: 1 }),
    );
    const clock = fakeClock();
    await client(s.url, { clock, maxRetryAfterMs: 5000 }).getTaskTopic();
    expect(clock.sleeps).toEqual([5000]);
  });

  it('429 without Retry-After: retried with the ordinary backoff', async () => {
    const s = await stub((_req, res, n) => (n <= 2 ? json(res, 429, {}) : json(res, 200, { id: 1 })));
    const clock = fakeClock();
    await client(s.url, { clock }).getTaskTopic();
    expect(s.requests).toHaveLength(3);
    expect(clock.sleeps).toEqual([250, 500]);
  });

  it('429 every time: gives up, saying it was rate limited', async () => {
    const s = await stub((_req, res) => json(res, 429, {}, { 'retry-after': '1' }));
    const clock = fakeClock();
    const err = await failure(client(s.url, { clock, maxAttempts: 3 }).getTaskTopic(), 'BACKEND_UNAVAILABLE');
    expect(err.message).toMatch(/rate limited \(HTTP 429/);
    expect(s.requests).toHaveLength(3);
  });

  it('connection refused: retried, then BACKEND_UNAVAILABLE naming the backend', async () => {
    const port = await closedPort();
    const clock = fakeClock();
    const base = `http://127.0.0.1:${port}`;
    const err = await failure(
      client(base, { clock, maxAttempts: 3, apiToken: TOKEN }).getTaskTopic(),
      'BACKEND_UNAVAILABLE',
    );
    expect(clock.sleeps).toHaveLength(2);
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.message).toContain(base);
    expect(err.message).not.toContain(TOKEN);
  });

  it('no answer in time: BACKEND_TIMEOUT after every attempt timed out', async () => {
    const s = await stub(() => {
      /* never answers */
    });
    const clock = fakeClock();
    const err = await failure(
      client(s.url, { clock, timeoutMs: 100, maxAttempts: 2 }).getTask(5),
      'BACKEND_TIMEOUT',
    );
    expect(err.message).toContain('GET /api/tasks/5');
    expect(err.message).toContain('100 ms');
    expect(s.requests).toHaveLength(2);
    expect(clock.sleeps).toHaveLength(1);
  });

  it('a long poll gets its wait on top of the timeout', async () => {
    const s = await stub((_req, res) => {
      setTimeout(() => json(res, 200, { data: [] }), 300);
    });
    const page = await client(s.url, { timeoutMs: 100, maxAttempts: 1 }).getMessages(1, { wait: 2 });
    expect(page).toEqual({ messages: [], invalid: [] });
  });

  it('an aborted call stops at once with RUN_ABORTED, no retry', async () => {
    const s = await stub(() => {
      /* never answers */
    });
    const clock = fakeClock();
    const ac = new AbortController();
    const p = client(s.url, { clock }).getMessages(1, { wait: 20 }, { signal: ac.signal });
    while (s.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    await failure(p, 'RUN_ABORTED');
    expect(s.requests).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
  });
});

describe('NumaClient: errors that are not retried', () => {
  it('400 is BACKEND_CLIENT_ERROR with the server message, one request', async () => {
    const s = await stub((_req, res) =>
      json(res, 400, { error: 'status: must not be empty', field: 'status' }),
    );
    const clock = fakeClock();
    const err = await failure(client(s.url, { clock }).updateStatus(1, ''), 'BACKEND_CLIENT_ERROR');
    expect(err.message).toContain('HTTP 400');
    expect(err.message).toContain('status: must not be empty');
    expect(err.message).toContain('PUT /api/tasks/1/status');
    expect(s.requests).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('403 is BACKEND_AUTH too', async () => {
    const s = await stub((_req, res) => json(res, 403, { message: 'forbidden for this avatar' }));
    const err = await failure(client(s.url).getTaskTopic(), 'BACKEND_AUTH');
    expect(err.message).toContain('HTTP 403');
    expect(err.message).toContain('forbidden for this avatar');
    expect(err.message).toContain('backend.api_token');
  });

  it('a body that is not JSON: BACKEND_BAD_RESPONSE naming the problem, not retried', async () => {
    const s = await stub((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>Welcome to nginx!</body></html>');
    });
    const clock = fakeClock();
    const err = await failure(client(s.url, { clock }).getTask(1), 'BACKEND_BAD_RESPONSE');
    expect(err.message).toContain('not JSON');
    expect(err.message).toContain('<html>');
    expect(err.message).toContain('GET /api/tasks/1');
    expect(s.requests).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('a task without code_branch: BACKEND_BAD_RESPONSE naming code_branch', async () => {
    const { code_branch: _omit, ...noBranch } = TASK;
    const s = await stub((_req, res) => json(res, 200, noBranch));
    const err = await failure(client(s.url).getTask(123), 'BACKEND_BAD_RESPONSE');
    expect(err.message).toMatch(/code_branch: /);
  });

  it('an empty code_branch or a missing git_repo_url are named too', async () => {
    const s = await stub((req, res) =>
      req.url.startsWith('/api/tasks')
        ? json(res, 200, { ...TASK, code_branch: '  ' })
        : json(res, 200, { id: 1, name: 'app' }),
    );
    expect((await failure(client(s.url).getTask(1), 'BACKEND_BAD_RESPONSE')).message).toContain(
      'code_branch',
    );
    expect((await failure(client(s.url).getApplication(1), 'BACKEND_BAD_RESPONSE')).message).toContain(
      'git_repo_url',
    );
  });

  it('a message list without data is named', async () => {
    const s = await stub((_req, res) => json(res, 200, { messages: [] }));
    const err = await failure(client(s.url).getMessages(1, {}), 'BACKEND_BAD_RESPONSE');
    expect(err.message).toMatch(/data: /);
  });

  it('unknown extra fields pass through; null description becomes empty', async () => {
    const s = await stub((_req, res) =>
      json(res, 200, { ...TASK, description: null, priority: 'high', tags: ['a'] }),
    );
    const task = await client(s.url).getTask(123);
    expect(task).toMatchObject({ priority: 'high', tags: ['a'], description: '' });
  });

  it('the token never appears in an error message, even when the server echoes it', async () => {
    const encoded = 'p@ss word/+secret-token-value';
    for (const token of [TOKEN, encoded]) {
      const s = await stub((req, res) => {
        const auth = String(req.headers.authorization);
        const echo = `you sent ${auth} (token ${auth.replace(/^Bearer /, '')}, encoded ${encodeURIComponent(auth.replace(/^Bearer /, ''))})`;
        if (req.url.startsWith('/api/tasks/400')) return json(res, 400, { error: echo });
        if (req.url.startsWith('/api/tasks/401')) return json(res, 401, { error: echo });
        if (req.url.startsWith('/api/tasks/404')) return json(res, 404, { message: echo });
        if (req.url.startsWith('/api/tasks/500')) return json(res, 500, { error: echo });
        if (req.url.startsWith('/api/tasks/429')) return json(res, 429, { error: echo });
        if (req.url.startsWith('/api/tasks/502')) {
          res.writeHead(502, { 'content-type': 'text/plain' });
          return res.end(echo);
        }
        if (req.url.startsWith('/api/tasks/bad-json')) {
          res.writeHead(200, { 'content-type': 'text/plain' });
          return res.end(`${auth.replace(/^Bearer /, '')} ${echo}`);
        }
        if (req.url.startsWith('/api/tasks/bad-shape'))
          return json(res, 200, { ...TASK, title: { token: auth } });
        json(res, 200, TASK);
      });
      const c = client(s.url, { apiToken: token, maxAttempts: 2 });
      for (const id of ['400', '401', '404', '500', '429', '502', 'bad-json', 'bad-shape']) {
        let message = '';
        try {
          await c.getTask(id);
        } catch (err) {
          message = (err as Error).message;
        }
        expect(message, `task ${id}`).not.toBe('');
        expect(message, `task ${id}: ${message}`).not.toContain(token);
        expect(message, `task ${id}: ${message}`).not.toContain(encodeURIComponent(token));
      }
    }
  });

  it('no part of the token survives where an error message cuts the server text short', async () => {
    const s = await stub((req, res) => {
      const token = String(req.headers.authorization).replace(/^Bearer /, '');
      // The token straddles each cut: 200 characters of a JSON error, 120 of a text error, 60 of a non-JSON body.
      if (req.url.endsWith('/json-error')) return json(res, 400, { error: 'x'.repeat(190) + token });
      res.writeHead(req.url.endsWith('/text-error') ? 400 : 200, { 'content-type': 'text/plain' });
      res.end(req.url.endsWith('/text-error') ? 'y'.repeat(110) + token : 'z'.repeat(50) + token);
    });
    const c = client(s.url, { apiToken: TOKEN });
    for (const which of ['json-error', 'text-error', 'not-json']) {
      const err = await failure(
        c.getTask(which),
        which === 'not-json' ? 'BACKEND_BAD_RESPONSE' : 'BACKEND_CLIENT_ERROR',
      );
      expect(err.message, `${which}: ${err.message}`).not.toContain(TOKEN.slice(0, 8));
    }
  });

  it('credentials in the backend URL do not appear in a network error', async () => {
    const port = await closedPort();
    const err = await failure(
      client(`http://avatar:url-password-123@127.0.0.1:${port}`, { maxAttempts: 1 }).getTaskTopic(),
      'BACKEND_UNAVAILABLE',
    );
    expect(err.message).not.toContain('url-password-123');
  });

  it('getMessages keeps good entries and puts entries without a usable id into invalid', async () => {
    const s = await stub((_req, res) =>
      json(res, 200, {
        data: [
          { id: 1, topic_id: 1, data: { task_id: 10 }, created_at: '2025-08-03T10:00:00Z' },
          { topic_id: 1, data: { task_id: 11 } },
          'not a message',
          { id: null, data: { task_id: 12 } },
          { id: '3', data: {} },
          { id: 4, data: 'anything', extra: true },
        ],
      }),
    );
    const page = await client(s.url).getMessages(1, {});
    expect(page.messages.map((m) => m.id)).toEqual([1, '3', 4]);
    expect(page.messages[2]).toMatchObject({ extra: true, data: 'anything' });
    expect(page.invalid.map((i) => i.raw)).toEqual([
      { topic_id: 1, data: { task_id: 11 } },
      'not a message',
      { id: null, data: { task_id: 12 } },
    ]);
    expect(page.invalid[0]!.reason).toMatch(/^data\[1\]: id: /);
    expect(page.invalid[1]!.reason).toMatch(/^data\[2\]: /);
    expect(page.invalid[2]!.reason).toMatch(/^data\[3\]: id: /);
  });
});

describe('backoffDelay', () => {
  it('is uniform in [0, min(cap, base * 2^attempt)]', () => {
    const opts = { baseMs: 100, capMs: 5000 };
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(5000, 100 * 2 ** attempt);
      expect(backoffDelay(attempt, { ...opts, random: () => 0 })).toBe(0);
      expect(backoffDelay(attempt, { ...opts, random: () => 0.999999 })).toBeLessThanOrEqual(ceiling);
      expect(backoffDelay(attempt, { ...opts, random: () => 1 })).toBe(ceiling);
      expect(backoffDelay(attempt, { ...opts, random: () => 0.5 })).toBe(Math.round(ceiling / 2));
    }
  });

  it('never exceeds the cap and is never negative, with the real random', () => {
    for (let i = 0; i < 500; i++) {
      const d = backoffDelay(i % 40, { baseMs: 250, capMs: 10_000 });
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(10_000);
      expect(Number.isInteger(d)).toBe(true);
    }
  });

  it('treats a negative attempt as the first', () => {
    expect(backoffDelay(-3, { baseMs: 100, capMs: 1000, random: () => 1 })).toBe(100);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2025, 7, 3, 10, 0, 0);

  it('delta-seconds', () => {
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('5', now)).toBe(5000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter('1.5', now)).toBe(1500);
  });

  it('HTTP dates (IMF-fixdate, RFC 850, asctime), past dates as 0', () => {
    expect(parseRetryAfter(new Date(now + 30_000).toUTCString(), now)).toBe(30_000);
    expect(parseRetryAfter('Sun, 03 Aug 2025 10:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Sunday, 03-Aug-25 10:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Sun Aug  3 10:00:05 2025', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now)).toBe(0);
  });

  it.each([
    null,
    undefined,
    '',
    '   ',
    'soon',
    '-1',
    '5 minutes',
    'abc 12',
    'later 2030',
    '1e3',
    '0x10',
    'NaN',
  ])('garbage: %j is undefined', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});
