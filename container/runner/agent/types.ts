/** Types shared by the agent loop and its tools (agent.ts re-exports the public ones). */
import type { Redactor } from '../../../core/redact.ts';
import type { TestRunResult as TestCommandResult } from '../testing/run.ts';
import type { SyntaxCheck } from '../syntax/index.ts';
import type { CommandPolicy } from './commands.ts';
import type { RepoPaths } from './paths.ts';
import type { Sandbox } from '../sandbox/types.ts';

/**
 * What the agent sees of a test run: the test runner's result less its own details. `kind` says
 * whether the problem came from the tests or from the quality gates before commit.
 */
export type TestRunResult = Pick<
  TestCommandResult,
  'passed' | 'command' | 'exitCode' | 'output' | 'durationMs'
> & {
  kind?: 'tests' | 'gates';
};

/**
 * The run's limits. Each one that is reached ends the run `failed` (AGENT_LIMIT) with a reason that
 * names its configuration key (limits.max_steps, limits.run_timeout, …). The optional ones default
 * to DEFAULT_LIMITS; 0 turns a token or cost limit off.
 */
export interface AgentLimits {
  /** Model turns (one request and the tool calls it answered with), across develop() and repair(). limits.max_steps */
  maxSteps: number;
  /** limits.run_timeout, in milliseconds. */
  wallClockMs: number;
  /** The longest a run_command may take (its default is 120 s, or this when lower). limits.command_timeout */
  commandTimeoutMs: number;
  /** Per tool result. */
  maxOutputChars: number;
  /** Prompt tokens over the whole run (all requests summed). limits.max_prompt_tokens; 0: no limit. */
  maxPromptTokens?: number;
  /** Completion tokens over the whole run. limits.max_completion_tokens; 0: no limit. */
  maxCompletionTokens?: number;
  /** Dollars over the whole run, from the price table (a model without a price is not limited). limits.max_cost_usd; 0: no limit. */
  maxCostUsd?: number;
  /** Tool errors and failed model requests in a row (a successful tool call resets the count). limits.max_consecutive_errors */
  maxConsecutiveErrors?: number;
  /** The same tool call with the same arguments this many times in a row ends the run. limits.loop_repeats */
  loopRepeats?: number;
}

export const DEFAULT_LIMITS: Required<AgentLimits> = {
  maxSteps: 40,
  wallClockMs: 30 * 60_000,
  commandTimeoutMs: 10 * 60_000,
  maxOutputChars: 12_000,
  maxPromptTokens: 3_000_000,
  maxCompletionTokens: 200_000,
  maxCostUsd: 5,
  maxConsecutiveErrors: 5,
  loopRepeats: 3,
};

/** Outcome of a syntax check of a file's new content (container/runner/syntax/). */
export type SyntaxCheckResult = SyntaxCheck;

export type SyntaxChecker = (path: string, text: string) => Promise<SyntaxCheckResult>;

/** Everything a tool may use. */
export interface ToolContext {
  paths: RepoPaths;
  limits: Pick<AgentLimits, 'commandTimeoutMs' | 'maxOutputChars'>;
  runTests: () => Promise<TestRunResult>;
  /** Repository-relative paths the file tools wrote or edited. */
  touched: Set<string>;
  redactor: Redactor;
  /** The environment run_command scrubs and hands on (default process.env). */
  baseEnv?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Milliseconds left of the run's wall clock (caps command time limits). */
  remainingMs?: () => number;
  /** Which commands run_command may run (commands.allow / commands.deny); none: every command. */
  commandPolicy?: CommandPolicy;
  /** Where run_command runs commands (default: unsandboxed). */
  sandbox?: Sandbox;
  /** Checks a file's new content before write_file/edit_file store it; none: no check. */
  checkSyntax?: SyntaxChecker;
}

export type ToolControl =
  { kind: 'finish'; summary: string; commitMessage: string } | { kind: 'blocked'; question: string };

export interface ToolResult {
  /** What the model reads. */
  output: string;
  /** A few words for the progress log (e.g. "exit 0", "3 hits"). */
  brief: string;
  /** finish and ask_clarification end the turn. */
  control?: ToolControl;
}
