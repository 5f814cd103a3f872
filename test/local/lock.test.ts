import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAvatarError } from '../../core/errors.ts';
import { LOCK_FILE, acquireLock } from '../../adapters/local/lock.ts';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'numa-lock-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  const pid = child.pid!;
  await new Promise((resolve) => child.on('exit', resolve));
  return pid;
}

describe('acquireLock', () => {
  it('writes our pid, refuses a second owner while held, and can be taken again after release', async () => {
    const lock = await acquireLock(dir);
    const rec = JSON.parse(await fs.readFile(path.join(dir, LOCK_FILE), 'utf8'));
    expect(rec.pid).toBe(process.pid);
    const err = await acquireLock(dir).catch((e: unknown) => e);
    expect(isAvatarError(err, 'QUEUE_IO')).toBe(true);
    expect((err as Error).message).toBe(`another numa-avatar (pid ${process.pid}) is using ${dir}`);
    await lock.release();
    await lock.release();
    await expect(fs.access(path.join(dir, LOCK_FILE))).rejects.toThrow();
    const again = await acquireLock(dir);
    await again.release();
  });

  it('refuses when a live process holds the lock', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      await fs.writeFile(path.join(dir, LOCK_FILE), JSON.stringify({ pid: child.pid, token: 't', at: '' }));
      await expect(acquireLock(dir)).rejects.toThrow(
        `another numa-avatar (pid ${child.pid}) is using ${dir}`,
      );
      expect(JSON.parse(await fs.readFile(path.join(dir, LOCK_FILE), 'utf8')).pid).toBe(child.pid);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('takes over a lock left by a dead process', async () => {
    const pid = await deadPid();
    await fs.writeFile(path.join(dir, LOCK_FILE), JSON.stringify({ pid, token: 'old', at: '' }));
    const lock = await acquireLock(dir);
    const rec = JSON.parse(await fs.readFile(path.join(dir, LOCK_FILE), 'utf8'));
    expect(rec.pid).toBe(process.pid);
    expect((await fs.readdir(dir)).sort()).toEqual([LOCK_FILE]);
    await lock.release();
  });

  it('takes over a lock file holding a bare dead pid, and one that is garbage', async () => {
    await fs.writeFile(path.join(dir, LOCK_FILE), `${await deadPid()}\n`);
    const lock = await acquireLock(dir);
    await lock.release();
    await fs.writeFile(path.join(dir, LOCK_FILE), 'garbage');
    const lock2 = await acquireLock(dir);
    await lock2.release();
  });

  it('does not remove a lock that another owner took after ours was taken over', async () => {
    const lock = await acquireLock(dir, { isAlive: () => false });
    // a second process judges us dead and takes over
    const other = await acquireLock(dir, { isAlive: () => false, pid: 424242 });
    await lock.release();
    expect(JSON.parse(await fs.readFile(path.join(dir, LOCK_FILE), 'utf8')).pid).toBe(424242);
    await other.release();
  });
});
