/**
 * Python repositories through the detector, its install step and its test command, run for real
 * (python3 with pytest, no network: pip is pointed at no index and no configuration file, as the
 * sandbox's setup step is where PyPI is not on sandbox.network.allow). HOME is a folder of the
 * test's own, as the sandbox gives each run one.
 */
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectTestCommand, type DetectedTestCommand } from '../../container/runner/testing/detect.ts';
import { detectPython } from '../../container/runner/testing/ecosystems/python.ts';
import { readPythonProject } from '../../container/runner/testing/ecosystems/python-project.ts';
import {
  fromToxIni,
  runnerFromArgv,
  shellWords,
} from '../../container/runner/testing/ecosystems/python-runner.ts';
import { pythonVenvDir } from '../../container/runner/testing/ecosystems/python-setup.ts';
import { parseToml, TomlError } from '../../container/runner/testing/ecosystems/toml.ts';
import { runTestCommand, type TestRunResult } from '../../container/runner/testing/run.ts';

let root: string;
let repoDir: string;
let home: string;
beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'numa-python-'));
  repoDir = path.join(root, 'repo');
  home = path.join(root, 'home');
  await fs.mkdir(repoDir);
  await fs.mkdir(home);
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function repo(files: Record<string, string>): Promise<string> {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(repoDir, rel);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, content);
  }
  return repoDir;
}

/**
 * Every path under the repository, for "the setup and the tests left nothing in it". Except
 * .benchmarks: pytest-benchmark, where the machine's python3 has it (the virtualenv sees the
 * system's packages), makes that folder in every pytest run's rootdir, whatever the project.
 */
async function tree(dir = repoDir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    const rel = path.relative(repoDir, path.join(e.parentPath, e.name));
    if (!(rel === '.benchmarks' || rel.startsWith('.benchmarks/')) || !pythonHas('pytest_benchmark'))
      out.push(rel);
  }
  return out.sort();
}

/** What a setup step of the sandbox has, offline: no index, no pip configuration of the machine's. */
function offlineEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    TMPDIR: os.tmpdir(),
    LANG: 'C.UTF-8',
    PIP_CONFIG_FILE: os.devNull,
    PIP_NO_INDEX: '1',
    ...extra,
  };
}

function run(command: string, env = offlineEnv()): Promise<TestRunResult> {
  return runTestCommand({ command, cwd: repoDir, timeoutMs: 180_000, env });
}

async function detected(): Promise<DetectedTestCommand> {
  const d = await detectTestCommand(repoDir);
  if (!d?.setup) throw new Error(`no Python test command with a setup step: ${JSON.stringify(d)}`);
  return d;
}

function pythonHas(module: string): boolean {
  return spawnSync('python3', ['-c', `import ${module}`], { stdio: 'ignore' }).status === 0;
}

const SLOW = 240_000;

describe('a src-layout flit project whose tests import the package (the tomli case)', () => {
  const files = {
    'pyproject.toml': [
      '[build-system]',
      'requires = ["flit_core>=3.2,<4"]',
      'build-backend = "flit_core.buildapi"',
      '',
      '[project]',
      'name = "tomlish"',
      'version = "1.0"',
      'description = "reads key=value lines"',
      '',
      '[tool.tox]',
      'env_list = ["3.11"]',
      '',
      '[tool.tox.env_run_base]',
      'commands = [',
      '    ["python", "-m", "unittest", { replace = "posargs", extend = true }],',
      ']',
      '',
    ].join('\n'),
    'src/tomlish/__init__.py':
      'def loads(s):\n    return dict(line.split("=", 1) for line in s.splitlines() if line)\n',
    'tests/__init__.py': '',
    'tests/test_loads.py': [
      'import unittest',
      '',
      'import tomlish',
      '',
      '',
      'class TestLoads(unittest.TestCase):',
      '    def test_one(self):',
      '        self.assertEqual(tomlish.loads("a=1"), {"a": "1"})',
      '',
      '    def test_two(self):',
      '        self.assertEqual(tomlish.loads("a=1\\nb=2"), {"a": "1", "b": "2"})',
      '',
    ].join('\n'),
  };

  it(
    'fails to import without the setup step, passes after it, and sees the changes made after it',
    async () => {
      await repo(files);
      const before = await tree();
      const d = await detected();
      expect(d.source).toMatch(/^unittest: pyproject\.toml \[tool\.tox\.env_run_base\] commands: /);
      expect(d.command).toMatch(/ -m unittest$/);

      // What the avatar ran before: every test module fails to import.
      const old = await run('PYTHONDONTWRITEBYTECODE=1 python3 -m unittest');
      expect(old.passed).toBe(false);
      expect(old.output).toContain("ModuleNotFoundError: No module named 'tomlish'");
      // The detected command without its setup step: the same.
      const unset = await run(d.command);
      expect(unset.passed).toBe(false);
      expect(unset.output).toContain("No module named 'tomlish'");

      const setup = await run(d.setup!);
      expect(setup.passed, setup.output).toBe(true);
      // Which fallback applied depends on what the system has, and the output says it plainly.
      if (pythonHas('flit_core.buildapi')) {
        expect(setup.output).toContain("with the system's build backend (no build isolation)");
      } else {
        expect(setup.output).toContain(
          'python setup: the install failed, and the build backend flit_core.buildapi is not on the system',
        );
        expect(setup.output).toContain(
          `python setup: FALLBACK: the project could not be installed: ${repoDir}/src is on the virtualenv's path instead`,
        );
      }
      const green = await run(d.command);
      expect(green.passed, green.output).toBe(true);
      expect(green.output).toMatch(/Ran 2 tests[\s\S]*\nOK\n/);

      // A second setup (a later task on the same workspace) keeps the virtualenv.
      const again = await run(d.setup!);
      expect(again.passed).toBe(true);
      expect(again.output).toMatch(/python setup: virtualenv \S+ \(from an earlier setup\)/);

      // The venv is under HOME, and neither the setup nor the tests left anything in the repository.
      await fs.access(path.join(home, '.numa-venvs'));
      expect(await tree()).toEqual(before);

      // The tests run the repository's current source, not a copy made at setup time.
      await repo({ 'src/tomlish/__init__.py': 'def loads(s):\n    return {}\n' });
      const red = await run(d.command);
      expect(red.passed).toBe(false);
      expect(red.output).toContain('FAILED (failures=2)');
    },
    SLOW,
  );
});

/**
 * A build backend of the test project's own (PEP 517/660, standard library only), so that each
 * step of pip's fallbacks can be made to fail or succeed on any machine: its build requirements,
 * its runtime dependencies and the backend itself are what the cases vary.
 */
const BACKEND = `
import base64, hashlib, os, zipfile

NAME, VERSION = "inhouse", "1.0"


def _wheel(directory, files, requires):
    dist = f"{NAME}-{VERSION}.dist-info"
    meta = [f"Metadata-Version: 2.1", f"Name: {NAME}", f"Version: {VERSION}", "Provides-Extra: test"]
    meta += [f"Requires-Dist: {r}" for r in requires] + ['Requires-Dist: pytest; extra == "test"']
    files = dict(files)
    files[f"{dist}/METADATA"] = "\\n".join(meta) + "\\n"
    files[f"{dist}/WHEEL"] = "Wheel-Version: 1.0\\nGenerator: inhouse\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(os.path.join(directory, name), "w") as z:
        for path, text in files.items():
            data = text.encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
            z.writestr(path, data)
        record.append(f"{dist}/RECORD,,")
        z.writestr(f"{dist}/RECORD", "\\n".join(record) + "\\n")
    return name


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, {f"{NAME}.pth": os.path.abspath("src") + "\\n"}, REQUIRES)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("editable installs only")


def build_sdist(sdist_directory, config_settings=None):
    raise RuntimeError("editable installs only")
`;

function inhouse(opts: { buildRequires: string[]; dependencies: string[]; backend?: string }) {
  const list = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(', ')}]`;
  return {
    'pyproject.toml': [
      '[build-system]',
      `requires = ${list(opts.buildRequires)}`,
      `build-backend = "${opts.backend ?? 'backend'}"`,
      'backend-path = ["_build"]',
      '',
      '[project]',
      'name = "inhouse"',
      'version = "1.0"',
      `dependencies = ${list(opts.dependencies)}`,
      '',
      '[project.optional-dependencies]',
      'test = ["pytest"]',
      '',
    ].join('\n'),
    '_build/backend.py': `REQUIRES = ${list(opts.dependencies)}\n${BACKEND}`,
    'src/inhouse/__init__.py': 'def double(x):\n    return 2 * x\n',
    'tests/test_double.py':
      'import pytest\n\nfrom inhouse import double\n\n\ndef test_double():\n    assert double(2) == 4\n',
  };
}

interface Case {
  name: string;
  files: Record<string, string>;
  says: string;
  alsoSays?: string;
  notSays: string[];
}

describe("pip's fallbacks, each made to apply (an in-tree build backend)", () => {
  it.each<Case>([
    {
      name: 'everything installs: pip install -e .[test]',
      files: inhouse({ buildRequires: [], dependencies: [] }),
      says: 'python setup: ready: pip, editable, with extras test;',
      notSays: ['without build isolation', 'FALLBACK'],
    },
    {
      name: 'the build requirements cannot be fetched: no build isolation, with the system backend',
      files: inhouse({ buildRequires: ['numa-test-absent-build-requirement'], dependencies: [] }),
      says: "python setup: ready: pip, editable, with extras test, with the system's build backend (no build isolation);",
      notSays: ['FALLBACK'],
    },
    {
      name: 'the dependencies cannot be fetched either: the project alone, --no-deps',
      files: inhouse({
        buildRequires: ['numa-test-absent-build-requirement'],
        dependencies: ['numa-test-absent-dependency'],
      }),
      says: 'python setup: ready: FALLBACK: the project only (pip install --no-build-isolation --no-deps -e .): its requirements and test requirements are NOT installed;',
      notSays: ["is on the virtualenv's path instead"],
    },
    {
      name: 'the build backend is not there at all: src/ on the path',
      files: inhouse({
        buildRequires: ['numa-test-absent-build-requirement'],
        dependencies: [],
        backend: 'numa_test_absent_backend',
      }),
      says: "python setup: ready: FALLBACK: the project could not be installed: REPO/src is on the virtualenv's path instead",
      alsoSays:
        'python setup: the install failed, and the build backend numa_test_absent_backend is not on the system',
      notSays: ['-m pip install --no-build-isolation'],
    },
  ])(
    '$name',
    async ({ files, says, alsoSays, notSays }: Case) => {
      await repo(files);
      const before = await tree();
      const d = await detected();
      expect(d.source).toBe(
        'pytest: tests/test_double.py imports pytest; install: pip, the project (src layout), editable with extra test, in a virtualenv under $HOME',
      );
      const unset = await run(d.command);
      expect(unset.passed).toBe(false);
      expect(unset.output).toContain("No module named 'inhouse'");

      const setup = await run(d.setup!);
      expect(setup.passed, setup.output).toBe(true);
      expect(setup.output).toContain(says.replace('REPO', repoDir));
      if (alsoSays) expect(setup.output).toContain(alsoSays);
      for (const s of notSays) expect(setup.output).not.toContain(s);
      expect(setup.output).toMatch(/^python setup: pytest \d+\./m);

      const t = await run(d.command);
      expect(t.passed, t.output).toBe(true);
      expect(t.output).toMatch(/^1 passed/m);
      expect(await tree()).toEqual(before);
    },
    SLOW,
  );
});

describe('the runner the project uses', () => {
  it(
    'unittest where the tests are TestCases: its load_tests (doctests here) runs, which pytest would skip',
    async () => {
      await repo({
        'pyproject.toml':
          '[build-system]\nrequires = ["flit_core>=3.2,<4"]\nbuild-backend = "flit_core.buildapi"\n\n[project]\nname = "more"\nversion = "1.0"\ndescription = "x"\n',
        'more/__init__.py':
          'def first(xs):\n    """\n    >>> first([3, 4])\n    3\n    """\n    return xs[0]\n',
        'tests/__init__.py': '',
        'tests/test_more.py': [
          'import doctest',
          'import unittest',
          '',
          'import more',
          '',
          '',
          'def load_tests(loader, tests, pattern):',
          '    tests.addTests(doctest.DocTestSuite(more))',
          '    return tests',
          '',
          '',
          'class TestFirst(unittest.TestCase):',
          '    def test_first(self):',
          '        self.assertEqual(more.first([1, 2]), 1)',
          '',
          '    def test_empty(self):',
          '        with self.assertRaises(IndexError):',
          '            more.first([])',
          '',
        ].join('\n'),
      });
      const d = await detected();
      expect(d.source).toMatch(
        /^unittest: test files \(tests\/test_more\.py\) that do not use pytest; install: pip, the project, editable/,
      );
      expect(d.command).toMatch(/"\$PY" -m unittest$/);
      expect((await run(d.setup!)).passed).toBe(true);
      const t = await run(d.command);
      expect(t.passed, t.output).toBe(true);
      expect(t.output).toContain('Ran 3 tests');
      // The same tests under pytest: the doctest is not collected.
      const pytest = await run('PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -q -p no:cacheprovider');
      expect(pytest.output).toMatch(/^2 passed/m);
    },
    SLOW,
  );

  it(
    'pytest where the tests import it, with no configuration at all',
    async () => {
      await repo({
        'calc.py': 'def add(a, b):\n    return a + b\n',
        'tests/test_calc.py':
          'import pytest\n\nfrom calc import add\n\n\n@pytest.mark.parametrize("a,b,c", [(1, 1, 2), (2, 3, 5), (0, 0, 0)])\ndef test_add(a, b, c):\n    assert add(a, b) == c\n',
      });
      const d = await detected();
      expect(d.source).toBe(
        'pytest: tests/test_calc.py imports pytest; install: pip, its requirements only, in a virtualenv under $HOME',
      );
      const setup = await run(d.setup!);
      expect(setup.passed, setup.output).toBe(true);
      expect(setup.output).toContain(
        'python setup: ready: nothing to install (no build configuration, no requirements);',
      );
      const t = await run(d.command);
      expect(t.passed, t.output).toBe(true);
      expect(t.output).toMatch(/^3 passed/m);
    },
    SLOW,
  );

  it(
    'no build configuration, a requirements.txt that cannot be installed offline: said so, src/ on the path',
    async () => {
      await repo({
        'requirements.txt': 'numa-test-absent-requirement==1.0\n',
        'src/lib/__init__.py': 'ANSWER = 42\n',
        'tests/test_lib.py':
          'import unittest\n\nimport lib\n\n\nclass T(unittest.TestCase):\n    def test_answer(self):\n        self.assertEqual(lib.ANSWER, 42)\n',
      });
      const d = await detected();
      expect(d.source).toBe(
        'unittest: test files (tests/test_lib.py) that do not use pytest; install: pip, its requirements only with requirements.txt, in a virtualenv under $HOME',
      );
      expect(d.command).toMatch(/ -m unittest discover -s tests$/);
      const setup = await run(d.setup!);
      expect(setup.passed, setup.output).toBe(true);
      expect(setup.output).toContain(
        'python setup: WARNING: the requirements could not be installed (no network?): tests that import them will fail\n',
      );
      expect(setup.output).toMatch(
        new RegExp(
          `python setup: ready: WARNING: .*; the project has no build configuration: ${repoDir}/src is on the virtualenv's path \\(`,
        ),
      );
      const t = await run(d.command);
      expect(t.passed, t.output).toBe(true);
      expect(t.output).toContain('Ran 1 test');
    },
    SLOW,
  );

  it(
    "tox.ini's commands: unittest discover with a folder and a pattern of its own",
    async () => {
      await repo({
        'tox.ini': [
          '[tox]',
          'envlist = py3',
          '',
          '[testenv]',
          'commands =',
          '    python -m pip --version',
          '    {envpython} -m unittest discover -s checks -p "check_*.py" {posargs}',
          '',
        ].join('\n'),
        'setup.py': 'from setuptools import setup\nsetup(name="checked", py_modules=["checked"])\n',
        'checked.py': 'VALUE = 42\n',
        'checks/check_value.py':
          'import unittest\n\nimport checked\n\n\nclass T(unittest.TestCase):\n    def test_value(self):\n        self.assertEqual(checked.VALUE, 42)\n',
      });
      const d = await detected();
      expect(d.source).toMatch(
        /^unittest: tox\.ini \[testenv\] commands: \{envpython\} -m unittest discover/,
      );
      expect(d.command).toMatch(/ "\$PY" -m unittest discover -s checks -p 'check_\*\.py'$/);
      expect((await run(d.setup!)).passed).toBe(true);
      const t = await run(d.command);
      expect(t.passed, t.output).toBe(true);
      expect(t.output).toContain('Ran 1 test');
      // unittest's own default finds nothing there.
      expect((await run('PYTHONDONTWRITEBYTECODE=1 python3 -m unittest')).output).toContain('Ran 0 tests');
    },
    SLOW,
  );

  it(
    "tox.ini's commands: pytest with {posargs:default} and pytest-cov's options left out",
    async () => {
      await repo({
        'tox.ini':
          '[testenv]\ndeps = pytest-cov\ncommands = pytest --cov=app --cov-report term-missing {posargs:tests/unit}\n',
        'app.py': 'def ok():\n    return True\n',
        'tests/unit/test_ok.py': 'from app import ok\n\n\ndef test_ok():\n    assert ok()\n',
        'tests/slow/test_not_now.py': 'def test_slow():\n    assert False, "tox runs tests/unit only"\n',
      });
      const d = await detected();
      expect(d.command).toMatch(
        / "\$PY" -m pytest -p no:cacheprovider --continue-on-collection-errors tests\/unit$/,
      );
      expect((await run(d.setup!)).passed).toBe(true);
      const t = await run(d.command);
      expect(t.passed, t.output).toBe(true);
      expect(t.output).toMatch(/1 passed/);
    },
    SLOW,
  );
});

describe('uv, Poetry and PDM by lockfile (stand-ins on the PATH), pip when they are missing or fail', () => {
  const project = {
    'pyproject.toml': [
      '[build-system]',
      'requires = ["flit_core>=3.2,<4"]',
      'build-backend = "flit_core.buildapi"',
      '',
      '[project]',
      'name = "tool"',
      'version = "1.0"',
      'description = "x"',
      '',
      '[project.optional-dependencies]',
      'test = ["pytest"]',
      '',
      '[dependency-groups]',
      'test = ["pytest>=7"]',
      '',
    ].join('\n'),
    'src/tool/__init__.py': 'NAME = "tool"\n',
    'tests/test_tool.py': 'import tool\n\n\ndef test_name():\n    assert tool.NAME == "tool"\n',
  };

  async function standIn(name: string, script: string): Promise<string> {
    const bin = path.join(root, 'bin');
    await fs.mkdir(bin, { recursive: true });
    await fs.writeFile(path.join(bin, name), `#!/bin/sh\n${script}`, { mode: 0o755 });
    return bin;
  }

  it(
    'uv sync into the virtualenv, the lockfile as it is',
    async () => {
      await repo({ ...project, 'uv.lock': 'version = 1\n' });
      const log = path.join(root, 'uv.log');
      // Installs the project as uv would for an editable one: its src/ on the environment's path.
      const bin = await standIn(
        'uv',
        [
          'echo "uv $* UV_PROJECT_ENVIRONMENT=$UV_PROJECT_ENVIRONMENT" > "$STAND_IN_LOG"',
          'site=$("$UV_PROJECT_ENVIRONMENT/bin/python" -c \'import sysconfig; print(sysconfig.get_paths()["purelib"])\')',
          'echo "$PWD/src" > "$site/stand-in-uv.pth"',
          '',
        ].join('\n'),
      );
      const env = offlineEnv({ PATH: `${bin}:${process.env.PATH}`, STAND_IN_LOG: log });
      const d = await detected();
      expect(d.source).toContain('install: uv (uv.lock), pip where uv is missing or fails');
      const setup = await run(d.setup!, env);
      expect(setup.passed, setup.output).toBe(true);
      expect(setup.output).toContain('python setup: ready: uv (uv.lock);');
      expect(setup.output).not.toContain('-m pip install');
      const venv = pythonVenvDir(repoDir).replace('$HOME', home);
      expect(await fs.readFile(log, 'utf8')).toBe(
        `uv sync --frozen --inexact --extra test --group test UV_PROJECT_ENVIRONMENT=${venv}\n`,
      );
      const t = await run(d.command, env);
      expect(t.passed, t.output).toBe(true);
    },
    SLOW,
  );

  it(
    'Poetry that fails, and a PDM lockfile without PDM: pip instead, said so',
    async () => {
      await repo({ ...project, 'poetry.lock': '' });
      const bin = await standIn('poetry', 'echo "poetry: the lock file is out of date" >&2\nexit 1\n');
      const env = offlineEnv({ PATH: `${bin}:${process.env.PATH}` });
      let d = await detected();
      let setup = await run(d.setup!, env);
      expect(setup.passed, setup.output).toBe(true);
      expect(setup.output).toContain('python setup: $ env VIRTUAL_ENV=');
      expect(setup.output).toContain('poetry install --no-interaction --extras test');
      expect(setup.output).toContain('python setup: poetry failed: installing with pip instead');
      expect(setup.output).toContain('-m pip install -e .[test] pytest>=7\n');
      expect((await run(d.command, env)).passed).toBe(true);

      await fs.rm(path.join(repoDir, 'poetry.lock'));
      await repo({ 'pdm.lock': '' });
      d = await detected();
      setup = await run(d.setup!, offlineEnv());
      expect(setup.passed, setup.output).toBe(true);
      expect(setup.output).toContain(
        'python setup: pdm.lock, but no pdm on the PATH: installing with pip instead',
      );
      expect((await run(d.command)).passed).toBe(true);
    },
    SLOW,
  );
});

describe('what the detector reads (no Python run)', () => {
  it('a virtualenv per workspace, under HOME, never in the repository', async () => {
    await repo({ 'tests/test_x.py': 'def test_x():\n    pass\n' });
    const d = (await detectPython(repoDir))!;
    const venv = pythonVenvDir(repoDir);
    expect(venv).toMatch(/^\$HOME\/\.numa-venvs\/[0-9a-f]{12}$/);
    expect(pythonVenvDir(path.join(root, 'other'))).not.toBe(venv);
    expect(d.setup).toContain(`V="${venv}"`);
    expect(d.command).toBe(
      `PY="${venv}/bin/python"; [ -x "$PY" ] || PY=python3; PYTHONDONTWRITEBYTECODE=1 "$PY" -m pytest -p no:cacheprovider --continue-on-collection-errors -q`,
    );
  });

  it('a noxfile session (more-itertools style): sys.executable -m unittest -v, posargs left out', async () => {
    await repo({
      'noxfile.py': [
        'import sys',
        'import nox',
        '',
        '@nox.session',
        'def coverage(session):',
        '    session.install("coverage")',
        '    session.run("coverage", "run", "--include=pkg/*.py", "-m", "unittest", *session.posargs)',
        '',
        '@nox.session',
        'def test(session: nox.Session) -> None:',
        '    session.install("-e", ".")',
        '    session.run(sys.executable, "-m", "unittest", "-v", *session.posargs)',
        '',
      ].join('\n'),
    });
    const d = (await detectPython(repoDir))!;
    expect(d.command).toMatch(/"\$PY" -m unittest -v$/);
    expect(d.source).toMatch(
      /^unittest: noxfile\.py session test: session\.run\(sys\.executable, "-m", "unittest", "-v", \*session\.posargs\)/,
    );
  });

  it('tox lines that are not plain commands are passed over', () => {
    const ini = (commands: string) => `[testenv]\ncommands =\n${commands}\n`;
    expect(
      fromToxIni(ini('    py38: pytest -x\n    - pytest --lf\n    pytest {env:ARGS}\n'), 'tox.ini'),
    ).toBeUndefined();
    expect(fromToxIni(ini('    flake8 src\n    python -m pytest [] -x'), 'tox.ini')).toMatchObject({
      kind: 'pytest',
      args: ['-x'],
    });
    // A line continued with a backslash; [testenv:…] when [testenv] runs no tests.
    expect(
      fromToxIni(
        '[testenv]\ncommands = flake8\n[testenv:unit]\ncommands = pytest \\\n    tests -q\n',
        'tox.ini',
      ),
    ).toMatchObject({
      kind: 'pytest',
      args: ['tests', '-q'],
      source: 'pytest: tox.ini [testenv:unit] commands: pytest tests -q',
    });
  });

  it.each([
    [['pytest', '-x', 'tests'], { kind: 'pytest', pythonArgs: [], args: ['-x', 'tests'] }],
    [['py.test'], { kind: 'pytest', pythonArgs: [], args: [] }],
    [
      ['python3', '-W', 'error', '-m', 'unittest', 'discover'],
      { kind: 'unittest', pythonArgs: ['-W', 'error'], args: ['discover'] },
    ],
    [
      ['coverage', 'run', '--source', 'x', '-m', 'pytest', '--cov', 'x', '-q'],
      { kind: 'pytest', pythonArgs: [], args: ['-q'] },
    ],
    [['python', '-m', 'coverage', 'run', '-m', 'unittest'], { kind: 'unittest', pythonArgs: [], args: [] }],
    [['python', 'setup.py', 'test'], undefined],
    [['python', 'script.py', '-m', 'pytest'], undefined],
    [['python', '-m', 'pip', 'install', '.'], undefined],
    [['coverage', 'report'], undefined],
  ])('runnerFromArgv(%j)', (argv, expected) => {
    expect(runnerFromArgv(argv)).toEqual(expected);
  });

  it('shell words as tox splits them', () => {
    expect(shellWords(`pytest -k "not slow and x" 'a b' c\\ d`)).toEqual([
      'pytest',
      '-k',
      'not slow and x',
      'a b',
      'c d',
    ]);
    expect(shellWords('pytest "open')).toBeUndefined();
  });

  it('dependency groups with include-group, requirements files, the pip line and the uv line', async () => {
    await repo({
      'pyproject.toml': [
        '[project]',
        'name = "g"',
        'version = "1"',
        '[project.optional-dependencies]',
        'docs = ["sphinx"]',
        'dev = ["black"]',
        '[dependency-groups]',
        'lint = ["ruff"]',
        'test = ["pytest>=8", {include-group = "fixtures"}]',
        "fixtures = ['hypothesis', \"freezegun; python_version < '3.13'\"]",
        '',
      ].join('\n'),
      'requirements.txt': 'attrs\n',
      'requirements-dev.txt': 'black\n',
      'requirements/test.txt': 'pytest\n',
      'tests/test_g.py': 'def test_g():\n    pass\n',
    });
    const p = await readPythonProject(repoDir);
    expect(p).toMatchObject({
      installable: true,
      manager: 'pip',
      extras: ['dev'],
      dependencyGroups: ['test'],
      groupRequirements: ['pytest>=8', 'hypothesis', "freezegun; python_version < '3.13'"],
      requirementFiles: ['requirements.txt', 'requirements/test.txt'],
      srcLayout: false,
    });
    const d = (await detectPython(repoDir))!;
    expect(d.setup).toContain(
      `run "$PY" -m pip install -e '.[dev]' -r requirements.txt -r requirements/test.txt 'pytest>=8' hypothesis 'freezegun; python_version < '\\''3.13'\\'''`,
    );
    await repo({ 'uv.lock': '' });
    expect((await detectPython(repoDir))!.setup).toContain(
      'run env UV_PROJECT_ENVIRONMENT="$V" uv sync --frozen --inexact --extra dev --group test',
    );
  });

  it('Poetry: optional test groups with --with; PDM: extras and dev groups with -G, .pdm-python not left behind', async () => {
    await repo({
      'pyproject.toml': [
        '[tool.poetry]',
        'name = "p"',
        '[tool.poetry.group.test]',
        'optional = true',
        '[tool.poetry.group.test.dependencies]',
        'pytest = "^8"',
        '[tool.poetry.group.docs]',
        'optional = true',
        '',
      ].join('\n'),
      'poetry.lock': '',
      'tests/test_p.py': 'import pytest\n',
    });
    expect((await detectPython(repoDir))!.setup).toContain(
      'run env VIRTUAL_ENV="$V" PATH="$V/bin:$PATH" poetry install --no-interaction --with test; then',
    );
    await fs.rm(path.join(repoDir, 'poetry.lock'));
    await repo({
      'pyproject.toml':
        '[project]\nname = "p"\nversion = "1"\n[project.optional-dependencies]\ntest = ["pytest"]\n[tool.pdm.dev-dependencies]\ntesting = ["pytest-mock"]\n',
      'pdm.lock': '',
    });
    const setup = (await detectPython(repoDir))!.setup!;
    expect(setup).toContain('pdm sync -G test -G testing');
    expect(setup).toContain('[ -n "$had_pdm_python" ] || rm -f .pdm-python');
  });

  it('a pyproject.toml that cannot be read still gets the project installed, and says why it read nothing', async () => {
    await repo({ 'pyproject.toml': '[project\nname = "x"\n', 'tests/test_x.py': 'import unittest\n' });
    const d = (await detectPython(repoDir))!;
    expect(d.source).toMatch(
      /^unittest: .*install: pip, the project, editable, in a virtualenv under \$HOME \(pyproject\.toml could not be read: "]" was expected after a key \(line 1\)\)$/,
    );
    expect(d.setup).toContain('-m pip install -e .;');
  });
});

describe('the TOML reader', () => {
  it('reads what pyproject files use', () => {
    const doc = parseToml(
      [
        '# comment',
        '[build-system]',
        'requires = [',
        '  "flit_core >=3.2,<4", # trailing comment',
        "  'literal\\no-escape',",
        ']',
        '[project]',
        'name = "x\\u00e9\\"q"',
        'version.attr = "pkg.__version__"',
        'license = { text = "MIT" }',
        'n = 1_000',
        'f = 1.5',
        'yes = true',
        'when = 1979-05-27T07:32:00Z',
        '[project."optional-dependencies"]',
        'test = []',
        '[[tool.mypy.overrides]]',
        'module = "a"',
        '[[tool.mypy.overrides]]',
        'module = "b"',
        '[tool.tox]',
        'legacy_tox_ini = """',
        '[testenv]',
        'commands = pytest \\',
        '   -q',
        '"""',
        "raw = '''",
        "a\\b'''",
        '__proto__ = "just a key"',
      ].join('\n'),
    );
    expect(doc).toEqual({
      'build-system': { requires: ['flit_core >=3.2,<4', 'literal\\no-escape'] },
      project: {
        name: 'xé"q',
        version: { attr: 'pkg.__version__' },
        license: { text: 'MIT' },
        n: 1000,
        f: 1.5,
        yes: true,
        when: '1979-05-27T07:32:00Z',
        'optional-dependencies': { test: [] },
      },
      tool: {
        mypy: { overrides: [{ module: 'a' }, { module: 'b' }] },
        tox: {
          legacy_tox_ini: '[testenv]\ncommands = pytest -q\n',
          raw: 'a\\b',
          ['__proto__']: 'just a key',
        },
      },
    });
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });

  it.each(['[project\nname = 1', 'a = "open', 'a = [1, 2', 'a = 1 b = 2', 'a = "\\q"'])(
    'refuses %j',
    (text) => {
      expect(() => parseToml(text)).toThrow(TomlError);
    },
  );
});
