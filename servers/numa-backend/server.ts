/**
 * The reference Numa backend: an HTTP server (node:http only) implementing numa-api.md, with
 * long polling, admin endpoints to create applications, tasks and messages, optional bearer-token
 * auth, an optional JSON data file, and seeded fault injection for tests.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import { AvatarError, describeError, isAvatarError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import type { Logger } from '../../core/log.ts';
import { FaultInjector, validateFaults } from './faults.ts';
import type { FaultOptions, RequestFault } from './faults.ts';
import {
  HttpError,
  optionalId,
  optionalNullableString,
  optionalString,
  readJsonObject,
  requireId,
  requireNonEmptyString,
  requireString,
  sendError,
  sendJson,
  sendText,
} from './http.ts';
import { loadSnapshot, SnapshotWriter } from './persist.ts';
import { NumaStore } from './store.ts';
import type { TopicMessage } from './store.ts';

export interface NumaBackendOptions {
  /** Default 7301; 0 lets the OS choose. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Persist the state as JSON here (atomic writes); loaded at start when present. */
  dataFile?: string;
  /** When set, every /api request needs `Authorization: Bearer <token>`. */
  apiToken?: string;
  faults?: FaultOptions;
  /** Seed of the fault PRNG (deterministic tests). */
  seed?: number;
  /** Cap on a long poll's wait, in seconds. Default 30. */
  maxWaitSeconds?: number;
  /** Default true; false ignores after/wait/limit and returns every message at once. */
  longPolling?: boolean;
  /** Request log (debug) and errors. Default: silent. */
  logger?: Logger;
  /** The store's clock (timestamps). */
  now?: () => Date;
}

export interface NumaBackend {
  url: string;
  port: number;
  store: NumaStore;
  setFaults(f: FaultOptions): void;
  /** The fault options in force. */
  faults(): FaultOptions;
  faultCounts(): Record<string, number>;
  /** Long polls waiting for a message right now (tests wait for a poll to be parked before publishing). */
  pendingPolls(): number;
  /** Ends pending long polls, closes the server, flushes the data file. */
  close(): Promise<void>;
}

export const DEFAULT_PORT = 7301;
export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
/** How long close() lets requests under way finish before it cuts their connections. */
const CLOSE_GRACE_MS = 2000;

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  path: string;
  params: string[];
}

interface Route {
  method: string;
  pattern: RegExp;
  handle(ctx: Ctx): Promise<Reply | undefined> | Reply | undefined;
}

export async function startNumaBackend(opts: NumaBackendOptions = {}): Promise<NumaBackend> {
  const host = opts.host ?? '127.0.0.1';
  const logger = opts.logger ?? silentLogger;
  const maxWaitSeconds = opts.maxWaitSeconds ?? 30;
  const longPolling = opts.longPolling ?? true;
  const injector = new FaultInjector(opts.faults ?? {}, opts.seed);
  const tokenDigest = opts.apiToken ? digest(opts.apiToken) : undefined;

  const snapshot = opts.dataFile ? await loadSnapshot(opts.dataFile) : undefined;
  const store = new NumaStore({ now: opts.now }, snapshot);
  const writer = opts.dataFile ? new SnapshotWriter(opts.dataFile, () => store.snapshot()) : undefined;
  if (writer) {
    store.onChange(() => {
      writer
        .save()
        .catch((err) => logger.error('cannot save the backend state', { error: describeError(err) }));
    });
    if (!snapshot) await writer.save();
  }

  let closing = false;
  /** Wakes every pending long poll and fault delay (close()). */
  const wakers = new Set<() => void>();
  let inFlight = 0;
  let pendingPolls = 0;
  let idle: (() => void) | undefined;

  const routes = buildRoutes();

  const server: Server = createServer((req, res) => {
    inFlight++;
    res.once('close', () => {
      inFlight--;
      if (inFlight === 0) idle?.();
    });
    const started = Date.now();
    res.once('finish', () =>
      logger.debug('request', {
        method: req.method,
        path: safePath(req.url),
        status: res.statusCode,
        ms: Date.now() - started,
      }),
    );
    handle(req, res).catch((err) => {
      logger.error('request failed', { path: safePath(req.url), error: describeError(err) });
      sendJson(res, 500, { error: `internal error: ${describeError(err)}` });
    });
  });
  // Long polls hold requests open: keep the server's own timeouts out of their way.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(
        new AvatarError(
          'CONFIG_INVALID',
          `the Numa reference backend cannot listen on ${host}:${opts.port ?? DEFAULT_PORT}: ${err.code ?? err.message}`,
          { cause: err },
        ),
      );
    server.once('error', onError);
    server.listen(opts.port ?? DEFAULT_PORT, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${urlHost(host)}:${port}`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let parsed: URL;
    try {
      parsed = new URL(req.url ?? '/', 'http://backend.invalid');
    } catch {
      return sendJson(res, 400, { error: 'request target is not a valid URL path' });
    }
    const path = parsed.pathname.length > 1 ? parsed.pathname.replace(/\/+$/, '') : parsed.pathname;
    const method = req.method ?? 'GET';
    if (closing) {
      req.resume();
      return sendJson(res, 503, { error: 'the backend is shutting down' }, { connection: 'close' });
    }
    try {
      if (path === '/healthz') {
        req.resume();
        if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method, path, ['GET']);
        return sendJson(res, 200, { ok: true });
      }
      if (path === '/__faults') return await handleFaults(req, res, method);
      if (path !== '/api' && !path.startsWith('/api/'))
        throw new HttpError(404, `no route for ${method} ${path}`);

      checkAuth(req);

      const fault = injector.requestFault(path);
      if (fault) {
        req.resume();
        return sendFault(res, fault);
      }
      const delayMs = injector.delay(path);
      if (delayMs > 0) await sleep(delayMs);
      if (res.destroyed) return;

      const { route, params, allowed } = match(method, path);
      if (!route) {
        if (allowed.length) throw methodNotAllowed(method, path, allowed);
        throw new HttpError(404, `no route for ${method} ${path}`);
      }
      const reply = await route.handle({ req, res, url: parsed, path, params });
      if (!reply) return;
      // A change is on disk before it is acknowledged.
      if (method !== 'GET' && writer) await writer.settled().catch(() => undefined);
      sendJson(res, reply.status, reply.body, {
        ...reply.headers,
        ...(closing ? { connection: 'close' } : {}),
      });
    } catch (err) {
      req.resume();
      if (err instanceof HttpError) return sendError(res, err);
      if (isAvatarError(err, 'BACKEND_NOT_FOUND')) return sendJson(res, 404, { error: err.message });
      if (isAvatarError(err, 'CONFIG_INVALID')) return sendJson(res, 400, { error: err.message });
      throw err;
    }
  }

  function match(method: string, path: string): { route?: Route; params: string[]; allowed: string[] } {
    const allowed: string[] = [];
    for (const route of routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      try {
        return { route, params: m.slice(1).map((p) => decodeURIComponent(p)), allowed };
      } catch {
        throw new HttpError(400, `path ${path} has an invalid percent-encoding`);
      }
    }
    return { params: [], allowed };
  }

  function checkAuth(req: IncomingMessage): void {
    if (!tokenDigest) return;
    const header = req.headers.authorization;
    const challenge = { headers: { 'www-authenticate': 'Bearer realm="numa"' } };
    if (!header)
      throw new HttpError(401, 'missing Authorization header: expected "Bearer <api token>"', challenge);
    const m = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (!m) throw new HttpError(401, 'Authorization header is not a Bearer token', challenge);
    if (!timingSafeEqual(digest(m[1]!.trim()), tokenDigest)) {
      throw new HttpError(401, 'the bearer token is not valid for this backend', challenge);
    }
  }

  async function handleFaults(req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    if (!isLoopback(host) || !isLoopback(req.socket.remoteAddress ?? '')) {
      req.resume();
      throw new HttpError(
        403,
        'fault injection is only available when the backend listens on a loopback address',
      );
    }
    if (method === 'GET') {
      req.resume();
      return sendJson(res, 200, { faults: injector.get(), counts: injector.countsByKind() });
    }
    if (method !== 'PUT') {
      req.resume();
      throw methodNotAllowed(method, '/__faults', ['GET', 'PUT']);
    }
    const body = await readJsonObject(req);
    injector.set(validateFaults(body));
    sendJson(res, 200, { faults: injector.get(), counts: injector.countsByKind() });
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      wakers.add(done);
    });
  }

  /** Resolves when a message with an id above `after` is published on the topic, after `ms`, when the client leaves, or on close. */
  function waitForMessage(topicId: number, after: number, ms: number, res: ServerResponse): Promise<void> {
    return new Promise((resolve) => {
      let done = false;
      pendingPolls++;
      const finish = () => {
        if (done) return;
        done = true;
        pendingPolls--;
        clearTimeout(timer);
        unsubscribe();
        wakers.delete(finish);
        res.off('close', finish);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      const unsubscribe = store.onMessage((m) => {
        if (m.topic_id === topicId && m.id > after) finish();
      });
      wakers.add(finish);
      res.once('close', finish);
    });
  }

  async function listMessages(ctx: Ctx): Promise<Reply | undefined> {
    const topic = store.getTopic(ctx.params[0]!);
    if (!topic) throw new HttpError(404, `topic ${ctx.params[0]} not found`);
    const q = ctx.url.searchParams;
    let after: number;
    let messages: TopicMessage[];
    if (!longPolling) {
      // A backend that does not long-poll: every message, at once. `after` only feeds the duplicate fault.
      after = Number(q.get('after') ?? 0) || 0;
      messages = store.messagesAfter(topic.id, 0);
    } else {
      after = intParam(q, 'after', 0, 0);
      const wait = Math.min(numberParam(q, 'wait', 0), maxWaitSeconds);
      const limit = Math.min(intParam(q, 'limit', DEFAULT_LIMIT, 1), MAX_LIMIT);
      messages = store.messagesAfter(topic.id, after, limit);
      if (messages.length === 0 && wait > 0 && !closing) {
        await waitForMessage(topic.id, after, wait * 1000, ctx.res);
        if (ctx.res.destroyed || ctx.res.writableEnded) return undefined;
        messages = store.messagesAfter(topic.id, after, limit);
      }
    }
    if (injector.duplicate(ctx.path)) {
      const repeated = store
        .messagesAfter(topic.id, 0)
        .filter((m) => m.id <= after)
        .slice(-3);
      if (repeated.length) {
        injector.countDuplicate();
        messages = [...repeated, ...messages].sort((a, b) => a.id - b.id);
      }
    }
    messages = messages.map((m) => {
      const broken = injector.malformed(ctx.path);
      return broken ? { ...m, data: broken.data } : m;
    });
    return { status: 200, body: { data: messages } };
  }

  function buildRoutes(): Route[] {
    const ID = '([^/]+)';
    const r = (method: string, pattern: string, handle: Route['handle']): Route => ({
      method,
      pattern: new RegExp(`^${pattern}$`),
      handle,
    });
    const taskOr404 = (id: string) => {
      const task = store.getTask(id);
      if (!task) throw new HttpError(404, `task ${id} not found`);
      return task;
    };
    return [
      // ---- topics ----
      r('GET', '/api/topics/tasks', () => {
        const topic = store.getTopicByName('tasks');
        if (!topic) throw new HttpError(404, 'topic tasks not found');
        return { status: 200, body: topic };
      }),
      r('GET', '/api/topics', () => ({ status: 200, body: { data: store.listTopics() } })),
      r('POST', '/api/topics', async ({ req }) => {
        const body = await readJsonObject(req);
        const name = requireNonEmptyString(body, 'name');
        return { status: 201, body: store.createTopic(name, optionalString(body, 'description') ?? '') };
      }),
      r('GET', `/api/topics/${ID}/messages`, listMessages),
      r('POST', `/api/topics/${ID}/messages`, async ({ req, params }) => {
        const body = await readJsonObject(req);
        if (!('data' in body))
          throw new HttpError(400, 'data: missing, expected any JSON value', { field: 'data' });
        if (!store.getTopic(params[0]!)) throw new HttpError(404, `topic ${params[0]} not found`);
        return { status: 201, body: store.publish(params[0]!, body.data) };
      }),

      // ---- tasks ----
      r('GET', '/api/tasks', () => ({ status: 200, body: { data: store.listTasks() } })),
      r('POST', '/api/tasks', async ({ req }) => {
        const body = await readJsonObject(req);
        const task = store.createTask({
          title: requireNonEmptyString(body, 'title'),
          description: optionalString(body, 'description'),
          application_id: requireId(body, 'application_id'),
          status: optionalString(body, 'status'),
          code_branch: optionalString(body, 'code_branch'),
          assigned_to: optionalId(body, 'assigned_to'),
          solution_id: optionalId(body, 'solution_id'),
          requirement_id: optionalId(body, 'requirement_id'),
        });
        return { status: 201, body: task };
      }),
      r('GET', `/api/tasks/${ID}`, ({ params }) => ({ status: 200, body: taskOr404(params[0]!) })),
      r('PUT', `/api/tasks/${ID}/status`, async ({ req, params }) => {
        const body = await readJsonObject(req);
        taskOr404(params[0]!);
        const status = requireString(body, 'status');
        if (status.trim() === '') throw new HttpError(400, 'status: must not be empty', { field: 'status' });
        return { status: 200, body: store.setStatus(params[0]!, status) };
      }),
      r('GET', `/api/tasks/${ID}/status-history`, ({ params }) => ({
        status: 200,
        body: { data: store.statusHistoryOf(taskOr404(params[0]!).id) },
      })),
      r('POST', `/api/tasks/${ID}/logs`, async ({ req, params }) => {
        const body = await readJsonObject(req);
        taskOr404(params[0]!);
        store.appendLogs(params[0]!, requireString(body, 'logs'));
        return { status: 200, body: { success: true } };
      }),
      r('GET', `/api/tasks/${ID}/logs`, ({ params }) => ({
        status: 200,
        body: { data: store.logsOf(taskOr404(params[0]!).id) },
      })),

      // ---- applications ----
      r('GET', '/api/applications', () => ({ status: 200, body: { data: store.listApplications() } })),
      r('POST', '/api/applications', async ({ req }) => {
        const body = await readJsonObject(req);
        const app = store.createApplication({
          name: requireNonEmptyString(body, 'name'),
          description: optionalString(body, 'description'),
          git_repo_url: requireNonEmptyString(body, 'git_repo_url'),
          owner: optionalNullableString(body, 'owner'),
        });
        return { status: 201, body: app };
      }),
      r('GET', `/api/applications/${ID}`, ({ params }) => {
        const app = store.getApplication(params[0]!);
        if (!app) throw new HttpError(404, `application ${params[0]} not found`);
        return { status: 200, body: app };
      }),

      // ---- solutions and requirements ----
      r('POST', '/api/solutions', async ({ req }) => {
        const body = await readJsonObject(req);
        const doc = store.createSolution({
          title: requireNonEmptyString(body, 'title'),
          content: optionalString(body, 'content'),
        });
        return { status: 201, body: doc };
      }),
      r('GET', `/api/solutions/${ID}`, ({ params }) => {
        const doc = store.getSolution(params[0]!);
        if (!doc) throw new HttpError(404, `solution ${params[0]} not found`);
        return { status: 200, body: doc };
      }),
      r('POST', '/api/requirements', async ({ req }) => {
        const body = await readJsonObject(req);
        const doc = store.createRequirement({
          title: requireNonEmptyString(body, 'title'),
          content: optionalString(body, 'content'),
        });
        return { status: 201, body: doc };
      }),
      r('GET', `/api/requirements/${ID}`, ({ params }) => {
        const doc = store.getRequirement(params[0]!);
        if (!doc) throw new HttpError(404, `requirement ${params[0]} not found`);
        return { status: 200, body: doc };
      }),
    ];
  }

  let closed: Promise<void> | undefined;
  async function close(): Promise<void> {
    closing = true;
    for (const wake of [...wakers]) wake();
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    if (inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_GRACE_MS);
        idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    server.closeAllConnections();
    await serverClosed;
    await writer?.flush();
  }

  return {
    url,
    port,
    store,
    setFaults: (f) => injector.set(f),
    faults: () => injector.get(),
    faultCounts: () => injector.countsByKind(),
    pendingPolls: () => pendingPolls,
    close: () => (closed ??= close()),
  };
}

function sendFault(res: ServerResponse, fault: RequestFault): void {
  if (fault.kind === 'rateLimit') {
    const headers: Record<string, string> =
      fault.retryAfterSeconds !== undefined
        ? { 'retry-after': String(Math.ceil(fault.retryAfterSeconds)) }
        : {};
    return sendJson(res, 429, { error: 'too many requests (injected fault)' }, headers);
  }
  if (fault.status === 502) {
    // What a proxy in front of a backend answers: not JSON.
    return sendText(
      res,
      502,
      '<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>\n',
      'text/html; charset=utf-8',
    );
  }
  if (fault.status === 503) {
    return sendJson(res, 503, { error: 'service unavailable (injected fault)' });
  }
  return sendJson(res, 500, { error: 'internal server error (injected fault)' });
}

function methodNotAllowed(method: string, path: string, allowed: string[]): HttpError {
  const list = [...new Set(allowed)];
  return new HttpError(405, `method ${method} is not allowed on ${path} (allowed: ${list.join(', ')})`, {
    headers: { allow: list.join(', ') },
  });
}

function intParam(q: URLSearchParams, name: string, fallback: number, min: number): number {
  const raw = q.get(name);
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    throw new HttpError(400, `${name}: expected an integer of at least ${min}, got ${JSON.stringify(raw)}`, {
      field: name,
    });
  }
  return n;
}

function numberParam(q: URLSearchParams, name: string, fallback: number): number {
  const raw = q.get(name);
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    throw new HttpError(
      400,
      `${name}: expected a number of seconds of at least 0, got ${JSON.stringify(raw)}`,
      {
        field: name,
      },
    );
  }
  return n;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** The path of a request target without its query (queries are not logged). */
function safePath(target: string | undefined): string {
  return (target ?? '/').split('?')[0] ?? '/';
}

export function isLoopback(address: string): boolean {
  const a = address.replace(/^::ffff:/, '');
  return a === 'localhost' || a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a);
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
