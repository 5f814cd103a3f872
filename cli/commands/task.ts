import { loadConfig, validate, type LoadedConfig } from '../../core/config/load.ts';
import { AvatarError } from '../../core/errors.ts';
import { parseTaskMessage, type TaskMessage } from '../../core/message.ts';
import { exitCodeFor, runTask } from '../../container/runner/entry.ts';
import { RUNTIME_CONFIG_ENV, takeRuntimeConfig } from '../../local/service.ts';
import { reportError } from '../main.ts';

/** `numa-avatar task <id>`: one run in this process. */
export async function taskCommand(
  taskId: string,
  o: { config?: string; runId?: string; message?: string; quiet?: boolean },
): Promise<number> {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    if (!/^[A-Za-z0-9._:-]{1,128}$/.test(taskId)) {
      throw new AvatarError(
        'USAGE',
        `task_id: expected a task id (digits or letters), got ${JSON.stringify(taskId)}`,
      );
    }
    const loaded = await configForRunner(o.config);
    let message: TaskMessage | undefined;
    if (o.message) message = parseTaskMessage(o.message);
    const result = await runTask({
      loaded,
      taskId,
      runId: o.runId,
      message,
      signal: controller.signal,
      onLine: o.quiet ? undefined : (line) => process.stdout.write(line + '\n'),
    });
    return exitCodeFor(result);
  } catch (err) {
    return reportError(err);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/** A runner started by the service gets the service's effective config; otherwise load it. */
async function configForRunner(file: string | undefined): Promise<LoadedConfig> {
  const runtime = process.env[RUNTIME_CONFIG_ENV];
  if (runtime && !file) {
    delete process.env[RUNTIME_CONFIG_ENV];
    const parsed = takeRuntimeConfig(runtime);
    return { config: validate(parsed.config, RUNTIME_CONFIG_ENV), workDir: parsed.workDir, fileValues: {} };
  }
  return loadConfig({ file });
}
