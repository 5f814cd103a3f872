import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNumaBackend } from '../../servers/numa-backend/index.ts';
import type { NumaBackend, NumaBackendOptions } from '../../servers/numa-backend/index.ts';
import { NumaStore, defaultBranch } from '../../servers/numa-backend/store.ts';
import { mulberry32 } from '../../servers/numa-backend/faults.ts';
import { runBackendCli } from '../../servers/numa-backend/cli.ts';

const TASK_FIELDS = [
  'id',
  'title',
  'description',
  'status',
  'assigned_to',
  'code_branch',
  'solution_id',
  'requirement_id',
  'application_id',
  'started_at',
  'completed_at',
];
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies of many shapes, checked by the assertions
  json: any;
}

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

const backends: NumaBackend[] = [];
const dirs: string[] = [];

async function start(opts: NumaBackendOptions = {}): Promise<NumaBackend> {
  const b = await startNumaBackend({ port: 0, ...opts });
  backends.push(b);
  return b;
}

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'numa-backend-test-'));
  dirs.push(d);
  return d;
}

afterEach(async () => {
  await Promise.all(backends.splice(0).map((b) => b.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function failAfter(ms: number, message: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(message)), ms).unref());
}

describe('NumaStore', () => {
  it('creates tasks with the contract defaults and tracks started_at/completed_at and history', () => {
    let t = 0;
    const store = new NumaStore({ now: () => new Date(Date.UTC(2025, 7, 3, 10, 0, t++)) });
    const task = store.createTask({ title: 'Implement user login', application_id: 1 });
    expect(Object.keys(task)).toEqual(TASK_FIELDS);
    expect(task).toMatchObject({
      status: 'todo',
      code_branch: `dev-${task.id}-implement-user-login`,
      started_at: null,
      completed_at: null,
      assigned_to: null,
    });
    const started = store.setStatus(String(task.id), 'in_progress');
    expect(started.started_at).toBe('2025-08-03T10:00:01.000Z');
    expect(started.completed_at).toBeNull();
    const done = store.setStatus(task.id, 'done');
    expect(done.completed_at).toBe('2025-08-03T10:00:02.000Z');
    expect(store.setStatus(task.id, 'needs-review').status).toBe('needs-review');
    expect(store.statusHistoryOf(task.id).map((h) => h.status)).toEqual([
      'todo',
      'in_progress',
      'done',
      'needs-review',
    ]);
    expect(() => store.setStatus(999, 'done')).toThrow('task 999 not found');
  });

  it('keeps data as given, hands out copies, and only grows message ids', () => {
    const store = new NumaStore();
    const seen: number[] = [];
    store.onMessage((m) => seen.push(m.id));
    const a = store.publish(1, { task_id: 1 });
    const b = store.publish('1', 'just a string');
    const c = store.publish(1, { task_id: null });
    expect([a.id, b.id, c.id]).toEqual([1, 2, 3]);
    expect(seen).toEqual([1, 2, 3]);
    expect(store.messagesAfter(1, 1).map((m) => m.data)).toEqual(['just a string', { task_id: null }]);
    expect(store.messagesAfter(1, 0, 2).map((m) => m.id)).toEqual([1, 2]);
    (store.messagesAfter(1, 0)[0]!.data as Record<string, unknown>).task_id = 42;
    expect(store.messagesAfter(1, 0)[0]!.data).toEqual({ task_id: 1 });
    expect(() => store.publish(7, {})).toThrow('topic 7 not found');
  });

  it('slugs titles in any script into a branch name', () => {
    expect(defaultBranch(5, 'Crème brûlée: fix   the API!')).toBe('dev-5-creme-brulee-fix-the-api');
    expect(defaultBranch(6, '实现用户登录')).toBe('dev-6');
    expect(defaultBranch(7, '实现 login 页面')).toBe('dev-7-login');
  });

  it('restores a snapshot without reusing ids', () => {
    const store = new NumaStore();
    const app = store.createApplication({ name: 'a', git_repo_url: 'http://x/a.git' });
    const task = store.createTask({ title: 't', application_id: app.id });
    store.appendLogs(task.id, 'line');
    store.publish(1, { task_id: task.id });
    const copy = new NumaStore({}, store.snapshot());
    expect(copy.getTask(task.id)).toEqual(task);
    expect(copy.logsOf(task.id)).toEqual(store.logsOf(task.id));
    expect(copy.createTask({ title: 'u', application_id: app.id }).id).toBe(task.id + 1);
    expect(copy.publish(1, {}).id).toBe(2);
  });
});

describe('reference backend: contract endpoints', () => {
  let b: NumaBackend;
  beforeEach(async () => {
    b = await start();
  });

  it('serves the tasks topic and the health check', async () => {
    const topic = await call(b.url, 'GET', '/api/topics/tasks');
    expect(topic.status).toBe(200);
    expect(topic.json).toEqual({ id: 1, name: 'tasks', description: 'Development tasks topic' });
    expect((await call(b.url, 'GET', '/healthz')).json).toEqual({ ok: true });
    expect(b.url).toBe(`http://127.0.0.1:${b.port}`);
  });

  it('creates and serves applications, tasks, solutions and requirements with the exact field names', async () => {
    const app = await call(b.url, 'POST', '/api/applications', {
      name: 'my-app',
      description: 'My application',
      git_repo_url: 'https://github.com/user/my-app.git',
      owner: 'user',
    });
    expect(app.status).toBe(201);
    expect(app.json).toEqual({
      id: 1,
      name: 'my-app',
      description: 'My application',
      git_repo_url: 'https://github.com/user/my-app.git',
      owner: 'user',
    });
    expect((await call(b.url, 'GET', '/api/applications/1')).json).toEqual(app.json);

    const sol = await call(b.url, 'POST', '/api/solutions', { title: 'S', content: 'use JWT' });
    const req = await call(b.url, 'POST', '/api/requirements', { title: 'R', content: '登录页面' });
    expect(sol.status).toBe(201);
    expect(req.status).toBe(201);
    expect(sol.json).toEqual({ id: 1, title: 'S', content: 'use JWT' });
    expect((await call(b.url, 'GET', '/api/solutions/1')).json).toEqual(sol.json);
    expect((await call(b.url, 'GET', '/api/requirements/1')).json).toEqual({
      id: 1,
      title: 'R',
      content: '登录页面',
    });

    const task = await call(b.url, 'POST', '/api/tasks', {
      title: 'Implement user login',
      description: '构建登录页面 and its endpoint',
      application_id: 1,
      assigned_to: 1,
      solution_id: 1,
      requirement_id: 1,
    });
    expect(task.status).toBe(201);
    expect(Object.keys(task.json)).toEqual(TASK_FIELDS);
    expect(task.json).toEqual({
      id: 1,
      title: 'Implement user login',
      description: '构建登录页面 and its endpoint',
      status: 'todo',
      assigned_to: 1,
      code_branch: 'dev-1-implement-user-login',
      solution_id: 1,
      requirement_id: 1,
      application_id: 1,
      started_at: null,
      completed_at: null,
    });
    const custom = await call(b.url, 'POST', '/api/tasks', {
      title: 'x',
      application_id: '1',
      code_branch: 'feature/x',
    });
    expect(custom.json).toMatchObject({ id: 2, code_branch: 'feature/x', application_id: '1' });
    expect((await call(b.url, 'GET', '/api/tasks/1')).json).toEqual(task.json);
    const list = await call(b.url, 'GET', '/api/tasks');
    expect(list.json.data.map((t: { id: number }) => t.id)).toEqual([1, 2]);
  });

  it('updates status (with history and timestamps) and appends logs', async () => {
    const task = b.store.createTask({ title: 'T', application_id: 1 });
    const put = await call(b.url, 'PUT', `/api/tasks/${task.id}/status`, { status: 'in_progress' });
    expect(put.status).toBe(200);
    expect(put.json).toMatchObject({ id: task.id, status: 'in_progress', completed_at: null });
    expect(put.json.started_at).toMatch(ISO);
    const done = await call(b.url, 'PUT', `/api/tasks/${task.id}/status`, { status: 'done' });
    expect(done.json.completed_at).toMatch(ISO);
    expect((await call(b.url, 'GET', `/api/tasks/${task.id}`)).json.status).toBe('done');

    const history = await call(b.url, 'GET', `/api/tasks/${task.id}/status-history`);
    expect(history.json.data.map((h: { status: string }) => h.status)).toEqual([
      'todo',
      'in_progress',
      'done',
    ]);
    for (const h of history.json.data) expect(h.at).toMatch(ISO);

    const log = await call(b.url, 'POST', `/api/tasks/${task.id}/logs`, { logs: 'a\nb' });
    expect(log.status).toBe(200);
    expect(log.json).toEqual({ success: true });
    await call(b.url, 'POST', `/api/tasks/${task.id}/logs`, { logs: 'c ✓ 完成' });
    const logs = await call(b.url, 'GET', `/api/tasks/${task.id}/logs`);
    expect(logs.json.data.map((e: { logs: string }) => e.logs)).toEqual(['a\nb', 'c ✓ 完成']);
    for (const e of logs.json.data) expect(e.received_at).toMatch(ISO);
  });

  it('publishes messages and lists them with after and limit in id order', async () => {
    const m1 = await call(b.url, 'POST', '/api/topics/1/messages', { data: { task_id: 123 } });
    expect(m1.status).toBe(201);
    expect(Object.keys(m1.json)).toEqual(['id', 'topic_id', 'data', 'created_at']);
    expect(m1.json).toMatchObject({ id: 1, topic_id: 1, data: { task_id: 123 } });
    expect(m1.json.created_at).toMatch(ISO);
    await call(b.url, 'POST', '/api/topics/1/messages', { data: 'malformed on purpose' });
    for (let i = 0; i < 5; i++) b.store.publish(1, { task_id: 200 + i });

    const all = await call(b.url, 'GET', '/api/topics/1/messages');
    expect(all.json.data.map((m: { id: number }) => m.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(all.json.data[1].data).toBe('malformed on purpose');
    const page = await call(b.url, 'GET', '/api/topics/1/messages?after=2&limit=3');
    expect(page.json.data.map((m: { id: number }) => m.id)).toEqual([3, 4, 5]);
    const rest = await call(b.url, 'GET', '/api/topics/1/messages?after=5&limit=3');
    expect(rest.json.data.map((m: { id: number }) => m.id)).toEqual([6, 7]);
    const none = await call(b.url, 'GET', '/api/topics/1/messages?after=7');
    expect(none.json).toEqual({ data: [] });
    const capped = await call(b.url, 'GET', '/api/topics/1/messages?limit=5000');
    expect(capped.json.data).toHaveLength(7);
  });

  it('long poll: a request with wait=5 returns as soon as a message is published', async () => {
    b.store.publish(1, { task_id: 1 });
    const poll = call(b.url, 'GET', '/api/topics/1/messages?after=1&wait=5');
    await until(() => b.pendingPolls() === 1, 'the long poll to be parked');
    // Messages on another topic do not wake it.
    const other = b.store.createTopic('other');
    b.store.publish(other.id, { task_id: 9 });
    expect(b.pendingPolls()).toBe(1);
    const msg = b.store.publish(1, { task_id: 77 });
    const res = await Promise.race([
      poll,
      failAfter(4000, 'the long poll did not return when the message was published'),
    ]);
    expect(res.status).toBe(200);
    expect(res.json.data).toEqual([msg]);
    expect(b.pendingPolls()).toBe(0);
  });

  it('long poll: with no message and wait=1 it returns empty data', async () => {
    b.store.publish(1, { task_id: 1 });
    const res = await call(b.url, 'GET', '/api/topics/1/messages?after=1&wait=1');
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ data: [] });
  });

  it('answers 404 with a JSON error for unknown ids and routes', async () => {
    const cases: Array<[string, string, string]> = [
      ['GET', '/api/tasks/123', 'task 123 not found'],
      ['PUT', '/api/tasks/abc/status', 'task abc not found'],
      ['POST', '/api/tasks/123/logs', 'task 123 not found'],
      ['GET', '/api/applications/9', 'application 9 not found'],
      ['GET', '/api/solutions/9', 'solution 9 not found'],
      ['GET', '/api/requirements/9', 'requirement 9 not found'],
      ['GET', '/api/topics/9/messages', 'topic 9 not found'],
      ['POST', '/api/topics/9/messages', 'topic 9 not found'],
      ['GET', '/api/nothing-here', 'no route for GET /api/nothing-here'],
      ['GET', '/elsewhere', 'no route for GET /elsewhere'],
    ];
    for (const [method, path, error] of cases) {
      const body = method === 'GET' ? undefined : { status: 'done', logs: 'x', data: {} };
      const res = await call(b.url, method, path, body);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.json, `${method} ${path}`).toEqual({ error });
    }
    const wrongMethod = await call(b.url, 'DELETE', '/api/tasks/1');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET');
  });

  it('answers 400 naming the field or the problem', async () => {
    const task = b.store.createTask({ title: 'T', application_id: 1 });
    const cases: Array<[string, string, unknown, RegExp, string?]> = [
      ['PUT', `/api/tasks/${task.id}/status`, {}, /^status: missing/, 'status'],
      [
        'PUT',
        `/api/tasks/${task.id}/status`,
        { status: 5 },
        /^status: expected a string, got the number 5/,
        'status',
      ],
      [
        'POST',
        `/api/tasks/${task.id}/logs`,
        { logs: ['a'] },
        /^logs: expected a string, got an array/,
        'logs',
      ],
      ['POST', '/api/tasks', { application_id: 1 }, /^title: missing/, 'title'],
      ['POST', '/api/tasks', { title: 'x' }, /^application_id: missing/, 'application_id'],
      [
        'POST',
        '/api/tasks',
        { title: 'x', application_id: 1.5 },
        /^application_id: expected an id/,
        'application_id',
      ],
      ['POST', '/api/applications', { name: 'a' }, /^git_repo_url: missing/, 'git_repo_url'],
      ['POST', '/api/topics/1/messages', { payload: 1 }, /^data: missing/, 'data'],
      ['PUT', `/api/tasks/${task.id}/status`, '{"status": ', /^request body is not valid JSON/],
      ['PUT', `/api/tasks/${task.id}/status`, '[1]', /^request body: expected a JSON object, got an array/],
      ['POST', '/api/tasks', '', /^request body is empty/],
    ];
    for (const [method, path, body, error, field] of cases) {
      const res = await call(b.url, method, path, body === '' ? undefined : body);
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(res.json.error).toMatch(error);
      expect(res.json.field).toBe(field);
    }
    for (const q of ['after=abc', 'after=-1', 'limit=0', 'wait=soon']) {
      const res = await call(b.url, 'GET', `/api/topics/1/messages?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.json.field).toBe(q.split('=')[0]);
    }
  });

  it('answers 413 to a body over 5 MB', async () => {
    const task = b.store.createTask({ title: 'T', application_id: 1 });
    const res = await call(b.url, 'POST', `/api/tasks/${task.id}/logs`, {
      logs: 'x'.repeat(5 * 1024 * 1024 + 10),
    });
    expect(res.status).toBe(413);
    expect(res.json.error).toMatch(/larger than 5242880 bytes/);
    expect(b.store.logsOf(task.id)).toEqual([]);
  });

  it('close() ends a pending long poll promptly with empty data', async () => {
    const poll = call(b.url, 'GET', '/api/topics/1/messages?wait=30');
    await until(() => b.pendingPolls() === 1, 'the long poll to be parked');
    await b.close();
    const res = await poll;
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ data: [] });
  });
});

describe('reference backend: modes, auth, persistence', () => {
  it('longPolling: false ignores after, wait and limit and returns every message at once', async () => {
    const b = await start({ longPolling: false });
    for (let i = 1; i <= 4; i++) b.store.publish(1, { task_id: i });
    const res = await call(b.url, 'GET', '/api/topics/1/messages?after=4&wait=5&limit=2');
    expect(res.json.data.map((m: { id: number }) => m.id)).toEqual([1, 2, 3, 4]);
    expect(b.pendingPolls()).toBe(0);
  });

  it('caps the wait at maxWaitSeconds', async () => {
    const b = await start({ maxWaitSeconds: 0 });
    const res = await call(b.url, 'GET', '/api/topics/1/messages?wait=30');
    expect(res.json).toEqual({ data: [] });
  });

  it('requires the bearer token on /api when apiToken is set, and never echoes it', async () => {
    const token = 'secret-token-123456';
    const b = await start({ apiToken: token });
    const missing = await call(b.url, 'GET', '/api/topics/tasks');
    expect(missing.status).toBe(401);
    expect(missing.json.error).toMatch(/missing Authorization header/);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const wrong = await call(b.url, 'GET', '/api/topics/tasks', undefined, {
      authorization: 'Bearer nope-nope',
    });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error).toMatch(/not valid/);
    const basic = await call(b.url, 'GET', '/api/tasks/1', undefined, { authorization: `Basic ${token}` });
    expect(basic.status).toBe(401);
    for (const r of [missing, wrong, basic]) expect(r.text).not.toContain(token);
    const ok = await call(b.url, 'GET', '/api/topics/tasks', undefined, { authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    const post = await call(b.url, 'POST', '/api/applications', { name: 'a', git_repo_url: 'u' }, {});
    expect(post.status).toBe(401);
    expect((await call(b.url, 'GET', '/healthz')).status).toBe(200);
  });

  it('persists its state in dataFile across a restart, written atomically', async () => {
    const dir = await tempDir();
    const dataFile = join(dir, 'state', 'numa.json');
    const b1 = await start({ dataFile });
    const app = await call(b1.url, 'POST', '/api/applications', {
      name: 'a',
      git_repo_url: 'http://git/a.git',
    });
    const task = await call(b1.url, 'POST', '/api/tasks', {
      title: 'Persist me',
      application_id: app.json.id,
    });
    await call(b1.url, 'PUT', `/api/tasks/${task.json.id}/status`, { status: 'in_progress' });
    await call(b1.url, 'POST', `/api/tasks/${task.json.id}/logs`, { logs: 'started' });
    await call(b1.url, 'POST', '/api/topics/1/messages', { data: { task_id: task.json.id } });
    // Acknowledged changes are on disk before close().
    const onDisk = JSON.parse(await readFile(dataFile, 'utf8'));
    expect(onDisk.tasks[0].status).toBe('in_progress');
    await b1.close();
    expect((await readdir(join(dir, 'state'))).filter((f) => f !== 'numa.json')).toEqual([]);

    const b2 = await start({ dataFile });
    const again = await call(b2.url, 'GET', `/api/tasks/${task.json.id}`);
    expect(again.json).toMatchObject({ title: 'Persist me', status: 'in_progress' });
    expect((await call(b2.url, 'GET', `/api/tasks/${task.json.id}/logs`)).json.data[0].logs).toBe('started');
    expect((await call(b2.url, 'GET', '/api/applications/1')).json.git_repo_url).toBe('http://git/a.git');
    const msgs = await call(b2.url, 'GET', '/api/topics/1/messages');
    expect(msgs.json.data).toHaveLength(1);
    const next = await call(b2.url, 'POST', '/api/topics/1/messages', { data: { task_id: 2 } });
    expect(next.json.id).toBe(2);
  });

  it('refuses a data file that is not a backend state, naming the file', async () => {
    const dir = await tempDir();
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"version": 1, "tasks": "nope"');
    await expect(startNumaBackend({ port: 0, dataFile: bad })).rejects.toThrow(
      `the data file ${bad} is not valid JSON`,
    );
    await writeFile(bad, JSON.stringify({ version: 1, tasks: 'nope' }));
    await expect(startNumaBackend({ port: 0, dataFile: bad })).rejects.toThrow(
      /is not a backend state: next_ids/,
    );
  });

  it('runBackendCli prints where it listens and stops when aborted', async () => {
    const lines: string[] = [];
    const ac = new AbortController();
    let url = '';
    const done = runBackendCli(
      { port: 0, token: 'cli-token-abcdef' },
      {
        write: (l) => lines.push(l),
        signal: ac.signal,
        onListening: (backend) => (url = backend.url),
      },
    );
    await until(() => url !== '', 'the CLI backend to listen');
    expect(lines).toEqual([`Numa reference backend listening on ${url} (data: in-memory)`]);
    expect(lines[0]).toMatch(
      /^Numa reference backend listening on http:\/\/127\.0\.0\.1:\d+ \(data: in-memory\)$/,
    );
    expect((await call(url, 'GET', '/api/topics/tasks')).status).toBe(401);
    ac.abort();
    await done;
    await expect(fetch(url + '/healthz')).rejects.toThrow();
  });
});

describe('reference backend: fault injection (seeded)', () => {
  it('answers 500/502/503 at errorRate, counts them, and never faults /healthz', async () => {
    const b = await start({ seed: 42, faults: { errorRate: 1 } });
    const statuses = new Set<number>();
    for (let i = 0; i < 12; i++) statuses.add((await call(b.url, 'GET', '/api/topics/tasks')).status);
    expect([...statuses].sort()).toEqual([500, 502, 503]);
    const proxy = await (async () => {
      for (;;) {
        const r = await call(b.url, 'GET', '/api/topics/tasks');
        if (r.status === 502) return r;
      }
    })();
    expect(proxy.json).toBeUndefined(); // a proxy's HTML page, not JSON
    expect((await call(b.url, 'GET', '/healthz')).status).toBe(200);
    expect(b.faultCounts().error).toBeGreaterThanOrEqual(13);
    expect(b.faultCounts()).toMatchObject({ delay: 0, malformed: 0, duplicate: 0, rateLimit: 0 });
  });

  it('makes the same decisions with the same seed', async () => {
    const run = async () => {
      const b = await start({ seed: 7, faults: { errorRate: 0.5 } });
      const out: number[] = [];
      for (let i = 0; i < 16; i++) out.push((await call(b.url, 'GET', '/api/topics/tasks')).status);
      return out;
    };
    const first = await run();
    expect(first).toEqual(await run());
    expect(first).toContain(200);
    expect(first.some((s) => s >= 500)).toBe(true);
    const r = mulberry32(1);
    expect([r(), r()]).toEqual([expect.any(Number), expect.any(Number)]);
  });

  it('answers 429 with Retry-After, or without it when retryAfterSeconds <= 0', async () => {
    const b = await start({ seed: 1, faults: { rateLimitRate: 1, retryAfterSeconds: 2 } });
    const limited = await call(b.url, 'GET', '/api/tasks');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    b.setFaults({ rateLimitRate: 1, retryAfterSeconds: 0 });
    const bare = await call(b.url, 'GET', '/api/tasks');
    expect(bare.status).toBe(429);
    expect(bare.headers.get('retry-after')).toBeNull();
    expect(b.faultCounts().rateLimit).toBe(2);
  });

  it('delays responses at delayRate', async () => {
    const b = await start({ seed: 1, faults: { delayRate: 1, delayMs: 20 } });
    const res = await call(b.url, 'GET', '/api/topics/tasks');
    expect(res.status).toBe(200);
    expect(b.faultCounts().delay).toBe(1);
  });

  it('breaks returned message data at malformedRate while the stored message stays intact', async () => {
    const b = await start({ seed: 3, faults: { malformedRate: 1 } });
    for (let i = 1; i <= 6; i++) b.store.publish(1, { task_id: i });
    const res = await call(b.url, 'GET', '/api/topics/1/messages');
    expect(res.json.data.map((m: { id: number }) => m.id)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const m of res.json.data) {
      const ok = m.data !== null && typeof m.data === 'object' && Number.isInteger(m.data.task_id);
      expect(ok, JSON.stringify(m.data)).toBe(false);
    }
    expect(b.faultCounts().malformed).toBe(6);
    expect(b.store.messagesAfter(1, 0).map((m) => m.data)).toEqual(
      [1, 2, 3, 4, 5, 6].map((i) => ({ task_id: i })),
    );
  });

  it('repeats already-delivered messages at duplicateRate', async () => {
    const b = await start({ seed: 5, faults: { duplicateRate: 1 } });
    for (let i = 1; i <= 5; i++) b.store.publish(1, { task_id: i });
    const res = await call(b.url, 'GET', '/api/topics/1/messages?after=3');
    const ids = res.json.data.map((m: { id: number }) => m.id);
    expect(ids.filter((id: number) => id <= 3).length).toBeGreaterThan(0);
    expect(ids.filter((id: number) => id > 3)).toEqual([4, 5]);
    expect(ids).toEqual([...ids].sort((x: number, y: number) => x - y));
    expect(b.faultCounts().duplicate).toBe(1);
    // Nothing delivered yet: nothing to repeat, nothing counted.
    await call(b.url, 'GET', '/api/topics/1/messages?after=0');
    expect(b.faultCounts().duplicate).toBe(1);
  });

  it('injects only on the configured paths, and PUT /__faults changes faults at run time', async () => {
    const b = await start({ seed: 9, faults: { errorRate: 1, paths: ['/api/tasks'] } });
    expect((await call(b.url, 'GET', '/api/topics/tasks')).status).toBe(200);
    expect((await call(b.url, 'GET', '/api/tasks')).status).toBeGreaterThanOrEqual(500);

    const put = await call(b.url, 'PUT', '/__faults', { rateLimitRate: 1, paths: ['/api/topics'] });
    expect(put.status).toBe(200);
    expect(put.json.faults).toEqual({ rateLimitRate: 1, paths: ['/api/topics'] });
    expect((await call(b.url, 'GET', '/api/topics/tasks')).status).toBe(429);
    expect((await call(b.url, 'GET', '/api/tasks')).status).toBe(200);
    expect((await call(b.url, 'GET', '/__faults')).json.counts).toMatchObject({ error: 1, rateLimit: 1 });

    const bad = await call(b.url, 'PUT', '/__faults', { errorRate: 2 });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/^faults\.errorRate: expected a number from 0 to 1/);
    const unknown = await call(b.url, 'PUT', '/__faults', { errorrate: 0.1 });
    expect(unknown.json.error).toMatch(/^faults\.errorrate: unknown option/);
    expect(() => b.setFaults({ delayMs: -1 })).toThrow(/faults\.delayMs/);
  });
});
