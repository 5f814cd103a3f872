/**
 * sandbox.mode: user — for hosts without user namespaces (AWS Fargate): each command runs as a
 * dedicated unprivileged uid through util-linux's `setpriv`, with no supplementary groups, no
 * capabilities (inheritable, ambient and bounding sets emptied), `no_new_privs` (setuid binaries
 * do not raise it) and rlimits. A process of another uid cannot read the runner's environment
 * (/proc/<pid>/environ needs the same uid) or memory, nor its files (mode 0600/0700). After each
 * command every process of that uid is killed (`kill -KILL -1` as that uid, repeated until none is
 * left): a setsid or double-forked process goes too. The runner must be root (or hold
 * CAP_SETUID, CAP_SETGID and CAP_KILL) to start them.
 *
 * The network: without namespaces nothing can take it away but a seccomp filter, which netoff
 * (netoff.c, built into the runner image at NETOFF_PATH) installs, before setpriv drops to the
 * uid: sockets of any domain but AF_UNIX, and io_uring, are refused. Without that helper the
 * commands reach the internet and every service on the host's loopback, and the description says so.
 */
import { execFile, type ExecFileException } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { Sandbox, SandboxCommand, SandboxSpawn } from './types.ts';
import type { SandboxLimits } from './limits.ts';
import { describeLimits, prlimitArgs } from './limits.ts';

/** Where the runner looks for the network filter (netoff.c): the runner image installs it there. */
export const NETOFF_PATH = '/usr/local/lib/numa-avatar/netoff';

/** Exit status of netoff when it could not install its filter (it then runs nothing). */
const NETOFF_FAILED = 126;

/** Whether `file` is a regular file this process may execute. */
export function isExecutable(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Folders on the host every uid may write to (sticky), where the agent's leftovers are removed. */
const SHARED_WRITABLE = ['/tmp', '/var/tmp', '/dev/shm', '/run/lock', '/dev/mqueue'];

/**
 * Kills every process of `uid` (`kill -KILL -1` as that uid, until /proc shows none): before a
 * run hands its tree to a leased uid, whatever a crashed run of the same uid left goes first.
 * True when none is left.
 */
export function reapUid(uid: number, setpriv = '/usr/bin/setpriv'): Promise<boolean> {
  return reapLoop(
    uid,
    () =>
      new Promise<void>((resolve) =>
        execFile(
          setpriv,
          [...setprivIdentity(uid, uid), '--', ...KILL_ALL],
          { env: { PATH: '/usr/bin:/bin' }, timeout: 10_000 },
          () => resolve(),
        ),
      ),
  );
}

/** As the uid, kill(-1) reaches exactly that uid's processes (all but the killer). */
const KILL_ALL = ['/bin/sh', '-c', 'kill -KILL -1 2>/dev/null; true'];

/**
 * Kills (through `killAll`, once at least, whatever /proc says: what it cannot see must not
 * outlive the command) until /proc shows no process of `uid`, at most 20 rounds. The kernel's
 * kill(-1) signals them all in one pass, so a fork bomb cannot outrun it for long. True when none
 * is left.
 */
async function reapLoop(uid: number, killAll: () => Promise<void>): Promise<boolean> {
  for (let round = 0; round < 20; round++) {
    await killAll();
    if (processesOf(uid).length === 0) return true;
    // SIGKILL is delivered at once, but a dying process still shows until it is reaped.
    await new Promise((r) => setTimeout(r, round === 0 ? 5 : 50));
  }
  return processesOf(uid).length === 0;
}

/**
 * Deletes what `uid` owns in the folders every user may write to, and its System V IPC objects.
 * Run by the runner itself (root), only once `uid` has no process left: nothing can swap a path
 * under it, and a folder the uid made unreadable (mode 000) does not stop it. `find -P` follows
 * no link.
 */
export async function cleanUpUid(uid: number): Promise<void> {
  const dirs = SHARED_WRITABLE.filter((d) => existsSync(d));
  await new Promise<void>((resolve) => {
    execFile(
      '/usr/bin/find',
      ['-P', ...dirs, '-xdev', '-mindepth', '1', '-user', String(uid), '-delete'],
      { env: { PATH: '/usr/bin:/bin' }, timeout: 60_000 },
      () => resolve(),
    );
  });
  for (const [file, flag] of [
    ['/proc/sysvipc/shm', '-m'],
    ['/proc/sysvipc/msg', '-q'],
    ['/proc/sysvipc/sem', '-s'],
  ] as const) {
    let lines: string[];
    try {
      lines = readFileSync(file, 'utf8').trim().split('\n');
    } catch {
      continue;
    }
    const header = lines[0]!.trim().split(/\s+/);
    const idCol = header.findIndex((h) => /^(shmid|msqid|semid)$/.test(h));
    const uidCol = header.indexOf('uid');
    for (const line of lines.slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (idCol < 0 || uidCol < 0 || Number(cols[uidCol]) !== uid) continue;
      await new Promise<void>((resolve) => execFile('/usr/bin/ipcrm', [flag, cols[idCol]!], () => resolve()));
    }
  }
}

/**
 * Live processes whose real, effective or saved uid is `uid`. A process counts as gone only when
 * every one of its threads is a zombie: one whose main thread ended with a thread exit (not
 * exit_group) shows "Z" in its status while its other threads run on.
 */
export function processesOf(uid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${name}/status`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const ids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
    if (!ids || !ids.slice(1, 4).some((id) => Number(id) === uid)) continue;
    if (/^State:\s+Z/m.test(status) && !hasLiveThread(name)) continue;
    pids.push(Number(name));
  }
  return pids;
}

function hasLiveThread(pid: string): boolean {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  return tids.some((tid) => {
    try {
      return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
    } catch {
      return false;
    }
  });
}

/**
 * For the sandboxed code's own git: the repository's .git belongs to the runner (sandbox/git-dir.ts),
 * so git would refuse it as "dubious ownership"; it may read it (it cannot write it).
 */
export const GIT_READS_RUNNERS_DIR = {
  GIT_CONFIG_COUNT: '1',
  GIT_CONFIG_KEY_0: 'safe.directory',
  GIT_CONFIG_VALUE_0: '*',
} as const;

/** setpriv's options that make a process `uid`/`gid` with no groups, capabilities or new privileges. */
export function setprivIdentity(uid: number, gid: number): string[] {
  return [
    `--reuid=${uid}`,
    `--regid=${gid}`,
    '--clear-groups',
    '--no-new-privs',
    '--inh-caps=-all',
    '--ambient-caps=-all',
    '--bounding-set=-all',
  ];
}

export interface SetprivOptions {
  setpriv?: string;
  uid: number;
  gid: number;
  /** Home folder of the agent's uid (owned by it, one per run). */
  homeDir: string;
  /** Its temporary folder (owned by it, one per run). */
  tmpDir: string;
  limits: SandboxLimits;
  /**
   * The network filter (netoff.c): when set, every command runs under it, with no socket but unix
   * ones. Unset: commands have the host's network (loopback services included).
   */
  netoff?: string;
  /** Where netoff was looked for and not found (for the description; default NETOFF_PATH). */
  netoffLookedFor?: string;
  /** Called by close() after the last reaping (gives the uid back). */
  onClose?: () => Promise<void>;
}

export class SetprivUser implements Sandbox {
  readonly mode = 'user' as const;
  readonly description: string;
  get homeDir(): string {
    return this.opts.homeDir;
  }
  private readonly setpriv: string;

  constructor(private readonly opts: SetprivOptions) {
    this.setpriv = opts.setpriv ?? '/usr/bin/setpriv';
    const network = opts.netoff
      ? 'network off (seccomp): no socket but unix ones'
      : `network open: no seccomp helper at ${opts.netoffLookedFor ?? NETOFF_PATH}`;
    this.description =
      `user (setpriv): commands run as uid ${opts.uid} without groups, capabilities or new privileges; ` +
      `${network}; every process of that uid is killed after each command; ${describeLimits(opts.limits)}`;
  }

  private identity(): string[] {
    return setprivIdentity(this.opts.uid, this.opts.gid);
  }

  /**
   * What starts `argv` as the agent's uid: `setpriv <identity> -- argv`, under netoff when there is
   * one. netoff comes first, while the process is still root, and sets no_new_privs itself, so no
   * process of the agent's uid ever runs unfiltered: after setpriv's `--` instead, netoff would run
   * as that uid for the instants before its filter is on (dumpable again, as after any exec), and
   * a process the agent left running could ptrace it then and skip the filter.
   */
  private asUid(argv: string[], netoff = this.opts.netoff): { file: string; args: string[] } {
    const args = [...this.identity(), '--', ...argv];
    return netoff ? { file: netoff, args: [this.setpriv, ...args] } : { file: this.setpriv, args };
  }

  prepare(cmd: SandboxCommand): SandboxSpawn {
    // Setup steps (the dependency install) keep the host's network, which on Fargate is the
    // stack's egress rules: seccomp cannot tell an allowed registry from any other address.
    const netoff = cmd.network === 'setup' ? '' : undefined;
    return {
      ...this.asUid([...prlimitArgs(this.opts.limits), '/bin/sh', '-c', cmd.command], netoff),
      env: {
        ...cmd.env,
        HOME: this.opts.homeDir,
        TMPDIR: this.opts.tmpDir,
        USER: 'agent',
        LOGNAME: 'agent',
        ...GIT_READS_RUNNERS_DIR,
      },
      cwd: cmd.cwd,
    };
  }

  /** Kills every process of the agent's uid; resolves once none is left (at most 20 rounds). */
  async reap(): Promise<void> {
    await reapLoop(this.opts.uid, () => this.asAgent(KILL_ALL, 10_000));
  }

  /**
   * Reaps, then deletes what the uid left where every user may write (cleanUpUid), so the next
   * run that leases the uid finds nothing of this one's.
   */
  async close(): Promise<void> {
    await this.reap();
    if (processesOf(this.opts.uid).length === 0) await cleanUpUid(this.opts.uid);
    await this.opts.onClose?.();
  }

  /**
   * Runs one of the runner's own commands (the reaping, the clean-up) as the agent's uid, under
   * netoff too: processes the agent left may still be alive, and could take over an unfiltered
   * process of their uid (ptrace) to reach the network. Should netoff fail (exit 126, nothing
   * run), the command runs without it: the reaping matters more.
   */
  private async asAgent(argv: string[], timeoutMs: number): Promise<void> {
    const run = ({ file, args }: { file: string; args: string[] }) =>
      new Promise<ExecFileException | null>((resolve) => {
        execFile(file, args, { env: { PATH: '/usr/bin:/bin' }, timeout: timeoutMs }, (err) => resolve(err));
      });
    if (this.opts.netoff && (await run(this.asUid(argv)))?.code !== NETOFF_FAILED) return;
    await run(this.asUid(argv, ''));
  }
}
