/**
 * One agent uid per concurrent run in the user mode: a run takes the first free uid of
 * `[base, base + count)` by creating `<dir>/<uid>` exclusively (holding the runner's pid), and
 * gives it back when its sandbox closes. A lease whose runner is gone (crashed) is taken over.
 * Two runs never share a uid, so neither can read the other's files, signal its processes, or be
 * killed by the other's reaping.
 */
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { AvatarError } from '../../../core/errors.ts';

export interface UidLease {
  uid: number;
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function leaseUid(dir: string, base: number, count = 256, pid = process.pid): Promise<UidLease> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (let uid = base; uid < base + count; uid++) {
    const file = path.join(dir, String(uid));
    for (let tries = 0; tries < 2; tries++) {
      try {
        const fh = await open(file, 'wx', 0o600);
        await fh.writeFile(String(pid));
        await fh.close();
        return { uid, release: () => unlink(file).catch(() => undefined) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
        // A lease being written right now reads empty: leave it to its writer.
        if (!Number.isInteger(holder) || holder <= 0 || alive(holder)) break;
        await unlink(file).catch(() => undefined);
      }
    }
  }
  throw new AvatarError(
    'SANDBOX_UNAVAILABLE',
    `all ${count} agent uids from ${base} are in use by running tasks (leases in ${dir})`,
  );
}
