/**
 * The task message: what travels on the task queue, local or SQS. The poller builds it from a
 * topic message; a person builds it by hand for a re-run (`{"task_id": 123, "reason": "..."}`).
 */
import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { AvatarError } from './errors.ts';

/*
 * zod/mini, zod's functional API, because the Lambda handlers bundle these schemas: imported as a
 * namespace (`import * as z`), esbuild keeps only the parts of zod that are used, where the classic
 * API (or zod/mini's own `z` export, the whole namespace as one object) keeps all of it. zod/mini
 * sets no locale, so every issue would read just "Invalid input": the English messages of the
 * classic API ("Invalid input: expected number, received string", "Too big: ...") are set here,
 * unless a locale is set already.
 */
if (!z.config().localeError) z.config(en());

/** Ids may be numbers or strings (numa-api.md); kept as given, compared as strings. */
export const idSchema = z.union([
  z.number().check(z.int(), z.nonnegative()),
  z
    .string()
    .check(
      z.trim(),
      z.minLength(1, 'must not be empty'),
      z.maxLength(128, 'must be at most 128 characters'),
      z.regex(/^[A-Za-z0-9._:-]+$/, 'may contain only letters, digits and . _ : -'),
    ),
]);
export type Id = z.infer<typeof idSchema>;

export const taskMessageSchema = z.object({
  task_id: idSchema,
  /** The topic message this came from; absent on a manual re-run. */
  message_id: z.optional(idSchema),
  topic_id: z.optional(idSchema),
  /** Why a person asked for a re-run (manual messages). */
  reason: z.optional(z.string().check(z.maxLength(2000))),
  /** 1 for the first run of a message; the stopped-task handler increments it on a re-queue. */
  attempt: z.optional(z.number().check(z.int(), z.gte(1), z.lte(100))),
  /** When the message was created (ISO 8601). */
  created_at: z.optional(z.string()),
});
export type TaskMessage = z.infer<typeof taskMessageSchema>;

export function isManual(msg: TaskMessage): boolean {
  return msg.message_id === undefined;
}

/**
 * Formats zod issues as "task_id: expected ..., reason: ..." so a person sees which field. Takes the
 * error of a classic schema as well as of a zod/mini one (both are a `$ZodError`).
 */
export function describeIssues(error: z.core.$ZodError, prefix = ''): string {
  return error.issues
    .map((i) => {
      const path = [prefix, ...i.path.map(String)].filter(Boolean).join('.');
      return `${path || '(root)'}: ${i.message}`;
    })
    .join('; ');
}

/** Parses a queue message body (a JSON string or an already-parsed value). */
export function parseTaskMessage(raw: unknown): TaskMessage {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch (cause) {
      throw new AvatarError('MESSAGE_MALFORMED', 'message body is not valid JSON', { cause });
    }
  }
  const parsed = taskMessageSchema.safeParse(value);
  if (!parsed.success) {
    throw new AvatarError('MESSAGE_MALFORMED', `invalid task message: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}

/** Extracts the task id from a topic message's `data`, or says why there is none. */
export function taskIdFromTopicData(data: unknown): { ok: true; taskId: Id } | { ok: false; reason: string } {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { ok: false, reason: `data: expected an object with task_id, got ${describeType(data)}` };
  }
  const tid = (data as Record<string, unknown>).task_id;
  const parsed = idSchema.safeParse(tid);
  if (!parsed.success) {
    return {
      ok: false,
      reason:
        tid === undefined
          ? 'data.task_id: missing'
          : `data.task_id: ${describeIssues(parsed.error)} (got ${describeType(tid)})`,
    };
  }
  return { ok: true, taskId: parsed.data };
}

export function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'number') return `the number ${v}`;
  return typeof v;
}

/**
 * The longest key messageKey returns: the AWS dispatcher's `dispatch_key` takes 200 characters, and
 * the dispatch record `dispatch/<key>-a<attempt>.json` must fit in a file name (255 bytes).
 */
export const MESSAGE_KEY_MAX = 200;

/** The deduplication/idempotency key of a message: one run per key. */
export function messageKey(msg: TaskMessage, fallback: string): string {
  const key =
    msg.message_id !== undefined
      ? `topic-${msg.topic_id ?? 'x'}-msg-${msg.message_id}`
      : `manual-${fallback}`;
  if (key.length <= MESSAGE_KEY_MAX) return key;
  // Two ids of up to 128 characters make a longer key: its head, and a digest of all of it.
  const digest = createHash('sha256').update(key).digest('hex').slice(0, 24);
  return `${key.slice(0, MESSAGE_KEY_MAX - digest.length - 2)}-h${digest}`;
}
