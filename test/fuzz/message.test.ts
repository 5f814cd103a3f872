/**
 * Fuzzing the queue message schema (core/message.ts): whatever arrives on the queue, parsing it
 * either gives a task message or fails with AvatarError MESSAGE_MALFORMED naming what was wrong;
 * valid messages survive a trip through JSON unchanged; the idempotency key (messageKey) depends on
 * which topic message it is and nothing else, and is usable wherever the AWS path and local mode
 * store it (a dispatch_key of the dispatcher's schema, a file name).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AvatarError } from '../../core/errors.ts';
import { messageKey, parseTaskMessage, taskIdFromTopicData, type TaskMessage } from '../../core/message.ts';
import { dispatchMessageSchema } from '../../functions/dispatcher/message.ts';

const RUNS = { numRuns: 1000 };

/** Ids as the contract allows them: non-negative integers, or strings of letters, digits and . _ : - */
const ID_CHARS = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-'];
const idArb = fc.oneof(
  fc.nat(),
  fc.maxSafeNat(),
  fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/),
  fc.stringMatching(/^[0-9]{1,12}$/),
  // Long ids (the contract allows 128 characters): fast-check's string arbitraries favour short ones.
  fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 90, maxLength: 128 }),
);

const validMessage: fc.Arbitrary<TaskMessage> = fc.record(
  {
    task_id: idArb,
    message_id: idArb,
    topic_id: idArb,
    reason: fc.string({ unit: 'binary', maxLength: 300 }),
    attempt: fc.integer({ min: 1, max: 100 }),
    created_at: fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.string(),
    ),
  },
  { requiredKeys: ['task_id'] },
);

/** Almost-valid objects: each field drawn from valid values and from junk. */
const junk = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', 'a b', '-1', '1.5', 'x'.repeat(129), '\u0000', '12\n'),
  fc.array(fc.nat(), { maxLength: 2 }),
  fc.object({ maxDepth: 1 }),
);
const nearMessage = fc.record(
  {
    task_id: fc.oneof(idArb, junk),
    message_id: fc.oneof(idArb, junk),
    topic_id: fc.oneof(idArb, junk),
    reason: fc.oneof(fc.string(), junk, fc.constant('r'.repeat(2001))),
    attempt: fc.oneof(fc.integer({ min: -5, max: 120 }), junk),
    created_at: fc.oneof(fc.string(), junk),
    extra: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

const anyValue = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withNullPrototype: true,
  withObjectString: true,
  withSet: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true,
});

/** The text a queue may carry: anything at all, JSON of anything, JSON of almost-messages. */
const anyBody = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.json({ maxDepth: 3 }),
  nearMessage.map((m) => JSON.stringify(m)),
  validMessage.map((m) => JSON.stringify(m)),
);

const FIELDS = ['task_id', 'message_id', 'topic_id', 'reason', 'attempt', 'created_at', '(root)'];

/** Parses, and checks that a failure is a MESSAGE_MALFORMED that says what was wrong. */
function parseOrMalformed(raw: unknown): TaskMessage | undefined {
  try {
    return parseTaskMessage(raw);
  } catch (err) {
    if (!(err instanceof AvatarError)) throw new Error(`not an AvatarError: ${String(err)}`, { cause: err });
    expect(err.code).toBe('MESSAGE_MALFORMED');
    if (err.message !== 'message body is not valid JSON') {
      expect(err.message).toMatch(/^invalid task message: /);
      expect(FIELDS.some((f) => err.message.includes(`${f}: `))).toBe(true);
    }
    return undefined;
  }
}

describe('parseTaskMessage (fuzz)', () => {
  it('never throws anything but MESSAGE_MALFORMED naming the field, whatever the body text', () => {
    fc.assert(
      fc.property(anyBody, (body) => {
        parseOrMalformed(body);
      }),
      RUNS,
    );
  });

  it('never throws anything but MESSAGE_MALFORMED for any value, parsed already', () => {
    fc.assert(
      fc.property(fc.oneof(anyValue, nearMessage), (value) => {
        parseOrMalformed(value);
      }),
      RUNS,
    );
  });

  it('names the field that is wrong', () => {
    fc.assert(
      fc.property(
        validMessage,
        fc.constantFrom('task_id', 'message_id', 'attempt', 'reason'),
        fc.constantFrom<unknown>(null, true, -1, 1.5, '', 'a b', [], {}, 'r'.repeat(2001), 101),
        (m, field, bad) => {
          const broken = { ...m, [field]: bad };
          const invalid =
            field === 'reason'
              ? typeof bad !== 'string' || bad.length > 2000
              : field === 'attempt'
                ? true
                : bad !== 101;
          if (!invalid) return;
          expect(() => parseTaskMessage(JSON.stringify(broken))).toThrow(new RegExp(`${field}: `));
        },
      ),
      RUNS,
    );
  });

  it('keeps a valid message exactly through JSON, ids as numbers or strings as given', () => {
    fc.assert(
      fc.property(validMessage, (m) => {
        const parsed = parseTaskMessage(JSON.stringify(m));
        expect(parsed).toEqual(m);
        expect(typeof parsed.task_id).toBe(typeof m.task_id);
      }),
      RUNS,
    );
  });

  it('is idempotent on whatever it accepts', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyBody,
          nearMessage.map((m) => JSON.stringify(m)),
        ),
        (body) => {
          const once = parseOrMalformed(body);
          if (once === undefined) return;
          expect(parseTaskMessage(JSON.stringify(once))).toEqual(once);
        },
      ),
      RUNS,
    );
  });
});

describe('messageKey (fuzz)', () => {
  it('is the same for every copy of a message: after JSON, on another attempt, with another reason', () => {
    fc.assert(
      fc.property(
        validMessage,
        fc.integer({ min: 1, max: 100 }),
        fc.string(),
        fc.uuid(),
        (m, attempt, reason, sqsId) => {
          const key = messageKey(m, sqsId);
          expect(messageKey(parseTaskMessage(JSON.stringify(m)), sqsId)).toBe(key);
          expect(messageKey({ ...m, attempt, reason }, sqsId)).toBe(key);
          const { created_at: _drop, ...withoutTime } = m;
          expect(messageKey(withoutTime, sqsId)).toBe(key);
          if (m.message_id !== undefined) {
            // The same topic message, its id sent as a number one time and as a string the next.
            expect(messageKey({ ...m, message_id: String(m.message_id) }, 'other')).toBe(key);
          }
        },
      ),
      RUNS,
    );
  });

  it('tells different topic messages apart', () => {
    fc.assert(
      fc.property(validMessage, idArb, (m, otherId) => {
        if (m.message_id === undefined || String(otherId) === String(m.message_id)) return;
        expect(messageKey({ ...m, message_id: otherId }, 'x')).not.toBe(messageKey(m, 'x'));
      }),
      RUNS,
    );
  });

  it("is usable as the dispatcher's dispatch_key and in a file name (dispatch/<key>-a<n>.json)", () => {
    fc.assert(
      fc.property(validMessage, fc.uuid(), (m, sqsId) => {
        const key = messageKey(m, sqsId);
        const asDispatch = dispatchMessageSchema.safeParse({ task_id: m.task_id, dispatch_key: key });
        expect(asDispatch.success, `dispatch_key ${key} (${key.length} chars)`).toBe(true);
        expect(Buffer.byteLength(`${key}-a100.json`)).toBeLessThanOrEqual(255);
      }),
      {
        ...RUNS,
        examples: [
          [
            { task_id: 1, message_id: 'A'.repeat(128), topic_id: 'B'.repeat(128) },
            '00000000-0000-1000-8000-000000000000',
          ],
        ],
      },
    );
  });
});

describe('taskIdFromTopicData (fuzz)', () => {
  it('finds the task id of any topic data, or says why not, naming data or data.task_id', () => {
    fc.assert(
      fc.property(fc.oneof(anyValue, nearMessage, fc.record({ task_id: idArb })), (data) => {
        const r = taskIdFromTopicData(data);
        if (r.ok) {
          // As given (a string id is only trimmed of surrounding white space).
          const given = (data as { task_id: unknown }).task_id;
          expect(typeof given === 'string' ? given.trim() : given).toEqual(r.taskId);
        } else {
          expect(r.reason).toMatch(/^data(\.task_id)?: /);
        }
      }),
      RUNS,
    );
  });
});
