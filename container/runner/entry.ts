/**
 * The runner's entry: builds the pipeline's adapters from the configuration and runs one task.
 * Used by `numa-avatar task <id>` (local mode, a child process of `numa-avatar run`) and by the
 * Fargate container. Exit code: 0 done, 2 failed, 3 blocked, 1 crash (see outcome.ts).
 */
import path from 'node:path';
import type OpenAI from 'openai';
import type { LoadedConfig } from '../../core/config/load.ts';
import { secretsOf } from '../../core/config/schema.ts';
import { AvatarError, describeError, isAvatarError } from '../../core/errors.ts';
import { FileBlobStore } from '../../adapters/local/file-blob-store.ts';
import { createLogger, type Logger } from '../../core/log.ts';
import type { TaskMessage } from '../../core/message.ts';
import { NumaClient } from '../../core/numa/client.ts';
import type { BlobStore } from '../../core/ports.ts';
import { Redactor } from '../../core/redact.ts';
import type { AgentEvent } from './agent/agent.ts';
import type { CodeCache } from './code-cache.ts';
import { createGitCredentials, selectGitEngine, withGitHostPolicy } from './git/index.ts';
import { EXIT_CODES, type RunResult } from './outcome.ts';
import { runPipeline, type DeveloperContext } from './pipeline.ts';
import { Snapshots, safeSegment } from './snapshot.ts';
import { TaskLog } from './task-log.ts';
import { Transcript } from './transcript.ts';
import { newRunId } from './run-id.ts';
import { sandboxProvider, sandboxSettings, type SandboxProvider } from './sandbox/provider.ts';

export interface RunTaskOptions {
  loaded: LoadedConfig;
  taskId: string;
  runId?: string;
  message?: TaskMessage;
  /** Where run artifacts go; defaults to files in the work dir. */
  blobs?: BlobStore;
  logger?: Logger;
  /** Receives each task-log line as it is written (the CLI prints them). */
  onLine?: (line: string) => void;
  signal?: AbortSignal;
  /** The repositories' git objects kept between runs (the S3 code cache on AWS). */
  codeCache?: CodeCache;
  /** Receives every agent event (the AWS runner sums the token usage for its metrics). */
  onAgentEvent?: (e: AgentEvent) => void;
  /** Where untrusted code runs (default: chosen by sandbox.mode). */
  sandbox?: SandboxProvider;
}

export async function runTask(opts: RunTaskOptions): Promise<RunResult> {
  const { config, workDir } = opts.loaded;
  const redactor = new Redactor(secretsOf(config));
  const logger =
    opts.logger ?? createLogger({ level: config.logs.level, format: config.logs.format, redactor });
  const runId = opts.runId ?? newRunId();
  const taskId = opts.taskId;
  const blobs = opts.blobs ?? new FileBlobStore({ root: workDir });
  const client = new NumaClient({
    baseUrl: config.backend.url,
    apiToken: config.backend.api_token,
    timeoutMs: config.backend.timeout * 1000,
    maxAttempts: config.backend.max_attempts,
    onRetry: (r) => logger.debug('backend retry', { path: r.path, attempt: r.attempt, delay_ms: r.delayMs }),
  });
  const taskLog = new TaskLog({
    send: (text) => client.appendLogs(taskId, text, { maxAttempts: 3 }),
    redactor,
    flushIntervalMs: config.logs.flush_interval * 1000,
    flushLines: config.logs.flush_lines,
    mirror: opts.onLine,
    onSendError: (err) => logger.warn('could not deliver task logs', { error: describeError(err) }),
    // Retrying cannot fix these: the task is gone or the token is refused.
    isPermanent: (err) =>
      isAvatarError(err, 'BACKEND_NOT_FOUND') ||
      isAvatarError(err, 'BACKEND_AUTH') ||
      isAvatarError(err, 'BACKEND_CLIENT_ERROR'),
  });
  // git.token goes only to the hosts in git.allowed_hosts (the repository URL is the backend's).
  const credentials = createGitCredentials({
    token: config.git.token,
    username: config.git.username,
    allowedHosts: config.git.allowed_hosts,
    onWithheld: (line) => taskLog.line(line),
  });
  const git = withGitHostPolicy(
    await selectGitEngine(config.git.engine, {
      auth: credentials.auth,
      timeoutMs: config.git.timeout * 1000,
    }),
    credentials,
  );
  const transcript = new Transcript(redactor);
  // Created when the agent starts, so a missing key fails the run with the reason in its logs; the
  // agent and the model's SDK are loaded only then (the runner reports in_progress sooner).
  const createDeveloper = async (ctx: DeveloperContext) => {
    const [{ AgentSession }, client] = await Promise.all([
      import('./agent/agent.ts'),
      createModelClient(config),
    ]);
    return new AgentSession({
      client,
      model: config.model.name,
      stream: config.model.stream,
      temperature: config.model.temperature,
      repoDir: ctx.repoDir,
      intro: ctx.intro,
      brief: {
        taskId,
        title: ctx.task.title,
        description: ctx.task.description,
        branch: ctx.task.code_branch,
      },
      runTests: ctx.runTests,
      sandbox: ctx.sandbox,
      limits: {
        maxSteps: config.limits.max_steps,
        wallClockMs: config.limits.run_timeout * 1000,
        commandTimeoutMs: config.limits.command_timeout * 1000,
        maxOutputChars: 12_000,
        maxPromptTokens: config.limits.max_prompt_tokens,
        maxCompletionTokens: config.limits.max_completion_tokens,
        maxCostUsd: config.limits.max_cost_usd,
        maxConsecutiveErrors: config.limits.max_consecutive_errors,
        loopRepeats: config.limits.loop_repeats,
      },
      prices: config.model.prices,
      context: { windowTokens: config.model.context_window },
      blobs,
      cacheEnabled: config.model.cache,
      commands: { allow: config.commands.allow, deny: config.commands.deny },
      redactor,
      log: ctx.log,
      onEvent: (e) => {
        transcript.record(e);
        opts.onAgentEvent?.(e);
      },
      signal: ctx.signal,
    });
  };

  logger.info('run starting', { task_id: taskId, run_id: runId, git: git.name, model: config.model.name });
  const result = await runPipeline(
    {
      config,
      client,
      git,
      blobs,
      createDeveloper,
      taskLog,
      logger,
      redactor,
      scratchDir: path.join(workDir, 'workspaces', `${safeSegment(taskId)}-${safeSegment(runId)}`),
      signal: opts.signal,
      codeCache: opts.codeCache,
      sandbox: opts.sandbox ?? sandboxProvider(sandboxSettings(config), { workDir }),
    },
    { taskId, runId, message: opts.message },
  );
  // When even the final status could not be reported, the backend is out of reach: do not wait long.
  const delivered = await taskLog.close(result.reported ? 15_000 : 3_000);
  if (!delivered.delivered) logger.warn('some task log lines were not delivered', { error: delivered.error });
  const snapshots = new Snapshots(blobs, taskId, runId, redactor);
  await Promise.all([
    transcript.size > 0 ? snapshots.saveTranscript(transcript.toJsonl()) : Promise.resolve(),
    snapshots.saveLog(taskLog.lines().join('\n') + '\n'),
  ]).catch((err: unknown) => logger.warn('could not store run artifacts', { error: describeError(err) }));
  logger.info('run finished', {
    task_id: taskId,
    run_id: runId,
    status: result.status,
    reason: result.reason,
  });
  return result;
}

export async function createModelClient(config: LoadedConfig['config']): Promise<OpenAI> {
  const apiKey = config.model.api_key || (config.model.base_url ? 'not-needed' : undefined);
  if (!apiKey) {
    throw new AvatarError(
      'CONFIG_INVALID',
      'model.api_key is not set (OPENAI_API_KEY), and no model.base_url (OPENAI_BASE_URL) names a local endpoint',
    );
  }
  const { default: OpenAI } = await import('openai');
  return new OpenAI({
    apiKey,
    baseURL: config.model.base_url,
    timeout: config.model.timeout * 1000,
    maxRetries: config.model.max_retries,
  });
}

export function exitCodeFor(result: RunResult): number {
  return EXIT_CODES[result.status];
}
