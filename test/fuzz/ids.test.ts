/**
 * Fuzzing the poll step's message id order (core/polling/ids.ts): compareIds must be a total order
 * (of ids up to the same integer written differently, 7 = "7" = "007"), because the poll step sorts
 * with it, dedupes with it and moves the cursor by it. On integer strings it is numeric order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Id } from '../../core/message.ts';
import { compareIds, isAfter } from '../../core/polling/ids.ts';

const RUNS = { numRuns: 1000 };

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);

/** Integer strings, with leading zeros now and then, up to 40 digits. */
const intString = fc.stringMatching(/^0{0,3}[0-9]{1,40}$/);
/** Short ids of the allowed alphabet: collide often with each other and with integers. */
const shortId = fc.stringMatching(/^[0-9a-c._:-]{1,4}$/);
const longId = fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/);
/** Number ids: small, safe, and integers too large for exact doubles (1e21 and up print as "1e+21"). */
const numberId = fc.oneof(
  fc.nat(1000),
  fc.maxSafeNat(),
  fc.bigInt({ min: 0n, max: 10n ** 30n }).map((b) => Number(b)),
);
const anyId: fc.Arbitrary<Id> = fc.oneof(intString, shortId, longId, numberId);

/** The integer an id stands for, if it is one. */
function integerOf(id: Id): bigint | undefined {
  if (typeof id === 'number') return Number.isInteger(id) && id >= 0 ? BigInt(id) : undefined;
  return /^\d+$/.test(id) ? BigInt(id) : undefined;
}

describe('compareIds (fuzz)', () => {
  it('is reflexive and antisymmetric', () => {
    fc.assert(
      fc.property(anyId, anyId, (a, b) => {
        expect(compareIds(a, a)).toBe(0);
        expect(sign(compareIds(a, b)) + sign(compareIds(b, a))).toBe(0);
      }),
      RUNS,
    );
  });

  it('is transitive: a sorted list is ordered pairwise, equal ids are equal to each other', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(intString, shortId, numberId), { minLength: 2, maxLength: 12 }),
        (ids) => {
          const sorted = [...ids].sort(compareIds);
          for (let i = 0; i < sorted.length; i++) {
            for (let j = i + 1; j < sorted.length; j++) {
              if (compareIds(sorted[i]!, sorted[j]!) > 0) {
                expect.fail(
                  `${String(sorted[i])} > ${String(sorted[j])} in the sorted ${JSON.stringify(sorted)}`,
                );
              }
            }
          }
        },
      ),
      { ...RUNS, examples: [[['10', '::', '000']], [['000000', 5e29]]] },
    );
  });

  it('is transitive on triples (a ≤ b and b ≤ c give a ≤ c)', () => {
    fc.assert(
      fc.property(
        fc.oneof(intString, shortId),
        fc.oneof(intString, shortId),
        fc.oneof(intString, shortId),
        (a, b, c) => {
          if (compareIds(a, b) <= 0 && compareIds(b, c) <= 0) expect(compareIds(a, c)).toBeLessThanOrEqual(0);
          if (compareIds(a, b) === 0 && compareIds(b, c) === 0) expect(compareIds(a, c)).toBe(0);
        },
      ),
      { ...RUNS, examples: [['10', '1a', '010']] },
    );
  });

  it('is numeric order on integers, however they are written', () => {
    fc.assert(
      fc.property(fc.oneof(intString, numberId), fc.oneof(intString, numberId), (a, b) => {
        const x = integerOf(a)!;
        const y = integerOf(b)!;
        expect(sign(compareIds(a, b))).toBe(x < y ? -1 : x > y ? 1 : 0);
        expect(isAfter(a, b)).toBe(x > y);
      }),
      {
        ...RUNS,
        examples: [
          ['000000', 5e29],
          [1e21, 5e20],
        ],
      },
    );
  });

  it('calls two ids equal only when they are the same id', () => {
    fc.assert(
      fc.property(anyId, anyId, (a, b) => {
        if (compareIds(a, b) !== 0) return;
        const x = integerOf(a);
        const y = integerOf(b);
        if (x !== undefined && y !== undefined) expect(x).toBe(y);
        else expect(String(a)).toBe(String(b));
      }),
      RUNS,
    );
  });
});
