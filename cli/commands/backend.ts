import { AvatarError } from '../../core/errors.ts';
import { runBackendCli } from '../../servers/numa-backend/cli.ts';
import { reportError } from '../main.ts';
import { EXIT } from '../exit-codes.ts';

/** `numa-avatar backend`: the reference Numa backend, until SIGINT/SIGTERM. */
export async function backendCommand(o: {
  port: string;
  host: string;
  data?: string;
  token?: string;
}): Promise<number> {
  try {
    const port = Number(o.port);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new AvatarError('USAGE', `--port: expected a port number 0-65535, got ${JSON.stringify(o.port)}`);
    }
    await runBackendCli({ port, host: o.host, data: o.data, token: o.token ?? process.env.NUMA_API_TOKEN });
    return EXIT.ok;
  } catch (err) {
    return reportError(err);
  }
}
