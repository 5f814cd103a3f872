/**
 * Recorded sessions: a JSON file `{ "model": "...", "turns": [ScriptedTurn, ...] }` that the demo
 * and end-to-end tests replay through the scripted model server.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { AvatarError } from '../../core/errors.ts';
import { describeIssues } from '../../core/message.ts';
import type { ScriptedTurn } from './server.ts';

const turnSchema = z.object({
  content: z.string().optional(),
  tool_calls: z
    .array(
      z.object({
        name: z.string().min(1),
        arguments: z.union([z.string(), z.record(z.string(), z.unknown())]),
      }),
    )
    .optional(),
  expect: z
    .object({ lastToolResultIncludes: z.string().optional(), lastUserIncludes: z.string().optional() })
    .optional(),
  status: z.number().int().min(100).max(599).optional(),
  usage: z
    .object({
      prompt_tokens: z.number().int().nonnegative(),
      completion_tokens: z.number().int().nonnegative(),
    })
    .optional(),
  delayMs: z.number().int().nonnegative().optional(),
});

export const recordedSessionSchema = z.object({
  model: z.string().optional(),
  turns: z.array(turnSchema),
});

export type RecordedSession = z.infer<typeof recordedSessionSchema>;

/** Parses a recorded session's text; `source` names it in errors. */
export function parseRecordedSession(text: string, source = 'recorded session'): RecordedSession {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new AvatarError('CONFIG_INVALID', `${source} is not valid JSON`, { cause });
  }
  const parsed = recordedSessionSchema.safeParse(value);
  if (!parsed.success) {
    throw new AvatarError(
      'CONFIG_INVALID',
      `${source} is not a recorded session: ${describeIssues(parsed.error)}`,
    );
  }
  return parsed.data;
}

/** Reads the turns of a recorded session file. */
export function loadRecordedSession(file: string): ScriptedTurn[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new AvatarError('CONFIG_NOT_FOUND', `cannot read the recorded session ${file}`, { cause });
  }
  return parseRecordedSession(text, file).turns;
}
