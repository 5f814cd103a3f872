/**
 * One owner per work folder. `acquireLock(dir)` creates `<dir>/owner.lock` exclusively (link()
 * of a fsynced temp file, so the file appears whole, with the owner's pid in it, or not at all).
 * A lock whose recorded pid is no longer alive (`process.kill(pid, 0)` says ESRCH) was left by a
 * crashed owner and is taken over; a live owner makes acquisition fail with QUEUE_IO.
 *
 * Limits: pids are only meaningful on one machine and within one pid namespace; a recycled pid
 * looks alive, in which case a person removes the stale file (the error names it).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { AvatarError } from '../../core/errors.ts';
import { createFileExclusive, errnoCode, removeFile } from './atomic.ts';

export const LOCK_FILE = 'owner.lock';

export interface Lock {
  /** The lock file's path. */
  readonly file: string;
  /** Removes the lock if this holder still owns it. Safe to call twice. */
  release(): Promise<void>;
}

interface LockRecord {
  pid: number;
  token: string;
  at: string;
}

export interface AcquireLockOptions {
  /** Whether a pid is alive; default `process.kill(pid, 0)`. Tests may hand in their own. */
  isAlive?: (pid: number) => boolean;
  pid?: number;
}

export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return errnoCode(err) === 'EPERM';
  }
}

export async function acquireLock(dir: string, opts: AcquireLockOptions = {}): Promise<Lock> {
  const isAlive = opts.isAlive ?? isPidAlive;
  const pid = opts.pid ?? process.pid;
  const file = path.join(dir, LOCK_FILE);
  const record: LockRecord = { pid, token: randomBytes(12).toString('hex'), at: new Date().toISOString() };
  const content = JSON.stringify(record) + '\n';

  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (cause) {
    throw new AvatarError('QUEUE_IO', `cannot create ${dir}: ${String(cause)}`, { cause });
  }

  for (let attempt = 0; attempt < 5; attempt++) {
    if (await createFileExclusive(file, content)) {
      return makeLock(file, record.token);
    }
    const existing = await readRaw(file);
    if (existing === undefined) continue; // released in between: try again
    const holder = parseRecord(existing);
    if (holder !== undefined && isAlive(holder.pid)) {
      throw new AvatarError('QUEUE_IO', `another numa-avatar (pid ${holder.pid}) is using ${dir}`);
    }
    // Stale (dead pid, or a file that is not a lock record): take it over without racing another
    // taker. Move it aside; if what we moved is no longer what we judged stale, put it back.
    const aside = `${file}.stale-${randomBytes(6).toString('hex')}`;
    try {
      await fs.rename(file, aside);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue;
      throw new AvatarError('QUEUE_IO', `cannot take over the stale lock ${file}: ${String(err)}`, {
        cause: err,
      });
    }
    const moved = await readRaw(aside);
    if (moved !== existing) {
      // Someone took the lock between our read and our rename: give it back.
      await fs.link(aside, file).catch(() => undefined);
    }
    await removeFile(aside);
  }
  throw new AvatarError(
    'QUEUE_IO',
    `cannot acquire ${file}: it keeps changing (another process is starting?)`,
  );
}

function makeLock(file: string, token: string): Lock {
  let released = false;
  return {
    file,
    async release() {
      if (released) return;
      released = true;
      const current = parseRecord((await readRaw(file)) ?? '');
      if (current?.token === token) await removeFile(file);
    },
  };
}

async function readRaw(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new AvatarError('QUEUE_IO', `cannot read ${file}: ${String(err)}`, { cause: err });
  }
}

function parseRecord(text: string): LockRecord | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (v !== null && typeof v === 'object' && 'pid' in v && typeof v.pid === 'number') {
      const token = 'token' in v && typeof v.token === 'string' ? v.token : '';
      const at = 'at' in v && typeof v.at === 'string' ? v.at : '';
      return { pid: v.pid, token, at };
    }
  } catch {
    // not JSON: a bare pid (written by hand or an older version)?
    const pid = Number(text.trim());
    if (Number.isInteger(pid) && pid > 0) return { pid, token: '', at: '' };
  }
  return undefined;
}
