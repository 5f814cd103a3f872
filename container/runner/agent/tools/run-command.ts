/**
 * run_command: `/bin/sh -c <command>` in the repository root, in a process group of its own. The
 * environment is scrubbed of secrets; the time is limited (the whole group is killed when it runs
 * out); the output (stdout and stderr interleaved) is capped to its head and tail. Processes the
 * command leaves running in the background are stopped when it ends. Commands the policy
 * (commands.allow / commands.deny, see commands.ts) refuses are not run.
 */
import { spawn } from 'node:child_process';
import { AvatarError } from '../../../../core/errors.ts';
import { scrubAgentEnv } from '../../../../core/env.ts';
import { HeadTail } from '../text.ts';
import type { ToolContext, ToolResult } from '../types.ts';
import type { Sandbox } from '../../sandbox/types.ts';
import { UNSANDBOXED } from '../../sandbox/index.ts';

export interface RunCommandArgs {
  command: string;
  timeout_s?: number;
}

export const COMMAND_DEFAULT_TIMEOUT_MS = 120_000;
/** After SIGTERM, how long the group has before SIGKILL. */
const KILL_GRACE_MS = 1_000;
/** After the shell exits, how long its output pipes may stay open (held by background processes). */
const LINGER_MS = 250;

export interface CommandOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  output: string;
  outputChars: number;
  durationMs: number;
  timeoutMs: number;
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

export interface ExecOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  maxOutputChars: number;
  signal?: AbortSignal;
  /** Where the command runs (default: unsandboxed, as the runner's user). */
  sandbox?: Sandbox;
}

/** Runs a shell command; never rejects for the command's own failure. */
export function execShell(command: string, opts: ExecOptions): Promise<CommandOutcome> {
  const started = Date.now();
  const head = Math.floor(opts.maxOutputChars * 0.4);
  // Room is left for the note and the status line, so the agent's own cap does not cut again.
  const out = new HeadTail(head, Math.max(0, opts.maxOutputChars - head - 300));
  return new Promise((resolve, reject) => {
    let timedOut = false;
    let aborted = false;
    let exited = false;
    const timers: NodeJS.Timeout[] = [];
    const sandbox = opts.sandbox ?? UNSANDBOXED;
    const spec = sandbox.prepare({ command, cwd: opts.cwd, env: opts.env });
    const child = spawn(spec.file, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      detached: true, // its own process group, so the whole tree can be killed
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const terminate = () => {
      killGroup(child.pid, 'SIGTERM');
      timers.push(setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS));
    };
    const onAbort = () => {
      aborted = true;
      terminate();
    };
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (s: string) => out.push(s));
    child.stderr.on('data', (s: string) => out.push(s));
    timers.push(
      setTimeout(() => {
        timedOut = true;
        terminate();
      }, opts.timeoutMs),
    );
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('exit', () => {
      exited = true;
      // Background processes may hold the output pipes open: stop them shortly after.
      timers.push(
        setTimeout(() => {
          killGroup(child.pid, 'SIGKILL');
          timers.push(
            setTimeout(() => {
              child.stdout.destroy();
              child.stderr.destroy();
            }, LINGER_MS),
          );
        }, LINGER_MS),
      );
    });
    child.on('error', (err) => {
      if (exited) return;
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(new AvatarError('TOOL_INVALID', `could not start ${spec.file}: ${err.message}`, { cause: err }));
    });
    child.on('close', async (code, signal) => {
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener('abort', onAbort);
      killGroup(child.pid, 'SIGKILL'); // whatever the command left behind
      await sandbox.reap();
      resolve({
        exitCode: code,
        signal,
        timedOut,
        aborted,
        output: out.text(),
        outputChars: out.length,
        durationMs: Date.now() - started,
        timeoutMs: opts.timeoutMs,
      });
    });
  });
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

export function commandTimeoutMs(
  ctx: ToolContext,
  timeoutS: number | undefined,
): { ms: number; note: string } {
  const max = ctx.limits.commandTimeoutMs;
  let ms = timeoutS === undefined ? Math.min(COMMAND_DEFAULT_TIMEOUT_MS, max) : Math.round(timeoutS * 1000);
  let note = '';
  if (ms > max) {
    ms = max;
    note = ` (capped at the maximum of ${seconds(max)})`;
  }
  const remaining = ctx.remainingMs?.();
  if (remaining !== undefined && remaining < ms) {
    ms = Math.max(1, Math.floor(remaining));
    note = " (capped by the run's remaining time)";
  }
  return { ms, note };
}

export async function runCommand(ctx: ToolContext, args: RunCommandArgs): Promise<ToolResult> {
  if (args.command.trim() === '') throw new AvatarError('TOOL_INVALID', 'command must not be empty');
  const verdict = ctx.commandPolicy?.check(args.command);
  if (verdict && !verdict.ok) throw new AvatarError('TOOL_INVALID', verdict.message);
  const { ms, note } = commandTimeoutMs(ctx, args.timeout_s);
  const r = await execShell(args.command, {
    cwd: ctx.paths.root,
    // Secret-named variables, and any whose value the redactor knows as (or sees shaped like) a secret.
    env: scrubAgentEnv(ctx.baseEnv ?? process.env, ctx.redactor),
    timeoutMs: ms,
    maxOutputChars: ctx.limits.maxOutputChars,
    signal: ctx.signal,
    sandbox: ctx.sandbox,
  });
  const output = ctx.redactor.redact(r.outputChars === 0 ? '(no output)' : r.output);
  let status: string;
  let brief: string;
  if (r.timedOut) {
    status = `timed out after ${seconds(ms)}${note}: the command and every process it started were killed (exit code: ${r.exitCode ?? 'none'}${r.signal ? `, signal ${r.signal}` : ''})`;
    brief = `timed out after ${seconds(ms)}`;
  } else if (r.aborted) {
    status = `stopped: the run was aborted (exit code: ${r.exitCode ?? 'none'})`;
    brief = 'aborted';
  } else if (r.exitCode === null) {
    status = `killed by signal ${r.signal ?? 'unknown'} (exit code: none)`;
    brief = `signal ${r.signal ?? '?'}`;
  } else {
    status = `exit code: ${r.exitCode}`;
    brief = `exit ${r.exitCode}`;
  }
  return { output: `${status}\n${output}`, brief: `${brief} (${seconds(r.durationMs)})` };
}
