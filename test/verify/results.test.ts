/**
 * Per-test result parsers on real output. Runs tiny projects where the runner is here (node:test,
 * Vitest always; pytest, unittest, cargo and go when installed), and reads recorded outputs of the
 * same kind of tiny projects (fixtures/: node:test on Node 20 and 24, Jest 30, mocha 12, uvu 0.5,
 * node-tap 21, AVA 7, pytest 9, unittest on Python 3.11, cargo 1.95, go 1.19, and google/uuid's
 * `go test -v`), so each parser is tested on every machine. Where a runner prints its own count,
 * the parsed count is checked against it.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scrubEnv } from '../../core/env.ts';
import { summarizeRun } from '../../container/runner/verify/classify.ts';
import { outputLines, parseTestOutput } from '../../container/runner/verify/results/index.ts';
import type { ParsedTests } from '../../container/runner/verify/results/index.ts';
import { judgeRunnability } from '../../container/runner/verify/runnable.ts';

const FIXTURES = path.join(import.meta.dirname, 'fixtures');
const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
const fixture = (name: string) => readFile(path.join(FIXTURES, name), 'utf8');

/** Runs a command, resolving with its combined output whatever its exit code. */
function runOutput(cmd: string, args: string[], cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        cwd,
        env: scrubEnv(process.env, { CI: 'true', NO_COLOR: '1' }),
        timeout: 120_000,
        maxBuffer: 8 << 20,
      },
      (err, stdout, stderr) => {
        const code =
          err && typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : err
              ? 1
              : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((p) => p !== '' && existsSync(path.join(p, cmd)));
}

const byName = (p: ParsedTests | undefined) =>
  Object.fromEntries((p?.cases ?? []).map((c) => [c.name, c.status]));

/** A number the runner printed itself, e.g. own(output, /^ℹ pass (\d+)$/m). */
function own(text: string, re: RegExp): number {
  const m = re.exec(text);
  if (!m) throw new Error(`the runner's own line ${re} is not in the output`);
  return Number(m[1]);
}

/** node:test's own closing lines ("ℹ pass 5" in spec, "# pass 5" in TAP) as counts. */
function nodeOwnCounts(text: string): { passed: number; failed: number; skipped: number } {
  const n = (key: string) => own(text, new RegExp(`^(?:ℹ|#) ${key} (\\d+)$`, 'm'));
  return { passed: n('pass'), failed: n('fail') + n('cancelled'), skipped: n('skipped') + n('todo') };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'numa-results-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const NODE_TESTS = `import { test, describe, it } from 'node:test';
import assert from 'node:assert/strict';
test('adds numbers', () => { assert.equal(1 + 1, 2); });
test('fails on purpose', () => { assert.equal(1 + 1, 3); });
test.skip('skipped one', () => {});
describe('group', () => {
  it('inner passes', () => {});
  it('inner fails', () => { throw new Error('boom inner'); });
});
test('parent with subtests', async (t) => {
  await t.test('sub ok', () => {});
  await t.test('sub bad', () => { assert.ok(false, 'sub bad msg'); });
});
`;

const NODE_EXPECTED = {
  'adds numbers': 'passed',
  'fails on purpose': 'failed',
  'skipped one': 'skipped',
  'group > inner passes': 'passed',
  'group > inner fails': 'failed',
  'parent with subtests > sub ok': 'passed',
  'parent with subtests > sub bad': 'failed',
  'other file passes': 'passed',
};

const NODE_SUITES = `import { test, describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
test('adds numbers', () => { assert.equal(1 + 1, 2); });
test('fails on purpose', () => { assert.equal(1 + 1, 3); });
test.skip('skipped one', () => {});
test.todo('todo one');
describe('group', () => {
  it('inner passes', () => {});
  it('inner fails', () => { throw new Error('boom inner'); });
  describe('nested', () => {
    it('deep passes', () => {});
  });
});
test('parent with subtests', async (t) => {
  await t.test('sub ok', () => {});
  await t.test('sub bad', () => { assert.ok(false, 'sub bad msg'); });
});
describe('hook fails', () => {
  before(() => { throw new Error('hook boom'); });
  it('never ok', () => {});
});
`;

const NODE_SUITES_EXPECTED = {
  'adds numbers': 'passed',
  'fails on purpose': 'failed',
  'skipped one': 'skipped',
  'todo one': 'skipped',
  'group > inner passes': 'passed',
  'group > inner fails': 'failed',
  'group > nested > deep passes': 'passed',
  'parent with subtests > sub ok': 'passed',
  'parent with subtests > sub bad': 'failed',
  'hook fails > never ok': 'failed',
  'hook fails': 'failed',
  'other file passes': 'passed',
};

describe('node:test', () => {
  let project: string;
  beforeAll(async () => {
    project = path.join(dir, 'node');
    await mkdir(path.join(project, 'test'), { recursive: true });
    await writeFile(path.join(project, 'package.json'), '{"type":"module"}');
    await writeFile(path.join(project, 'test/a.test.js'), NODE_TESTS);
    await writeFile(
      path.join(project, 'test/b.test.js'),
      "import { test } from 'node:test';\ntest('other file passes', () => {});\n",
    );
  });

  for (const reporter of ['tap', 'spec'] as const) {
    it(`reads the ${reporter} reporter's output of a real run: leaves by suite path, failures with their output`, async () => {
      const { code, output } = await runOutput(
        process.execPath,
        ['--test', `--test-reporter=${reporter}`, 'test/'],
        project,
      );
      expect(code).not.toBe(0);
      const parsed = parseTestOutput(output, { cwd: project });
      expect(parsed?.formats).toEqual([reporter === 'tap' ? 'node:test (TAP)' : 'node:test (spec)']);
      expect(byName(parsed)).toEqual(NODE_EXPECTED);
      // node's own count: "parent with subtests" is a test too, failed through "sub bad".
      expect(parsed?.counts).toEqual({ passed: 4, failed: 4, skipped: 1 });
      expect(parsed?.counts).toEqual(nodeOwnCounts(output));
      const failure = parsed!.cases.find((c) => c.name === 'fails on purpose')!;
      expect(failure.details).toMatch(/2 !== 3/);
      expect(parsed!.cases.find((c) => c.name === 'group > inner fails')!.details).toMatch(/boom inner/);
    });
  }

  it('names a test file that does not load by its path, relative to the repository', async () => {
    const p = path.join(dir, 'node-broken');
    await mkdir(path.join(p, 'test'), { recursive: true });
    await writeFile(path.join(p, 'package.json'), '{"type":"module"}');
    await writeFile(
      path.join(p, 'test/ok.test.js'),
      "import { test } from 'node:test';\ntest('fine', () => {});\n",
    );
    await writeFile(path.join(p, 'test/c.test.js'), 'import { test } from "node:test"; test("x", () => {\n');
    const { output } = await runOutput(process.execPath, ['--test', '--test-reporter=tap', 'test/'], p);
    const parsed = parseTestOutput(output, { cwd: p });
    expect(byName(parsed)).toEqual({ fine: 'passed', 'test/c.test.js': 'failed' });
    expect(parsed!.cases.find((c) => c.name === 'test/c.test.js')!.details).toMatch(/SyntaxError/);
  });

  it('reads the recorded samples (Node 20) the same way', async () => {
    for (const f of ['node-tap.txt', 'node-spec.txt']) {
      const parsed = parseTestOutput(await fixture(f), { cwd: '/tmp/vs/node' });
      expect(byName(parsed), f).toEqual(NODE_EXPECTED);
    }
  });

  it('suites, a failing hook, todo and cancelled tests: the same on Node 20 and 24, TAP and spec, and a live run', async () => {
    const runs: Array<{ name: string; text: string; cwd: string }> = [];
    for (const f of [
      'node20-suites-tap.txt',
      'node20-suites-spec.txt',
      'node24-suites-tap.txt',
      'node24-suites-spec.txt',
    ])
      runs.push({ name: f, text: await fixture(f), cwd: '/tmp/r3/nt' });
    const p = path.join(dir, 'node-suites');
    await mkdir(path.join(p, 'test'), { recursive: true });
    await writeFile(path.join(p, 'package.json'), '{"type":"module"}');
    await writeFile(path.join(p, 'test/a.test.js'), NODE_SUITES);
    await writeFile(
      path.join(p, 'test/b.test.js'),
      "import { test } from 'node:test'; test('other file passes', () => {});\n",
    );
    for (const reporter of ['tap', 'spec']) {
      const live = await runOutput(process.execPath, ['--test', `--test-reporter=${reporter}`], p);
      runs.push({ name: `live ${reporter}`, text: live.output, cwd: p });
    }
    for (const run of runs) {
      const parsed = parseTestOutput(run.text, { cwd: run.cwd });
      expect(byName(parsed), run.name).toEqual(NODE_SUITES_EXPECTED);
      // node: tests 12, suites 3, pass 5, fail 4, cancelled 1, skipped 1, todo 1.
      expect(parsed?.counts, run.name).toEqual({ passed: 5, failed: 5, skipped: 2 });
      expect(parsed?.counts, run.name).toEqual(nodeOwnCounts(run.text));
      const details = (n: string) => parsed!.cases.find((c) => c.name === n)?.details;
      expect(details('fails on purpose'), run.name).toMatch(/2 !== 3/);
      expect(details('hook fails'), run.name).toMatch(/hook boom/);
    }
  });

  it('a suite whose hook fails counts as failed; todo tests as skipped', () => {
    const tap = [
      'TAP version 13',
      '# Subtest: hookfail',
      '    # Subtest: c',
      '    not ok 1 - c',
      '      ---',
      "      failureType: 'cancelledByParent'",
      '      ...',
      '    1..1',
      'not ok 1 - hookfail',
      '  ---',
      "  failureType: 'hookFailed'",
      "  error: 'hook boom'",
      '  ...',
      '# Subtest: todo one',
      'ok 2 - todo one # TODO',
      '1..2',
    ].join('\n');
    expect(byName(parseTestOutput(tap))).toEqual({
      'hookfail > c': 'failed',
      hookfail: 'failed',
      'todo one': 'skipped',
    });
  });
});

describe('vitest', () => {
  const expected = {
    'test/a.test.js > fails on purpose': 'failed',
    'test/a.test.js > group > inner fails': 'failed',
  };

  it('reads the default reporter of a real run (colours and all)', async () => {
    const p = path.join(dir, 'vi');
    await mkdir(path.join(p, 'test'), { recursive: true });
    await writeFile(path.join(p, 'package.json'), '{"type":"module"}');
    await writeFile(path.join(p, 'vitest.config.js'), 'export default {};\n');
    await writeFile(
      path.join(p, 'test/a.test.js'),
      `import { describe, it, expect, test } from 'vitest';
test('adds numbers', () => { expect(1 + 1).toBe(2); });
test('fails on purpose', () => { expect(1 + 1).toBe(3); });
test.skip('skipped one', () => {});
describe('group', () => {
  it('inner passes', () => {});
  it('inner fails', () => { throw new Error('boom inner'); });
});
`,
    );
    await writeFile(
      path.join(p, 'test/b.test.js'),
      "import { test } from 'vitest';\ntest('other', () => {});\n",
    );
    const { code, output } = await runOutput(
      path.join(REPO_ROOT, 'node_modules/.bin/vitest'),
      ['run', '--root', p],
      p,
    );
    expect(code).not.toBe(0);
    const parsed = parseTestOutput(output, { cwd: p });
    expect(parsed?.formats).toEqual(['vitest']);
    expect(byName(parsed)).toEqual(expected);
    expect(parsed?.counts).toEqual({ passed: 3, failed: 2, skipped: 1 });
    expect(parsed!.cases[0]!.details).toMatch(/expected 2 to be 3/);
  });

  it('reads a recorded sample with ANSI colours', async () => {
    const text = await fixture('vitest.txt');
    expect(text).toContain('\x1b[');
    const parsed = parseTestOutput(text);
    expect(byName(parsed)).toEqual(expected);
    expect(parsed?.counts).toEqual({ passed: 3, failed: 2, skipped: 1 });
  });
});

describe('jest', () => {
  it('reads the default reporter of Jest 30: failures by file and suite path, a suite that fails to run', async () => {
    const text = await fixture('jest.txt');
    const parsed = parseTestOutput(text);
    expect(parsed?.formats).toEqual(['jest']);
    expect(byName(parsed)).toEqual({
      'test/a.test.js > fails on purpose': 'failed',
      'test/a.test.js > group > inner fails': 'failed',
      'test/c.test.js > (test suite failed to run)': 'failed',
    });
    // Jest's own "Tests: 2 failed, 1 skipped, 1 todo, 3 passed, 7 total" (the suite is not a test).
    expect(text).toMatch(/^Tests: {7}2 failed, 1 skipped, 1 todo, 3 passed, 7 total$/m);
    expect(parsed?.counts).toEqual({ passed: 3, failed: 2, skipped: 2 });
    expect(parsed!.cases[0]!.details).toMatch(/Expected: 3\nReceived: 2/);
    expect(parsed!.cases[2]!.details).toMatch(/Cannot find module 'nonexistent-pkg-xyz'/);
  });
});

describe('mocha', () => {
  const failures = {
    'math > fails on purpose': 'failed',
    'math > nested > inner fails': 'failed',
    'with a failing hook > "before all" hook for "never runs"': 'failed',
  };

  it('reads the spec reporter: its summary, the numbered failures by suite path, a failing hook', async () => {
    const text = await fixture('mocha-spec.txt');
    const parsed = parseTestOutput(text);
    expect(parsed?.formats).toEqual(['mocha']);
    expect(byName(parsed)).toEqual(failures);
    expect(parsed?.counts).toEqual({
      passed: own(text, /^ {2}(\d+) passing/m),
      failed: own(text, /^ {2}(\d+) failing/m),
      skipped: own(text, /^ {2}(\d+) pending/m),
    });
    expect(parsed?.counts).toEqual({ passed: 4, failed: 3, skipped: 2 });
    expect(parsed!.cases[0]!.details).toMatch(/math is broken/);
    expect(parsed!.cases[1]!.details).toMatch(/boom inner/);
    expect(parsed!.cases[2]!.details).toMatch(/hook boom/);
  });

  it('reads the JSON reporter: its stats, every test by its full title', async () => {
    const text = await fixture('mocha-json.txt');
    const parsed = parseTestOutput(text, { cwd: '/tmp/r3/js/mocha' });
    expect(parsed?.formats).toEqual(['mocha (JSON)']);
    const stats = (JSON.parse(text) as { stats: { passes: number; failures: number; pending: number } })
      .stats;
    expect(parsed?.counts).toEqual({ passed: stats.passes, failed: stats.failures, skipped: stats.pending });
    expect(byName(parsed)).toEqual({
      'top-level test': 'passed',
      'math adds numbers': 'passed',
      'math nested inner passes': 'passed',
      'other other file passes': 'passed',
      'math fails on purpose': 'failed',
      'math nested inner fails': 'failed',
      'with a failing hook "before all" hook for "never runs"': 'failed',
      'math skipped one': 'skipped',
      'math pending one': 'skipped',
    });
    expect(parsed!.cases.find((c) => c.name === 'math fails on purpose')!.details).toMatch(/math is broken/);
  });
});

describe('uvu', () => {
  it('reads its summary (Total counts the tests that ran) and names each failure by file and suite', async () => {
    const text = await fixture('uvu.txt');
    expect(text).toContain('\x1b[');
    const parsed = parseTestOutput(text);
    expect(parsed?.formats).toEqual(['uvu']);
    expect(byName(parsed)).toEqual({
      'a.js > fails on purpose': 'failed',
      'a.js > group > inner fails': 'failed',
    });
    // uvu: "Total: 6  Passed: 4  Skipped: 1".
    const plain = outputLines(text).join('\n');
    const total = own(plain, /^ {2}Total: +(\d+)$/m);
    const passed = own(plain, /^ {2}Passed: +(\d+)$/m);
    expect(parsed?.counts).toEqual({
      passed,
      failed: total - passed,
      skipped: own(plain, /^ {2}Skipped: +(\d+)$/m),
    });
    expect(parsed?.counts).toEqual({ passed: 4, failed: 2, skipped: 1 });
    expect(parsed!.cases[0]!.details).toMatch(/math is broken/);
    expect(parsed!.cases[1]!.details).toMatch(/boom inner/);
  });

  it('adds up the summaries of several runs, a passing one without failures', () => {
    const run = (total: number, passed: number) =>
      `• •   (${passed} / ${total})\n\n  Total:     ${total}\n  Passed:    ${passed}\n  Skipped:   0\n  Duration:  1.00ms\n`;
    const parsed = parseTestOutput(`${run(46, 46)}${run(3, 3)}`);
    expect(parsed?.formats).toEqual(['uvu']);
    expect(parsed?.counts).toEqual({ passed: 49, failed: 0, skipped: 0 });
    expect(parsed?.cases).toEqual([]);
  });
});

describe('node-tap', () => {
  it("reads its TAP: assertions are its tests, counted as tap's own summary counts them", async () => {
    const text = await fixture('node-tap-tap.txt');
    const parsed = parseTestOutput(text, { cwd: '/tmp/r3/js/tapp' });
    expect(parsed?.formats).toEqual(['tap']);
    expect(text).toMatch(/^# \{ total: 12, pass: 7, fail: 3, todo: 1, skip: 1 \}$/m);
    expect(parsed?.counts).toEqual({ passed: 7, failed: 3, skipped: 2 });
    const failed = parsed!.cases.filter((c) => c.status === 'failed').map((c) => c.name);
    // The failing assertions, not the subtests and files that failed because of them.
    expect(failed).toEqual([
      'test/a.test.js > fails on purpose > math is broken',
      'test/a.test.js > fails on purpose > second failure',
      'test/a.test.js > group > inner fails > boom inner',
    ]);
    expect(byName(parsed)['test/a.test.js > skipped one']).toBe('skipped');
    expect(byName(parsed)['test/a.test.js > todo one']).toBe('skipped');
  });
});

describe('ava', () => {
  it('reads its default reporter: titles without the message, a file that crashed, its summary', async () => {
    const text = await fixture('ava.txt');
    const parsed = parseTestOutput(text, { cwd: '/tmp/r3/js/avap' });
    expect(parsed?.formats).toEqual(['ava']);
    expect(byName(parsed)).toEqual({
      'a › skipped one': 'skipped',
      'a › todo one': 'skipped',
      'a › adds numbers': 'passed',
      'a › fails on purpose': 'failed',
      'a › throws': 'failed',
      'b › other file passes': 'passed',
      'test/c.js': 'failed',
    });
    // AVA: "2 tests failed", "1 test skipped", "1 test todo", "1 uncaught exception".
    expect(parsed?.counts).toEqual({
      passed: 2,
      failed: own(text, /^ {2}(\d+) tests failed$/m) + own(text, /^ {2}(\d+) uncaught exception$/m),
      skipped: own(text, /^ {2}(\d+) test skipped$/m) + own(text, /^ {2}(\d+) test todo$/m),
    });
    expect(parsed!.cases.find((c) => c.name === 'a › fails on purpose')!.details).toMatch(/math is broken/);
    expect(parsed!.cases.find((c) => c.name === 'test/c.js')!.details).toMatch(/nonexistent-pkg-xyz/);
  });
});

describe('pytest', () => {
  const failures = {
    'tests/test_a.py::test_bad': 'failed',
    'tests/test_a.py::TestGroup::test_inner_bad': 'failed',
    'tests/test_a.py::test_param[2]': 'failed',
  };
  const PY = `import pytest

def test_ok():
    assert 1 + 1 == 2

def test_bad():
    assert 1 + 1 == 3, "math is broken"

@pytest.mark.skip(reason="not now")
def test_skipped():
    pass

class TestGroup:
    def test_inner_ok(self):
        pass
    def test_inner_bad(self):
        raise ValueError("inner boom")

@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n == 1
`;

  it('reads recorded -q, -rA and collection-error output', async () => {
    const q = parseTestOutput(await fixture('pytest-q.txt'));
    expect(byName(q)).toEqual(failures);
    expect(q?.counts).toEqual({ passed: 3, failed: 3, skipped: 1 });
    expect(q!.cases.find((c) => c.name.endsWith('test_bad'))!.details).toMatch(/math is broken/);
    expect(q!.cases.find((c) => c.name.endsWith('test_inner_bad'))!.details).toMatch(/inner boom/);

    const ra = parseTestOutput(await fixture('pytest-rA.txt'));
    expect(byName(ra)).toEqual({
      ...failures,
      'tests/test_a.py::test_ok': 'passed',
      'tests/test_a.py::TestGroup::test_inner_ok': 'passed',
      'tests/test_a.py::test_param[1]': 'passed',
    });

    const collect = parseTestOutput(await fixture('pytest-collect-error.txt'));
    expect(byName(collect)).toEqual({ 'tests/test_err.py': 'failed' });
    expect(collect!.cases[0]!.details).toMatch(/No module named 'nonexistent_module_xyz'/);
  });

  it('reads -v and -rA with every outcome (xfail, xpass, a fixture error, a module that does not import)', async () => {
    const expected = {
      'tests/test_a.py::test_ok': 'passed',
      'tests/test_a.py::test_bad': 'failed',
      'tests/test_a.py::TestGroup::test_inner_ok': 'passed',
      'tests/test_a.py::TestGroup::test_inner_bad': 'failed',
      'tests/test_a.py::test_param[1]': 'passed',
      'tests/test_a.py::test_param[2]': 'failed',
      'tests/test_a.py::test_uses_broken_fixture': 'failed',
      'tests/test_a.py::test_xfail': 'skipped',
      'tests/test_a.py::test_xpass': 'passed',
      'tests/test_b.py::test_other': 'passed',
      'tests/test_err.py': 'failed',
    };
    for (const f of ['pytest-continue-v.txt', 'pytest-continue-rA.txt']) {
      const text = await fixture(f);
      const parsed = parseTestOutput(text);
      // -rA names skips by their location only: -v names them by node id.
      const names = byName(parsed);
      if (f.includes('-v')) expect(names['tests/test_a.py::test_skipped'], f).toBe('skipped');
      delete names['tests/test_a.py::test_skipped'];
      expect(names, f).toEqual(expected);
      // pytest: "3 failed, 4 passed, 1 skipped, 1 xfailed, 1 xpassed, 2 errors".
      expect(text).toMatch(/3 failed, 4 passed, 1 skipped, 1 xfailed, 1 xpassed, 2 errors in/);
      expect(parsed?.counts, f).toEqual({ passed: 4 + 1, failed: 3 + 2, skipped: 1 + 1 });
      expect(parsed!.cases.find((c) => c.name.endsWith('test_uses_broken_fixture'))!.details).toMatch(
        /fixture boom/,
      );
    }
  });

  it('a run where every module fails to import passed nothing, and its tests cannot run', async () => {
    const text = await fixture('pytest-all-errors.txt');
    const parsed = parseTestOutput(text, { cwd: '/tmp/r3/pyall' });
    expect(byName(parsed)).toEqual({ 'tests/test_one.py': 'failed', 'tests/test_two.py': 'failed' });
    expect(parsed?.counts).toEqual({ passed: 0, failed: 2, skipped: 0 });
    const summary = summarizeRun({
      passed: false,
      command: 'python3 -m pytest -q',
      exitCode: 2,
      output: text,
      durationMs: 600,
    });
    const verdict = judgeRunnability(summary, { cwd: '/tmp/r3/pyall' });
    expect(verdict.runnable).toBe(false);
    expect(verdict.why).toMatch(/no test passed \(2 failed, 0 skipped\)/);
  });

  it('adds up the closing lines of several sessions; ids with spaces; pytest-xdist lines', () => {
    const text = [
      'tests/test_a.py::test_x[a b] PASSED                                      [ 50%]',
      'tests/test_a.py::test_y FAILED                                           [100%]',
      '=========================== short test summary info ============================',
      'FAILED tests/test_a.py::test_y - assert 1 == 2',
      '========================= 1 failed, 1 passed in 0.05s =========================',
      '[gw0] [ 50%] PASSED tests/test_b.py::test_z',
      '[gw1] [100%] FAILED tests/test_b.py::test_w[x y]',
      '=========================== short test summary info ============================',
      'FAILED tests/test_b.py::test_w[x y] - assert 0',
      '========================= 1 failed, 1 passed in 0.50s =========================',
    ].join('\n');
    const parsed = parseTestOutput(text);
    expect(byName(parsed)).toEqual({
      'tests/test_a.py::test_x[a b]': 'passed',
      'tests/test_a.py::test_y': 'failed',
      'tests/test_b.py::test_z': 'passed',
      'tests/test_b.py::test_w[x y]': 'failed',
    });
    expect(parsed?.counts).toEqual({ passed: 2, failed: 2, skipped: 0 });
  });

  it.skipIf(!onPath('python3'))('reads a real pytest -q run (when pytest is installed)', async (ctx) => {
    const p = path.join(dir, 'py');
    await mkdir(path.join(p, 'tests'), { recursive: true });
    await writeFile(path.join(p, 'tests/test_a.py'), PY);
    const probe = await runOutput('python3', ['-m', 'pytest', '--version'], p);
    if (probe.code !== 0) ctx.skip('pytest is not installed');
    const { output } = await runOutput('python3', ['-m', 'pytest', '-q', '-p', 'no:cacheprovider'], p);
    const parsed = parseTestOutput(output, { cwd: p });
    expect(byName(parsed)).toEqual(failures);
    expect(parsed?.counts).toEqual({ passed: 3, failed: 3, skipped: 1 });
  });
});

describe('unittest', () => {
  const expected = {
    'tests.test_a.TestMath.test_bad': 'failed',
    'tests.test_a.TestMath.test_error': 'failed',
    'tests.test_a.TestMath.test_subtests (n=2)': 'failed',
    'tests.test_err': 'failed',
  };
  const UNITTEST = `import unittest


class TestMath(unittest.TestCase):
    def test_ok(self):
        self.assertEqual(1 + 1, 2)

    def test_bad(self):
        self.assertEqual(1 + 1, 3, "math is broken")

    def test_error(self):
        raise ValueError("inner boom")

    @unittest.skip("not now")
    def test_skipped(self):
        pass

    @unittest.expectedFailure
    def test_xfail(self):
        self.assertTrue(False)

    def test_subtests(self):
        for n in (1, 2):
            with self.subTest(n=n):
                self.assertEqual(n, 1)


class TestOther(unittest.TestCase):
    def test_other(self):
        pass
`;
  // unittest: "Ran 8 tests", "FAILED (failures=2, errors=2, skipped=1, expected failures=1)".
  const ownCounts = (text: string) => {
    const ran = own(text, /^Ran (\d+) tests? in/m);
    const n = (k: string) => own(text, new RegExp(`^FAILED \\((?:.*, )?${k}=(\\d+)`, 'm'));
    const failed = n('failures') + n('errors');
    const skipped = n('skipped') + n('expected failures');
    return { passed: ran - failed - skipped, failed, skipped };
  };

  it('reads the default and -v output: failures by test id, a module that does not import by module', async () => {
    const plain = parseTestOutput(await fixture('unittest.txt'));
    expect(plain?.formats).toEqual(['unittest']);
    expect(byName(plain)).toEqual(expected);
    expect(plain?.counts).toEqual({ passed: 2, failed: 4, skipped: 2 });
    expect(plain?.counts).toEqual(ownCounts(await fixture('unittest.txt')));
    expect(plain!.cases.find((c) => c.name.endsWith('test_bad'))!.details).toMatch(/math is broken/);
    expect(plain!.cases.find((c) => c.name === 'tests.test_err')!.details).toMatch(/nonexistent_module_xyz/);

    const verbose = parseTestOutput(await fixture('unittest-v.txt'));
    expect(byName(verbose)).toEqual({
      ...expected,
      'tests.test_a.TestMath.test_ok': 'passed',
      'tests.test_a.TestMath.test_skipped': 'skipped',
      'tests.test_a.TestMath.test_xfail': 'skipped',
      'tests.test_a.TestOther.test_other': 'passed',
    });
    expect(verbose?.counts).toEqual({ passed: 2, failed: 4, skipped: 2 });
  });

  it('reads OK with skips, Python before 3.11 (the class only in the id), and NO TESTS RAN', () => {
    const ok = parseTestOutput(
      '..s\n----------------------------------------------------------------------\nRan 3 tests in 0.001s\n\nOK (skipped=1)\n',
    );
    expect(ok?.counts).toEqual({ passed: 2, failed: 0, skipped: 1 });
    const old = parseTestOutput(
      [
        '======================================================================',
        'FAIL: test_bad (tests.test_a.TestMath)',
        '----------------------------------------------------------------------',
        'AssertionError: 2 != 3',
        '',
        '======================================================================',
        'ERROR: tests.test_err (unittest.loader._FailedTest)',
        '----------------------------------------------------------------------',
        'ImportError: Failed to import test module: tests.test_err',
        '',
        '----------------------------------------------------------------------',
        'Ran 3 tests in 0.001s',
        '',
        'FAILED (failures=1, errors=1)',
      ].join('\n'),
    );
    expect(byName(old)).toEqual({ 'tests.test_a.TestMath.test_bad': 'failed', 'tests.test_err': 'failed' });
    expect(old?.counts).toEqual({ passed: 1, failed: 2, skipped: 0 });
    const none = parseTestOutput(
      '\n----------------------------------------------------------------------\nRan 0 tests in 0.000s\n\nNO TESTS RAN\n',
    );
    expect(none?.counts).toEqual({ passed: 0, failed: 0, skipped: 0 });
  });

  it.skipIf(!onPath('python3'))('reads a real python -m unittest -v run', async () => {
    const p = path.join(dir, 'ut');
    await mkdir(path.join(p, 'tests'), { recursive: true });
    await writeFile(path.join(p, 'tests/__init__.py'), '');
    await writeFile(path.join(p, 'tests/test_a.py'), UNITTEST);
    await writeFile(path.join(p, 'tests/test_err.py'), 'import nonexistent_module_xyz\n');
    const { code, output } = await runOutput('python3', ['-B', '-m', 'unittest', '-v'], p);
    expect(code).not.toBe(0);
    const parsed = parseTestOutput(output, { cwd: p });
    expect(parsed?.formats).toEqual(['unittest']);
    expect(byName(parsed)).toMatchObject(expected);
    expect(parsed?.counts).toEqual(ownCounts(output));
  });
});

describe('go test', () => {
  const results = {
    'example.com/calc.TestAdd': 'passed',
    'example.com/calc.TestFail': 'failed',
    'example.com/calc.TestSkip': 'skipped',
    'example.com/calc.TestTable/one': 'passed',
    'example.com/calc.TestTable/two': 'failed',
    'example.com/calc.TestParentOwn': 'failed',
    'example.com/calc.TestParentOwn/fine': 'passed',
    'example.com/calc.TestParallel/a': 'passed',
    'example.com/calc.TestParallel/b': 'passed',
    'example.com/calc.ExampleAdd': 'passed',
    'example.com/calc/other.TestOther': 'passed',
    'example.com/calc/panics.TestFirst': 'passed',
    'example.com/calc/panics.TestPanics': 'failed',
    'example.com/calc/vetfail [build failed]': 'failed',
    'example.com/calc/broken [build failed]': 'failed',
  };
  /** go's own results: one pass/fail/skip event with a Test per test and subtest. */
  const goEvents = (json: string) => {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const m of json.matchAll(/"Action":"(pass|fail|skip)","Package":"[^"]*","Test":/g))
      counts[m[1] === 'pass' ? 'passed' : m[1] === 'fail' ? 'failed' : 'skipped']++;
    return counts;
  };

  it('reads -v and -json alike: subtests, parallel ones, a parent failing on its own, a panic, build and vet failures', async () => {
    const json = await fixture('go-json.txt');
    for (const f of ['go-v.txt', 'go-json.txt']) {
      const text = await fixture(f);
      const parsed = parseTestOutput(text, { cwd: '/tmp/r3/go' });
      expect(parsed?.formats, f).toEqual([f === 'go-v.txt' ? 'go test' : 'go test -json']);
      expect(byName(parsed), f).toEqual(results);
      // Every test and subtest go reports (TestTable and TestParallel too), plus 2 packages that do not build.
      const events = goEvents(json);
      expect(events).toEqual({ passed: 9, failed: 5, skipped: 1 });
      expect(parsed?.counts, f).toEqual({ ...events, failed: events.failed + 2 });
      if (f === 'go-v.txt') expect(text.match(/^\s*--- (PASS|FAIL|SKIP): /gm)).toHaveLength(15);
      const details = (n: string) => parsed!.cases.find((c) => c.name === n)?.details;
      expect(details('example.com/calc.TestFail'), f).toMatch(/math is broken: got 2, want 3/);
      expect(details('example.com/calc.TestTable/two'), f).toMatch(/two: got 2/);
      expect(details('example.com/calc.TestParentOwn'), f).toMatch(/parent's own failure/);
      expect(details('example.com/calc/broken [build failed]'), f).toMatch(/syntax error/);
      expect(details('example.com/calc/vetfail [build failed]'), f).toMatch(/wrong type string/);
    }
    const v = parseTestOutput(await fixture('go-v.txt'));
    expect(v!.cases.find((c) => c.name.endsWith('TestPanics'))!.details).toMatch(/panic: boom/);
  });

  it('reads the default (quiet) output: the failures and the packages that do not build', async () => {
    const parsed = parseTestOutput(await fixture('go.txt'));
    expect(byName(parsed)).toEqual({
      'example.com/calc.TestFail': 'failed',
      'example.com/calc.TestTable/two': 'failed',
      'example.com/calc.TestParentOwn': 'failed',
      'example.com/calc/panics.TestPanics': 'failed',
      'example.com/calc/vetfail [build failed]': 'failed',
      'example.com/calc/broken [build failed]': 'failed',
    });
    expect(parsed!.cases.find((c) => c.name.endsWith('TestTable/two'))!.details).toMatch(/two: got 2/);
    expect(parsed!.cases.find((c) => c.name.includes('broken'))!.details).toMatch(/syntax error/);
  });

  it("counts google/uuid's go test -v as go reports it: 212 passed, 1 skipped", async () => {
    const text = await fixture('go-uuid-v.txt');
    const parsed = parseTestOutput(text);
    expect(parsed?.counts).toEqual({
      passed: text.match(/^\s*--- PASS: /gm)!.length,
      failed: 0,
      skipped: text.match(/^\s*--- SKIP: /gm)!.length,
    });
    expect(parsed?.counts).toEqual({ passed: 212, failed: 0, skipped: 1 });
    expect(byName(parsed)['github.com/google/uuid.TestNew']).toBe('passed');
  });

  it("reads Go 1.24's JSON build events and a package that failed with no failing test", () => {
    const events = [
      '{"ImportPath":"m/builderror [m/builderror.test]","Action":"build-output","Output":"# m/builderror [m/builderror.test]\\n"}',
      '{"ImportPath":"m/builderror [m/builderror.test]","Action":"build-output","Output":"builderror/main_test.go:3:11: undefined: y\\n"}',
      '{"ImportPath":"m/builderror [m/builderror.test]","Action":"build-fail"}',
      '{"Action":"start","Package":"m/builderror"}',
      '{"Action":"output","Package":"m/builderror","Output":"FAIL\\tm/builderror [build failed]\\n"}',
      '{"Action":"fail","Package":"m/builderror","Elapsed":0,"FailedBuild":"m/builderror [m/builderror.test]"}',
      '{"Action":"start","Package":"m/loaderror"}',
      '{"Action":"output","Package":"m/loaderror","Output":"FAIL\\tm/loaderror [setup failed]\\n"}',
      '{"Action":"fail","Package":"m/loaderror","Elapsed":0,"FailedBuild":"x"}',
      '{"Action":"run","Package":"m/slow","Test":"TestQuick"}',
      '{"Action":"pass","Package":"m/slow","Test":"TestQuick","Elapsed":0}',
      '{"Action":"output","Package":"m/slow","Output":"panic: test timed out after 1s\\n"}',
      '{"Action":"output","Package":"m/slow","Output":"FAIL\\tm/slow\\t1.005s\\n"}',
      '{"Action":"fail","Package":"m/slow","Elapsed":1.005}',
    ].join('\n');
    const parsed = parseTestOutput(events);
    expect(byName(parsed)).toEqual({
      'm/slow.TestQuick': 'passed',
      'm/builderror [build failed]': 'failed',
      'm/loaderror [setup failed]': 'failed',
      'm/slow [package failed]': 'failed',
    });
    expect(parsed?.counts).toEqual({ passed: 1, failed: 3, skipped: 0 });
    const details = (n: string) => parsed!.cases.find((c) => c.name === n)?.details;
    expect(details('m/builderror [build failed]')).toMatch(/undefined: y/);
    expect(details('m/slow [package failed]')).toMatch(/timed out/);
  });

  it('a module without test files ran no test: counted 0, not one passing command', () => {
    const parsed = parseTestOutput(
      '?   \texample.com/x\t[no test files]\n?   \texample.com/x/y\t[no test files]\n',
    );
    expect(parsed?.formats).toEqual(['go test']);
    expect(parsed?.counts).toEqual({ passed: 0, failed: 0, skipped: 0 });
    const summary = summarizeRun({
      passed: true,
      command: 'go test -v ./...',
      exitCode: 0,
      output: '?   \tx\t[no test files]\n',
      durationMs: 5,
    });
    expect(judgeRunnability(summary).why).toMatch(/ran no test/);
  });

  it.skipIf(!onPath('go'))('reads real go test -v and -json runs alike (when go is installed)', async () => {
    const p = path.join(dir, 'go');
    await mkdir(path.join(p, 'other'), { recursive: true });
    await mkdir(path.join(p, 'broken'), { recursive: true });
    await writeFile(path.join(p, 'go.mod'), 'module example.com/calc\n\ngo 1.19\n');
    await writeFile(path.join(p, 'calc.go'), 'package calc\n\nfunc Add(a, b int) int { return a + b }\n');
    await writeFile(
      path.join(p, 'calc_test.go'),
      `package calc

import "testing"

func TestAdd(t *testing.T) {
	if Add(1, 1) != 2 {
		t.Fatal("bad")
	}
}

func TestTable(t *testing.T) {
	for _, want := range []int{2, 3} {
		t.Run("case", func(t *testing.T) {
			if got := Add(1, 1); got != want {
				t.Errorf("got %d", got)
			}
		})
	}
}

func TestSkip(t *testing.T) { t.Skip("not now") }
`,
    );
    await writeFile(
      path.join(p, 'other/other_test.go'),
      'package other\n\nimport "testing"\n\nfunc TestOther(t *testing.T) {}\n',
    );
    await writeFile(path.join(p, 'broken/b.go'), 'package broken\n\nthis is not go\n');
    const v = await runOutput('go', ['test', '-v', './...'], p);
    const json = await runOutput('go', ['test', '-json', './...'], p);
    expect(v.code).not.toBe(0);
    const expectedNames = {
      'example.com/calc.TestAdd': 'passed',
      'example.com/calc.TestTable/case': 'passed',
      'example.com/calc.TestTable/case#01': 'failed',
      'example.com/calc.TestSkip': 'skipped',
      'example.com/calc/other.TestOther': 'passed',
      'example.com/calc/broken [build failed]': 'failed',
    };
    const events = goEvents(json.output);
    expect(events).toEqual({ passed: 3, failed: 2, skipped: 1 });
    for (const out of [v.output, json.output]) {
      const parsed = parseTestOutput(out, { cwd: p });
      expect(byName(parsed)).toEqual(expectedNames);
      expect(parsed?.counts).toEqual({ ...events, failed: events.failed + 1 });
    }
  });
});

describe('cargo test', () => {
  const expected = {
    'tests::adds': 'passed',
    'tests::ignored': 'skipped',
    'tests::fails': 'failed',
    'tests::panics': 'failed',
  };

  it('reads a recorded run', async () => {
    const parsed = parseTestOutput(await fixture('cargo.txt'));
    expect(byName(parsed)).toEqual(expected);
    expect(parsed!.cases.find((c) => c.name.endsWith('fails'))!.details).toMatch(/math is broken/);
  });

  it('--no-fail-fast: every binary\'s results, counted from their "test result:" lines even when the head is cut', async () => {
    const text = await fixture('cargo-no-fail-fast.txt');
    const own = { passed: 0, failed: 0, skipped: 0 };
    for (const m of text.matchAll(/^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/gm)) {
      own.passed += Number(m[1]);
      own.failed += Number(m[2]);
      own.skipped += Number(m[3]);
    }
    expect(own).toEqual({ passed: 4, failed: 4, skipped: 2 });
    const parsed = parseTestOutput(text);
    expect(parsed?.counts).toEqual(own);
    expect(byName(parsed)).toEqual({
      ...expected,
      integration_ok: 'passed',
      integration_bad: 'failed',
      other_ok: 'passed',
      'src/lib.rs - add (line 3)': 'passed',
      'src/lib.rs - add (line 7)': 'failed',
      'src/lib.rs - add (line 11)': 'skipped',
    });
    // The unit tests' lines cut off: their "test result:" line still counts them.
    const lines = text.split('\n');
    const cut = lines.slice(lines.findIndex((l) => l.startsWith('failures:'))).join('\n');
    expect(byName(parseTestOutput(cut))['tests::adds']).toBeUndefined();
    expect(parseTestOutput(cut)?.counts).toEqual(own);
  });

  it.skipIf(!onPath('cargo'))('reads a real cargo test run (when cargo is installed)', async () => {
    const p = path.join(dir, 'rs');
    await mkdir(path.join(p, 'src'), { recursive: true });
    await writeFile(
      path.join(p, 'Cargo.toml'),
      '[package]\nname = "rs"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n',
    );
    await writeFile(
      path.join(p, 'src/lib.rs'),
      `pub fn add(a: i32, b: i32) -> i32 { a + b }
#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn adds() { assert_eq!(add(1, 1), 2); }
    #[test]
    fn fails() { assert_eq!(add(1, 1), 3, "math is broken"); }
    #[test]
    #[ignore]
    fn ignored() {}
    #[test]
    fn panics() { panic!("boom"); }
}
`,
    );
    const { output } = await runOutput('cargo', ['test', '--offline', '--lib'], p);
    const parsed = parseTestOutput(output, { cwd: p });
    expect(byName(parsed)).toEqual(expected);
  });
});

describe('parseTestOutput', () => {
  it('returns undefined for output in no known format', () => {
    expect(parseTestOutput('Error: something broke\n  at main\n')).toBeUndefined();
    expect(parseTestOutput('')).toBeUndefined();
  });

  it('merges the formats of a command that runs several tools', async () => {
    const text = `${await fixture('cargo.txt')}\n${await fixture('pytest-q.txt')}`;
    const parsed = parseTestOutput(text);
    expect(parsed?.formats.sort()).toEqual(['cargo test', 'pytest']);
    expect(parsed?.counts.failed).toBe(5);
  });

  it('strips colours and keeps what a carriage return left on the line', () => {
    expect(outputLines('\x1b[32m✓\x1b[39m ok\r\nprogress 10%\rprogress 100%\n')).toEqual([
      '✓ ok',
      'progress 100%',
      '',
    ]);
  });
});
