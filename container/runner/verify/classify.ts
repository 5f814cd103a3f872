/**
 * Test runs as per-test results, and the failures after a change sorted into three kinds:
 * pre-existing (failed on the untouched branch too), flaky (failed, then passed on a re-run) and
 * new (everything else: these are the change's to fix).
 */
import { parseTestOutput } from './results/index.ts';
import type { TestCase, TestCounts, TestStatus } from './results/index.ts';

/** The name of the one "test" a command is when its output has no per-test results. */
export const WHOLE_COMMAND = '(the whole test command)';

/** What a test command returned (the agent's TestRunResult, plus timedOut when known). */
export interface RawTestRun {
  passed: boolean;
  command: string;
  exitCode: number | null;
  output: string;
  durationMs: number;
  timedOut?: boolean;
  /** The install step failed, so the tests did not run: its command and exit code. */
  setupFailed?: { command: string; exitCode: number | null };
  /** The output to read the results from, when `output` is only its tail (runTestCommand). */
  fullOutput?: string;
}

export interface TestRunSummary {
  command: string;
  /** The command exited 0. */
  passed: boolean;
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  /** Formats recognised in the output; empty when the whole command counts as one test. */
  formats: string[];
  perTest: boolean;
  counts: TestCounts;
  /** Failed tests, with the part of the output about each when it was found. */
  failures: TestCase[];
  /** Every test named in the output (pytest -q names only failures). */
  statuses: Map<string, TestStatus>;
  /** The output's tail as the command printed it. */
  output: string;
}

export function summarizeRun(run: RawTestRun, cwd?: string): TestRunSummary {
  const parsed = parseTestOutput(run.fullOutput ?? run.output, { cwd });
  const statuses = new Map<string, TestStatus>();
  const failures: TestCase[] = [];
  for (const c of parsed?.cases ?? []) {
    const seen = statuses.get(c.name);
    if (seen === 'failed') continue;
    statuses.set(c.name, c.status);
    if (c.status === 'failed') failures.push(c);
  }
  const counts: TestCounts = parsed ? { ...parsed.counts } : { passed: 0, failed: 0, skipped: 0 };
  if (!run.passed && failures.length === 0) {
    // The command failed but no test did (it crashed, timed out, could not install, or its
    // output is not one we read): the command itself is the failing test.
    failures.push({ name: WHOLE_COMMAND, status: 'failed', details: tail(run.output, 3000) });
    statuses.set(WHOLE_COMMAND, 'failed');
    counts.failed += 1;
  } else if (run.passed && !parsed) {
    statuses.set(WHOLE_COMMAND, 'passed');
    counts.passed += 1;
  }
  return {
    command: run.command,
    passed: run.passed,
    exitCode: run.exitCode,
    timedOut: run.timedOut === true,
    durationMs: run.durationMs,
    formats: parsed?.formats ?? [],
    perTest: parsed !== undefined,
    counts,
    failures,
    statuses,
    output: run.output,
  };
}

export interface Classification {
  /** Failed after the change and not before, and failed again on every re-run. */
  newFailures: TestCase[];
  /** Failed on the untouched branch too. */
  preExisting: TestCase[];
  /** Failed after the change, then passed on a re-run. */
  flaky: TestCase[];
}

/** Sorts the failures of a run after the change against the baseline (no baseline: none pre-existing). */
export function classifyAgainstBaseline(
  baseline: TestRunSummary | undefined,
  after: TestRunSummary,
): { suspects: TestCase[]; preExisting: TestCase[] } {
  const suspects: TestCase[] = [];
  const preExisting: TestCase[] = [];
  for (const f of after.failures) {
    if (baseline?.statuses.get(f.name) === 'failed') preExisting.push(f);
    else suspects.push(f);
  }
  return { suspects, preExisting };
}

/** Whether a test that failed passed in `rerun`. */
export function passedOnRerun(name: string, rerun: TestRunSummary): boolean {
  if (rerun.passed) return true;
  if (rerun.statuses.get(name) === 'passed') return true;
  // pytest -q and Jest/Vitest name only failures: not named as failed in a run whose failures
  // are all named means it passed (unless the run as a whole broke).
  return (
    rerun.perTest &&
    !rerun.statuses.has(WHOLE_COMMAND) &&
    rerun.statuses.get(name) !== 'failed' &&
    rerun.statuses.get(name) !== 'skipped' &&
    name !== WHOLE_COMMAND
  );
}

/** Splits suspects into flaky (passed on some re-run) and new (failed on every re-run). */
export function settleWithReruns(
  suspects: readonly TestCase[],
  reruns: readonly TestRunSummary[],
): { newFailures: TestCase[]; flaky: TestCase[] } {
  const newFailures: TestCase[] = [];
  const flaky: TestCase[] = [];
  for (const s of suspects) {
    if (reruns.some((r) => passedOnRerun(s.name, r))) flaky.push(s);
    else newFailures.push(s);
  }
  return { newFailures, flaky };
}

export function tail(text: string, max: number): string {
  return text.length <= max ? text : `[… ${text.length - max} characters cut …]\n${text.slice(-max)}`;
}
