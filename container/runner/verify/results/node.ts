/**
 * TAP and node:test output.
 *
 * TAP: node:test's TAP reporter (Node 20's default when the output is not a terminal), node-tap's
 * (`tap`, whose assertions are its test points), and any other TAP 13/14 stream. Tests are named
 * by their path of subtests ("group > inner"); only leaves are named: a parent is named only when
 * it failed on its own (a hook: node's failureType other than "subtestsFailed"; in other TAP, a
 * parent none of whose children failed).
 *
 * Spec: node:test's spec reporter (the default on a terminal, and everywhere from Node 23). The
 * same names; a suite whose hook failed is named too (Node 20 prints the error under the suite's
 * closing line, Node 24 only in the "✖ failing tests:" list at the end, where Node 24 also puts
 * every failure's details).
 *
 * Counts are the runner's own where it prints them: node:test's closing "ℹ pass 5" / "# pass 5"
 * lines (passed = pass; failed = fail + cancelled, a cancelled test being one a failure stopped;
 * skipped = skipped + todo; a test with subtests counts as one more test, a `describe` suite does
 * not), and node-tap's "# { total: 12, pass: 7, fail: 3, todo: 1, skip: 1 }". Otherwise the named
 * leaves are counted.
 */
import { countCases, detailsText, indentOf } from './types.ts';
import type { ParsedTests, TestCase, TestCounts } from './types.ts';

/** Stack frames inside Node itself: noise in a failure's details. */
const INTERNAL_FRAME = /(?:^|\(|\s)node:(?:internal\/|async_hooks)/;

const TAP_RESULT = /^(\s*)(not ok|ok)\s+\d+(?:\s+-)?\s*(.*)$/;
const TAP_SUBTEST = /^(\s*)# Subtest: (.*)$/;
const NODE_SUMMARY_KEYS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo'] as const;

/** Splits "name # SKIP reason" into the name and the directive; drops node-tap's "# time=3.9ms". */
function tapDirective(rest: string): { name: string; directive?: 'skip' | 'todo' } {
  const line = rest.replace(/\s+# time=[\d.]+m?s\s*$/, '');
  const m = /^(.*?)\s+#\s*(SKIP|TODO)\b.*$/i.exec(line);
  if (!m) return { name: line.trim() };
  return { name: m[1]!.trim(), directive: m[2]!.toUpperCase() === 'SKIP' ? 'skip' : 'todo' };
}

/** node:test's closing lines ("# pass 5" in TAP, "ℹ pass 5" in spec), every run's added up. */
function nodeSummary(lines: readonly string[], mark: '#' | 'ℹ'): TestCounts | undefined {
  const totals = new Map<string, number>();
  const re = new RegExp(`^${mark} (${NODE_SUMMARY_KEYS.join('|')}) (\\d+)\\s*$`);
  for (const line of lines) {
    const m = re.exec(line);
    if (m) totals.set(m[1]!, (totals.get(m[1]!) ?? 0) + Number(m[2]));
  }
  // "suites" and "cancelled" are node's: other TAP producers close with "# tests" and "# pass" too.
  if (!totals.has('pass') || !(totals.has('suites') || totals.has('cancelled'))) return undefined;
  const n = (k: string) => totals.get(k) ?? 0;
  return { passed: n('pass'), failed: n('fail') + n('cancelled'), skipped: n('skipped') + n('todo') };
}

/** node-tap's closing "# { total: 12, pass: 7, fail: 3, todo: 1, skip: 1 }". */
function nodeTapSummary(lines: readonly string[]): TestCounts | undefined {
  const line = lines.find((l) => /^# \{ total: \d+/.test(l));
  if (!line) return undefined;
  const n = (k: string) => Number(new RegExp(`\\b${k}: (\\d+)`).exec(line)?.[1] ?? 0);
  return { passed: n('pass'), failed: n('fail'), skipped: n('skip') + n('todo') };
}

export function parseNodeTap(lines: string[]): ParsedTests | undefined {
  if (!lines.some((l) => /^TAP version \d+/.test(l))) return undefined;
  const cases: TestCase[] = [];
  const open: string[] = [];
  const hadChildren: boolean[] = [];
  const childFailed: boolean[] = [];
  let pendingComments: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const sub = TAP_SUBTEST.exec(line);
    if (sub) {
      const level = Math.floor(sub[1]!.length / 4);
      open.length = level;
      open[level] = sub[2]!.trim();
      hadChildren[level] = false;
      childFailed[level] = false;
      continue;
    }
    const res = TAP_RESULT.exec(line);
    if (!res) {
      const comment = /^\s*# (.*)$/.exec(line);
      if (
        comment &&
        !/^\s*# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) [\d.]+$/.test(line) &&
        !/^\s*# (time=|\{ total: )/.test(line)
      )
        pendingComments.push(comment[1]!);
      continue;
    }
    const indent = res[1]!.length;
    const level = Math.floor(indent / 4);
    if (level > 0) hadChildren[level - 1] = true;
    const { name, directive } = tapDirective(res[3]!);
    // The YAML block that follows ("  ---" … "  ..."), indented two more than the result line.
    const yaml: string[] = [];
    if (
      lines[i + 1] !== undefined &&
      /^\s*---\s*$/.test(lines[i + 1]!) &&
      indentOf(lines[i + 1]!) >= indent
    ) {
      let j = i + 2;
      for (; j < lines.length; j++) {
        if (/^\s*\.\.\.\s*$/.test(lines[j]!) && indentOf(lines[j]!) <= indent + 2) break;
        yaml.push(lines[j]!.slice(Math.min(indent + 2, indentOf(lines[j]!))));
      }
      i = j;
    }
    const isParent = hadChildren[level] === true && open[level] === name;
    const ownChildFailed = isParent && childFailed[level] === true;
    hadChildren[level] = false;
    childFailed[level] = false;
    const path = [...open.slice(0, level), name];
    open.length = level;
    const failed = res[2] === 'not ok' && !directive;
    if (failed && level > 0) childFailed[level - 1] = true;
    if (directive) {
      if (!isParent) cases.push({ name: path.join(' > '), status: 'skipped' });
    } else if (!failed) {
      if (!isParent) cases.push({ name: path.join(' > '), status: 'passed' });
    } else {
      const failureType = yaml.map((l) => /^failureType:\s*'?([A-Za-z]+)/.exec(l)?.[1]).find(Boolean);
      const own = failureType ? failureType !== 'subtestsFailed' : !ownChildFailed;
      if (!isParent || own) {
        const details = detailsText([
          ...pendingComments,
          ...yaml.filter((l) => !/^duration_ms:/.test(l) && !INTERNAL_FRAME.test(l)),
        ]);
        cases.push({ name: path.join(' > '), status: 'failed', details });
      }
    }
    pendingComments = [];
  }
  if (cases.length === 0 && !lines.some((l) => /^\s*1\.\.\d+/.test(l))) return undefined;
  const tap = nodeTapSummary(lines);
  const node = tap ? undefined : nodeSummary(lines, '#');
  const format = tap ? 'tap' : node ? 'node:test (TAP)' : 'TAP';
  return { formats: [format], cases, counts: tap ?? node ?? countCases(cases) };
}

const SPEC_MARK = /^(\s*)(✔|✖|﹣|▶|\*)\s(.*)$/;

function specName(rest: string): { name: string; directive?: 'skip' | 'todo' } {
  let s = rest;
  let directive: 'skip' | 'todo' | undefined;
  const d = /\s+#\s*(SKIP|TODO)\b.*$/i.exec(s);
  if (d) {
    directive = d[1]!.toUpperCase() === 'SKIP' ? 'skip' : 'todo';
    s = s.slice(0, d.index);
  }
  s = s.replace(/\s+\([\d.]+m?s\)\s*$/, '');
  return { name: s.trim(), directive };
}

/** The "✖ failing tests:" list: each failure's bare name and details, in the order they failed. */
function failingList(lines: readonly string[]): Array<{ name: string; details?: string }> {
  const start = lines.findIndex((l) => /^✖ failing tests:/.test(l));
  if (start < 0) return [];
  const out: Array<{ name: string; details?: string }> = [];
  let current: { name: string; detail: string[] } | undefined;
  const flush = () => {
    if (current) out.push({ name: current.name, details: detailsText(current.detail) });
    current = undefined;
  };
  for (const line of lines.slice(start + 1)) {
    const m = /^✖ (.*)$/.exec(line);
    if (m) {
      flush();
      current = { name: specName(m[1]!).name, detail: [] };
      continue;
    }
    if (/^test at \S+/.test(line) || /^ℹ /.test(line)) {
      flush();
      continue;
    }
    if (current && !INTERNAL_FRAME.test(line)) current.detail.push(line.replace(/^ {2}/, ''));
  }
  flush();
  return out;
}

export function parseNodeSpec(lines: string[]): ParsedTests | undefined {
  // The reporter's closing summary ("ℹ tests 5", "ℹ pass 3") is its signature.
  if (!lines.some((l) => /^ℹ tests \d+/.test(l)) || !lines.some((l) => /^ℹ (pass|fail) \d+/.test(l)))
    return undefined;
  const listed = failingList(lines);
  let next = 0; // the next entry of `listed` not yet matched: the list keeps the order of the run
  const fromList = (name: string) => {
    const entry = listed[next];
    if (entry?.name !== name) return undefined;
    next++;
    return entry;
  };
  const cases: TestCase[] = [];
  const open: string[] = [];
  let current: { c: TestCase; detail: string[]; parent: boolean } | undefined;
  const flush = () => {
    if (!current) return;
    // Some Node versions print "'1 subtest failed'" under a parent: not a failure of its own.
    const own = current.detail.filter((l) => !/^\s*'\d+ subtests? failed'\s*$/.test(l));
    const details = detailsText(current.parent ? own : current.detail);
    const entry = fromList(current.c.name.split(' > ').at(-1)!);
    // A suite's own failure shows as details under its closing line (Node 20) or as an entry of
    // the failing list (Node 24); a suite that failed only through its tests has neither.
    if (!current.parent || details || entry) {
      current.c.details = details ?? entry?.details;
      cases.push(current.c);
    }
    current = undefined;
  };
  for (const line of lines) {
    if (/^✖ failing tests:/.test(line)) break; // a repeat of the failures above
    if (/^ℹ /.test(line)) {
      flush();
      continue;
    }
    const m = SPEC_MARK.exec(line);
    if (!m) {
      if (!INTERNAL_FRAME.test(line)) current?.detail.push(line);
      continue;
    }
    flush();
    const level = Math.floor(m[1]!.length / 2);
    const { name, directive } = specName(m[3]!);
    if (m[2] === '▶') {
      if (open[level] === name && open.length === level + 1) {
        open.length = level; // a suite's closing line (Node 20: "▶ name (1ms)" when it passed)
        continue;
      }
      open.length = level;
      open[level] = name;
      continue;
    }
    if (open[level] === name && open.length === level + 1) {
      // A suite or a test with subtests closing: its leaves were counted.
      open.length = level;
      if (m[2] === '✖')
        current = { c: { name: [...open, name].join(' > '), status: 'failed' }, detail: [], parent: true };
      continue;
    }
    open.length = level;
    const full = [...open, name].join(' > ');
    if (directive || m[2] === '﹣' || m[2] === '*') cases.push({ name: full, status: 'skipped' });
    else if (m[2] === '✔') cases.push({ name: full, status: 'passed' });
    else current = { c: { name: full, status: 'failed' }, detail: [], parent: false };
  }
  flush();
  return {
    formats: ['node:test (spec)'],
    cases,
    counts: nodeSummary(lines, 'ℹ') ?? countCases(cases),
  };
}
