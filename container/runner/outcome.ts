/** How a run ends, and the runner process's exit codes (documented in the README). */
export type FinalStatus = 'done' | 'failed' | 'blocked';

export const EXIT_CODES = {
  done: 0,
  /** Unexpected crash (an exception escaped the pipeline). */
  crash: 1,
  failed: 2,
  blocked: 3,
  usage: 64,
} as const;

export interface RunResult {
  status: FinalStatus;
  taskId: string;
  runId: string;
  /** Why it failed or what the agent asked (blocked). */
  reason?: string;
  errorCode?: string;
  branch?: string;
  commit?: string;
  diffStat?: { files: number; insertions: number; deletions: number; text: string };
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Whether the final status reached the backend. */
  reported: boolean;
  /** Done although the tests could not run (verify.allow_unverified): why they could not. */
  unverified?: string;
}
