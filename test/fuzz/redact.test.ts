/**
 * Fuzzing redaction (core/redact.ts): a registered secret planted anywhere in any text, as it is or
 * URL-encoded, never survives Redactor.redact; credential-shaped text (tokens of the well-known
 * formats, bearer values, passwords in URLs) set apart from its surroundings is cut too; and
 * redactValue keeps a JSON value's structure (types, array lengths, keys) while no string in it
 * holds the secret any more.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REDACTED, Redactor } from '../../core/redact.ts';

const RUNS = { numRuns: 1000 };

/** Secrets as they come: API tokens, passwords with punctuation, any Unicode (at least 8 characters). */
const secretArb = fc
  .oneof(
    fc.stringMatching(/^[A-Za-z0-9_\-.~+/=]{8,64}$/),
    fc.string({ unit: 'grapheme', minLength: 8, maxLength: 32 }),
    fc.string({ unit: 'binary', minLength: 8, maxLength: 32 }),
    fc.stringMatching(/^[A-Za-z0-9]{20,40}$/).map((s) => `ghp_${s}`),
  )
  // A secret that is part of the marker itself (or shares its edge) cannot be told from it:
  // redaction writes the marker, so the marker's own letters are never "the secret".
  .filter((s) => s.trim().length >= 8 && !REDACTED.includes(s) && !sharesEdgeWithMarker(s));

function sharesEdgeWithMarker(s: string): boolean {
  for (let i = 1; i < REDACTED.length; i++) {
    if (s.startsWith(REDACTED.slice(i)) || s.endsWith(REDACTED.slice(0, i))) return true;
  }
  return false;
}

const filler = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '\n',
    'token=',
    'Authorization: Bearer ',
    'https://',
    '"',
    '\\',
    '%',
    'password: ',
  ),
);

/** Text with the secret planted 1–3 times, as it is or URL-encoded, between arbitrary pieces. */
function planted(secret: string) {
  return fc
    .array(fc.tuple(filler, fc.constantFrom('raw', 'encoded', 'raw')), { minLength: 1, maxLength: 3 })
    .chain((parts) =>
      filler.map(
        (tail) =>
          parts.map(([pre, how]) => pre + (how === 'raw' ? secret : encodeURIComponent(secret))).join('') +
          tail,
      ),
    );
}

describe('Redactor.redact (fuzz)', () => {
  it('a registered secret planted in any text never survives, as it is or URL-encoded', () => {
    fc.assert(
      fc.property(
        secretArb.chain((s) => fc.tuple(fc.constant(s), planted(s))),
        ([secret, text]) => {
          const out = new Redactor([secret]).redact(text);
          expect(out).not.toContain(secret);
          expect(out).not.toContain(encodeURIComponent(secret));
          expect(out).toContain(REDACTED);
        },
      ),
      RUNS,
    );
  });

  it('any string registers as a secret (lone surrogates too: no URL-encoded form) and is cut', () => {
    const utf16 = fc.string({
      unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
      minLength: 8,
      maxLength: 20,
    });
    fc.assert(
      fc.property(
        utf16.filter((s) => !REDACTED.includes(s) && !sharesEdgeWithMarker(s)),
        filler,
        filler,
        (secret, pre, post) => {
          const r = new Redactor();
          r.add(secret);
          expect(r.redact(`${pre}${secret}${post}`)).not.toContain(secret);
        },
      ),
      { ...RUNS, examples: [['\uD800abcdefgh', '', '']] },
    );
  });

  it('several secrets, one inside another or overlapping: none survives', () => {
    fc.assert(
      fc.property(secretArb, secretArb, filler, filler, (a, b, x, y) => {
        const overlap = a + b.slice(0, Math.floor(b.length / 2)) + b;
        const text = `${x}${a}${y}${b}${x}${overlap}${y}${a}${b}`;
        const out = new Redactor([a, b, overlap]).redact(text);
        for (const s of [a, b]) expect(out).not.toContain(s);
      }),
      RUNS,
    );
  });

  it('credential-shaped text set apart by spaces or quotes is cut, unregistered', () => {
    const credential = fc.oneof(
      fc.stringMatching(/^[A-Za-z0-9]{36}$/).map((s) => `ghp_${s}`),
      fc.stringMatching(/^[A-Za-z0-9_]{30}$/).map((s) => `github_pat_${s}`),
      fc.stringMatching(/^[A-Za-z0-9_-]{24}$/).map((s) => `sk-${s}`),
      fc.stringMatching(/^[A-Z0-9]{16}$/).map((s) => `AKIA${s}`),
      fc.stringMatching(/^[A-Za-z0-9_-]{20}$/).map((s) => `glpat-${s}`),
    );
    const around = fc.string({ unit: 'grapheme', maxLength: 30 });
    fc.assert(
      fc.property(
        credential,
        around,
        around,
        fc.constantFrom(' ', '\n', '"', "'", '=', ': '),
        (cred, pre, post, sep) => {
          const out = new Redactor().redact(
            `${pre}${sep}${cred}${sep === '=' || sep === ': ' ? ' ' : sep}${post}`,
          );
          expect(out).not.toContain(cred);
        },
      ),
      {
        ...RUNS,
        examples: [
          ['glpat-_00a0AA0a0-__a_0000-', '', '', ' '],
          ['sk-abcdefghijklmnop-', 'x', 'y', '"'],
        ],
      },
    );
  });

  it('a password in a URL and a bearer value are cut, whatever surrounds them', () => {
    const word = fc.stringMatching(/^[A-Za-z0-9._~-]{8,24}$/);
    fc.assert(
      fc.property(
        word,
        word,
        fc.string({ maxLength: 30 }),
        fc.string({ maxLength: 30 }),
        (user, pass, pre, post) => {
          const url = `https://${user}:${pass}@git.example.com/r.git`;
          const out = new Redactor().redact(`${pre} ${url} ${post}\nAuthorization: Bearer ${pass} ${post}`);
          expect(out).not.toContain(`${user}:${pass}@`);
          expect(out).not.toContain(`Bearer ${pass}`);
        },
      ),
      RUNS,
    );
  });

  it('text without a secret or a credential shape comes back unchanged', () => {
    const plain = fc.string({
      unit: fc.constantFrom(...'abcdefghij KLMNOP 0123456789.,\n()'.split('')),
      maxLength: 80,
    });
    fc.assert(
      fc.property(plain, secretArb, (text, secret) => {
        if (text.includes(secret) || text.includes(encodeURIComponent(secret))) return;
        expect(new Redactor([secret]).redact(text)).toBe(text);
      }),
      RUNS,
    );
  });
});

/** The shape of a JSON value: its types, array lengths and key counts, not its strings. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shape);
  if (v !== null && typeof v === 'object')
    return { keys: Object.keys(v).length, values: Object.values(v).map(shape).sort(cmp) };
  return typeof v;
}
function cmp(a: unknown, b: unknown): number {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (v !== null && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => [k, ...strings(x)]);
  return [];
}

describe('Redactor.redactValue (fuzz)', () => {
  it('keeps the JSON structure and leaves the secret in no string, keys included', () => {
    const valueWith = (secret: string) =>
      fc.letrec((tie) => ({
        value: fc.oneof(
          { depthSize: 'small', withCrossShrink: true },
          fc.oneof(
            fc.integer(),
            fc.double({ noNaN: true, noDefaultInfinity: true }),
            fc.boolean(),
            fc.constant(null),
          ),
          planted(secret),
          fc.string({ maxLength: 10 }),
          fc.array(tie('value'), { maxLength: 4 }),
          fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), planted(secret)), tie('value'), { maxKeys: 4 }),
        ),
      })).value;
    fc.assert(
      fc.property(
        secretArb.chain((s) => fc.tuple(fc.constant(s), valueWith(s))),
        ([secret, value]) => {
          const asJson = JSON.parse(JSON.stringify(value)) as unknown;
          const out = new Redactor([secret]).redactValue(value);
          expect(shape(out)).toEqual(shape(asJson));
          for (const s of strings(out)) {
            expect(s).not.toContain(secret);
            expect(s).not.toContain(encodeURIComponent(secret));
          }
          // And it is still JSON: what it gives can be written and read back as it is.
          expect(JSON.parse(JSON.stringify(out))).toEqual(out);
        },
      ),
      {
        ...RUNS,
        examples: [
          [
            [
              'S3cr3t-value-abc',
              {
                'password: S3cr3t-value-abcS3cr3t-value-abc': null,
                'password: S3cr3t-value-abc': 0,
                'token=a1b2c3d4': 1,
                'token=e5f6g7h8': 2,
              },
            ],
          ],
        ],
      },
    );
  });
});
