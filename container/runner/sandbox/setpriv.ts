/**
 * sandbox.mode: user — for hosts without user namespaces (AWS Fargate): each command runs as a
 * dedicated unprivileged uid through util-linux's `setpriv`, with no supplementary groups, no
 * capabilities (inheritable, ambient and bounding sets emptied), `no_new_privs` (setuid binaries
 * do not raise it) and rlimits. A process of another uid cannot read the runner's environment
 * (/proc/<pid>/environ needs the same uid) or memory, nor its files (mode 0600/0700). After each
 * command every process of that uid is killed (`kill -KILL -1` as that uid, repeated until none is
 * left): a setsid or double-forked process goes too. The runner must be root (or hold
 * CAP_SETUID, CAP_SETGID and CAP_KILL) to start them.
 */
import { execFile } from 'node:child_process';
import type { Sandbox, SandboxCommand, SandboxSpawn } from './types.ts';
import type { SandboxLimits } from './limits.ts';
import { prlimitArgs } from './limits.ts';

export interface SetprivOptions {
  setpriv?: string;
  uid: number;
  gid: number;
  /** Home folder of the agent's uid (owned by it, one per run). */
  homeDir: string;
  /** Its temporary folder (owned by it, one per run). */
  tmpDir: string;
  limits: SandboxLimits;
}

export class SetprivUser implements Sandbox {
  readonly mode = 'user' as const;
  readonly description: string;
  private readonly setpriv: string;

  constructor(private readonly opts: SetprivOptions) {
    this.setpriv = opts.setpriv ?? '/usr/bin/setpriv';
    this.description =
      `user (setpriv): commands run as uid ${opts.uid} without groups, capabilities or new privileges; ` +
      `every process of that uid is killed after each command; ` +
      `limits: files ≤ ${opts.limits.fileBytes} bytes, ${opts.limits.processes} processes`;
  }

  private identity(): string[] {
    return [
      `--reuid=${this.opts.uid}`,
      `--regid=${this.opts.gid}`,
      '--clear-groups',
      '--no-new-privs',
      '--inh-caps=-all',
      '--ambient-caps=-all',
      '--bounding-set=-all',
    ];
  }

  prepare(cmd: SandboxCommand): SandboxSpawn {
    return {
      file: this.setpriv,
      args: [...this.identity(), '--', ...prlimitArgs(this.opts.limits), '/bin/sh', '-c', cmd.command],
      env: { ...cmd.env, HOME: this.opts.homeDir, TMPDIR: this.opts.tmpDir, USER: 'agent', LOGNAME: 'agent' },
      cwd: cmd.cwd,
    };
  }

  /** Kills every process of the agent's uid; resolves once a round finds none left (at most 20). */
  async reap(): Promise<void> {
    for (let round = 0; round < 20; round++) {
      // As the agent's uid, kill(-1) reaches exactly that uid's processes (all but the killer).
      const killed = await new Promise<boolean>((resolve) => {
        execFile(
          this.setpriv,
          [...this.identity(), '--', '/bin/sh', '-c', 'kill -KILL -1 2>/dev/null && echo some; true'],
          { env: { PATH: '/usr/bin:/bin' }, timeout: 10_000 },
          (_err, stdout) => resolve(String(stdout).includes('some')),
        );
      });
      if (!killed) return;
    }
  }
}
