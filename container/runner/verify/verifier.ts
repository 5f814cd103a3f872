/**
 * Verification of one run's change, in the pipeline's order:
 *
 *   prepare (right after the clone: keep the original test files) → setup steps → baseline tests
 *   (untouched branch) → [the agent develops] → verifyChange(): test-edit review, tests with
 *   per-test classification (new / pre-existing / flaky, re-running suspects), the committable-files,
 *   syntax and lint gates → [repair rounds while it returns a problem] → beforeCommit(): the
 *   committable-files gate again (blocks the commit), secret scanner (blocks the push),
 *   dangerous-pattern report → commit.
 *
 * Everything it finds goes to the task's logs and to a JSON report saved after every phase.
 */
import { AvatarError, describeError } from '../../../core/errors.ts';
import type { TestRunResult } from '../agent/agent.ts';
import type { GitEngine } from '../git/index.ts';
import type { DetectedTestCommand } from '../testing/detect.ts';
import { runTestCommand } from '../testing/run.ts';
import {
  classifyAgainstBaseline,
  settleWithReruns,
  summarizeRun,
  tail,
  WHOLE_COMMAND,
  type RawTestRun,
  type TestRunSummary,
} from './classify.ts';
import { scanPatchForDangerousPatterns } from './gates/dangerous.ts';
import { runLintGate, type DetectLintOptions } from './gates/lint.ts';
import { formatSecretFinding, scanPatchForSecrets } from './gates/secrets.ts';
import { checkChangedFilesSyntax, defaultSyntaxChecker, type SyntaxChecker } from './gates/syntax.ts';
import { reviewTestEdits, TestFileOriginals, type TestEdit } from './gates/test-edits.ts';
import {
  DEFAULT_MAX_FILE_BYTES,
  findUnsafeFiles,
  formatUnsafeFile,
  type UnsafeFileFinding,
} from './gates/unsafe-files.ts';
import { emptyReport, nameList, reportLines, type TestRunReport, type VerificationReport } from './report.ts';
import type { TestCase } from './results/index.ts';
import type { DepsCache, DepsKey } from './deps-cache.ts';
import { judgeRunnability, shortCommand, type Runnability } from './runnable.ts';
import { runSetupSteps } from './setup.ts';
import type { Sandbox } from '../sandbox/types.ts';

/** The configuration this uses (a slice of core/config's Config). */
export interface VerifyConfig {
  setup: { commands: string[]; timeout: number };
  gates: {
    lint: boolean;
    secrets: 'block' | 'report';
    test_edits: 'revert' | 'flag';
    dangerous: 'report' | 'off';
  };
  tests: { flaky_reruns: number };
  /** allow_unverified: a change whose tests cannot run may still be committed, marked unverified. */
  verify: { allow_unverified: boolean };
  /** max_file_bytes: the largest file a change may commit (default DEFAULT_MAX_FILE_BYTES, 10 MiB). */
  limits: { test_timeout: number; command_timeout: number; max_file_bytes?: number };
}

export interface VerifierOptions {
  repoDir: string;
  config: VerifyConfig;
  /** The test command (undefined: the change is not tested). */
  detected: DetectedTestCommand | undefined;
  /** Run once before the first test run (tests.setup, or the detected install step). */
  installCommand?: string;
  task: { title: string; description: string };
  git: Pick<GitEngine, 'changedFiles' | 'diffPatch'>;
  /** The commit the run started from (default HEAD). */
  baseOid?: string;
  /** Exact values that must never be pushed (the configured tokens and keys). */
  secrets: readonly string[];
  /** Told each secret value the scanner finds in the change (e.g. Redactor.add, so no artifact keeps it). */
  onSecret?: (value: string) => void;
  log: (line: string) => void;
  /** Told the name of each phase (the pipeline's "while …" in timeout messages). */
  step?: (name: string) => void;
  signal?: AbortSignal;
  /** The syntax checker; default: container/runner/syntax's checkSyntax. null: the gate is skipped. */
  checkSyntax?: SyntaxChecker | null;
  /** Stores the report (runs/<task>/<run>/tests.json); errors are logged, never thrown. */
  save?: (report: VerificationReport) => Promise<unknown>;
  /** Environment of the commands it runs (default: scrubbed process.env, CI=true). */
  env?: NodeJS.ProcessEnv;
  lintDetect?: DetectLintOptions;
  /** Where setup, tests and gates run (default: unsandboxed). */
  sandbox?: Sandbox;
  /** What the install step downloads, kept per repository and lockfiles (deps-cache.ts). */
  depsCache?: { cache: DepsCache; repoUrl: string };
}

export interface TestCheck {
  /** Undefined when there is no test command. */
  summary?: TestRunSummary;
  /** Why the tests could not run (no command, the install failed, nothing collected or passed). */
  unrunnable?: string;
  newFailures: TestCase[];
  preExisting: TestCase[];
  flaky: TestCase[];
}

/** What stops the change from being committed as it is: the agent gets `request` in a repair round. */
export interface VerificationProblem {
  /** unrunnable: the tests cannot run at all, so the change cannot be verified. */
  kind: 'tests' | 'gates' | 'unrunnable';
  /** Whether a repair round can fix it (false: no test command to run). */
  repairable: boolean;
  /** One line for the logs ("2 new test failure(s): a, b"). */
  summary: string;
  /** What the agent's repair() gets: the problems named, with their output. */
  request: TestRunResult;
  /** The run's error when no repair round is left. */
  error: AvatarError;
}

const FILE_PROBLEMS: Record<UnsafeFileFinding['kind'], string> = {
  symlink_outside: 'symbolic link outside the repository',
  too_large: 'over limits.max_file_bytes',
  hard_link: 'hard link',
};

/** Why there is nothing to verify with when no test command is configured or detected. */
export const NO_TEST_COMMAND = 'no test command detected and none configured (tests.command)';

const MAX_DETAILS_PER_FAILURE = 2500;
const MAX_REQUEST_CHARS = 10_000;

export class Verifier {
  readonly report: VerificationReport = emptyReport();
  private originals: TestFileOriginals | undefined;
  private baselineRun: TestRunSummary | undefined;
  /** Whether the baseline showed tests that can run (its failures are pre-existing only then). */
  private baselineRunnability: Runnability | undefined;
  private installed = false;
  /** The dependency cache was looked up (once, before the first install). */
  private depsLookedUp = false;
  private depsRestored = false;
  private depsKey: DepsKey | undefined;
  /** The baseline is running: an install now is before the agent started. */
  private inBaseline = false;
  private readonly reverted = new Set<string>();
  private readonly checker: SyntaxChecker | null;

  constructor(private readonly opts: VerifierOptions) {
    this.report.test_command = opts.detected?.command ?? null;
    this.report.test_command_source = opts.detected?.source ?? null;
    this.checker = opts.checkSyntax === undefined ? defaultSyntaxChecker : opts.checkSyntax;
  }

  /** Right after the clone, before anything runs: keeps the original content of the test files. */
  async prepare(): Promise<void> {
    this.originals = await TestFileOriginals.capture(this.opts.repoDir);
  }

  /** The setup steps (setup.commands, then .numa/setup.sh). Never throws for a failing step. */
  async setup(): Promise<void> {
    this.step('running setup steps');
    this.report.setup = await runSetupSteps({
      repoDir: this.opts.repoDir,
      commands: this.opts.config.setup.commands,
      timeoutMs: this.opts.config.setup.timeout * 1000,
      log: this.opts.log,
      signal: this.opts.signal,
      env: this.opts.env,
      sandbox: this.opts.sandbox,
    });
    await this.save();
  }

  /** The tests on the untouched branch: what fails here is pre-existing. */
  async baseline(): Promise<void> {
    if (!this.opts.detected) {
      this.report.runnable.baseline = { runnable: false, why: NO_TEST_COMMAND };
      await this.save();
      return;
    }
    this.step('running the baseline tests');
    let run = await this.runBaselineTests();
    let summary = summarizeRun(run, this.opts.repoDir);
    let verdict = this.judge(summary, run);
    if (!verdict.runnable && run.setupFailed) {
      // An install can fail for a passing reason (a registry's hiccup): once more before giving up.
      this.opts.log(`the tests cannot run before the change: ${verdict.why}; running the install step again`);
      run = await this.runBaselineTests();
      summary = summarizeRun(run, this.opts.repoDir);
      verdict = this.judge(summary, run);
    }
    this.baselineRun = summary;
    this.baselineRunnability = verdict;
    this.report.baseline = runReport(this.baselineRun);
    this.report.runnable.baseline = { runnable: verdict.runnable, why: verdict.why };
    const failed = this.baselineRun.failures.map((f) => f.name);
    this.opts.log(
      `baseline (tests before the change): ${this.baselineRun.counts.passed} passed, ${this.baselineRun.counts.failed} failed` +
        (failed.length ? `; failing already: ${nameList(failed)}` : ''),
    );
    if (!verdict.runnable) {
      this.opts.log(
        `the tests cannot run before the change: ${verdict.why}. Nothing counts as a pre-existing failure; ` +
          'the agent gets the error to make them run, and the change is not verified until they do',
      );
    }
    for (const w of verdict.warnings) this.opts.log(`warning: beside the passing tests: ${w}`);
    await this.save();
  }

  /**
   * What the agent is told before it starts when the tests cannot run on the untouched branch
   * (undefined when they can, or when there is no test command: nothing to make run).
   */
  environmentProblem(): string | undefined {
    const v = this.baselineRunnability;
    if (!v || v.runnable || !this.baselineRun) return undefined;
    return [
      `The project's tests cannot run as the branch is, before any change: ${v.why}.`,
      `The test command is \`${shortCommand(this.baselineRun.command)}\`${this.opts.installCommand ? `, after the install step \`${shortCommand(this.opts.installCommand)}\`` : ''}.`,
      'Make them run as part of your work (a missing import path, a test configuration, a dependency the project declares but does not install): your change is verified only by tests that run, and a change whose tests cannot run is not pushed.',
      'Commands you run have no network; the install step does (the package registries).',
      '',
      'End of its output:',
      tail(this.baselineRun.output, 3000),
    ].join('\n');
  }

  /** Whether a change whose tests cannot run may still be committed (verify.allow_unverified). */
  get allowUnverified(): boolean {
    return this.opts.config.verify.allow_unverified;
  }

  /** The change is committed although its tests could not run: said in the report and the summary. */
  async markUnverified(why: string): Promise<void> {
    this.report.unverified = `tests could not run: ${why}`;
    this.report.outcome = 'unverified';
    this.opts.log(
      `UNVERIFIED: the tests could not run (${why}); verify.allow_unverified is true, so the change goes on untested`,
    );
    await this.save();
  }

  private judge(summary: TestRunSummary, run: RawTestRun, strict = true): Runnability {
    return judgeRunnability(summary, {
      setupFailed: run.setupFailed,
      timeoutSeconds: this.opts.config.limits.test_timeout,
      strict,
      cwd: this.opts.repoDir,
    });
  }

  private depsContext(installCommand: string) {
    const d = this.opts.depsCache;
    if (!d || !this.opts.sandbox) return undefined;
    return {
      cache: d.cache,
      ctx: {
        repoUrl: d.repoUrl,
        repoDir: this.opts.repoDir,
        installCommand,
        sandbox: this.opts.sandbox,
        env: this.opts.env,
        log: this.opts.log,
        signal: this.opts.signal,
      },
    };
  }

  /** The baseline the failures after the change are compared with: only one whose tests ran. */
  private usableBaseline(): TestRunSummary | undefined {
    return this.baselineRunnability?.runnable ? this.baselineRun : undefined;
  }

  /** runTests() before the agent started: an install it makes may fill the dependency cache. */
  private async runBaselineTests(): Promise<RawTestRun> {
    this.inBaseline = true;
    try {
      return await this.runTests();
    } finally {
      this.inBaseline = false;
    }
  }

  /** One run of the test command, with the install step first (once, until it succeeds). */
  async runTests(): Promise<RawTestRun> {
    const detected = this.opts.detected;
    if (!detected) {
      return {
        passed: true,
        command: '(none)',
        exitCode: 0,
        output: 'no test command configured or detected',
        durationMs: 0,
      };
    }
    const timeoutMs = this.opts.config.limits.test_timeout * 1000;
    const install = this.opts.installCommand;
    if (install && !this.installed) {
      const deps = this.depsContext(install);
      if (deps && !this.depsLookedUp) {
        this.depsLookedUp = true;
        this.depsKey = await deps.cache.key(deps.ctx);
        this.depsRestored = await deps.cache.restore(deps.ctx, this.depsKey);
      }
      const s = await runTestCommand({
        command: install,
        cwd: this.opts.repoDir,
        timeoutMs,
        signal: this.opts.signal,
        env: this.opts.env,
        sandbox: this.opts.sandbox,
        network: 'setup',
      });
      this.opts.log(`setup \`${shortCommand(install)}\`: exit ${s.exitCode ?? 'none'} in ${s.durationMs} ms`);
      // What it said it did (which install applied, which fallback), a failure's end too.
      const said = s.output
        .trimEnd()
        .split('\n')
        .filter((l) => l.trim() !== '')
        .slice(-15);
      if (said.length) this.opts.log(said.map((l) => `  | ${l.slice(0, 300)}`).join('\n'));
      if (!s.passed) {
        return {
          ...s,
          output: `setup command failed: ${install}\n${s.output}`,
          setupFailed: { command: install, exitCode: s.exitCode },
        };
      }
      this.installed = true;
      // Kept only from an install before the agent started, only when it was not restored, and
      // only under the key looked up before it (none when no lockfile was there).
      if (deps && this.inBaseline && !this.depsRestored && this.depsKey)
        await deps.cache.save(deps.ctx, this.depsKey);
    }
    const r = await runTestCommand({
      command: detected.command,
      cwd: this.opts.repoDir,
      timeoutMs,
      signal: this.opts.signal,
      env: this.opts.env,
      sandbox: this.opts.sandbox,
    });
    this.opts.log(
      `tests ${r.passed ? 'passed' : r.timedOut ? 'timed out' : 'failed'}: \`${r.command}\` exit ${r.exitCode ?? 'none'} in ${r.durationMs} ms`,
    );
    return r;
  }

  /** The agent's run_tests: the run as is, plus a note on which failures were there before its change. */
  async runTestsForAgent(): Promise<TestRunResult> {
    const raw = await this.runTests();
    const result: TestRunResult = {
      passed: raw.passed,
      command: raw.command,
      exitCode: raw.exitCode,
      output: raw.output,
      durationMs: raw.durationMs,
    };
    const baseline = this.usableBaseline();
    if (raw.passed || !baseline) return result;
    const { suspects, preExisting } = classifyAgainstBaseline(baseline, summarizeRun(raw, this.opts.repoDir));
    if (preExisting.length === 0) return result;
    const note =
      `\n\n[numa-avatar] ${preExisting.length} of the failing tests failed before your change too ` +
      `(pre-existing; not yours to fix unless the task asks): ${nameList(preExisting.map((f) => f.name))}. ` +
      (suspects.length
        ? `Failing because of your change: ${nameList(suspects.map((f) => f.name))}.`
        : 'No other test fails: as far as your change goes, the tests pass.');
    return { ...result, output: result.output + note };
  }

  /**
   * After the agent finished: reviews test edits, runs and classifies the tests, runs the syntax
   * and lint gates. Returns what must be repaired, or undefined when the change may be committed.
   */
  async verifyChange(opts: { canRepair?: boolean } = {}): Promise<VerificationProblem | undefined> {
    let changed = await this.opts.git.changedFiles(this.opts.repoDir);
    const edits = await this.reviewTestEdits(changed);
    if (edits.some((e) => e.action === 'reverted'))
      changed = await this.opts.git.changedFiles(this.opts.repoDir);

    const check = await this.checkTests();
    if (check.unrunnable !== undefined) {
      const problem = this.unrunnableProblem(check);
      // Repairable while rounds are left; after that (or with nothing to repair) the run fails,
      // unless an unverified change is allowed: then it goes on to the gates, marked so.
      if ((problem.repairable && opts.canRepair !== false) || !this.allowUnverified) {
        this.report.outcome = 'tests_not_run';
        await this.save();
        return problem;
      }
      await this.markUnverified(check.unrunnable);
    }
    if (check.newFailures.length > 0) {
      this.report.outcome = 'tests_failed';
      await this.save();
      return this.testProblem(check);
    }
    const gates = await this.checkGates(changed);
    this.report.outcome = gates ? 'gate_blocked' : this.report.unverified ? 'unverified' : 'pending';
    await this.save();
    return gates;
  }

  /** Runs the tests and sorts the failures (pre-existing, then re-runs for flaky ones). */
  async checkTests(): Promise<TestCheck> {
    if (!this.opts.detected) {
      this.report.runnable.after = { runnable: false, why: NO_TEST_COMMAND };
      return { newFailures: [], preExisting: [], flaky: [], unrunnable: NO_TEST_COMMAND };
    }
    this.step('running the tests');
    const raw = await this.runTests();
    const summary = summarizeRun(raw, this.opts.repoDir);
    // After a baseline whose tests ran, whatever fails is the change's (an install it broke
    // included). After one whose tests could not run, the change must first make them run.
    const verdict = this.baselineRunnability?.runnable
      ? { runnable: true, warnings: [] }
      : this.judge(summary, raw, false);
    this.report.runnable.after = { runnable: verdict.runnable, why: verdict.why };
    if (!verdict.runnable) {
      this.report.after = runReport(summary);
      this.opts.log(
        `tests after the change: ${summary.counts.passed} passed, ${summary.counts.failed} failed; the tests could not run: ${verdict.why}`,
      );
      await this.save();
      return { summary, newFailures: [], preExisting: [], flaky: [], unrunnable: verdict.why };
    }
    for (const w of verdict.warnings) this.opts.log(`warning: beside the passing tests: ${w}`);
    const { suspects, preExisting } = classifyAgainstBaseline(this.usableBaseline(), summary);
    let newFailures = suspects;
    const flaky: TestCase[] = [];
    for (let i = 0; i < this.opts.config.tests.flaky_reruns && newFailures.length > 0; i++) {
      this.step('re-running failing tests');
      this.opts.log(
        `re-running the tests (${i + 1} of ${this.opts.config.tests.flaky_reruns}, tests.flaky_reruns): ${newFailures.length} failure(s) not seen in the baseline: ${nameList(newFailures.map((f) => f.name))}`,
      );
      const rerun = summarizeRun(await this.runTests(), this.opts.repoDir);
      const settled = settleWithReruns(newFailures, [rerun]);
      flaky.push(...settled.flaky);
      newFailures = settled.newFailures;
    }
    this.report.after = runReport(summary);
    this.report.failures = {
      new: newFailures.map(failureReport),
      pre_existing: preExisting.map(failureReport),
      flaky: flaky.map(failureReport),
    };
    this.opts.log(
      `tests after the change: ${summary.counts.passed} passed, ${summary.counts.failed} failed; ` +
        `new failures: ${nameList(newFailures.map((f) => f.name))}; ` +
        `pre-existing: ${nameList(preExisting.map((f) => f.name))}; flaky: ${nameList(flaky.map((f) => f.name))}`,
    );
    await this.save();
    return { summary, newFailures, preExisting, flaky };
  }

  /** Edits to existing test files the task did not ask for: reverted or flagged (gates.test_edits). */
  async reviewTestEdits(changed: readonly string[]): Promise<TestEdit[]> {
    if (!this.originals || this.originals.size === 0) {
      this.report.gates.test_edits ??= { mode: this.opts.config.gates.test_edits, edits: [] };
      return [];
    }
    this.step('reviewing edits to existing tests');
    const edits = await reviewTestEdits({
      repoDir: this.opts.repoDir,
      changed,
      originals: this.originals,
      taskText: `${this.opts.task.title}\n${this.opts.task.description}`,
      mode: this.opts.config.gates.test_edits,
    });
    // Earlier rounds' reverts stay in the report; a file reverted again counts once.
    const previous = this.report.gates.test_edits?.edits ?? [];
    const merged = new Map(previous.map((e) => [e.file, e]));
    for (const e of edits) {
      merged.set(e.file, e);
      if (e.action === 'reverted') {
        this.reverted.add(e.file);
        this.opts.log(
          `test edit reverted: ${e.file} (${e.change}; the task does not ask for test changes; gates.test_edits = revert): the original is restored`,
        );
      } else if (e.action === 'flagged') {
        this.opts.log(
          `warning: test edit flagged: ${e.file} (${e.change}) although the task does not ask for test changes (gates.test_edits = ${this.opts.config.gates.test_edits})`,
        );
      } else {
        this.opts.log(`test edit kept: ${e.file} (${e.change}; the task asks for test work)`);
      }
    }
    this.report.gates.test_edits = { mode: this.opts.config.gates.test_edits, edits: [...merged.values()] };
    return edits;
  }

  /**
   * Files that cannot be committed (links out of the repository, files over limits.max_file_bytes,
   * hard links), the syntax of every changed file, then the project's linter: a problem to repair,
   * or undefined.
   */
  async checkGates(changed: readonly string[]): Promise<VerificationProblem | undefined> {
    this.step('running the quality gates (files, syntax, lint)');
    const sections: string[] = [];
    const summaries: string[] = [];

    const unsafe = await this.checkFiles(changed);
    if (unsafe.length) {
      summaries.push(`${unsafe.length} file(s) that cannot be committed`);
      sections.push(
        [
          'Files that cannot be committed (refused before the commit). Remove them or change them:',
          ...unsafe.map((f) => `- ${formatUnsafeFile(f)}`),
          'A symbolic link must be relative and stay inside the repository; a file over limits.max_file_bytes is not committed (generate it, or leave it out with .gitignore).',
        ].join('\n'),
      );
    }

    if (this.checker) {
      const syntax = await checkChangedFilesSyntax(this.opts.repoDir, changed, this.checker);
      this.report.gates.syntax = { available: true, checked: syntax.checked, errors: syntax.errors };
      if (syntax.errors.length) {
        for (const e of syntax.errors)
          this.opts.log(`gate syntax: ${e.file}:${e.line}:${e.column}: ${e.message}`);
        summaries.push(`${syntax.errors.length} syntax error(s)`);
        sections.push(
          [
            'Syntax errors: these files no longer parse. Fix them:',
            ...syntax.errors.map((e) => `- ${e.file}:${e.line}:${e.column}: ${e.message}`),
          ].join('\n'),
        );
      } else {
        this.opts.log(
          `gate syntax: ok (${syntax.checked.length} changed file(s) parsed` +
            (syntax.unsupported.length ? `; ${syntax.unsupported.length} not checked: other languages` : '') +
            ')',
        );
      }
    } else {
      this.report.gates.syntax = { available: false, checked: [], errors: [] };
      this.opts.log('gate syntax: not checked (no syntax checker available)');
    }

    if (!this.opts.config.gates.lint) {
      this.report.gates.lint = { enabled: false, linters: [] };
    } else {
      const lint = await runLintGate({
        repoDir: this.opts.repoDir,
        changed,
        timeoutMs: this.opts.config.limits.command_timeout * 1000,
        signal: this.opts.signal,
        env: this.opts.env,
        sandbox: this.opts.sandbox,
        detect: this.opts.lintDetect,
      });
      this.report.gates.lint = {
        enabled: true,
        linters: lint.linters.map((l) => ({
          name: l.name,
          command: l.command,
          passed: l.passed,
          exitCode: l.exitCode,
          timedOut: l.timedOut,
          blocking: l.blocking,
          problems: l.problems,
        })),
      };
      if (lint.linters.length === 0) this.opts.log('gate lint: no linter configured for the changed files');
      for (const l of lint.linters) {
        const verdict = l.passed
          ? 'ok'
          : l.blocking
            ? `${l.problems.length} problem line(s) in the changed files`
            : l.timedOut
              ? 'timed out (not blocking)'
              : `failed, but not on the changed files (exit ${l.exitCode ?? 'none'}; not blocking)`;
        this.opts.log(`gate lint: \`${l.command}\`: ${verdict} in ${l.durationMs} ms`);
        if (l.blocking) {
          this.opts.log(l.problems.slice(0, 20).join('\n').replace(/^/gm, '  | '));
          summaries.push(`lint problems (${l.name})`);
          sections.push(
            [`Lint problems in the files you changed (\`${l.command}\`). Fix them:`, ...l.problems].join(
              '\n',
            ),
          );
        }
      }
    }
    await this.save();
    if (sections.length === 0) return undefined;
    const summary = `quality gates failed: ${summaries.join(', ')}`;
    return {
      kind: 'gates',
      repairable: true,
      summary,
      request: {
        passed: false,
        command: 'quality gates before commit (files, syntax, lint)',
        kind: 'gates',
        exitCode: 1,
        durationMs: 0,
        output: cap(
          [
            'The change is not committed yet: the quality gates found problems in the files you changed.',
            ...sections,
            'Fix them, run the tests again, then call finish.',
          ].join('\n\n'),
          MAX_REQUEST_CHARS,
        ),
      },
      error: new AvatarError('GATE_BLOCKED', `${summary}: ${this.gateProblemList()}`),
    };
  }

  /** The committable-files gate over the changed files: the findings, logged and reported. */
  async checkFiles(changed: readonly string[]): Promise<UnsafeFileFinding[]> {
    const max = this.opts.config.limits.max_file_bytes ?? DEFAULT_MAX_FILE_BYTES;
    const findings = await findUnsafeFiles(this.opts.repoDir, changed, { maxFileBytes: max });
    this.report.gates.files = { max_file_bytes: max, findings };
    if (findings.length === 0) {
      this.opts.log(
        `gate files: ok (${changed.length} changed path(s): no symbolic link out of the repository, none over limits.max_file_bytes = ${max})`,
      );
    }
    for (const f of findings) this.opts.log(`gate files: refused: ${formatUnsafeFile(f)}`);
    return findings;
  }

  /**
   * The committable-files gate once more (nothing that leads outside the repository or is over
   * limits.max_file_bytes is ever committed), then the secret scanner (gates.secrets) and the
   * dangerous-pattern report (gates.dangerous) over the change's added lines.
   */
  async beforeCommit(): Promise<void> {
    this.step('checking the files to commit');
    const unsafe = await this.checkFiles(await this.opts.git.changedFiles(this.opts.repoDir));
    if (unsafe.length > 0) {
      this.report.outcome = 'gate_blocked';
      await this.save();
      this.logReport();
      throw new AvatarError(
        'GATE_BLOCKED',
        `the change holds files that cannot be committed, so nothing is committed: ${nameList(unsafe.map(formatUnsafeFile), 5)}`,
      );
    }

    this.step('scanning the change for secrets');
    const patch = await this.opts.git.diffPatch(this.opts.repoDir, this.opts.baseOid);
    const mode = this.opts.config.gates.secrets;
    const findings = scanPatchForSecrets(patch, { secrets: this.opts.secrets, onValue: this.opts.onSecret });
    const blocked = mode === 'block' && findings.length > 0;
    this.report.gates.secrets = { mode, findings, blocked };
    if (findings.length === 0) this.opts.log('gate secrets: no secret found in the added lines');
    for (const f of findings) {
      this.opts.log(`gate secrets: ${blocked ? 'BLOCKED' : 'warning'}: ${formatSecretFinding(f)}`);
    }

    const dangerousMode = this.opts.config.gates.dangerous;
    const dangerous = dangerousMode === 'off' ? [] : scanPatchForDangerousPatterns(patch);
    this.report.gates.dangerous = { mode: dangerousMode, findings: dangerous };
    if (dangerousMode !== 'off') {
      if (dangerous.length === 0) this.opts.log('gate dangerous patterns: none in the added lines');
      for (const d of dangerous)
        this.opts.log(`gate dangerous patterns: warning: ${d.file}:${d.line}: ${d.kind}`);
    }

    if (blocked) {
      this.report.outcome = 'gate_blocked';
      await this.save();
      this.logReport();
      const where = nameList(
        findings.map((f) => `${f.file}:${f.line} (${f.kind})`),
        5,
      );
      throw new AvatarError(
        'GATE_BLOCKED',
        `the change adds what looks like a secret, so it is not pushed (gates.secrets = block): ${where}`,
      );
    }
    this.report.outcome = this.report.unverified ? 'unverified' : 'passed';
    await this.save();
  }

  noteRepairRound(round: number): void {
    this.report.repair_rounds = round;
  }

  /** The end-of-run summary lines (tests before and after, failures by kind, gates). */
  reportLines(): string[] {
    return reportLines(this.report);
  }

  logReport(): void {
    for (const line of this.reportLines()) this.opts.log(line);
  }

  /** "tests 4 → 5 passed, 1 pre-existing failure" for the one-line run summary. */
  summaryText(): string {
    const r = this.report;
    if (r.unverified) return `UNVERIFIED: ${r.unverified}`;
    if (!r.test_command) return 'no tests';
    const before = r.baseline ? `${r.baseline.counts.passed} passed/${r.baseline.counts.failed} failed` : '?';
    const after = r.after ? `${r.after.counts.passed} passed/${r.after.counts.failed} failed` : '?';
    const extra = [
      r.failures.pre_existing.length ? `${r.failures.pre_existing.length} pre-existing failure(s)` : '',
      r.failures.flaky.length ? `${r.failures.flaky.length} flaky` : '',
    ].filter(Boolean);
    return `tests \`${r.test_command}\` before ${before}, after ${after}${extra.length ? ` (${extra.join(', ')})` : ''}`;
  }

  async save(): Promise<void> {
    if (!this.opts.save) return;
    try {
      await this.opts.save(this.report);
    } catch (err) {
      this.opts.log(`could not save the verification report: ${describeError(err)}`);
    }
  }

  private unrunnableProblem(check: TestCheck): VerificationProblem {
    const why = check.unrunnable!;
    const s = check.summary;
    const summary = `the tests could not run: ${why}`;
    return {
      kind: 'unrunnable',
      repairable: s !== undefined,
      summary,
      request: {
        passed: false,
        command: s?.command ?? '(no test command)',
        exitCode: s?.exitCode ?? null,
        durationMs: s?.durationMs ?? 0,
        output: cap(
          [
            `The project's tests could not run after your change: ${why}.`,
            'A change is verified only by tests that run. Make them run (a missing import path, a test configuration, a dependency the project declares), then run the tests and call finish.',
            ...(s ? ['', 'End of the test output:', tail(s.output, 5000)] : []),
          ].join('\n'),
          MAX_REQUEST_CHARS,
        ),
      },
      error: new AvatarError('TESTS_NOT_RUN', `tests could not run: ${why}`),
    };
  }

  private testProblem(check: TestCheck): VerificationProblem {
    const names = check.newFailures.map((f) => f.name);
    const summary = `${names.length} new test failure(s): ${nameList(names, 5)}`;
    const s = check.summary!;
    const parts: string[] = [
      `New test failures after your change (not failing before it${this.opts.config.tests.flaky_reruns > 0 ? ', and failing again on a re-run' : ''}). Fix these:`,
      ...names.map((n) => `- ${n === WHOLE_COMMAND ? `${n} (\`${s.command}\` failed)` : n}`),
    ];
    if (check.preExisting.length) {
      parts.push(
        '',
        `Failing before your change too (pre-existing; leave them unless the task asks): ${nameList(check.preExisting.map((f) => f.name))}`,
      );
    }
    if (check.flaky.length) {
      parts.push(
        '',
        `Flaky (failed, then passed on a re-run; ignored): ${nameList(check.flaky.map((f) => f.name))}`,
      );
    }
    if (this.reverted.size) {
      parts.push(
        '',
        `Your edits to these existing test files were reverted (the task does not ask for test changes): ${nameList([...this.reverted])}. Make the code pass the tests as they are.`,
      );
    }
    const withDetails = check.newFailures.filter((f) => f.details && f.name !== WHOLE_COMMAND);
    if (withDetails.length) {
      parts.push('', 'Output of each new failure:');
      for (const f of withDetails) parts.push('', `### ${f.name}`, cap(f.details!, MAX_DETAILS_PER_FAILURE));
    } else {
      parts.push('', 'End of the test output:', tail(s.output, 5000));
    }
    return {
      kind: 'tests',
      repairable: true,
      summary,
      request: {
        passed: false,
        command: s.command,
        exitCode: s.exitCode,
        durationMs: s.durationMs,
        output: cap(parts.join('\n'), MAX_REQUEST_CHARS),
      },
      error: new AvatarError(
        'TESTS_FAILED',
        `the project's tests fail (\`${s.command}\`, exit ${s.exitCode ?? 'none'}): ${summary}`,
      ),
    };
  }

  private gateProblemList(): string {
    const g = this.report.gates;
    const items = [
      ...(g.files?.findings ?? []).map((f) => `${f.file} (${FILE_PROBLEMS[f.kind]})`),
      ...(g.syntax?.errors ?? []).map((e) => `${e.file}:${e.line}:${e.column} syntax error`),
      ...(g.lint?.linters ?? []).filter((l) => l.blocking).map((l) => `${l.name} problems in changed files`),
    ];
    return nameList(items, 5);
  }

  private step(name: string): void {
    this.opts.step?.(name);
  }
}

function runReport(s: TestRunSummary): TestRunReport {
  return {
    command: s.command,
    passed: s.passed,
    exitCode: s.exitCode,
    timedOut: s.timedOut,
    durationMs: s.durationMs,
    formats: s.formats,
    counts: s.counts,
    failed: s.failures.map((f) => f.name),
  };
}

function failureReport(f: TestCase): { name: string; details?: string } {
  return f.details ? { name: f.name, details: cap(f.details, 1500) } : { name: f.name };
}

function cap(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}\n[… ${text.length - max} characters cut …]`;
}
