import type { Id } from '../message.ts';

/**
 * An id as one canonical string: an integer in plain decimal without leading zeros ("007" and 7
 * are "7"; the number 1e21 is "1000000000000000000000", never "1e+21"), anything else as it is.
 */
function canonicalId(id: Id): string {
  if (typeof id === 'number') return Number.isInteger(id) && id >= 0 ? BigInt(id).toString() : String(id);
  return /^\d+$/.test(id) ? id.replace(/^0+(?=\d)/, '') : id;
}

/**
 * Orders message ids. Ids only grow (numa-api.md); they may be numbers or strings. Ids compare by
 * their canonical form (above): shorter first, then by code points. On integers that is numeric
 * order (so "10" > "9", and 7 = "7" = "007"), and it stays a total order when integer ids and other
 * ids meet ("10" < "1a" < "010" would not be).
 */
export function compareIds(a: Id, b: Id): number {
  const sa = canonicalId(a);
  const sb = canonicalId(b);
  if (sa.length !== sb.length) return sa.length - sb.length;
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

export function isAfter(id: Id, cursor: Id | undefined): boolean {
  return cursor === undefined || compareIds(id, cursor) > 0;
}
