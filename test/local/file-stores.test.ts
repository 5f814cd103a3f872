import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAvatarError } from '../../core/errors.ts';
import { FileBlobStore, validateKey } from '../../adapters/local/file-blob-store.ts';
import { FileVersionedStore } from '../../adapters/local/file-versioned-store.ts';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'numa-store-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('FileBlobStore', () => {
  it('puts, gets, overwrites and lists by prefix', async () => {
    const s = new FileBlobStore({ root: path.join(dir, 'blobs') });
    expect(await s.get('runs/1/log.txt')).toBeUndefined();
    await s.put('runs/1/log.txt', 'one');
    await s.put('runs/1/log.txt', Buffer.from('two'));
    await s.put('runs/10/log.txt', 'ten');
    await s.put('runs/2/a/b.json', '{}');
    await s.put('state/cursor', 'c');
    expect((await s.get('runs/1/log.txt'))?.toString()).toBe('two');
    expect(await s.get('runs/1')).toBeUndefined();
    expect(await s.list('runs/1')).toEqual(['runs/1/log.txt', 'runs/10/log.txt']);
    expect(await s.list('runs/1/')).toEqual(['runs/1/log.txt']);
    expect(await s.list('runs/')).toEqual(['runs/1/log.txt', 'runs/10/log.txt', 'runs/2/a/b.json']);
    expect(await s.list('')).toHaveLength(4);
    expect(await s.list('nothing/here')).toEqual([]);
  });

  it('putIfAbsent: of two concurrent calls exactly one wins, and the stored content is the winner', async () => {
    const s = new FileBlobStore({ root: dir });
    for (let round = 0; round < 20; round++) {
      const key = `claims/run-${round}`;
      const results = await Promise.all([s.putIfAbsent(key, 'A'), s.putIfAbsent(key, 'B')]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await s.get(key))?.toString()).toBe(results[0] ? 'A' : 'B');
    }
    expect(await s.putIfAbsent('claims/run-0', 'C')).toBe(false);
    // no temp files left behind, none listed
    expect((await fs.readdir(path.join(dir, 'claims'))).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    expect(await s.list('claims/')).toHaveLength(20);
  });

  it.each([
    ['', 'must not be empty'],
    ['../x', 'not allowed'],
    ['a/../../x', 'not allowed'],
    ['/etc/passwd', 'must be relative'],
    ['a//b', 'empty segment'],
    ['a/b/', 'empty segment'],
    ['./a', 'not allowed'],
    ['a\\..\\b', 'backslashes'],
    ['a/.tmp-1', 'must not start'],
  ])('refuses the key %j', async (key, why) => {
    const s = new FileBlobStore({ root: dir });
    expect(() => validateKey(key)).toThrow(why);
    for (const op of [() => s.get(key), () => s.put(key, 'x'), () => s.putIfAbsent(key, 'x')]) {
      await expect(op()).rejects.toSatisfy((e) => isAvatarError(e, 'PATH_ESCAPE'));
    }
    expect(await fs.readdir(dir)).toEqual([]);
  });

  it('refuses a prefix that leaves the root', async () => {
    const s = new FileBlobStore({ root: dir });
    await expect(s.list('../')).rejects.toSatisfy((e) => isAvatarError(e, 'PATH_ESCAPE'));
    await expect(s.list('/etc/')).rejects.toSatisfy((e) => isAvatarError(e, 'PATH_ESCAPE'));
  });
});

describe('FileVersionedStore', () => {
  it('compare-and-set: first save needs undefined, later saves need the current version', async () => {
    const file = path.join(dir, 'state', 'cursor.json');
    const s = new FileVersionedStore<{ after: number }>({ file });
    expect(await s.load()).toBeUndefined();
    expect(await s.save({ after: 1 }, 'nope')).toBe(false);
    expect(await s.save({ after: 1 }, undefined)).toBe(true);
    const v1 = await s.load();
    expect(v1?.value).toEqual({ after: 1 });
    expect(await s.save({ after: 2 }, undefined)).toBe(false);
    expect(await s.save({ after: 2 }, v1!.version)).toBe(true);
    expect(await s.save({ after: 3 }, v1!.version)).toBe(false);
    // a new instance (a restart) sees the same value and version
    const again = await new FileVersionedStore<{ after: number }>({ file }).load();
    expect(again?.value).toEqual({ after: 2 });
    expect(again?.version).not.toBe(v1!.version);
  });

  it('of concurrent saves with the same expected version exactly one wins', async () => {
    const s = new FileVersionedStore<number>({ file: path.join(dir, 'v.json') });
    await s.save(0, undefined);
    const { version } = (await s.load())!;
    const results = await Promise.all([1, 2, 3].map((n) => s.save(n, version)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('names the file when it holds something else', async () => {
    const file = path.join(dir, 'v.json');
    await fs.writeFile(file, '[1,2]');
    await expect(new FileVersionedStore({ file }).load()).rejects.toThrow(file);
  });
});
