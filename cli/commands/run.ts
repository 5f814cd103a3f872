import { loadConfig } from '../../core/config/load.ts';
import { secretsOf } from '../../core/config/schema.ts';
import { createLogger } from '../../core/log.ts';
import { Redactor } from '../../core/redact.ts';
import { AvatarService } from '../../local/service.ts';
import { EXIT } from '../exit-codes.ts';
import { reportError } from '../main.ts';

/** `numa-avatar run`: the service, until SIGINT/SIGTERM. */
export async function runCommand(o: { config?: string }): Promise<number> {
  let service: AvatarService;
  try {
    const loaded = await loadConfig({ file: o.config });
    const { config } = loaded;
    const logger = createLogger({
      level: config.logs.level,
      format: config.logs.format,
      redactor: new Redactor(secretsOf(config)),
    });
    service = new AvatarService({ loaded, logger });
    await service.start();
  } catch (err) {
    return reportError(err);
  }
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`numa-avatar: ${sig} again, exiting now\n`);
        resolve(EXIT.interrupted);
        process.exit(EXIT.interrupted);
      }
      stopping = true;
      process.stderr.write(`numa-avatar: ${sig} received, stopping (again to force)\n`);
      service.stop().then(
        () => resolve(EXIT.ok),
        (err: unknown) => resolve(reportError(err)),
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
