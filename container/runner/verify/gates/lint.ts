/**
 * The lint gate: the project's own linter, when it has one and the tool is installed, over the
 * changed files. Detected per language of the changed files:
 *   JS/TS   package.json scripts.lint (npm/yarn/pnpm run lint), else an ESLint config with
 *           node_modules/.bin/eslint (run on the changed files);
 *   Python  ruff (ruff.toml, .ruff.toml, pyproject [tool.ruff]), else flake8 (.flake8, setup.cfg
 *           or tox.ini [flake8]), from .venv/venv or PATH, on the changed files;
 *   Go      golangci-lint with a .golangci.* config;
 *   Rust    cargo clippy when installed.
 * A linter blocks only when it fails and its output names a changed file: problems elsewhere in
 * the project are not this change's doing (they are reported, not blocked on).
 */
import { access, constants, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { runTestCommand } from '../../testing/run.ts';
import type { Sandbox } from '../../sandbox/types.ts';
import { ESLINT_CONFIG_FILES as ESLINT_CONFIGS } from '../../testing/config-files.ts';

export interface LinterPlan {
  name: string;
  command: string;
}

export interface LinterResult extends LinterPlan {
  passed: boolean;
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  /** Failed and named a changed file. */
  blocking: boolean;
  /** The output lines that name a changed file (capped). */
  problems: string[];
  /** The output's tail (for the repair message). */
  output: string;
}

export interface LintGateResult {
  linters: LinterResult[];
  blocking: boolean;
}

const JS = /\.(?:[cm]?[jt]sx?|vue|svelte)$/i;
const PY = /\.pyi?$/i;
const GO = /\.go$/i;
const RS = /\.rs$/i;

export interface DetectLintOptions {
  /** PATH to look for tools on (default process.env.PATH). */
  pathEnv?: string;
  /** Whether `cargo clippy` is installed (default: asks cargo). */
  hasClippy?: (repoDir: string) => Promise<boolean>;
  /** Where the probes run (default: unsandboxed). */
  sandbox?: Sandbox;
}

/** Single-quotes a word for /bin/sh. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A path never read as an option. */
function safeArg(file: string): string {
  return file.startsWith('-') ? `./${file}` : file;
}

export async function detectLinters(
  repoDir: string,
  changed: readonly string[],
  opts: DetectLintOptions = {},
): Promise<LinterPlan[]> {
  const plans: LinterPlan[] = [];
  const present = await existingFiles(repoDir, changed);
  const js = present.filter((f) => JS.test(f));
  const py = present.filter((f) => PY.test(f));
  const pathEnv = opts.pathEnv ?? process.env.PATH ?? '';

  if (js.length > 0) {
    const pkg = await readJson(path.join(repoDir, 'package.json'));
    const scripts = isRecord(pkg?.scripts) ? pkg.scripts : {};
    const installed = await exists(path.join(repoDir, 'node_modules'));
    if (typeof scripts.lint === 'string' && scripts.lint.trim() !== '' && (installed || !hasDeps(pkg))) {
      const pm = (await exists(path.join(repoDir, 'pnpm-lock.yaml')))
        ? 'pnpm'
        : (await exists(path.join(repoDir, 'yarn.lock')))
          ? 'yarn'
          : 'npm';
      plans.push({ name: `${pm} run lint`, command: `${pm} run lint` });
    } else if (
      (await isExecutable(path.join(repoDir, 'node_modules/.bin/eslint'))) &&
      ((await anyExists(repoDir, ESLINT_CONFIGS)) || isRecord(pkg?.eslintConfig))
    ) {
      plans.push({
        name: 'eslint',
        command: ['node_modules/.bin/eslint', ...js.map(safeArg)].map(shellQuote).join(' '),
      });
    }
  }

  if (py.length > 0) {
    const pyproject = (await readText(path.join(repoDir, 'pyproject.toml'))) ?? '';
    const ruffConfig =
      (await anyExists(repoDir, ['ruff.toml', '.ruff.toml'])) || /^\s*\[tool\.ruff[\].]/m.test(pyproject);
    const flake8Config =
      (await exists(path.join(repoDir, '.flake8'))) ||
      /^\s*\[flake8\]/m.test((await readText(path.join(repoDir, 'setup.cfg'))) ?? '') ||
      /^\s*\[flake8\]/m.test((await readText(path.join(repoDir, 'tox.ini'))) ?? '');
    const ruff = ruffConfig ? await findTool(repoDir, 'ruff', pathEnv) : undefined;
    const flake8 = !ruff && flake8Config ? await findTool(repoDir, 'flake8', pathEnv) : undefined;
    if (ruff)
      plans.push({ name: 'ruff', command: [ruff, 'check', ...py.map(safeArg)].map(shellQuote).join(' ') });
    else if (flake8)
      plans.push({ name: 'flake8', command: [flake8, ...py.map(safeArg)].map(shellQuote).join(' ') });
  }

  if (present.some((f) => GO.test(f))) {
    const config = await anyExists(repoDir, [
      '.golangci.yml',
      '.golangci.yaml',
      '.golangci.toml',
      '.golangci.json',
    ]);
    const bin = config ? await findOnPath('golangci-lint', pathEnv) : undefined;
    if (bin) plans.push({ name: 'golangci-lint', command: `${shellQuote(bin)} run ./...` });
  }

  if (present.some((f) => RS.test(f)) && (await exists(path.join(repoDir, 'Cargo.toml')))) {
    const hasClippy = opts.hasClippy ?? ((dir: string) => defaultHasClippy(dir, opts.sandbox));
    if (await hasClippy(repoDir)) {
      plans.push({ name: 'cargo clippy', command: 'cargo clippy --quiet --message-format=short' });
    }
  }
  return plans;
}

export interface LintGateOptions {
  repoDir: string;
  changed: readonly string[];
  timeoutMs: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  detect?: DetectLintOptions;
  /** Where the linters run (default: unsandboxed). */
  sandbox?: Sandbox;
}

export async function runLintGate(opts: LintGateOptions): Promise<LintGateResult> {
  const plans = await detectLinters(opts.repoDir, opts.changed, { sandbox: opts.sandbox, ...opts.detect });
  const linters: LinterResult[] = [];
  for (const plan of plans) {
    const r = await runTestCommand({
      command: plan.command,
      cwd: opts.repoDir,
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
      env: opts.env,
      sandbox: opts.sandbox,
      maxOutputChars: 20_000,
    });
    const problems = r.passed ? [] : linesNaming(r.output, opts.changed, opts.repoDir);
    linters.push({
      ...plan,
      passed: r.passed,
      exitCode: r.exitCode,
      timedOut: r.timedOut,
      durationMs: r.durationMs,
      blocking: !r.passed && !r.timedOut && problems.length > 0,
      problems: problems.slice(0, 40),
      output: r.output,
    });
  }
  return { linters, blocking: linters.some((l) => l.blocking) };
}

/** Output lines that name one of the files (relative, or absolute under `repoDir`); ESLint's "stylish" lists a file, then its problems. */
export function linesNaming(output: string, files: readonly string[], repoDir: string): string[] {
  const out: string[] = [];
  const names = files.flatMap((f) => [f, path.join(repoDir, f)]);
  let inFileBlock = false;
  for (const line of output.split('\n')) {
    const t = line.trim();
    if (t === '') {
      inFileBlock = false;
      continue;
    }
    const names1 = names.some(
      (n) =>
        t === n ||
        t.startsWith(`${n}:`) ||
        t.startsWith(`${n}(`) ||
        t.includes(` ${n}:`) ||
        t.includes(`--> ${n}:`) ||
        t.startsWith(`./${n}:`),
    );
    if (names1) {
      out.push(t.split(repoDir + '/').join(''));
      inFileBlock = names.includes(t);
      continue;
    }
    // ESLint stylish: "  3:7  error  'x' is assigned a value but never used  no-unused-vars"
    if (inFileBlock && /^\d+:\d+\s/.test(t)) out.push(`  ${t}`);
    else inFileBlock = false;
  }
  return out;
}

async function existingFiles(repoDir: string, files: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of files) {
    try {
      if ((await stat(path.join(repoDir, f))).isFile()) out.push(f);
    } catch {
      // deleted
    }
  }
  return out;
}

async function findTool(repoDir: string, name: string, pathEnv: string): Promise<string | undefined> {
  for (const venv of ['.venv', 'venv']) {
    const rel = `${venv}/bin/${name}`;
    if (await isExecutable(path.join(repoDir, rel))) return rel;
  }
  return findOnPath(name, pathEnv);
}

async function findOnPath(name: string, pathEnv: string): Promise<string | undefined> {
  for (const dir of pathEnv.split(':')) {
    if (!dir) continue;
    const file = path.join(dir, name);
    if (await isExecutable(file)) return name;
  }
  return undefined;
}

async function defaultHasClippy(repoDir: string, sandbox?: Sandbox): Promise<boolean> {
  const r = await runTestCommand({
    command: 'cargo clippy --version',
    cwd: repoDir,
    timeoutMs: 30_000,
    sandbox,
  });
  return r.passed;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    const st = await stat(file);
    if (!st.isFile()) return false;
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

async function anyExists(dir: string, names: readonly string[]): Promise<boolean> {
  for (const n of names) if (await exists(path.join(dir, n))) return true;
  return false;
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function readJson(file: string): Promise<Record<string, unknown> | undefined> {
  const text = await readText(file);
  if (text === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function hasDeps(pkg: Record<string, unknown> | undefined): boolean {
  return ['dependencies', 'devDependencies', 'optionalDependencies'].some(
    (k) => isRecord(pkg?.[k]) && Object.keys(pkg[k] as object).length > 0,
  );
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
