/**
 * Finds the project's test command (the `run_tests` tool and the pipeline's test step). A
 * configured command wins; otherwise the repository's files decide, first match in this order:
 * package.json scripts.test (npm / yarn / pnpm by lockfile), pytest, go, cargo, maven, gradle,
 * a Makefile `test` target. `setup` is the install step the command needs first, when there is one.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readRepoText } from '../agent/safe-fs.ts';

export interface DetectedTestCommand {
  command: string;
  /** Run before `command` when present (e.g. `npm ci` when node_modules is missing). */
  setup?: string;
  /** Why this command, for logs and the agent (e.g. "package.json scripts.test (npm)"). */
  source: string;
}

type Detector = (dir: string) => Promise<DetectedTestCommand | undefined>;

const DETECTORS: Detector[] = [
  detectNode,
  detectPytest,
  detectGo,
  detectCargo,
  detectMaven,
  detectGradle,
  detectMake,
];

export async function detectTestCommand(
  repoDir: string,
  override?: string,
): Promise<DetectedTestCommand | undefined> {
  if (override !== undefined && override.trim() !== '') {
    return { command: override.trim(), source: 'configured test command' };
  }
  for (const detect of DETECTORS) {
    const found = await detect(repoDir);
    if (found) return found;
  }
  return undefined;
}

/** npm's placeholder from `npm init`: not a test suite. */
export function isNpmDefaultTestScript(script: string): boolean {
  return /no test specified/i.test(script) && /exit 1/.test(script);
}

async function detectNode(dir: string): Promise<DetectedTestCommand | undefined> {
  const text = await readText(dir, 'package.json');
  if (text === undefined) return undefined;
  let pkg: unknown;
  try {
    pkg = JSON.parse(text);
  } catch {
    return undefined; // not a usable package.json: let the other detectors look
  }
  if (!isRecord(pkg)) return undefined;
  const scripts = isRecord(pkg.scripts) ? pkg.scripts : {};
  const test = scripts.test;
  if (typeof test !== 'string' || test.trim() === '' || isNpmDefaultTestScript(test)) return undefined;

  const pm = await packageManager(dir, pkg);
  const command = `${pm.name} test`;
  const needsInstall = hasDependencies(pkg) && !(await isDir(path.join(dir, 'node_modules')));
  const source = `package.json scripts.test (${pm.name}${pm.why ? `, ${pm.why}` : ''})`;
  return needsInstall ? { command, setup: await installCommand(dir, pm.name), source } : { command, source };
}

async function packageManager(
  dir: string,
  pkg: Record<string, unknown>,
): Promise<{ name: 'npm' | 'yarn' | 'pnpm'; why?: string }> {
  if (await exists(path.join(dir, 'pnpm-lock.yaml'))) return { name: 'pnpm', why: 'pnpm-lock.yaml' };
  if (await exists(path.join(dir, 'yarn.lock'))) return { name: 'yarn', why: 'yarn.lock' };
  if (await exists(path.join(dir, 'package-lock.json'))) return { name: 'npm', why: 'package-lock.json' };
  // No lockfile: corepack's "packageManager" field, e.g. "pnpm@9.1.0".
  const declared = typeof pkg.packageManager === 'string' ? pkg.packageManager : '';
  const m = /^(npm|yarn|pnpm)@/.exec(declared);
  if (m) return { name: m[1] as 'npm' | 'yarn' | 'pnpm', why: 'packageManager field' };
  return { name: 'npm' };
}

async function installCommand(dir: string, pm: 'npm' | 'yarn' | 'pnpm'): Promise<string> {
  switch (pm) {
    case 'pnpm':
      return (await exists(path.join(dir, 'pnpm-lock.yaml')))
        ? 'pnpm install --frozen-lockfile'
        : 'pnpm install';
    case 'yarn':
      if (!(await exists(path.join(dir, 'yarn.lock')))) return 'yarn install';
      // Yarn 2+ (berry) is configured by .yarnrc.yml and spells the flag differently.
      return (await exists(path.join(dir, '.yarnrc.yml')))
        ? 'yarn install --immutable'
        : 'yarn install --frozen-lockfile';
    case 'npm':
      return (await exists(path.join(dir, 'package-lock.json'))) ||
        (await exists(path.join(dir, 'npm-shrinkwrap.json')))
        ? 'npm ci'
        : 'npm install';
  }
}

function hasDependencies(pkg: Record<string, unknown>): boolean {
  return ['dependencies', 'devDependencies', 'optionalDependencies'].some(
    (k) => isRecord(pkg[k]) && Object.keys(pkg[k]).length > 0,
  );
}

const PYTEST = 'python3 -m pytest -q';

async function detectPytest(dir: string): Promise<DetectedTestCommand | undefined> {
  if (await exists(path.join(dir, 'pytest.ini'))) return { command: PYTEST, source: 'pytest.ini' };
  const pyproject = await readText(dir, 'pyproject.toml');
  if (pyproject !== undefined && /^\s*\[tool\.pytest(\.ini_options)?\]/m.test(pyproject)) {
    return { command: PYTEST, source: 'pyproject.toml [tool.pytest]' };
  }
  const setupCfg = await readText(dir, 'setup.cfg');
  if (setupCfg !== undefined && /^\s*\[tool:pytest\]/m.test(setupCfg)) {
    return { command: PYTEST, source: 'setup.cfg [tool:pytest]' };
  }
  if (await exists(path.join(dir, 'tox.ini'))) return { command: PYTEST, source: 'tox.ini' };
  if (await exists(path.join(dir, 'conftest.py'))) return { command: PYTEST, source: 'conftest.py' };
  if (await hasPythonTests(path.join(dir, 'tests'), 3)) {
    return { command: PYTEST, source: 'tests/ with test_*.py files' };
  }
  return undefined;
}

async function hasPythonTests(dir: string, depth: number): Promise<boolean> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  if (entries.some((e) => e.isFile() && /^test_.*\.py$/.test(e.name))) return true;
  if (depth <= 1) return false;
  for (const e of entries) {
    if (e.isDirectory() && !e.name.startsWith('.') && e.name !== '__pycache__') {
      if (await hasPythonTests(path.join(dir, e.name), depth - 1)) return true;
    }
  }
  return false;
}

async function detectGo(dir: string): Promise<DetectedTestCommand | undefined> {
  return (await exists(path.join(dir, 'go.mod')))
    ? { command: 'go test ./...', source: 'go.mod' }
    : undefined;
}

async function detectCargo(dir: string): Promise<DetectedTestCommand | undefined> {
  return (await exists(path.join(dir, 'Cargo.toml')))
    ? { command: 'cargo test', source: 'Cargo.toml' }
    : undefined;
}

async function detectMaven(dir: string): Promise<DetectedTestCommand | undefined> {
  if (!(await exists(path.join(dir, 'pom.xml')))) return undefined;
  const wrapper = await wrapperCommand(dir, 'mvnw');
  return wrapper
    ? { command: `${wrapper} -q -B test`, source: 'pom.xml (Maven wrapper)' }
    : { command: 'mvn -q -B test', source: 'pom.xml' };
}

async function detectGradle(dir: string): Promise<DetectedTestCommand | undefined> {
  const build = (await exists(path.join(dir, 'build.gradle.kts')))
    ? 'build.gradle.kts'
    : (await exists(path.join(dir, 'build.gradle')))
      ? 'build.gradle'
      : undefined;
  if (!build) return undefined;
  const wrapper = await wrapperCommand(dir, 'gradlew');
  return wrapper
    ? { command: `${wrapper} test`, source: `${build} (Gradle wrapper)` }
    : { command: 'gradle test', source: build };
}

/** `./mvnw` / `./gradlew`, or `sh ./x` when the wrapper lost its executable bit (common in zips). */
async function wrapperCommand(dir: string, name: string): Promise<string | undefined> {
  const file = path.join(dir, name);
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) return undefined;
    return st.mode & 0o111 ? `./${name}` : `sh ./${name}`;
  } catch {
    return undefined;
  }
}

async function detectMake(dir: string): Promise<DetectedTestCommand | undefined> {
  for (const name of ['GNUmakefile', 'makefile', 'Makefile']) {
    const text = await readText(dir, name);
    if (text !== undefined && hasMakeTarget(text, 'test')) {
      return { command: 'make test', source: `${name} test target` };
    }
  }
  return undefined;
}

/** Whether a Makefile defines `target` as a rule (`test:`, `lint test:`, `test::`), not a variable (`test := x`). */
export function hasMakeTarget(makefile: string, target: string): boolean {
  for (const line of makefile.split(/\r?\n/)) {
    if (line.startsWith('\t') || line.startsWith('.') || line.trimStart().startsWith('#')) continue;
    const m = /^([^:=#]+?)\s*(?:::(?!=)|:(?![:=]))/.exec(line);
    if (m && m[1]!.trim().split(/\s+/).includes(target)) return true;
  }
  return false;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * A file of the repository, read without following a link out of it and never a FIFO or device
 * (the repository is untrusted: a `package.json` FIFO would hang the runner).
 */
function readText(dir: string, name: string): Promise<string | undefined> {
  return readRepoText(dir, name, 4 * 1024 * 1024);
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

async function isDir(file: string): Promise<boolean> {
  try {
    return (await fs.stat(file)).isDirectory();
  } catch {
    return false;
  }
}
