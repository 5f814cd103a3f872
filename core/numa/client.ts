/**
 * The Numa backend client: the six endpoints of numa-api.md, Bearer auth, a timeout per request,
 * retries with exponential backoff and full jitter on 5xx, 429 (Retry-After honoured) and network
 * errors, no retry on other 4xx, typed errors, and response validation that names the field.
 */
import * as z from 'zod/mini';
import { AvatarError, describeError } from '../errors.ts';
import type { Id } from '../message.ts';
import { describeIssues } from '../message.ts';
import type { Clock } from '../ports.ts';
import { systemClock } from '../ports.ts';
import { Redactor } from '../redact.ts';
import { backoffDelay, parseRetryAfter } from '../retry.ts';
import { nodeHttpFetch, type HttpFetch, type HttpResponse } from './http.ts';
import {
  applicationSchema,
  messageListSchema,
  taskSchema,
  topicMessageSchema,
  topicSchema,
  type Application,
  type Task,
  type Topic,
  type TopicMessage,
} from './schemas.ts';

export interface NumaClientOptions {
  baseUrl: string;
  apiToken?: string;
  /** Per-request timeout in ms (a long poll adds its wait on top). Default 30 000. */
  timeoutMs?: number;
  /** Attempts per call including the first. Default 5. */
  maxAttempts?: number;
  backoff?: { baseMs: number; capMs: number };
  /** Longest Retry-After honoured, ms. Default 60 000. */
  maxRetryAfterMs?: number;
  /** The HTTP transport (default: node:http; the global `fetch` fits too). */
  fetch?: HttpFetch;
  clock?: Clock;
  random?: () => number;
  /** Called before each retry (for logs and metrics). */
  onRetry?: (info: {
    method: string;
    path: string;
    attempt: number;
    delayMs: number;
    error: AvatarError;
  }) => void;
  userAgent?: string;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides maxAttempts for this call (the poll loop makes one attempt and owns its own backoff). */
  maxAttempts?: number;
}

export interface MessagesQuery {
  after?: Id;
  wait?: number;
  limit?: number;
}

export interface MessagesPage {
  /** Messages that parsed as messages (id present). */
  messages: TopicMessage[];
  /** Entries of `data` that are not messages at all (no id): kept for the dead-letter store. */
  invalid: Array<{ raw: unknown; reason: string }>;
}

const RETRYABLE = new Set(['BACKEND_UNAVAILABLE', 'BACKEND_TIMEOUT']);

export class NumaClient {
  private readonly opts: Required<
    Pick<NumaClientOptions, 'timeoutMs' | 'maxAttempts' | 'backoff' | 'maxRetryAfterMs' | 'userAgent'>
  > &
    NumaClientOptions;
  private readonly fetchImpl: HttpFetch;
  private readonly clock: Clock;
  private readonly redactor: Redactor;

  constructor(options: NumaClientOptions) {
    let base: URL;
    try {
      base = new URL(options.baseUrl);
    } catch (cause) {
      throw new AvatarError('CONFIG_INVALID', `backend.url: not a valid URL (${options.baseUrl})`, { cause });
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new AvatarError(
        'CONFIG_INVALID',
        `backend.url: expected http:// or https://, got ${base.protocol}`,
      );
    }
    this.opts = {
      timeoutMs: 30_000,
      maxAttempts: 5,
      backoff: { baseMs: 500, capMs: 30_000 },
      maxRetryAfterMs: 60_000,
      userAgent: 'numa-avatar',
      ...options,
      baseUrl: options.baseUrl.replace(/\/+$/, ''),
    };
    this.fetchImpl = options.fetch ?? nodeHttpFetch;
    this.clock = options.clock ?? systemClock;
    this.redactor = new Redactor([options.apiToken]);
  }

  get baseUrl(): string {
    return this.opts.baseUrl;
  }

  getTaskTopic(call?: CallOptions): Promise<Topic> {
    return this.request('GET', '/api/topics/tasks', { schema: topicSchema, call });
  }

  /**
   * Long-polls the topic's messages. Entries without a usable id are returned in `invalid` (the
   * caller dead-letters them) so one bad entry never hides the good ones.
   */
  async getMessages(topicId: Id, query: MessagesQuery, call?: CallOptions): Promise<MessagesPage> {
    const params = new URLSearchParams();
    if (query.after !== undefined) params.set('after', String(query.after));
    if (query.wait !== undefined) params.set('wait', String(query.wait));
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    const qs = params.toString();
    const path = `/api/topics/${seg(topicId)}/messages${qs ? '?' + qs : ''}`;
    const body = await this.request('GET', path, {
      schema: messageListSchema,
      call,
      extraTimeoutMs: (query.wait ?? 0) * 1000,
    });
    const page: MessagesPage = { messages: [], invalid: [] };
    body.data.forEach((entry, index) => {
      const parsed = topicMessageSchema.safeParse(entry);
      if (parsed.success) page.messages.push(parsed.data);
      else page.invalid.push({ raw: entry, reason: `data[${index}]: ${describeIssues(parsed.error)}` });
    });
    return page;
  }

  getTask(taskId: Id, call?: CallOptions): Promise<Task> {
    return this.request('GET', `/api/tasks/${seg(taskId)}`, { schema: taskSchema, call });
  }

  updateStatus(taskId: Id, status: string, call?: CallOptions): Promise<Task> {
    return this.request('PUT', `/api/tasks/${seg(taskId)}/status`, {
      schema: taskSchema,
      body: { status },
      call,
    });
  }

  async appendLogs(taskId: Id, logs: string, call?: CallOptions): Promise<void> {
    await this.request('POST', `/api/tasks/${seg(taskId)}/logs`, { body: { logs }, call });
  }

  getApplication(appId: Id, call?: CallOptions): Promise<Application> {
    return this.request('GET', `/api/applications/${seg(appId)}`, { schema: applicationSchema, call });
  }

  /** GET of an optional resource: undefined on 404 (e.g. solutions and requirements). */
  async getOptional<T>(path: string, schema: z.core.$ZodType<T>, call?: CallOptions): Promise<T | undefined> {
    try {
      return await this.request('GET', path, { schema, call });
    } catch (err) {
      if (err instanceof AvatarError && err.code === 'BACKEND_NOT_FOUND') return undefined;
      throw err;
    }
  }

  private async request<T = unknown>(
    method: string,
    path: string,
    o: { schema?: z.core.$ZodType<T>; body?: unknown; call?: CallOptions; extraTimeoutMs?: number },
  ): Promise<T> {
    const attempts = Math.max(1, o.call?.maxAttempts ?? this.opts.maxAttempts);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(method, path, o);
      } catch (err) {
        const error =
          err instanceof AvatarError ? err : new AvatarError('BACKEND_UNAVAILABLE', describeError(err));
        const retryable = RETRYABLE.has(error.code) || (error as RetryableError).retryAfterMs !== undefined;
        if (!retryable || attempt >= attempts || o.call?.signal?.aborted) throw error;
        const retryAfter = (error as RetryableError).retryAfterMs;
        const jitter = backoffDelay(attempt - 1, { ...this.opts.backoff, random: this.opts.random });
        const delayMs =
          retryAfter !== undefined
            ? Math.min(this.opts.maxRetryAfterMs, Math.max(retryAfter, jitter))
            : jitter;
        this.opts.onRetry?.({ method, path, attempt, delayMs, error });
        await this.clock.sleep(delayMs, o.call?.signal);
        if (o.call?.signal?.aborted) throw error;
      }
    }
  }

  private async once<T>(
    method: string,
    path: string,
    o: { schema?: z.core.$ZodType<T>; body?: unknown; call?: CallOptions; extraTimeoutMs?: number },
  ): Promise<T> {
    const where = `${method} ${path.split('?')[0]}`;
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.opts.userAgent };
    if (this.opts.apiToken) headers.authorization = `Bearer ${this.opts.apiToken}`;
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    const timeoutMs = this.opts.timeoutMs + (o.extraTimeoutMs ?? 0);
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = o.call?.signal ? AbortSignal.any([timeout, o.call.signal]) : timeout;

    let res: HttpResponse;
    let text: string;
    try {
      res = await this.fetchImpl(this.opts.baseUrl + path, {
        method,
        headers,
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
        signal,
      });
      text = await res.text();
    } catch (cause) {
      if (timeout.aborted) {
        throw new AvatarError('BACKEND_TIMEOUT', `${where}: no answer within ${timeoutMs} ms`, { cause });
      }
      if (o.call?.signal?.aborted) throw new AvatarError('RUN_ABORTED', `${where}: aborted`, { cause });
      throw new AvatarError(
        'BACKEND_UNAVAILABLE',
        this.redactor.redact(`${where}: ${describeCause(cause)} (backend ${this.opts.baseUrl})`),
        { cause },
      );
    }

    if (!res.ok) throw this.httpError(where, res, text);

    let json: unknown;
    try {
      json = text.length === 0 ? {} : JSON.parse(text);
    } catch (cause) {
      throw new AvatarError(
        'BACKEND_BAD_RESPONSE',
        // Redacted before it is cut: a secret cut in two would no longer match.
        `${where}: response is not JSON (HTTP ${res.status}, starts with ${JSON.stringify(this.redactor.redact(text).slice(0, 60))})`,
        { cause },
      );
    }
    if (!o.schema) return json as T;
    const parsed = z.safeParse(o.schema, json);
    if (!parsed.success) {
      throw new AvatarError(
        'BACKEND_BAD_RESPONSE',
        this.redactor.redact(`${where}: response ${describeIssues(parsed.error)}`),
      );
    }
    return parsed.data;
  }

  private httpError(where: string, res: HttpResponse, text: string): AvatarError {
    const detail = errorDetail(text, (t) => this.redactor.redact(t));
    const status = res.status;
    if (status === 401 || status === 403) {
      return new AvatarError(
        'BACKEND_AUTH',
        `${where}: the backend refused the request (HTTP ${status}${detail}); check backend.api_token (NUMA_API_TOKEN)`,
      );
    }
    if (status === 404)
      return new AvatarError('BACKEND_NOT_FOUND', `${where}: not found (HTTP 404${detail})`);
    if (status === 429) {
      const err = new AvatarError(
        'BACKEND_UNAVAILABLE',
        `${where}: rate limited (HTTP 429${detail})`,
      ) as RetryableError;
      err.retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), this.clock.now()) ?? 0;
      return err;
    }
    if (status >= 500) {
      const err = new AvatarError(
        'BACKEND_UNAVAILABLE',
        `${where}: backend error (HTTP ${status}${detail})`,
      ) as RetryableError;
      const ra = parseRetryAfter(res.headers.get('retry-after'), this.clock.now());
      if (ra !== undefined) err.retryAfterMs = ra;
      return err;
    }
    return new AvatarError('BACKEND_CLIENT_ERROR', `${where}: rejected (HTTP ${status}${detail})`);
  }
}

type RetryableError = AvatarError & { retryAfterMs?: number };

function seg(id: Id): string {
  return encodeURIComponent(String(id));
}

/** The server's own words about an error, redacted before they are cut (a secret cut in two would survive). */
function errorDetail(text: string, redact: (t: string) => string): string {
  if (!text) return '';
  try {
    const j = JSON.parse(text) as { error?: unknown; message?: unknown };
    const m = j.error ?? j.message;
    if (typeof m === 'string') return `: ${redact(m).slice(0, 200)}`;
  } catch {
    /* not JSON: use the text */
  }
  return `: ${redact(text).slice(0, 120).replace(/\s+/g, ' ')}`;
}

/** "connect ECONNREFUSED 127.0.0.1:9", or fetch's "fetch failed (ECONNREFUSED)" (its code is on the cause). */
function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const codeOf = (e: unknown) =>
      e && typeof e === 'object' && 'code' in e ? String((e as { code: unknown }).code) : '';
    const code = codeOf((cause as Error & { cause?: unknown }).cause) || codeOf(cause);
    return code && !cause.message.includes(code) ? `${cause.message} (${code})` : cause.message;
  }
  return String(cause);
}
