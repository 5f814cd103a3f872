/**
 * Every limit of the agent, hit through the real openai SDK against the scripted model server:
 * each ends the run failed (AGENT_LIMIT) with a reason naming its configuration key. Also the
 * model robustness around them: SDK retries, re-sent requests, and the run summary.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentEvent, AgentOutcome } from '../../container/runner/agent/agent.ts';
import type { ScriptedTurn } from '../../servers/scripted-model/index.ts';
import { agentRun, call } from './helpers.ts';
import type { AgentRun, AgentRunOptions } from './helpers.ts';

const runs: AgentRun[] = [];
afterEach(async () => {
  while (runs.length) await runs.pop()?.close();
});

async function start(o: AgentRunOptions): Promise<AgentRun> {
  const r = await agentRun(o);
  runs.push(r);
  return r;
}

/** A different harmless call each turn (the loop detector stays quiet). */
const varied = (n: number, usage?: ScriptedTurn['usage']): ScriptedTurn[] =>
  Array.from({ length: n }, (_, i) => ({
    tool_calls: [call('read_file', { path: 'src/add.js', start_line: 1, end_line: i + 1 })],
    ...(usage ? { usage } : {}),
  }));

const finishTurn: ScriptedTurn = {
  tool_calls: [call('finish', { summary: 'done', commit_message: 'Done' })],
};

function failed(outcome: AgentOutcome): { code: string; reason: string } {
  if (outcome.kind !== 'failed') throw new Error(`expected a failed outcome, got ${JSON.stringify(outcome)}`);
  return { code: outcome.code, reason: outcome.reason };
}

describe('agent limits', () => {
  it('limits.max_prompt_tokens: stops before the request that would exceed the spent budget', async () => {
    const r = await start({
      turns: varied(10, { prompt_tokens: 600, completion_tokens: 5 }),
      options: { limits: { maxPromptTokens: 1000 } },
    });
    expect(failed(await r.session.develop())).toEqual({
      code: 'AGENT_LIMIT',
      reason: 'limits.max_prompt_tokens (1000) reached: 1200 prompt tokens used in 2 model calls',
    });
    expect(r.server.requests()).toHaveLength(2);
    expect(r.session.stats).toMatchObject({ promptTokens: 1200, completionTokens: 10, modelCalls: 2 });
  });

  it('the answer that crosses a token limit still has its calls run (it may be the one that finishes)', async () => {
    const r = await start({
      turns: [{ ...finishTurn, usage: { prompt_tokens: 5000, completion_tokens: 5000 } }],
      options: { limits: { maxPromptTokens: 1000, maxCompletionTokens: 1000 } },
    });
    expect((await r.session.develop()).kind).toBe('finished');
  });

  it('limits.max_completion_tokens', async () => {
    const r = await start({
      turns: varied(10, { prompt_tokens: 10, completion_tokens: 300 }),
      options: { limits: { maxCompletionTokens: 500 } },
    });
    expect(failed(await r.session.develop())).toEqual({
      code: 'AGENT_LIMIT',
      reason: 'limits.max_completion_tokens (500) reached: 600 completion tokens used in 2 model calls',
    });
    expect(r.server.requests()).toHaveLength(2);
  });

  it('limits.max_cost_usd, priced from the built-in table (a dated model name matches its entry)', async () => {
    const r = await start({
      turns: varied(10, { prompt_tokens: 100_000, completion_tokens: 10_000 }),
      options: { model: 'gpt-4o-2024-08-06', limits: { maxCostUsd: 0.5 } },
    });
    expect(failed(await r.session.develop())).toEqual({
      code: 'AGENT_LIMIT',
      reason:
        'limits.max_cost_usd (0.5) reached: $0.7000 spent on 2 model calls (gpt-4o-2024-08-06 at $2.5 prompt / $10 completion per 1M tokens)',
    });
    expect(r.session.stats.costUsd).toBeCloseTo(0.7, 10);
    // Each response in the transcript carries its cost.
    const costs = r.events.flatMap((e) => (e.type === 'response' ? [e.costUsd] : []));
    expect(costs).toEqual([0.35, 0.35]);
  });

  it('limits.max_cost_usd with a configured price for a local model', async () => {
    const r = await start({
      turns: varied(10, { prompt_tokens: 1_000_000, completion_tokens: 0 }),
      options: {
        model: 'my-local-coder',
        prices: { 'my-local-coder': { prompt: 0.2, completion: 1 } },
        limits: { maxCostUsd: 0.3 },
      },
    });
    expect(failed(await r.session.develop()).reason).toMatch(
      /^limits\.max_cost_usd \(0\.3\) reached: \$0\.4000 spent on 2 model calls/,
    );
  });

  it('a model without a price: the cost is unknown, reported as such, and not limited', async () => {
    const r = await start({
      turns: [...varied(3, { prompt_tokens: 500_000, completion_tokens: 50_000 }), finishTurn],
      options: { model: 'unpriced-model', limits: { maxCostUsd: 0.01 } },
    });
    expect((await r.session.develop()).kind).toBe('finished');
    expect(r.session.stats).toMatchObject({ costKnown: false, costUsd: 0 });
    expect(r.session.summary()).toContain('cost unknown (no price for unpriced-model in model.prices)');
    expect(r.events.filter((e) => e.type === 'response').every((e) => e.costUsd === null)).toBe(true);
  });

  it('limits.max_consecutive_errors: tool errors in a row end the run; a success resets the count', async () => {
    const miss = (i: number): ScriptedTurn => ({
      tool_calls: [call('read_file', { path: `missing-${i}.js` })],
    });
    const r = await start({
      turns: [miss(1), miss(2), miss(3), miss(4), finishTurn],
      options: { limits: { maxConsecutiveErrors: 3 } },
    });
    const f = failed(await r.session.develop());
    expect(f.code).toBe('AGENT_LIMIT');
    expect(f.reason).toMatch(
      /^limits\.max_consecutive_errors \(3\) reached: 3 errors in a row \(the last: read_file: missing-3\.js: no such file/,
    );
    expect(r.server.requests()).toHaveLength(3);

    const ok: ScriptedTurn = { tool_calls: [call('read_file', { path: 'README.md' })] };
    const r2 = await start({
      turns: [miss(1), miss(2), ok, miss(3), miss(4), finishTurn],
      options: { limits: { maxConsecutiveErrors: 3 } },
    });
    expect((await r2.session.develop()).kind).toBe('finished');
    expect(r2.session.stats.toolErrors).toBe(4);
  });

  it('limits.max_consecutive_errors: model requests failing after the SDK retries are re-sent, then the run stops', async () => {
    const r = await start({
      turns: [{ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }, finishTurn],
      options: { limits: { maxConsecutiveErrors: 3 } },
      maxRetries: 0,
    });
    const f = failed(await r.session.develop());
    expect(f.code).toBe('AGENT_LIMIT');
    expect(f.reason).toMatch(
      /^limits\.max_consecutive_errors \(3\) reached: 3 errors in a row \(the last: the model request failed \(HTTP 503: /,
    );
    expect(r.server.requests()).toHaveLength(3);
    expect(r.session.stats.steps).toBe(1); // the same step, sent again
    const errors = r.events.filter(
      (e): e is Extract<AgentEvent, { type: 'model_error' }> => e.type === 'model_error',
    );
    expect(errors.map((e) => [e.attempt, e.retrying])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
  });

  it('a transient model failure after the SDK retries is sent again and the run goes on', async () => {
    const r = await start({ turns: [{ status: 500 }, { status: 502 }, finishTurn], maxRetries: 0 });
    expect((await r.session.develop()).kind).toBe('finished');
    expect(r.server.requests()).toHaveLength(3);
    expect(
      r.logs.filter((l) => /the model request failed \(HTTP 50[02]: .*trying again/.test(l)),
    ).toHaveLength(2);
  });

  it('a permanent model failure (401) ends the run at once with MODEL_FAILED', async () => {
    const r = await start({ turns: [{ status: 401 }, finishTurn], maxRetries: 2 });
    const f = failed(await r.session.develop());
    expect(f.code).toBe('MODEL_FAILED');
    expect(f.reason).toMatch(/HTTP 401/);
    expect(r.server.requests()).toHaveLength(1);
  });

  it('the SDK retries 429 and 5xx itself, and a request that times out', async () => {
    const r = await start({ turns: [{ status: 429 }, { status: 503 }, finishTurn], maxRetries: 2 });
    expect((await r.session.develop()).kind).toBe('finished');
    expect(r.server.requests()).toHaveLength(3);
    expect(r.session.stats.modelCalls).toBe(1);
    expect(r.events.some((e) => e.type === 'model_error')).toBe(false);

    const slow = await start({
      turns: [{ delayMs: 3_000, ...finishTurn }, finishTurn],
      maxRetries: 1,
      timeoutMs: 300,
    });
    expect((await slow.session.develop()).kind).toBe('finished');
    expect(slow.server.requests()).toHaveLength(2);
  });

  it('limits.loop_repeats: the same call with the same arguments repeated ends the run, with a warning first', async () => {
    const same: ScriptedTurn = { tool_calls: [call('read_file', { path: 'src/add.js' })] };
    const r = await start({
      turns: [
        same,
        same,
        { ...same, expect: { lastToolResultIncludes: 'one more identical call ends the run' } },
        finishTurn,
      ],
    });
    const f = failed(await r.session.develop());
    expect(f).toEqual({
      code: 'AGENT_LIMIT',
      reason: 'limits.loop_repeats (3) reached: the same call read_file src/add.js 3 times in a row',
    });
    expect(r.server.errors()).toEqual([]);
    expect(r.server.requests()).toHaveLength(3);
    // The third call was not run.
    const results = r.events.filter((e) => e.type === 'tool_result');
    expect(results.map((e) => e.type === 'tool_result' && e.ok)).toEqual([true, true, false]);

    // The same call with other calls in between is no loop; argument order does not matter.
    const r2 = await start({
      turns: [
        { tool_calls: [call('read_file', { path: 'src/add.js', start_line: 1 })] },
        { tool_calls: [call('list_files')] },
        { tool_calls: [call('read_file', { start_line: 1, path: 'src/add.js' })] },
        { tool_calls: [call('read_file', { start_line: 1, path: 'src/add.js' })] },
        finishTurn,
      ],
    });
    expect((await r2.session.develop()).kind).toBe('finished');
  });

  it('limits.max_steps and limits.run_timeout name their keys', async () => {
    const r = await start({ turns: varied(10), options: { limits: { maxSteps: 2 } } });
    expect(failed(await r.session.develop()).reason).toBe(
      'limits.max_steps (2) reached: 2 model turns without finish',
    );

    let t = 0;
    const r2 = await start({
      turns: varied(10),
      options: { now: () => (t += 1000), limits: { wallClockMs: 5000 } },
    });
    expect(failed(await r2.session.develop()).reason).toMatch(/^limits\.run_timeout \(5 s\) reached/);
  });
});

describe('the run summary and transcript', () => {
  it('summary() names files changed, steps, calls, tokens, cost and times; the transcript has usage, cost and timings', async () => {
    const r = await start({
      turns: [
        {
          tool_calls: [call('edit_file', { path: 'src/add.js', old_text: 'a - b', new_text: 'a + b' })],
          usage: { prompt_tokens: 1000, completion_tokens: 100 },
        },
        { ...finishTurn, usage: { prompt_tokens: 1200, completion_tokens: 50 } },
      ],
      options: { model: 'gpt-4o-mini' },
    });
    expect((await r.session.develop()).kind).toBe('finished');
    expect(r.session.stats.costUsd).toBeCloseTo((2200 * 0.15 + 150 * 0.6) / 1e6, 12);
    expect(r.session.summary()).toMatch(
      /^agent: 1 file changed \(src\/add\.js\), 2 steps, 2 model calls, 2,200 prompt \+ 150 completion tokens, cost \$0\.000420, model time \d+(\.\d)? s, tool time \d+(\.\d)? s$/,
    );
    const responses = r.events.filter(
      (e): e is Extract<AgentEvent, { type: 'response' }> => e.type === 'response',
    );
    expect(responses.map((e) => [e.usage, e.cached, typeof e.durationMs])).toEqual([
      [{ promptTokens: 1000, completionTokens: 100 }, false, 'number'],
      [{ promptTokens: 1200, completionTokens: 50 }, false, 'number'],
    ]);
    const requests = r.events.filter((e) => e.type === 'request');
    expect(requests.every((e) => e.type === 'request' && e.estimatedPromptTokens > 0)).toBe(true);
    const outcome = r.events.at(-1);
    expect(outcome?.type === 'outcome' && outcome.stats).toMatchObject({ steps: 2, modelCalls: 2 });
  });
});
