/**
 * `numa-avatar run`: the avatar as a long-running service on one machine (local mode).
 * Poll loop → durable queue → dispatcher → one runner child process per task run, plus the
 * status API. Owns the work dir (a lock file keeps a second service out).
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../core/package-root.ts';
import { type LoadedConfig, mergeValues, saveConfigFile, validate } from '../core/config/load.ts';
import { RESTART_KEYS, secretsOf, type Config } from '../core/config/schema.ts';
import { describeError } from '../core/errors.ts';
import { FileBlobStore } from '../adapters/local/file-blob-store.ts';
import { FileQueue } from '../adapters/local/file-queue.ts';
import { FileVersionedStore } from '../adapters/local/file-versioned-store.ts';
import { acquireLock } from '../adapters/local/lock.ts';
import type { Logger } from '../core/log.ts';
import { NumaClient } from '../core/numa/client.ts';
import type { CursorState } from '../core/polling/poller.ts';
import { runPollLoop } from '../core/polling/loop.ts';
import { Redactor } from '../core/redact.ts';
import { VERSION } from '../core/version.ts';
import { LocalDispatcher, type DispatchRecord } from './dispatcher.ts';
import { killGroup, ProcessLauncher } from './process-launcher.ts';
import { ensureAdminToken, startStatusApi, type StatusApi } from './status-api.ts';

export const CLI_ENTRY = path.join(PACKAGE_ROOT, 'bin', 'numa-avatar.mjs');

/**
 * The environment variable that names the file (mode 0600, in the work dir, deleted by the runner
 * once read) that hands a runner child the service's effective configuration. The configuration
 * itself holds the secrets, so it never goes into an environment variable.
 */
export const RUNTIME_CONFIG_ENV = 'NUMA_RUNTIME_CONFIG_FILE';

export interface ServiceOptions {
  loaded: LoadedConfig;
  logger: Logger;
  /** The command that runs the CLI (default: this Node and bin/numa-avatar.mjs). */
  command?: string[];
  env?: NodeJS.ProcessEnv;
  /**
   * The Redactor of `logger`, when it has one: the service adds the secrets it learns later (the
   * status API's admin token, tokens set through POST /config) to it, so that the process log
   * redacts them too. Without one the service keeps its own (for /status and the task logs).
   */
  redactor?: Redactor;
}

export interface ServiceCounters {
  polls: number;
  pollErrors: number;
  forwarded: number;
  deadLettered: number;
  runsStarted: number;
  runsEnded: Record<string, number>;
}

export class AvatarService {
  private config: Config;
  private client: NumaClient;
  private readonly redactor: Redactor;
  private readonly queue: FileQueue;
  private readonly blobs: FileBlobStore;
  private readonly dispatcher: LocalDispatcher;
  private readonly launcher: ProcessLauncher;
  private readonly controller = new AbortController();
  private statusApi: StatusApi | undefined;
  private lock: { release(): Promise<void> } | undefined;
  private loops: Promise<unknown> | undefined;
  private state: 'starting' | 'running' | 'stopping' | 'stopped' = 'starting';
  private readonly startedAt = Date.now();
  private lastPollAt: string | undefined;
  private lastPollError: string | undefined;
  private fileValues: Record<string, unknown>;
  readonly counters: ServiceCounters = {
    polls: 0,
    pollErrors: 0,
    forwarded: 0,
    deadLettered: 0,
    runsStarted: 0,
    runsEnded: {},
  };

  constructor(private readonly opts: ServiceOptions) {
    this.config = opts.loaded.config;
    this.fileValues = opts.loaded.fileValues;
    this.redactor = opts.redactor ?? new Redactor();
    for (const s of secretsOf(this.config)) this.redactor.add(s);
    this.client = this.newClient();
    const workDir = opts.loaded.workDir;
    this.queue = new FileQueue({ dir: path.join(workDir, 'queue') });
    this.blobs = new FileBlobStore({ root: workDir });
    this.launcher = new ProcessLauncher({ command: opts.command ?? [process.execPath, CLI_ENTRY] });
    this.dispatcher = new LocalDispatcher({
      queue: this.queue,
      blobs: this.blobs,
      launcher: this.launcher,
      workDir,
      config: () => this.config,
      client: () => this.client,
      logger: opts.logger,
      redactor: this.redactor,
      runnerSpec: (rec) => this.runnerSpec(rec),
      onRunEnded: (_rec, outcome) => {
        this.counters.runsEnded[outcome] = (this.counters.runsEnded[outcome] ?? 0) + 1;
      },
    });
  }

  get workDir(): string {
    return this.opts.loaded.workDir;
  }

  get statusUrl(): string | undefined {
    return this.statusApi?.url;
  }

  async start(): Promise<void> {
    const log = this.opts.logger;
    this.lock = await acquireLock(this.workDir);
    await this.dispatcher.recover();
    let adminTokenFile: string | undefined;
    if (this.config.status_port > 0) {
      // POST /config needs this token (local/status-api.ts); it never goes to a log or to /status.
      const admin = ensureAdminToken(this.workDir);
      this.redactor.add(admin.token);
      adminTokenFile = admin.file;
      if (admin.state === 'regenerated') {
        log.warn('status API admin token regenerated: the old one was not safe to reuse', {
          why: admin.reason,
          file: admin.file,
        });
      }
      this.statusApi = await startStatusApi({
        port: this.config.status_port,
        status: () => this.status(),
        applyConfig: (patch) => this.applyConfig(patch),
        adminToken: admin.token,
        adminTokenFile: admin.file,
        logger: log,
      });
    }
    const signal = this.controller.signal;
    const cursor = new FileVersionedStore<CursorState>({
      file: path.join(this.workDir, 'state', 'cursor.json'),
    });
    const poll = runPollLoop({
      client: () => this.client,
      queue: this.queue,
      cursor,
      log,
      signal,
      settings: {
        wait: () => this.config.polling.wait,
        limit: () => this.config.polling.limit,
        intervalSeconds: () => this.config.polling.interval,
      },
      hooks: {
        onPoll: (r) => {
          this.counters.polls++;
          this.counters.forwarded += r.forwarded;
          this.counters.deadLettered += r.deadLettered;
          this.lastPollAt = new Date().toISOString();
          this.lastPollError = undefined;
          if (r.forwarded > 0) this.dispatcher.poke();
        },
        onError: (err) => {
          this.counters.pollErrors++;
          this.lastPollError = this.redactor.redact(describeError(err));
        },
      },
    });
    const dispatch = this.dispatcher.run(signal);
    this.loops = Promise.all([poll, dispatch]);
    this.state = 'running';
    log.info('numa-avatar running', {
      version: VERSION,
      avatar: this.config.avatar.id,
      backend: this.redactor.redact(this.config.backend.url),
      work_dir: this.workDir,
      concurrency: this.config.concurrency,
      status: this.statusApi?.url ?? 'disabled',
      ...(adminTokenFile === undefined ? {} : { admin_token_file: adminTokenFile }),
    });
  }

  /**
   * Stops polling and dispatching, lets running tasks finish for `limits.shutdown_grace` seconds,
   * then asks the rest to stop (they report `failed`), and exits cleanly.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    const log = this.opts.logger;
    this.controller.abort();
    await this.loops;
    const grace = this.config.limits.shutdown_grace * 1000;
    if (this.launcher.size > 0) {
      log.info('waiting for running tasks to finish', {
        running: this.launcher.size,
        grace_seconds: grace / 1000,
      });
    }
    if (!(await this.dispatcher.drain(grace))) {
      log.warn('grace period over: stopping the runners still going (they report failed)');
      this.launcher.signalAll('SIGTERM');
      if (!(await this.dispatcher.drain(15_000))) {
        for (const run of this.dispatcher.runs()) killGroup(run.pid, 'SIGKILL');
        await this.dispatcher.drain(5_000);
      }
    }
    await this.statusApi?.close();
    await this.lock?.release();
    this.state = 'stopped';
    log.info('numa-avatar stopped');
  }

  async status(): Promise<Record<string, unknown>> {
    const runs = this.dispatcher.runs();
    return {
      status: this.state,
      avatar_id: this.config.avatar.id,
      avatar_name: this.config.avatar.name,
      version: VERSION,
      mode: 'local',
      uptime_seconds: Math.round((Date.now() - this.startedAt) / 1000),
      backend_url: this.redactor.redact(this.config.backend.url),
      queue_depth: await this.queue.depth(),
      dead_letters: (await this.queue.deadLetters()).length,
      tasks_running: runs.length,
      concurrency: this.config.concurrency,
      runs: runs.map((r) => ({
        task_id: r.taskId,
        run_id: r.runId,
        attempt: r.attempt,
        started_at: r.startedAt,
      })),
      last_successful_poll: this.lastPollAt ?? null,
      last_poll_error: this.lastPollError ?? null,
      counters: this.counters,
    };
  }

  /** POST /config: validated, applied without a restart, persisted. */
  async applyConfig(patch: Record<string, unknown>): Promise<{ restart_required: string[] }> {
    const current = JSON.parse(JSON.stringify(this.config)) as Record<string, unknown>;
    const next = validate(mergeValues(current, patch), 'POST /config');
    const file = this.opts.loaded.file ?? path.join(this.workDir, 'config.yaml');
    const fileValues = mergeValues(this.fileValues, patch);
    validate(fileValues, file);
    await saveConfigFile(file, fileValues);
    this.fileValues = fileValues;
    const restart = RESTART_KEYS.filter((k) => JSON.stringify(next[k]) !== JSON.stringify(this.config[k]));
    this.config = next;
    for (const s of secretsOf(next)) this.redactor.add(s);
    this.client = this.newClient();
    this.opts.logger.info('configuration changed', { keys: Object.keys(patch), persisted_to: file });
    return { restart_required: [...restart] };
  }

  private newClient(): NumaClient {
    const log = this.opts.logger;
    return new NumaClient({
      baseUrl: this.config.backend.url,
      apiToken: this.config.backend.api_token,
      timeoutMs: this.config.backend.timeout * 1000,
      maxAttempts: this.config.backend.max_attempts,
      onRetry: (r) => log.debug('backend retry', { path: r.path, attempt: r.attempt, delay_ms: r.delayMs }),
    });
  }

  private runnerSpec(rec: DispatchRecord): { args: string[]; env: NodeJS.ProcessEnv } {
    this.counters.runsStarted++;
    return {
      args: ['task', rec.taskId, '--run-id', rec.runId, '--message', JSON.stringify(rec.message)],
      env: {
        ...(this.opts.env ?? process.env),
        [RUNTIME_CONFIG_ENV]: writeRuntimeConfig(this.workDir, rec.runId, {
          config: this.config,
          workDir: this.workDir,
        }),
      },
    };
  }
}

/** Writes the runner's configuration to a file only this user can read; returns its path. */
export function writeRuntimeConfig(
  workDir: string,
  runId: string,
  value: { config: unknown; workDir: string },
): string {
  const dir = path.join(workDir, 'runtime');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const file = path.join(dir, `${runId.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  rmSync(file, { force: true });
  writeFileSync(file, JSON.stringify(value), { mode: 0o600, flag: 'wx' });
  return file;
}

/** Reads and deletes the file writeRuntimeConfig wrote. */
export function takeRuntimeConfig(file: string): { config: unknown; workDir: string } {
  const text = readFileSync(file, 'utf8');
  rmSync(file, { force: true });
  return JSON.parse(text) as { config: unknown; workDir: string };
}
