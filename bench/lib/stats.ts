/** Small helpers shared by the benchmark scripts: percentiles, formatting, a seeded PRNG. */
import { mulberry32 } from '../../core/random.ts';

/** Nearest-rank percentile (p in 0..100) of a non-empty list. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) throw new Error('percentile of an empty list');
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[rank - 1]!;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export const secs = (ms: number, digits = 2) => `${(ms / 1000).toFixed(digits)} s`;
export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
export const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}×`;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A deterministic PRNG returning floats in [0, 1) (mulberry32). */
export const seeded = mulberry32;
