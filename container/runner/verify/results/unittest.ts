/**
 * unittest (`python -m unittest`, and runners that print its result: Django's, `setup.py test`):
 * "Ran 8 tests in 0.001s", then "OK", "OK (skipped=1)" or "FAILED (failures=2, errors=2,
 * skipped=1, expected failures=1, unexpected successes=1)"; several runs in one output add up.
 * failed = failures + errors; skipped = skipped + expected failures; passed = what ran less those
 * (unexpected successes count as passed). A test whose subtests failed counts once in "Ran" but
 * once per failing subtest in "failures", so passed is never below 0.
 *
 * Failures are named from "FAIL: test_bad (tests.test_a.TestMath.test_bad)" / "ERROR: …" headers,
 * by the test's id ("tests.test_a.TestMath.test_bad"; Python before 3.11 prints the class only,
 * "(tests.test_a.TestMath)", and the method is added); a subtest keeps its parameters
 * ("… (n=2)"); a module that could not be imported is named by the module ("tests.test_err").
 * With -v every test is named: "test_ok (tests.test_a.TestMath.test_ok) ... ok".
 */
import { detailsText } from './types.ts';
import type { ParsedTests, TestCase, TestCounts, TestStatus } from './types.ts';

const RAN = /^Ran (\d+) tests? in [\d.]+s\s*$/;
const OUTCOME = /^(OK|FAILED|NO TESTS RAN)(?: \((.*)\))?\s*$/;
const HEADER = /^(FAIL|ERROR|UNEXPECTED SUCCESS): (\S+) \(([^)]+)\)(.*)$/;
const VERBOSE =
  /^\s*(\S+) \(([^)]+)\)(.*?) \.\.\. (ok|FAIL|ERROR|skipped\b.*|expected failure|unexpected success)\s*$/;

/** The test's id from "name (id)": id is "module.Class.name" (3.11+) or "module.Class" before. */
function testId(name: string, id: string, rest: string): string {
  if (/^unittest\.loader\._Failed\w*/.test(id)) return name; // "tests.test_err (unittest.loader._FailedTest…)"
  const full = id === name || id.endsWith(`.${name}`) ? id : `${id}.${name}`;
  const params = rest.trim();
  return params ? `${full} ${params}` : full;
}

export function parseUnittest(lines: string[]): ParsedTests | undefined {
  const counts: TestCounts = { passed: 0, failed: 0, skipped: 0 };
  let runs = 0;
  for (let i = 0; i < lines.length; i++) {
    const ran = RAN.exec(lines[i]!);
    if (!ran) continue;
    // "OK"/"FAILED (…)" follows after a blank line.
    const outcome = [lines[i + 1], lines[i + 2]].map((l) => OUTCOME.exec(l ?? '')).find(Boolean);
    if (!outcome) continue;
    runs++;
    // "failures=2" but not the "failures=1" of "expected failures=1".
    const n = (key: string) => Number(new RegExp(`(?:^|, )${key}=(\\d+)`).exec(outcome[2] ?? '')?.[1] ?? 0);
    const failed = n('failures') + n('errors');
    const skipped = n('skipped') + n('expected failures');
    counts.failed += failed;
    counts.skipped += skipped;
    counts.passed += Math.max(0, Number(ran[1]) - failed - skipped);
  }
  if (runs === 0) return undefined;

  const byName = new Map<string, TestCase>();
  let current: { c: TestCase; detail: string[] } | undefined;
  const flush = () => {
    if (current) current.c.details = detailsText(current.detail);
    current = undefined;
  };
  for (const line of lines) {
    const head = HEADER.exec(line);
    if (head) {
      flush();
      const name = testId(head[2]!, head[3]!, head[4]!);
      const c: TestCase = { name, status: head[1] === 'UNEXPECTED SUCCESS' ? 'passed' : 'failed' };
      byName.set(name, c);
      current = { c, detail: [] };
      continue;
    }
    if (/^(=|-){20,}\s*$/.test(line) || RAN.test(line)) {
      // "-----" closes a header; its traceback follows it, so only "=====" and "Ran" end one.
      if (line.startsWith('=') || RAN.test(line)) flush();
      continue;
    }
    if (current) {
      current.detail.push(line);
      continue;
    }
    const v = VERBOSE.exec(line);
    if (v) {
      const name = testId(v[1]!, v[2]!, v[3]!);
      const word = v[4]!;
      const status: TestStatus =
        word === 'ok' || word === 'unexpected success'
          ? 'passed'
          : word === 'FAIL' || word === 'ERROR'
            ? 'failed'
            : 'skipped';
      if (!byName.has(name)) byName.set(name, { name, status });
    }
  }
  flush();
  const cases = [...byName.values()];
  counts.failed = Math.max(counts.failed, cases.filter((c) => c.status === 'failed').length);
  return { formats: ['unittest'], cases, counts };
}
