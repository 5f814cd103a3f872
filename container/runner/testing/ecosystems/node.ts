/** Node projects: package.json scripts.test, run with the package manager its lockfile names. */
import path from 'node:path';
import { exists, isDir, isRecord, readText, type DetectedTestCommand } from './common.ts';

/** npm's placeholder from `npm init`: not a test suite. */
export function isNpmDefaultTestScript(script: string): boolean {
  return /no test specified/i.test(script) && /exit 1/.test(script);
}

export async function detectNode(dir: string): Promise<DetectedTestCommand | undefined> {
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
