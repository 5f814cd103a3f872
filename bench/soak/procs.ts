/**
 * Finds the runner processes of one soak (Linux /proc): a runner's command line is
 * `… numa-avatar.mjs task <task_id> --run-id <run_id> --message <json>`, and it runs in the
 * folder the soak started the service in, which tells this soak's runners from any other's.
 */
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';

export interface RunnerProcess {
  pid: number;
  ppid: number;
  taskId: string;
  runId: string;
  attempt: number;
}

export function findRunners(cwd: string): RunnerProcess[] {
  const dir = realpathSync(cwd); // /proc/<pid>/cwd is the resolved path
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: RunnerProcess[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const t = args.indexOf('task');
      const r = args.indexOf('--run-id');
      if (t < 0 || r < 0 || readlinkSync(`/proc/${entry}/cwd`) !== dir) continue;
      // "pid (comm) state ppid ...": the fields after the last ")".
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z') continue; // exited, not yet reaped
      const m = args.indexOf('--message');
      let attempt = 1;
      if (m >= 0) {
        try {
          const msg = JSON.parse(args[m + 1] ?? '{}') as { attempt?: unknown };
          if (typeof msg.attempt === 'number') attempt = msg.attempt;
        } catch {
          /* not JSON: attempt 1 */
        }
      }
      out.push({
        pid: Number(entry),
        ppid: Number(ppid),
        taskId: args[t + 1] ?? '',
        runId: args[r + 1] ?? '',
        attempt,
      });
    } catch {
      /* gone, or not ours to read */
    }
  }
  // A runner's child between fork and exec still shows the runner's command line: not a runner.
  const pids = new Set(out.map((p) => p.pid));
  return out.filter((p) => !pids.has(p.ppid));
}

/** SIGKILLs a runner and everything it started (it leads its own process group). */
export function killRunner(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
