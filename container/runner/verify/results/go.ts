/**
 * `go test`: the JSON events of `go test -json` (test2json's TestEvent lines, and from Go 1.24 the
 * "build-output"/"build-fail" events), and the text of `go test -v` and of plain `go test`, which
 * prints only the failing tests. Compiler and vet errors that an older Go writes as text beside
 * the JSON ("# pkg" and the messages) are read in both modes.
 *
 * Counts: go prints no count of its own. Every test and subtest that go reports a result for
 * counts, as `go test -json` reports them (one pass/fail/skip event each; the figure gotestsum
 * prints as "DONE N tests") and as `-v` prints them (one "--- PASS/FAIL/SKIP" line each). Names:
 * "<pkg>.TestX", subtests "<pkg>.TestX/case"; a parent test is named only when it failed on its
 * own (no subtest failed), since the failing subtests say what broke. A package that does not build
 * is one failure, "<pkg> [build failed]" ("[setup failed]" when go could not even load it); a
 * package that failed with no failing test (a panic outside a test, a timeout, os.Exit) is
 * "<pkg> [package failed]".
 */
import { detailsText, indentOf } from './types.ts';
import type { ParsedTests, TestCase, TestCounts, TestStatus } from './types.ts';

const RESULT = /^(\s*)--- (PASS|FAIL|SKIP): (\S+) \([\d.]+s\)/;
/** "ok  \tpkg\t0.01s", "FAIL\tpkg\t0.01s", "ok  \tpkg\t(cached)", "FAIL\tpkg [build failed]". */
const PACKAGE_LINE =
  /^(ok|FAIL)\s+(\S+)(?:\s+(?:[\d.]+s|\(cached\))(?:\s.*)?|\s+\[(build failed|setup failed)\]\s*)$/;
/** "# pkg" or "# pkg [pkg.test]": the compiler's or vet's messages about a package follow. */
const BUILD_HEADER = /^# (\S+)(?: \[\S+\])?\s*$/;
/** Lines go prints around a test's own output: not part of what the test said. */
const FRAMING = /^\s*(=== (RUN|PAUSE|CONT|NAME)\s|--- (PASS|FAIL|SKIP): |(PASS|FAIL)\s*$)/;

const STATUS: Record<string, TestStatus> = {
  PASS: 'passed',
  pass: 'passed',
  FAIL: 'failed',
  fail: 'failed',
  SKIP: 'skipped',
  skip: 'skipped',
};

interface GoResult {
  pkg: string | undefined;
  test: string;
  status: TestStatus;
  details?: string;
}

/** Build failures: the "[build failed]" lines and the compiler output they are about. */
class BuildFailures {
  private readonly blocks: Array<{ pkg: string; lines: string[]; used: boolean }> = [];
  private readonly failed: Array<{ pkg: string; kind: string; importPath?: string }> = [];

  block(pkg: string): string[] {
    const b = { pkg, lines: [] as string[], used: false };
    this.blocks.push(b);
    return b.lines;
  }

  fail(pkg: string, kind: string, importPath?: string): void {
    if (!this.failed.some((f) => f.pkg === pkg)) this.failed.push({ pkg, kind, importPath });
  }

  isFailed(pkg: string): boolean {
    return this.failed.some((f) => f.pkg === pkg);
  }

  cases(): TestCase[] {
    const out: TestCase[] = [];
    const take = (pkg: string | undefined) => {
      const b = this.blocks.find((x) => !x.used && x.pkg === pkg);
      if (b) b.used = true;
      return b;
    };
    for (const f of this.failed) {
      // A package that fails because a package it imports does not build: the messages are about
      // that other package (named by FailedBuild in Go 1.24's JSON, unnamed in the text).
      const b = take(f.pkg) ?? take(f.importPath) ?? this.blocks.find((x) => !x.used);
      if (b) b.used = true;
      out.push({ name: `${f.pkg} [${f.kind}]`, status: 'failed', details: detailsText(b?.lines ?? []) });
    }
    // Messages with no "[build failed]" line: go prints none for a package without test files.
    for (const b of this.blocks) {
      if (b.used || this.isFailed(b.pkg)) continue;
      b.used = true;
      out.push({ name: `${b.pkg} [build failed]`, status: 'failed', details: detailsText(b.lines) });
    }
    return out;
  }
}

/** Reads "# pkg" blocks out of text lines (all of them in text mode, those beside the JSON otherwise). */
function readBuildBlocks(lines: readonly string[], builds: BuildFailures): void {
  let block: string[] | undefined;
  for (const line of lines) {
    const head = BUILD_HEADER.exec(line);
    if (head) {
      block = builds.block(head[1]!);
      continue;
    }
    if (!block) continue;
    if (line.trim() === '' || line.startsWith('{') || FRAMING.test(line) || /^(ok|FAIL|\?)\s/.test(line)) {
      block = undefined;
      continue;
    }
    if (block.length < 50) block.push(line);
  }
}

/** Counts every result; names leaves, and parents that failed with no failing subtest. */
function finish(results: GoResult[], extra: TestCase[], format: string): ParsedTests {
  const counts: TestCounts = { passed: 0, failed: 0, skipped: 0 };
  const cases: TestCase[] = [];
  // Every ancestor of a result ("TestA" and "TestA/b" for "TestA/b/c"): whether a descendant failed.
  const parents = new Map<string, boolean>();
  for (const r of results) {
    const parts = r.test.split('/');
    for (let i = 1; i < parts.length; i++) {
      const k = `${r.pkg ?? ''}\u0000${parts.slice(0, i).join('/')}`;
      parents.set(k, parents.get(k) === true || r.status === 'failed');
    }
  }
  for (const r of results) {
    counts[r.status]++;
    const descendantFailed = parents.get(`${r.pkg ?? ''}\u0000${r.test}`);
    if (descendantFailed !== undefined && (r.status !== 'failed' || descendantFailed)) continue;
    const name = r.pkg ? `${r.pkg}.${r.test}` : r.test;
    cases.push(r.details ? { name, status: r.status, details: r.details } : { name, status: r.status });
  }
  for (const c of extra) {
    counts.failed++;
    cases.push(c);
  }
  return { formats: [format], cases, counts };
}

interface GoEvent {
  Action: string;
  Package?: string;
  Test?: string;
  Output?: string;
  ImportPath?: string;
  FailedBuild?: string;
}

function jsonEvent(line: string): GoEvent | undefined {
  if (!line.startsWith('{') || !line.includes('"Action"')) return undefined;
  try {
    const v: unknown = JSON.parse(line);
    if (v === null || typeof v !== 'object' || typeof (v as { Action?: unknown }).Action !== 'string')
      return undefined;
    return v as GoEvent;
  } catch {
    return undefined; // a line cut short, or not go's
  }
}

function parseGoJson(lines: readonly string[], events: Array<GoEvent | undefined>): ParsedTests {
  const builds = new BuildFailures();
  readBuildBlocks(
    lines.filter((_, i) => events[i] === undefined),
    builds,
  );
  const results: GoResult[] = [];
  const testOutput = new Map<string, string[]>();
  const packageOutput = new Map<string, string[]>();
  const buildOutput = new Map<string, string[]>();
  const failedPackages: Array<{ pkg: string; failedBuild?: string }> = [];
  const key = (pkg: string, test: string) => `${pkg}\u0000${test}`;
  for (const e of events) {
    if (!e) continue;
    if (e.ImportPath !== undefined && (e.Action === 'build-output' || e.Action === 'build-fail')) {
      const out = buildOutput.get(e.ImportPath) ?? [];
      buildOutput.set(e.ImportPath, out);
      if (e.Action === 'build-output' && e.Output) out.push(e.Output.replace(/\n$/, ''));
      continue;
    }
    const pkg = e.Package ?? '';
    if (e.Action === 'output' && e.Output !== undefined) {
      const text = e.Output.replace(/\n$/, '');
      const map = e.Test ? testOutput : packageOutput;
      const k = e.Test ? key(pkg, e.Test) : pkg;
      const out = map.get(k) ?? [];
      map.set(k, out);
      out.push(text);
      continue;
    }
    const status = STATUS[e.Action];
    if (!status) continue; // run, pause, cont, start, bench
    if (e.Test) {
      const r: GoResult = { pkg, test: e.Test, status };
      if (status === 'failed')
        r.details = detailsText((testOutput.get(key(pkg, e.Test)) ?? []).filter((l) => !FRAMING.test(l)));
      results.push(r);
    } else if (status === 'failed') {
      failedPackages.push({ pkg, failedBuild: e.FailedBuild });
    }
  }
  const extra: TestCase[] = [];
  for (const { pkg, failedBuild } of failedPackages) {
    const out = packageOutput.get(pkg) ?? [];
    const kind = out.map((l) => /\[(build failed|setup failed)\]/.exec(l)?.[1]).find(Boolean);
    if (kind || failedBuild) {
      const built = failedBuild !== undefined ? buildOutput.get(failedBuild) : undefined;
      if (built) {
        const lines = builds.block(failedBuild!);
        lines.push(...built);
      }
      builds.fail(pkg, kind ?? 'build failed', failedBuild);
      continue;
    }
    if (results.some((r) => r.pkg === pkg && r.status === 'failed')) continue;
    const said = out.filter((l) => !FRAMING.test(l) && !/^FAIL\s+\S+\s+[\d.]+s/.test(l));
    extra.push({ name: `${pkg} [package failed]`, status: 'failed', details: detailsText(said.slice(-40)) });
  }
  // Build output no package's failure claimed (a package without test files).
  for (const [importPath, out] of buildOutput) {
    if (failedPackages.some((f) => f.failedBuild === importPath)) continue;
    const lines = builds.block(importPath.replace(/ \[.*\]$/, ''));
    lines.push(...out);
  }
  return finish(results, [...builds.cases(), ...extra], 'go test -json');
}

function parseGoText(lines: readonly string[]): ParsedTests {
  const builds = new BuildFailures();
  readBuildBlocks(lines, builds);
  const results: GoResult[] = [];
  const extra: TestCase[] = [];
  let pending: GoResult[] = [];
  let loose: string[] = [];
  const runOutput = new Map<string, string[]>();
  let running: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const run = /^=== (RUN|CONT|PAUSE|NAME)\s+(\S+)/.exec(line);
    if (run) {
      running = run[1] === 'PAUSE' ? undefined : run[2];
      if (running && !runOutput.has(running)) runOutput.set(running, []);
      continue;
    }
    const res = RESULT.exec(line);
    if (res) {
      running = undefined;
      const r: GoResult = { pkg: undefined, test: res[3]!, status: STATUS[res[2]!]! };
      if (r.status === 'failed') {
        // Without -v the test's log lines follow its result line, indented deeper.
        const after: string[] = [];
        const indent = indentOf(line);
        let j = i + 1;
        for (; j < lines.length; j++) {
          const next = lines[j]!;
          if (indentOf(next) <= indent || RESULT.test(next)) break;
          after.push(next.trim());
        }
        // A test that panicked: the panic and the first frames follow, not indented.
        if (/^panic: /.test(lines[j] ?? '')) {
          for (let k = j; k < Math.min(lines.length, j + 12) && !PACKAGE_LINE.test(lines[k]!); k++)
            after.push(lines[k]!.trim());
        }
        r.details = detailsText([...(runOutput.get(r.test) ?? []).map((l) => l.trim()), ...after]);
      }
      pending.push(r);
      continue;
    }
    const pkg = PACKAGE_LINE.exec(line);
    if (pkg) {
      const name = pkg[2]!;
      if (pkg[3]) builds.fail(name, pkg[3]);
      else if (pkg[1] === 'FAIL' && !pending.some((r) => r.status === 'failed')) {
        // The package failed, no test did: a panic outside a test, a timeout, os.Exit.
        const said = loose.filter((l) => l.trim() !== '' && !FRAMING.test(l) && !BUILD_HEADER.test(l));
        extra.push({
          name: `${name} [package failed]`,
          status: 'failed',
          details: detailsText(said.slice(-40)),
        });
      }
      for (const r of pending) results.push({ ...r, pkg: name });
      pending = [];
      loose = [];
      continue;
    }
    if (running && /^\s+\S/.test(line)) runOutput.get(running)?.push(line);
    else loose.push(line);
  }
  // Results not followed by a package line (the output was cut).
  results.push(...pending);
  return finish(results, [...builds.cases(), ...extra], 'go test');
}

export function parseGoTest(lines: string[]): ParsedTests | undefined {
  const events = lines.map(jsonEvent);
  if (events.some((e) => e !== undefined && (e.Package !== undefined || e.ImportPath !== undefined)))
    return parseGoJson(lines, events);
  // "?   \tpkg\t[no test files]" alone is go's output too: a run with no test, which counts 0.
  if (!lines.some((l) => RESULT.test(l) || PACKAGE_LINE.test(l) || /^\?\s+\S+\s+\[no test files\]/.test(l)))
    return undefined;
  return parseGoText(lines);
}
