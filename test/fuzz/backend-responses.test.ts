/**
 * Fuzzing what the Numa backend answers (core/numa/client.ts + schemas.ts), through a stub fetch:
 * for every response type (topic, messages page, task, application, the status update's task, the
 * logs answer) any body and any status gives either the parsed value or a typed AvatarError
 * (BACKEND_*) whose message names the field that was wrong; ids stay as given (number or string);
 * a messages page never loses a valid message because of an invalid one beside it; the API token
 * never appears in an error, whatever the backend echoes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AvatarError } from '../../core/errors.ts';
import type { Id } from '../../core/message.ts';
import { NumaClient } from '../../core/numa/client.ts';
import { topicMessageSchema } from '../../core/numa/schemas.ts';

const RUNS = { numRuns: 1000 };
const TOKEN = 'numa_fuzz_token_3f9a1c7e5b';

/** A client whose fetch answers `body` with `status`, one attempt, no waiting. */
function clientAnswering(body: string, status = 200, headers: Record<string, string> = {}): NumaClient {
  const fetchStub = async () =>
    new Response([204, 205, 304].includes(status) ? null : body, {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    });
  return new NumaClient({
    baseUrl: 'http://numa.invalid',
    apiToken: TOKEN,
    maxAttempts: 1,
    fetch: fetchStub,
    clock: { now: () => 0, sleep: async () => undefined },
  });
}

type Call = 'topic' | 'messages' | 'task' | 'status' | 'logs' | 'application';
const CALLS: readonly Call[] = ['topic', 'messages', 'task', 'status', 'logs', 'application'];

function call(client: NumaClient, which: Call): Promise<unknown> {
  switch (which) {
    case 'topic':
      return client.getTaskTopic();
    case 'messages':
      return client.getMessages(1, { after: 3, wait: 0, limit: 10 });
    case 'task':
      return client.getTask(123);
    case 'status':
      return client.updateStatus('abc-123', 'done');
    case 'logs':
      return client.appendLogs(7, 'a line');
    case 'application':
      return client.getApplication(1);
  }
}

const BACKEND_CODES = new Set([
  'BACKEND_AUTH',
  'BACKEND_NOT_FOUND',
  'BACKEND_CLIENT_ERROR',
  'BACKEND_UNAVAILABLE',
  'BACKEND_BAD_RESPONSE',
  'BACKEND_TIMEOUT',
]);

/** Runs the call; a failure must be a typed backend error that names the call, never anything else. */
async function settle(
  client: NumaClient,
  which: Call,
): Promise<{ ok: true; value: unknown } | { ok: false; error: AvatarError }> {
  try {
    return { ok: true, value: await call(client, which) };
  } catch (err) {
    if (!(err instanceof AvatarError))
      throw new Error(`${which}: not an AvatarError: ${String(err)}`, { cause: err });
    expect(BACKEND_CODES.has(err.code), `${which}: ${err.code}`).toBe(true);
    expect(err.message).toMatch(/^(GET|PUT|POST) \/api\//);
    expect(err.message).not.toContain(TOKEN);
    return { ok: false, error: err };
  }
}

const ID_CHARS = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-'];
const idArb: fc.Arbitrary<Id> = fc.oneof(
  fc.nat(),
  fc.maxSafeNat(),
  fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 128 }),
);
/** Values that are not an id: negative or fractional numbers, empty or spaced strings, other types. */
const notAnId = fc.oneof(
  fc.integer({ max: -1 }),
  fc.double({ noInteger: true }),
  fc.constantFrom('', '   ', 'a b', 'x/y', '12\u0000', 'é', true, false, null),
  fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 129, maxLength: 140 }),
  fc.array(fc.nat(), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.nat(), { maxKeys: 2 }),
);
const notAString = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 2 }),
  fc.object({ maxDepth: 1 }),
);
const text = fc.string({ unit: 'grapheme', maxLength: 60 });
const nullableText = fc.option(text, { nil: null });

const validTask = fc.record({
  id: idArb,
  title: text,
  description: fc.oneof(text, fc.constant(null)),
  status: fc.constantFrom('todo', 'in_progress', 'done', 'failed', 'blocked', '进行中'),
  assigned_to: fc.option(idArb, { nil: null }),
  code_branch: fc.stringMatching(/^[a-z0-9][a-z0-9/_.-]{0,40}$/),
  solution_id: fc.option(idArb, { nil: null }),
  requirement_id: fc.option(idArb, { nil: null }),
  application_id: idArb,
  started_at: nullableText,
  completed_at: nullableText,
});
const validApplication = fc.record({
  id: idArb,
  name: text,
  description: fc.oneof(text, fc.constant(null)),
  git_repo_url: fc.webUrl(),
  owner: fc.option(text, { nil: null }),
});
const validTopic = fc.record({ id: idArb, name: text, description: fc.oneof(text, fc.constant(null)) });
const validTopicMessage = fc.record({
  id: idArb,
  topic_id: idArb,
  data: fc.jsonValue({ maxDepth: 2 }),
  created_at: fc.option(text, { nil: null }),
});

describe('Numa backend responses (fuzz)', () => {
  it('any body, any status, every call: a value or a typed backend error, never a crash', async () => {
    const body = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.json({ maxDepth: 3 }),
      validTask.map((t) => JSON.stringify(t)),
      fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify({ data: v })),
      fc.constant(`{"error": "bad token ${TOKEN}"}`),
      fc.constant(`<html>${TOKEN}</html>`),
    );
    const status = fc.oneof(fc.constant(200), fc.integer({ min: 200, max: 599 }));
    await fc.assert(
      fc.asyncProperty(body, status, fc.constantFrom(...CALLS), async (b, s, which) => {
        const r = await settle(clientAnswering(b, s, { 'retry-after': 'soon' }), which);
        if (r.ok) expect(s).toBeGreaterThanOrEqual(200);
        if (r.ok) expect(s).toBeLessThan(300);
      }),
      RUNS,
    );
  });

  it('a body that is not JSON says so (and never echoes the token)', async () => {
    const notJson = fc
      .string({ unit: 'binary', minLength: 1, maxLength: 120 })
      .filter((t) => {
        try {
          JSON.parse(t);
          return false;
        } catch {
          return true;
        }
      })
      .map((t) => `${t}${TOKEN}`);
    await fc.assert(
      fc.asyncProperty(
        notJson,
        fc.constantFrom<Call>('topic', 'messages', 'task', 'status', 'application'),
        async (b, which) => {
          const r = await settle(clientAnswering(b), which);
          expect(r.ok).toBe(false);
          if (!r.ok) {
            expect(r.error.code).toBe('BACKEND_BAD_RESPONSE');
            expect(r.error.message).toMatch(/response is not JSON/);
          }
        },
      ),
      RUNS,
    );
  });

  it('a task, an application or a topic with one bad field: the error names that field', async () => {
    const broken = fc.oneof(
      fc.tuple(fc.constant<Call>('task'), validTask, fc.constantFrom('id', 'application_id'), notAnId),
      fc.tuple(
        fc.constant<Call>('task'),
        validTask,
        fc.constantFrom('assigned_to', 'solution_id', 'requirement_id'),
        notAnId.filter((v) => v !== null),
      ),
      fc.tuple(fc.constant<Call>('task'), validTask, fc.constantFrom('title', 'status'), notAString),
      fc.tuple(
        fc.constant<Call>('task'),
        validTask,
        fc.constant('code_branch'),
        fc.oneof(notAString, fc.constantFrom('', '  ')),
      ),
      fc.tuple(
        fc.constant<Call>('task'),
        validTask,
        fc.constantFrom('description', 'started_at', 'completed_at'),
        notAString.filter((v) => v !== null),
      ),
      fc.tuple(fc.constant<Call>('status'), validTask, fc.constantFrom('id', 'application_id'), notAnId),
      fc.tuple(fc.constant<Call>('application'), validApplication, fc.constant('id'), notAnId),
      fc.tuple(fc.constant<Call>('application'), validApplication, fc.constant('name'), notAString),
      fc.tuple(
        fc.constant<Call>('application'),
        validApplication,
        fc.constant('git_repo_url'),
        fc.oneof(notAString, fc.constantFrom('', ' ')),
      ),
      fc.tuple(fc.constant<Call>('topic'), validTopic, fc.constant('id'), notAnId),
    );
    const missing = fc.oneof(
      fc.tuple(
        fc.constant<Call>('task'),
        validTask,
        fc.constantFrom('id', 'title', 'status', 'code_branch', 'application_id'),
      ),
      fc.tuple(
        fc.constant<Call>('application'),
        validApplication,
        fc.constantFrom('id', 'name', 'git_repo_url'),
      ),
      fc.tuple(fc.constant<Call>('topic'), validTopic, fc.constant('id')),
    );
    const cases = fc.oneof(
      broken.map(([which, obj, field, bad]) => ({ which, body: { ...obj, [field]: bad }, field })),
      missing.map(([which, obj, field]) => {
        const body: Record<string, unknown> = { ...obj };
        delete body[field];
        return { which, body, field };
      }),
    );
    await fc.assert(
      fc.asyncProperty(cases, async ({ which, body, field }) => {
        const r = await settle(clientAnswering(JSON.stringify(body)), which);
        expect(r.ok, `${which} with a bad ${field}: ${JSON.stringify(body)}`).toBe(false);
        if (!r.ok) {
          expect(r.error.code).toBe('BACKEND_BAD_RESPONSE');
          expect(r.error.message).toContain(`response ${field}: `);
        }
      }),
      RUNS,
    );
  });

  it('valid tasks, applications and topics come back whole, ids as numbers or strings as given', async () => {
    const cases = fc.oneof(
      fc.tuple(fc.constantFrom<Call>('task', 'status'), validTask),
      fc.tuple(fc.constant<Call>('application'), validApplication),
      fc.tuple(fc.constant<Call>('topic'), validTopic),
    );
    await fc.assert(
      fc.asyncProperty(cases, fc.jsonValue({ maxDepth: 1 }), async ([which, obj], extra) => {
        const body = { ...obj, extra_field: extra };
        const r = await settle(clientAnswering(JSON.stringify(body)), which);
        expect(r.ok, r.ok ? '' : r.error.message).toBe(true);
        if (!r.ok) return;
        const value = r.value as Record<string, unknown>;
        for (const [k, v] of Object.entries(obj)) {
          // A task's or an application's null description reads as '' (a topic's stays null).
          if (v === null && k === 'description' && which !== 'topic') expect(value[k]).toBe('');
          else expect(value[k], k).toEqual(v);
          if (/(^id|_id|_to)$/.test(k) && v !== null) expect(typeof value[k], k).toBe(typeof v);
        }
        expect(value.extra_field).toEqual(JSON.parse(JSON.stringify(extra)));
      }),
      RUNS,
    );
  });

  it('a messages page never loses a valid message because of an invalid one beside it', async () => {
    const notAMessage = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }).filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)),
      fc.dictionary(
        fc.string({ maxLength: 5 }).filter((k) => k !== 'id'),
        fc.jsonValue({ maxDepth: 1 }),
        { maxKeys: 3 },
      ),
      fc.record({ id: notAnId, data: fc.jsonValue({ maxDepth: 1 }) }),
      validTopicMessage
        .chain((m) => notAnId.map((t) => ({ ...m, topic_id: t })))
        .filter((m) => m.topic_id !== null),
      validTopicMessage.map((m) => ({ ...m, created_at: 42 })),
    );
    const entries = fc.array(
      fc.oneof(
        validTopicMessage.map((m) => ({ valid: true as const, value: m as unknown })),
        notAMessage.map((v) => ({ valid: false as const, value: v as unknown })),
      ),
      { maxLength: 12 },
    );
    await fc.assert(
      fc.asyncProperty(entries, async (list) => {
        // The generators above decide validity; the schema must agree on every entry.
        const disagree = list.find((e) => topicMessageSchema.safeParse(e.value).success !== e.valid);
        if (disagree) expect.fail(`the generator and the schema disagree on ${JSON.stringify(disagree)}`);
        const r = await settle(
          clientAnswering(JSON.stringify({ data: list.map((e) => e.value) })),
          'messages',
        );
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        const page = r.value as { messages: unknown[]; invalid: Array<{ raw: unknown; reason: string }> };
        const json = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;
        expect(page.messages).toEqual(list.filter((e) => e.valid).map((e) => json(e.value)));
        expect(page.invalid.map((i) => i.raw)).toEqual(
          list.filter((e) => !e.valid).map((e) => json(e.value)),
        );
        const invalidAt = list.flatMap((e, i) => (e.valid ? [] : [i]));
        expect(page.invalid.map((inv) => /^data\[(\d+)\]: ./.exec(inv.reason)?.[1])).toEqual(
          invalidAt.map(String),
        );
        // Message ids as given: numbers stay numbers, strings stay strings.
        expect(page.messages.map((m) => typeof (m as { id: unknown }).id)).toEqual(
          list.filter((e) => e.valid).map((e) => typeof (e.value as { id: unknown }).id),
        );
      }),
      RUNS,
    );
  });

  it('a messages body without a data list names `data`', async () => {
    const bodies = fc.oneof(
      fc.record({ data: fc.jsonValue({ maxDepth: 1 }).filter((v) => !Array.isArray(v)) }),
      fc.dictionary(
        fc.string({ maxLength: 4 }).filter((k) => k !== 'data'),
        fc.jsonValue({ maxDepth: 1 }),
        { maxKeys: 3 },
      ),
    );
    await fc.assert(
      fc.asyncProperty(bodies, async (b) => {
        const r = await settle(clientAnswering(JSON.stringify(b)), 'messages');
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.error.message).toContain('response data: ');
      }),
      RUNS,
    );
  });
});
