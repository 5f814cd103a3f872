/**
 * Which test runner a Python repository really uses, and with which arguments:
 *   1. the invocation its tox configuration (tox.ini, setup.cfg, pyproject.toml [tool.tox], tox.toml)
 *      or its noxfile runs, where it is a plain `pytest …` / `python -m unittest …` (coverage's
 *      `coverage run -m …` counts: the runner under it is what is kept);
 *   2. pytest where the repository configures it (pytest.ini, pytest.toml, [tool.pytest…],
 *      setup.cfg [tool:pytest], tox.ini [pytest], conftest.py) or its tests import it or are bare
 *      `def test_…` functions;
 *   3. `python -m unittest` otherwise, when there are test files at all.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { exists, readText } from './common.ts';
import { iniSection, type PythonProject } from './python-project.ts';
import { isTable, parseToml, tomlGet, type TomlTable, type TomlValue } from './toml.ts';

export type PythonRunnerKind = 'pytest' | 'unittest';

export interface PythonRunner {
  kind: PythonRunnerKind;
  /** Options for the interpreter itself, before `-m` (e.g. `-W error`). */
  pythonArgs: string[];
  /** Arguments after `-m pytest` / `-m unittest`. */
  args: string[];
  /** Why this runner, for the logs. */
  source: string;
}

export async function choosePythonRunner(
  dir: string,
  project: PythonProject,
): Promise<PythonRunner | undefined> {
  const declared = (await fromTox(dir, project)) ?? (await fromNox(dir));
  if (declared) return declared;

  const configured = await pytestConfiguredBy(dir, project);
  if (configured) return { kind: 'pytest', pythonArgs: [], args: ['-q'], source: configured };

  const tests = await findTestFiles(dir);
  if (tests.files.length === 0) return undefined;
  if (tests.pytestStyle) {
    return { kind: 'pytest', pythonArgs: [], args: ['-q'], source: `pytest: ${tests.pytestStyle}` };
  }
  return {
    kind: 'unittest',
    pythonArgs: [],
    args: await unittestArgs(dir, tests.files),
    source: `unittest: test files (${tests.files.slice(0, 3).join(', ')}${tests.files.length > 3 ? ', …' : ''}) that do not use pytest`,
  };
}

// ---------------------------------------------------------------------------------------------
// tox and nox

async function fromTox(dir: string, project: PythonProject): Promise<PythonRunner | undefined> {
  const toxIni = await readText(dir, 'tox.ini');
  if (toxIni !== undefined) {
    const r = fromToxIni(toxIni, 'tox.ini');
    if (r) return r;
  }
  if (project.setupCfg !== undefined) {
    const r = fromToxIni(project.setupCfg, 'setup.cfg');
    if (r) return r;
  }
  const pyTox = project.pyproject && tomlGet(project.pyproject, 'tool', 'tox');
  if (isTable(pyTox)) {
    const legacy = pyTox.legacy_tox_ini;
    if (typeof legacy === 'string') {
      const r = fromToxIni(legacy, 'pyproject.toml [tool.tox] legacy_tox_ini');
      if (r) return r;
    }
    const r = fromToxToml(pyTox, 'pyproject.toml [tool.tox.');
    if (r) return r;
  }
  const toxToml = await readText(dir, 'tox.toml');
  if (toxToml !== undefined) {
    try {
      const r = fromToxToml(parseToml(toxToml), 'tox.toml [');
      if (r) return r;
    } catch {
      // An unreadable tox.toml says nothing about the runner.
    }
  }
  return undefined;
}

/** [testenv] first, then each [testenv:…] in the file's order; in each, the first runner line. */
export function fromToxIni(text: string, file: string): PythonRunner | undefined {
  const names = [...text.matchAll(/^\[(testenv(?::[^\]]*)?)\]\s*$/gm)].map((m) => m[1]!);
  names.sort((a, b) => Number(a !== 'testenv') - Number(b !== 'testenv'));
  for (const name of names) {
    const commands = iniSection(text, name)?.commands;
    if (commands === undefined) continue;
    // A line ending in a backslash goes on on the next one.
    for (const line of commands.replace(/\\\n/g, ' ').split('\n')) {
      const r = fromToxLine(line.trim());
      if (r)
        return {
          ...r,
          source: `${describe(r.kind)}: ${file} [${name}] commands: ${line.trim().replace(/\s+/g, ' ')}`,
        };
    }
  }
  return undefined;
}

function fromToxLine(line: string): Omit<PythonRunner, 'source'> | undefined {
  // `- cmd` ignores the exit code, `! cmd` inverts it, `factor: cmd` runs in some envs only.
  if (line === '' || /^[-!]/.test(line) || /^[\w.,!-]+:\s/.test(line)) return undefined;
  const substituted = substitute(line.replace(/(^|\s)\[\](?=\s|$)/g, ' '));
  const argv = substituted === undefined ? undefined : shellWords(substituted);
  return argv ? runnerFromArgv(argv) : undefined;
}

/**
 * tox's substitutions that have a plain meaning here ({posargs} is empty: the avatar passes none);
 * undefined for any other ({env:…}, {[section]key}, {envsitepackagesdir}): not a plain command.
 */
function substitute(text: string): string | undefined {
  const out = text
    .replace(/\{posargs:([^{}]*)\}/g, ' $1 ')
    .replace(/\{posargs\}/g, ' ')
    .replace(/\{(toxinidir|tox_root)\}/g, '.')
    .replace(/\{(envpython|env_python)\}/g, 'python')
    .replace(/\{(envbindir|env_bin_dir)\}\//g, '');
  return /\{[^}]*\}/.test(out) ? undefined : out;
}

/** tox 4's TOML form: `commands = [["python", "-m", "unittest", { replace = "posargs", … }]]`. */
function fromToxToml(tox: TomlTable, where: string): PythonRunner | undefined {
  const sections: Array<[string, TomlValue | undefined]> = [['env_run_base', tox.env_run_base]];
  const envs = tox.env;
  if (isTable(envs)) for (const [name, env] of Object.entries(envs)) sections.push([`env.${name}`, env]);
  for (const [name, section] of sections) {
    if (!isTable(section) || !Array.isArray(section.commands)) continue;
    for (const command of section.commands) {
      if (!Array.isArray(command)) continue;
      const argv: string[] = [];
      let plain = true;
      for (const item of command) {
        if (typeof item === 'string') {
          // One word each: substituted as in a line, never split.
          const word = substitute(item)?.trim();
          if (word === undefined) plain = false;
          else if (word !== '') argv.push(word);
        } else if (isTable(item) && item.replace === 'posargs') {
          const d = item.default;
          if (Array.isArray(d)) argv.push(...d.filter((x): x is string => typeof x === 'string'));
        } else plain = false;
      }
      if (!plain) continue;
      const r = runnerFromArgv(argv);
      if (r) {
        const shown = JSON.stringify(command);
        return { ...r, source: `${describe(r.kind)}: ${where}${name}] commands: ${shown}` };
      }
    }
  }
  return undefined;
}

/**
 * noxfile.py: the `session.run(…)` calls whose arguments are string literals (`sys.executable`
 * for the interpreter, `*session.posargs` left out), in the sessions named like tests first.
 */
async function fromNox(dir: string): Promise<PythonRunner | undefined> {
  const text = await readText(dir, 'noxfile.py');
  if (text === undefined) return undefined;
  const sessions = [...text.matchAll(/^def\s+(\w+)\s*\(/gm)].map((m, i, all) => ({
    name: m[1]!,
    body: text.slice(m.index, all[i + 1]?.index ?? text.length),
  }));
  const testLike = (n: string) => /^(tests?|unit|unittests?|pytest)(_|$)/.test(n);
  sessions.sort((a, b) => Number(!testLike(a.name)) - Number(!testLike(b.name)));
  for (const s of sessions) {
    for (const call of s.body.matchAll(/\bsession\.run\s*\(/g)) {
      const args = callArguments(s.body, call.index + call[0].length);
      if (!args) continue;
      const argv: string[] = [];
      let plain = true;
      for (const a of args) {
        if (/^\w+\s*=/.test(a)) continue; // keyword arguments (external=True, env=…)
        if (a === 'sys.executable') argv.push('python');
        else if (a === '*session.posargs') continue;
        else {
          const lit = pythonString(a);
          if (lit === undefined) plain = false;
          else argv.push(lit);
        }
      }
      if (!plain) continue;
      const r = runnerFromArgv(argv);
      if (r) {
        const shown = s.body
          .slice(call.index, call.index + 200)
          .split(/\)\s*\n/)[0]!
          .replace(/\s+/g, ' ');
        return { ...r, source: `${describe(r.kind)}: noxfile.py session ${s.name}: ${shown})` };
      }
    }
  }
  return undefined;
}

/** The top-level arguments of a call whose `(` ends right before `start`, as source text. */
function callArguments(text: string, start: number): string[] | undefined {
  const args: string[] = [];
  let depth = 0;
  let from = start;
  for (let i = start; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"' || c === "'") {
      const triple = text.startsWith(c.repeat(3), i);
      const close = triple ? c.repeat(3) : c;
      let j = i + close.length;
      while (j < text.length && !text.startsWith(close, j)) j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) return undefined;
      i = j + close.length - 1;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) {
      if (depth === 0) {
        const last = text.slice(from, i).trim();
        if (last !== '') args.push(last);
        return args.map((a) => a.replace(/#[^\n]*$/gm, '').trim()).filter((a) => a !== '');
      }
      depth--;
    } else if (c === ',' && depth === 0) {
      args.push(text.slice(from, i).trim());
      from = i + 1;
    }
  }
  return undefined;
}

/** A Python string literal (plain or raw, one quote style) to its value; undefined for anything else. */
function pythonString(src: string): string | undefined {
  const m = /^([rRuU]?)('([^'\\\n]|\\.)*'|"([^"\\\n]|\\.)*")$/s.exec(src);
  if (!m) return undefined;
  const body = m[2]!.slice(1, -1);
  if (m[1]!.toLowerCase() === 'r') return body;
  return body.replace(
    /\\(.)/g,
    (_, c: string) => ({ n: '\n', t: '\t', '\\': '\\', "'": "'", '"': '"' })[c] ?? `\\${c}`,
  );
}

/**
 * `pytest …`, `py.test …`, `python [opts] -m pytest|unittest …`, `coverage run [opts] -m …` (also
 * as `python -m coverage run …`): the runner and its arguments. pytest-cov's options are left out
 * (the plugin is for coverage, not for the tests, and may not be installed), and so are the
 * switches of the plugins that run a linter as tests (`--mypy`, `--flake8`, `--isort`, …): tox
 * installs them from its `deps`, the avatar does not, and pytest stops at an option it does not
 * know before running any test (jpvanhal/inflection: `pytest --mypy {posargs}`).
 */
export function runnerFromArgv(argv: string[]): Omit<PythonRunner, 'source'> | undefined {
  const [first, ...rest] = argv;
  if (first === undefined) return undefined;
  if (first === 'pytest' || first === 'py.test')
    return { kind: 'pytest', pythonArgs: [], args: withoutCov(rest) };
  if (first === 'coverage') return fromCoverage(rest, []);
  if (!/^python(3(\.\d+)?)?$/.test(first)) return undefined;
  const m = rest.indexOf('-m');
  if (m < 0) return undefined;
  const pythonArgs = rest.slice(0, m);
  // Interpreter options only: `python script.py -m x` runs a script.
  if (!pythonArgs.every((a, i) => a.startsWith('-') || /^-[WX]$/.test(pythonArgs[i - 1] ?? '')))
    return undefined;
  const mod = rest[m + 1];
  const after = rest.slice(m + 2);
  if (mod === 'pytest') return { kind: 'pytest', pythonArgs, args: withoutCov(after) };
  if (mod === 'unittest') return { kind: 'unittest', pythonArgs, args: after };
  if (mod === 'coverage') return fromCoverage(after, pythonArgs);
  return undefined;
}

function fromCoverage(argv: string[], pythonArgs: string[]): Omit<PythonRunner, 'source'> | undefined {
  if (argv[0] !== 'run') return undefined;
  const m = argv.indexOf('-m');
  const mod = argv[m + 1];
  if (m < 0 || (mod !== 'pytest' && mod !== 'unittest')) return undefined;
  const args = argv.slice(m + 2);
  return { kind: mod, pythonArgs, args: mod === 'pytest' ? withoutCov(args) : args };
}

const COV_WITH_VALUE = new Set(['--cov-report', '--cov-config', '--cov-fail-under', '--cov-context']);
/** pytest-mypy, pytest-flake8, pytest-isort, pytest-black, pytest-pylint, pytest-pycodestyle, pytest-ruff, …: their switches. */
const LINTER_SWITCH =
  /^--(mypy|flake8|isort|black|pylint|pycodestyle|codestyle|pep8|mccabe|pydocstyle|docstyle|ruff|ruff-format)$/;

function withoutCov(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (COV_WITH_VALUE.has(a)) i++;
    else if (a === '--cov') {
      // `--cov [SOURCE]`: a module name after it is its source.
      const next = args[i + 1];
      if (next !== undefined && /^[A-Za-z_][\w.]*$/.test(next) && !next.endsWith('.py')) i++;
    } else if (!/^--(no-)?cov(-[a-z-]+)?(=|$)/.test(a) && !LINTER_SWITCH.test(a)) out.push(a);
  }
  return out;
}

/** POSIX shell words (tox splits commands the same way); undefined for an unclosed quote. */
export function shellWords(line: string): string[] | undefined {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return undefined;
      cur += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && '"\\$`'.includes(line[j + 1] ?? '')) j++;
        cur += line[j];
      }
      if (j >= line.length) return undefined;
      i = j;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** Words quoted for /bin/sh: bare when they are plainly safe, single-quoted otherwise. */
export function shellQuoteWords(words: string[]): string {
  return words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function describe(kind: PythonRunnerKind): string {
  return kind === 'pytest' ? 'pytest' : 'unittest';
}

// ---------------------------------------------------------------------------------------------
// pytest's own configuration, and the tests themselves

async function pytestConfiguredBy(dir: string, project: PythonProject): Promise<string | undefined> {
  for (const f of ['pytest.ini', 'pytest.toml', '.pytest.toml']) {
    if (await exists(path.join(dir, f))) return `pytest: ${f}`;
  }
  if (project.pyproject && tomlGet(project.pyproject, 'tool', 'pytest') !== undefined) {
    return 'pytest: pyproject.toml [tool.pytest]';
  }
  if (project.pyproject === undefined && project.pyprojectError !== undefined) {
    const text = await readText(dir, 'pyproject.toml');
    if (text !== undefined && /^\s*\[tool\.pytest(\.ini_options)?\]/m.test(text))
      return 'pytest: pyproject.toml [tool.pytest]';
  }
  if (project.setupCfg !== undefined && iniSection(project.setupCfg, 'tool:pytest') !== undefined) {
    return 'pytest: setup.cfg [tool:pytest]';
  }
  const toxIni = await readText(dir, 'tox.ini');
  if (toxIni !== undefined && iniSection(toxIni, 'pytest') !== undefined) return 'pytest: tox.ini [pytest]';
  for (const f of ['conftest.py', 'tests/conftest.py', 'test/conftest.py', 'testing/conftest.py']) {
    if (await exists(path.join(dir, f))) return `pytest: ${f}`;
  }
  return undefined;
}

const TEST_FILE = /^(test.*|.*_test)\.py$/;
const SKIP_DIRS = new Set(['__pycache__', 'node_modules', 'venv', 'build', 'dist', 'site-packages']);
const MAX_FILES_READ = 200;

interface TestFiles {
  /** Relative paths, sorted. */
  files: string[];
  /** Why the tests are pytest's: `tests/test_x.py imports pytest`, or undefined. */
  pytestStyle?: string;
}

/** Test files in the usual places: the root, tests/ test/ testing/, and <package>/tests under src/ or the root. */
export async function findTestFiles(dir: string): Promise<TestFiles> {
  const files: string[] = [];
  const rootEntries = await readDir(dir);
  for (const e of rootEntries)
    if (e.isFile() && TEST_FILE.test(e.name) && e.name !== 'conftest.py') files.push(e.name);
  for (const d of ['tests', 'test', 'testing']) await walk(dir, d, 4, files);
  for (const parent of ['', 'src']) {
    const entries = parent === '' ? rootEntries : await readDir(path.join(dir, parent));
    for (const e of entries) {
      if (!e.isDirectory() || e.name.startsWith('.') || SKIP_DIRS.has(e.name)) continue;
      if (parent === '' && ['tests', 'test', 'testing', 'src'].includes(e.name)) continue;
      for (const t of ['tests', 'test']) await walk(dir, path.posix.join(parent, e.name, t), 3, files);
    }
  }
  files.sort();
  let pytestStyle: string | undefined;
  for (const f of files.slice(0, MAX_FILES_READ)) {
    const text = await readText(dir, f);
    if (text === undefined) continue;
    if (/^\s*(import\s+pytest\b|from\s+_?pytest\b)/m.test(text)) pytestStyle = `${f} imports pytest`;
    else if (/^(async\s+)?def\s+test\w*\s*\(/m.test(text))
      pytestStyle = `${f} has test functions outside of a TestCase`;
    if (pytestStyle) break;
  }
  return { files, pytestStyle };
}

async function walk(root: string, rel: string, depth: number, out: string[]): Promise<void> {
  if (depth <= 0) return;
  let st;
  try {
    st = await fs.lstat(path.join(root, rel));
  } catch {
    return;
  }
  if (!st.isDirectory()) return;
  for (const e of await readDir(path.join(root, rel))) {
    const child = path.posix.join(rel, e.name);
    if (e.isFile() && TEST_FILE.test(e.name)) out.push(child);
    else if (e.isDirectory() && !e.name.startsWith('.') && !SKIP_DIRS.has(e.name))
      await walk(root, child, depth - 1, out);
  }
}

async function readDir(dir: string) {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/**
 * `python -m unittest` discovers test*.py from the current folder, through packages only (folders
 * with __init__.py). Tests in a folder that is not a package, or only in *_test.py files, need
 * `discover` told where and what.
 */
async function unittestArgs(dir: string, files: string[]): Promise<string[]> {
  const pattern = files.some((f) => /^test.*\.py$/.test(path.posix.basename(f))) ? undefined : '*_test.py';
  const withPattern = (args: string[]) => (pattern ? [...args, '-p', pattern] : args);
  const reachable = async (f: string): Promise<boolean> => {
    // Every folder from the root down to the file is a package.
    const parts = f.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      if (!(await exists(path.join(dir, ...parts.slice(0, i), '__init__.py')))) return false;
    }
    return true;
  };
  for (const f of files) if (await reachable(f)) return pattern ? ['discover', '-p', pattern] : [];
  const top = files[0]!.split('/');
  if (top.length === 1) return withPattern(['discover']);
  if (top[0] === 'src') return withPattern(['discover', '-s', 'src', '-t', 'src']);
  return withPattern(['discover', '-s', top[0]!]);
}
