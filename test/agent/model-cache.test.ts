/**
 * The model response cache: an identical run replays from the cache with zero model calls;
 * `cacheEnabled: false` turns it off; cached answers are marked in the transcript; answers holding
 * secret-looking text are not stored; a broken blob is a miss.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileBlobStore } from '../../adapters/local/file-blob-store.ts';
import type { AgentEvent } from '../../container/runner/agent/agent.ts';
import {
  MODEL_CACHE_PREFIX,
  canonicalJson,
  modelCacheKey,
} from '../../container/runner/agent/model-cache.ts';
import type { ScriptedTurn } from '../../servers/scripted-model/index.ts';
import { BRIEF, agentRun, call } from './helpers.ts';
import type { AgentRun, AgentRunOptions } from './helpers.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function start(o: AgentRunOptions): Promise<AgentRun> {
  const r = await agentRun(o);
  cleanups.push(() => r.close());
  return r;
}

async function blobStore(): Promise<{ blobs: FileBlobStore; dir: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'avatar-cache-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return { blobs: new FileBlobStore({ root: dir }), dir };
}

const turns: ScriptedTurn[] = [
  { tool_calls: [call('list_files')] },
  { tool_calls: [call('read_file', { path: 'src/add.js' })] },
  {
    content: 'The sign is wrong.',
    tool_calls: [call('edit_file', { path: 'src/add.js', old_text: 'a - b', new_text: 'a + b' })],
  },
  { tool_calls: [call('run_tests')] },
  { tool_calls: [call('finish', { summary: 'add adds', commit_message: 'Fix add' })] },
];

const responses = (events: AgentEvent[]) =>
  events.filter((e): e is Extract<AgentEvent, { type: 'response' }> => e.type === 'response');

describe('model cache', () => {
  it('replays an identical run from the cache: zero model requests the second time', async () => {
    const { blobs } = await blobStore();
    const first = await start({ turns, options: { blobs, temperature: 0.2 } });
    expect((await first.session.develop()).kind).toBe('finished');
    expect(first.server.requests()).toHaveLength(5);
    expect(await blobs.list(MODEL_CACHE_PREFIX)).toHaveLength(5);
    expect(responses(first.events).every((e) => !e.cached)).toBe(true);

    // The same task on a fresh clone, against a server that has nothing to say.
    const second = await start({ turns: [], options: { blobs, temperature: 0.2 } });
    const outcome = await second.session.develop();
    expect(outcome).toEqual({ kind: 'finished', summary: 'add adds', commitMessage: 'Fix add' });
    expect(second.server.requests()).toHaveLength(0);
    expect(await readFile(path.join(second.repo.dir, 'src/add.js'), 'utf8')).toContain('return a + b;');
    expect(second.session.stats).toMatchObject({
      modelCalls: 0,
      cachedCalls: 5,
      promptTokens: 0,
      completionTokens: 0,
      costUsd: 0,
    });
    // Marked in the transcript: cached, no usage spent, the original usage kept apart.
    const replayed = responses(second.events);
    expect(replayed).toHaveLength(5);
    for (const e of replayed) {
      expect(e.cached).toBe(true);
      expect(e.usage).toBeNull();
      expect(e.cachedUsage?.promptTokens).toBeGreaterThan(0);
      expect(e.cacheKey).toMatch(/^cache\/model\/[0-9a-f]{64}\.json$/);
    }
    expect(second.session.summary()).toContain('0 model calls + 5 answered from the cache');
  });

  it('a different request (another temperature, another brief) is a miss', async () => {
    const { blobs } = await blobStore();
    const first = await start({ turns, options: { blobs, temperature: 0.2 } });
    await first.session.develop();
    const other = await start({ turns, options: { blobs, temperature: 0.7 } });
    expect((await other.session.develop()).kind).toBe('finished');
    expect(other.server.requests()).toHaveLength(5);
    expect(other.session.stats.cachedCalls).toBe(0);
    const edited = await start({
      turns,
      options: { blobs, temperature: 0.2, brief: { ...BRIEF, description: 'Make add() add, please.' } },
    });
    expect((await edited.session.develop()).kind).toBe('finished');
    expect(edited.server.requests()).toHaveLength(5);
  });

  it('model.cache false: every request goes to the model, nothing is stored', async () => {
    const { blobs } = await blobStore();
    const first = await start({ turns, options: { blobs, cacheEnabled: false } });
    await first.session.develop();
    expect(await blobs.list(MODEL_CACHE_PREFIX)).toEqual([]);
    const second = await start({ turns, options: { blobs, cacheEnabled: false } });
    expect((await second.session.develop()).kind).toBe('finished');
    expect(second.server.requests()).toHaveLength(5);
  });

  it('does not store answers the redactor would change (a secret must not reach the disk)', async () => {
    const { blobs, dir } = await blobStore();
    const r = await start({
      turns: [
        {
          content: 'Using api_key=sk-live-abcdefghijklmnopqrstuvwx',
          tool_calls: [call('finish', { summary: 's', commit_message: 'm' })],
        },
      ],
      options: { blobs },
    });
    await r.session.develop();
    expect(await blobs.list(MODEL_CACHE_PREFIX)).toEqual([]);
    expect(dir).toBeTruthy();
  });

  it('a broken cache blob is a miss, and is replaced by the fresh answer', async () => {
    const { blobs, dir } = await blobStore();
    const one: ScriptedTurn[] = [{ tool_calls: [call('finish', { summary: 's', commit_message: 'm' })] }];
    const first = await start({ turns: one, options: { blobs } });
    await first.session.develop();
    const [key] = await blobs.list(MODEL_CACHE_PREFIX);
    expect(key).toBeDefined();
    await writeFile(path.join(dir, key as string), '{ not json');
    const second = await start({ turns: one, options: { blobs } });
    expect((await second.session.develop()).kind).toBe('finished');
    expect(second.server.requests()).toHaveLength(1);
    expect(JSON.parse(await readFile(path.join(dir, key as string), 'utf8')).version).toBe(1);
  });

  it('keys are the SHA-256 of the canonical request: key order does not matter, content does', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,{"e":0,"f":1}]},"b":1}',
    );
    const req = { model: 'm', messages: [{ role: 'user', content: 'hi' }], tools: [], temperature: 0 };
    const same = { temperature: 0, tools: [], messages: [{ content: 'hi', role: 'user' }], model: 'm' };
    expect(modelCacheKey(req)).toBe(modelCacheKey(same));
    expect(modelCacheKey(req)).not.toBe(modelCacheKey({ ...req, model: 'n' }));
    expect(modelCacheKey(req)).not.toBe(modelCacheKey({ ...req, temperature: 0.1 }));
    expect(modelCacheKey(req)).not.toBe(
      modelCacheKey({ ...req, messages: [{ role: 'user', content: 'hi!' }] }),
    );
  });
});
