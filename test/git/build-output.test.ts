/**
 * Build and test output stays out of what the runner commits (git/build-output.ts): after
 * excludeBuildOutput, new files under target/, node_modules/, __pycache__/ are not changed files
 * for either git engine, while a tracked file under such a folder still is, and so is real work.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { excludeBuildOutput } from '../../container/runner/git/build-output.ts';
import { createNativeGit } from '../../container/runner/git/index.ts';
import { createIsomorphicGit } from '../../container/runner/git/isomorphic.ts';

const run = promisify(execFile);
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'numa-build-output-'));
  await mkdir(path.join(dir, 'target'), { recursive: true });
  await writeFile(path.join(dir, 'target', 'tracked.txt'), 'kept in the repository\n');
  await writeFile(path.join(dir, 'lib.rs'), 'pub fn a() {}\n');
  await run('git', ['init', '-q', '-b', 'main', dir]);
  await run('git', ['-C', dir, 'add', '-A']);
  await run('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@x', 'commit', '-qm', 'init']);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each([
  ['native', () => createNativeGit()],
  ['isomorphic', () => createIsomorphicGit()],
])('build output with the %s engine', (_name, engine) => {
  it('new files under build folders are not changed files; tracked ones and real work are', async () => {
    await excludeBuildOutput(dir);
    expect(await readFile(path.join(dir, '.git', 'info', 'exclude'), 'utf8')).toMatch(/^target\/$/m);
    await mkdir(path.join(dir, 'target', 'debug'), { recursive: true });
    await writeFile(path.join(dir, 'target', 'debug', 'test-binary'), 'ELF');
    await mkdir(path.join(dir, 'tests', '__pycache__'), { recursive: true });
    await writeFile(path.join(dir, 'tests', '__pycache__', 'x.cpython-311.pyc'), 'pyc');
    await mkdir(path.join(dir, 'node_modules', 'left-pad'), { recursive: true });
    await writeFile(path.join(dir, 'node_modules', 'left-pad', 'index.js'), '');
    await writeFile(path.join(dir, 'target', 'tracked.txt'), 'changed on purpose\n');
    await writeFile(path.join(dir, 'lib.rs'), 'pub fn a() {}\npub fn b() {}\n');
    await writeFile(path.join(dir, 'new.rs'), 'pub fn c() {}\n');
    expect((await engine().changedFiles(dir)).sort()).toEqual(['lib.rs', 'new.rs', 'target/tracked.txt']);
  });
});
