/**
 * sandbox.mode: namespaces — each command runs under bubblewrap (Debian's `bubblewrap`) in new
 * user, pid, mount, ipc, uts, cgroup and network namespaces:
 *
 * - the system (/usr and the usual links to it, /etc, /opt and `sandbox.read_only_paths`) is
 *   mounted read-only, less what an unprivileged user could not read (masks.ts);
 * - the repository is the only writable place the host sees (its .git read-only: git-dir.ts),
 *   besides a private home (a folder of this run, bound at /home/agent) and an empty /tmp;
 * - the work dir, the config, other runs and every home folder are simply not there;
 * - its own /proc: no other process (the runner, the service) can be seen, let alone read;
 * - no network but its own loopback; setup steps reach the hosts of sandbox.network.allow through
 *   the runner's egress proxy (egress-proxy.ts), by a bridge on that loopback (bridge.mjs);
 * - no capabilities, a new session (no terminal injection), and when the command's first process
 *   ends the pid namespace ends with it: nothing it started survives (setsid, nohup or not);
 * - rlimits on file size, open files and processes (prlimit, inside).
 */
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sandbox, SandboxCommand, SandboxSpawn } from './types.ts';
import { unreadableByOthers } from './masks.ts';
import type { SandboxLimits } from './limits.ts';
import { describeLimits, prlimitArgs } from './limits.ts';
import { GIT_READS_RUNNERS_DIR, reapUid, setprivIdentity } from './setpriv.ts';

export const SANDBOX_HOME = '/home/agent';
/** The egress proxy's socket, in the folder given as proxySocketDir. */
export const PROXY_SOCKET = 'proxy.sock';

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
  /** For setup steps: the folder holding the egress proxy's socket (egress-proxy.ts). */
  proxySocketDir?: string;
  /** Called by close() (stops the egress proxy, gives the leased uid back). */
  onClose?: () => Promise<void>;
  /**
   * When the runner is root: the uid bubblewrap itself runs as (through setpriv), so that the
   * sandbox's processes are that uid outside their namespaces too, not root. Unset: bubblewrap
   * runs as the runner's own user (`asRootWhy` says why, when the runner is root).
   */
  runAs?: { uid: number; gid: number; setpriv?: string };
  asRootWhy?: string;
}

/** Inside the sandbox: where the proxy's socket folder and the bridge are bound, and its port. */
const PROXY_DIR = '/run/numa-avatar';
const BRIDGE = fileURLToPath(new URL('./bridge.mjs', import.meta.url));
const PROXY_PORT = 3128;

const SYSTEM_LINKS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
const SYSTEM_DIRS = ['/usr', '/etc', '/opt'];

export class Bubblewrap implements Sandbox {
  readonly mode = 'namespaces' as const;
  readonly description: string;
  get homeDir(): string {
    return this.opts.homeDir;
  }
  private readonly fixed: string[];
  private readonly bwrap: string;

  constructor(private readonly opts: BubblewrapOptions) {
    this.bwrap = opts.bwrap ?? '/usr/bin/bwrap';
    const ro = [...SYSTEM_DIRS, ...(opts.readOnlyPaths ?? [])].filter((p) => existsSync(p));
    const args = [
      '--unshare-all',
      // No user namespace of its own inside: nested namespaces are the usual way into kernel bugs.
      '--unshare-user',
      '--disable-userns',
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
      '--size',
      String(opts.limits.tmpBytes),
      '--tmpfs',
      '/tmp',
      '--bind',
      opts.homeDir,
      SANDBOX_HOME,
      '--bind',
      opts.repoDir,
      opts.repoDir,
    );
    // The git dir is the runner's (git-dir.ts): the sandbox sees it, cannot change it.
    const gitDir = path.join(opts.repoDir, '.git');
    if (existsSync(gitDir)) args.push('--ro-bind', gitDir, gitDir);
    this.fixed = args;
    this.description =
      `namespaces (bubblewrap): read-only system, writable repository, private /home/agent and /tmp, ` +
      `own /proc, no network${opts.proxySocketDir ? ' (setup steps: the hosts of sandbox.network.allow only)' : ''}, ` +
      `no capabilities; ${describeLimits(opts.limits)}` +
      (opts.runAs
        ? `; outside its namespaces it is uid ${opts.runAs.uid}, not root`
        : opts.asRootWhy
          ? `; outside its namespaces it is root (${opts.asRootWhy})`
          : '');
  }

  prepare(cmd: SandboxCommand): SandboxSpawn {
    const env: NodeJS.ProcessEnv = {
      ...cmd.env,
      HOME: SANDBOX_HOME,
      TMPDIR: '/tmp',
      USER: 'agent',
      LOGNAME: 'agent',
      ...GIT_READS_RUNNERS_DIR,
    };
    const extra: string[] = [];
    let command = ['/bin/sh', '-c', cmd.command];
    if (cmd.network === 'setup' && this.opts.proxySocketDir) {
      // The bridge listens on the sandbox's loopback and carries to the proxy's socket; the
      // command starts once it listens (at most 5 s later).
      const node = process.execPath;
      extra.push(
        '--bind',
        this.opts.proxySocketDir,
        PROXY_DIR,
        '--ro-bind',
        BRIDGE,
        `${PROXY_DIR}-bridge.mjs`,
      );
      if (!SYSTEM_DIRS.some((d) => node.startsWith(d + '/'))) extra.push('--ro-bind', node, node);
      const wrapper =
        `${JSON.stringify(node)} ${PROXY_DIR}-bridge.mjs ${PROXY_DIR}/${PROXY_SOCKET} ${PROXY_PORT} & ` +
        'i=0; while [ ! -e /tmp/.numa-proxy-ready ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done; ' +
        'exec /bin/sh -c "$1"';
      command = ['/bin/sh', '-c', wrapper, 'sh', cmd.command];
      const proxy = `http://127.0.0.1:${PROXY_PORT}`;
      for (const k of [
        'HTTP_PROXY',
        'HTTPS_PROXY',
        'http_proxy',
        'https_proxy',
        'npm_config_proxy',
        'npm_config_https_proxy',
      ])
        env[k] = proxy;
      env.NO_PROXY = env.no_proxy = '';
    }
    const bwrapArgs = [
      ...this.fixed,
      ...extra,
      '--chdir',
      cmd.cwd,
      '--',
      ...prlimitArgs(this.opts.limits),
      ...command,
    ];
    const runAs = this.opts.runAs;
    return {
      ...(runAs
        ? {
            file: runAs.setpriv ?? '/usr/bin/setpriv',
            args: [...setprivIdentity(runAs.uid, runAs.gid), '--', this.bwrap, ...bwrapArgs],
          }
        : { file: this.bwrap, args: bwrapArgs }),
      env,
      cwd: cmd.cwd,
    };
  }

  async reap(): Promise<void> {
    // The pid namespace dies with the command's first process; the kernel kills the rest a moment
    // later. Started as a leased uid, the end is also seen and made sure of: none of it is left.
    if (this.opts.runAs) await reapUid(this.opts.runAs.uid, this.opts.runAs.setpriv);
  }

  async close(): Promise<void> {
    await this.opts.onClose?.();
  }
}
