/** ask_clarification: stops the run; the task becomes `blocked` with the question in its logs. */
import { AvatarError } from '../../../../core/errors.ts';
import type { ToolContext, ToolResult } from '../types.ts';

export interface AskClarificationArgs {
  question: string;
}

export async function askClarification(_ctx: ToolContext, args: AskClarificationArgs): Promise<ToolResult> {
  const question = args.question.trim();
  if (question === '') throw new AvatarError('TOOL_INVALID', 'question must not be empty');
  return {
    output: 'Question recorded; the run stops here until a person answers.',
    brief: 'blocked',
    control: { kind: 'blocked', question },
  };
}
