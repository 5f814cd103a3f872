/**
 * pytest: `-q` (failures named in the "short test summary info", passes only counted), `-rA`
 * (every outcome named), `-v` ("path::test PASSED [ 50%]", with pytest-xdist "[gw0] [ 50%] PASSED
 * path::test"). Tests are named by their node id ("tests/test_a.py::TestGroup::test_x"); a module
 * that fails to import is named by its path ("ERROR tests/test_err.py"), and counts as failed, as
 * pytest's "N errors" does: a run where every module fails to import has passed 0.
 *
 * Counts are pytest's own, from its closing line ("3 failed, 4 passed, 1 skipped, 1 xfailed,
 * 1 xpassed, 2 errors in 0.61s"), every session's added up (a command that runs pytest twice):
 * failed = failed + errors, skipped = skipped + xfailed, passed = passed + xpassed.
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
  const finalLines = lines.filter((l) => FINAL_LINE.test(l));
  if (finalLines.length === 0) return undefined;
  const byName = new Map<string, TestCase>();
  const record = (name: string, status: TestStatus) => {
    const seen = byName.get(name);
    if (!seen || status === 'failed') byName.set(name, { name, status });
  };
  const sections: Array<{ title: string; lines: string[] }> = [];
  let section: { title: string; lines: string[] } | undefined;
  for (const line of lines) {
    // "FAILED path::test[a b] - message": the id up to its parameters, which may hold spaces.
    const summary =
      /^(PASSED|FAILED|ERROR|XPASS|XFAIL|SKIPPED) ((?!\[)[^\s[]+(?:\[[^\]]*\])?)(?: - .*)?\s*$/.exec(line);
    if (summary) {
      record(summary[2]!, OUTCOME[summary[1]!]!);
      section = undefined;
      continue;
    }
    // "path::test[a b] PASSED  [ 50%]"; the id may hold spaces (parametrize ids).
    const verbose =
      /^(\S+::.+?) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b(?: \(.*\))?\s*(?:\[\s*\d+%\])?\s*$/.exec(line);
    if (verbose) {
      record(verbose[1]!, OUTCOME[verbose[2]!]!);
      continue;
    }
    // pytest-xdist: "[gw0] [ 50%] PASSED path::test".
    const xdist = /^\[gw\d+\] \[\s*\d+%\] (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+::.+?)\s*$/.exec(
      line,
    );
    if (xdist) {
      record(xdist[2]!, OUTCOME[xdist[1]!]!);
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
  const counts: TestCounts = { passed: 0, failed: 0, skipped: 0 };
  for (const f of finalLines) {
    const c = finalCounts(f);
    counts.passed += c.passed;
    counts.failed += c.failed;
    counts.skipped += c.skipped;
  }
  const named = cases.filter((c) => c.status === 'failed').length;
  counts.failed = Math.max(counts.failed, named);
  return { formats: ['pytest'], cases, counts };
}
