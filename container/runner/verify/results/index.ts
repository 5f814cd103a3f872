/**
 * Per-test results from a test command's output, whatever ran it (npm, make, a script): every
 * parser whose format appears in the output contributes (TAP, node:test spec, Jest, Vitest,
 * mocha, uvu, AVA, pytest, unittest, go test, cargo test). When none does, the whole command
 * counts as one test.
 */
import { parseAva } from './ava.ts';
import { parseCargoTest } from './cargo.ts';
import { parseGoTest } from './go.ts';
import { parseJest, parseVitest } from './jest-vitest.ts';
import { parseMochaJson, parseMochaSpec } from './mocha.ts';
import { parseNodeSpec, parseNodeTap } from './node.ts';
import { parsePytest } from './pytest.ts';
import { parseUnittest } from './unittest.ts';
import { parseUvu } from './uvu.ts';
import { countCases } from './types.ts';
import type { ParsedTests, TestCase, TestCounts, TestOutputParser } from './types.ts';

export type { ParsedTests, TestCase, TestCounts, TestStatus } from './types.ts';
export {
  parseAva,
  parseCargoTest,
  parseGoTest,
  parseJest,
  parseMochaJson,
  parseMochaSpec,
  parseNodeSpec,
  parseNodeTap,
  parsePytest,
  parseUnittest,
  parseUvu,
  parseVitest,
};

export const PARSERS: ReadonlyArray<TestOutputParser> = [
  parseNodeTap,
  parseNodeSpec,
  parseJest,
  parseVitest,
  parseMochaSpec,
  parseMochaJson,
  parseUvu,
  parseAva,
  parsePytest,
  parseUnittest,
  parseGoTest,
  parseCargoTest,
];

// eslint-disable-next-line no-control-regex -- ANSI escape sequences are control characters
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07/g;

/** The output as lines: colours removed, carriage-return progress lines reduced to what stayed. */
export function outputLines(output: string): string[] {
  return output
    .replace(ANSI, '')
    .split('\n')
    .map((l) => {
      const line = l.endsWith('\r') ? l.slice(0, -1) : l;
      const cr = line.lastIndexOf('\r');
      return cr >= 0 ? line.slice(cr + 1) : line;
    });
}

export interface ParseOptions {
  /** The folder the command ran in: absolute paths inside it become relative in test names. */
  cwd?: string;
}

export function parseTestOutput(output: string, opts: ParseOptions = {}): ParsedTests | undefined {
  let text = output;
  if (opts.cwd) {
    const root = opts.cwd.endsWith('/') ? opts.cwd : `${opts.cwd}/`;
    text = text.split(`file://${root}`).join('').split(root).join('');
  }
  const lines = outputLines(text);
  const parts = PARSERS.map((p) => p(lines)).filter((p): p is ParsedTests => p !== undefined);
  if (parts.length === 0) return undefined;
  if (parts.length === 1) return parts[0];
  const cases: TestCase[] = [];
  const seen = new Set<string>();
  for (const c of parts.flatMap((p) => p.cases)) {
    if (seen.has(c.name)) continue;
    seen.add(c.name);
    cases.push(c);
  }
  const counts: TestCounts = { passed: 0, failed: 0, skipped: 0 };
  for (const p of parts) {
    counts.passed += p.counts.passed;
    counts.failed += p.counts.failed;
    counts.skipped += p.counts.skipped;
  }
  return { formats: parts.flatMap((p) => p.formats), cases, counts };
}

export { countCases };
