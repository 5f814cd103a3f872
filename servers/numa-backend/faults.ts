/**
 * Fault injection: the reference backend misbehaves on purpose, the way real backends and the
 * proxies in front of them do, so clients can be tested against it. Decisions come from a seeded
 * PRNG (mulberry32): with the same seed and the same requests, the same faults happen.
 */
import { AvatarError } from '../../core/errors.ts';
import { describeType } from '../../core/message.ts';
import { mulberry32 } from '../../core/random.ts';

export { mulberry32 };

export interface FaultOptions {
  /** Share (0..1) of /api responses answered 500, 502 or 503 instead. */
  errorRate?: number;
  /** Share of responses delayed by `delayMs` (default 1000) before they are handled. */
  delayRate?: number;
  delayMs?: number;
  /** Share of topic messages returned with a broken `data` ({}, {"task_id": null}, a string...). The stored message stays intact. */
  malformedRate?: number;
  /** Share of message-list responses that repeat already-delivered messages (ids <= after). */
  duplicateRate?: number;
  /** Share answered 429. */
  rateLimitRate?: number;
  /** The Retry-After header of a 429, in seconds (default 1). 0 or less: the header is left out. */
  retryAfterSeconds?: number;
  /** Only inject on request paths starting with one of these (default: every /api path). */
  paths?: string[];
}

export type FaultKind = 'error' | 'delay' | 'malformed' | 'duplicate' | 'rateLimit';
export const FAULT_KINDS: readonly FaultKind[] = ['error', 'delay', 'malformed', 'duplicate', 'rateLimit'];

const RATES = ['errorRate', 'delayRate', 'malformedRate', 'duplicateRate', 'rateLimitRate'] as const;
const KNOWN = new Set<string>([...RATES, 'delayMs', 'retryAfterSeconds', 'paths']);

/** Checks fault options (from code or a PUT /__faults body); throws CONFIG_INVALID naming the field. */
export function validateFaults(value: unknown): FaultOptions {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new AvatarError('CONFIG_INVALID', `faults: expected an object, got ${describeType(value)}`);
  }
  const input = value as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!KNOWN.has(key)) {
      throw new AvatarError(
        'CONFIG_INVALID',
        `faults.${key}: unknown option (known: ${[...KNOWN].join(', ')})`,
      );
    }
  }
  const out: FaultOptions = {};
  for (const key of RATES) {
    const v = input[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) {
      throw new AvatarError(
        'CONFIG_INVALID',
        `faults.${key}: expected a number from 0 to 1, got ${describeType(v)}`,
      );
    }
    out[key] = v;
  }
  for (const key of ['delayMs', 'retryAfterSeconds'] as const) {
    const v = input[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || (key === 'delayMs' && v < 0)) {
      throw new AvatarError(
        'CONFIG_INVALID',
        `faults.${key}: expected a number of ${key === 'delayMs' ? 'milliseconds' : 'seconds'}, got ${describeType(v)}`,
      );
    }
    out[key] = v;
  }
  if (input.paths !== undefined) {
    if (!Array.isArray(input.paths) || !input.paths.every((p) => typeof p === 'string')) {
      throw new AvatarError(
        'CONFIG_INVALID',
        `faults.paths: expected an array of path prefixes, got ${describeType(input.paths)}`,
      );
    }
    out.paths = [...(input.paths as string[])];
  }
  return out;
}

/** What to do instead of answering a request normally. */
export type RequestFault =
  { kind: 'rateLimit'; retryAfterSeconds: number | undefined } | { kind: 'error'; status: 500 | 502 | 503 };

/** Broken `data` values a malformed message is given, in turn picked by the PRNG. */
export const MALFORMED_DATA: readonly unknown[] = [
  {},
  { task_id: null },
  'not an object',
  { task_id: '' },
  [],
  { taskId: 1 },
];

export class FaultInjector {
  private faults: FaultOptions = {};
  private readonly random: () => number;
  private readonly counts: Record<FaultKind, number> = {
    error: 0,
    delay: 0,
    malformed: 0,
    duplicate: 0,
    rateLimit: 0,
  };

  constructor(faults: FaultOptions = {}, seed: number = Date.now()) {
    this.random = mulberry32(seed);
    this.set(faults);
  }

  set(faults: FaultOptions): void {
    this.faults = validateFaults(faults);
  }

  get(): FaultOptions {
    return structuredClone(this.faults);
  }

  countsByKind(): Record<string, number> {
    return { ...this.counts };
  }

  /** Whether faults may be injected on this path (only /api paths, and only those under `paths` when set). */
  applies(path: string): boolean {
    if (!path.startsWith('/api/') && path !== '/api') return false;
    const prefixes = this.faults.paths;
    return !prefixes || prefixes.length === 0 || prefixes.some((p) => path.startsWith(p));
  }

  /** A 429 or a 5xx to answer instead of handling the request, or undefined. */
  requestFault(path: string): RequestFault | undefined {
    if (!this.applies(path)) return undefined;
    if (this.roll('rateLimitRate')) {
      this.counts.rateLimit++;
      const s = this.faults.retryAfterSeconds ?? 1;
      return { kind: 'rateLimit', retryAfterSeconds: s > 0 ? s : undefined };
    }
    if (this.roll('errorRate')) {
      this.counts.error++;
      const statuses = [500, 502, 503] as const;
      return { kind: 'error', status: statuses[Math.floor(this.random() * statuses.length)] ?? 500 };
    }
    return undefined;
  }

  /** Milliseconds to hold the request before handling it (0: none). */
  delay(path: string): number {
    if (!this.applies(path) || !this.roll('delayRate')) return 0;
    this.counts.delay++;
    return Math.max(0, this.faults.delayMs ?? 1000);
  }

  /** Whether this message-list response repeats messages already delivered. */
  duplicate(path: string): boolean {
    if (!this.applies(path) || !this.roll('duplicateRate')) return false;
    return true;
  }

  /** Records a duplicate actually inserted (a response with nothing to repeat does not count). */
  countDuplicate(): void {
    this.counts.duplicate++;
  }

  /** A broken replacement for a message's `data`, or undefined to leave it alone. */
  malformed(path: string): { data: unknown } | undefined {
    if (!this.applies(path) || !this.roll('malformedRate')) return undefined;
    this.counts.malformed++;
    const i = Math.floor(this.random() * MALFORMED_DATA.length);
    return { data: structuredClone(MALFORMED_DATA[i]) };
  }

  private roll(key: (typeof RATES)[number]): boolean {
    const rate = this.faults[key] ?? 0;
    if (rate <= 0) return false;
    return this.random() < rate;
  }
}
