/** Per-test results read from a test command's output. */

export type TestStatus = 'passed' | 'failed' | 'skipped';

export interface TestCase {
  /** Stable across runs of the same command in the same folder (e.g. "test/a.test.js > group > adds"). */
  name: string;
  status: TestStatus;
  /** For failures: the part of the output about this test, when the format makes it findable. */
  details?: string;
}

export interface TestCounts {
  passed: number;
  failed: number;
  skipped: number;
}

export interface ParsedTests {
  /** The formats recognised (several when one command runs several tools, e.g. `make test`). */
  formats: string[];
  cases: TestCase[];
  /** From the tool's own summary when it prints one (pytest -q names only failures), else from `cases`. */
  counts: TestCounts;
}

/** A parser for one output format: undefined when the output is not in that format. */
export type TestOutputParser = (lines: string[]) => ParsedTests | undefined;

export function countCases(cases: readonly TestCase[]): TestCounts {
  const counts: TestCounts = { passed: 0, failed: 0, skipped: 0 };
  for (const c of cases) counts[c.status]++;
  return counts;
}

/** Leading whitespace width (a tab counts as 4). */
export function indentOf(line: string): number {
  let n = 0;
  for (const ch of line) {
    if (ch === ' ') n++;
    else if (ch === '\t') n += 4;
    else break;
  }
  return n;
}

/** Joins detail lines, dropping blank lines at both ends and capping the length. */
export function detailsText(lines: readonly string[], max = 4000): string | undefined {
  let start = 0;
  let end = lines.length;
  while (start < end && lines[start]!.trim() === '') start++;
  while (end > start && lines[end - 1]!.trim() === '') end--;
  if (start === end) return undefined;
  const text = lines.slice(start, end).join('\n');
  return text.length > max ? `${text.slice(0, max)}\n[… ${text.length - max} characters cut …]` : text;
}
