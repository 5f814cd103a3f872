/**
 * Fuzzing the config file (core/config/load.ts + schema.ts): any YAML text, any parsed document,
 * any value at any key gives either a config or AvatarError CONFIG_INVALID (never another error,
 * never a crash) whose message names the key that was wrong, and never repeats the value it was
 * given (a misplaced token would otherwise end up in a log).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { stringify as stringifyYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest';
import { loadConfig, mergeValues, validate } from '../../core/config/load.ts';
import { AvatarError } from '../../core/errors.ts';

const RUNS = { numRuns: 1000 };

type Json = Record<string, unknown>;

/**
 * Sets a dotted key as own properties all the way down (generated keys include "__proto__" and
 * "constructor": an assignment would walk into prototypes, and pollute Object.prototype).
 */
function put(doc: Json, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let cur = doc;
  for (const part of parts.slice(0, -1)) {
    const next = Object.hasOwn(cur, part) ? cur[part] : undefined;
    if (next === null || typeof next !== 'object' || Array.isArray(next)) {
      Object.defineProperty(cur, part, { value: {}, enumerable: true, writable: true, configurable: true });
    }
    cur = cur[part] as Json;
  }
  Object.defineProperty(cur, parts.at(-1)!, { value, enumerable: true, writable: true, configurable: true });
}

/** Every leaf key of the config: those with defaults, and the optional ones without. */
function leaves(value: unknown, prefix = ''): Array<{ key: string; value: unknown }> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
  }
  return [{ key: prefix, value }];
}
const DEFAULTS = validate({}, 'defaults');
const LEAVES = [
  ...leaves(DEFAULTS).filter((l) => !l.key.startsWith('model.prices.')),
  { key: 'model.prices.gpt-4o.prompt', value: 2.5 },
  ...[
    'backend.api_token',
    'git.token',
    'model.api_key',
    'model.base_url',
    'tests.command',
    'tests.setup',
  ].map((key) => ({
    key,
    value: 'x',
  })),
];
const SECTIONS = Object.keys(DEFAULTS);

/** A value of a type the leaf can never take. */
function wrongType(leaf: { key: string; value: unknown }): fc.Arbitrary<unknown> {
  const v = leaf.value;
  if (typeof v === 'number')
    return fc.oneof(
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.nat(), { maxLength: 2 }),
      fc.object({ maxDepth: 1 }),
    );
  if (typeof v === 'boolean')
    return fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constantFrom('yes', 'true'));
  if (Array.isArray(v))
    return fc.oneof(
      fc.string(),
      fc.integer(),
      fc.boolean(),
      fc.dictionary(fc.string({ maxLength: 3 }), fc.nat(), { minKeys: 1, maxKeys: 2 }),
      fc.array(fc.oneof(fc.integer(), fc.constant(null)), { minLength: 1, maxLength: 2 }),
    );
  return fc.oneof(
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.string(), { maxLength: 2 }),
    fc.object({ maxDepth: 1 }),
  );
}

/** Secret-looking text: if it is echoed in an error message, a misplaced token would be too. */
const secretish = fc.stringMatching(/^[A-Za-z0-9]{6}$/).map((s) => `S3cr3t-${s}-value`);

/** A value that may be right or wrong for a leaf. */
const anyLeafValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    0,
    -1,
    1.5,
    65_536,
    1e9,
    '',
    ' ',
    'http://x',
    'ftp://x',
    'https://u:p@h',
    'a@b',
    '/[/',
    'block',
  ),
);

/** A config-like document: known sections and keys with anything in them, and unknown keys. */
const configLike = fc
  .array(
    fc.oneof(
      fc.tuple(fc.constantFrom(...LEAVES.map((l) => l.key)), anyLeafValue),
      fc.tuple(fc.constantFrom(...SECTIONS), fc.jsonValue({ maxDepth: 2 })),
      fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.jsonValue({ maxDepth: 2 })),
    ),
    { maxLength: 6 },
  )
  .map((pairs) => {
    const doc: Json = {};
    for (const [key, value] of pairs) put(doc, key, value);
    return doc;
  });

/** Checks that `fn` returns or throws CONFIG_INVALID whose every issue names a key; returns the message. */
function validOrNamed(fn: () => unknown, where: string): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (!(err instanceof AvatarError)) throw new Error(`not an AvatarError: ${String(err)}`, { cause: err });
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message.startsWith(`${where}: `)).toBe(true);
    // "backend.url: ...", "(root): Unrecognized key: \"x\"", "polling: Unrecognized keys: ..."
    // (issues are joined with "; ", which a quoted key may contain too: the first one is checked)
    expect(err.message.slice(where.length + 2), err.message).toMatch(/^(\(root\)|[^\s:]+): ./);
    return err.message;
  }
}

describe('config validation (fuzz)', () => {
  it('any document: a config or CONFIG_INVALID naming keys', () => {
    fc.assert(
      fc.property(
        fc.oneof(configLike, fc.jsonValue({ maxDepth: 3 }), fc.anything({ maxDepth: 2 })),
        (doc) => {
          validOrNamed(() => validate(doc, 'config.yaml'), 'config.yaml');
        },
      ),
      RUNS,
    );
  });

  it('a wrong type at any key: the message names that key, and not the value', () => {
    const cases = fc
      .constantFrom(...LEAVES)
      .chain((leaf) =>
        fc.tuple(
          fc.constant(leaf.key),
          typeof leaf.value === 'string' ? wrongType(leaf) : fc.oneof(wrongType(leaf), secretish),
        ),
      );
    fc.assert(
      fc.property(cases, ([key, bad]) => {
        const doc: Record<string, unknown> = {};
        put(doc, key, bad);
        const message = validOrNamed(() => validate(doc, 'config.yaml'), 'config.yaml');
        expect(message, `${key} = ${JSON.stringify(bad)} was accepted`).toBeDefined();
        // The key itself, or an item of it ("commands.allow.0: ...").
        expect(message).toMatch(new RegExp(`: ${key.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')}(\\.\\d+)?: `));
        if (typeof bad === 'string' && bad.length >= 6) expect(message).not.toContain(bad);
      }),
      RUNS,
    );
  });

  it('a secret-looking value in the wrong place is never repeated in the error', () => {
    const cases = fc.tuple(
      fc.constantFrom(...LEAVES),
      secretish,
      fc.constantFrom('plain', 'in-url', 'as-key'),
    );
    fc.assert(
      fc.property(cases, ([leaf, secret, how]) => {
        const doc: Record<string, unknown> = {};
        if (how === 'as-key') {
          // An unknown key is named (that is the point), a value is not: put the secret in a value.
          put(doc, `${leaf.key.split('.')[0]}.unknown_${secret.length}`, secret);
        } else {
          put(doc, leaf.key, how === 'in-url' ? `https://user:${secret}@numa.example/` : secret);
        }
        const message = validOrNamed(() => validate(doc, 'config.yaml'), 'config.yaml');
        if (message !== undefined) expect(message).not.toContain(secret);
      }),
      RUNS,
    );
  });
});

describe('mergeValues: a POST /config patch over the config (fuzz)', () => {
  it('gives own keys only (no prototype tricks), and validation sees every key it gives', () => {
    const patch = fc.oneof(
      configLike,
      fc
        .jsonValue({ maxDepth: 3 })
        .filter((v) => v !== null && typeof v === 'object' && !Array.isArray(v))
        .map((v) => v as Json),
      fc
        .constantFrom(
          '{"__proto__": {"concurrency": 9}}',
          '{"polling": {"__proto__": {"interval": 7}}}',
          '{"constructor": {"prototype": {"x": 1}}}',
        )
        .map((t) => JSON.parse(t) as Json),
    );
    fc.assert(
      fc.property(patch, (p) => {
        const base = JSON.parse(JSON.stringify(DEFAULTS)) as Json;
        const merged = mergeValues(base, p);
        const check = (v: unknown): void => {
          if (v === null || typeof v !== 'object') return;
          if (!Array.isArray(v)) expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
          Object.values(v).forEach(check);
        };
        check(merged);
        expect(({} as Json).concurrency).toBeUndefined();
        const message = validOrNamed(() => validate(merged, 'POST /config'), 'POST /config');
        if (message === undefined) {
          // What was applied is exactly what would be persisted: JSON of the merged values.
          const applied = validate(JSON.parse(JSON.stringify(merged)), 'POST /config');
          expect(validate(merged, 'POST /config')).toEqual(applied);
        }
      }),
      { ...RUNS, examples: [[JSON.parse('{"__proto__": {"concurrency": 9}}') as Json]] },
    );
  });
});

describe('loadConfig on arbitrary files (fuzz)', () => {
  let dir: string;
  let warnings: MockInstance<typeof process.emitWarning>;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'numa-config-fuzz-'));
    // The YAML parser warns (process.emitWarning) about tags it does not know: a thousand of them.
    warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
  });
  afterAll(async () => {
    warnings.mockRestore();
    await rm(dir, { recursive: true, force: true });
  });

  const tricky = fc.constantFrom(
    'a: &x [1]\nb: *x\n',
    'a: &a [*a]\n',
    'x: &x ["lol","lol"]\ny: &y [*x,*x,*x,*x,*x,*x,*x,*x,*x]\nz: &z [*y,*y,*y,*y,*y,*y,*y,*y,*y]\nw: [*z,*z,*z,*z,*z,*z,*z,*z,*z]\n',
    '---\nbackend: {}\n---\npolling: {}\n',
    'backend:\n  url: http://a\nbackend:\n  url: http://b\n',
    '? [complex, key]\n: value\n',
    'backend: !!binary aGVsbG8=\n',
    'polling: !custom {interval: 1}\n',
    'backend:\n\turl: x\n',
    '{"backend": {"url": "http://localhost:7301"}}',
    '<<: {backend: {url: "http://a"}}\n',
    'concurrency: 0x10\n',
    'concurrency: .inf\n',
    'polling:\n  interval: 1e400\n',
    '\ufeffbackend: {}\n',
    '\u0000',
    '- just\n- a\n- list\n',
    '"a string"',
    '12',
    '~',
  );
  const fileText = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 200 }),
    configLike.map((d) => stringifyYaml(d)),
    fc.jsonValue({ maxDepth: 3 }).map((v) => stringifyYaml(v)),
    tricky,
  );

  it('any file text: a config or CONFIG_INVALID naming keys (or saying it is not YAML)', async () => {
    const file = () => path.join(dir, 'config.yaml');
    await fc.assert(
      fc.asyncProperty(fileText, async (text) => {
        await writeFile(file(), text);
        try {
          await loadConfig({ file: file(), env: {}, cwd: dir });
        } catch (err) {
          if (!(err instanceof AvatarError))
            throw new Error(`not an AvatarError: ${String(err)}`, { cause: err });
          expect(err.code, err.message).toBe('CONFIG_INVALID');
          const where = `${file()}: `;
          expect(err.message.startsWith(where)).toBe(true);
          const rest = err.message.slice(where.length);
          expect(rest, err.message).toMatch(
            /^(not valid YAML: |expected a mapping of keys at the top level|(\(root\)|[^\s:]+): .)/,
          );
        }
      }),
      RUNS,
    );
  });

  it('environment overrides: a config or CONFIG_INVALID naming the variable or the key', async () => {
    const envArb = fc.dictionary(
      fc.constantFrom(
        'NUMA_BACKEND_URL',
        'NUMA_STATUS_PORT',
        'NUMA_CONCURRENCY',
        'OPENAI_BASE_URL',
        'GIT_EMAIL',
        'NUMA_MODEL',
        'NUMA_API_TOKEN',
      ),
      fc.oneof(
        fc.string({ maxLength: 30 }),
        fc.nat().map(String),
        fc.constantFrom('http://x', '-1', '70000', '0', 'a@b'),
      ),
      { maxKeys: 4 },
    );
    await writeFile(path.join(dir, 'env.yaml'), '');
    await fc.assert(
      fc.asyncProperty(envArb, async (env) => {
        try {
          await loadConfig({ file: path.join(dir, 'env.yaml'), env, cwd: dir });
        } catch (err) {
          if (!(err instanceof AvatarError))
            throw new Error(`not an AvatarError: ${String(err)}`, { cause: err });
          expect(err.code).toBe('CONFIG_INVALID');
          expect(err.message).toMatch(/^([A-Z_]+: expected a whole number|.+: (\(root\)|[^\s:]+): .)/);
          // The token is never repeated (a port or a count given wrong is quoted: that is its own value).
          const token = env.NUMA_API_TOKEN;
          const elsewhere = Object.entries(env).some(
            ([k, v]) => k !== 'NUMA_API_TOKEN' && v !== undefined && v.includes(token ?? ''),
          );
          if (token && token.length >= 6 && !elsewhere) expect(err.message).not.toContain(token);
        }
      }),
      RUNS,
    );
  });
});
