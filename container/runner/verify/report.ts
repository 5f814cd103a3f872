/**
 * The per-run verification report: setup steps, tests before (baseline) and after, the failures
 * by kind, the quality gates. Saved as JSON beside the run's other artifacts
 * (runs/<task>/<run>/tests.json) and summed up in the task's logs at the end of the run.
 */
import type { TestCounts } from './results/index.ts';
import type { SetupStepReport } from './setup.ts';
import type { SecretFinding } from './gates/secrets.ts';
import type { DangerousFinding } from './gates/dangerous.ts';
import type { SyntaxProblem } from './gates/syntax.ts';
import type { TestEdit } from './gates/test-edits.ts';
import type { UnsafeFileFinding } from './gates/unsafe-files.ts';

export interface TestRunReport {
  command: string;
  passed: boolean;
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  /** Formats read from the output; empty when the whole command counted as one test. */
  formats: string[];
  counts: TestCounts;
  /** Names of the failed tests. */
  failed: string[];
}

export interface FailureReport {
  name: string;
  /** The part of the output about it (capped). */
  details?: string;
}

export interface LintReport {
  name: string;
  command: string;
  passed: boolean;
  exitCode: number | null;
  timedOut: boolean;
  blocking: boolean;
  problems: string[];
}

export interface VerificationReport {
  version: 1;
  test_command: string | null;
  test_command_source: string | null;
  setup: SetupStepReport[];
  baseline: TestRunReport | null;
  after: TestRunReport | null;
  failures: { new: FailureReport[]; pre_existing: FailureReport[]; flaky: FailureReport[] };
  repair_rounds: number;
  gates: {
    syntax: { available: boolean; checked: string[]; errors: SyntaxProblem[] } | null;
    lint: { enabled: boolean; linters: LintReport[] } | null;
    secrets: { mode: 'block' | 'report'; findings: SecretFinding[]; blocked: boolean } | null;
    dangerous: { mode: 'report' | 'off'; findings: DangerousFinding[] } | null;
    test_edits: { mode: 'revert' | 'flag'; edits: TestEdit[] } | null;
    /** Changed files that cannot be committed: links out of the repository, files over limits.max_file_bytes, hard links. */
    files: { max_file_bytes: number; findings: UnsafeFileFinding[] } | null;
  };
  /**
   * Whether the tests could run: before the change (baseline) and after it. `why` says what
   * stopped them (verify/runnable.ts).
   */
  runnable: {
    baseline: { runnable: boolean; why?: string } | null;
    after: { runnable: boolean; why?: string } | null;
  };
  /** Set when the change was committed although the tests could not run (verify.allow_unverified). */
  unverified: string | null;
  /** passed: the change may be committed; otherwise why not. */
  outcome: 'pending' | 'passed' | 'unverified' | 'tests_failed' | 'tests_not_run' | 'gate_blocked';
}

export function emptyReport(): VerificationReport {
  return {
    version: 1,
    test_command: null,
    test_command_source: null,
    setup: [],
    baseline: null,
    after: null,
    failures: { new: [], pre_existing: [], flaky: [] },
    repair_rounds: 0,
    gates: { syntax: null, lint: null, secrets: null, dangerous: null, test_edits: null, files: null },
    runnable: { baseline: null, after: null },
    unverified: null,
    outcome: 'pending',
  };
}

/** "a, b, c and 4 more" */
export function nameList(names: readonly string[], max = 8): string {
  if (names.length === 0) return 'none';
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

export function formatCounts(r: TestRunReport): string {
  const { passed, failed, skipped } = r.counts;
  const how = r.timedOut ? ', timed out' : '';
  const per = r.formats.length ? r.formats.join(' + ') : 'whole command as one test';
  return `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''} (\`${r.command}\` exit ${r.exitCode ?? 'none'}${how}; ${per})`;
}

/** The report as task-log lines (the end-of-run summary). */
export function reportLines(r: VerificationReport): string[] {
  const lines: string[] = [];
  const cannot = (v: { runnable: boolean; why?: string } | null) =>
    v && !v.runnable ? ` (the tests could not run: ${v.why})` : '';
  if (r.test_command === null) {
    lines.push('verification: tests: none (no test command configured or detected)');
  } else {
    lines.push(
      `verification: tests before (baseline): ${r.baseline ? formatCounts(r.baseline) : 'not run'}${cannot(r.runnable.baseline)}`,
    );
    lines.push(
      `verification: tests after: ${r.after ? formatCounts(r.after) : 'not run'}${cannot(r.runnable.after)}`,
    );
    const names = (xs: FailureReport[]) => nameList(xs.map((x) => x.name));
    lines.push(`verification: new failures: ${names(r.failures.new)}`);
    lines.push(
      `verification: pre-existing failures (failed before the change too; reported, not blocking): ${names(r.failures.pre_existing)}`,
    );
    lines.push(`verification: flaky (failed, then passed on a re-run): ${names(r.failures.flaky)}`);
  }
  lines.push(`verification: gates: ${gateSummary(r)}`);
  if (r.unverified) lines.push(`verification: UNVERIFIED: ${r.unverified} (verify.allow_unverified)`);
  return lines;
}

export function gateSummary(r: VerificationReport): string {
  const g = r.gates;
  const parts: string[] = [];
  if (g.test_edits) {
    const by = (a: TestEdit['action']) =>
      g.test_edits!.edits.filter((e) => e.action === a).map((e) => e.file);
    const reverted = by('reverted');
    const flagged = by('flagged');
    parts.push(
      `test edits ${
        reverted.length + flagged.length === 0
          ? 'none unrequested'
          : [
              reverted.length ? `${reverted.length} reverted (${nameList(reverted, 5)})` : '',
              flagged.length ? `${flagged.length} flagged (${nameList(flagged, 5)})` : '',
            ]
              .filter(Boolean)
              .join(', ')
      }`,
    );
  }
  if (g.files) {
    parts.push(
      g.files.findings.length === 0
        ? 'files ok'
        : `files ${g.files.findings.length} refused (${nameList(
            g.files.findings.map((f) => f.file),
            5,
          )})`,
    );
  }
  if (g.syntax) {
    parts.push(
      !g.syntax.available
        ? 'syntax not checked (no checker)'
        : g.syntax.errors.length
          ? `syntax ${g.syntax.errors.length} error(s) (${nameList(
              g.syntax.errors.map((e) => `${e.file}:${e.line}`),
              5,
            )})`
          : `syntax ok (${g.syntax.checked.length} file(s))`,
    );
  }
  if (g.lint) {
    if (!g.lint.enabled) parts.push('lint off (gates.lint)');
    else if (g.lint.linters.length === 0) parts.push('lint: no linter for the changed files');
    else
      parts.push(
        `lint ${g.lint.linters
          .map(
            (l) =>
              `${l.name} ${l.passed ? 'ok' : l.blocking ? 'failed on changed files' : l.timedOut ? 'timed out' : 'failed (not on changed files)'}`,
          )
          .join(', ')}`,
      );
  }
  if (g.secrets) {
    parts.push(
      g.secrets.findings.length === 0
        ? 'secrets none found'
        : `secrets ${g.secrets.findings.length} finding(s)${g.secrets.blocked ? ', push blocked' : ' (reported)'}`,
    );
  }
  if (g.dangerous) {
    parts.push(
      g.dangerous.mode === 'off'
        ? 'dangerous patterns off'
        : `dangerous patterns ${g.dangerous.findings.length ? `${g.dangerous.findings.length} warning(s)` : 'none'}`,
    );
  }
  return parts.length ? parts.join('; ') : 'not run';
}
