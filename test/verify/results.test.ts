/**
 * Per-test result parsers on real output: node:test (TAP and spec) and Vitest generated here by
 * running tiny projects, pytest and cargo too when they are installed; recorded samples of every
 * format (fixtures/, produced by the same tiny projects; Jest and go test in their documented
 * default formats) so each parser is tested on every machine.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scrubEnv } from '../../core/env.ts';
import { outputLines, parseTestOutput } from '../../container/runner/verify/results/index.ts';
import type { ParsedTests } from '../../container/runner/verify/results/index.ts';

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
      expect(parsed?.counts).toEqual({ passed: 4, failed: 3, skipped: 1 });
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
  it('reads the default reporter: failures by file and suite path, a suite that fails to run', async () => {
    const parsed = parseTestOutput(await fixture('jest.txt'));
    expect(parsed?.formats).toEqual(['jest']);
    expect(byName(parsed)).toEqual({
      'test/a.test.js > fails on purpose': 'failed',
      'test/a.test.js > group > inner fails': 'failed',
      'test/c.test.js > (test suite failed to run)': 'failed',
    });
    expect(parsed?.counts).toEqual({ passed: 2, failed: 2, skipped: 1 });
    expect(parsed!.cases[0]!.details).toMatch(/Expected: 3\nReceived: 2/);
    expect(parsed!.cases[2]!.details).toMatch(/Cannot find module/);
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

describe('go test', () => {
  it('reads -v output: packages, subtests (the failing leaf, not its parent), skips', async () => {
    const parsed = parseTestOutput(await fixture('go-v.txt'));
    expect(byName(parsed)).toEqual({
      'example.com/calc.TestAdd': 'passed',
      'example.com/calc.TestFail': 'failed',
      'example.com/calc.TestTable/one': 'passed',
      'example.com/calc.TestTable/two': 'failed',
      'example.com/calc.TestSkip': 'skipped',
      'example.com/calc/other.TestOther': 'passed',
    });
    expect(parsed!.cases.find((c) => c.name.endsWith('TestFail'))!.details).toMatch(/math is broken/);
  });

  it('reads the default (quiet) output, a package that does not build included', async () => {
    const parsed = parseTestOutput(await fixture('go.txt'));
    expect(byName(parsed)).toEqual({
      'example.com/calc.TestFail': 'failed',
      'example.com/calc.TestTable/two': 'failed',
      'example.com/calc/broken [build failed]': 'failed',
    });
    expect(parsed!.cases.find((c) => c.name.endsWith('TestTable/two'))!.details).toMatch(/two: got 1/);
    expect(parsed!.cases.find((c) => c.name.includes('broken'))!.details).toMatch(/syntax error/);
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
