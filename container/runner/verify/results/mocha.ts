/**
 * mocha: the spec reporter (mocha's default) and the JSON reporter (`--reporter json`).
 *
 * Spec: counts from its summary ("4 passing (4ms)", "2 pending", "3 failing"); failures named from
 * the numbered list under it, whose title is the suite path one level per line ("  1) math" /
 * "       nested" / "         inner fails:"), as "math > nested > inner fails". A hook that fails
 * is one failure, named as mocha names it ("suite > "before all" hook for "test"""), and the tests
 * it kept from running are not counted (mocha does not count them either). Passing tests are only
 * counted: their ✔ lines carry no suite path on the line.
 *
 * JSON: the document's "stats" (passes, failures, pending) and every test by its fullTitle.
 */
import { detailsText } from './types.ts';
import type { ParsedTests, TestCase, TestCounts, TestStatus } from './types.ts';

const PASSING = /^\s{2}(\d+) passing \([\d.]+m?s\)\s*$/;

export function parseMochaSpec(lines: string[]): ParsedTests | undefined {
  const counts: TestCounts = { passed: 0, failed: 0, skipped: 0 };
  const cases: TestCase[] = [];
  let runs = 0;
  for (let i = 0; i < lines.length; i++) {
    const passing = PASSING.exec(lines[i]!);
    if (!passing) continue;
    runs++;
    counts.passed += Number(passing[1]);
    let j = i + 1;
    for (; j < i + 3 && j < lines.length; j++) {
      const m = /^\s{2}(\d+) (pending|failing)\s*$/.exec(lines[j]!);
      if (!m) break;
      if (m[2] === 'pending') counts.skipped += Number(m[1]);
      else counts.failed += Number(m[1]);
    }
    cases.push(...failureList(lines, j));
  }
  if (runs === 0) return undefined;
  counts.failed = Math.max(counts.failed, cases.length);
  return { formats: ['mocha'], cases, counts };
}

/** The numbered failures after a summary, up to the next summary or the end. */
function failureList(lines: readonly string[], from: number): TestCase[] {
  const cases: TestCase[] = [];
  let current: { c: TestCase; detail: string[] } | undefined;
  const flush = () => {
    if (current) current.c.details = detailsText(current.detail.map((l) => l.replace(/^ {4,6}/, '')));
    current = undefined;
  };
  for (let i = from; i < lines.length; i++) {
    const line = lines[i]!;
    if (PASSING.test(line)) break;
    const head = /^\s{2}(\d+)\) (.*)$/.exec(line);
    if (!head) {
      current?.detail.push(line);
      continue;
    }
    flush();
    // One title per line, each indented two more than the one before, the last ending with ":".
    const titles = [head[2]!];
    let indent = 7;
    while (
      i + 1 < lines.length &&
      lines[i + 1]!.startsWith(' '.repeat(indent)) &&
      lines[i + 1]![indent] !== ' '
    ) {
      titles.push(lines[++i]!.trim());
      indent += 2;
    }
    const last = titles.length - 1;
    titles[last] = titles[last]!.replace(/:$/, '');
    const c: TestCase = { name: titles.join(' > '), status: 'failed' };
    cases.push(c);
    current = { c, detail: [] };
  }
  flush();
  return cases;
}

interface MochaJsonTest {
  fullTitle?: unknown;
  err?: unknown;
}

function isTests(v: unknown): v is MochaJsonTest[] {
  return Array.isArray(v) && v.every((t) => t !== null && typeof t === 'object');
}

export function parseMochaJson(lines: string[]): ParsedTests | undefined {
  // The document starts with a line "{" and its first key is "stats".
  const start = lines.findIndex((l, i) => l === '{' && /^\s+"stats": \{/.test(lines[i + 1] ?? ''));
  if (start < 0) return undefined;
  let doc: unknown;
  for (let end = start + 1; end < lines.length; end++) {
    if (lines[end] !== '}') continue;
    try {
      doc = JSON.parse(lines.slice(start, end + 1).join('\n'));
      break;
    } catch {
      // a "}" inside the document: keep looking
    }
  }
  if (doc === null || typeof doc !== 'object') return undefined;
  const { stats, passes, failures, pending } = doc as Record<string, unknown>;
  if (stats === null || typeof stats !== 'object') return undefined;
  const n = (k: string) => {
    const v = (stats as Record<string, unknown>)[k];
    return typeof v === 'number' ? v : 0;
  };
  const cases: TestCase[] = [];
  const add = (list: unknown, status: TestStatus) => {
    if (!isTests(list)) return;
    for (const t of list) {
      if (typeof t.fullTitle !== 'string') continue;
      const c: TestCase = { name: t.fullTitle, status };
      const err = t.err as { stack?: unknown; message?: unknown } | undefined;
      if (status === 'failed' && err) {
        const text =
          typeof err.stack === 'string' ? err.stack : typeof err.message === 'string' ? err.message : '';
        c.details = detailsText(text.split('\n'));
      }
      cases.push(c);
    }
  };
  add(passes, 'passed');
  add(failures, 'failed');
  add(pending, 'skipped');
  return {
    formats: ['mocha (JSON)'],
    cases,
    counts: { passed: n('passes'), failed: n('failures'), skipped: n('pending') },
  };
}
