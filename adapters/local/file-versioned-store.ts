/**
 * The local VersionedStore: the value as JSON in one file, together with a version counter
 * (`{ "version": 3, "value": ... }`). save() is compare-and-set within the process; the folder's
 * single owner (lock.ts) makes that enough. Writes are atomic (temp file, fsync, rename).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { AvatarError } from '../../core/errors.ts';
import type { VersionedStore } from '../../core/ports.ts';
import { errnoCode, writeFileAtomic } from './atomic.ts';
import { Serial } from './serial.ts';

export interface FileVersionedStoreOptions {
  file: string;
}

export class FileVersionedStore<T> implements VersionedStore<T> {
  readonly file: string;
  private readonly serial = new Serial();

  constructor(opts: FileVersionedStoreOptions) {
    this.file = path.resolve(opts.file);
  }

  load(): Promise<{ value: T; version: string } | undefined> {
    return this.serial.run(async () => {
      const rec = await this.read();
      return rec === undefined ? undefined : { value: rec.value, version: String(rec.version) };
    });
  }

  save(value: T, expected: string | undefined): Promise<boolean> {
    return this.serial.run(async () => {
      const current = await this.read();
      const currentVersion = current === undefined ? undefined : String(current.version);
      if (currentVersion !== expected) return false;
      const next = { version: (current?.version ?? 0) + 1, value };
      try {
        await fs.mkdir(path.dirname(this.file), { recursive: true });
        await writeFileAtomic(this.file, JSON.stringify(next, null, 2) + '\n');
      } catch (cause) {
        throw new AvatarError('QUEUE_IO', `cannot write ${this.file}: ${String(cause)}`, { cause });
      }
      return true;
    });
  }

  private async read(): Promise<{ version: number; value: T } | undefined> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (cause) {
      if (errnoCode(cause) === 'ENOENT') return undefined;
      throw new AvatarError('QUEUE_IO', `cannot read ${this.file}: ${String(cause)}`, { cause });
    }
    try {
      const v = JSON.parse(text) as { version?: unknown; value?: unknown };
      if (typeof v.version === 'number' && Number.isInteger(v.version) && v.version >= 1 && 'value' in v) {
        return { version: v.version, value: v.value as T };
      }
    } catch {
      // fall through
    }
    throw new AvatarError(
      'QUEUE_IO',
      `${this.file} is not a versioned record ({ "version": n, "value": ... })`,
    );
  }
}
