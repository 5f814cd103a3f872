/**
 * The local BlobStore: one file per key under a root folder. Keys are `a/b/c` paths of plain
 * segments; `..`, `.`, absolute keys, empty segments, backslashes and NUL are refused
 * (PATH_ESCAPE), so a key can never reach outside the root. Writes are atomic (temp file, fsync,
 * rename); putIfAbsent links a fsynced temp file into place, which fails when the key exists, so
 * of several concurrent callers exactly one wins.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { AvatarError } from '../../core/errors.ts';
import type { BlobStore } from '../../core/ports.ts';
import { TEMP_PREFIX, createFileExclusive, errnoCode, isTempName, writeFileAtomic } from './atomic.ts';

export interface FileBlobStoreOptions {
  root: string;
}

export class FileBlobStore implements BlobStore {
  readonly root: string;

  constructor(opts: FileBlobStoreOptions) {
    this.root = path.resolve(opts.root);
  }

  async get(key: string): Promise<Buffer | undefined> {
    const file = this.fileFor(key);
    try {
      return await fs.readFile(file);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') return undefined;
      throw ioError('get', key, err);
    }
  }

  async put(key: string, data: Buffer | string): Promise<void> {
    const file = this.fileFor(key);
    try {
      await fs.mkdir(path.dirname(file), { recursive: true });
      await writeFileAtomic(file, data);
    } catch (err) {
      throw ioError('put', key, err);
    }
  }

  async putIfAbsent(key: string, data: Buffer | string): Promise<boolean> {
    const file = this.fileFor(key);
    try {
      await fs.mkdir(path.dirname(file), { recursive: true });
      return await createFileExclusive(file, data);
    } catch (err) {
      throw ioError('putIfAbsent', key, err);
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.fileFor(key);
    try {
      await fs.rm(file, { force: true });
    } catch (err) {
      throw ioError('delete', key, err);
    }
  }

  /** Keys that start with `prefix` (a plain string prefix, as in S3), sorted. */
  async list(prefix: string): Promise<string[]> {
    if (
      typeof prefix !== 'string' ||
      prefix.startsWith('/') ||
      prefix.includes('\\') ||
      prefix.includes('\0')
    ) {
      throw new AvatarError('PATH_ESCAPE', `invalid blob key prefix ${JSON.stringify(String(prefix))}`);
    }
    // Start at the deepest folder the prefix names completely; filter the rest by string prefix.
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash >= 0 ? prefix.slice(0, slash) : '';
    if (baseKey !== '') validateKey(baseKey);
    const out: string[] = [];
    await this.walk(baseKey, prefix, out);
    return out.sort();
  }

  private async walk(dirKey: string, prefix: string, out: string[]): Promise<void> {
    const dir = dirKey === '' ? this.root : path.join(this.root, ...dirKey.split('/'));
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw ioError('list', prefix, err);
    }
    for (const e of entries) {
      if (isTempName(e.name)) continue;
      const key = dirKey === '' ? e.name : `${dirKey}/${e.name}`;
      if (e.isDirectory()) {
        // Descend only where keys below can still match the prefix.
        if (key.startsWith(prefix) || prefix.startsWith(key + '/')) await this.walk(key, prefix, out);
      } else if (e.isFile() && key.startsWith(prefix)) {
        out.push(key);
      }
    }
  }

  private fileFor(key: string): string {
    validateKey(key);
    return path.join(this.root, ...key.split('/'));
  }
}

/** Throws PATH_ESCAPE unless `key` is a relative `a/b/c` path of plain, non-empty segments. */
export function validateKey(key: string): void {
  const bad = (why: string) =>
    new AvatarError('PATH_ESCAPE', `invalid blob key ${JSON.stringify(String(key)).slice(0, 200)}: ${why}`);
  if (typeof key !== 'string' || key === '') throw bad('must not be empty');
  if (key.startsWith('/') || /^[A-Za-z]:/.test(key)) throw bad('must be relative');
  if (key.includes('\\') || key.includes('\0')) throw bad('must not contain backslashes or NUL');
  for (const seg of key.split('/')) {
    if (seg === '') throw bad('has an empty segment');
    if (seg === '..' || seg === '.') throw bad(`segment "${seg}" is not allowed`);
    if (seg.startsWith(TEMP_PREFIX)) throw bad(`segments must not start with "${TEMP_PREFIX}"`);
  }
}

function ioError(op: string, key: string, cause: unknown): AvatarError {
  if (cause instanceof AvatarError) return cause;
  return new AvatarError('QUEUE_IO', `blob store ${op} ${JSON.stringify(key)} failed: ${String(cause)}`, {
    cause,
  });
}
