import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectTestCommand, hasMakeTarget } from '../../container/runner/testing/detect.ts';
import { detectNode } from '../../container/runner/testing/ecosystems/node.ts';
import { TailBuffer, runTestCommand } from '../../container/runner/testing/run.ts';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'numa-testing-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Writes a small repository: { 'path/in/repo': content }. */
async function repo(files: Record<string, string>, executable: string[] = []): Promise<string> {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(dir, rel);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, content);
    if (executable.includes(rel)) await fs.chmod(file, 0o755);
  }
  return dir;
}

const pkg = (extra: Record<string, unknown>) => JSON.stringify({ name: 'x', version: '1.0.0', ...extra });
const NPM_DEFAULT = 'echo "Error: no test specified" && exit 1';

describe('detectTestCommand', () => {
  it('returns undefined for an empty repository', async () => {
    expect(await detectTestCommand(dir)).toBeUndefined();
  });

  it('an override wins over everything', async () => {
    await repo({ 'package.json': pkg({ scripts: { test: 'vitest' } }), 'go.mod': 'module x' });
    expect(await detectTestCommand(dir, '  make check ')).toEqual({
      command: 'make check',
      source: 'configured test command',
    });
    // a blank override is no override
    expect((await detectTestCommand(dir, '  '))?.command).toBe('npm test');
  });

  it('npm: real scripts.test, no dependencies, no setup', async () => {
    await repo({ 'package.json': pkg({ scripts: { test: 'node --test' } }) });
    expect(await detectTestCommand(dir)).toEqual({
      command: 'npm test',
      source: 'package.json scripts.test (npm)',
    });
  });

  it('npm: dependencies without node_modules need npm ci (lockfile) or npm install, dev ones included', async () => {
    await repo({ 'package.json': pkg({ scripts: { test: 'jest' }, devDependencies: { jest: '^29' } }) });
    expect(await detectTestCommand(dir)).toMatchObject({
      command: 'npm test',
      setup: 'npm install --include=dev',
    });
    await repo({ 'package-lock.json': '{}' });
    expect(await detectTestCommand(dir)).toEqual({
      command: 'npm test',
      setup: 'npm ci --include=dev',
      source: 'package.json scripts.test (npm, package-lock.json)',
    });
    await fs.mkdir(path.join(dir, 'node_modules'));
    expect((await detectTestCommand(dir))?.setup).toBeUndefined();
  });

  it("npm's default placeholder script is not a test command", async () => {
    await repo({ 'package.json': pkg({ scripts: { test: NPM_DEFAULT } }) });
    expect(await detectTestCommand(dir)).toBeUndefined();
    // ...and the next detector gets its turn
    await repo({ 'go.mod': 'module example.com/x\n' });
    expect(await detectTestCommand(dir)).toEqual({ command: 'go test -v ./...', source: 'go.mod' });
  });

  it('yarn and pnpm by lockfile, with their frozen installs, dev dependencies included', async () => {
    // Both on PATH (whatever this machine has: ecosystems/node.ts takes the lookup as an option).
    const onPath = async () => true;
    await repo({
      'package.json': pkg({ scripts: { test: 'mocha' }, dependencies: { chai: '^4' } }),
      'yarn.lock': '',
    });
    expect(await detectNode(dir, { onPath })).toEqual({
      command: 'yarn test',
      setup: 'yarn install --frozen-lockfile --production=false',
      source: 'package.json scripts.test (yarn, yarn.lock)',
    });
    await repo({ '.yarnrc.yml': 'nodeLinker: node-modules\n' });
    expect((await detectNode(dir, { onPath }))?.setup).toBe('yarn install --immutable');
    await fs.rm(path.join(dir, 'yarn.lock'));
    await repo({ 'pnpm-lock.yaml': "lockfileVersion: '9.0'\n" });
    expect(await detectNode(dir, { onPath })).toEqual({
      command: 'pnpm test',
      setup: 'pnpm install --frozen-lockfile --prod=false',
      source: 'package.json scripts.test (pnpm, pnpm-lock.yaml)',
    });
  });

  it('a package.json that is not JSON is skipped', async () => {
    await repo({ 'package.json': '{ nope', 'Cargo.toml': '[package]\nname = "x"\n' });
    expect(await detectTestCommand(dir)).toEqual({
      command: 'cargo test --no-fail-fast',
      source: 'Cargo.toml',
    });
  });

  it.each([
    [{ 'pytest.ini': '[pytest]\n' }, 'pytest.ini'],
    [
      { 'pyproject.toml': '[project]\nname="x"\n\n[tool.pytest.ini_options]\naddopts="-q"\n' },
      'pyproject.toml [tool.pytest]',
    ],
    [{ 'setup.cfg': '[metadata]\nname = x\n[tool:pytest]\ntestpaths = tests\n' }, 'setup.cfg [tool:pytest]'],
    [{ 'tox.ini': '[tox]\nenvlist = py3\n[pytest]\naddopts = -q\n' }, 'tox.ini [pytest]'],
    [{ 'conftest.py': '' }, 'conftest.py'],
    [
      { 'tests/unit/test_math.py': 'def test_x(): pass\n' },
      'tests/unit/test_math.py has test functions outside of a TestCase',
    ],
  ])('pytest from %j', async (files, source) => {
    await repo(files);
    // The install step and the runner's choice in detail: test/runner/python-setup.test.ts.
    const found = await detectTestCommand(dir);
    expect(found?.command).toMatch(
      / "\$PY" -m pytest -p no:cacheprovider --continue-on-collection-errors -q$/,
    );
    expect(found?.source).toMatch(new RegExp(`^pytest: ${source.replace(/[[\].]/g, '\\$&')}; install: pip`));
    expect(found?.setup).toContain('python3 -m venv --system-site-packages');
  });

  it('pyproject.toml without [tool.pytest] and tests/ without test files are not pytest', async () => {
    await repo({ 'pyproject.toml': '[project]\nname = "x"\n[tool.black]\n', 'tests/helpers.py': '' });
    expect(await detectTestCommand(dir)).toBeUndefined();
  });

  it('maven, with and without the wrapper', async () => {
    await repo({ 'pom.xml': '<project/>' });
    expect(await detectTestCommand(dir)).toEqual({ command: 'mvn -q -B test', source: 'pom.xml' });
    await repo({ mvnw: '#!/bin/sh\n' }, ['mvnw']);
    expect(await detectTestCommand(dir)).toEqual({
      command: './mvnw -q -B test',
      source: 'pom.xml (Maven wrapper)',
    });
  });

  it('gradle, with and without the wrapper (kts too)', async () => {
    await repo({ 'build.gradle.kts': 'plugins { java }' });
    expect(await detectTestCommand(dir)).toEqual({ command: 'gradle test', source: 'build.gradle.kts' });
    await repo({ gradlew: '#!/bin/sh\n' }, ['gradlew']);
    expect(await detectTestCommand(dir)).toEqual({
      command: './gradlew test',
      source: 'build.gradle.kts (Gradle wrapper)',
    });
    await fs.chmod(path.join(dir, 'gradlew'), 0o644);
    expect((await detectTestCommand(dir))?.command).toBe('sh ./gradlew test');
  });

  it('groovy build.gradle', async () => {
    await repo({ 'build.gradle': "apply plugin: 'java'" });
    expect(await detectTestCommand(dir)).toEqual({ command: 'gradle test', source: 'build.gradle' });
  });

  it('a Makefile test target, but not a Makefile without one', async () => {
    await repo({ Makefile: 'build:\n\tcc x.c\n' });
    expect(await detectTestCommand(dir)).toBeUndefined();
    await repo({ Makefile: '.PHONY: test\nbuild:\n\tcc x.c\n\ntest: build\n\t./run-tests\n' });
    expect(await detectTestCommand(dir)).toEqual({ command: 'make test', source: 'Makefile test target' });
  });

  it('earlier detectors win: package.json over pytest over go', async () => {
    await repo({ 'go.mod': 'module x', 'conftest.py': '' });
    expect((await detectTestCommand(dir))?.command).toMatch(/ -m pytest /);
    await repo({ 'package.json': pkg({ scripts: { test: 'vitest run' } }) });
    expect((await detectTestCommand(dir))?.command).toBe('npm test');
  });

  it('hasMakeTarget tells rules from variables', () => {
    expect(hasMakeTarget('test:\n', 'test')).toBe(true);
    expect(hasMakeTarget('lint test check: deps\n', 'test')).toBe(true);
    expect(hasMakeTarget('test::\n', 'test')).toBe(true);
    expect(hasMakeTarget('test := go test\n', 'test')).toBe(false);
    expect(hasMakeTarget('test ::= x\n', 'test')).toBe(false);
    expect(hasMakeTarget('.PHONY: test\n# test:\n\ttest: x\n', 'test')).toBe(false);
    expect(hasMakeTarget('tests:\n', 'test')).toBe(false);
  });
});

describe('runTestCommand', () => {
  it('a passing command: exit 0, output of stdout and stderr', async () => {
    const r = await runTestCommand({
      command: 'echo one; echo two >&2; echo three',
      cwd: dir,
      timeoutMs: 30_000,
    });
    expect(r).toMatchObject({
      passed: true,
      exitCode: 0,
      timedOut: false,
      command: 'echo one; echo two >&2; echo three',
    });
    expect(r.output.split('\n').filter(Boolean).sort()).toEqual(['one', 'three', 'two']);
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('runs in cwd', async () => {
    await repo({ 'marker.txt': 'here' });
    const r = await runTestCommand({ command: 'cat marker.txt', cwd: dir, timeoutMs: 30_000 });
    expect(r.output).toBe('here');
  });

  it('a failing command: passed false with its exit code', async () => {
    const r = await runTestCommand({ command: 'echo "1 failed"; exit 3', cwd: dir, timeoutMs: 30_000 });
    expect(r).toMatchObject({ passed: false, exitCode: 3, timedOut: false });
    expect(r.output).toContain('1 failed');
  });

  it('a command that runs too long is killed with its whole process group', async () => {
    const pidFile = path.join(dir, 'grandchild.pid');
    const r = await runTestCommand({
      command: `sleep 30 & echo $! > ${pidFile}; echo started; wait`,
      cwd: dir,
      timeoutMs: 500,
      killGraceMs: 200,
    });
    expect(r).toMatchObject({ passed: false, exitCode: null, timedOut: true });
    expect(r.output).toMatch(/^started\n\n\[timed out after 0\.5s/);
    const grandchild = Number(await fs.readFile(pidFile, 'utf8'));
    expect(await goneWithin(grandchild, 5000)).toBe(true);
  });

  it('an abort kills the command', async () => {
    const ac = new AbortController();
    const p = runTestCommand({
      command: 'echo go; sleep 30',
      cwd: dir,
      timeoutMs: 60_000,
      signal: ac.signal,
      killGraceMs: 200,
    });
    setTimeout(() => ac.abort(), 200);
    const r = await p;
    expect(r).toMatchObject({ passed: false, timedOut: false, exitCode: null });
    expect(r.output).toContain('[aborted');
    ac.abort();
    const r2 = await runTestCommand({ command: 'echo never', cwd: dir, timeoutMs: 1000, signal: ac.signal });
    expect(r2.output).not.toContain('never');
  });

  it('keeps the tail of long output with a marker of what was cut', async () => {
    const r = await runTestCommand({
      command: `i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done`,
      cwd: dir,
      timeoutMs: 30_000,
      maxOutputChars: 100,
    });
    expect(r.passed).toBe(true);
    const m = /^\[… (\d+) characters cut …\]\n([\s\S]*)$/.exec(r.output);
    expect(m).not.toBeNull();
    expect(m![2]).toHaveLength(100);
    expect(m![2]!.endsWith('line 1999\n')).toBe(true);
    // everything accounted for: 10 * "line N\n" for N < 10, 90 * 8, 900 * 9, 1000 * 10 chars
    expect(Number(m![1]) + 100).toBe(10 * 7 + 90 * 8 + 900 * 9 + 1000 * 10);
  });

  it('the environment has no planted secret, has CI=true, keeps PATH', async () => {
    process.env.NUMA_API_TOKEN = 'planted-numa-secret';
    process.env.MY_SERVICE_PASSWORD = 'planted-password';
    process.env.OPENAI_API_KEY = 'sk-plantedplantedplanted';
    try {
      const r = await runTestCommand({ command: 'env', cwd: dir, timeoutMs: 30_000 });
      expect(r.passed).toBe(true);
      expect(r.output).not.toContain('planted');
      expect(r.output).toMatch(/^CI=true$/m);
      expect(r.output).toMatch(/^PATH=/m);
    } finally {
      delete process.env.NUMA_API_TOKEN;
      delete process.env.MY_SERVICE_PASSWORD;
      delete process.env.OPENAI_API_KEY;
    }
  });

  it('a missing cwd fails cleanly', async () => {
    const r = await runTestCommand({ command: 'true', cwd: path.join(dir, 'nope'), timeoutMs: 5000 });
    expect(r).toMatchObject({ passed: false, exitCode: null });
    expect(r.output).toMatch(/could not start/);
  });

  it('TailBuffer keeps everything below the limit', () => {
    const t = new TailBuffer(10);
    t.push('abc');
    t.push('def');
    expect(t.text()).toBe('abcdef');
    t.push('0123456789');
    expect(t.text()).toBe('[… 6 characters cut …]\n0123456789');
  });
});

/** Whether the process has exited (a zombie waiting for its reaper counts) before the deadline. */
async function goneWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    let stat: string;
    try {
      stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return true;
    }
    // "pid (comm) S ..." — state after the last ')'
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
