/**
 * Reading AWS SDK v3 errors without depending on each service's exception classes: the error's
 * `name` (the service's error code, e.g. "PreconditionFailed"), its HTTP status and the SDK's own
 * retryability verdict. `awsFailed` wraps anything unexpected as AWS_FAILED naming the call.
 */
import { AvatarError } from '../../core/errors.ts';

export function errorName(err: unknown): string | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as { name?: unknown; Code?: unknown; code?: unknown };
  if (typeof e.name === 'string' && e.name !== 'Error') return e.name;
  if (typeof e.Code === 'string') return e.Code;
  if (typeof e.code === 'string') return e.code;
  return typeof e.name === 'string' ? e.name : undefined;
}

export function httpStatus(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const meta = (err as { $metadata?: { httpStatusCode?: unknown } }).$metadata;
  return typeof meta?.httpStatusCode === 'number' ? meta.httpStatusCode : undefined;
}

/** The SDK marks throttling, 5xx and transient network errors with `$retryable`. */
export function sdkRetryable(err: unknown): boolean {
  return err !== null && typeof err === 'object' && '$retryable' in err && Boolean(err.$retryable);
}

/** Network-level failures that say nothing about the request itself (worth trying again later). */
export function isNetworkError(err: unknown): boolean {
  const code = err !== null && typeof err === 'object' && 'code' in err ? String(err.code) : '';
  return (
    ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND'].includes(code) ||
    ['TimeoutError', 'RequestTimeout', 'RequestTimeoutException'].includes(errorName(err) ?? '')
  );
}

/** A one-line description of an SDK error: "Name (HTTP 500): message". */
export function describeAwsError(err: unknown): string {
  const name = errorName(err) ?? 'Error';
  const status = httpStatus(err);
  const message = err instanceof Error ? err.message : String(err);
  const head = status !== undefined ? `${name} (HTTP ${status})` : name;
  return message && message !== name ? `${head}: ${message}` : head;
}

/** Wraps a failed SDK call as AWS_FAILED ("SQS SendMessage on tasks failed: ..."); AvatarErrors pass. */
export function awsFailed(what: string, err: unknown): AvatarError {
  if (err instanceof AvatarError) return err;
  return new AvatarError('AWS_FAILED', `${what} failed: ${describeAwsError(err)}`, { cause: err });
}
