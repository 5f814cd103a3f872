/**
 * Per-repository setup steps, run after the clone and before the baseline tests and the agent:
 * the configured `setup.commands`, then the repository's own `.numa/setup.sh` (run with `sh`).
 * Each step is time-boxed, runs with a scrubbed environment (no credentials) in its own process
 * group, and is logged with the tail of its output. A failing step is logged and the run goes on.
 */
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { runTestCommand } from '../testing/run.ts';
import type { Sandbox } from '../sandbox/types.ts';

export const REPO_SETUP_SCRIPT = '.numa/setup.sh';

export interface SetupStepReport {
  command: string;
  source: 'config' | typeof REPO_SETUP_SCRIPT;
  passed: boolean;
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  /** The last lines of its output (the logs get them redacted). */
  outputTail: string;
}

export interface SetupOptions {
  repoDir: string;
  commands: readonly string[];
  timeoutMs: number;
  log: (line: string) => void;
  signal?: AbortSignal;
  /** Default: runTestCommand's (the allow-listed variables of process.env, CI=true: core/env.ts). */
  env?: NodeJS.ProcessEnv;
  /** Where the steps run (default: unsandboxed). */
  sandbox?: Sandbox;
  /** Lines of output logged per step (default 20). */
  tailLines?: number;
}

export async function runSetupSteps(opts: SetupOptions): Promise<SetupStepReport[]> {
  const steps: Array<{ command: string; source: SetupStepReport['source'] }> = opts.commands
    .map((c) => c.trim())
    .filter((c) => c !== '')
    .map((command) => ({ command, source: 'config' as const }));
  if (
    (await isRealDir(path.join(opts.repoDir, '.numa'))) &&
    (await isRegularFile(path.join(opts.repoDir, REPO_SETUP_SCRIPT)))
  ) {
    steps.push({ command: `sh ${REPO_SETUP_SCRIPT}`, source: REPO_SETUP_SCRIPT });
  }
  const reports: SetupStepReport[] = [];
  for (const [i, step] of steps.entries()) {
    if (opts.signal?.aborted) break;
    const r = await runTestCommand({
      command: step.command,
      cwd: opts.repoDir,
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
      env: opts.env,
      sandbox: opts.sandbox,
      network: 'setup',
      maxOutputChars: 8000,
    });
    const outputTail = lastLines(r.output, opts.tailLines ?? 20, 2000);
    const verdict = r.passed
      ? 'ok'
      : r.timedOut
        ? `timed out after ${opts.timeoutMs / 1000} s (setup.timeout)`
        : `failed (exit ${r.exitCode ?? 'none'})`;
    opts.log(
      `setup step ${i + 1}/${steps.length} \`${step.command}\` (${step.source}): ${verdict} in ${r.durationMs} ms` +
        (r.passed ? '' : '; the run goes on'),
    );
    if (outputTail) opts.log(outputTail.replace(/^/gm, '  | '));
    reports.push({
      command: step.command,
      source: step.source,
      passed: r.passed,
      exitCode: r.exitCode,
      timedOut: r.timedOut,
      durationMs: r.durationMs,
      outputTail,
    });
  }
  return reports;
}

/** The last `lines` lines of a text, at most `maxChars` characters. */
export function lastLines(text: string, lines: number, maxChars: number): string {
  const all = text.replace(/\s+$/, '').split('\n');
  let out = all.slice(-lines).join('\n');
  if (out.length > maxChars) out = out.slice(-maxChars);
  return out;
}

/** A directory, not a symlink to one (it could point out of the repository). */
async function isRealDir(dir: string): Promise<boolean> {
  try {
    return (await lstat(dir)).isDirectory();
  } catch {
    return false;
  }
}

async function isRegularFile(file: string): Promise<boolean> {
  try {
    return (await lstat(file)).isFile();
  } catch {
    return false;
  }
}
