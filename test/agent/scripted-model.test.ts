import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { isAvatarError } from '../../core/errors.ts';
import { loadRecordedSession, startScriptedModel } from '../../servers/scripted-model/index.ts';
import type { ScriptedModelServer, ScriptedModelOptions } from '../../servers/scripted-model/index.ts';
import { clientFor } from './helpers.ts';

const servers: ScriptedModelServer[] = [];
async function start(opts: ScriptedModelOptions): Promise<ScriptedModelServer> {
  const s = await startScriptedModel(opts);
  servers.push(s);
  return s;
}
afterEach(async () => {
  while (servers.length) await servers.pop()?.close();
});

const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'hi' }];

describe('scripted model server', () => {
  it('answers tool calls as JSON, with computed usage', async () => {
    const s = await start({
      turns: [{ content: 'looking', tool_calls: [{ name: 'read_file', arguments: { path: 'a.ts' } }] }],
    });
    expect(s.baseURL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const res = await clientFor(s.baseURL).chat.completions.create({ model: 'm', messages });
    const choice = res.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBe('looking');
    const call = choice?.message.tool_calls?.[0];
    expect(call?.type === 'function' && call.function).toEqual({
      name: 'read_file',
      arguments: '{"path":"a.ts"}',
    });
    expect(res.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(res.usage?.completion_tokens).toBeGreaterThan(0);
    expect(s.remaining()).toBe(0);
    expect(s.requests()).toHaveLength(1);
    expect(s.errors()).toEqual([]);
  });

  it('streams content and tool-call argument deltas in pieces, then usage and [DONE]', async () => {
    const args = { path: 'src/very/long/path/name.ts', content: 'línea 1 — 中文 🎉\n'.repeat(3) };
    const s = await start({
      turns: [
        {
          content: 'I will write the file now, then finish.',
          tool_calls: [
            { name: 'write_file', arguments: args },
            { name: 'finish', arguments: { summary: 's', commit_message: 'c' } },
          ],
          usage: { prompt_tokens: 111, completion_tokens: 22 },
        },
      ],
    });
    const stream = await clientFor(s.baseURL).chat.completions.create({
      model: 'm',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = '';
    let contentChunks = 0;
    const argPieces: string[][] = [[], []];
    const names: string[] = [];
    const ids: string[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    let finish: string | null = null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const c = chunk.choices[0];
      if (!c) continue;
      if (c.delta.content) {
        content += c.delta.content;
        contentChunks++;
      }
      for (const d of c.delta.tool_calls ?? []) {
        if (d.id) ids[d.index] = d.id;
        if (d.function?.name) names[d.index] = d.function.name;
        if (d.function?.arguments) argPieces[d.index]?.push(d.function.arguments);
      }
      if (c.finish_reason) finish = c.finish_reason;
    }
    expect(content).toBe('I will write the file now, then finish.');
    expect(contentChunks).toBeGreaterThan(1);
    expect(names).toEqual(['write_file', 'finish']);
    expect(ids[0]).toMatch(/^call_/);
    expect(ids[0]).not.toBe(ids[1]);
    expect(argPieces[0]?.length).toBeGreaterThan(3);
    expect(JSON.parse(argPieces[0]?.join('') ?? '')).toEqual(args);
    expect(finish).toBe('tool_calls');
    expect(usage).toMatchObject({ prompt_tokens: 111, completion_tokens: 22, total_tokens: 133 });
  });

  it('answers a scripted 429 with retry-after-ms, and the SDK retry gets the next turn', async () => {
    const s = await start({ turns: [{ status: 429 }, { status: 500 }, { content: 'after retries' }] });
    const res = await clientFor(s.baseURL, 3).chat.completions.create({ model: 'm', messages });
    expect(res.choices[0]?.message.content).toBe('after retries');
    expect(s.requests()).toHaveLength(3);

    const raw = await fetch(`${s.baseURL}/chat/completions`, { method: 'POST', body: '{"messages":[]}' });
    expect(raw.status).toBe(500); // exhausted now
  });

  it('when exhausted, answers 500 with a clear message (no retry) and records the error', async () => {
    const s = await start({ turns: [] });
    const err = await clientFor(s.baseURL, 3)
      .chat.completions.create({ model: 'm', messages })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(500);
    expect((err as Error).message).toMatch(/no scripted turns left \(0 were scripted; this is request 1\)/);
    expect(s.requests()).toHaveLength(1);
    expect(s.errors()).toEqual([
      'scripted model: no scripted turns left (0 were scripted; this is request 1)',
    ]);
  });

  it("with onExhausted 'finish', answers a finish tool call", async () => {
    const s = await start({ turns: [], onExhausted: 'finish' });
    const res = await clientFor(s.baseURL).chat.completions.create({ model: 'm', messages });
    const call = res.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === 'function' && call.function.name).toBe('finish');
  });

  it('checks expectations on the request: a mismatch is a 400 and an error', async () => {
    const s = await start({
      turns: [
        { expect: { lastUserIncludes: 'hi' }, content: 'ok' },
        { expect: { lastToolResultIncludes: 'exit code: 0' }, content: 'never' },
      ],
    });
    const client = clientFor(s.baseURL, 0);
    expect((await client.chat.completions.create({ model: 'm', messages })).choices[0]?.message.content).toBe(
      'ok',
    );
    const err = await client.chat.completions.create({ model: 'm', messages }).catch((e: unknown) => e);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
    expect(s.errors()).toHaveLength(1);
    expect(s.errors()[0]).toMatch(
      /turn 2: expected a tool result including "exit code: 0", but the request has no tool message/,
    );
  });

  it('requires the API key when one is set, and lists the model', async () => {
    const s = await start({ turns: [{ content: 'x' }], apiKey: 'sk-right-key-000000', model: 'demo-model' });
    const wrong = new OpenAI({ baseURL: s.baseURL, apiKey: 'sk-wrong', maxRetries: 0 });
    const err = await wrong.chat.completions.create({ model: 'm', messages }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(s.remaining()).toBe(1);
    const right = new OpenAI({ baseURL: s.baseURL, apiKey: 'sk-right-key-000000', maxRetries: 0 });
    const models = await right.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['demo-model']);
    expect((await right.chat.completions.create({ model: 'm', messages })).choices[0]?.message.content).toBe(
      'x',
    );
  });

  it('routes conversations to sessions by their first user message; repeat starts a session over', async () => {
    const s = await start({
      turns: [{ content: 'main' }],
      sessions: [
        { match: 'ALPHA', turns: [{ content: 'alpha 1' }, { content: 'alpha 2' }] },
        { match: 'BETA', turns: [{ content: 'beta' }], repeat: true },
      ],
    });
    const client = clientFor(s.baseURL, 0);
    const ask = async (brief: string, later = 'go on') =>
      (
        await client.chat.completions.create({
          model: 'm',
          messages: [
            { role: 'system', content: 'BETA is mentioned here, but only the first user message counts' },
            { role: 'user', content: brief },
            { role: 'user', content: later },
          ],
        })
      ).choices[0]?.message.content;
    expect(s.remaining()).toBe(4);
    expect(await ask('Task 1: ALPHA thing')).toBe('alpha 1');
    expect(await ask('Task 2: BETA thing')).toBe('beta');
    expect(await ask('Task 2: BETA thing')).toBe('beta');
    expect(await ask('Task 1: ALPHA thing', 'BETA in a later message')).toBe('alpha 2');
    expect(await ask('Task 3: other')).toBe('main');
    const err = await ask('Task 1: ALPHA thing').catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/no scripted turns left \(session "ALPHA"\) \(2 were scripted/);
  });

  it('a stateless session answers by the conversation’s progress: interleaved and restarted conversations', async () => {
    const s = await start({
      turns: [],
      sessions: [{ match: 'GAMMA', turns: [{ content: 'g1' }, { content: 'g2' }], stateless: true }],
    });
    const client = clientFor(s.baseURL, 0);
    const ask = async (assistantTurns: number) =>
      (
        await client.chat.completions.create({
          model: 'm',
          messages: [
            { role: 'user', content: 'Task: GAMMA' },
            ...Array.from({ length: assistantTurns }, (_, i) => ({
              role: 'assistant' as const,
              content: `a${i}`,
            })),
          ],
        })
      ).choices[0]?.message.content;
    // Two conversations interleaved, then one started over: each gets the turn it is at.
    expect(await ask(0)).toBe('g1');
    expect(await ask(0)).toBe('g1');
    expect(await ask(1)).toBe('g2');
    expect(await ask(0)).toBe('g1');
    expect(await ask(1)).toBe('g2');
    expect(s.remaining()).toBe(0);
    const err = await ask(2).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/no scripted turns left \(session "GAMMA"\) \(2 were scripted/);
  });

  it('answers a delayed turn, and close() does not wait for pending delays', async () => {
    const s = await start({
      turns: [
        { content: 'late', delayMs: 50 },
        { content: 'never', delayMs: 60_000 },
      ],
    });
    const client = clientFor(s.baseURL, 0);
    expect((await client.chat.completions.create({ model: 'm', messages })).choices[0]?.message.content).toBe(
      'late',
    );
    const pending = client.chat.completions.create({ model: 'm', messages }).catch((e: unknown) => e);
    while (s.remaining() > 0) await new Promise((r) => setTimeout(r, 10));
    await s.close();
    expect(await pending).toBeInstanceOf(OpenAI.APIConnectionError);
  });

  it('loads recorded sessions and names what is wrong with a bad one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'avatar-recorded-'));
    try {
      const good = path.join(dir, 'good.json');
      await writeFile(
        good,
        JSON.stringify({
          model: 'gpt-x',
          turns: [
            { tool_calls: [{ name: 'list_files', arguments: {} }] },
            { tool_calls: [{ name: 'finish', arguments: '{"summary":"s"' }] },
          ],
        }),
      );
      const turns = loadRecordedSession(good);
      expect(turns).toHaveLength(2);
      expect(turns[1]?.tool_calls?.[0]?.arguments).toBe('{"summary":"s"');
      const bad = path.join(dir, 'bad.json');
      await writeFile(bad, JSON.stringify({ turns: [{ tool_calls: [{ arguments: {} }] }] }));
      expect(() => loadRecordedSession(bad)).toThrow(
        /bad\.json is not a recorded session: turns\.0\.tool_calls\.0\.name/,
      );
      let caught: unknown;
      try {
        loadRecordedSession(path.join(dir, 'missing.json'));
      } catch (e) {
        caught = e;
      }
      expect(isAvatarError(caught, 'CONFIG_NOT_FOUND')).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
