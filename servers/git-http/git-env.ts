/**
 * The environment for the `git` processes this server runs: the caller's environment without
 * secrets and without any GIT_* variable that would point git at another repository.
 */
import { scrubEnv } from '../../core/env.ts';

export function gitChildEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = scrubEnv(process.env);
  for (const key of Object.keys(env)) {
    if (key.startsWith('GIT_')) delete env[key];
  }
  return { ...env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', ...extra };
}
