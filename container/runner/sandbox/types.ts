/**
 * The Sandbox port: how the runner (the broker, the only holder of secrets) starts code it does
 * not trust — the agent's commands, the project's tests, setup steps and quality gates. An
 * adapter turns "run this shell command in the repository" into the argv to spawn, and reaps
 * whatever the command left behind when it ends.
 */
export type SandboxMode = 'namespaces' | 'user' | 'none';

export interface SandboxCommand {
  /** The shell command, run as `/bin/sh -c <command>`. */
  command: string;
  /** The repository (or a folder in it): the only place the command may write. */
  cwd: string;
  /** The already scrubbed environment the command gets (the adapter sets HOME and TMPDIR). */
  env: NodeJS.ProcessEnv;
  /**
   * `setup` for the steps that prepare the project (setup.commands, .numa/setup.sh, the
   * dependency install): they may reach the hosts of sandbox.network.allow. Everything else
   * (the default, `none`): no network.
   */
  network?: 'none' | 'setup';
}

export interface SandboxSpawn {
  file: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface Sandbox {
  readonly mode: SandboxMode;
  /** One line for the task log: which sandbox runs and what it allows. */
  readonly description: string;
  /**
   * The runner's path of the folder that is the commands' HOME (private to the run), or
   * undefined when the commands get the runner's own (unsandboxed).
   */
  readonly homeDir?: string;
  /** What to spawn for a command. */
  prepare(cmd: SandboxCommand): SandboxSpawn;
  /** After a command ends: stops every process it started, wherever they went (setsid included). */
  reap(): Promise<void>;
  /** When the run ends: reaps once more and gives back what the sandbox holds (its uid). */
  close(): Promise<void>;
}
