/**
 * Node projects: package.json scripts.test, run with the package manager its lockfile names.
 *
 * - The install step always installs the devDependencies (where jest, vitest and mocha live),
 *   whatever NODE_ENV, an `.npmrc` (`omit=dev`, `production=true`) or the manager's own
 *   configuration says: `npm ci --include=dev`, `pnpm install --frozen-lockfile --prod=false`,
 *   yarn 1 `yarn install --frozen-lockfile --production=false`; yarn 2+ (berry) has no production
 *   install but `yarn workspaces focus --production`, so `yarn install --immutable` installs them.
 * - pnpm or yarn that is not on PATH runs through corepack (`corepack pnpm install …`, `corepack
 *   pnpm test`), which fetches the version package.json's `packageManager` names (its own default
 *   otherwise) from the npm registry; without corepack either, the commands stay as they are and
 *   the source says they will fail.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { readRepoText } from '../../agent/safe-fs.ts';
import { exists, isDir, isRecord, readText, type DetectedTestCommand } from './common.ts';

type Manager = 'npm' | 'yarn' | 'pnpm';

export interface NodeDetectOptions {
  /**
   * Whether a program is on the PATH the repository's commands get (default: a look through
   * process.env.PATH, which core/env.ts passes on to them).
   */
  onPath?: (program: string) => Promise<boolean>;
}

/** npm's placeholder from `npm init`: not a test suite. */
export function isNpmDefaultTestScript(script: string): boolean {
  return /no test specified/i.test(script) && /exit 1/.test(script);
}

export async function detectNode(
  dir: string,
  opts: NodeDetectOptions = {},
): Promise<DetectedTestCommand | undefined> {
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
  const run = await launcher(pm.name, opts.onPath ?? ((p) => onPath(p, process.env.PATH ?? '')));
  const command = `${run.prefix} test`;
  const needsInstall = hasDependencies(pkg) && !(await isDir(path.join(dir, 'node_modules')));
  const source = `package.json scripts.test (${[pm.name, pm.why, run.note].filter(Boolean).join(', ')})`;
  if (needsInstall)
    return { command, setup: `${run.prefix} ${await installArgs(dir, pm.name, pkg)}`, source };
  // Nothing to install, but corepack must fetch the manager while the network is there (the
  // install step's); the tests run without one.
  if (run.corepack) return { command, setup: `${run.prefix} --version`, source };
  return { command, source };
}

async function packageManager(
  dir: string,
  pkg: Record<string, unknown>,
): Promise<{ name: Manager; why?: string }> {
  if (await exists(path.join(dir, 'pnpm-lock.yaml'))) return { name: 'pnpm', why: 'pnpm-lock.yaml' };
  if (await exists(path.join(dir, 'yarn.lock'))) return { name: 'yarn', why: 'yarn.lock' };
  if (await exists(path.join(dir, 'package-lock.json'))) return { name: 'npm', why: 'package-lock.json' };
  // No lockfile: corepack's "packageManager" field, e.g. "pnpm@9.1.0".
  const m = /^(npm|yarn|pnpm)@/.exec(declaredManager(pkg));
  if (m) return { name: m[1] as Manager, why: 'packageManager field' };
  return { name: 'npm' };
}

function declaredManager(pkg: Record<string, unknown>): string {
  return typeof pkg.packageManager === 'string' ? pkg.packageManager.trim() : '';
}

/**
 * How the manager is started: itself when it is on PATH, else through corepack (pnpm and yarn;
 * npm comes with Node). `note` says which, for the source.
 */
async function launcher(
  pm: Manager,
  isOnPath: (program: string) => Promise<boolean>,
): Promise<{ prefix: string; corepack: boolean; note?: string }> {
  if (pm === 'npm' || (await isOnPath(pm))) return { prefix: pm, corepack: false };
  if (await isOnPath('corepack'))
    return { prefix: `corepack ${pm}`, corepack: true, note: `through corepack: ${pm} is not on PATH` };
  return {
    prefix: pm,
    corepack: false,
    note: `${pm} is not on PATH and neither is corepack: its commands will fail`,
  };
}

/** The install command's arguments (after the manager): the lockfile as it is, devDependencies included. */
async function installArgs(dir: string, pm: Manager, pkg: Record<string, unknown>): Promise<string> {
  switch (pm) {
    case 'pnpm':
      return (await exists(path.join(dir, 'pnpm-lock.yaml')))
        ? 'install --frozen-lockfile --prod=false'
        : 'install --prod=false';
    case 'yarn': {
      const locked = await exists(path.join(dir, 'yarn.lock'));
      if (await isYarnBerry(dir, pkg)) {
        // CI=true makes berry's installs immutable: one without a lockfile would be refused.
        return locked ? 'install --immutable' : 'install --no-immutable';
      }
      return locked ? 'install --frozen-lockfile --production=false' : 'install --production=false';
    }
    case 'npm':
      return (await exists(path.join(dir, 'package-lock.json'))) ||
        (await exists(path.join(dir, 'npm-shrinkwrap.json')))
        ? 'ci --include=dev'
        : 'install --include=dev';
  }
}

/**
 * Yarn 2+ (berry), which spells the flags differently and has no `--production`: declared as
 * `yarn@2` or later (`yarn@1.…` is yarn 1 whatever else is there), configured by .yarnrc.yml, or a
 * lockfile in its format (`__metadata:`; yarn 1's starts `# yarn lockfile v1`).
 */
async function isYarnBerry(dir: string, pkg: Record<string, unknown>): Promise<boolean> {
  const declared = /^yarn@(\d+)\./.exec(declaredManager(pkg));
  if (declared) return Number(declared[1]) >= 2;
  if (await exists(path.join(dir, '.yarnrc.yml'))) return true;
  // The metadata block comes first, after a comment of a few lines.
  const head = await readRepoText(dir, 'yarn.lock', 4096);
  return head !== undefined && /^__metadata:/m.test(head);
}

/** Whether an executable file named `program` is in one of the folders of `pathEnv`. */
export async function onPath(program: string, pathEnv: string): Promise<boolean> {
  for (const folder of pathEnv.split(':')) {
    if (folder === '' || !path.isAbsolute(folder)) continue;
    const file = path.join(folder, program);
    try {
      if (!(await stat(file)).isFile()) continue;
      await access(file, constants.X_OK);
      return true;
    } catch {
      // not there, or not executable: the next folder
    }
  }
  return false;
}

function hasDependencies(pkg: Record<string, unknown>): boolean {
  return ['dependencies', 'devDependencies', 'optionalDependencies'].some(
    (k) => isRecord(pkg[k]) && Object.keys(pkg[k]).length > 0,
  );
}
