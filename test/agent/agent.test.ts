import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { Redactor } from '../../core/redact.ts';
import { AgentSession, MAX_INVALID_CALLS_IN_A_ROW } from '../../container/runner/agent/agent.ts';
import type { AgentEvent, AgentOptions, TestRunResult } from '../../container/runner/agent/agent.ts';
import { TOOL_NAMES } from '../../container/runner/agent/schemas.ts';
import { startScriptedModel } from '../../servers/scripted-model/index.ts';
import type {
  ScriptedModelOptions,
  ScriptedModelServer,
  ScriptedTurn,
} from '../../servers/scripted-model/index.ts';
import { clientFor, makeRepo, passingTests } from './helpers.ts';
import type { TempRepo } from './helpers.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

const DESCRIPTION = '把 add 函数改成返回两个数的和。Ünïcödé stays intact: «ok» 🎉';

interface Harness {
  server: ScriptedModelServer;
  repo: TempRepo;
  session: AgentSession;
  logs: string[];
  events: AgentEvent[];
  testRuns: number;
  /** The parsed body of request i. */
  body(i: number): {
    messages: OpenAI.ChatCompletionMessageParam[];
    tools: OpenAI.ChatCompletionFunctionTool[];
    stream?: boolean;
  };
}

async function harness(
  turns: ScriptedTurn[],
  over: Partial<AgentOptions> = {},
  serverOpts: Partial<ScriptedModelOptions> = {},
): Promise<Harness> {
  const server = await startScriptedModel({ turns, ...serverOpts });
  const repo = await makeRepo({
    'package.json': '{ "name": "calc", "scripts": { "test": "node test.js" } }\n',
    'src/add.js': 'export function add(a, b) {\n  return a - b;\n}\n',
    'README.md': '# calc\n',
  });
  cleanups.push(
    () => server.close(),
    () => repo.cleanup(),
  );
  const logs: string[] = [];
  const events: AgentEvent[] = [];
  const h: Harness = {
    server,
    repo,
    logs,
    events,
    testRuns: 0,
    session: undefined as unknown as AgentSession,
    body: (i) => server.requests()[i]?.body as ReturnType<Harness['body']>,
  };
  h.session = new AgentSession({
    client: clientFor(server.baseURL),
    model: 'scripted',
    repoDir: repo.dir,
    brief: { taskId: '123', title: 'Fix add', description: DESCRIPTION, branch: 'dev-123-fix-add' },
    runTests: async () => {
      h.testRuns++;
      return passingTests;
    },
    limits: { maxSteps: 40, wallClockMs: 60_000, commandTimeoutMs: 10_000, maxOutputChars: 12_000 },
    redactor: new Redactor(),
    log: (line) => logs.push(line),
    onEvent: (e) => events.push(e),
    ...over,
  });
  return h;
}

const call = (name: string, args: Record<string, unknown> | string = {}) => ({ name, arguments: args });

/** list → read → edit → run_tests → finish, each turn checking what the previous tool answered. */
const happyTurns: ScriptedTurn[] = [
  {
    expect: { lastUserIncludes: DESCRIPTION },
    tool_calls: [call('list_files')],
    usage: { prompt_tokens: 100, completion_tokens: 10 },
  },
  { expect: { lastToolResultIncludes: 'add.js' }, tool_calls: [call('read_file', { path: 'src/add.js' })] },
  {
    expect: { lastToolResultIncludes: '2\t  return a - b;' },
    content: 'The sign is wrong.',
    tool_calls: [
      call('edit_file', { path: 'src/add.js', old_text: 'return a - b;', new_text: 'return a + b;' }),
    ],
  },
  { expect: { lastToolResultIncludes: 'replaced 1 occurrence at line 2' }, tool_calls: [call('run_tests')] },
  {
    expect: { lastToolResultIncludes: 'tests PASSED' },
    tool_calls: [call('finish', { summary: 'add now adds.', commit_message: 'Fix add to return the sum' })],
  },
];

describe('AgentSession', () => {
  it.each([false, true])('lists, reads, edits, runs the tests and finishes (stream: %s)', async (stream) => {
    const h = await harness(happyTurns, { stream });
    const outcome = await h.session.develop();
    expect(h.server.errors()).toEqual([]);
    expect(outcome).toEqual({
      kind: 'finished',
      summary: 'add now adds.',
      commitMessage: 'Fix add to return the sum',
    });
    expect(await readFile(path.join(h.repo.dir, 'src/add.js'), 'utf8')).toContain('return a + b;');
    expect([...h.session.filesTouched]).toEqual(['src/add.js']);
    expect(h.testRuns).toBe(1);
    expect(h.session.stats).toMatchObject({ steps: 5, modelCalls: 5 });
    expect(h.session.stats.promptTokens).toBeGreaterThan(100);
    expect(h.session.stats.completionTokens).toBeGreaterThan(10);

    // The first request: system prompt, brief (Unicode intact), the 9 tools; streaming as asked.
    const first = h.body(0);
    expect(first.stream ?? false).toBe(stream);
    expect(first.messages[0]?.role).toBe('system');
    expect(String(first.messages[0]?.content)).toMatch(/relative to the repository root/);
    expect(String(first.messages[0]?.content)).toMatch(/run_tests before finish/);
    expect(String(first.messages[1]?.content)).toContain('Task 123: Fix add');
    expect(String(first.messages[1]?.content)).toContain(DESCRIPTION);
    expect(first.tools.map((t) => t.function.name)).toEqual([...TOOL_NAMES]);

    // One log line per tool call, plus start and end.
    const toolLines = h.logs.filter((l) => l.startsWith('step '));
    expect(toolLines).toEqual([
      expect.stringMatching(/^step 1: list_files → \d+ entries$/),
      'step 2: read_file src/add.js → lines 1-3 of 3',
      'step 3: edit_file src/add.js → line 2',
      'step 4: run_tests → passed (exit 0, 0.0 s)',
      'step 5: finish "Fix add to return the sum" → finished',
    ]);
    // The transcript: request, response (with usage), tool_call, tool_result, each timestamped.
    const types = h.events.map((e) => e.type);
    expect(types.slice(0, 4)).toEqual(['request', 'response', 'tool_call', 'tool_result']);
    expect(types.at(-1)).toBe('outcome');
    expect(h.events.every((e) => typeof e.at === 'number' && e.at > 0)).toBe(true);
    const firstResponse = h.events.find((e) => e.type === 'response');
    expect(firstResponse?.type === 'response' && firstResponse.usage).toEqual({
      promptTokens: 100,
      completionTokens: 10,
    });
  });

  /** Different calls each turn (the loop detector stays quiet). */
  const varied = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ tool_calls: [call('list_files', { depth: (i % 2) + 1 })] }));

  it('fails with AGENT_LIMIT naming the step limit', async () => {
    const turns = varied(10);
    const h = await harness(turns, {
      limits: { maxSteps: 3, wallClockMs: 60_000, commandTimeoutMs: 5000, maxOutputChars: 12_000 },
    });
    const outcome = await h.session.develop();
    expect(outcome).toEqual({
      kind: 'failed',
      code: 'AGENT_LIMIT',
      reason: 'limits.max_steps (3) reached: 3 model turns without finish',
    });
    expect(h.server.requests()).toHaveLength(3);
    expect(h.logs.at(-2)).toMatch(/^agent: failed \(AGENT_LIMIT\): limits\.max_steps \(3\) reached/);
    expect(h.logs.at(-1)).toMatch(/^agent: 0 files changed, 3 steps, 3 model calls, /);
  });

  it('fails with AGENT_LIMIT when the wall clock runs out (clock injected)', async () => {
    let t = 1_000_000;
    const turns = varied(10);
    const h = await harness(turns, {
      now: () => (t += 10_000), // every reading of the clock is 10 s later
      limits: { maxSteps: 40, wallClockMs: 60_000, commandTimeoutMs: 5000, maxOutputChars: 12_000 },
    });
    const outcome = await h.session.develop();
    expect(outcome.kind === 'failed' && outcome.code).toBe('AGENT_LIMIT');
    expect(outcome.kind === 'failed' && outcome.reason).toMatch(
      /^limits\.run_timeout \(60 s\) reached: the agent ran for 1 min without finishing$/,
    );
    expect(h.server.remaining()).toBeGreaterThan(0);
  });

  it('caps a long command at the remaining wall clock, then stops with AGENT_LIMIT', async () => {
    const h = await harness(
      [{ tool_calls: [call('run_command', { command: 'sleep 20' })] }, { tool_calls: [call('finish')] }],
      {
        limits: { maxSteps: 40, wallClockMs: 500, commandTimeoutMs: 30_000, maxOutputChars: 12_000 },
      },
    );
    const outcome = await h.session.develop();
    expect(outcome.kind === 'failed' && outcome.code).toBe('AGENT_LIMIT');
    expect(h.logs.some((l) => /run_command "sleep 20" → timed out/.test(l))).toBe(true);
    expect(h.server.remaining()).toBe(1);
  });

  it('answers malformed tool-call arguments with a corrective message and continues', async () => {
    const h = await harness([
      { tool_calls: [call('read_file', '{"path": "src/add.js"')] },
      {
        expect: { lastToolResultIncludes: 'are not valid JSON' },
        tool_calls: [call('read_file', { start_line: 1 })],
      },
      {
        expect: { lastToolResultIncludes: 'Invalid arguments for read_file: path' },
        tool_calls: [call('read_file', { path: 'src/add.js' })],
      },
      {
        expect: { lastToolResultIncludes: 'return a - b' },
        tool_calls: [call('finish', { summary: 'nothing', commit_message: 'x' })],
      },
    ]);
    const outcome = await h.session.develop();
    expect(h.server.errors()).toEqual([]);
    expect(outcome.kind).toBe('finished');
    expect(h.logs.filter((l) => l.includes('invalid call to read_file'))).toHaveLength(2);
  });

  it('answers an unknown tool with the list of tools and continues', async () => {
    const h = await harness([
      { tool_calls: [call('delete_everything', { path: '.' })] },
      {
        expect: {
          lastToolResultIncludes: 'There is no tool named "delete_everything". The tools are: list_files,',
        },
        tool_calls: [call('finish', { summary: 'ok', commit_message: 'ok' })],
      },
    ]);
    expect((await h.session.develop()).kind).toBe('finished');
    expect(h.server.errors()).toEqual([]);
  });

  it(`fails with TOOL_INVALID after ${MAX_INVALID_CALLS_IN_A_ROW} corrective messages in a row`, async () => {
    const bad = { tool_calls: [call('edit_file', '{not json')] };
    const h = await harness([bad, bad, bad, bad, { tool_calls: [call('finish')] }]);
    const outcome = await h.session.develop();
    expect(outcome.kind === 'failed' && outcome.code).toBe('TOOL_INVALID');
    expect(outcome.kind === 'failed' && outcome.reason).toMatch(/4 invalid tool calls in a row/);
    expect(h.server.requests()).toHaveLength(4);
  });

  it('a tool error (edit_file finds nothing) is reported to the model and is not an invalid call', async () => {
    const miss = (i: number) => ({
      tool_calls: [call('edit_file', { path: 'src/add.js', old_text: `nope ${i}`, new_text: 'x' })],
    });
    const h = await harness([
      miss(1),
      miss(2),
      miss(3),
      miss(4),
      {
        expect: { lastToolResultIncludes: 'Error: old_text was not found' },
        tool_calls: [call('finish', { summary: 's', commit_message: '' })],
      },
    ]);
    const outcome = await h.session.develop();
    expect(outcome).toEqual({ kind: 'finished', summary: 's', commitMessage: 'Fix add' }); // default: the title
    expect(h.server.errors()).toEqual([]);
  });

  it('explains file-system errors without absolute paths', async () => {
    const h = await harness([
      { tool_calls: [call('write_file', { path: 'README.md/inside.txt', content: 'x' })] },
      { tool_calls: [call('finish', { summary: 's', commit_message: 'm' })] },
    ]);
    await h.session.develop();
    const toolMessage = String(h.body(1).messages.find((m) => m.role === 'tool')?.content);
    expect(toolMessage).toMatch(
      /^Error: cannot create README\.md\/inside\.txt: a part of its directory path is an existing file/,
    );
    expect(toolMessage).not.toContain(h.repo.dir);
  });

  it('stops with blocked and the question on ask_clarification', async () => {
    const question = '应该用哪个数据库？PostgreSQL or MySQL?';
    const h = await harness([{ tool_calls: [call('ask_clarification', { question })] }]);
    expect(await h.session.develop()).toEqual({ kind: 'blocked', question });
    expect(h.logs.at(-1)).toBe(`agent: blocked, asks: ${question}`);
  });

  it('repair() continues the same conversation with the failing test output', async () => {
    const failure: TestRunResult = {
      passed: false,
      command: 'npm test',
      exitCode: 1,
      output: 'AssertionError: expected add(1, 2) to be 3, got -1',
      durationMs: 800,
    };
    const h = await harness([
      { tool_calls: [call('finish', { summary: 'first try', commit_message: 'Try' })] },
      {
        expect: { lastUserIncludes: 'expected add(1, 2) to be 3, got -1' },
        tool_calls: [call('edit_file', { path: 'src/add.js', old_text: 'a - b', new_text: 'a + b' })],
      },
      { tool_calls: [call('finish', { summary: 'fixed the sign', commit_message: 'Fix add' })] },
    ]);
    expect((await h.session.develop()).kind).toBe('finished');
    const outcome = await h.session.repair(failure);
    expect(h.server.errors()).toEqual([]);
    expect(outcome).toEqual({ kind: 'finished', summary: 'fixed the sign', commitMessage: 'Fix add' });
    expect(h.session.stats.steps).toBe(3);
    // The same conversation: the repair request still holds the system prompt, the brief and the first finish.
    const repairBody = h.body(1);
    expect(repairBody.messages[0]?.role).toBe('system');
    expect(
      repairBody.messages.some((m) => m.role === 'tool' && String(m.content).startsWith('Finished')),
    ).toBe(true);
    expect(String(repairBody.messages.at(-1)?.content)).toMatch(/`npm test` exited with 1/);
    expect([...h.session.filesTouched]).toEqual(['src/add.js']);
  });

  it('survives a 429 through the SDK retry', async () => {
    const h = await harness([
      { status: 429 },
      { tool_calls: [call('finish', { summary: 's', commit_message: 'm' })] },
    ]);
    expect((await h.session.develop()).kind).toBe('finished');
    expect(h.server.requests()).toHaveLength(2);
    expect(h.session.stats.modelCalls).toBe(1);
  });

  it('fails with MODEL_FAILED when the model keeps failing', async () => {
    const h = await harness([]);
    const outcome = await h.session.develop();
    expect(outcome.kind === 'failed' && outcome.code).toBe('MODEL_FAILED');
    expect(outcome.kind === 'failed' && outcome.reason).toMatch(/HTTP 500: .*no scripted turns left/);
  });

  it('nudges an answer without tool calls, and gives up after a few in a row', async () => {
    const h = await harness([
      { content: 'I would change the sign.' },
      {
        expect: { lastUserIncludes: 'use the tools' },
        tool_calls: [call('finish', { summary: 's', commit_message: 'm' })],
      },
    ]);
    expect((await h.session.develop()).kind).toBe('finished');
    expect(h.server.errors()).toEqual([]);

    const talk = { content: 'Thinking…' };
    const h2 = await harness([talk, talk, talk, talk, talk, talk]);
    const outcome = await h2.session.develop();
    expect(outcome.kind === 'failed' && outcome.code).toBe('MODEL_FAILED');
    expect(outcome.kind === 'failed' && outcome.reason).toMatch(/4 times in a row without calling a tool/);
  });

  it('stops with RUN_ABORTED when the run is aborted', async () => {
    const ac = new AbortController();
    const h = await harness(
      [{ tool_calls: [call('run_command', { command: 'sleep 20' })] }, { tool_calls: [call('finish')] }],
      { signal: ac.signal },
    );
    setTimeout(() => ac.abort(), 200);
    const outcome = await h.session.develop();
    expect(outcome.kind === 'failed' && outcome.code).toBe('RUN_ABORTED');
  });

  it('runs the calls of one answer in order and answers every call id after finish', async () => {
    const h = await harness([
      {
        tool_calls: [
          call('write_file', { path: 'NOTES.md', content: 'n\n' }),
          call('finish', { summary: 's', commit_message: 'm' }),
          call('list_files'),
        ],
      },
      {
        expect: { lastToolResultIncludes: 'Not run: finish ended the turn' },
        tool_calls: [call('finish', { summary: 's2', commit_message: 'm2' })],
      },
    ]);
    expect((await h.session.develop()).kind).toBe('finished');
    expect([...h.session.filesTouched]).toEqual(['NOTES.md']);
    expect((await h.session.repair({ ...passingTests, passed: false })).kind).toBe('finished');
    expect(h.server.errors()).toEqual([]);
  });

  it('redacts secrets from logs, transcript events and command output sent to the model', async () => {
    const secret = 'tok-very-secret-value-42';
    const h = await harness(
      [
        { tool_calls: [call('run_command', { command: `echo leaked ${secret}` })] },
        { tool_calls: [call('finish', { summary: `used ${secret}`, commit_message: 'm' })] },
      ],
      { redactor: new Redactor([secret]) },
    );
    const outcome = await h.session.develop();
    expect(outcome).toEqual({ kind: 'finished', summary: 'used [REDACTED]', commitMessage: 'm' });
    expect(h.logs.join('\n')).not.toContain(secret);
    expect(JSON.stringify(h.events)).not.toContain(secret);
    expect(JSON.stringify(h.events)).toContain('[REDACTED]');
    const toolMessage = h.body(1).messages.find((m) => m.role === 'tool');
    expect(String(toolMessage?.content)).toBe('exit code: 0\nleaked [REDACTED]\n');
  });

  it('refuses develop() twice and repair() before develop()', async () => {
    const h = await harness([{ tool_calls: [call('finish')] }]);
    await expect(h.session.repair(passingTests)).rejects.toThrow(/before develop/);
    await h.session.develop();
    await expect(h.session.develop()).rejects.toThrow(/already called/);
  });
});
