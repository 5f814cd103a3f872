/** Shared helpers of the agent tests: temporary repositories, tool contexts, SDK clients. */
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { Redactor } from '../../core/redact.ts';
import { AgentSession } from '../../container/runner/agent/agent.ts';
import type { AgentEvent, AgentOptions } from '../../container/runner/agent/agent.ts';
import { RepoPaths } from '../../container/runner/agent/paths.ts';
import type { AgentLimits, TestRunResult, ToolContext } from '../../container/runner/agent/types.ts';
import { startScriptedModel } from '../../servers/scripted-model/index.ts';
import type {
  ScriptedModelOptions,
  ScriptedModelServer,
  ScriptedTurn,
} from '../../servers/scripted-model/index.ts';

export interface TempRepo {
  dir: string;
  cleanup(): Promise<void>;
}

/** A temporary directory (under os.tmpdir()) holding `files` (path → content). */
export async function makeRepo(files: Record<string, string> = {}): Promise<TempRepo> {
  const dir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'avatar-agent-')));
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(dir, rel);
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, content);
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export const passingTests: TestRunResult = {
  passed: true,
  command: 'npm test',
  exitCode: 0,
  output: 'ok 1 tests passed',
  durationMs: 12,
};

export function toolContext(dir: string, over: Partial<ToolContext> = {}): ToolContext {
  return {
    paths: new RepoPaths(dir),
    limits: { commandTimeoutMs: 30_000, maxOutputChars: 12_000 },
    runTests: async () => passingTests,
    touched: new Set(),
    redactor: new Redactor(),
    ...over,
  };
}

/** A real SDK client against the scripted server, with quick retries. */
export function clientFor(baseURL: string, maxRetries = 2): OpenAI {
  return new OpenAI({ baseURL, apiKey: 'sk-test-scripted-0000000000', maxRetries, timeout: 10_000 });
}

// --- a scripted agent run ------------------------------------------------------------------------

export interface AgentRun {
  server: ScriptedModelServer;
  repo: TempRepo;
  session: AgentSession;
  logs: string[];
  events: AgentEvent[];
  /** The parsed body of request i. */
  body(i: number): {
    messages: OpenAI.ChatCompletionMessageParam[];
    tools: OpenAI.ChatCompletionFunctionTool[];
  };
  close(): Promise<void>;
}

export const BRIEF = {
  taskId: '7',
  title: 'Fix add',
  description: 'Make add() add.',
  branch: 'dev-7-fix-add',
};

export const SMALL_REPO: Record<string, string> = {
  'package.json': '{ "name": "calc", "scripts": { "test": "node test.js" } }\n',
  'src/add.js': 'export function add(a, b) {\n  return a - b;\n}\n',
  'README.md': '# calc\n',
};

export interface AgentRunOptions {
  turns: ScriptedTurn[];
  files?: Record<string, string>;
  /** Overrides of the session's options (limits are merged over roomy defaults). */
  options?: Partial<Omit<AgentOptions, 'limits'>> & { limits?: Partial<AgentLimits> };
  server?: Partial<ScriptedModelOptions>;
  /** SDK retries (default 2). */
  maxRetries?: number;
  /** SDK timeout per request (default 10 s). */
  timeoutMs?: number;
  /** Reuse a repository (e.g. a second run). */
  repo?: TempRepo;
}

/** A session against a fresh scripted server and repository; `close()` stops and removes both. */
export async function agentRun(o: AgentRunOptions): Promise<AgentRun> {
  const server = await startScriptedModel({ turns: o.turns, ...o.server });
  const repo = o.repo ?? (await makeRepo(o.files ?? SMALL_REPO));
  const logs: string[] = [];
  const events: AgentEvent[] = [];
  const { limits, ...rest } = o.options ?? {};
  const session = new AgentSession({
    client: new OpenAI({
      baseURL: server.baseURL,
      apiKey: 'sk-test-scripted-0000000000',
      maxRetries: o.maxRetries ?? 2,
      timeout: o.timeoutMs ?? 10_000,
    }),
    model: 'scripted',
    repoDir: repo.dir,
    brief: BRIEF,
    runTests: async () => passingTests,
    redactor: new Redactor(),
    log: (line) => logs.push(line),
    onEvent: (e) => events.push(e),
    modelRetryDelayMs: 1,
    ...rest,
    limits: {
      maxSteps: 60,
      wallClockMs: 60_000,
      commandTimeoutMs: 10_000,
      maxOutputChars: 12_000,
      ...limits,
    },
  });
  return {
    server,
    repo,
    session,
    logs,
    events,
    body: (i) => server.requests()[i]?.body as ReturnType<AgentRun['body']>,
    close: async () => {
      await server.close();
      if (!o.repo) await repo.cleanup();
    },
  };
}

export const call = (name: string, args: Record<string, unknown> | string = {}) => ({
  name,
  arguments: args,
});
