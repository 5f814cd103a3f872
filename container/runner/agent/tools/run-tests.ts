/**
 * run_tests: the project's test command (injected by the pipeline), pass/fail and the output's
 * tail. The answer holds no timing (the progress log has it): the same results read the same, so
 * a re-run replays from the model cache.
 */
import { tailText } from '../text.ts';
import type { ToolContext, ToolResult } from '../types.ts';

export async function runTestsTool(ctx: ToolContext): Promise<ToolResult> {
  const r = await ctx.runTests();
  const verdict = r.passed ? 'PASSED' : 'FAILED';
  const secs = (r.durationMs / 1000).toFixed(1);
  const output = ctx.redactor.redact(
    tailText(r.output || '(no output)', Math.max(200, ctx.limits.maxOutputChars - 300)),
  );
  return {
    output: `tests ${verdict}: \`${ctx.redactor.redact(r.command)}\` exit code ${r.exitCode ?? 'none'}\n${output}`,
    brief: `${verdict.toLowerCase()} (exit ${r.exitCode ?? 'none'}, ${secs} s)`,
  };
}
