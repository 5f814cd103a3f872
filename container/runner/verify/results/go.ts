/**
 * `go test` output, with or without -v: "--- FAIL: TestX (0.00s)" lines, then the package's
 * "FAIL\t<pkg>\t0.01s" / "ok  \t<pkg>" line. Tests are named "<pkg>.TestX" (subtests
 * "<pkg>.TestX/case"); a parent that failed only through its subtests is not counted again. A
 * package that does not build is one failure, "<pkg> [build failed]".
 */
import { countCases, detailsText, indentOf } from './types.ts';
import type { ParsedTests, TestCase, TestStatus } from './types.ts';

const RESULT = /^(\s*)--- (PASS|FAIL|SKIP): (\S+) \([\d.]+s\)/;
const PACKAGE = /^(ok|FAIL|---? FAIL)\s+(\S+)(?:\s+(?:[\d.]+s|\(cached\)|\[[^\]]+\]).*)?$/;

export function parseGoTest(lines: string[]): ParsedTests | undefined {
  if (!lines.some((l) => RESULT.test(l) || /^(ok|FAIL)\s+\S+\s+([\d.]+s|\(cached\)|\[)/.test(l)))
    return undefined;
  const cases: TestCase[] = [];
  let pending: TestCase[] = [];
  const runOutput = new Map<string, string[]>();
  let running: string | undefined;
  let buildOutput: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const run = /^=== (RUN|CONT|PAUSE|NAME)\s+(\S+)/.exec(line);
    if (run) {
      running = run[1] === 'RUN' || run[1] === 'CONT' ? run[2] : undefined;
      if (running && !runOutput.has(running)) runOutput.set(running, []);
      continue;
    }
    const res = RESULT.exec(line);
    if (res) {
      running = undefined;
      const status: TestStatus = res[2] === 'PASS' ? 'passed' : res[2] === 'FAIL' ? 'failed' : 'skipped';
      const c: TestCase = { name: res[3]!, status };
      if (status === 'failed') {
        // Without -v the test's log lines follow its result line, indented deeper.
        const after: string[] = [];
        const indent = indentOf(line);
        for (let j = i + 1; j < lines.length; j++) {
          const next = lines[j]!;
          if (indentOf(next) <= indent || RESULT.test(next)) break;
          after.push(next.trim());
        }
        c.details = detailsText([...(runOutput.get(c.name) ?? []).map((l) => l.trim()), ...after]);
      }
      pending.push(c);
      continue;
    }
    const pkg = PACKAGE.exec(line);
    if (pkg && (line.startsWith('ok') || line.startsWith('FAIL'))) {
      const name = pkg[2]!;
      if (/\[build failed\]|\[setup failed\]/.test(line)) {
        cases.push({ name: `${name} [build failed]`, status: 'failed', details: detailsText(buildOutput) });
      }
      buildOutput = [];
      for (const c of pending) cases.push({ ...c, name: `${name}.${c.name}` });
      pending = [];
      continue;
    }
    if (running && /^\s+\S/.test(line)) runOutput.get(running)?.push(line);
    // A package that does not compile: "# pkg [pkg.test]" and the compiler's messages.
    if (/^# \S+/.test(line)) buildOutput = [line];
    else if (buildOutput.length > 0 && buildOutput.length < 50) buildOutput.push(line);
  }
  // Results not followed by a package line (output cut, or a single package run in its folder).
  cases.push(...pending);
  // A parent test whose subtests failed fails too: count the subtests only.
  const failedNames = new Set(cases.filter((c) => c.status === 'failed').map((c) => c.name));
  const leaves = cases.filter(
    (c) =>
      !(c.status === 'failed' && [...failedNames].some((n) => n.startsWith(`${c.name}/`))) &&
      !(c.status === 'passed' && cases.some((o) => o.name.startsWith(`${c.name}/`))),
  );
  return { formats: ['go test'], cases: leaves, counts: countCases(leaves) };
}
