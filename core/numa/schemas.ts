/**
 * The response shapes of the Numa backend (numa-api.md), validated with zod so a missing or
 * mistyped field is reported by name instead of crashing later. Unknown fields pass through.
 * zod/mini, as in core/message.ts: the Lambda handlers bundle these schemas.
 */
import * as z from 'zod/mini';
import { idSchema } from '../message.ts';

const nullableText = z.pipe(
  z.nullish(z.string()),
  z.transform((v: string | null | undefined) => v ?? ''),
);

export const topicSchema = z.looseObject({
  id: idSchema,
  name: z.optional(z.string()),
  description: z.nullish(z.string()),
});
export type Topic = z.infer<typeof topicSchema>;

/** A topic message. `data` is kept as sent: a malformed one is dead-lettered by the poller, not here. */
export const topicMessageSchema = z.looseObject({
  id: idSchema,
  topic_id: z.optional(idSchema),
  data: z.unknown(),
  created_at: z.nullish(z.string()),
});
export type TopicMessage = z.infer<typeof topicMessageSchema>;

export const messageListSchema = z.looseObject({ data: z.array(z.unknown()) });

export const taskSchema = z.looseObject({
  id: idSchema,
  title: z.string(),
  description: nullableText,
  status: z.string(),
  assigned_to: z.nullish(idSchema),
  code_branch: z.string().check(z.trim(), z.minLength(1, 'must be a non-empty branch name')),
  solution_id: z.nullish(idSchema),
  requirement_id: z.nullish(idSchema),
  application_id: idSchema,
  started_at: z.nullish(z.string()),
  completed_at: z.nullish(z.string()),
});
export type Task = z.infer<typeof taskSchema>;

export const applicationSchema = z.looseObject({
  id: idSchema,
  name: z.string(),
  description: nullableText,
  git_repo_url: z.string().check(z.trim(), z.minLength(1, 'must be a git URL')),
  owner: z.nullish(z.string()),
});
export type Application = z.infer<typeof applicationSchema>;

export const logsResponseSchema = z.looseObject({ success: z.optional(z.boolean()) });
