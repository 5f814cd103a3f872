import type { Id } from '../message.ts';

/**
 * Orders message ids. Ids only grow (numa-api.md); they may be numbers or strings. Integer-like ids
 * compare numerically (so "10" > "9"); anything else compares by length, then code points.
 */
export function compareIds(a: Id, b: Id): number {
  const sa = String(a);
  const sb = String(b);
  if (/^\d+$/.test(sa) && /^\d+$/.test(sb)) {
    const ba = BigInt(sa);
    const bb = BigInt(sb);
    return ba < bb ? -1 : ba > bb ? 1 : 0;
  }
  if (sa.length !== sb.length) return sa.length - sb.length;
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

export function isAfter(id: Id, cursor: Id | undefined): boolean {
  return cursor === undefined || compareIds(id, cursor) > 0;
}
