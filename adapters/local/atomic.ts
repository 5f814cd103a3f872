/**
 * Crash-safe file writes for the local adapters. A write goes to a temp file in the target's own
 * folder, is fsynced, renamed (or linked) over the target, and the folder is fsynced, so a
 * `kill -9` or power loss at any moment leaves either the old or the new content, never a torn
 * file. Temp files are named `.tmp-*`; readers skip them and owners sweep them at start.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

export const TEMP_PREFIX = '.tmp-';

export function isTempName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX);
}

export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** fsyncs a directory so a rename, link or unlink inside it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `data` to a new temp file beside `target` and fsyncs it; returns the temp path. */
export async function writeTemp(target: string, data: Buffer | string): Promise<string> {
  const tmp = tempPathFor(target);
  const handle = await fs.open(tmp, 'wx', 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  return tmp;
}

/** Replaces `target` with `data` atomically and durably. */
export async function writeFileAtomic(target: string, data: Buffer | string): Promise<void> {
  const tmp = await writeTemp(target, data);
  try {
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(target));
}

/**
 * Creates `target` with `data` only if it does not exist (link() of a fsynced temp file: the
 * file appears whole or not at all). Returns false when something was already there.
 */
export async function createFileExclusive(target: string, data: Buffer | string): Promise<boolean> {
  const tmp = await writeTemp(target, data);
  try {
    await fs.link(tmp, target);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw err;
  } finally {
    await fs.rm(tmp, { force: true });
    await fsyncDir(path.dirname(target));
  }
}

/** Moves a file between two folders of the same file system; durable in both folders. */
export async function moveFile(from: string, to: string): Promise<void> {
  await fs.rename(from, to);
  await fsyncDir(path.dirname(to));
  if (path.dirname(from) !== path.dirname(to)) await fsyncDir(path.dirname(from));
}

/** Removes a file durably; false when it was not there. */
export async function removeFile(file: string): Promise<boolean> {
  try {
    await fs.unlink(file);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
  await fsyncDir(path.dirname(file));
  return true;
}

/** Deletes leftover temp files of crashed writers in `dir` (only safe for the folder's owner). */
export async function sweepTemps(dir: string): Promise<number> {
  let removed = 0;
  for (const name of await fs.readdir(dir)) {
    if (isTempName(name)) {
      await fs.rm(path.join(dir, name), { force: true });
      removed++;
    }
  }
  if (removed > 0) await fsyncDir(dir);
  return removed;
}

export function errnoCode(err: unknown): string | undefined {
  return err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}
