/**
 * Runs `node bin/numa-avatar.mjs ...` as a person would, with a clean environment: no NUMA_*,
 * OPENAI_* or GIT_TOKEN/GIT_USERNAME/GIT_EMAIL overrides leak in from the test's own.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { REPO_ROOT } from '../helpers/world.ts';

export const BIN = path.join(REPO_ROOT, 'bin', 'numa-avatar.mjs');

/** A line of a JavaScript stack trace ("    at fn (file.ts:12:3)"). */
export const STACK_LINE = /^\s+at .+[(:]\d+/m;

/** The environment minus every variable that would override the configuration. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(NUMA_|OPENAI_|GIT_(TOKEN|USERNAME|EMAIL)$)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd: string;
  env?: Record<string, string>;
  /** Killed (SIGKILL) after this long, which the test's expectations then catch. Default 15 s. */
  timeoutMs?: number;
}

/** Starts the CLI with stdout and stderr piped. */
export function spawnCli(args: string[], opts: CliOptions): ChildProcessByStdio<null, Readable, Readable> {
  return spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    env: cleanEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs the CLI to its end. */
export function cli(args: string[], opts: CliOptions): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, opts);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
