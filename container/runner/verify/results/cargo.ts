/**
 * `cargo test`: "test tests::adds ... ok|FAILED|ignored" lines (stdout), the "---- name stdout
 * ----" sections of the failures, and "test result:" lines. Tests are named by their path
 * ("tests::adds"; doc-tests "src/lib.rs - add (line 3)"); not by their test binary, because cargo
 * prints "Running <binary>" on stderr, and its order against stdout is not stable from run to
 * run. A crate that does not compile is one failure, "(cargo build)".
 */
import { countCases, detailsText } from './types.ts';
import type { ParsedTests, TestCase, TestStatus } from './types.ts';

const TEST_LINE = /^test (.+?) \.\.\. (ok|FAILED|ignored|bench)(?:,.*)?\s*$/;

export function parseCargoTest(lines: string[]): ParsedTests | undefined {
  const hasResult = lines.some((l) => /^test result: (ok|FAILED)\./.test(l));
  const compileError = lines.some((l) => /^error(\[E\d+\])?: could not compile/.test(l));
  if (!hasResult && !compileError && !lines.some((l) => TEST_LINE.test(l))) return undefined;
  const cases: TestCase[] = [];
  let section: { name: string; lines: string[] } | undefined;
  const sections = new Map<string, string[]>();
  for (const line of lines) {
    if (/^\s*(Running|Doc-tests) /.test(line)) {
      section = undefined;
      continue;
    }
    const t = TEST_LINE.exec(line);
    if (t) {
      const status: TestStatus = t[2] === 'FAILED' ? 'failed' : t[2] === 'ignored' ? 'skipped' : 'passed';
      cases.push({ name: t[1]!, status });
      continue;
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
  if (compileError) {
    const errors = lines.filter((l) => /^error(\[E\d+\])?:|^\s+--> /.test(l));
    cases.push({ name: '(cargo build)', status: 'failed', details: detailsText(errors) });
  }
  return { formats: ['cargo test'], cases, counts: countCases(cases) };
}
