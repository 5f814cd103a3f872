/** Failures after a change sorted against the baseline and re-runs: new, pre-existing, flaky. */
import { describe, expect, it } from 'vitest';
import {
  classifyAgainstBaseline,
  passedOnRerun,
  settleWithReruns,
  summarizeRun,
  WHOLE_COMMAND,
  type RawTestRun,
} from '../../container/runner/verify/classify.ts';

/** node:test TAP output with the given results. */
function tap(results: Record<string, 'ok' | 'not ok'>): RawTestRun {
  const lines = ['TAP version 13'];
  let n = 0;
  for (const [name, r] of Object.entries(results)) {
    lines.push(`# Subtest: ${name}`, `${r} ${++n} - ${name}`);
    if (r === 'not ok') lines.push('  ---', `  error: '${name} broke'`, '  ...');
  }
  lines.push(`1..${n}`);
  const passed = !Object.values(results).includes('not ok');
  return { passed, command: 'npm test', exitCode: passed ? 0 : 1, output: lines.join('\n'), durationMs: 5 };
}

/** pytest -q output naming only its failures. */
function pytestQ(failed: string[], passed: number): RawTestRun {
  const lines = ['.'.repeat(passed) + 'F'.repeat(failed.length)];
  if (failed.length)
    lines.push('=== short test summary info ===', ...failed.map((f) => `FAILED ${f} - boom`));
  lines.push(`${failed.length ? `${failed.length} failed, ` : ''}${passed} passed in 0.10s`);
  return {
    passed: failed.length === 0,
    command: 'python3 -m pytest -q',
    exitCode: failed.length ? 1 : 0,
    output: lines.join('\n'),
    durationMs: 5,
  };
}

const names = (xs: Array<{ name: string }>) => xs.map((x) => x.name).sort();

describe('summarizeRun', () => {
  it('names the failures and counts per test', () => {
    const s = summarizeRun(tap({ a: 'ok', b: 'not ok', c: 'ok' }));
    expect(s.perTest).toBe(true);
    expect(s.counts).toEqual({ passed: 2, failed: 1, skipped: 0 });
    expect(names(s.failures)).toEqual(['b']);
    expect(s.failures[0]!.details).toMatch(/b broke/);
  });

  it('an unreadable failing output makes the whole command one failed test', () => {
    const s = summarizeRun({
      passed: false,
      command: 'make test',
      exitCode: 2,
      output: 'make: *** [test] Error 2',
      durationMs: 1,
    });
    expect(s.perTest).toBe(false);
    expect(names(s.failures)).toEqual([WHOLE_COMMAND]);
    expect(s.counts).toEqual({ passed: 0, failed: 1, skipped: 0 });
  });

  it('a command that fails although every named test passed (coverage, a crash after the tests) fails as a whole', () => {
    const run = tap({ a: 'ok' });
    const s = summarizeRun({ ...run, passed: false, exitCode: 1 });
    expect(names(s.failures)).toEqual([WHOLE_COMMAND]);
  });

  it('a passing unreadable output is one passed test', () => {
    const s = summarizeRun({
      passed: true,
      command: 'make test',
      exitCode: 0,
      output: 'all good',
      durationMs: 1,
    });
    expect(s.counts).toEqual({ passed: 1, failed: 0, skipped: 0 });
    expect(s.failures).toEqual([]);
  });
});

describe('classification', () => {
  it('failures that failed in the baseline too are pre-existing; the others are suspects', () => {
    const baseline = summarizeRun(tap({ a: 'ok', legacy: 'not ok', b: 'ok' }));
    const after = summarizeRun(tap({ a: 'not ok', legacy: 'not ok', b: 'ok', added: 'not ok' }));
    const { suspects, preExisting } = classifyAgainstBaseline(baseline, after);
    expect(names(preExisting)).toEqual(['legacy']);
    expect(names(suspects)).toEqual(['a', 'added']);
  });

  it('without a baseline nothing is pre-existing', () => {
    const after = summarizeRun(tap({ a: 'not ok' }));
    expect(names(classifyAgainstBaseline(undefined, after).suspects)).toEqual(['a']);
  });

  it('a whole-command failure is pre-existing only when the baseline failed as a whole too', () => {
    const broken = { passed: false, command: 'make test', exitCode: 2, output: 'boom', durationMs: 1 };
    const baselineBroken = summarizeRun(broken);
    expect(classifyAgainstBaseline(baselineBroken, summarizeRun(broken)).preExisting).toHaveLength(1);
    const baselineOk = summarizeRun(tap({ a: 'ok' }));
    expect(names(classifyAgainstBaseline(baselineOk, summarizeRun(broken)).suspects)).toEqual([
      WHOLE_COMMAND,
    ]);
  });

  it('a suspect that passes on a re-run is flaky; one that fails again is new', () => {
    const after = summarizeRun(tap({ a: 'not ok', b: 'not ok', c: 'ok' }));
    const rerun = summarizeRun(tap({ a: 'ok', b: 'not ok', c: 'ok' }));
    const { newFailures, flaky } = settleWithReruns(after.failures, [rerun]);
    expect(names(flaky)).toEqual(['a']);
    expect(names(newFailures)).toEqual(['b']);
  });

  it('with two re-runs, passing on either makes it flaky', () => {
    const after = summarizeRun(tap({ a: 'not ok' }));
    const r1 = summarizeRun(tap({ a: 'not ok' }));
    const r2 = summarizeRun(tap({ a: 'ok' }));
    expect(names(settleWithReruns(after.failures, [r1, r2]).flaky)).toEqual(['a']);
    expect(names(settleWithReruns(after.failures, [r1]).newFailures)).toEqual(['a']);
  });

  it('formats that name only failures (pytest -q): absent from the re-run failures means it passed', () => {
    const after = summarizeRun(pytestQ(['t.py::test_a', 't.py::test_b'], 3));
    const rerun = summarizeRun(pytestQ(['t.py::test_b'], 4));
    expect(passedOnRerun('t.py::test_a', rerun)).toBe(true);
    const { newFailures, flaky } = settleWithReruns(after.failures, [rerun]);
    expect(names(flaky)).toEqual(['t.py::test_a']);
    expect(names(newFailures)).toEqual(['t.py::test_b']);
  });

  it('a re-run that broke as a whole proves nothing', () => {
    const after = summarizeRun(tap({ a: 'not ok' }));
    const crashed = summarizeRun({
      passed: false,
      command: 'npm test',
      exitCode: 1,
      output: 'segfault',
      durationMs: 1,
    });
    expect(passedOnRerun('a', crashed)).toBe(false);
    expect(names(settleWithReruns(after.failures, [crashed]).newFailures)).toEqual(['a']);
  });

  it('a whole-command failure whose re-run passes is flaky', () => {
    const broken = summarizeRun({
      passed: false,
      command: 'make test',
      exitCode: 2,
      output: 'x',
      durationMs: 1,
    });
    const ok = summarizeRun({ passed: true, command: 'make test', exitCode: 0, output: 'y', durationMs: 1 });
    expect(names(settleWithReruns(broken.failures, [ok]).flaky)).toEqual([WHOLE_COMMAND]);
  });
});
