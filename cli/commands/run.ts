import { loadConfig } from '../../core/config/load.ts';
import { secretsOf } from '../../core/config/schema.ts';
import { createLogger } from '../../core/log.ts';
import { Redactor } from '../../core/redact.ts';
import { AvatarService } from '../../local/service.ts';
import { chooseMode, systemProbe } from '../../container/runner/sandbox/index.ts';
import { sandboxSettings } from '../../container/runner/sandbox/provider.ts';
import { EXIT } from '../exit-codes.ts';
import { reportError } from '../main.ts';

/** `numa-avatar run`: the service, until SIGINT/SIGTERM. */
export async function runCommand(o: { config?: string }): Promise<number> {
  let service: AvatarService;
  try {
    const loaded = await loadConfig({ file: o.config });
    const { config } = loaded;
    // One Redactor for the log and the service: what the service learns later (the status API's
    // admin token, tokens set through POST /config) is redacted from the log too.
    const redactor = new Redactor(secretsOf(config));
    const logger = createLogger({ level: config.logs.level, format: config.logs.format, redactor });
    // Untrusted code runs only in a sandbox (or where the config accepts it without one): refuse
    // to start otherwise, saying how to get one.
    const sandbox = chooseMode(sandboxSettings(config), systemProbe);
    if (sandbox.mode === 'none') logger.warn(`running WITHOUT a sandbox: ${sandbox.why}`);
    else logger.info(`sandbox: ${sandbox.mode} (${sandbox.why})`);
    service = new AvatarService({ loaded, logger, redactor });
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
