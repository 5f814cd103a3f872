/**
 * Exponential backoff with full jitter (AWS architecture blog's "full jitter"): the n-th delay is
 * uniform in [0, min(cap, base * 2^n)]. A server's Retry-After, when given, is honoured as a floor.
 */
export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  random?: () => number;
}

export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const random = opts.random ?? Math.random;
  const ceiling = Math.min(opts.capMs, opts.baseMs * 2 ** Math.max(0, attempt));
  return Math.round(random() * ceiling);
}

/** HTTP-date (RFC 9110 5.6.7): IMF-fixdate and the obsolete RFC 850 form, both in GMT. */
const HTTP_DATE = /^[a-z]{3,9},\s*\d{1,2}[\s-][a-z]{3}[\s-]\d{2,4}\s+\d{1,2}:\d{2}:\d{2}\s+GMT$/i;
/** ...and the obsolete asctime form (no zone: GMT). */
const ASCTIME_DATE = /^[a-z]{3}\s+[a-z]{3}\s+\d{1,2}\s+\d{1,2}:\d{2}:\d{2}\s+\d{4}$/i;

/**
 * Parses a Retry-After header (delta-seconds or an HTTP date) into milliseconds, or undefined.
 * Only those two forms: Date.parse alone accepts almost anything with a digit in it ("-1",
 * "soon 2030"), which would turn garbage into a date.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  nowMs: number = Date.now(),
): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  let date = Number.NaN;
  if (HTTP_DATE.test(trimmed)) date = Date.parse(trimmed);
  else if (ASCTIME_DATE.test(trimmed)) date = Date.parse(`${trimmed} GMT`);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}
