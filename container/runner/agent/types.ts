/** Types shared by the agent loop and its tools (agent.ts re-exports the public ones). */
import type { Redactor } from '../../../core/redact.ts';
import type { RepoPaths } from './paths.ts';

export interface TestRunResult {
  passed: boolean;
  command: string;
  exitCode: number | null;
  /** The tail of the output. */
  output: string;
  durationMs: number;
}

export interface AgentLimits {
  /** Model turns (one request and the tool calls it answered with), across develop() and repair(). */
  maxSteps: number;
  wallClockMs: number;
  /** The longest a run_command may take (its default is 120 s, or this when lower). */
  commandTimeoutMs: number;
  /** Per tool result. */
  maxOutputChars: number;
}

export const DEFAULT_LIMITS: AgentLimits = {
  maxSteps: 40,
  wallClockMs: 30 * 60_000,
  commandTimeoutMs: 10 * 60_000,
  maxOutputChars: 12_000,
};

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
