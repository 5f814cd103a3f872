/**
 * No green without a test that ran (verify/runnable.ts and the Verifier): what counts as tests
 * that cannot run, that a red baseline of such a run makes nothing "pre-existing", that the install
 * step is tried again, and that the change is then a problem to repair, a failure, or (only with
 * verify.allow_unverified) unverified.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAvatarError } from '../../core/errors.ts';
import { createNativeGit } from '../../container/runner/git/index.ts';
import { summarizeRun } from '../../container/runner/verify/classify.ts';
import { judgeRunnability, loadErrors } from '../../container/runner/verify/runnable.ts';
import { Verifier, type VerifyConfig } from '../../container/runner/verify/verifier.ts';

const run = promisify(execFile);

const PYTEST_IMPORT_ERROR = `==================================== ERRORS ====================================
_______________________ ERROR collecting tests/test_api.py _______________________
ImportError while importing test module '/work/repo/tests/test_api.py'.
Hint: make sure your test modules/packages have valid Python names.
Traceback:
tests/test_api.py:1: in <module>
    import tomli
E   ModuleNotFoundError: No module named 'tomli'
=========================== short test summary info ============================
ERROR tests/test_api.py
!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!
1 error in 0.53s
`;

const UNITTEST_IMPORT_ERROR = `EE
======================================================================
ERROR: tests.test_api (unittest.loader._FailedTest.tests.test_api)
----------------------------------------------------------------------
ImportError: Failed to import test module: tests.test_api
Traceback (most recent call last):
  File "/usr/lib/python3.11/unittest/loader.py", line 407, in _find_test_path
ModuleNotFoundError: No module named 'tomli'


----------------------------------------------------------------------
Ran 2 tests in 0.000s

FAILED (errors=2)
`;

const raw = (output: string, passed = false, exitCode: number | null = 1) => ({
  passed,
  command: 'the tests',
  exitCode,
  output,
  durationMs: 5,
});

describe('loadErrors', () => {
  it('names what could not be loaded, per runner, first ones first and each once', () => {
    expect(loadErrors(PYTEST_IMPORT_ERROR)).toEqual([
      'tests/test_api.py could not be collected',
      '/work/repo/tests/test_api.py could not be imported',
      "no module named 'tomli'",
    ]);
    expect(loadErrors(UNITTEST_IMPORT_ERROR)).toEqual([
      'tests.test_api could not be imported',
      "no module named 'tomli'",
    ]);
    expect(
      loadErrors(
        " FAIL  test/ms.test.js\n  ● Test suite failed to run\n\n    Cannot find module 'ms' from 'test/ms.test.js'\n",
      ),
    ).toEqual(['a test suite failed to run', "cannot find module 'ms'"]);
    expect(loadErrors('FAIL\tgithub.com/google/uuid [setup failed]\n')).toEqual([
      'github.com/google/uuid: setup failed',
    ]);
    expect(loadErrors('error: could not compile `itoa` (lib test) due to 2 previous errors\n')).toEqual([
      'itoa could not compile',
    ]);
    expect(loadErrors('sh: 1: pytest: not found\n')).toEqual(['pytest: command not found']);
    expect(loadErrors('bash: line 1: jest: command not found\n')).toEqual(['jest: command not found']);
    expect(loadErrors('npm error Missing script: "test"\n')).toEqual(['npm has no "test" script']);
    // What a passing run prints is no load error, nor is a program's own "not found".
    expect(loadErrors('ok 1 - parses\nuser: not found (404)\n# pass 1\n')).toEqual([]);
  });
});

describe('judgeRunnability', () => {
  it('no test passed, nothing ran, the install failed, the command timed out: cannot run', () => {
    const collected = judgeRunnability(summarizeRun(raw(PYTEST_IMPORT_ERROR)));
    expect(collected.runnable).toBe(false);
    expect(collected.why).toMatch(
      /^no test passed \(1 failed, 0 skipped\): tests\/test_api.py could not be collected/,
    );

    const nothing = judgeRunnability(
      summarizeRun(raw('ℹ tests 0\nℹ suites 0\nℹ pass 0\nℹ fail 0\n', true, 0)),
    );
    expect(nothing).toMatchObject({ runnable: false, why: '`the tests` ran no test' });

    const install = judgeRunnability(summarizeRun(raw('setup command failed: npm ci\nnpm ERR! 404')), {
      setupFailed: { command: 'npm ci', exitCode: 1 },
    });
    expect(install).toMatchObject({
      runnable: false,
      why: 'the install step `npm ci` failed (exit 1): npm ERR! 404',
    });
    // A script is named by its first line, and the reason is the line that says what failed.
    const script = judgeRunnability(
      summarizeRun(
        raw(
          'setup command failed: ...\npython setup: venv ok\npython setup: FAILED: pytest is not installed\n',
        ),
      ),
      { setupFailed: { command: '# Python setup: a virtualenv\nset -u\nV=x', exitCode: 1 } },
    );
    expect(script.why).toBe(
      'the install step `Python setup: a virtualenv …` failed (exit 1): python setup: FAILED: pytest is not installed',
    );
    // pytest that refuses a plugin's switch ran no test, whatever the phase.
    const refused = judgeRunnability(
      summarizeRun(
        raw(
          'ERROR: usage: python -m pytest [options] [file_or_dir] ...\npytest: error: unrecognized arguments: --mypy\n',
          false,
          4,
        ),
      ),
      { strict: false },
    );
    expect(refused).toMatchObject({ runnable: false });
    expect(refused.why).toContain('the test runner refused its arguments: --mypy');

    const slow = judgeRunnability(summarizeRun({ ...raw('# pass 3\n'), timedOut: true }), {
      timeoutSeconds: 60,
    });
    expect(slow).toMatchObject({
      runnable: false,
      why: '`the tests` did not finish within limits.test_timeout (60 s)',
    });

    const crashed = judgeRunnability(summarizeRun(raw('sh: 1: pytest: not found\n', false, 127)));
    expect(crashed).toMatchObject({
      runnable: false,
      why: '`the tests` failed (exit 127) and reported no test: pytest: command not found',
    });
  });

  it('tests that pass make a run, with what failed to load beside them as a warning', () => {
    const tap =
      "TAP version 13\nok 1 - a\nnot ok 2 - b\n  ---\n  error: Cannot find module 'left-pad'\n  ...\n1..2\n# tests 2\n# pass 1\n# fail 1\n";
    const v = judgeRunnability(summarizeRun(raw(tap)));
    expect(v.runnable).toBe(true);
    expect(v.warnings).toEqual(["cannot find module 'left-pad'"]);
    // A command with no per-test output that succeeds ran (its count unknown).
    expect(judgeRunnability(summarizeRun(raw('all good\n', true, 0))).runnable).toBe(true);
  });
});

// ---- the Verifier on a real repository whose tests cannot import what they test ----

const CONFIG: VerifyConfig = {
  setup: { commands: [], timeout: 60 },
  gates: { lint: false, secrets: 'block', test_edits: 'revert', dangerous: 'off' },
  tests: { flaky_reruns: 0 },
  limits: { test_timeout: 60, command_timeout: 60 },
  verify: { allow_unverified: false },
};

let dir: string;
let lines: string[];

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'numa-runnable-'));
  lines = [];
  const files: Record<string, string> = {
    'package.json': JSON.stringify({ type: 'module' }),
    // The module the tests import is not there (a build step or a dependency nobody installed).
    'test/a.test.js':
      "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { a } from '../lib/a.js';\ntest('a is one', () => assert.equal(a, 1));\n",
    'src/a.js': 'export const a = 1;\n',
  };
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), content);
  }
  await run('git', ['init', '-q', '-b', 'main', dir]);
  await run('git', ['-C', dir, 'add', '-A']);
  await run('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@x', 'commit', '-qm', 'init']);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function verifier(config: Partial<VerifyConfig> = {}, installCommand?: string): Promise<Verifier> {
  const v = new Verifier({
    repoDir: dir,
    config: { ...CONFIG, ...config },
    detected: { command: 'node --test test/', source: 'test' },
    installCommand,
    task: { title: 'Change a', description: 'Change a' },
    git: createNativeGit(),
    secrets: [],
    log: (l) => lines.push(l),
  });
  await v.prepare();
  await v.baseline();
  return v;
}

describe('Verifier: tests that cannot run', () => {
  it('a red baseline that ran nothing makes no failure pre-existing, and the agent is told first', async () => {
    const v = await verifier();
    expect(v.report.runnable.baseline?.runnable).toBe(false);
    expect(v.report.runnable.baseline?.why).toMatch(/cannot find module/);
    expect(lines.join('\n')).toMatch(
      /the tests cannot run before the change: .*Nothing counts as a pre-existing failure/,
    );
    expect(v.environmentProblem()).toMatch(
      /^The project's tests cannot run as the branch is, before any change: /,
    );
    // The agent's own run_tests gets no "pre-existing" note from such a baseline.
    expect((await v.runTestsForAgent()).output).not.toContain('failed before your change too');

    // The change leaves them unable to run: a problem to repair, then the run's failure.
    await writeFile(path.join(dir, 'src/a.js'), 'export const a = 2;\n');
    const problem = await v.verifyChange({ canRepair: true });
    expect(problem).toMatchObject({ kind: 'unrunnable', repairable: true });
    expect(problem?.request.output).toMatch(/^The project's tests could not run after your change: /);
    const last = await v.verifyChange({ canRepair: false });
    expect(isAvatarError(last?.error, 'TESTS_NOT_RUN')).toBe(true);
    expect(last?.error.message).toMatch(/^tests could not run: /);
    expect(v.report.outcome).toBe('tests_not_run');
  });

  it("once the change makes them run, a failure is the change's (not pre-existing) and a pass is green", async () => {
    const v = await verifier();
    await mkdir(path.join(dir, 'lib'));
    await writeFile(path.join(dir, 'lib/a.js'), 'export const a = 2;\n');
    const red = await v.verifyChange();
    expect(red?.kind).toBe('tests');
    expect(v.report.failures.new.map((f) => f.name)).toEqual(['a is one']);
    expect(v.report.failures.pre_existing).toEqual([]);
    await writeFile(path.join(dir, 'lib/a.js'), 'export const a = 1;\n');
    expect(await v.verifyChange()).toBeUndefined();
    expect(v.report.runnable.after).toEqual({ runnable: true, why: undefined });
    expect(v.report.unverified).toBeNull();
  });

  it('with verify.allow_unverified the last round goes on, marked unverified everywhere', async () => {
    const v = await verifier({ verify: { allow_unverified: true } });
    await writeFile(path.join(dir, 'src/a.js'), 'export const a = 2;\n');
    // While rounds are left the agent still gets to make them run.
    expect((await v.verifyChange({ canRepair: true }))?.kind).toBe('unrunnable');
    expect(await v.verifyChange({ canRepair: false })).toBeUndefined();
    expect(v.report.unverified).toMatch(/^tests could not run: /);
    expect(v.summaryText()).toMatch(/^UNVERIFIED: tests could not run: /);
    expect(lines.join('\n')).toMatch(/UNVERIFIED: the tests could not run .*verify.allow_unverified is true/);
    await v.beforeCommit();
    expect(v.report.outcome).toBe('unverified');
  });

  it('a failing install step is tried once more, then named as the reason', async () => {
    await writeFile(path.join(dir, 'install.sh'), 'echo attempt >> attempts.txt; exit 3\n');
    const v = await verifier({}, 'sh install.sh');
    expect(lines.filter((l) => l.startsWith('setup `sh install.sh`: exit 3'))).toHaveLength(2);
    expect(v.report.runnable.baseline).toEqual({
      runnable: false,
      why: 'the install step `sh install.sh` failed (exit 3)',
    });
  });
});
