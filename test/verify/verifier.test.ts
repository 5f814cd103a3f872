/**
 * The Verifier on a real local repository (native git, node --test): the note run_tests adds for
 * pre-existing failures, the lint gate as a repair request, secrets in block and report modes,
 * the dangerous-pattern switch, test edits flagged, a repository without tests, the saved report.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAvatarError } from '../../core/errors.ts';
import { createNativeGit } from '../../container/runner/git/index.ts';
import { detectTestCommand } from '../../container/runner/testing/detect.ts';
import type { VerificationReport } from '../../container/runner/verify/report.ts';
import { Verifier, type VerifyConfig } from '../../container/runner/verify/verifier.ts';

const run = promisify(execFile);
const TOKEN = ['gl', 'pat-', 'Zx8Qr2Lk5Mn9Wb3Vt7Yc'].join('');

const CONFIG: VerifyConfig = {
  setup: { commands: [], timeout: 60 },
  gates: { lint: true, secrets: 'block', test_edits: 'revert', dangerous: 'report' },
  tests: { flaky_reruns: 1 },
  limits: { test_timeout: 60, command_timeout: 60 },
  verify: { allow_unverified: false },
};

const FAKE_ESLINT = `#!/bin/sh
status=0
for f in "$@"; do
  if grep -q BAD "$f"; then echo "$PWD/$f"; echo "  2:1  error  'BAD' is not defined  no-undef"; echo; status=1; fi
done
exit $status
`;

let dir: string;
let lines: string[];
let saved: VerificationReport[];

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'numa-verifier-'));
  lines = [];
  saved = [];
  const files: Record<string, string> = {
    'package.json': JSON.stringify({ type: 'module', scripts: { test: 'node --test test/' } }),
    '.gitignore': 'node_modules/\n',
    'eslint.config.js': 'export default [];\n',
    'src/a.js': 'export const a = 1;\n',
    'test/a.test.js':
      "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { a } from '../src/a.js';\ntest('a is one', () => assert.equal(a, 1));\ntest('old bug', () => assert.equal(1, 2));\n",
  };
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), content);
  }
  await run('git', ['init', '-q', '-b', 'main', dir]);
  await run('git', ['-C', dir, 'add', '-A']);
  await run('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@x', 'commit', '-qm', 'init']);
  // installed after the commit, ignored: the project's linter
  await mkdir(path.join(dir, 'node_modules/.bin'), { recursive: true });
  await writeFile(path.join(dir, 'node_modules/.bin/eslint'), FAKE_ESLINT);
  await chmod(path.join(dir, 'node_modules/.bin/eslint'), 0o755);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function verifier(
  config: Partial<VerifyConfig> = {},
  opts: { baseline?: boolean } = {},
): Promise<Verifier> {
  const task = 'Change a';
  const v = new Verifier({
    repoDir: dir,
    config: { ...CONFIG, ...config },
    // node directly, not through npm: quicker
    detected: (await detectTestCommand(dir)) && { command: 'node --test test/', source: 'test' },
    task: { title: task, description: task },
    git: createNativeGit(),
    secrets: [],
    log: (l) => lines.push(l),
    save: async (r) => {
      saved.push(JSON.parse(JSON.stringify(r)) as VerificationReport);
    },
  });
  await v.prepare();
  await v.setup();
  if (opts.baseline !== false) await v.baseline();
  return v;
}

describe('Verifier', () => {
  it('run_tests tells the agent which failures were there before its change', async () => {
    const v = await verifier();
    expect(v.report.baseline).toMatchObject({ failed: ['old bug'], counts: { passed: 1, failed: 1 } });
    const r = await v.runTestsForAgent();
    expect(r.passed).toBe(false);
    expect(r.output).toMatch(
      /1 of the failing tests failed before your change too .*: old bug\. No other test fails/,
    );
  });

  it('lint problems in a changed file come back as a repair request; gates.lint false skips the linter', async () => {
    const v = await verifier();
    await writeFile(path.join(dir, 'src/a.js'), 'export const a = 1;\n// BAD\n');
    const problem = await v.verifyChange();
    expect(problem?.kind).toBe('gates');
    expect(problem?.summary).toBe('quality gates failed: lint problems (eslint)');
    expect(problem?.request.output).toContain(
      'Lint problems in the files you changed (`node_modules/.bin/eslint src/a.js`)',
    );
    expect(problem?.request.output).toContain("2:1  error  'BAD' is not defined  no-undef");
    expect(isAvatarError(problem?.error, 'GATE_BLOCKED')).toBe(true);
    expect(v.report.outcome).toBe('gate_blocked');
    expect(v.report.gates.lint?.linters[0]).toMatchObject({ name: 'eslint', blocking: true });

    const off = await verifier({ gates: { ...CONFIG.gates, lint: false } });
    expect(await off.verifyChange()).toBeUndefined();
    expect(off.report.gates.lint).toEqual({ enabled: false, linters: [] });
  });

  it('a secret blocks in block mode (file and line, never the value) and is only reported in report mode', async () => {
    await writeFile(path.join(dir, 'src/a.js'), `export const a = 1;\nexport const token = '${TOKEN}';\n`);
    const block = await verifier({}, { baseline: false });
    const err = await block.beforeCommit().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAvatarError(err, 'GATE_BLOCKED')).toBe(true);
    expect((err as Error).message).toContain('src/a.js:2 (a GitLab token)');
    expect((err as Error).message).not.toContain(TOKEN);
    expect(lines.join('\n')).not.toContain(TOKEN);
    expect(saved.at(-1)?.gates.secrets).toMatchObject({ blocked: true });

    lines = [];
    const report = await verifier({ gates: { ...CONFIG.gates, secrets: 'report' } }, { baseline: false });
    await report.beforeCommit();
    expect(lines.join('\n')).toContain('gate secrets: warning: src/a.js:2: a GitLab token');
    expect(report.report.outcome).toBe('passed');
  });

  it('dangerous patterns are warnings, or nothing with gates.dangerous off', async () => {
    await writeFile(path.join(dir, 'src/a.js'), 'export const a = eval("1");\n');
    const v = await verifier({}, { baseline: false });
    await v.beforeCommit();
    expect(lines.join('\n')).toContain('gate dangerous patterns: warning: src/a.js:1: eval() of a string');
    lines = [];
    const off = await verifier({ gates: { ...CONFIG.gates, dangerous: 'off' } }, { baseline: false });
    await off.beforeCommit();
    expect(lines.join('\n')).not.toContain('dangerous patterns');
    expect(off.report.gates.dangerous).toEqual({ mode: 'off', findings: [] });
  });

  it('gates.test_edits flag keeps an unrequested test edit and reports it', async () => {
    const v = await verifier({ gates: { ...CONFIG.gates, test_edits: 'flag' } });
    await writeFile(
      path.join(dir, 'test/a.test.js'),
      "import { test } from 'node:test';\ntest('a is one', () => {});\n",
    );
    expect(await v.verifyChange()).toBeUndefined();
    expect(await readFile(path.join(dir, 'test/a.test.js'), 'utf8')).toContain("test('a is one', () => {});");
    expect(v.report.gates.test_edits?.edits).toEqual([
      { file: 'test/a.test.js', change: 'modified', action: 'flagged' },
    ]);
    expect(v.reportLines().at(-1)).toMatch(/test edits 1 flagged \(test\/a.test.js\)/);
  });

  it('a repository without tests is never green: the change fails, or goes on unverified (with the gates) when allowed', async () => {
    await rm(path.join(dir, 'package.json'));
    const v = await verifier();
    expect(v.report.test_command).toBeNull();
    await writeFile(path.join(dir, 'src/a.js'), 'export const a = 2;\n');
    const problem = await v.verifyChange();
    expect(problem).toMatchObject({ kind: 'unrunnable', repairable: false });
    expect(isAvatarError(problem?.error, 'TESTS_NOT_RUN')).toBe(true);
    expect(problem?.error.message).toBe(
      'tests could not run: no test command detected and none configured (tests.command)',
    );
    expect(v.report.outcome).toBe('tests_not_run');

    const allowed = await verifier({ verify: { allow_unverified: true } });
    await writeFile(path.join(dir, 'src/a.js'), 'export const a = 2;\n// BAD\n');
    // The gates still run (eslint finds BAD): unverified is about the tests only.
    expect((await allowed.verifyChange())?.kind).toBe('gates');
    await writeFile(path.join(dir, 'src/a.js'), 'export const a = 2;\n');
    expect(await allowed.verifyChange()).toBeUndefined();
    expect(allowed.report.unverified).toBe(
      'tests could not run: no test command detected and none configured (tests.command)',
    );
    expect(allowed.reportLines()[0]).toBe(
      'verification: tests: none (no test command configured or detected)',
    );
    expect(allowed.reportLines().at(-1)).toMatch(
      /^verification: UNVERIFIED: tests could not run: no test command/,
    );
    expect(allowed.summaryText()).toMatch(/^UNVERIFIED: tests could not run/);
    await allowed.beforeCommit();
    expect(allowed.report.outcome).toBe('unverified');
  });

  it('saves the report after each phase', async () => {
    const v = await verifier();
    await writeFile(path.join(dir, 'src/a.js'), 'export const a = 1; // same\n');
    await v.verifyChange();
    await v.beforeCommit();
    expect(saved.length).toBeGreaterThanOrEqual(4);
    expect(saved[0]).toMatchObject({ version: 1, test_command: 'node --test test/', baseline: null });
    expect(saved.at(-1)).toMatchObject({
      outcome: 'passed',
      baseline: { failed: ['old bug'] },
      after: { failed: ['old bug'] },
      failures: { new: [], pre_existing: [{ name: 'old bug' }], flaky: [] },
    });
  });
});
