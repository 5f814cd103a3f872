/**
 * sandbox.mode: namespaces — each command runs under bubblewrap (Debian's `bubblewrap`) in new
 * user, pid, mount, ipc, uts, cgroup and network namespaces:
 *
 * - the system (/usr and the usual links to it, /etc, /opt and `sandbox.read_only_paths`) is
 *   mounted read-only, less what an unprivileged user could not read (masks.ts);
 * - the repository is the only writable place the host sees, besides a private home (a folder of
 *   this run, bound at /home/agent) and an empty /tmp;
 * - the work dir, the config, other runs and every home folder are simply not there;
 * - its own /proc: no other process (the runner, the service) can be seen, let alone read;
 * - no network but its own loopback;
 * - no capabilities, a new session (no terminal injection), and when the command's first process
 *   ends the pid namespace ends with it: nothing it started survives (setsid, nohup or not);
 * - rlimits on file size, open files and processes (prlimit, inside).
 */
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import type { Sandbox, SandboxCommand, SandboxSpawn } from './types.ts';
import { unreadableByOthers } from './masks.ts';
import type { SandboxLimits } from './limits.ts';
import { prlimitArgs } from './limits.ts';

export const SANDBOX_HOME = '/home/agent';

export interface BubblewrapOptions {
  /** The bwrap binary (default /usr/bin/bwrap). */
  bwrap?: string;
  /** The host folder bound read-write at /home/agent (one per run). */
  homeDir: string;
  /** The repository, bound read-write at its own path. */
  repoDir: string;
  /** More host paths shown read-only at their own path (toolchains outside /usr). */
  readOnlyPaths?: string[];
  /** The uid and gid the command sees itself as. */
  uid: number;
  gid: number;
  limits: SandboxLimits;
}

const SYSTEM_LINKS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
const SYSTEM_DIRS = ['/usr', '/etc', '/opt'];

export class Bubblewrap implements Sandbox {
  readonly mode = 'namespaces' as const;
  readonly description: string;
  private readonly fixed: string[];
  private readonly bwrap: string;

  constructor(private readonly opts: BubblewrapOptions) {
    this.bwrap = opts.bwrap ?? '/usr/bin/bwrap';
    const ro = [...SYSTEM_DIRS, ...(opts.readOnlyPaths ?? [])].filter((p) => existsSync(p));
    const args = [
      '--unshare-all',
      '--uid',
      String(opts.uid),
      '--gid',
      String(opts.gid),
      '--hostname',
      'sandbox',
      '--die-with-parent',
      '--new-session',
      '--cap-drop',
      'ALL',
    ];
    for (const link of SYSTEM_LINKS) {
      let st;
      try {
        st = lstatSync(link);
      } catch {
        continue;
      }
      if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(link), link);
      else if (st.isDirectory()) ro.push(link);
    }
    for (const p of ro) args.push('--ro-bind', p, p);
    // /usr is left out of the walk: it is large and holds no one's secrets.
    for (const m of unreadableByOthers(ro.filter((p) => p !== '/usr'))) {
      if (m.kind === 'dir') args.push('--tmpfs', m.path, '--remount-ro', m.path);
      else args.push('--ro-bind', '/dev/null', m.path);
    }
    args.push(
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--tmpfs',
      '/tmp',
      '--bind',
      opts.homeDir,
      SANDBOX_HOME,
      '--bind',
      opts.repoDir,
      opts.repoDir,
    );
    this.fixed = args;
    this.description =
      `namespaces (bubblewrap): read-only system, writable repository, private /home/agent and /tmp, ` +
      `own /proc, no network, no capabilities; ${describeLimits(opts.limits)}`;
  }

  prepare(cmd: SandboxCommand): SandboxSpawn {
    return {
      file: this.bwrap,
      args: [
        ...this.fixed,
        '--chdir',
        cmd.cwd,
        '--',
        ...prlimitArgs(this.opts.limits),
        '/bin/sh',
        '-c',
        cmd.command,
      ],
      env: { ...cmd.env, HOME: SANDBOX_HOME, TMPDIR: '/tmp', USER: 'agent', LOGNAME: 'agent' },
      cwd: cmd.cwd,
    };
  }

  async reap(): Promise<void> {
    // The pid namespace dies with the command's first process: nothing to do.
  }
}

function describeLimits(l: SandboxLimits): string {
  return `limits: files ≤ ${l.fileBytes} bytes, ${l.processes} processes, ${l.openFiles} open files, ${l.memoryBytes} bytes of data`;
}
