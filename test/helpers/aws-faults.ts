/**
 * Fault injection for AWS SDK v3 clients, for tests against moto: a middleware at the innermost
 * end of the client's stack ('deserialize' step, priority low: inside the SDK's retry loop and
 * below its deserializer) that, for a seeded share of calls,
 *
 * - throttles: answers with the service's own throttling error as raw HTTP, which the SDK's real
 *   deserializer turns into the modeled exception (SQS ThrottlingException 400 in AWS JSON 1.0,
 *   S3 SlowDown 503 in XML, ECS ThrottlingException / RequestLimitExceeded 400 in AWS JSON 1.1,
 *   Secrets Manager ThrottlingException 400). The request never reaches the emulator.
 * - fails: HTTP 500 with the service's internal error code (InternalFailure, InternalError,
 *   ServerException, InternalServiceError). The request never reaches the emulator.
 * - cuts the network before the request is sent (ECONNREFUSED): it never reaches the emulator.
 * - loses the response: the request reaches the emulator and is carried out, and the client gets
 *   ECONNRESET ("socket hang up") instead of the answer: the nastiest case, a write that happened
 *   but looks failed (the SDK then retries it).
 *
 * It also makes moto's RunTask honour `clientToken` as ECS does (moto 5.2 ignores it): a RunTask
 * whose token already started a task is answered with that same answer and never reaches moto.
 * Every RunTask that reaches moto is recorded (token, parameters, task ARN).
 *
 * Use: in a test file, replace the SDK client classes with `faultyClientClass(Base, service)`
 * through vi.mock, so that every client the product builds (in its handlers' own init code) gets
 * the middleware; clients the test itself uses to set up and inspect are `exempt()`.
 */
import { createHash } from 'node:crypto';
import { mulberry32 } from '../../core/random.ts';

export type AwsService = 'sqs' | 's3' | 'ecs' | 'secretsmanager';
export const AWS_SERVICES: readonly AwsService[] = ['sqs', 's3', 'ecs', 'secretsmanager'];
export type AwsFaultKind = 'throttle' | 'server-error' | 'network' | 'lost-response';
export const AWS_FAULT_KINDS: readonly AwsFaultKind[] = [
  'throttle',
  'server-error',
  'network',
  'lost-response',
];

export interface AwsFaultOptions {
  /** Share (0..1) of calls that get a fault. */
  rate: number;
  /** Relative weights of the kinds (default throttle 4, server-error 2, network 2, lost-response 2). */
  weights?: Partial<Record<AwsFaultKind, number>>;
  /** Only these services (default all). */
  services?: readonly AwsService[];
  seed: number;
}

export interface RunTaskCall {
  clientToken: string;
  startedBy: string;
  /** The runner container's environment overrides (NUMA_TASK_ID, NUMA_RUN_ID, NUMA_MESSAGE). */
  env: Record<string, string>;
  /** SHA-256 of the request body: ECS wants the same parameters with the same token. */
  paramsHash: string;
  taskArn?: string;
}

interface RawResponse {
  statusCode: number;
  reason?: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

interface HttpRequestLike {
  headers: Record<string, string>;
  body?: unknown;
}

interface MiddlewareStackLike {
  add(
    middleware: (
      next: (args: { request: unknown }) => Promise<{ response: unknown; output?: unknown }>,
      context: { commandName?: string },
    ) => (args: { request: unknown }) => Promise<{ response: unknown; output?: unknown }>,
    options: { step: 'deserialize'; priority: 'low'; name: string },
  ): void;
}

const enc = (s: string) => new TextEncoder().encode(s);

function jsonError(service: AwsService, status: number, type: string, message: string): RawResponse {
  const contentType = service === 'sqs' ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1';
  const prefix = service === 'sqs' ? 'com.amazonaws.sqs#' : '';
  return {
    statusCode: status,
    headers: { 'content-type': contentType, 'x-amzn-requestid': 'fault-injected' },
    body: enc(JSON.stringify({ __type: `${prefix}${type}`, message })),
  };
}

function s3Error(status: number, code: string, message: string): RawResponse {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/xml', 'x-amz-request-id': 'fault-injected' },
    body: enc(
      `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-injected</RequestId></Error>`,
    ),
  };
}

function throttleResponse(service: AwsService, pick: number): RawResponse {
  switch (service) {
    case 's3':
      return s3Error(503, 'SlowDown', 'Please reduce your request rate.');
    case 'ecs':
      return pick < 0.5
        ? jsonError(service, 400, 'ThrottlingException', 'Rate exceeded')
        : jsonError(service, 400, 'RequestLimitExceeded', 'Request limit exceeded.');
    default:
      return jsonError(service, 400, 'ThrottlingException', 'Rate exceeded');
  }
}

function serverErrorResponse(service: AwsService): RawResponse {
  switch (service) {
    case 's3':
      return s3Error(500, 'InternalError', 'We encountered an internal error. Please try again.');
    case 'ecs':
      return jsonError(service, 500, 'ServerException', 'Service unavailable. Try again later.');
    case 'secretsmanager':
      return jsonError(service, 500, 'InternalServiceError', 'An error occurred on the server side.');
    default:
      return jsonError(service, 500, 'InternalFailure', 'The request processing has failed.');
  }
}

function networkError(code: 'ECONNREFUSED' | 'ECONNRESET'): Error {
  const message = code === 'ECONNRESET' ? 'socket hang up' : 'connect ECONNREFUSED 127.0.0.1:443';
  return Object.assign(new Error(message), { code });
}

async function readBody(body: unknown): Promise<Uint8Array> {
  if (body instanceof Uint8Array) return body;
  if (body === undefined || body === null) return new Uint8Array();
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/** Drains a response body nobody will read (frees the socket). */
function discard(body: unknown): void {
  const b = body as { resume?: () => void } | undefined;
  if (b && typeof b.resume === 'function') b.resume();
}

/** The state shared by every faulty client of a test file: the dice, the counts and the RunTask log. */
export class AwsFaults {
  private opts: AwsFaultOptions = { rate: 0, seed: 1 };
  private random: () => number = mulberry32(1);
  private readonly exempted = new WeakSet<object>();
  private readonly tokens = new Map<string, { response: RawResponse; paramsHash: string }>();
  /** RunTask calls under way, by token: ECS answers concurrent calls with one token with one task. */
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Faults injected, by service and kind. */
  readonly counts: Record<AwsService, Record<AwsFaultKind, number>> = Object.fromEntries(
    AWS_SERVICES.map((s) => [s, Object.fromEntries(AWS_FAULT_KINDS.map((k) => [k, 0]))]),
  ) as Record<AwsService, Record<AwsFaultKind, number>>;
  /** Calls made by faulty (non-exempt) clients, by service. */
  readonly calls: Record<AwsService, number> = { sqs: 0, s3: 0, ecs: 0, secretsmanager: 0 };
  /** Faults by command name ("ecs RunTaskCommand": 3). */
  readonly byCommand = new Map<string, number>();
  /** RunTask requests that reached moto, in order. */
  readonly runTasks: RunTaskCall[] = [];
  /** RunTask requests answered from the clientToken (ECS idempotency) instead of reaching moto. */
  runTaskReplays = 0;
  /** RunTask requests that reused a token with different parameters (ECS would refuse them). */
  readonly tokenMismatches: string[] = [];

  configure(opts: AwsFaultOptions): void {
    this.opts = { ...opts };
    this.random = mulberry32(opts.seed);
  }

  /** Turns injection off (setup and inspection at the end). */
  off(): void {
    this.opts = { ...this.opts, rate: 0 };
  }

  /** A client the test uses itself: never faulted, and its RunTask calls are not emulated. */
  exempt<T extends object>(client: T): T {
    this.exempted.add(client);
    return client;
  }

  totalFaults(): number {
    return AWS_SERVICES.reduce((n, s) => n + AWS_FAULT_KINDS.reduce((m, k) => m + this.counts[s][k], 0), 0);
  }

  faultsByKind(): Record<AwsFaultKind, number> {
    const out = Object.fromEntries(AWS_FAULT_KINDS.map((k) => [k, 0])) as Record<AwsFaultKind, number>;
    for (const s of AWS_SERVICES) for (const k of AWS_FAULT_KINDS) out[k] += this.counts[s][k];
    return out;
  }

  private pickFault(service: AwsService): AwsFaultKind | undefined {
    const { rate, services, weights } = this.opts;
    if (rate <= 0 || (services && !services.includes(service))) return undefined;
    if (this.random() >= rate) return undefined;
    const w: Record<AwsFaultKind, number> = {
      throttle: 4,
      'server-error': 2,
      network: 2,
      'lost-response': 2,
      ...weights,
    };
    const total = AWS_FAULT_KINDS.reduce((n, k) => n + w[k], 0);
    let roll = this.random() * total;
    for (const k of AWS_FAULT_KINDS) {
      roll -= w[k];
      if (roll < 0) return k;
    }
    return 'throttle';
  }

  /** Adds the fault middleware to a client (done by the faulty classes' constructor). */
  install(client: { middlewareStack: unknown }, service: AwsService): void {
    const stack = client.middlewareStack as MiddlewareStackLike;
    stack.add(
      (next, context) => async (args) => {
        if (this.exempted.has(client)) return next(args);
        this.calls[service]++;
        const command = context.commandName ?? 'unknown';
        const isRunTask = service === 'ecs' && command === 'RunTaskCommand';
        const fault = this.pickFault(service);
        if (fault) {
          this.counts[service][fault]++;
          const label = `${service} ${command}`;
          this.byCommand.set(label, (this.byCommand.get(label) ?? 0) + 1);
        }
        if (fault === 'throttle') return { response: throttleResponse(service, this.random()) };
        if (fault === 'server-error') return { response: serverErrorResponse(service) };
        if (fault === 'network') throw networkError('ECONNREFUSED');

        let result: { response: unknown; output?: unknown };
        if (isRunTask) {
          result = await this.runTask(args.request as HttpRequestLike, () => next(args));
        } else {
          result = await next(args);
        }
        if (fault === 'lost-response') {
          discard((result.response as { body?: unknown }).body);
          throw networkError('ECONNRESET');
        }
        return result;
      },
      { step: 'deserialize', priority: 'low', name: 'injectedAwsFaults' },
    );
  }

  /** ECS's clientToken idempotency, which moto lacks; records each RunTask that reaches moto. */
  private async runTask(
    request: HttpRequestLike,
    send: () => Promise<{ response: unknown; output?: unknown }>,
  ): Promise<{ response: unknown; output?: unknown }> {
    const raw = request.body;
    // The SDK's JSON codec hands over bytes (a Uint8Array) or, in older versions, a string.
    const bodyText =
      typeof raw === 'string'
        ? raw
        : raw instanceof Uint8Array
          ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8')
          : '';
    const input = JSON.parse(bodyText || '{}') as {
      clientToken?: string;
      startedBy?: string;
      overrides?: { containerOverrides?: Array<{ environment?: Array<{ name: string; value: string }> }> };
    };
    const token = input.clientToken ?? '';
    const paramsHash = createHash('sha256').update(bodyText).digest('hex');
    for (let pending = this.inFlight.get(token); token && pending; pending = this.inFlight.get(token)) {
      await pending;
    }
    const known = token ? this.tokens.get(token) : undefined;
    if (known) {
      this.runTaskReplays++;
      if (known.paramsHash !== paramsHash) this.tokenMismatches.push(token);
      return { response: { ...known.response, body: known.response.body.slice() } };
    }
    const env: Record<string, string> = {};
    for (const e of input.overrides?.containerOverrides?.[0]?.environment ?? []) env[e.name] = e.value;
    const call: RunTaskCall = { clientToken: token, startedBy: input.startedBy ?? '', env, paramsHash };
    this.runTasks.push(call);
    let finished = () => {};
    if (token) this.inFlight.set(token, new Promise<void>((resolve) => (finished = resolve)));
    try {
      return await this.forward(call, token, paramsHash, send);
    } finally {
      if (token) this.inFlight.delete(token);
      finished();
    }
  }

  private async forward(
    call: RunTaskCall,
    token: string,
    paramsHash: string,
    send: () => Promise<{ response: unknown; output?: unknown }>,
  ): Promise<{ response: unknown; output?: unknown }> {
    const result = await send();
    const res = result.response as RawResponse & { body: unknown };
    const body = await readBody(res.body);
    const buffered: RawResponse = {
      statusCode: res.statusCode,
      ...(res.reason !== undefined ? { reason: res.reason } : {}),
      headers: res.headers,
      body,
    };
    if (res.statusCode === 200) {
      const out = JSON.parse(Buffer.from(body).toString('utf8')) as { tasks?: Array<{ taskArn?: string }> };
      const arn = out.tasks?.[0]?.taskArn;
      if (arn) {
        call.taskArn = arn;
        if (token) this.tokens.set(token, { response: buffered, paramsHash });
      }
    }
    return { ...result, response: { ...buffered, body: body.slice() } };
  }
}

/** The one instance a test file shares between its mocked SDK modules and its own code. */
export const awsFaults = new AwsFaults();

/**
 * SDK retries as the standard mode decides them (throttling, transient and server errors; not
 * client errors), with `attempts` tries and a few milliseconds of backoff instead of the SDK's
 * 100–500 ms base, so that a run with hundreds of injected faults stays short.
 */
export function quickRetryStrategy(attempts: number) {
  const token = (count: number) => ({
    getRetryCount: () => count,
    getRetryDelay: () => 2 + count * 3,
    getRetryTokenCount: () => 0,
  });
  return {
    mode: 'standard',
    acquireInitialRetryToken: async (_scope: string) => token(0),
    refreshRetryTokenForRetry: async (t: { getRetryCount(): number }, info: { errorType: string }) => {
      if (info.errorType === 'CLIENT_ERROR' || t.getRetryCount() + 1 >= attempts) {
        throw new Error('no more retries');
      }
      return token(t.getRetryCount() + 1);
    },
    recordSuccess: (_t: unknown) => undefined,
  };
}

/** SDK attempts per call in the faulty clients (the SDK's default is 3). */
export const FAULTY_CLIENT_ATTEMPTS = 2;

// A mixin's constructor must take `...args: any[]` (TypeScript's rule for class mixins, TS2545).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ClientClass = new (...args: any[]) => { middlewareStack: unknown };

/**
 * A subclass of an SDK client class whose instances carry the fault middleware and quick retries:
 *   vi.mock('@aws-sdk/client-sqs', async (orig) => {
 *     const mod = await orig<typeof import('@aws-sdk/client-sqs')>();
 *     return { ...mod, SQSClient: faultyClientClass(mod.SQSClient, 'sqs') };
 *   });
 */
export function faultyClientClass<T extends ClientClass>(Base: T, service: AwsService): T {
  return class extends Base {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the mixin constructor (see ClientClass)
    constructor(...args: any[]) {
      const config = (args[0] ?? {}) as Record<string, unknown>;
      super({ ...config, retryStrategy: quickRetryStrategy(FAULTY_CLIENT_ATTEMPTS) }, ...args.slice(1));
      awsFaults.install(this, service);
    }
  };
}
