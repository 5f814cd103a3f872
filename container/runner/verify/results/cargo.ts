/**
 * `cargo test`: "test tests::adds ... ok|FAILED|ignored" lines (stdout), the "---- name stdout
 * ----" sections of the failures, and "test result:" lines. Tests are named by their path
 * ("tests::adds"; doc-tests "src/lib.rs - add (line 3)"); not by their test binary, because cargo
 * prints "Running <binary>" on stderr, and its order against stdout is not stable from run to
 * run. A crate that does not compile is one failure, "(cargo build)".
 *
 * Counts are cargo's own: the sum of every test binary's "test result: … N passed; M failed; K
 * ignored" line (unit tests, each integration test, doc-tests), so a run whose head was cut still
 * counts right; the results printed after the last such line (a binary that crashed, or output cut
 * at its end) are added from their "test … ok" lines.
 */
import { countCases, detailsText } from './types.ts';
import type { ParsedTests, TestCase, TestCounts, TestStatus } from './types.ts';

const TEST_LINE = /^test (.+?) \.\.\. (ok|FAILED|ignored|bench)(?:,.*)?\s*$/;
const RESULT_LINE =
  /^test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored(?:; \d+ measured)?(?:; \d+ filtered out)?/;

export function parseCargoTest(lines: string[]): ParsedTests | undefined {
  const hasResult = lines.some((l) => /^test result: (ok|FAILED)\./.test(l));
  const compileError = lines.some((l) => /^error(\[E\d+\])?: could not compile/.test(l));
  if (!hasResult && !compileError && !lines.some((l) => TEST_LINE.test(l))) return undefined;
  const cases: TestCase[] = [];
  let section: { name: string; lines: string[] } | undefined;
  const sections = new Map<string, string[]>();
  const counts: TestCounts = { passed: 0, failed: 0, skipped: 0 };
  // The results since the last "test result:" line: counted only if no such line follows.
  let unsummed: TestCase[] = [];
  for (const line of lines) {
    if (/^\s*(Running|Doc-tests) /.test(line)) {
      section = undefined;
      continue;
    }
    const t = TEST_LINE.exec(line);
    if (t) {
      const status: TestStatus = t[2] === 'FAILED' ? 'failed' : t[2] === 'ignored' ? 'skipped' : 'passed';
      const c: TestCase = { name: t[1]!, status };
      cases.push(c);
      unsummed.push(c);
      continue;
    }
    const r = RESULT_LINE.exec(line);
    if (r) {
      counts.passed += Number(r[1]);
      counts.failed += Number(r[2]);
      counts.skipped += Number(r[3]);
      unsummed = [];
    }
    const head = /^---- (.+?) stdout ----$/.exec(line);
    if (head) {
      section = { name: head[1]!, lines: [] };
      sections.set(section.name, section.lines);
      continue;
    }
    if (/^(failures:|test result:)/.test(line)) {
      section = undefined;
      continue;
    }
    section?.lines.push(line);
  }
  for (const c of cases) {
    const s = sections.get(c.name);
    if (c.status === 'failed' && s) c.details = detailsText(s.filter((l) => !/^\s+(\d+: |at )/.test(l)));
  }
  const rest = countCases(unsummed);
  counts.passed += rest.passed;
  counts.failed += rest.failed;
  counts.skipped += rest.skipped;
  if (compileError) {
    const errors = lines.filter((l) => /^error(\[E\d+\])?:|^\s+--> /.test(l));
    cases.push({ name: '(cargo build)', status: 'failed', details: detailsText(errors) });
    counts.failed++;
  }
  return { formats: ['cargo test'], cases, counts };
}
