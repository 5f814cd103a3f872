/**
 * A Docker daemon for tests that build and run the project's images (test/image/). The daemon on
 * these machines has no bridge (see .ci/run): every `docker build` and `docker run` here uses
 * `--network host`, and containers reach the test servers on 127.0.0.1 like any other process.
 *
 * When `docker info` fails the suite is skipped with the reason in its name, unless
 * NUMA_REQUIRE_DOCKER=1 (CI), in which case it fails with that message.
 */
import { execFileSync, spawn } from 'node:child_process';
import { describe, it } from 'vitest';

export const DOCKER_MISSING =
  'no working Docker daemon (`docker info` fails): apt-get install docker.io and start dockerd as .ci/run does';

let available: boolean | undefined;

/** Whether `docker info` succeeds (checked once per process). */
export function dockerAvailable(): boolean {
  if (available === undefined) {
    try {
      execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 });
      available = true;
    } catch {
      available = false;
    }
  }
  return available;
}

/** `describe` when Docker works; otherwise skipped (or failed under NUMA_REQUIRE_DOCKER=1). */
export function describeWithDocker(name: string, fn: () => void): void {
  if (dockerAvailable()) {
    describe(name, fn);
  } else if (process.env.NUMA_REQUIRE_DOCKER === '1') {
    describe(name, () => {
      it('needs Docker', () => {
        throw new Error(`${DOCKER_MISSING} (NUMA_REQUIRE_DOCKER=1)`);
      });
    });
  } else {
    console.warn(`[${name}] skipped: ${DOCKER_MISSING} (set NUMA_REQUIRE_DOCKER=1 to make this a failure)`);
    describe.skip(`${name} — skipped: ${DOCKER_MISSING}`, fn);
  }
}

export interface Executed {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs a command (docker, or a script) to its end and collects its output; never rejects for the
 * command's own failure. `timeoutMs` kills it (SIGKILL) and calls `onTimeout` (to stop a
 * container the command started, which killing the client would leave running).
 */
export function execute(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number; onTimeout?: () => void },
): Promise<Executed> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (s: string) => (stdout += s));
    child.stderr.on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      opts.onTimeout?.();
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** The last `n` characters of a command's output, for a failure message. */
export function tail(r: Pick<Executed, 'stdout' | 'stderr'>, n = 3000): string {
  return `${r.stdout}\n${r.stderr}`.slice(-n);
}
