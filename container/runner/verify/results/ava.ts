/**
 * AVA's default reporter: one line per test ("✔ a › adds", "- [skip] a › later", "- [todo] …",
 * "✘ [fail]: a › adds <message>"), the failures' details after a "─" rule, and a closing summary
 * ("2 tests failed", "1 test skipped", "1 test todo", "1 uncaught exception"; "3 tests passed"
 * only when nothing failed, so passes are otherwise counted from their ✔ lines). A test file that
 * crashed ("Uncaught exception in test/c.js", "✘ test/c.js exited with a non-zero exit code") is
 * one failure named by the file. Tests are named as AVA prints them ("a › adds": the file, then
 * the title; no file when there is one test file).
 */
import { detailsText } from './types.ts';
import type { ParsedTests, TestCase, TestCounts } from './types.ts';

const SUMMARY =
  /^\s{2}(\d+) (tests? (?:passed|failed|skipped|todo)|known failures?|uncaught exceptions?|unhandled rejections?|tests? remained pending after a timeout)\s*$/;

export function parseAva(lines: string[]): ParsedTests | undefined {
  const summary = new Map<string, number>();
  for (const line of lines) {
    const m = SUMMARY.exec(line);
    if (!m) continue;
    const key = m[2]!.replace(/^tests? /, '').replace(/s$/, '');
    summary.set(key, (summary.get(key) ?? 0) + Number(m[1]));
  }
  if (summary.size === 0 || !lines.some((l) => /^\s{2}─\s*$/.test(l))) return undefined;
  const n = (k: string) => summary.get(k) ?? 0;

  // The headers of the failures' details: a title alone between blank lines.
  const headers = new Set<string>();
  for (let i = 1; i + 1 < lines.length; i++) {
    if (lines[i - 1]!.trim() === '' && lines[i + 1]!.trim() === '' && /^\s{2}\S/.test(lines[i]!))
      headers.add(lines[i]!.trim());
  }
  const cases: TestCase[] = [];
  const byName = new Map<string, TestCase>();
  const add = (c: TestCase) => {
    if (byName.has(c.name)) return;
    byName.set(c.name, c);
    cases.push(c);
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const pass = /^\s{2}✔ (?:\[expected fail\] )?(.*?)(?:\s+\([\d.]+m?s\))?\s*$/.exec(line);
    if (pass) {
      add({ name: pass[1]!, status: 'passed' });
      continue;
    }
    const skip = /^\s{2}- \[(?:skip|todo)\] (.*?)\s*$/.exec(line);
    if (skip) {
      add({ name: skip[1]!, status: 'skipped' });
      continue;
    }
    const crashed =
      /^\s{2}(?:✘ (\S+) exited with a non-zero exit code|Uncaught exception in (\S+)|Unhandled rejection in (\S+))/.exec(
        line,
      );
    if (crashed) {
      const name = crashed[1] ?? crashed[2] ?? crashed[3]!;
      const detail: string[] = [];
      for (let j = i + 1; j < lines.length && !/^\s{2}(✘|✔|─)/.test(lines[j]!); j++) detail.push(lines[j]!);
      const seen = byName.get(name);
      if (seen) seen.details ??= detailsText(detail);
      else add({ name, status: 'failed', details: detailsText(detail) });
      continue;
    }
    const fail = /^\s{2}✘ \[(?:fail|unexpected pass)\]: (.*?)\s*$/.exec(line);
    if (fail) {
      // "✘ [fail]: <title> <message>": the title is the longest details header it starts with.
      const rest = fail[1]!;
      const title =
        [...headers]
          .filter((h) => rest === h || rest.startsWith(`${h} `))
          .sort((a, b) => b.length - a.length)[0] ?? rest;
      add({ name: title, status: 'failed' });
    }
  }
  const titles = new Set(cases.filter((c) => c.status === 'failed').map((c) => c.name));
  for (const c of cases) if (c.status === 'failed') c.details ??= detailsFor(lines, c.name, titles);
  const listed = (s: string) => cases.filter((c) => c.status === s).length;
  const crashes = n('uncaught exception') + n('unhandled rejection');
  const counts: TestCounts = {
    passed: summary.has('passed') ? n('passed') : listed('passed'),
    failed: n('failed') + crashes + n('remained pending after a timeout'),
    skipped: n('skipped') + n('todo'),
  };
  counts.failed = Math.max(counts.failed, listed('failed'));
  return { formats: ['ava'], cases, counts };
}

/** The block after the "─" rule that starts with this title, up to the next title or rule. */
function detailsFor(
  lines: readonly string[],
  title: string,
  titles: ReadonlySet<string>,
): string | undefined {
  const rule = lines.findIndex((l) => /^\s{2}─\s*$/.test(l));
  if (rule < 0) return undefined;
  const start = lines.findIndex(
    (l, i) => i > rule && l.trim() === title && (lines[i - 1] ?? '').trim() === '',
  );
  if (start < 0) return undefined;
  const out: string[] = [];
  for (let i = start + 1; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^\s{2}─\s*$/.test(l)) break;
    if (titles.has(l.trim()) && (lines[i - 1] ?? '').trim() === '') break; // the next failure's
    out.push(l.replace(/^ {2}/, ''));
  }
  return detailsText(out);
}
