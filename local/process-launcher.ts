/**
 * Starts one runner child process per task run (`numa-avatar task <id>`), the local counterpart
 * of ECS RunTask. Children run in their own process group with their output in a file, so a
 * `kill -9` of the service does not take them down: a restarted service adopts them by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the process was adopted after a restart: its exit code is unknown. */
  adopted: boolean;
  /** Set when the process could not be started at all (e.g. the command does not exist). */
  startError?: string;
}

export interface SpawnSpec {
  runId: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  logFile: string;
}

export interface RunningChild {
  runId: string;
  pid: number;
  exited: Promise<ChildExit>;
}

export interface ProcessLauncherOptions {
  /** The command that runs the CLI: [node, bin/numa-avatar.mjs]. */
  command: string[];
  /** How often an adopted child's liveness is checked. */
  adoptPollMs?: number;
}

export class ProcessLauncher {
  private readonly children = new Map<string, RunningChild>();

  constructor(private readonly opts: ProcessLauncherOptions) {}

  start(spec: SpawnSpec): RunningChild {
    mkdirSync(path.dirname(spec.logFile), { recursive: true });
    const fd = openSync(spec.logFile, 'a', 0o600);
    const [cmd, ...pre] = this.opts.command;
    let child: ChildProcess;
    try {
      child = spawn(cmd!, [...pre, ...spec.args], {
        env: spec.env,
        stdio: ['ignore', fd, fd],
        detached: true,
      });
    } finally {
      closeSync(fd); // the child has its own copy; a spawn that throws must not leak it
    }
    const exited = new Promise<ChildExit>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal, adopted: false }));
      child.on('error', (err) => {
        // A failed spawn has no pid and no 'exit' to come. An 'error' of a started process (a
        // failed kill) is not its end: its 'exit' still comes.
        if (child.pid === undefined) {
          resolve({ code: null, signal: null, adopted: false, startError: err.message });
        }
      });
    });
    const running: RunningChild = { runId: spec.runId, pid: child.pid ?? -1, exited };
    this.track(running);
    return running;
  }

  /** Watches a runner started by an earlier service process. */
  adopt(runId: string, pid: number): RunningChild {
    const exited = new Promise<ChildExit>((resolve) => {
      const timer = setInterval(() => {
        if (!isRunnerAlive(pid, runId)) {
          clearInterval(timer);
          resolve({ code: null, signal: null, adopted: true });
        }
      }, this.opts.adoptPollMs ?? 500);
    });
    const running: RunningChild = { runId, pid, exited };
    this.track(running);
    return running;
  }

  /** Sends a signal to every running child's process group. */
  signalAll(signal: NodeJS.Signals): void {
    for (const c of this.children.values()) killGroup(c.pid, signal);
  }

  get size(): number {
    return this.children.size;
  }

  private track(child: RunningChild): void {
    this.children.set(child.runId, child);
    void child.exited.then(() => this.children.delete(child.runId));
  }
}

export function killGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Alive, and (where /proc exists) really our runner for this run, not a reused pid. */
export function isRunnerAlive(pid: number, runId: string): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes(runId)) return false;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat); // a zombie has exited
  } catch {
    return true; // no /proc (macOS): trust the signal check
  }
}

/** The pid of a live process whose command line names this run id (Linux /proc), if any. */
export function findRunnerPid(runId: string): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args.includes(runId) && args.includes('task')) return pid;
    } catch {
      /* gone, or not ours to read */
    }
  }
  return undefined;
}
