/** Shared helpers of the agent tests: temporary repositories, tool contexts, SDK clients. */
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { Redactor } from '../../core/redact.ts';
import { RepoPaths } from '../../container/runner/agent/paths.ts';
import type { TestRunResult, ToolContext } from '../../container/runner/agent/types.ts';

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
