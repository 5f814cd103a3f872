/**
 * The build (`npm run build`, run by `npm ci` through `prepare`, and by the suite's global setup
 * when the sources changed): the CLI runs the compiled dist/, a build older than the sources is
 * never run silently, and the package `npm pack` makes holds the build and none of the sources,
 * tests or infrastructure.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourcesStamp } from '../../bin/build-stamp.mjs';
import { REPO_ROOT } from '../helpers/world.ts';

const VERSION = (
  JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

/** A copy of the package's runnable parts in a temp folder, node_modules linked. */
async function packageCopy(withSources: boolean, stamp?: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'numa-build-'));
  for (const f of ['bin', 'dist', 'package.json'])
    await cp(path.join(REPO_ROOT, f), path.join(dir, f), { recursive: true });
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  if (withSources) {
    for (const d of ['core', 'adapters', 'local', 'cli', 'container', 'servers', 'demo'])
      await cp(path.join(REPO_ROOT, d), path.join(dir, d), { recursive: true });
  }
  if (stamp !== undefined) await writeFile(path.join(dir, 'dist', '.build-stamp'), stamp);
  return dir;
}

const run = (dir: string, args: string[]) =>
  spawnSync(process.execPath, [path.join(dir, 'bin', 'numa-avatar.mjs'), ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });

describe('the build', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('is current after the suite set up (the stamp matches the sources)', async () => {
    expect((await readFile(path.join(REPO_ROOT, 'dist', '.build-stamp'), 'utf8')).trim()).toBe(
      sourcesStamp(REPO_ROOT),
    );
  });

  it('an installed package (no sources) runs dist/ and says nothing', async () => {
    const dir = await packageCopy(false);
    dirs.push(dir);
    const r = run(dir, ['--version']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
    expect(r.stderr).toBe('');
  });

  it('a checkout whose build is older than its sources runs the sources, and says so', async () => {
    const dir = await packageCopy(true);
    dirs.push(dir);
    // The copy's stamp is of the repository's files; the copies have new times: stale.
    const r = run(dir, ['--version']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
    expect(r.stderr).toMatch(
      /the build in dist\/ is older than the sources: running the sources through tsx/,
    );
  });

  it('a checkout whose build matches its sources runs it without a word', async () => {
    const dir = await packageCopy(true);
    dirs.push(dir);
    await writeFile(path.join(dir, 'dist', '.build-stamp'), sourcesStamp(dir));
    const r = run(dir, ['--version']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(VERSION);
  });

  it('imports at run time only Node built-ins and the packages in `dependencies` (the rest is bundled)', async () => {
    const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const deps = new Set(Object.keys(pkg.dependencies));
    const imported = new Set<string>();
    for (const f of await readdir(path.join(REPO_ROOT, 'dist'))) {
      if (!/\.m?js$/.test(f)) continue;
      const text = await readFile(path.join(REPO_ROOT, 'dist', f), 'utf8');
      for (const m of text.matchAll(
        /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)["']([@a-z][\w@/.:-]*)["']/g,
      ))
        imported.add(m[1]!);
    }
    const packageOf = (s: string) =>
      (s.startsWith('@') ? s.split('/').slice(0, 2) : s.split('/').slice(0, 1)).join('/');
    const outside = [...imported].filter((s) => !isBuiltin(s) && !deps.has(packageOf(s)));
    expect(outside).toEqual([]);
    // What the bundle is for: zod (its every locale) is inside, not loaded from node_modules.
    expect([...imported].filter((s) => packageOf(s) === 'zod')).toEqual([]);
    expect(imported.has('openai')).toBe(true);
  });
});

describe('npm pack', () => {
  let files: string[];
  beforeAll(() => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    files = (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
  });

  it('holds the build, the entry point and the demo, and no source, test or infrastructure', () => {
    expect(files).toContain('bin/numa-avatar.mjs');
    expect(files).toContain('bin/build-stamp.mjs');
    expect(files).toContain('dist/cli.js');
    // Each command's chunk (split at its import()), the AWS runner's among them.
    expect(files.filter((f) => /^dist\/aws-main-[A-Z0-9]+\.js$/.test(f))).toHaveLength(1);
    expect(files).toContain('dist/bridge.mjs');
    expect(files).toContain('demo/recorded-session.json');
    expect(files).toContain('config.example.yaml');
    expect(files.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.mts'))).toEqual([]);
    expect(files.filter((f) => /^(test|infra|bench|functions|\.ci)\//.test(f))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.map') || f.endsWith('.tsbuildinfo'))).toEqual([]);
  });

  it('declares the Node it runs on and its command', async () => {
    const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
      bin: Record<string, string>;
      dependencies: Record<string, string>;
    };
    expect(pkg.engines.node).toMatch(/^>=20/);
    expect(pkg.bin['numa-avatar']).toBe('bin/numa-avatar.mjs');
    expect(pkg.dependencies.tsx).toBeUndefined();
  });
});
