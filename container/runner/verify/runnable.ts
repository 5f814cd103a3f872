/**
 * Whether a test run shows that the project's tests can run at all. A run that installed
 * nothing, collected nothing, imported nothing or passed nothing says nothing about a change:
 * its failures are not "pre-existing", and a change tested by it is not verified.
 */
import type { TestRunSummary } from './classify.ts';

export interface Runnability {
  runnable: boolean;
  /** Why they cannot run (set when not runnable): one line, the first errors named. */
  why?: string;
  /** Problems beside passing tests (test modules that could not be collected, for one). */
  warnings: string[];
}

/** A line that says a test module or the test runner itself could not be loaded. */
const LOAD_ERRORS: ReadonlyArray<{ re: RegExp; what: (m: RegExpMatchArray) => string }> = [
  // pytest
  { re: /ERROR collecting (\S+)/, what: (m) => `${m[1]} could not be collected` },
  { re: /ImportError while importing test module '([^']+)'/, what: (m) => `${m[1]} could not be imported` },
  {
    re: /error: unrecognized arguments: ([^\n]+)/,
    what: (m) => `the test runner refused its arguments: ${m[1]!.trim()}`,
  },
  { re: /^no tests ran in [\d.]+s/m, what: () => 'no test was collected' },
  // unittest
  { re: /ImportError: Failed to import test module: (\S+)/, what: (m) => `${m[1]} could not be imported` },
  // Python, whoever prints it
  { re: /ModuleNotFoundError: No module named '([^']+)'/, what: (m) => `no module named '${m[1]}'` },
  { re: /\/bin\/python3?: No module named (\S+)/, what: (m) => `no module named '${m[1]}'` },
  // Jest
  { re: /Test suite failed to run/, what: () => 'a test suite failed to run' },
  // Node (node --test, mocha, vitest, jest)
  { re: /Cannot find (?:module|package) '([^'\n]+)'/, what: (m) => `cannot find module '${m[1]}'` },
  { re: /Failed to load url (\S+)/, what: (m) => `failed to load ${m[1]}` },
  // Go
  { re: /^(?:FAIL\s+)?(\S+)\s+\[(setup|build) failed\]/m, what: (m) => `${m[1]}: ${m[2]} failed` },
  { re: /no required module provides package (\S+)/, what: (m) => `no module provides package ${m[1]}` },
  // Rust
  { re: /error: could not compile `([^`]+)`/, what: (m) => `${m[1]} could not compile` },
  // The runner itself is not there
  {
    re: /(?:^|\n)(?:\/bin\/)?(?:sh|bash|zsh)(?:: line \d+)?:\s*(?:\d+:\s*)?(\S+): (?:command )?not found/,
    what: (m) => `${m[1]}: command not found`,
  },
  { re: /npm (?:ERR!|error) Missing script: "?([^"\s]+)"?/, what: (m) => `npm has no "${m[1]}" script` },
];

/** The load errors in a test run's output, first ones first, each named once (at most `max`). */
export function loadErrors(output: string, max = 5): string[] {
  const found: Array<{ at: number; text: string }> = [];
  for (const { re, what } of LOAD_ERRORS) {
    const global = new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g');
    for (const m of output.matchAll(global)) found.push({ at: m.index ?? 0, text: what(m) });
  }
  const seen = new Set<string>();
  const out: string[] = [];
  for (const f of found.sort((a, b) => a.at - b.at)) {
    if (seen.has(f.text)) continue;
    seen.add(f.text);
    out.push(f.text);
    if (out.length >= max) break;
  }
  return out;
}

export interface RunContext {
  /** The install step failed before the tests: its command and exit code. */
  setupFailed?: { command: string; exitCode: number | null };
  /** The test timeout, seconds (for the message). */
  timeoutSeconds?: number;
  /**
   * The baseline's rule (default): no test passed means they cannot run. After a change, tests
   * that ran and failed are the change's failures: only nothing run, or nothing passed beside load
   * errors, is "cannot run" then.
   */
  strict?: boolean;
  /** The repository: paths below it are named relative to it. */
  cwd?: string;
}

export function judgeRunnability(s: TestRunSummary, ctx: RunContext = {}): Runnability {
  const output = ctx.cwd ? s.output.split(ctx.cwd.replace(/\/+$/, '') + '/').join('') : s.output;
  const errors = loadErrors(output);
  const named = errors.length ? `: ${errors.join('; ')}` : '';
  if (ctx.setupFailed) {
    const said = failureLine(output);
    return {
      runnable: false,
      why:
        `the install step \`${shortCommand(ctx.setupFailed.command)}\` failed (exit ${ctx.setupFailed.exitCode ?? 'none'})` +
        (named || (said ? `: ${said}` : '')),
      warnings: [],
    };
  }
  if (s.timedOut && ctx.strict !== false) {
    return {
      runnable: false,
      why: `\`${s.command}\` did not finish within limits.test_timeout${ctx.timeoutSeconds ? ` (${ctx.timeoutSeconds} s)` : ''}`,
      warnings: [],
    };
  }
  if (!s.perTest) {
    // The whole command is the one test: a success is a run (its count unknown), a failure with
    // no result read is a run that never got to its tests.
    if (s.passed || (ctx.strict === false && errors.length === 0)) return { runnable: true, warnings: [] };
    return {
      runnable: false,
      why: `\`${s.command}\` failed (exit ${s.exitCode ?? 'none'}) and reported no test${named || `: ${lastLine(output)}`}`,
      warnings: [],
    };
  }
  const ran = s.counts.failed + s.counts.skipped;
  if (s.counts.passed === 0 && (ctx.strict !== false || ran === 0 || errors.length > 0)) {
    return {
      runnable: false,
      why:
        (ran === 0
          ? `\`${s.command}\` ran no test`
          : `no test passed (${s.counts.failed} failed, ${s.counts.skipped} skipped)`) + named,
      warnings: [],
    };
  }
  return { runnable: true, warnings: errors };
}

/** A command as a log names it: its first line (a script's leading comment), cut at 100 characters. */
export function shortCommand(command: string): string {
  const first =
    command
      .split('\n')
      .map((l) => l.trim().replace(/^#\s*/, ''))
      .find(Boolean) ?? command;
  const one = first.length > 100 ? `${first.slice(0, 99)}…` : first;
  return command.includes('\n') && one === first ? `${one} …` : one;
}

/** The line of a failed step's output that says why: the last FAILED/ERROR line, else its last line. */
function failureLine(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^setup command failed:/.test(l));
  const why = [...lines].reverse().find((l) => /\b(FAILED|ERROR|error|not found|No such)\b/.test(l));
  return (why ?? lines.at(-1) ?? '').slice(0, 200);
}

function lastLine(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines.at(-1) ?? 'no output').slice(0, 200);
}
