/**
 * Runs a test command (or its setup step): `/bin/sh -c` in its own process group, so a timeout
 * or an abort kills the whole tree (test runners love to fork), with the repository's environment
 * (core/env.ts: the allow-listed variables only, no credential, CI=true so tools do not wait for
 * a terminal) and the tail of the interleaved stdout+stderr kept.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { AvatarError } from '../../../core/errors.ts';
import { scrubAgentEnv } from '../../../core/env.ts';
import { patternRedactor } from '../../../core/redact.ts';
import type { Sandbox } from '../sandbox/types.ts';
import { UNSANDBOXED } from '../sandbox/index.ts';

export interface RunTestOptions {
  command: string;
  cwd: string;
  timeoutMs: number;
  /**
   * Default: the allow-listed variables of process.env (core/env.ts scrubAgentEnv, without any
   * whose value looks like a credential), CI=true. A given env is used as is (CI=true added if unset).
   */
  env?: NodeJS.ProcessEnv;
  /** Characters of output kept, from the end (default 20000). */
  maxOutputChars?: number;
  /**
   * Characters kept for reading the results (default 8 Mi): the whole output when it fits, its
   * head and tail otherwise. A runner that prints a line per test needs more than the tail.
   */
  maxParseChars?: number;
  signal?: AbortSignal;
  /** How long SIGTERM gets before SIGKILL on timeout/abort (default 2000 ms). */
  killGraceMs?: number;
  /** Where the command runs (default: unsandboxed, as the runner's user). */
  sandbox?: Sandbox;
  /** `setup` for the install step and setup steps (the sandbox's allow-listed network). */
  network?: 'none' | 'setup';
  /** Clock for durationMs (default performance.now). */
  now?: () => number;
}

export interface TestRunResult {
  passed: boolean;
  command: string;
  /** null when the command did not exit on its own (killed, or it could not start). */
  exitCode: number | null;
  output: string;
  /** The output for reading the results, when `output` had to be cut (head and tail kept). */
  fullOutput?: string;
  durationMs: number;
  timedOut: boolean;
}

export const DEFAULT_MAX_OUTPUT_CHARS = 20_000;
export const DEFAULT_MAX_PARSE_CHARS = 8 * 1024 * 1024;

export async function runTestCommand(opts: RunTestOptions): Promise<TestRunResult> {
  const { command, cwd, timeoutMs, signal } = opts;
  if (!(timeoutMs > 0))
    throw new AvatarError('USAGE', `runTestCommand: timeoutMs must be > 0, got ${timeoutMs}`);
  const now = opts.now ?? (() => performance.now());
  const graceMs = opts.killGraceMs ?? 2000;
  const tail = new TailBuffer(opts.maxOutputChars ?? DEFAULT_MAX_OUTPUT_CHARS);
  const whole = new HeadTailBuffer(opts.maxParseChars ?? DEFAULT_MAX_PARSE_CHARS);
  const env = opts.env
    ? { ...opts.env, CI: opts.env.CI ?? 'true' }
    : scrubAgentEnv(process.env, patternRedactor, { CI: 'true' });
  const started = now();
  const sandbox = opts.sandbox ?? UNSANDBOXED;

  if (signal?.aborted) {
    return {
      passed: false,
      command,
      exitCode: null,
      output: '[test command aborted before it started]',
      durationMs: 0,
      timedOut: false,
    };
  }

  return new Promise<TestRunResult>((resolve) => {
    let child: ChildProcess;
    try {
      const spec = sandbox.prepare({ command, cwd, env, network: opts.network });
      child = spawn(spec.file, spec.args, {
        cwd: spec.cwd,
        env: spec.env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      resolve(failedToStart(err));
      return;
    }
    let timedOut = false;
    let aborted = false;
    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    let done = false;
    let killTimer: NodeJS.Timeout | undefined;
    let closeTimer: NodeJS.Timeout | undefined;

    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // ESRCH: the group is gone already
      }
    };
    const terminate = () => {
      killGroup('SIGTERM');
      killTimer ??= setTimeout(() => killGroup('SIGKILL'), graceMs);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      terminate();
    }, timeoutMs);
    const onAbort = () => {
      aborted = true;
      terminate();
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    const finish = (startError?: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      clearTimeout(closeTimer);
      signal?.removeEventListener('abort', onAbort);
      if (startError !== undefined) {
        resolve(failedToStart(startError));
        return;
      }
      let output = tail.text();
      if (timedOut)
        output += `\n[timed out after ${formatSeconds(timeoutMs)}: the command's processes were killed]`;
      else if (aborted) output += "\n[aborted: the command's processes were killed]";
      else if (exitCode === null && exitSignal) output += `\n[killed by ${exitSignal}]`;
      const result: TestRunResult = {
        passed: !timedOut && !aborted && exitCode === 0,
        command,
        exitCode: timedOut || aborted ? null : exitCode,
        output,
        ...(whole.length > tail.text().length ? { fullOutput: whole.text() } : {}),
        durationMs: Math.max(0, Math.round(now() - started)),
        timedOut,
      };
      // Whatever the command left running anywhere (the user adapter: every process of its uid).
      void sandbox.reap().finally(() => resolve(result));
    };

    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    const onData = (s: string) => {
      tail.push(s);
      whole.push(s);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('error', (err) => {
      // spawn failed (bad cwd, no /bin/sh): there will be no exit
      if (child.pid === undefined) finish(err);
    });
    child.on('exit', (code, sig) => {
      exitCode = code;
      exitSignal = sig;
      // Whatever the command left running in its group (servers, watchers) goes with it, so the
      // pipes close and nothing outlives the test step.
      killGroup('SIGKILL');
      // A process that left the group may still hold the pipes: do not wait for it forever.
      closeTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish();
      }, 1000);
    });
    child.on('close', () => finish());

    function failedToStart(err: unknown): TestRunResult {
      const why = err instanceof Error ? err.message : String(err);
      return {
        passed: false,
        command,
        exitCode: null,
        output: `[could not start the command in ${cwd}: ${why}]`,
        durationMs: Math.max(0, Math.round(now() - started)),
        timedOut: false,
      };
    }
  });
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

/** Keeps the first and the last `max / 2` characters of a stream (all of it when it fits). */
export class HeadTailBuffer {
  private head = '';
  private readonly tail: TailBuffer;
  private total = 0;

  constructor(private readonly max: number) {
    this.tail = new TailBuffer(Math.floor(max / 2));
  }

  get length(): number {
    return this.total;
  }

  push(s: string): void {
    this.total += s.length;
    const room = Math.ceil(this.max / 2) - this.head.length;
    if (room > 0) {
      this.head += s.slice(0, room);
      s = s.slice(room);
    }
    if (s) this.tail.push(s);
  }

  text(): string {
    return this.head + this.tail.text();
  }
}

/** Keeps the last `max` characters of a stream and counts what it dropped. */
export class TailBuffer {
  private buf = '';
  private cut = 0;

  constructor(private readonly max: number) {
    if (!(max >= 0)) throw new AvatarError('USAGE', `maxOutputChars must be >= 0, got ${max}`);
  }

  push(s: string): void {
    this.buf += s;
    if (this.buf.length > this.max * 2 + 4096) this.trim();
  }

  text(): string {
    this.trim();
    return this.cut > 0 ? `[… ${this.cut} characters cut …]\n${this.buf}` : this.buf;
  }

  private trim(): void {
    if (this.buf.length <= this.max) return;
    let drop = this.buf.length - this.max;
    // never start the tail with half of a surrogate pair
    const first = this.buf.charCodeAt(drop);
    if (first >= 0xdc00 && first <= 0xdfff) drop++;
    this.cut += drop;
    this.buf = this.buf.slice(drop);
  }
}
