/** finish: ends the agent's turn; the pipeline then verifies (tests, quality gates) and commits. */
import type { ToolContext, ToolResult } from '../types.ts';

export interface FinishArgs {
  summary?: string;
  commit_message?: string;
}

export async function finish(_ctx: ToolContext, args: FinishArgs): Promise<ToolResult> {
  return {
    output: 'Finished; the pipeline will now run the tests and commit.',
    brief: 'finished',
    control: {
      kind: 'finish',
      summary: (args.summary ?? '').trim(),
      commitMessage: (args.commit_message ?? '').trim(),
    },
  };
}
