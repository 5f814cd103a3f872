/**
 * The file-level gates on real folders: the test-edit review (revert | flag), the lint gate's
 * detection and blocking rule with real linter processes (an ESLint-shaped and a ruff-shaped
 * fake installed in the repository, so the test does not depend on what this machine has), the
 * syntax gate with a stub checker, and the setup steps.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectLinters, linesNaming, runLintGate } from '../../container/runner/verify/gates/lint.ts';
import {
  checkChangedFilesSyntax,
  defaultSyntaxChecker,
  type SyntaxChecker,
} from '../../container/runner/verify/gates/syntax.ts';
import {
  isTestFile,
  reviewTestEdits,
  taskAllowsTestEdit,
  TestFileOriginals,
} from '../../container/runner/verify/gates/test-edits.ts';
import { runSetupSteps } from '../../container/runner/verify/setup.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'numa-gates-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function files(map: Record<string, string>, executable: string[] = []): Promise<void> {
  for (const [rel, content] of Object.entries(map)) {
    const f = path.join(dir, rel);
    await mkdir(path.dirname(f), { recursive: true });
    await writeFile(f, content);
    if (executable.includes(rel)) await chmod(f, 0o755);
  }
}

describe('test files and the task text', () => {
  it.each([
    'test/strings.test.js',
    'src/a.spec.ts',
    '__tests__/x.js',
    'tests/test_api.py',
    'pkg/api_test.go',
    'spec/models/user_spec.rb',
    'src/test/java/com/x/UserTest.java',
    'tests/helpers/setup.ts',
    'conftest.py',
  ])('%s is a test file', (f) => expect(isTestFile(f)).toBe(true));

  it.each(['src/strings.js', 'README.md', 'test/fixtures/data.json', 'docs/testing.md', 'src/contest.py'])(
    '%s is not',
    (f) => expect(isTestFile(f)).toBe(false),
  );

  it.each([
    ['Fix the login bug', 'test/login.test.js', false],
    ['Fix the login bug and update the tests', 'test/login.test.js', true],
    ['Rename the helper; adjust login.test.js accordingly', 'test/login.test.js', true],
    ['Corrige el error y actualiza las pruebas', 'test/login.test.js', true],
    ['Исправить ошибку и обновить тесты', 'test/login.test.js', true],
    ['修复错误并更新测试', 'test/login.test.js', true],
    ['Improve the contest page', 'test/login.test.js', false],
    ['Add a latest-posts widget', 'test/login.test.js', false],
  ] as const)('%j allows editing %s: %s', (text, file, allowed) => {
    expect(taskAllowsTestEdit(text, file)).toBe(allowed);
  });
});

describe('reviewTestEdits', () => {
  const ORIGINAL = "import { test } from 'node:test';\ntest('a', () => {});\n";

  beforeEach(async () => {
    await files({
      'test/a.test.js': ORIGINAL,
      'test/b.test.js': ORIGINAL,
      'src/x.js': 'export const x = 1;\n',
    });
  });

  it('reverts modified and deleted existing tests the task did not ask for; keeps new test files', async () => {
    const originals = await TestFileOriginals.capture(dir);
    expect(originals.size).toBe(2);
    await writeFile(path.join(dir, 'test/a.test.js'), "test('a', () => { /* weakened */ });\n");
    await rm(path.join(dir, 'test/b.test.js'));
    await writeFile(path.join(dir, 'test/new.test.js'), '// new\n');
    await writeFile(path.join(dir, 'src/x.js'), 'export const x = 2;\n');
    const edits = await reviewTestEdits({
      repoDir: dir,
      changed: ['src/x.js', 'test/a.test.js', 'test/b.test.js', 'test/new.test.js'],
      originals,
      taskText: 'Make x two',
      mode: 'revert',
    });
    expect(edits).toEqual([
      { file: 'test/a.test.js', change: 'modified', action: 'reverted' },
      { file: 'test/b.test.js', change: 'deleted', action: 'reverted' },
    ]);
    expect(await readFile(path.join(dir, 'test/a.test.js'), 'utf8')).toBe(ORIGINAL);
    expect(await readFile(path.join(dir, 'test/b.test.js'), 'utf8')).toBe(ORIGINAL);
    expect(await readFile(path.join(dir, 'test/new.test.js'), 'utf8')).toBe('// new\n');
    expect(await readFile(path.join(dir, 'src/x.js'), 'utf8')).toBe('export const x = 2;\n');
  });

  it('flag mode keeps the edit and reports it; a task that asks for tests allows it', async () => {
    const originals = await TestFileOriginals.capture(dir);
    await writeFile(path.join(dir, 'test/a.test.js'), 'changed\n');
    const review = (taskText: string, mode: 'revert' | 'flag') =>
      reviewTestEdits({ repoDir: dir, changed: ['test/a.test.js'], originals, taskText, mode });
    expect(await review('Make x two', 'flag')).toEqual([
      { file: 'test/a.test.js', change: 'modified', action: 'flagged' },
    ]);
    expect(await review('Make x two and fix the tests', 'revert')).toEqual([
      { file: 'test/a.test.js', change: 'modified', action: 'allowed' },
    ]);
    expect(await readFile(path.join(dir, 'test/a.test.js'), 'utf8')).toBe('changed\n');
  });

  it('never writes through a folder the agent replaced with a symbolic link', async () => {
    const originals = await TestFileOriginals.capture(dir);
    const outside = await mkdtemp(path.join(os.tmpdir(), 'numa-outside-'));
    try {
      await rm(path.join(dir, 'test'), { recursive: true });
      await symlink(outside, path.join(dir, 'test'));
      const edits = await reviewTestEdits({
        repoDir: dir,
        changed: ['test/a.test.js'],
        originals,
        taskText: 'x',
        mode: 'revert',
      });
      expect(edits[0]!.action).toBe('flagged');
      await expect(stat(path.join(outside, 'a.test.js'))).rejects.toThrow();
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });
});

describe('lint gate', () => {
  /** A linter that reports every file it is given whose text contains "BAD", in ESLint's stylish format. */
  const FAKE_ESLINT = `#!/bin/sh
status=0
for f in "$@"; do
  if grep -q BAD "$f"; then
    echo "$PWD/$f"; echo "  1:1  error  'BAD' is not defined  no-undef"; echo; status=1
  fi
done
exit $status
`;

  it('detects the project linters by config and installed tool, for the changed files languages only', async () => {
    await files(
      {
        'eslint.config.js': 'export default [];\n',
        'node_modules/.bin/eslint': FAKE_ESLINT,
        'pyproject.toml': '[tool.ruff]\nline-length = 100\n',
        '.venv/bin/ruff': '#!/bin/sh\nexit 0\n',
        'src/a.js': 'ok\n',
        'app/main.py': 'ok\n',
      },
      ['node_modules/.bin/eslint', '.venv/bin/ruff'],
    );
    expect(await detectLinters(dir, ['src/a.js'], { pathEnv: '' })).toEqual([
      { name: 'eslint', command: 'node_modules/.bin/eslint src/a.js' },
    ]);
    expect(await detectLinters(dir, ['app/main.py', 'README.md'], { pathEnv: '' })).toEqual([
      { name: 'ruff', command: '.venv/bin/ruff check app/main.py' },
    ]);
    expect(await detectLinters(dir, ['README.md'], { pathEnv: '' })).toEqual([]);
  });

  it('prefers the npm lint script, and needs its dependencies installed', async () => {
    await files({
      'package.json': JSON.stringify({ scripts: { lint: 'eslint .' }, devDependencies: { eslint: '^9' } }),
      'src/a.js': 'ok\n',
    });
    expect(await detectLinters(dir, ['src/a.js'], { pathEnv: '' })).toEqual([]);
    await mkdir(path.join(dir, 'node_modules'));
    expect(await detectLinters(dir, ['src/a.js'], { pathEnv: '' })).toEqual([
      { name: 'npm run lint', command: 'npm run lint' },
    ]);
  });

  it('no config or no tool: no linter (ruff on PATH alone is not the project using it)', async () => {
    await files({ 'src/a.js': 'x\n', 'eslint.config.js': '', 'app.py': 'x\n', 'bin/ruff': '#!/bin/sh\n' }, [
      'bin/ruff',
    ]);
    expect(await detectLinters(dir, ['src/a.js', 'app.py'], { pathEnv: path.join(dir, 'bin') })).toEqual([]);
  });

  it('blocks on problems in the changed files, with the problem lines', async () => {
    await files(
      {
        'eslint.config.js': 'export default [];\n',
        'node_modules/.bin/eslint': FAKE_ESLINT,
        'src/a.js': 'BAD\n',
        'src/b.js': 'fine\n',
      },
      ['node_modules/.bin/eslint'],
    );
    const result = await runLintGate({ repoDir: dir, changed: ['src/a.js', 'src/b.js'], timeoutMs: 10_000 });
    expect(result.blocking).toBe(true);
    expect(result.linters[0]).toMatchObject({ name: 'eslint', passed: false, blocking: true });
    expect(result.linters[0]!.problems).toEqual(['src/a.js', "  1:1  error  'BAD' is not defined  no-undef"]);

    await writeFile(path.join(dir, 'src/a.js'), 'fixed\n');
    const again = await runLintGate({ repoDir: dir, changed: ['src/a.js', 'src/b.js'], timeoutMs: 10_000 });
    expect(again).toMatchObject({ blocking: false, linters: [{ passed: true }] });
  });

  it('a linter failing on other files only does not block', async () => {
    await files(
      {
        'package.json': JSON.stringify({
          scripts: { lint: 'echo "src/old.js:3:1: E501 line too long"; exit 1' },
        }),
        'src/new.js': 'x\n',
      },
      [],
    );
    const result = await runLintGate({ repoDir: dir, changed: ['src/new.js'], timeoutMs: 20_000 });
    expect(result.linters[0]).toMatchObject({ name: 'npm run lint', passed: false, blocking: false });
    expect(result.blocking).toBe(false);
  });

  it('reads the usual output shapes of linters naming a file', () => {
    const out = [
      'src/a.py:3:1: F401 unused import',
      './src/a.py:4:1: E302 expected 2 blank lines',
      'src/a.ts(5,7): error TS2322: bad',
      '  --> src/a.rs:9:5',
      'src/other.py:1:1: F401 not ours',
    ].join('\n');
    expect(linesNaming(out, ['src/a.py', 'src/a.ts', 'src/a.rs'], dir)).toEqual([
      'src/a.py:3:1: F401 unused import',
      './src/a.py:4:1: E302 expected 2 blank lines',
      'src/a.ts(5,7): error TS2322: bad',
      '--> src/a.rs:9:5',
    ]);
  });
});

describe('syntax gate', () => {
  const stub: SyntaxChecker = async (file, text) => {
    if (!file.endsWith('.js')) return { ok: 'unsupported' };
    const i = text.indexOf('(((');
    if (i < 0) return { ok: true };
    const line = text.slice(0, i).split('\n').length;
    return { ok: false, line, column: 1, message: 'unbalanced parentheses' };
  };

  it('checks changed files of supported languages and names file and line of each error', async () => {
    await files({
      'src/ok.js': 'a()\n',
      'src/bad.js': 'x\ny(((\n',
      'README.md': '# r\n',
      'img.js': 'a\u0000b',
    });
    const r = await checkChangedFilesSyntax(
      dir,
      ['src/ok.js', 'src/bad.js', 'README.md', 'img.js', 'deleted.js'],
      stub,
    );
    expect(r).toEqual({
      checked: ['src/ok.js', 'src/bad.js'],
      unsupported: ['README.md', 'img.js'],
      errors: [{ file: 'src/bad.js', line: 2, column: 1, message: 'unbalanced parentheses' }],
    });
  });

  it("with the runner's tree-sitter checker: a broken JavaScript and a broken Python file", async () => {
    await files({
      'src/ok.js': 'export const a = 1;\n',
      'src/bad.js': 'export function f( {\n  return 1;\n}\n',
      'app/bad.py': 'def f(:\n    pass\n',
      'notes.txt': 'free text (',
    });
    const r = await checkChangedFilesSyntax(
      dir,
      ['src/ok.js', 'src/bad.js', 'app/bad.py', 'notes.txt'],
      defaultSyntaxChecker,
    );
    expect(r.checked).toEqual(['src/ok.js', 'src/bad.js', 'app/bad.py']);
    expect(r.unsupported).toEqual(['notes.txt']);
    expect(r.errors.map((e) => [e.file, e.line])).toEqual([
      ['src/bad.js', 1],
      ['app/bad.py', 1],
    ]);
  });

  it('a checker that throws does not fail the change', async () => {
    await files({ 'a.js': 'x' });
    const r = await checkChangedFilesSyntax(dir, ['a.js'], async () => {
      throw new Error('grammar missing');
    });
    expect(r).toEqual({ checked: [], unsupported: ['a.js'], errors: [] });
  });
});

describe('setup steps', () => {
  it('runs the configured commands, then .numa/setup.sh; a failing step is logged and the next still runs', async () => {
    await files({
      '.numa/setup.sh': 'echo "from setup.sh: $(cat marker-1)" > marker-2\necho setup script ran\n',
    });
    const lines: string[] = [];
    const steps = await runSetupSteps({
      repoDir: dir,
      commands: ['echo one > marker-1', 'echo "oops" >&2; exit 3'],
      timeoutMs: 10_000,
      log: (l) => lines.push(l),
    });
    expect(steps.map((s) => [s.command, s.source, s.passed, s.exitCode])).toEqual([
      ['echo one > marker-1', 'config', true, 0],
      ['echo "oops" >&2; exit 3', 'config', false, 3],
      ['sh .numa/setup.sh', '.numa/setup.sh', true, 0],
    ]);
    expect(await readFile(path.join(dir, 'marker-2'), 'utf8')).toBe('from setup.sh: one\n');
    const log = lines.join('\n');
    expect(log).toMatch(
      /setup step 2\/3 `echo "oops" >&2; exit 3` \(config\): failed \(exit 3\) in \d+ ms; the run goes on/,
    );
    expect(log).toContain('  | oops');
    expect(log).toMatch(/setup step 3\/3 `sh .numa\/setup.sh` \(.numa\/setup.sh\): ok/);
  });

  it('time-boxes each step (setup.timeout) and scrubs credentials from its environment', async () => {
    const lines: string[] = [];
    process.env.NUMA_TEST_SECRET_TOKEN = 'should-not-leak-123';
    try {
      const steps = await runSetupSteps({
        repoDir: dir,
        commands: ['echo "token=[${NUMA_TEST_SECRET_TOKEN}]"', 'sleep 30'],
        timeoutMs: 500,
        log: (l) => lines.push(l),
      });
      expect(steps[0]!.outputTail).toBe('token=[]');
      expect(steps[1]).toMatchObject({ passed: false, timedOut: true });
      expect(lines.join('\n')).toMatch(/timed out after 0.5 s \(setup.timeout\)/);
    } finally {
      delete process.env.NUMA_TEST_SECRET_TOKEN;
    }
  });

  it('no commands and no script: nothing runs; a symlinked .numa is not followed', async () => {
    expect(await runSetupSteps({ repoDir: dir, commands: [], timeoutMs: 1000, log: () => {} })).toEqual([]);
    const outside = await mkdtemp(path.join(os.tmpdir(), 'numa-outside-'));
    try {
      await writeFile(path.join(outside, 'setup.sh'), 'touch pwned\n');
      await symlink(outside, path.join(dir, '.numa'));
      expect(await runSetupSteps({ repoDir: dir, commands: [], timeoutMs: 1000, log: () => {} })).toEqual([]);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });
});
