/**
 * The real `numa-avatar run` as a child process, started, SIGKILLed and restarted by the soak.
 * Its output (every incarnation) is kept in memory and appended to a file beside the work dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';

/** Environment variables that would override the soak's config file. */
const OVERRIDES = [
  'NUMA_CONFIG',
  'NUMA_BACKEND_URL',
  'NUMA_API_TOKEN',
  'NUMA_WORK_DIR',
  'NUMA_STATUS_PORT',
  'NUMA_CONCURRENCY',
  'OPENAI_BASE_URL',
  'OPENAI_API_KEY',
  'NUMA_MODEL',
  'GIT_TOKEN',
  'GIT_USERNAME',
  'GIT_EMAIL',
];

export interface ServiceProcessOptions {
  bin: string;
  configFile: string;
  /** The service's working directory (its runners inherit it). */
  cwd: string;
  /** Every line of output is appended here too. */
  logFile: string;
  startTimeoutMs?: number;
}

export class ServiceProcess {
  private child: ChildProcess | undefined;
  private text = '';
  starts = 0;

  constructor(private readonly opts: ServiceProcessOptions) {}

  /** Everything every incarnation printed. */
  get output(): string {
    return this.text;
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null ? this.child.pid : undefined;
  }

  async start(): Promise<void> {
    const env = { ...process.env };
    for (const name of OVERRIDES) delete env[name];
    const child = spawn(process.execPath, [this.opts.bin, 'run', '--config', this.opts.configFile], {
      cwd: this.opts.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.starts++;
    const mark = this.text.length;
    const take = (d: Buffer) => {
      const s = d.toString();
      this.text += s;
      appendFileSync(this.opts.logFile, s);
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    this.child = child;
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 30_000);
    while (!this.text.slice(mark).includes('numa-avatar running')) {
      if (child.exitCode !== null) {
        throw new Error(`numa-avatar run exited ${child.exitCode} at start:\n${this.text.slice(mark)}`);
      }
      if (Date.now() > deadline) throw new Error(`numa-avatar run did not start:\n${this.text.slice(mark)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Sends a signal and waits for the exit; resolves to the exit code (null when killed by a signal). */
  async stop(signal: NodeJS.Signals, timeoutMs = 60_000): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
    const result = await Promise.race([exited, timer]);
    if (result === 'timeout') {
      child.kill('SIGKILL');
      return await exited;
    }
    return result;
  }
}
