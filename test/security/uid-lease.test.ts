/**
 * Agent uid leases (container/runner/sandbox/uid-lease.ts) under contention: runners started at
 * once (as the service does after a crash, when every lease is stale) never get the same uid; a
 * lease whose pid now names another process is taken over; a live one is not.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { leaseUid } from '../../container/runner/sandbox/uid-lease.ts';

const MODULE = fileURLToPath(new URL('../../container/runner/sandbox/uid-lease.ts', import.meta.url));
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/**
 * A separate process that leases a uid, prints it, and holds it until its stdin closes: the test
 * closes them all once every one has printed, so the leases are all held at the same time.
 */
function leaser(dir: string): { uid: Promise<number>; release: () => Promise<void> } {
  const code =
    `const { leaseUid } = await import(${JSON.stringify(MODULE)});` +
    `const l = await leaseUid(62000, { dir: ${JSON.stringify(dir)}, count: 16 });` +
    `console.log(l.uid); process.stdin.resume(); process.stdin.on('end', async () => { await l.release(); process.exit(0); });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const uid = new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    child.on('close', (codeNum) => reject(new Error(`exit ${codeNum} before leasing`)));
  });
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    uid,
    release: async () => {
      child.stdin.end();
      await closed;
    },
  };
}

describe('uid leases', () => {
  it('runners started at once over stale leases get distinct uids (10 rounds of 6)', async () => {
    for (let round = 0; round < 10; round++) {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'numa-leases-'));
      dirs.push(dir);
      // Every lease stale: pids that do not run.
      for (let i = 0; i < 6; i++) await writeFile(path.join(dir, String(62000 + i)), `${4_000_000 + i} 1`);
      const leasers = Array.from({ length: 6 }, () => leaser(dir));
      const uids = await Promise.all(leasers.map((l) => l.uid));
      await Promise.all(leasers.map((l) => l.release()));
      expect(new Set(uids).size, `round ${round}: ${uids.join(',')}`).toBe(6);
    }
  });

  it('takes over a lease whose pid is another process now, keeps out of a live one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'numa-leases-'));
    dirs.push(dir);
    // This very process, with a start time it never had: the pid was reused.
    await writeFile(path.join(dir, '62000'), `${process.pid} 1`);
    const a = await leaseUid(62000, { dir, count: 4 });
    expect(a.uid).toBe(62000);
    const b = await leaseUid(62000, { dir, count: 4 });
    expect(b.uid).toBe(62001);
    await a.release();
    expect(await readFile(path.join(dir, '62000'), 'utf8').catch(() => 'gone')).toBe('gone');
    // Releasing twice, or a lease since taken by another, removes nothing of anyone else's.
    const c = await leaseUid(62000, { dir, count: 4 });
    await a.release();
    expect((await readFile(path.join(dir, '62000'), 'utf8')).length).toBeGreaterThan(0);
    await Promise.all([b.release(), c.release()]);
  });
});
