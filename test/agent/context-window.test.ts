/**
 * Context management over a long scripted run: old tool outputs are cut to stubs, and the
 * conversation is condensed when it nears the window, so no request outgrows it; without the
 * window (a huge one) the same run's requests grow well past it.
 */
import type OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { estimateTokens } from '../../container/runner/context/budget.ts';
import type { AgentEvent } from '../../container/runner/agent/agent.ts';
import type { ScriptedTurn } from '../../servers/scripted-model/index.ts';
import { BRIEF, agentRun, call } from './helpers.ts';
import type { AgentRun } from './helpers.ts';

const runs: AgentRun[] = [];
afterEach(async () => {
  while (runs.length) await runs.pop()?.close();
});

const FILES = 30;
const WINDOW = 12_000;

const files: Record<string, string> = { 'README.md': '# data\n' };
for (let i = 0; i < FILES; i++) {
  files[`data/f${i}.txt`] = Array.from(
    { length: 80 },
    (_, k) => `line ${i}-${k}: the quick brown fox jumps over the lazy dog`,
  ).join('\n');
}

/** Reads every file in turn (each turn checks it got the previous file), then finishes. */
const longRun: ScriptedTurn[] = [
  ...Array.from({ length: FILES }, (_, i) => ({
    ...(i > 0 ? { expect: { lastToolResultIncludes: `line ${i - 1}-0:` } } : {}),
    tool_calls: [call('read_file', { path: `data/f${i}.txt` })],
  })),
  {
    expect: { lastToolResultIncludes: `line ${FILES - 1}-0:` },
    tool_calls: [call('finish', { summary: 'read everything', commit_message: 'Read' })],
  },
];

/** What a request costs: its messages and tools, as sent (JSON, so on the high side). */
function requestTokens(body: { messages: unknown; tools: unknown }): number {
  return estimateTokens(JSON.stringify(body.messages)) + estimateTokens(JSON.stringify(body.tools));
}

async function run(windowTokens: number): Promise<AgentRun> {
  const r = await agentRun({ turns: longRun, files, options: { context: { windowTokens } } });
  runs.push(r);
  expect((await r.session.develop()).kind).toBe('finished');
  expect(r.server.errors()).toEqual([]);
  return r;
}

const sizes = (r: AgentRun) => r.server.requests().map((_, i) => requestTokens(r.body(i)));
const text = (m: OpenAI.ChatCompletionMessageParam | undefined) => String(m?.content ?? '');

describe('context management', () => {
  it('keeps every request of a long run within the window, condensing the middle', async () => {
    const r = await run(WINDOW);
    const all = sizes(r);
    expect(all).toHaveLength(FILES + 1);
    expect(Math.max(...all)).toBeLessThan(WINDOW);

    const condensed = r.events.filter(
      (e): e is Extract<AgentEvent, { type: 'context' }> => e.type === 'context' && e.action === 'condensed',
    );
    expect(condensed.length).toBeGreaterThan(0);
    expect(r.session.stats.condensations).toBe(condensed.length);
    for (const c of condensed) expect(c.tokensAfter).toBeLessThan(c.tokensBefore);
    expect(r.logs.some((l) => /context condensed to fit the model's window/.test(l))).toBe(true);

    // The last request: the system prompt and the brief first, then the summary, then recent turns whole.
    const last = r.body(FILES);
    expect(last.messages[0]?.role).toBe('system');
    expect(text(last.messages[1])).toContain(BRIEF.description);
    const summary = last.messages.find((m) => m.role === 'user' && text(m).startsWith('[Context condensed'));
    expect(text(summary)).toMatch(/Tool calls so far: read_file ×\d+/);
    expect(text(summary)).toContain('Files you read: ');
    expect(text(summary)).toContain('data/f0.txt');
    expect(text(last.messages.at(-1))).toContain(`line ${FILES - 1}-79:`);
    // Tool messages still answer their calls (the API requires every call id to be answered).
    const ids = new Set(
      last.messages.flatMap((m) => (m.role === 'assistant' ? (m.tool_calls ?? []).map((c) => c.id) : [])),
    );
    const answered = new Set(last.messages.flatMap((m) => (m.role === 'tool' ? [m.tool_call_id] : [])));
    expect(answered).toEqual(ids);
  });

  it('without a window to fit, the same run outgrows it; old tool outputs are still cut', async () => {
    const r = await run(10_000_000);
    expect(Math.max(...sizes(r))).toBeGreaterThan(WINDOW);
    expect(r.session.stats.condensations).toBe(0);
    // At step 13 the outputs of steps 1-6 are stubs; those of the last 6 turns are whole.
    const at13 = r
      .body(12)
      .messages.filter((m) => m.role === 'tool')
      .map(text);
    expect(at13).toHaveLength(12);
    expect(at13[0]).toMatch(/\[output of step 1 cut after 6 turns: \d+ more characters; call the tool again/);
    expect(at13[5]).toMatch(/cut after 6 turns/);
    expect(at13[6]).not.toMatch(/cut after/);
    expect(at13[11]).toContain('line 11-79:');
    // Masking moves in batches: steps 13 to 18 send the same prefix.
    const prefix = (i: number, n: number) => JSON.stringify(r.body(i).messages.slice(0, n));
    const n13 = r.body(12).messages.length;
    expect(prefix(17, n13)).toBe(prefix(12, n13));
  });
});
