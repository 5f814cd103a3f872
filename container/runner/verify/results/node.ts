/**
 * node:test output: TAP (Node 20's default when the output is not a terminal) and the spec
 * reporter (the default on a terminal, and everywhere from Node 23). Tests are named by their path
 * of suites and subtests ("group > inner"); only leaves count, a parent that failed only because
 * a subtest did is not counted again (a hook that failed is).
 */
import { countCases, detailsText, indentOf } from './types.ts';
import type { ParsedTests, TestCase } from './types.ts';

/** Stack frames inside Node itself: noise in a failure's details. */
const INTERNAL_FRAME = /(?:^|\(|\s)node:(?:internal\/|async_hooks)/;

const TAP_RESULT = /^(\s*)(not ok|ok)\s+\d+(?:\s+-)?\s*(.*)$/;
const TAP_SUBTEST = /^(\s*)# Subtest: (.*)$/;

/** Splits "name # SKIP reason" into the name and the directive. */
function tapDirective(rest: string): { name: string; directive?: 'skip' | 'todo' } {
  const m = /^(.*?)\s+#\s*(SKIP|TODO)\b.*$/i.exec(rest);
  if (!m) return { name: rest.trim() };
  return { name: m[1]!.trim(), directive: m[2]!.toUpperCase() === 'SKIP' ? 'skip' : 'todo' };
}

export function parseNodeTap(lines: string[]): ParsedTests | undefined {
  if (!lines.some((l) => /^TAP version \d+/.test(l))) return undefined;
  const cases: TestCase[] = [];
  const open: string[] = [];
  const hadChildren: boolean[] = [];
  let pendingComments: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const sub = TAP_SUBTEST.exec(line);
    if (sub) {
      const level = Math.floor(sub[1]!.length / 4);
      open.length = level;
      open[level] = sub[2]!.trim();
      hadChildren[level] = false;
      continue;
    }
    const res = TAP_RESULT.exec(line);
    if (!res) {
      const comment = /^\s*# (.*)$/.exec(line);
      if (comment && !/^\s*# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) [\d.]+$/.test(line))
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
    hadChildren[level] = false;
    const path = [...open.slice(0, level), name];
    open.length = level;
    const failed = res[2] === 'not ok';
    if (directive) {
      if (!isParent) cases.push({ name: path.join(' > '), status: 'skipped' });
    } else if (!failed) {
      if (!isParent) cases.push({ name: path.join(' > '), status: 'passed' });
    } else {
      const failureType = yaml.map((l) => /^failureType:\s*'?([A-Za-z]+)/.exec(l)?.[1]).find(Boolean);
      if (!isParent || failureType !== 'subtestsFailed') {
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
  return { formats: ['node:test (TAP)'], cases, counts: countCases(cases) };
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

export function parseNodeSpec(lines: string[]): ParsedTests | undefined {
  // The reporter's closing summary ("ℹ tests 5", "ℹ pass 3") is its signature.
  if (!lines.some((l) => /^ℹ tests \d+/.test(l)) || !lines.some((l) => /^ℹ (pass|fail) \d+/.test(l)))
    return undefined;
  const cases: TestCase[] = [];
  const open: string[] = [];
  let current: { c: TestCase; detail: string[] } | undefined;
  const flush = () => {
    if (current) current.c.details = detailsText(current.detail);
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
      open.length = level; // a suite or a test with subtests closing: its leaves were counted
      continue;
    }
    open.length = level;
    const full = [...open, name].join(' > ');
    if (directive || m[2] === '﹣' || m[2] === '*') cases.push({ name: full, status: 'skipped' });
    else if (m[2] === '✔') cases.push({ name: full, status: 'passed' });
    else {
      const c: TestCase = { name: full, status: 'failed' };
      cases.push(c);
      current = { c, detail: [] };
    }
  }
  flush();
  return { formats: ['node:test (spec)'], cases, counts: countCases(cases) };
}
