/**
 * The response shapes of the Numa backend (numa-api.md), validated with zod so a missing or
 * mistyped field is reported by name instead of crashing later. Unknown fields pass through.
 */
import { z } from 'zod';
import { idSchema } from '../message.ts';

const nullableText = z
  .string()
  .nullish()
  .transform((v) => v ?? '');

export const topicSchema = z.looseObject({
  id: idSchema,
  name: z.string().optional(),
  description: z.string().nullish(),
});
export type Topic = z.infer<typeof topicSchema>;

/** A topic message. `data` is kept as sent: a malformed one is dead-lettered by the poller, not here. */
export const topicMessageSchema = z.looseObject({
  id: idSchema,
  topic_id: idSchema.optional(),
  data: z.unknown(),
  created_at: z.string().nullish(),
});
export type TopicMessage = z.infer<typeof topicMessageSchema>;

export const messageListSchema = z.looseObject({ data: z.array(z.unknown()) });

export const taskSchema = z.looseObject({
  id: idSchema,
  title: z.string(),
  description: nullableText,
  status: z.string(),
  assigned_to: idSchema.nullish(),
  code_branch: z.string().trim().min(1, 'must be a non-empty branch name'),
  solution_id: idSchema.nullish(),
  requirement_id: idSchema.nullish(),
  application_id: idSchema,
  started_at: z.string().nullish(),
  completed_at: z.string().nullish(),
});
export type Task = z.infer<typeof taskSchema>;

export const applicationSchema = z.looseObject({
  id: idSchema,
  name: z.string(),
  description: nullableText,
  git_repo_url: z.string().trim().min(1, 'must be a git URL'),
  owner: z.string().nullish(),
});
export type Application = z.infer<typeof applicationSchema>;

export const logsResponseSchema = z.looseObject({ success: z.boolean().optional() });
