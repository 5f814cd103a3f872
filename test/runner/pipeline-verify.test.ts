/**
 * Verification in the runner pipeline (`runTask`), against the reference backend, the git server
 * and the scripted model, on two small repositories made for it: setup steps (a failing config
 * step, the repository's .numa/setup.sh), a pre-existing failing test, a flaky test, a new failure
 * that drives a repair round, a planted secret blocked from the push, a syntax error caught by the
 * gate, an unrequested edit to an existing test reverted; the per-run report (tests.json).
 */
import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validate } from '../../core/config/load.ts';
import { silentLogger } from '../../core/log.ts';
import { runTask } from '../../container/runner/entry.ts';
import type { RunResult } from '../../container/runner/outcome.ts';
import type { VerificationReport } from '../../container/runner/verify/report.ts';
import { createBareRepo } from '../../servers/git-http/index.ts';
import type { ScriptedTurn } from '../../servers/scripted-model/index.ts';
import { API_TOKEN, createWorld, GIT_TOKEN, MODEL_KEY, type World } from '../helpers/world.ts';

const MATH_TEST = `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { add } from '../src/math.js';

test('add adds', () => {
  assert.equal(add(2, 3), 5);
});
`;

const MATH = `/** Adds two numbers. */
export function add(a, b) {
  return a + b;
}
`;

/** A repository with a test that fails before any change, and a setup script the tests rely on. */
const VERIFYKIT: Record<string, string> = {
  'package.json': JSON.stringify({
    name: 'verifykit',
    type: 'module',
    scripts: { test: 'node --test test/' },
  }),
  '.gitignore': '.setup-done\nnode_modules/\n',
  'README.md': '# verifykit\n',
  'src/math.js': MATH,
  'src/unused.js': 'export const unused = 1;\n',
  'test/math.test.js': MATH_TEST,
  'test/legacy.test.js': `import { test } from 'node:test';
import assert from 'node:assert/strict';

test('legacy behaviour', () => {
  assert.equal('legacy'.length, 99, 'known broken since 2019');
});
`,
  'test/setup.test.js': `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

test('setup ran before the tests', () => {
  assert.equal(readFileSync('.setup-done', 'utf8').trim(), 'ready');
});
`,
  '.numa/setup.sh': 'echo ready > .setup-done\necho "setup.sh: workspace prepared"\n',
};

/** A repository with a flaky test: it fails on its second run only (the first run after the change). */
const FLAKYKIT: Record<string, string> = {
  'package.json': JSON.stringify({
    name: 'flakykit',
    type: 'module',
    scripts: { test: 'node --test test/' },
  }),
  '.gitignore': '.flaky-count\n',
  'src/math.js': MATH,
  'test/math.test.js': MATH_TEST,
  'test/flaky.test.js': `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

// Like a test that races a timer: it lost the race once.
test('flaky counter', () => {
  const n = existsSync('.flaky-count') ? Number(readFileSync('.flaky-count', 'utf8')) + 1 : 1;
  writeFileSync('.flaky-count', String(n));
  assert.notEqual(n, 2, 'lost the race');
});
`,
};

/** Tests that cannot run: they import the build's output (lib/), which nothing here builds. */
const BROKENKIT: Record<string, string> = {
  'package.json': JSON.stringify({
    name: 'brokenkit',
    type: 'module',
    scripts: { test: 'node --test test/' },
  }),
  'src/math.js': MATH,
  'test/math.test.js': MATH_TEST.replace('../src/math.js', '../lib/math.js'),
};

const SECRET = ['gh', 'p_', 'Vq7Lr2Xk9Zt4Wb8Nc1Md5Pf3Gh6Js0Ka2Yx3w'].join('');
/** No known token format: only the scanner knows it is one (and so the redactor learns it). */
const PASSWORD = ['Tr0ub4', 'dor&3x', 'Q9zK'].join('');

const call = (name: string, args: Record<string, unknown>): ScriptedTurn => ({
  tool_calls: [{ name, arguments: args }],
});
const finish = (summary: string) => call('finish', { summary, commit_message: summary });
const addSub = call('edit_file', {
  path: 'src/math.js',
  old_text: 'export function add(a, b) {',
  new_text: 'export function sub(a, b) {\n  return a - b;\n}\n\nexport function add(a, b) {',
});

const sessions = [
  {
    match: 'VERIFY-PRE',
    turns: [
      addSub,
      call('write_file', {
        path: 'test/sub.test.js',
        content:
          "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { sub } from '../src/math.js';\n\ntest('sub subtracts', () => {\n  assert.equal(sub(5, 3), 2);\n});\n",
      }),
      finish('Add sub(a, b)'),
    ],
  },
  { match: 'VERIFY-FLAKY', turns: [addSub, finish('Add sub(a, b)')] },
  { match: 'VERIFY-ARTIFACT', turns: [addSub, finish('Add sub(a, b)')] },
  {
    match: 'VERIFY-NEWFAIL',
    turns: [
      call('edit_file', { path: 'src/math.js', old_text: 'return a + b;', new_text: 'return a - b;' }),
      finish('Faster add'),
      {
        expect: { lastUserIncludes: '- add adds' },
        ...call('edit_file', { path: 'src/math.js', old_text: 'return a - b;', new_text: 'return b + a;' }),
      },
      finish('Faster add, fixed'),
    ],
  },
  {
    match: 'VERIFY-SECRET',
    turns: [
      call('write_file', {
        path: 'src/config.js',
        content: `export const config = {\n  githubToken: '${SECRET}',\n  dbPassword: '${PASSWORD}',\n};\n`,
      }),
      finish('Configure the client'),
    ],
  },
  {
    match: 'VERIFY-SYNTAX',
    turns: [
      call('run_command', {
        command: "printf 'export function helper( {\\n  return 1;\\n}\\n' > src/helper.js",
      }),
      finish('Add helper'),
      {
        expect: { lastUserIncludes: 'src/helper.js:1' },
        ...call('write_file', {
          path: 'src/helper.js',
          content: 'export function helper() {\n  return 1;\n}\n',
        }),
      },
      finish('Add helper (fixed)'),
    ],
  },
  {
    match: 'VERIFY-NORUN',
    turns: [
      addSub,
      call('write_file', {
        path: 'test/sub.test.js',
        content:
          "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { sub } from '../lib/math.js';\n\ntest('sub subtracts', () => {\n  assert.equal(sub(5, 3), 2);\n});\n",
      }),
      finish('Add sub(a, b)'),
    ],
  },
  {
    match: 'VERIFY-UNVERIFIED',
    turns: [
      addSub,
      call('write_file', {
        path: 'test/sub.test.js',
        content:
          "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { sub } from '../lib/math.js';\n\ntest('sub subtracts', () => {\n  assert.equal(sub(5, 3), 2);\n});\n",
      }),
      finish('Add sub(a, b)'),
    ],
  },
  {
    match: 'VERIFY-TESTEDIT',
    turns: [
      call('edit_file', {
        path: 'src/math.js',
        old_text: 'return a + b;',
        new_text: 'return Number(a) + Number(b);',
      }),
      call('edit_file', {
        path: 'test/math.test.js',
        old_text: 'assert.equal(add(2, 3), 5);',
        new_text: 'assert.ok(true);',
      }),
      finish('add accepts numeric strings'),
    ],
  },
];

describe('runner pipeline: verification', () => {
  let world: World;
  const apps: Record<string, number> = {};

  beforeAll(async () => {
    world = await createWorld({ model: { turns: [], sessions } });
    const gitRoot = path.join(world.root, 'git');
    for (const [name, files] of Object.entries({
      verifykit: VERIFYKIT,
      flakykit: FLAKYKIT,
      brokenkit: BROKENKIT,
    })) {
      await createBareRepo(gitRoot, name, { files });
      apps[name] = Number(
        world.backend.store.createApplication({ name, git_repo_url: world.git.repoUrl(name), owner: 'test' })
          .id,
      );
    }
  });

  afterAll(async () => {
    await world?.close();
  });

  const loaded = (extra: Record<string, unknown> = {}) => {
    const config = validate(
      world.configValues({
        tests: { command: 'node --test test/' },
        setup: { commands: ['echo "config step fails" && exit 3'], timeout: 60 },
        ...extra,
      }),
      'test',
    );
    return { config, workDir: config.work_dir, fileValues: {} };
  };

  const runOn = async (
    app: 'verifykit' | 'flakykit' | 'brokenkit',
    title: string,
    description = title,
    extra: Record<string, unknown> = {},
  ): Promise<{
    task: { id: number; code_branch: string };
    result: RunResult;
    lines: string[];
    dir: string;
  }> => {
    const t = world.backend.store.createTask({ title, description, application_id: apps[app]! });
    const task = { id: Number(t.id), code_branch: String(t.code_branch) };
    const lines: string[] = [];
    const result = await runTask({
      loaded: loaded(extra),
      taskId: String(task.id),
      logger: silentLogger,
      onLine: (l) => lines.push(l),
    });
    const dir = path.join(loaded().workDir, 'runs', String(task.id), result.runId);
    return { task, result, lines, dir };
  };

  /** A file on a branch of one of this test's repositories. */
  const showFile = async (repo: string, branch: string, file: string): Promise<string> => {
    const bare = path.join(world.root, 'git', `${repo}.git`);
    const { stdout } = await promisify(execFile)('git', ['--git-dir', bare, 'show', `${branch}:${file}`]);
    return stdout;
  };

  /** The branch's tip in one of this test's repositories, or undefined. */
  const tipOf = async (repo: string, branch: string): Promise<string | undefined> => {
    const bare = path.join(world.root, 'git', `${repo}.git`);
    return promisify(execFile)('git', [
      '--git-dir',
      bare,
      'rev-parse',
      '--verify',
      '-q',
      `refs/heads/${branch}`,
    ]).then(
      (r) => r.stdout.trim() || undefined,
      () => undefined,
    );
  };

  const readReport = async (dir: string): Promise<VerificationReport> =>
    JSON.parse(await readFile(path.join(dir, 'tests.json'), 'utf8')) as VerificationReport;

  it('runs the setup steps first (a failing one is logged, the run goes on); a pre-existing failure does not block and is reported', async () => {
    const { task, result, lines, dir } = await runOn('verifykit', 'VERIFY-PRE: add sub(a, b)');
    expect(result).toMatchObject({ status: 'done' });
    const log = lines.join('\n');
    // Setup: the configured step failed and was logged, the repository's script ran, before the baseline.
    expect(log).toMatch(
      /setup step 1\/2 `echo "config step fails" && exit 3` \(config\): failed \(exit 3\).*the run goes on/,
    );
    expect(log).toContain('| config step fails');
    expect(log).toMatch(/setup step 2\/2 `sh .numa\/setup.sh` \(.numa\/setup.sh\): ok/);
    expect(log).toContain('| setup.sh: workspace prepared');
    expect(log.indexOf('setup step 2/2')).toBeLessThan(log.indexOf('baseline (tests before the change)'));
    expect(log.indexOf('baseline (tests before the change)')).toBeLessThan(log.indexOf('agent: developing'));

    const report = await readReport(dir);
    expect(report.setup.map((s) => [s.source, s.passed])).toEqual([
      ['config', false],
      ['.numa/setup.sh', true],
    ]);
    // The setup script's marker was there for the baseline: only the legacy test failed.
    expect(report.baseline).toMatchObject({ failed: ['legacy behaviour'], counts: { passed: 2, failed: 1 } });
    expect(report.after).toMatchObject({ failed: ['legacy behaviour'], counts: { passed: 3, failed: 1 } });
    expect(report.failures.pre_existing.map((f) => f.name)).toEqual(['legacy behaviour']);
    expect(report.failures.pre_existing[0]!.details).toMatch(/known broken since 2019/);
    expect(report.failures.new).toEqual([]);
    expect(report.failures.flaky).toEqual([]);
    expect(report.outcome).toBe('passed');
    expect(report.repair_rounds).toBe(0);

    // The final report lines, in the task's logs on the backend too.
    const backendLogs = world.logs(task.id);
    expect(backendLogs).toMatch(/verification: tests before \(baseline\): 2 passed, 1 failed/);
    expect(backendLogs).toMatch(/verification: tests after: 3 passed, 1 failed/);
    expect(backendLogs).toMatch(/verification: new failures: none/);
    expect(backendLogs).toMatch(/verification: pre-existing failures .*: legacy behaviour/);
    expect(backendLogs).toMatch(/verification: flaky .*: none/);
    expect(backendLogs).toMatch(/verification: gates: .*secrets none found/);
    expect(backendLogs).toMatch(
      /summary: .*before 2 passed\/1 failed, after 3 passed\/1 failed \(1 pre-existing failure\(s\)\)/,
    );
    expect(await showFile('verifykit', task.code_branch, 'src/math.js')).toContain('export function sub');
  });

  it('a test that fails after the change and passes on the re-run is flaky: reported, no repair round', async () => {
    const { result, lines, dir } = await runOn('flakykit', 'VERIFY-FLAKY: add sub(a, b)');
    expect(result.status).toBe('done');
    expect(lines.join('\n')).toMatch(
      /re-running the tests \(1 of 1, tests.flaky_reruns\): 1 failure\(s\) not seen in the baseline: flaky counter/,
    );
    const report = await readReport(dir);
    expect(report.baseline).toMatchObject({ failed: [] });
    expect(report.after).toMatchObject({ failed: ['flaky counter'] });
    expect(report.failures.flaky.map((f) => f.name)).toEqual(['flaky counter']);
    expect(report.failures.new).toEqual([]);
    expect(report.repair_rounds).toBe(0);
    expect(lines.join('\n')).toMatch(
      /verification: flaky \(failed, then passed on a re-run\): flaky counter/,
    );
  });

  it('a new failure drives a repair round whose message names it, with its output, and the pre-existing one', async () => {
    const { result, lines, dir } = await runOn('verifykit', 'VERIFY-NEWFAIL: make add faster');
    expect(result.status).toBe('done');
    expect(lines.join('\n')).toMatch(
      /repair round 1 of 1: 1 new test failure\(s\): add adds; the agent gets them/,
    );
    const repairRequest = world.model
      .requests()
      .map((r) => JSON.stringify(r.body))
      .find((b) => b.includes('VERIFY-NEWFAIL') && b.includes('New test failures'));
    expect(repairRequest).toBeDefined();
    const messages = (JSON.parse(repairRequest!) as { messages: Array<{ role: string; content: string }> })
      .messages;
    const repair = messages.filter((m) => m.role === 'user').at(-1)!.content;
    expect(repair).toContain('- add adds');
    expect(repair).toMatch(/### add adds\n[\s\S]*-1 !== 5/);
    expect(repair).not.toContain('node:internal');
    expect(repair).toMatch(/pre-existing.*legacy behaviour/);
    const report = await readReport(dir);
    expect(report.repair_rounds).toBe(1);
    expect(report.failures.new).toEqual([]);
    expect(report.failures.pre_existing.map((f) => f.name)).toEqual(['legacy behaviour']);
  });

  it('blocks a planted secret: GATE_BLOCKED naming file and line, nothing pushed, the secret in no log', async () => {
    const { task, result, lines, dir } = await runOn('verifykit', 'VERIFY-SECRET: configure the client');
    expect(result).toMatchObject({ status: 'failed', errorCode: 'GATE_BLOCKED' });
    expect(result.reason).toContain('src/config.js:2 (a GitHub token)');
    expect(result.reason).toContain('src/config.js:3 (a secret-looking value assigned to "dbPassword")');
    expect(world.statuses(task.id).at(-1)).toBe('failed');
    expect(await world.remoteBranch(task.code_branch)).toBeUndefined();
    expect(lines.join('\n')).toMatch(/gate secrets: BLOCKED: src\/config.js:2: a GitHub token/);
    const report = await readReport(dir);
    expect(report.gates.secrets).toEqual({
      mode: 'block',
      blocked: true,
      findings: [
        { file: 'src/config.js', line: 2, kind: 'a GitHub token' },
        { file: 'src/config.js', line: 3, kind: 'a secret-looking value assigned to "dbPassword"' },
      ],
    });
    // Not in the task's logs (local and backend), the result, or any run artifact.
    const artifacts = await readdir(dir);
    expect(artifacts).toEqual(expect.arrayContaining(['failed.patch', 'transcript.jsonl', 'tests.json']));
    const texts = [lines.join('\n'), world.logs(task.id), JSON.stringify(result)];
    for (const f of artifacts) texts.push(await readFile(path.join(dir, f), 'utf8'));
    for (const text of texts) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(PASSWORD);
      for (const s of [GIT_TOKEN, API_TOKEN, MODEL_KEY]) expect(text).not.toContain(s);
    }
  });

  it('catches an edit that breaks the syntax of a file no test imports, and the agent repairs it', async () => {
    const { task, result, lines, dir } = await runOn('verifykit', 'VERIFY-SYNTAX: add a helper');
    expect(result.status).toBe('done');
    const log = lines.join('\n');
    expect(log).toMatch(/gate syntax: src\/helper.js:1:\d+: /);
    expect(log).toMatch(/repair round 1 of 1: quality gates failed: 1 syntax error\(s\)/);
    const report = await readReport(dir);
    expect(report.repair_rounds).toBe(1);
    expect(report.gates.syntax).toMatchObject({ available: true, errors: [] });
    expect(report.gates.syntax!.checked).toContain('src/helper.js');
    expect(await showFile('verifykit', task.code_branch, 'src/helper.js')).toBe(
      'export function helper() {\n  return 1;\n}\n',
    );
  });

  it('reverts an edit to an existing test the task did not ask for; the change is pushed without it', async () => {
    const { task, result, lines, dir } = await runOn(
      'verifykit',
      'VERIFY-TESTEDIT: make add accept numeric strings',
      "add('2', 3) should give 5, like add(2, 3).",
    );
    expect(result.status).toBe('done');
    expect(lines.join('\n')).toMatch(
      /test edit reverted: test\/math.test.js \(modified; the task does not ask for test changes/,
    );
    expect(await showFile('verifykit', task.code_branch, 'test/math.test.js')).toBe(MATH_TEST);
    expect(await showFile('verifykit', task.code_branch, 'src/math.js')).toContain('Number(a) + Number(b)');
    const report = await readReport(dir);
    expect(report.gates.test_edits).toEqual({
      mode: 'revert',
      edits: [{ file: 'test/math.test.js', change: 'modified', action: 'reverted' }],
    });
    expect(lines.join('\n')).toMatch(/verification: gates: test edits 1 reverted \(test\/math.test.js\)/);
  });

  it('tests that cannot run (nothing imports) end the task failed with the reason, nothing pushed', async () => {
    const { task, result, lines, dir } = await runOn('brokenkit', 'VERIFY-NORUN: add sub(a, b)', undefined, {
      limits: { repair_rounds: 0 },
    });
    const log = lines.join('\n');
    expect(result, log).toMatchObject({ status: 'failed', errorCode: 'TESTS_NOT_RUN' });
    expect(result.reason).toMatch(
      /tests could not run: no test passed .*cannot find module '.*lib\/math.js'/,
    );
    expect(log).toMatch(/the tests cannot run before the change: .*Nothing counts as a pre-existing failure/);
    // The agent was told before it started.
    const first = world.model.requests().find((r) => JSON.stringify(r.body).includes('VERIFY-NORUN'));
    expect(JSON.stringify(first?.body)).toContain(
      "The project's tests cannot run as the branch is, before any change",
    );
    expect(await tipOf('brokenkit', task.code_branch)).toBeUndefined();
    const report = await readReport(dir);
    expect(report.outcome).toBe('tests_not_run');
    expect(report.runnable.baseline?.runnable).toBe(false);
    expect(report.failures.pre_existing).toEqual([]);
  });

  it("with the application's verify.allow_unverified the same task ends done, marked UNVERIFIED", async () => {
    const { task, result, lines, dir } = await runOn(
      'brokenkit',
      'VERIFY-UNVERIFIED: add sub(a, b)',
      undefined,
      {
        limits: { repair_rounds: 0 },
        applications: { [String(apps.brokenkit)]: { verify: { allow_unverified: true } } },
      },
    );
    const log = lines.join('\n');
    expect(result, log).toMatchObject({ status: 'done' });
    expect(result.unverified).toMatch(/^tests could not run: /);
    expect(log).toMatch(
      new RegExp(
        `application ${apps.brokenkit} has its own settings \\(applications\\.${apps.brokenkit}\\): verify`,
      ),
    );
    expect(log).toMatch(/ - summary: .*UNVERIFIED: tests could not run: /);
    expect(log).toMatch(/ - verification: UNVERIFIED: tests could not run: .*\(verify.allow_unverified\)$/m);
    expect(await tipOf('brokenkit', task.code_branch)).toMatch(/^[0-9a-f]{40}$/);
    expect(await showFile('brokenkit', task.code_branch, 'src/math.js')).toContain('export function sub');
    expect((await readReport(dir)).outcome).toBe('unverified');
    expect(JSON.parse(await readFile(path.join(dir, 'result.json'), 'utf8'))).toMatchObject({
      status: 'done',
      unverified: result.unverified,
    });
  });

  it('what the setup made in the work tree is never committed, only the change', async () => {
    const { task, result, lines } = await runOn('verifykit', 'VERIFY-ARTIFACT: add sub(a, b)', undefined, {
      setup: { commands: ['echo made > setup-artifact.txt'], timeout: 60 },
    });
    const log = lines.join('\n');
    expect(result, log).toMatchObject({ status: 'done' });
    expect(log).toMatch(
      /the setup and the baseline tests left 1 path\(s\) that git does not ignore; they are not committed: setup-artifact.txt/,
    );
    expect(await showFile('verifykit', task.code_branch, 'src/math.js')).toContain('export function sub');
    await expect(showFile('verifykit', task.code_branch, 'setup-artifact.txt')).rejects.toThrow();
    expect(log).toMatch(/committed [0-9a-f]{12}: Add sub\(a, b\) \(1 file\(s\)\)/);
  });
});
