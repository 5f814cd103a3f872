/**
 * One agent uid per concurrent run on the machine, for the user mode and for bubblewrap started
 * as a uid: a run takes the first free uid of `[base, base + count)` by writing
 * `<dir>/<uid>` (its pid and the pid's start time), and gives it back when its sandbox closes. A
 * lease whose process is gone, or whose pid now belongs to another process (another start time),
 * is taken over. Leasing is serialized by a mutex (a folder made with mkdir, which only one
 * process can create), so two runs never take the same uid, also when they take over the same
 * stale lease at once. The leases live in one place for the whole machine (/run, root's and
 * emptied at boot), since two work dirs on one machine share the uids.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AvatarError } from '../../../core/errors.ts';

export const LEASE_DIR = '/run/numa-avatar/uid-leases';

export interface UidLease {
  uid: number;
  release(): Promise<void>;
}

/** The start time of `pid` (field 22 of /proc/<pid>/stat), or undefined when it is gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command (field 2) is in parentheses and may hold spaces: count from after it.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function holderAlive(text: string): boolean {
  const [pid, started] = text.trim().split(' ');
  if (!pid || !started || !/^\d+$/.test(pid)) return false;
  return startTime(Number(pid)) === started;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withMutex<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const mutex = path.join(dir, '.mutex');
  for (let i = 0; ; i++) {
    try {
      await mkdir(mutex);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Held for milliseconds; one older than 30 s belongs to a process that died holding it.
      const age = Date.now() - ((await stat(mutex).catch(() => undefined))?.mtimeMs ?? Date.now());
      if (age > 30_000) await rm(mutex, { recursive: true, force: true });
      if (i > 2000) throw new AvatarError('SANDBOX_UNAVAILABLE', `the uid lease mutex ${mutex} stays taken`);
      await sleep(5);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(mutex, { recursive: true, force: true });
  }
}

export async function leaseUid(
  base: number,
  opts: { dir?: string; count?: number; pid?: number } = {},
): Promise<UidLease> {
  const dir = opts.dir ?? LEASE_DIR;
  const count = opts.count ?? 256;
  const pid = opts.pid ?? process.pid;
  // The nonce tells two leases of one process apart (release removes only its own).
  const me = `${pid} ${startTime(pid) ?? '0'} ${randomUUID()}`;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const uid = await withMutex(dir, async () => {
    for (let uid = base; uid < base + count; uid++) {
      const file = path.join(dir, String(uid));
      const held = await readFile(file, 'utf8').catch(() => undefined);
      if (held !== undefined && holderAlive(held)) continue;
      await writeFile(file, me, { mode: 0o600 });
      return uid;
    }
    return undefined;
  });
  if (uid === undefined) {
    throw new AvatarError(
      'SANDBOX_UNAVAILABLE',
      `all ${count} agent uids from ${base} are in use by running tasks (leases in ${dir})`,
    );
  }
  const file = path.join(dir, String(uid));
  return {
    uid,
    release: () =>
      withMutex(dir, async () => {
        if ((await readFile(file, 'utf8').catch(() => '')) === me) await unlink(file).catch(() => undefined);
      }).catch(() => undefined),
  };
}
