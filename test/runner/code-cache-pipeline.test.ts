/**
 * The pipeline with a code cache (`runTask` with `codeCache`), for both git engines, against the
 * reference backend, the real git server and the scripted model: the first run clones and saves
 * the cache, the next one restores it, fetches, and still pushes the right commit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileBlobStore } from '../../adapters/local/file-blob-store.ts';
import { validate } from '../../core/config/load.ts';
import { silentLogger } from '../../core/log.ts';
import { BlobStoreCodeCache, codeCacheKey } from '../../container/runner/code-cache.ts';
import { runTask } from '../../container/runner/entry.ts';
import { loadRecordedSession } from '../../servers/scripted-model/index.ts';
import { createWorld, RECORDED_SESSION, type World } from '../helpers/world.ts';

describe.each(['native', 'isomorphic'] as const)('pipeline with the code cache (%s git)', (engine) => {
  let world: World;

  beforeAll(async () => {
    world = await createWorld({
      model: {
        turns: [],
        sessions: [{ match: 'titleCase', turns: loadRecordedSession(RECORDED_SESSION), repeat: true }],
      },
    });
  });

  afterAll(async () => {
    await world?.close();
  });

  it('clones and saves the cache, then restores it and fetches on the next run', async () => {
    const config = validate(world.configValues({ git: { ...gitValues(world), engine } }), 'test');
    const loaded = { config, workDir: config.work_dir, fileValues: {} };
    const blobs = new FileBlobStore({ root: config.work_dir });
    const codeCache = new BlobStoreCodeCache({ blobs });

    const t1 = await world.createTask({ title: 'Add titleCase (first, cold)' });
    const lines1: string[] = [];
    const r1 = await runTask({
      loaded,
      taskId: String(t1.id),
      logger: silentLogger,
      codeCache,
      onLine: (l) => lines1.push(l),
    });
    expect(r1.status).toBe('done');
    expect(lines1.join('\n')).toMatch(/cloned main with .* created branch/);
    expect(await blobs.list('cache/git/')).toEqual([codeCacheKey(world.repoUrl)]);

    const t2 = await world.createTask({ title: 'Add titleCase (second, from the cache)' });
    const lines2: string[] = [];
    const r2 = await runTask({
      loaded,
      taskId: String(t2.id),
      logger: silentLogger,
      codeCache,
      onLine: (l) => lines2.push(l),
    });
    expect(r2).toMatchObject({ status: 'done', reported: true });
    expect(lines2.join('\n')).toMatch(
      new RegExp(
        `restored the repository from the code cache and fetched main with ${engine} git in \\d+ ms; created branch`,
      ),
    );
    expect(lines2.join('\n')).not.toMatch(/cloned main/);
    expect(await world.remoteBranch(t2.code_branch)).toBe(r2.commit);
    // Built on main, not on the first task's branch.
    expect(r2.diffStat).toMatchObject({ files: 2 });
  });
});

function gitValues(world: World): Record<string, unknown> {
  return world.configValues().git as Record<string, unknown>;
}
