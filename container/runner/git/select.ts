/**
 * Choosing the engine (`git.engine: auto | native | isomorphic`): auto takes the `git` binary when
 * `git --version` runs, isomorphic-git otherwise.
 */
import { execFile } from 'node:child_process';
import { AvatarError } from '../../../core/errors.ts';
import { scrubEnv } from '../../../core/env.ts';
import { createNativeGit } from './native.ts';
import type { GitEngine, GitEngineOptions } from './types.ts';

/** The version line of the git binary, or undefined when it cannot be run. */
export function gitVersion(
  binary = 'git',
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(binary, ['--version'], { env: scrubEnv(env), timeout: 10_000 }, (err, stdout) => {
      const line = String(stdout).trim();
      resolve(!err && /^git version /.test(line) ? line : undefined);
    });
  });
}

export async function selectGitEngine(
  choice: 'auto' | 'native' | 'isomorphic',
  opts: GitEngineOptions = {},
): Promise<GitEngine> {
  // isomorphic-git is loaded only when it is the engine (it costs the start ~50 ms).
  const isomorphic = async () => (await import('./isomorphic.ts')).createIsomorphicGit(opts);
  if (choice === 'isomorphic') return isomorphic();
  const version = await gitVersion(opts.gitBinary, opts.env);
  if (version) return createNativeGit(opts);
  if (choice === 'native') {
    throw new AvatarError(
      'CONFIG_INVALID',
      `git.engine is "native" but the git binary (${opts.gitBinary ?? 'git'}) cannot be run; install git or use "auto"/"isomorphic"`,
    );
  }
  return isomorphic();
}
