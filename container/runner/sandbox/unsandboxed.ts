/**
 * sandbox.mode: none — commands run as the runner's own user with only the scrubbed environment
 * between them and the runner's secrets. Only with `sandbox.allow_unsandboxed: true`; every task
 * log says so.
 */
import type { Sandbox, SandboxCommand, SandboxSpawn } from './types.ts';

export class Unsandboxed implements Sandbox {
  readonly mode = 'none' as const;
  readonly description: string;

  constructor(reason = 'sandbox.mode is none') {
    this.description = `UNSANDBOXED (${reason}): the agent's commands and the project's code run as the runner's own user and can read what it can read`;
  }

  prepare(cmd: SandboxCommand): SandboxSpawn {
    return { file: '/bin/sh', args: ['-c', cmd.command], env: cmd.env, cwd: cmd.cwd };
  }

  async reap(): Promise<void> {
    // Nothing beyond the process group the caller kills.
  }

  async close(): Promise<void> {}
}
