/**
 * Jest and Vitest default reporters. Both name every failing test with its file and suite path
 * ("FAIL  test/a.test.js > group > adds" in Vitest, "● group › adds" under "FAIL test/a.test.js"
 * in Jest) and close with a "Tests:" summary line; passing tests are only counted (their names are
 * not printed for passing files). Failures are named "<file> > <suite> > <test>" in both.
 */
import { detailsText } from './types.ts';
import type { ParsedTests, TestCase, TestCounts } from './types.ts';

function summaryCounts(line: string): TestCounts {
  const n = (word: RegExp) => {
    const m = new RegExp(`(\\d+) ${word.source}`).exec(line);
    return m ? Number(m[1]) : 0;
  };
  return {
    failed: n(/failed/),
    passed: n(/passed/),
    skipped: n(/skipped/) + n(/todo/) + n(/pending/),
  };
}

function mergeFailures(cases: TestCase[]): TestCase[] {
  const byName = new Map<string, TestCase>();
  for (const c of cases) {
    const seen = byName.get(c.name);
    if (!seen) byName.set(c.name, c);
    else if (!seen.details && c.details) seen.details = c.details;
  }
  return [...byName.values()];
}

export function parseVitest(lines: string[]): ParsedTests | undefined {
  const testsLine = lines.find((l) => /^\s*Tests\s+\d+ (failed|passed|skipped|todo)\b.*\(\d+\)\s*$/.test(l));
  if (!testsLine || !lines.some((l) => /^\s*Test Files\s+\d+/.test(l))) return undefined;
  const failures: TestCase[] = [];
  let current: { c: TestCase; detail: string[] } | undefined;
  const flush = () => {
    if (current) current.c.details = detailsText(current.detail);
    current = undefined;
  };
  for (const line of lines) {
    const fail = /^\s*FAIL\s+(\S.*?)\s*$/.exec(line);
    if (fail) {
      flush();
      // A file that failed to load: "FAIL  test/c.test.js [ test/c.test.js ]".
      const name = fail[1]!.replace(/\s+\[ .* \]$/, '').trim();
      const c: TestCase = { name, status: 'failed' };
      failures.push(c);
      current = { c, detail: [] };
      continue;
    }
    if (/^\s*⎯{3,}/.test(line) || /^\s*Test Files\s+\d+/.test(line)) {
      flush();
      continue;
    }
    current?.detail.push(line);
  }
  flush();
  const counts = summaryCounts(testsLine);
  const cases = mergeFailures(failures);
  // Without a "Failed Tests" section (a crash, or the output's head was cut) the count still tells.
  counts.failed = Math.max(counts.failed, cases.length);
  return { formats: ['vitest'], cases, counts };
}

export function parseJest(lines: string[]): ParsedTests | undefined {
  const testsLine = lines.find((l) => /^Tests:\s+.*\d+ total\s*$/.test(l));
  if (!testsLine || !lines.some((l) => /^(PASS|FAIL) \S/.test(l) || /^Test Suites:/.test(l)))
    return undefined;
  const failures: TestCase[] = [];
  let file = '';
  let current: { c: TestCase; detail: string[] } | undefined;
  const flush = () => {
    if (current) current.c.details = detailsText(current.detail.map((l) => l.replace(/^ {4}/, '')));
    current = undefined;
  };
  for (const line of lines) {
    const head = /^(PASS|FAIL) (\S+)/.exec(line);
    if (head) {
      flush();
      file = head[2]!;
      continue;
    }
    if (/^(Test Suites|Tests|Snapshots|Time):/.test(line) || /^Summary of all failing tests/.test(line)) {
      flush();
      continue;
    }
    const bullet = /^ {2}● (.*)$/.exec(line);
    if (bullet) {
      flush();
      const title = bullet[1]!.trim();
      const path = /^Test suite failed to run$/i.test(title)
        ? ['(test suite failed to run)']
        : title.split(' › ').map((s) => s.trim());
      const c: TestCase = { name: [file, ...path].filter(Boolean).join(' > '), status: 'failed' };
      failures.push(c);
      current = { c, detail: [] };
      continue;
    }
    current?.detail.push(line);
  }
  flush();
  const counts = summaryCounts(testsLine);
  const cases = mergeFailures(failures);
  counts.failed = Math.max(
    counts.failed,
    cases.filter((c) => !c.name.endsWith('(test suite failed to run)')).length,
  );
  return { formats: ['jest'], cases, counts };
}
