/**
 * `numa-avatar backend`: runs the reference Numa backend in the foreground until SIGINT/SIGTERM
 * (or `signal` aborts), then closes it cleanly (pending long polls end, the data file is flushed).
 */
import { startNumaBackend } from './server.ts';
import type { NumaBackend, NumaBackendOptions } from './server.ts';
import type { Logger } from '../../core/log.ts';

export interface BackendCliArgs {
  port?: number;
  host?: string;
  /** The data file (JSON); in memory when absent. */
  data?: string;
  /** The API token clients must send as `Authorization: Bearer <token>`. */
  token?: string;
}

export interface BackendCliDeps {
  /** Where the "listening" line goes. Default: stdout. */
  write?: (line: string) => void;
  /** Stops the backend when aborted (tests); SIGINT and SIGTERM always do. */
  signal?: AbortSignal;
  logger?: Logger;
  /** Called once the backend listens. */
  onListening?: (backend: NumaBackend) => void;
  /** Extra backend options (faults, seed, longPolling...). */
  options?: NumaBackendOptions;
}

/** Starts the backend, prints where it listens, and resolves once it has stopped. */
export async function runBackendCli(argv: BackendCliArgs, deps: BackendCliDeps = {}): Promise<void> {
  const write = deps.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const backend = await startNumaBackend({
    ...deps.options,
    ...(argv.port !== undefined ? { port: argv.port } : {}),
    ...(argv.host !== undefined ? { host: argv.host } : {}),
    ...(argv.data !== undefined ? { dataFile: argv.data } : {}),
    ...(argv.token !== undefined ? { apiToken: argv.token } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  write(`Numa reference backend listening on ${backend.url} (data: ${argv.data ?? 'in-memory'})`);
  deps.onListening?.(backend);

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      deps.signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (deps.signal?.aborted) stop();
    else deps.signal?.addEventListener('abort', stop, { once: true });
  });
  await backend.close();
}
