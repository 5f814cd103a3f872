/**
 * pytest: `-q` (failures named in the "short test summary info", passes only counted), `-rA`
 * (every outcome named), `-v` ("path::test PASSED [ 50%]"). Tests are named by their node id
 * ("tests/test_a.py::TestGroup::test_x"); a module that fails to import is named by its path.
 */
import { detailsText } from './types.ts';
import type { ParsedTests, TestCase, TestCounts, TestStatus } from './types.ts';

const FINAL_LINE =
  /^=*\s*((?:\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?|rerun)(?:, )?)+|no tests ran)\b.* in [\d.]+s(?: \([\d:]+\))?\s*=*\s*$/;

const OUTCOME: Record<string, TestStatus> = {
  PASSED: 'passed',
  XPASS: 'passed',
  FAILED: 'failed',
  ERROR: 'failed',
  SKIPPED: 'skipped',
  XFAIL: 'skipped',
};

function finalCounts(line: string): TestCounts {
  const n = (w: string) => {
    const m = new RegExp(`(\\d+) ${w}\\b`).exec(line);
    return m ? Number(m[1]) : 0;
  };
  return {
    passed: n('passed') + n('xpassed'),
    failed: n('failed') + n('errors?'),
    skipped: n('skipped') + n('xfailed'),
  };
}

/** The node id a "____ title ____" section is about. */
function sectionMatches(title: string, nodeId: string): boolean {
  const t = title.replace(/^ERROR (?:collecting|at (?:setup|teardown) of) /, '').trim();
  if (t === nodeId) return true;
  return nodeId.endsWith(`::${t.split('.').join('::')}`);
}

export function parsePytest(lines: string[]): ParsedTests | undefined {
  const finalLine = [...lines].reverse().find((l) => FINAL_LINE.test(l));
  if (!finalLine) return undefined;
  const byName = new Map<string, TestCase>();
  const record = (name: string, status: TestStatus) => {
    const seen = byName.get(name);
    if (!seen || status === 'failed') byName.set(name, { name, status });
  };
  const sections: Array<{ title: string; lines: string[] }> = [];
  let section: { title: string; lines: string[] } | undefined;
  for (const line of lines) {
    const summary = /^(PASSED|FAILED|ERROR|XPASS|XFAIL|SKIPPED) ((?!\[)\S+)(?: - .*)?$/.exec(line);
    if (summary) {
      record(summary[2]!, OUTCOME[summary[1]!]!);
      section = undefined;
      continue;
    }
    const verbose = /^(\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b/.exec(line);
    if (verbose) {
      record(verbose[1]!, OUTCOME[verbose[2]!]!);
      continue;
    }
    const title = /^_{3,} (.+?) _{3,}$/.exec(line);
    if (title) {
      section = { title: title[1]!, lines: [] };
      sections.push(section);
      continue;
    }
    if (/^={3,}/.test(line)) {
      section = undefined;
      continue;
    }
    section?.lines.push(line);
  }
  const cases = [...byName.values()];
  for (const c of cases) {
    if (c.status !== 'failed') continue;
    const s = sections.find((x) => sectionMatches(x.title, c.name));
    if (s) c.details = detailsText(s.lines);
  }
  const counts = finalCounts(finalLine);
  const named = cases.filter((c) => c.status === 'failed').length;
  counts.failed = Math.max(counts.failed, named);
  return { formats: ['pytest'], cases, counts };
}
