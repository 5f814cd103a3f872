/**
 * The user sandbox's network filter (container/runner/sandbox/netoff.c), built with the machine's
 * C compiler as the runner image builds it: for the tests and the sandbox bench, which run where
 * /usr/local/lib/numa-avatar/netoff is not installed.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const NETOFF_SOURCE = fileURLToPath(
  new URL('../../container/runner/sandbox/netoff.c', import.meta.url),
);

/** Whether `cc` runs here. */
export const HAS_CC = (() => {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Compiles netoff.c into `dir` (static where the C library allows it); the binary's path. */
export function buildNetoff(dir: string): string {
  const out = path.join(dir, 'netoff');
  const flags = ['-O2', '-s', '-Wall', '-Wextra', '-Werror', '-o', out, NETOFF_SOURCE];
  try {
    execFileSync('cc', ['-static', ...flags], { stdio: 'pipe' });
  } catch {
    execFileSync('cc', flags, { stdio: 'pipe' });
  }
  return out;
}
