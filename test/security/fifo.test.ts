/**
 * Files the runner itself reads from the untrusted repository before any agent step: a
 * `.gitignore` and a `package.json` that are FIFOs (an open() of one would wait for a writer
 * forever and hang the run), and links out of the repository. Each read must come back at once,
 * with nothing from outside.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IgnoreMatcher } from '../../container/runner/agent/ignore.ts';
import { walk } from '../../container/runner/agent/walk.ts';
import { detectTestCommand } from '../../container/runner/testing/detect.ts';

const roots: string[] = [];
async function repo(): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'numa-fifo-'));
  roots.push(root);
  await mkdir(path.join(root, 'src'));
  await writeFile(path.join(root, 'src', 'a.js'), 'a\n');
  return root;
}

/** Resolves with the value, or rejects when the promise takes longer than `ms` (a hang). */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms)),
  ]);
}

afterEach(async () => {
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

describe('the runner reads no FIFO and follows no link out of the repository', () => {
  it('a .gitignore FIFO: the walk finishes and lists the files', async () => {
    const root = await repo();
    execFileSync('mkfifo', [path.join(root, '.gitignore')]);
    const names: string[] = [];
    await within(
      (async () => {
        for await (const e of walk({ root, start: '', matcher: new IgnoreMatcher(root) })) names.push(e.rel);
      })(),
      3000,
    );
    expect(names).toContain('src/a.js');
  });

  it('a .gitignore linked to a file outside the repository is no rule (not read)', async () => {
    const root = await repo();
    const outside = await mkdtemp(path.join(os.tmpdir(), 'numa-fifo-outside-'));
    roots.push(outside);
    await writeFile(path.join(outside, 'rules'), 'src/\n');
    await symlink(path.join(outside, 'rules'), path.join(root, '.gitignore'));
    const matcher = new IgnoreMatcher(root);
    expect(await within(matcher.isIgnored('src/a.js', false), 3000)).toBe(false);
  });

  it('a package.json FIFO: test detection answers at once', async () => {
    const root = await repo();
    execFileSync('mkfifo', [path.join(root, 'package.json')]);
    await expect(within(detectTestCommand(root), 3000)).resolves.toBeUndefined();
  });

  it('a package.json linked outside: not read', async () => {
    const root = await repo();
    const outside = await mkdtemp(path.join(os.tmpdir(), 'numa-fifo-outside-'));
    roots.push(outside);
    await writeFile(
      path.join(outside, 'package.json'),
      JSON.stringify({ scripts: { test: 'echo outside' } }),
    );
    await symlink(path.join(outside, 'package.json'), path.join(root, 'package.json'));
    expect(await within(detectTestCommand(root), 3000)).toBeUndefined();
  });
});
