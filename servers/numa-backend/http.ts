/**
 * Small HTTP helpers for the reference backend (node:http only): JSON responses, JSON request
 * bodies with a size limit, and the error type the handlers throw to answer 4xx.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AvatarError } from '../../core/errors.ts';
import type { ErrorCode } from '../../core/errors.ts';
import { describeType } from '../../core/message.ts';

export const MAX_BODY_BYTES = 5 * 1024 * 1024;

/** An error answered with `status` and `{ "error": message, "field"?: field }`. */
export class HttpError extends AvatarError {
  readonly status: number;
  readonly field: string | undefined;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    message: string,
    opts: { field?: string; headers?: Record<string, string> } = {},
  ) {
    super(codeFor(status), message);
    this.status = status;
    this.field = opts.field;
    this.headers = opts.headers ?? {};
  }
}

function codeFor(status: number): ErrorCode {
  if (status === 401 || status === 403) return 'BACKEND_AUTH';
  if (status === 404) return 'BACKEND_NOT_FOUND';
  if (status >= 500) return 'BACKEND_UNAVAILABLE';
  return 'BACKEND_CLIENT_ERROR';
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  contentType: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: HttpError): void {
  const body: { error: string; field?: string } = { error: err.message };
  if (err.field) body.field = err.field;
  sendJson(res, err.status, body, err.headers);
}

/** Reads the whole body as text; 413 past `limit` bytes (the rest of the body is drained, not read). */
export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string> {
  const declared = Number(req.headers['content-length']);
  const tooLarge = () =>
    new HttpError(413, `request body is larger than ${limit} bytes`, { headers: { connection: 'close' } });
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw tooLarge();
  }
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const onData = (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        // Keep draining (without keeping) so the client can still read the 413.
        failed = true;
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (!failed) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.once('error', (err) => {
      if (!failed) reject(new HttpError(400, `request body could not be read: ${err.message}`));
      failed = true;
    });
    req.once('close', () => {
      if (!failed && !req.complete) {
        failed = true;
        reject(new HttpError(400, 'request body ended early: the client closed the connection'));
      }
    });
  });
}

/** Reads a JSON object body. 400 naming the problem when it is empty, not JSON, or not an object. */
export async function readJsonObject(
  req: IncomingMessage,
  limit = MAX_BODY_BYTES,
): Promise<Record<string, unknown>> {
  const text = await readBody(req, limit);
  if (text.trim() === '') throw new HttpError(400, 'request body is empty: expected a JSON object');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `request body is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpError(400, `request body: expected a JSON object, got ${describeType(value)}`);
  }
  return value as Record<string, unknown>;
}

// ---- field validation: each error names the field ----

export function requireString(body: Record<string, unknown>, field: string): string {
  const v = body[field];
  if (typeof v !== 'string') {
    throw new HttpError(
      400,
      `${field}: ${v === undefined ? 'missing, expected a string' : `expected a string, got ${describeType(v)}`}`,
      { field },
    );
  }
  return v;
}

export function requireNonEmptyString(body: Record<string, unknown>, field: string): string {
  const v = requireString(body, field);
  if (v.trim() === '') throw new HttpError(400, `${field}: must not be empty`, { field });
  return v;
}

export function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  return body[field] === undefined ? undefined : requireString(body, field);
}

export function optionalNullableString(
  body: Record<string, unknown>,
  field: string,
): string | null | undefined {
  return body[field] === null ? null : optionalString(body, field);
}

/** An id: an integer or a non-empty string. */
export function requireId(body: Record<string, unknown>, field: string): number | string {
  const v = body[field];
  if ((typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && v.trim() !== '')) return v;
  throw new HttpError(
    400,
    `${field}: ${v === undefined ? 'missing, expected an id' : `expected an id (an integer or a non-empty string), got ${describeType(v)}`}`,
    { field },
  );
}

export function optionalId(body: Record<string, unknown>, field: string): number | string | null | undefined {
  const v = body[field];
  if (v === undefined || v === null) return v;
  return requireId(body, field);
}
