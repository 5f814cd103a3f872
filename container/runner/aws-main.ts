/**
 * The runner on Fargate: one task run per container, started by the dispatcher with the task in
 * its environment. It runs the same `runTask` as local mode with S3 for the run's artifacts
 * (`runs/<task_id>/<run_id>/`: result.json, meta.json, patches, transcript.jsonl, task.log) and
 * the code cache (`cache/git/`), then writes its metrics (EMF) and exits with the outcome's code
 * (outcome.ts: 0 done, 2 failed, 3 blocked, 1 crash, 64 started wrongly).
 *
 * Environment (the contract with infra/ and the dispatcher, notes/aws-plan.md):
 *   NUMA_TASK_ID, NUMA_RUN_ID, NUMA_MESSAGE (the queue message, JSON), BUCKET,
 *   NUMA_RUN_TIMEOUT_SECONDS (limits.run_timeout), NUMA_CONFIG_YAML (extra non-secret config),
 *   and the variables core/config/load.ts reads (NUMA_BACKEND_URL, NUMA_MODEL, OPENAI_BASE_URL;
 *   NUMA_API_TOKEN, GIT_TOKEN, OPENAI_API_KEY as ECS secrets).
 *
 * SIGTERM (StopTask, Spot reclaim; ECS sends SIGKILL after the stop timeout, 120 s at most)
 * aborts the run: the pipeline keeps a snapshot and reports `failed`; after `stopGraceMs`
 * (90 s) the runner exits anyway. The run timeout is the pipeline's; if the run still has not
 * ended `stopGraceMs` after it, the runner exits too.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { s3ClientConfig } from '../../adapters/aws/clients.ts';
import { S3BlobStore } from '../../adapters/aws/s3-blob-store.ts';
import { getPath, loadConfig, type LoadedConfig } from '../../core/config/load.ts';
import { SECRET_KEYS, secretsOf } from '../../core/config/schema.ts';
import { AvatarError, describeError, isAvatarError } from '../../core/errors.ts';
import { scrubEnv } from '../../core/env.ts';
import { createLogger, type Logger } from '../../core/log.ts';
import { idSchema, parseTaskMessage, type TaskMessage } from '../../core/message.ts';
import type { BlobStore } from '../../core/ports.ts';
import { Redactor } from '../../core/redact.ts';
import { BlobStoreCodeCache, type CodeCache } from './code-cache.ts';
import { runTask } from './entry.ts';
import { gitVersion } from './git/index.ts';
import { DEFAULT_PRICES, priceOf } from './agent/prices.ts';
import { emitRunMetrics, UsageMeter, type RunMetrics, type RunOutcome } from './metrics.ts';
import { EXIT_CODES, type RunResult } from './outcome.ts';
import { newRunId } from './run-id.ts';

/** How long a stopped (or timed-out) run gets to save its snapshot and report, before the runner exits anyway. */
export const STOP_GRACE_MS = 90_000;

export interface RunnerEnv {
  taskId: string;
  runId: string;
  message?: TaskMessage;
  bucket?: string;
  runTimeoutSeconds?: number;
}

/** Reads the task from the environment; AvatarError USAGE names the variable that is wrong. */
export function readRunnerEnv(env: NodeJS.ProcessEnv): RunnerEnv {
  let message: TaskMessage | undefined;
  const rawMessage = env.NUMA_MESSAGE?.trim();
  if (rawMessage) {
    try {
      message = parseTaskMessage(rawMessage);
    } catch (err) {
      throw new AvatarError('USAGE', `NUMA_MESSAGE: ${describeError(err)}`, { cause: err });
    }
  }
  const rawTask = env.NUMA_TASK_ID?.trim() || (message ? String(message.task_id) : '');
  if (!rawTask) throw new AvatarError('USAGE', 'NUMA_TASK_ID is not set (nor NUMA_MESSAGE with a task_id)');
  const parsedTask = idSchema.safeParse(rawTask);
  if (!parsedTask.success) {
    throw new AvatarError(
      'USAGE',
      `NUMA_TASK_ID: expected a task id (digits or letters), got ${JSON.stringify(rawTask)}`,
    );
  }
  const taskId = String(parsedTask.data);
  if (message && String(message.task_id) !== taskId) {
    throw new AvatarError(
      'USAGE',
      `NUMA_MESSAGE is for task ${message.task_id}, NUMA_TASK_ID says ${taskId}`,
    );
  }
  const rawRun = env.NUMA_RUN_ID?.trim();
  if (rawRun && !/^[A-Za-z0-9._-]{1,128}$/.test(rawRun)) {
    throw new AvatarError(
      'USAGE',
      `NUMA_RUN_ID: expected letters, digits, . _ - (at most 128), got ${JSON.stringify(rawRun)}`,
    );
  }
  const rawTimeout = env.NUMA_RUN_TIMEOUT_SECONDS?.trim();
  let runTimeoutSeconds: number | undefined;
  if (rawTimeout) {
    runTimeoutSeconds = Number(rawTimeout);
    if (!/^\d+$/.test(rawTimeout) || runTimeoutSeconds < 1 || runTimeoutSeconds > 86_400) {
      throw new AvatarError(
        'USAGE',
        `NUMA_RUN_TIMEOUT_SECONDS: expected whole seconds from 1 to 86400, got ${JSON.stringify(rawTimeout)}`,
      );
    }
  }
  return {
    taskId,
    runId: rawRun || newRunId(),
    message,
    bucket: env.BUCKET?.trim() || undefined,
    runTimeoutSeconds,
  };
}

/**
 * The configuration: defaults < NUMA_CONFIG_YAML < the environment (core/config/load.ts), the run
 * timeout from NUMA_RUN_TIMEOUT_SECONDS, and JSON logs unless the YAML says otherwise. Secrets
 * come from the environment (ECS secrets) only: NUMA_CONFIG_YAML is plain text in the task
 * definition, so one holding a secret is refused.
 */
export async function loadRunnerConfig(env: NodeJS.ProcessEnv, runner: RunnerEnv): Promise<LoadedConfig> {
  const yamlText = env.NUMA_CONFIG_YAML;
  let loaded: LoadedConfig;
  if (yamlText?.trim()) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'numa-runner-config-'));
    const file = path.join(dir, 'NUMA_CONFIG_YAML');
    try {
      await writeFile(file, yamlText, { mode: 0o600 });
      loaded = await loadConfig({ file, env: { ...env, NUMA_CONFIG: undefined } });
    } catch (err) {
      if (isAvatarError(err)) {
        throw new AvatarError(err.code, err.message.split(file).join('NUMA_CONFIG_YAML'), { cause: err });
      }
      throw err;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const secrets = SECRET_KEYS.filter((k) => getPath(loaded.fileValues, k) !== undefined);
    if (secrets.length > 0) {
      throw new AvatarError(
        'CONFIG_INVALID',
        `NUMA_CONFIG_YAML sets ${secrets.join(', ')}: secrets come from Secrets Manager (NUMA_API_TOKEN, GIT_TOKEN, OPENAI_API_KEY), never from plain configuration`,
      );
    }
    // A relative work_dir is relative to where the runner runs, not to the temporary file.
    loaded = {
      ...loaded,
      file: undefined,
      workDir: env.NUMA_WORK_DIR ? loaded.workDir : path.resolve(loaded.config.work_dir),
    };
  } else {
    loaded = await loadConfig({ env: { ...env, NUMA_CONFIG: undefined } });
  }
  if (runner.runTimeoutSeconds !== undefined) loaded.config.limits.run_timeout = runner.runTimeoutSeconds;
  if (getPath(loaded.fileValues, 'logs.format') === undefined) loaded.config.logs.format = 'json';
  return loaded;
}

/** What the runner listens to for a stop request (process, or a stand-in in tests). */
export interface SignalSource {
  on(event: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
  off(event: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
}

export interface AwsRunnerOptions {
  env?: NodeJS.ProcessEnv;
  /** Where the run's artifacts and the code cache go; default S3BlobStore on BUCKET. */
  blobs?: BlobStore;
  /** Default: the code cache in `blobs`; false for none. */
  codeCache?: CodeCache | false;
  signals?: SignalSource;
  stopGraceMs?: number;
  /** Receives the EMF line; default stdout. */
  writeMetrics?: (line: string) => void;
  /** Receives each task-log line; default stdout (the container's log). */
  writeLine?: (line: string) => void;
  /** Receives error lines for a person when the runner cannot start; default stderr. */
  writeError?: (line: string) => void;
  logger?: Logger;
  now?: () => number;
}

/** Runs the task named by the environment; resolves with the exit code (it never throws). */
export async function runAwsRunner(opts: AwsRunnerOptions = {}): Promise<number> {
  const env = opts.env ?? process.env;
  const now = opts.now ?? Date.now;
  const started = now();
  const signals = opts.signals ?? process;
  const graceMs = opts.stopGraceMs ?? STOP_GRACE_MS;
  const writeError = opts.writeError ?? ((line: string) => process.stderr.write(line + '\n'));
  const metrics = (outcome: RunOutcome, extra: Partial<Omit<RunMetrics, 'outcome'>>) =>
    emitRunMetrics(
      { outcome, durationSeconds: (now() - started) / 1000, ...extra },
      { write: opts.writeMetrics, now },
    );

  let runner: RunnerEnv;
  let loaded: LoadedConfig;
  let logger: Logger;
  let blobs: BlobStore;
  try {
    runner = readRunnerEnv(env);
    loaded = await loadRunnerConfig(env, runner);
    const { config } = loaded;
    logger =
      opts.logger ??
      createLogger({
        level: config.logs.level,
        format: config.logs.format,
        redactor: new Redactor(secretsOf(config)),
      });
    blobs = opts.blobs ?? s3Blobs(runner.bucket);
  } catch (err) {
    writeError(`numa-avatar runner: ${describeError(err)}`);
    const taskId = env.NUMA_TASK_ID?.trim();
    metrics('crash', {
      ...(taskId ? { taskId } : {}),
      errorCode: isAvatarError(err) ? err.code : 'UNEXPECTED',
    });
    return isAvatarError(err, 'USAGE') ||
      isAvatarError(err, 'CONFIG_INVALID') ||
      isAvatarError(err, 'CONFIG_NOT_FOUND')
      ? EXIT_CODES.usage
      : EXIT_CODES.crash;
  }
  const ids = { taskId: runner.taskId, runId: runner.runId, attempt: runner.message?.attempt ?? 1 };

  const controller = new AbortController();
  let stopping = false;
  let forceExit: (reason: string) => void = () => {};
  const forced = new Promise<string>((resolve) => {
    forceExit = resolve;
  });
  let graceTimer: NodeJS.Timeout | undefined;
  /** The run gets `graceMs` from now to end by itself; then the runner exits without it. */
  const armForcedExit = (reason: string) => {
    if (graceTimer) return;
    // Not unref'd: a run stuck on nothing at all must still end when this fires.
    graceTimer = setTimeout(() => forceExit(reason), graceMs);
  };
  const stop = (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.warn('stopping the run', {
      reason,
      grace_s: graceMs / 1000,
      task_id: runner.taskId,
      run_id: runner.runId,
    });
    controller.abort(new AvatarError('RUN_ABORTED', reason));
    armForcedExit(reason);
  };
  const onSigterm = () => stop('SIGTERM received (task stopped or Spot capacity reclaimed)');
  const onSigint = () => stop('SIGINT received');
  signals.on('SIGTERM', onSigterm);
  signals.on('SIGINT', onSigint);
  // The pipeline enforces limits.run_timeout itself (and reports it); this is the backstop for a
  // run stuck past it.
  const deadline = setTimeout(
    () => armForcedExit(`run timeout: limits.run_timeout (${loaded.config.limits.run_timeout} s) passed`),
    loaded.config.limits.run_timeout * 1000,
  );

  const usage = new UsageMeter();
  try {
    const codeCache =
      opts.codeCache === false ? undefined : (opts.codeCache ?? new BlobStoreCodeCache({ blobs, logger }));
    const running = runTask({
      loaded,
      taskId: runner.taskId,
      runId: runner.runId,
      message: runner.message,
      blobs,
      codeCache,
      logger,
      signal: controller.signal,
      onLine: opts.writeLine ?? ((line) => process.stdout.write(line + '\n')),
      onAgentEvent: (e) => usage.record(e),
    });
    running.catch(() => {
      // Settled below; a late rejection after a forced exit is not unhandled.
    });
    const outcome = await Promise.race([
      running.then((result) => ({ result })),
      forced.then((reason) => ({ reason })),
    ]);
    if ('reason' in outcome) {
      logger.error('the run did not end in time after the stop request; exiting without its final report', {
        reason: outcome.reason,
        grace_s: graceMs / 1000,
        ...ids,
      });
      metrics('crash', { ...ids, ...tokens(usage, loaded), errorCode: 'RUN_ABORTED' });
      return EXIT_CODES.crash;
    }
    const result: RunResult = outcome.result;
    metrics(result.status, {
      ...ids,
      durationSeconds: result.durationMs / 1000,
      ...tokens(usage, loaded),
      ...(result.errorCode ? { errorCode: result.errorCode } : {}),
    });
    return EXIT_CODES[result.status];
  } catch (err) {
    logger.error('runner crashed', { error: describeError(err), ...ids });
    metrics('crash', {
      ...ids,
      ...tokens(usage, loaded),
      errorCode: isAvatarError(err) ? err.code : 'UNEXPECTED',
    });
    return EXIT_CODES.crash;
  } finally {
    clearTimeout(deadline);
    clearTimeout(graceTimer);
    signals.off('SIGTERM', onSigterm);
    signals.off('SIGINT', onSigint);
  }
}

/** The run's tokens, and its cost when the model has a price (model.prices, as the agent counts it). */
function tokens(usage: UsageMeter, loaded: LoadedConfig) {
  const { model } = loaded.config;
  const priced = priceOf(model.name, { ...DEFAULT_PRICES, ...model.prices }) !== undefined;
  return {
    promptTokens: usage.promptTokens,
    completionTokens: usage.completionTokens,
    ...(priced ? { costUsd: usage.costUsd } : {}),
  };
}

function s3Blobs(bucket: string | undefined): BlobStore {
  if (!bucket) throw new AvatarError('USAGE', 'BUCKET is not set: the runner stores its artifacts in S3');
  return new S3BlobStore({ client: new S3Client(s3ClientConfig()), bucket });
}

/**
 * `numa-avatar runner-aws --check`, run when the image is built: the runner's modules load (and
 * tsx's compile cache is warmed for the runtime user), and git and tar run. 0 when all is well.
 */
export async function checkRunnerImage(
  write: (line: string) => void = (l) => process.stdout.write(l + '\n'),
): Promise<number> {
  const git = await gitVersion();
  const tar = await new Promise<string | undefined>((resolve) => {
    execFile('tar', ['--version'], { env: scrubEnv(process.env), timeout: 10_000 }, (err, stdout) =>
      resolve(err ? undefined : String(stdout).split('\n')[0]?.trim()),
    );
  });
  write(`runner check: ${git ?? 'git NOT FOUND'}; ${tar ?? 'tar NOT FOUND'}; node ${process.version}`);
  return git && tar ? 0 : EXIT_CODES.crash;
}

/** The container's entry (`numa-avatar runner-aws`): runs, then exits with the outcome's code. */
/**
 * The task's volume at /tmp (the root file system is read-only) starts as root's 0755: make it
 * what /tmp is everywhere, 1777, so that the agent's tools (which may ignore TMPDIR) find one.
 */
async function shareTmp(): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const st = await stat('/tmp').catch(() => undefined);
  if (st?.isDirectory() && (st.mode & 0o1777) !== 0o1777) await chmod('/tmp', 0o1777).catch(() => undefined);
}

export async function main(): Promise<never> {
  await shareTmp();
  const code = await runAwsRunner();
  process.exit(code);
}
