/**
 * The real pipeline (`runTask`) on real public Python repositories: small snapshots under
 * test/fixtures/repos/ (their numa-fixture.json says where from), run against the world of
 * test/helpers/world.ts with the sandbox it chooses (bubblewrap as root here).
 *
 * - tomli (hukkin/tomli): src layout, flit, tests with unittest (its tox configuration runs
 *   `python -m unittest`), the standard library only. 16 tests at the snapshot's commit.
 * - inflection (jpvanhal/inflection): one package at the root, setuptools (setuptools_scm), tests
 *   with pytest (tox.ini's [pytest] adds --doctest-modules: the docstrings' examples are tests
 *   too). 467 tests at the snapshot's commit.
 *
 * Per repository an "add" task (the scripted model adds a function and its tests: done, pushed,
 * the count after = the baseline + the new tests, both equal to what the runner itself prints in
 * the same sandbox, run by the agent before and after its edit) and a "break" task (an edit that
 * breaks an existing function: failed TESTS_FAILED, nothing pushed, the failing tests named).
 * Plus tomli with its install step disabled (tests.setup: 'true'): the tests cannot import the
 * package, and the task ends failed "tests could not run: …" (TESTS_NOT_RUN), nothing pushed.
 *
 * The python3 the repository's commands run is the first on the PATH that the sandbox can show
 * them (sandboxPython below). As root, bubblewrap runs as a leased uid, which cannot reach a
 * toolchain below /root (pyenv's /root/.pyenv: /root is 0700), so there it is Debian's
 * /usr/bin/python3 (python3-venv; python3-pytest for inflection, which skips without it). A
 * python3 outside the system folders that the sandbox's uid can reach (PYENV_ROOT=/opt/pyenv, a
 * user's own ~/.pyenv when the runner is not root) is shown through sandbox.read_only_paths.
 * Nothing is installed from PyPI: the install step may try (its fallbacks say so in the log), and
 * the tests need nothing but the standard library and pytest.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScriptedSession } from '../../servers/scripted-model/index.ts';
import { finishTurn } from '../helpers/turns.ts';
import { SANDBOX_AVAILABLE, type World } from '../helpers/world.ts';
import {
  committedFiles,
  FIXTURES,
  fromFixture,
  loggedCounts,
  readFixture,
  repoWorld,
  runOn as runTaskOn,
  SANDBOX_SHOWN,
  tipOf,
  toolResults,
  toolTurn as call,
} from './harness.ts';

const SLOW = 300_000;

/** Whether a user that is neither the owner nor in the group can reach `dir` (x on it and every parent). */
function othersCanReach(dir: string): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    if (d === '/') return true;
  }
}

interface SandboxPython {
  /** The python3 the repository's commands find first on their PATH. */
  python?: string;
  /** What sandbox.read_only_paths must add for it to be there (a toolchain outside the system folders). */
  readOnlyPaths: string[];
  /** The python3s on the PATH before it that the sandbox cannot show, and why. */
  passedOver: string[];
}

/**
 * The python3 the repository's commands run: the first on the PATH they get (the runner's: the
 * allow-listed environment passes PATH and PYENV_ROOT), among what the sandbox can show them.
 * The system folders it always shows; another folder it shows through sandbox.read_only_paths
 * (PYENV_ROOT as a whole for pyenv's shims, which run its libexec and versions, otherwise the
 * interpreter's prefix), where the sandbox's uid can reach it: as root, bubblewrap runs as a
 * leased uid (sandbox/provider.ts), for which a folder below a 0700 one (/root) does not exist.
 */
function sandboxPython(): SandboxPython {
  const passedOver: string[] = [];
  const root = process.getuid?.() === 0;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    const file = path.join(dir, 'python3');
    try {
      accessSync(file, constants.X_OK);
    } catch {
      continue;
    }
    if (!SANDBOX_AVAILABLE || SANDBOX_SHOWN.some((p) => `${dir}/`.startsWith(p)))
      return { python: file, readOnlyPaths: [], passedOver };
    const pyenv = process.env.PYENV_ROOT;
    let show: string;
    if (pyenv && `${dir}/`.startsWith(`${pyenv}/`)) show = pyenv;
    else {
      const prefix = spawnSync(file, ['-c', 'import sys; print(sys.base_prefix)'], { encoding: 'utf8' });
      show = prefix.status === 0 ? prefix.stdout.trim() : path.dirname(realpathSync(dir));
    }
    if (root && !othersCanReach(show)) {
      passedOver.push(`${file} (${show} is not reachable by the sandbox's leased uid)`);
      continue;
    }
    // Its own folder too, where it is not below what it runs (a link farm beside the prefix).
    const extra = `${dir}/`.startsWith(`${show}/`) ? [] : [dir];
    return { python: file, readOnlyPaths: [show, ...extra], passedOver };
  }
  return { readOnlyPaths: [], passedOver };
}

const PYTHON = sandboxPython();
/** What that python3 has: what the install step builds the virtualenv from (--system-site-packages). */
const pythonHas = (module: string): boolean =>
  PYTHON.python !== undefined &&
  spawnSync(PYTHON.python, ['-c', `import ${module}`], { stdio: 'ignore', env: process.env }).status === 0;
const HAS_VENV = pythonHas('venv') && pythonHas('ensurepip');
const HAS_PYTEST = HAS_VENV && pythonHas('pytest');
/** Its sys.base_prefix: what the agent's own runs print, to show they ran this python3. */
const PREFIX =
  PYTHON.python === undefined
    ? undefined
    : spawnSync(PYTHON.python, ['-c', 'import sys; print(sys.base_prefix)'], {
        encoding: 'utf8',
      }).stdout.trim();
/** "3.11.2 /usr …": the version, then the prefix, as the *_SAYS commands print them. */
const ranThisPython = (out: string) =>
  expect(out).toMatch(
    new RegExp(`^\\d+\\.\\d+\\.\\d+\\S* ${PREFIX!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `, 'm'),
  );
const WHERE = `${PYTHON.python ?? 'no python3'}${PYTHON.readOnlyPaths.length ? ` (sandbox.read_only_paths: ${PYTHON.readOnlyPaths.join(', ')})` : ''}${PYTHON.passedOver.length ? `; not ${PYTHON.passedOver.join(', ')}` : ''}`;

const runCommand = (command: string) => call('run_command', { command, timeout_s: 300 });
const finish = (message: string) => finishTurn(message);

/**
 * What the runner prints itself, run by the agent in the same sandbox with the install step's
 * virtualenv (the only one in the run's home): its last lines, the exit code, which python.
 */
const VENV = 'V=$(ls -d "$HOME"/.numa-venvs/*/ | head -n 1); V=${V%/}';
const UNITTEST_SAYS = `${VENV}; PYTHONDONTWRITEBYTECODE=1 "$V/bin/python" -m unittest > /tmp/ut.out 2>&1; echo "exit=$?"; tail -n 3 /tmp/ut.out; "$V/bin/python" -c 'import sys, tomli; print(sys.version.split()[0], sys.base_prefix, tomli.__file__)'`;
const PYTEST_SAYS = `${VENV}; PYTHONDONTWRITEBYTECODE=1 "$V/bin/python" -m pytest -p no:cacheprovider -q > /tmp/pt.out 2>&1; echo "exit=$?"; tail -n 1 /tmp/pt.out; "$V/bin/python" -c 'import sys, pytest; print(sys.version.split()[0], sys.base_prefix, pytest.__version__)'`;

// tomli: is_valid(s), in the parser beside loads, exported, with a test module of two tests.
const TOMLI_IS_VALID = `def is_valid(__s: str) -> bool:
    """Whether the string is a valid TOML document."""
    try:
        loads(__s)
    except TOMLDecodeError:
        return False
    return True


def loads(__s: str, *, parse_float: ParseFloat = float) -> dict[str, Any]:`;

const TOMLI_IS_VALID_TEST = `import unittest

from . import tomllib


class TestIsValid(unittest.TestCase):
    def test_valid(self):
        self.assertTrue(tomllib.is_valid("one = 1\\n[table]\\ntwo = 'two'\\n"))
        self.assertTrue(tomllib.is_valid(""))

    def test_invalid(self):
        self.assertFalse(tomllib.is_valid("one = "))
        self.assertFalse(tomllib.is_valid("[table\\n"))
`;

const tomliAdd = [
  call('edit_file', {
    path: 'src/tomli/_parser.py',
    old_text: 'def loads(__s: str, *, parse_float: ParseFloat = float) -> dict[str, Any]:',
    new_text: TOMLI_IS_VALID,
  }),
  call('edit_file', {
    path: 'src/tomli/__init__.py',
    old_text:
      '__all__ = ("loads", "load", "TOMLDecodeError")\n__version__ = "2.4.0"  # DO NOT EDIT THIS LINE MANUALLY. LET bump2version UTILITY DO IT\n\nfrom ._parser import TOMLDecodeError, load, loads',
    new_text:
      '__all__ = ("loads", "load", "is_valid", "TOMLDecodeError")\n__version__ = "2.4.0"  # DO NOT EDIT THIS LINE MANUALLY. LET bump2version UTILITY DO IT\n\nfrom ._parser import TOMLDecodeError, is_valid, load, loads',
  }),
  call('write_file', { path: 'tests/test_is_valid.py', content: TOMLI_IS_VALID_TEST }),
];

// inflection: constant_case(word), with a doctest, and three cases in its test module.
const INFLECTION_CONSTANT_CASE = `def constant_case(word: str) -> str:
    """
    Make an uppercase, underscored form of the expression in the string, as
    for the name of a constant.

    Example::

        >>> constant_case("DeviceType")
        'DEVICE_TYPE'

    """
    return underscore(word).upper()


_irregular('person', 'people')`;

const INFLECTION_CONSTANT_CASE_TEST = `@pytest.mark.parametrize(("word", "constant"), (
    ("DeviceType", "DEVICE_TYPE"),
    ("street-address", "STREET_ADDRESS"),
    ("HTMLTidy", "HTML_TIDY"),
))
def test_constant_case(word: str, constant: str) -> None:
    assert constant == inflection.constant_case(word)


@pytest.mark.parametrize(("input", "expected"), UNDERSCORES_TO_DASHES)
def test_dasherize(input: str, expected: str) -> None:`;

const sessions: ScriptedSession[] = [
  {
    match: 'PY-TOMLI-ADD',
    turns: [runCommand(UNITTEST_SAYS), ...tomliAdd, runCommand(UNITTEST_SAYS), finish('Add tomli.is_valid')],
  },
  {
    match: 'PY-TOMLI-BREAK',
    turns: [
      // The message for a file opened in text mode, shortened: test_incorrect_load checks it.
      call('edit_file', {
        path: 'src/tomli/_parser.py',
        old_text: "\"File must be opened in binary mode, e.g. use `open('foo.toml', 'rb')`\"",
        new_text: '"File must be opened in binary mode"',
      }),
      finish('Shorten the text-mode error of load'),
    ],
  },
  {
    match: 'PY-TOMLI-NOINSTALL',
    turns: [...tomliAdd, finish('Add tomli.is_valid')],
  },
  {
    match: 'PY-INFLECTION-ADD',
    turns: [
      runCommand(PYTEST_SAYS),
      call('edit_file', {
        path: 'inflection/__init__.py',
        old_text: "_irregular('person', 'people')",
        new_text: INFLECTION_CONSTANT_CASE,
      }),
      call('edit_file', {
        path: 'test_inflection.py',
        old_text:
          '@pytest.mark.parametrize(("input", "expected"), UNDERSCORES_TO_DASHES)\ndef test_dasherize(input: str, expected: str) -> None:',
        new_text: INFLECTION_CONSTANT_CASE_TEST,
      }),
      runCommand(PYTEST_SAYS),
      finish('Add inflection.constant_case'),
    ],
  },
  {
    match: 'PY-INFLECTION-BREAK',
    turns: [
      // dasherize with a plus: its doctest and two of the three test_dasherize cases notice.
      call('edit_file', {
        path: 'inflection/__init__.py',
        old_text: "return word.replace('_', '-')",
        new_text: "return word.replace('_', '+')",
      }),
      finish('dasherize: join with a plus'),
    ],
  },
];

/** unittest's own figures in an UNITTEST_SAYS output: "Ran N tests", then OK or FAILED. */
function unittestSays(out: string): { exit: number; ran: number; ok: boolean } {
  return {
    exit: Number(/exit=(\d+)/.exec(out)?.[1] ?? NaN),
    ran: Number(/^Ran (\d+) tests? in /m.exec(out)?.[1] ?? NaN),
    ok: /^OK\b/m.test(out),
  };
}

/** pytest's own figures in a PYTEST_SAYS output: its summary line ("N passed in 0.7s"). */
function pytestSays(out: string): { exit: number; passed: number; failed: number } {
  const n = (re: RegExp) => Number(re.exec(out)?.[1] ?? 0);
  return {
    exit: Number(/exit=(\d+)/.exec(out)?.[1] ?? NaN),
    passed: n(/(\d+) passed/),
    failed: n(/(\d+) failed/) + n(/(\d+) errors?\b/),
  };
}

describe.skipIf(!HAS_VENV)(
  `real repositories, Python (${HAS_VENV ? WHERE : `skipped: no python3 with venv and ensurepip where the sandbox sees it: ${WHERE} (apt-get install python3-venv)`})`,
  () => {
    let world: World;
    let apps: Record<string, number> = {};

    beforeAll(async () => {
      ({ world, apps } = await repoWorld(sessions, {
        tomli: fromFixture('tomli'),
        inflection: fromFixture('inflection'),
      }));
    });

    afterAll(async () => {
      await world?.close();
    });

    /** A task through the pipeline, with the sandbox showing the Python the suite found. */
    const runOn = (app: 'tomli' | 'inflection', title: string, extra: Record<string, unknown> = {}) => {
      const sandbox = {
        ...(world.configValues().sandbox as Record<string, unknown>),
        ...(PYTHON.readOnlyPaths.length > 0 ? { read_only_paths: PYTHON.readOnlyPaths } : {}),
      };
      return runTaskOn(world, apps, app, title, { sandbox, ...extra });
    };

    it('fixtures: each says where it is from, with its license beside it', () => {
      for (const name of ['tomli', 'inflection']) {
        const f = readFixture(name);
        expect(f).toMatchObject({ name, ecosystem: 'python', license: 'MIT' });
        expect(f.source).toMatch(/^https:\/\/github\.com\/[\w-]+\/[\w-]+$/);
        expect(f.commit).toMatch(/^[0-9a-f]{40}$/);
        expect(readFileSync(path.join(FIXTURES, name, 'LICENSE'), 'utf8')).toMatch(
          /^(MIT License|Copyright)/,
        );
      }
    });

    it(
      'hukkin/tomli, add: is_valid and its test module; done, pushed, unittest counts 16 + 2',
      async () => {
        const { branch, result, log, bare } = await runOn('tomli', 'PY-TOMLI-ADD: add tomli.is_valid');
        expect(result, log).toMatchObject({ status: 'done' });
        // tomli's own runner, from its tox configuration; the project installed (or src/ on the path).
        expect(log).toMatch(
          /test command: .* -m unittest \(unittest: pyproject\.toml \[tool\.tox\.env_run_base\]/,
        );
        const counts = loggedCounts(log);
        const [beforeOut, afterOut] = toolResults(world, 'PY-TOMLI-ADD').filter((r) => r.includes('exit='));
        expect(beforeOut, log).toBeDefined();
        expect(afterOut, log).toBeDefined();
        const before = unittestSays(beforeOut!);
        const after = unittestSays(afterOut!);
        // The package imported from the repository's src/ (editable or by path), not from elsewhere.
        expect(beforeOut).toMatch(/\/src\/tomli\/__init__\.py/);
        ranThisPython(beforeOut!);
        // What the install step did (an editable install, or src/ on the path where it cannot build).
        expect(log).toMatch(/python setup: ready: /);
        expect(before).toMatchObject({ exit: 0, ok: true });
        expect(after).toMatchObject({ exit: 0, ok: true });
        expect(counts).toMatchObject({
          before: before.ran,
          beforeFailed: 0,
          after: after.ran,
          afterFailed: 0,
        });
        expect(counts.before).toBe(16);
        expect(counts.after).toBe(counts.before + 2);

        expect(await tipOf(bare, branch)).toMatch(/^[0-9a-f]{40}$/);
        // Nothing the install step or the tests made (a virtualenv, *.egg-info, __pycache__).
        expect(await committedFiles(bare, branch)).toEqual([
          'src/tomli/__init__.py',
          'src/tomli/_parser.py',
          'tests/test_is_valid.py',
        ]);
      },
      SLOW,
    );

    it(
      'hukkin/tomli, break: the text-mode error of load; failed TESTS_FAILED, test_incorrect_load named, nothing pushed',
      async () => {
        const { branch, result, log, bare } = await runOn(
          'tomli',
          'PY-TOMLI-BREAK: shorten the text-mode error of load',
          { limits: { repair_rounds: 0 } },
        );
        expect(result, log).toMatchObject({ status: 'failed', errorCode: 'TESTS_FAILED' });
        expect(`${result.reason}\n${log}`).toContain('test_incorrect_load');
        expect(log).toMatch(/baseline \(tests before the change\): 16 passed, 0 failed/);
        expect(log).toMatch(
          /tests after the change: 15 passed, 1 failed; new failures: [^;\n]*test_incorrect_load/,
        );
        expect(await tipOf(bare, branch)).toBeUndefined();
      },
      SLOW,
    );

    it(
      'hukkin/tomli without its install step (tests.setup: true): failed TESTS_NOT_RUN, the import error named, nothing pushed',
      async () => {
        const { branch, result, log, bare } = await runOn('tomli', 'PY-TOMLI-NOINSTALL: add tomli.is_valid', {
          tests: { setup: 'true' },
          limits: { repair_rounds: 0 },
        });
        expect(result, log).toMatchObject({ status: 'failed', errorCode: 'TESTS_NOT_RUN' });
        expect(result.reason).toMatch(/tests could not run: /);
        expect(result.reason).toMatch(/no module named 'tomli'/i);
        expect(log).toMatch(/the tests cannot run before the change: /);
        expect(await tipOf(bare, branch)).toBeUndefined();
      },
      SLOW,
    );

    describe.skipIf(!HAS_PYTEST)(
      `inflection (pytest)${HAS_PYTEST ? '' : `: skipped, ${PYTHON.python ?? 'python3'} has no pytest (apt-get install python3-pytest)`}`,
      () => {
        it(
          'jpvanhal/inflection, add: constant_case with a doctest and three cases; done, pushed, pytest counts 467 + 4',
          async () => {
            const { branch, result, log, bare } = await runOn(
              'inflection',
              'PY-INFLECTION-ADD: add inflection.constant_case and its tests',
            );
            expect(result, log).toMatchObject({ status: 'done' });
            // tox's invocation, less pytest-mypy's --mypy (a tox dependency, not installed here).
            expect(log).toMatch(
              /test command: .* -m pytest -p no:cacheprovider --continue-on-collection-errors \(pytest: tox\.ini \[testenv\] commands: pytest --mypy \{posargs\};/,
            );
            const counts = loggedCounts(log);
            const [beforeOut, afterOut] = toolResults(world, 'PY-INFLECTION-ADD').filter((r) =>
              r.includes('exit='),
            );
            expect(beforeOut, log).toBeDefined();
            expect(afterOut, log).toBeDefined();
            ranThisPython(beforeOut!);
            expect(log).toMatch(/python setup: ready: /);
            const before = pytestSays(beforeOut!);
            const after = pytestSays(afterOut!);
            expect(before).toMatchObject({ exit: 0, failed: 0 });
            expect(after).toMatchObject({ exit: 0, failed: 0 });
            expect(counts).toMatchObject({
              before: before.passed,
              beforeFailed: 0,
              after: after.passed,
              afterFailed: 0,
            });
            // The tests and the docstrings' examples (--doctest-modules); then the three new
            // cases and the new function's example.
            expect(counts.before).toBe(467);
            expect(counts.after).toBe(counts.before + 4);

            expect(await tipOf(bare, branch)).toMatch(/^[0-9a-f]{40}$/);
            expect(await committedFiles(bare, branch)).toEqual([
              'inflection/__init__.py',
              'test_inflection.py',
            ]);
          },
          SLOW,
        );

        it(
          'jpvanhal/inflection, break: dasherize; failed TESTS_FAILED, its doctest and test cases named, nothing pushed',
          async () => {
            const { branch, result, log, bare } = await runOn(
              'inflection',
              'PY-INFLECTION-BREAK: dasherize with a plus',
              { limits: { repair_rounds: 0 } },
            );
            expect(result, log).toMatchObject({ status: 'failed', errorCode: 'TESTS_FAILED' });
            const said = `${result.reason}\n${log}`;
            expect(said).toContain('test_dasherize[street_address-street-address]');
            expect(said).toContain('test_dasherize[person_street_address-person-street-address]');
            expect(said).toContain('inflection.dasherize');
            expect(log).toMatch(/baseline \(tests before the change\): 467 passed, 0 failed/);
            expect(log).toMatch(/tests after the change: 464 passed, 3 failed; new failures: /);
            expect(await tipOf(bare, branch)).toBeUndefined();
          },
          SLOW,
        );
      },
    );
  },
);
