/**
 * uvu: its closing summary ("Total: 6", "Passed: 4", "Skipped: 1", "Duration: …"), one per run of
 * the `uvu` CLI or of a test file run with node, all of them added up. "Total" counts the tests
 * that ran (skipped ones are apart), so failed = Total − Passed. Failures are named from their
 * "FAIL  suite  "title"" blocks, as "<file> > <suite> > <title>" (the file when the CLI printed its
 * name above the suite's row of dots, the suite when it has one); passing tests are only counted
 * (uvu prints a dot for each).
 */
import { detailsText } from './types.ts';
import type { ParsedTests, TestCase, TestCounts } from './types.ts';

const TOTAL = /^\s{2}Total:\s+(\d+)\s*$/;
/** A suite's row: " group  • ✘   (1 / 2)", the root suite's without a name. */
const SUITE_ROW = /^\s*(?:(\S.*?)\s{2})?(?:[•✘] )*\s*\(\d+ \/ \d+\)\s*$/;
const FAILURE = /^\s{3}FAIL\s{2}(?:(.+?)\s{2})?"(.*)"\s*$/;

export function parseUvu(lines: string[]): ParsedTests | undefined {
  const counts: TestCounts = { passed: 0, failed: 0, skipped: 0 };
  let summaries = 0;
  for (let i = 0; i < lines.length; i++) {
    const total = TOTAL.exec(lines[i]!);
    const passed = /^\s{2}Passed:\s+(\d+)\s*$/.exec(lines[i + 1] ?? '');
    const skipped = /^\s{2}Skipped:\s+(\d+)\s*$/.exec(lines[i + 2] ?? '');
    if (!total || !passed || !skipped) continue;
    summaries++;
    const t = Number(total[1]);
    const p = Number(passed[1]);
    counts.passed += p;
    counts.failed += Math.max(0, t - p);
    counts.skipped += Number(skipped[1]);
  }
  if (summaries === 0) return undefined;
  const cases: TestCase[] = [];
  let file: string | undefined;
  let current: { c: TestCase; detail: string[] } | undefined;
  const flush = () => {
    if (current) current.c.details = detailsText(current.detail);
    current = undefined;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fail = FAILURE.exec(line);
    if (fail) {
      flush();
      const name = [file, fail[1]?.trim(), fail[2]!].filter(Boolean).join(' > ');
      const c: TestCase = { name, status: 'failed' };
      cases.push(c);
      current = { c, detail: [] };
      continue;
    }
    const row = SUITE_ROW.test(line);
    if (row || TOTAL.test(line)) {
      flush();
      // The CLI prints each file's name on the line above its first suite's row.
      const above = lines[i - 1];
      if (row && above !== undefined && /^\S/.test(above) && !SUITE_ROW.test(above)) file = above.trim();
      continue;
    }
    current?.detail.push(line);
  }
  flush();
  counts.failed = Math.max(counts.failed, cases.length);
  return { formats: ['uvu'], cases, counts };
}
