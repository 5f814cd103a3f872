/**
 * Runner start to first status report: spawn `numa-avatar task <id>` (what the local service and
 * the container do for every task run) and time until the backend sees `in_progress`, against a
 * plain `node -e ''` start (spawn → exit), in the same run.
 *
 *   npx tsx bench/runner-start.ts [runs, default 15]
 *
 * The reference backend runs on 127.0.0.1 in this process; the runner gets its configuration as the
 * service hands it over (NUMA_RUNTIME_CONFIG_FILE). The task names an application the backend does not
 * have, so the run ends `failed` right after `in_progress` (the start is what is measured). One
 * warm-up run first (the file system cache), then the variants alternate. The CLI runs its build
 * (dist/: `npm run build`; a stale one would make it run the sources through tsx, and say so).
 * Also shown: `numa-avatar --version` (Node and the CLI's
 * modules, no work) to split the runner's start into loading and its first request.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { validate } from '../core/config/load.ts';
import { RUNTIME_CONFIG_ENV, CLI_ENTRY, writeRuntimeConfig } from '../local/service.ts';
import { startNumaBackend } from '../servers/numa-backend/index.ts';
import { median, percentile, ratio, secs } from './lib/stats.ts';

const RUNS = Number(process.argv[2] ?? 15);
const TOKEN = 'bench-token-0123456789';

const root = await mkdtemp(path.join(os.tmpdir(), 'numa-bench-start-'));
const backend = await startNumaBackend({ port: 0, apiToken: TOKEN });
const store = backend.store;
const config = validate(
  {
    backend: { url: backend.url, api_token: TOKEN },
    work_dir: path.join(root, 'work'),
    model: { base_url: 'http://127.0.0.1:9/v1', api_key: 'unused-0000' },
    logs: { flush_interval: 0.2 },
  },
  'bench',
);
/** The service hands each runner its own 0600 file, which the runner deletes once read. */
let runs = 0;
const runtimeEnv = () => ({
  ...process.env,
  [RUNTIME_CONFIG_ENV]: writeRuntimeConfig(config.work_dir, `bench-${++runs}`, {
    config,
    workDir: config.work_dir,
  }),
});

/** Spawns a process; resolves with the time to its exit (and to `in_progress` for a task). */
function timed(
  args: string[],
  env: NodeJS.ProcessEnv,
  taskId?: number,
): Promise<{ reportMs?: number; exitMs: number }> {
  return new Promise((resolve, reject) => {
    let reportMs: number | undefined;
    const t0 = performance.now();
    const off =
      taskId === undefined
        ? () => {}
        : store.onChange(() => {
            if (
              reportMs === undefined &&
              store.statusHistoryOf(taskId).some((h) => h.status === 'in_progress')
            ) {
              reportMs = performance.now() - t0;
            }
          });
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      off();
      const exitMs = performance.now() - t0;
      if (taskId !== undefined && reportMs === undefined)
        reject(new Error(`no in_progress (exit ${code}): ${err}`));
      else resolve({ reportMs, exitMs });
    });
  });
}

const runTask = async () => {
  const task = store.createTask({ title: 'bench', application_id: 999_999 });
  return timed(
    [CLI_ENTRY, 'task', String(task.id), '--message', JSON.stringify({ task_id: task.id })],
    runtimeEnv(),
    Number(task.id),
  );
};

try {
  await runTask(); // warm-up
  const node: number[] = [];
  const version: number[] = [];
  const report: number[] = [];
  const exit: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    node.push((await timed(['-e', ''], process.env)).exitMs);
    version.push((await timed([CLI_ENTRY, '--version'], process.env)).exitMs);
    const r = await runTask();
    report.push(r.reportMs!);
    exit.push(r.exitMs);
    process.stderr.write(`${i + 1}/${RUNS}: node ${secs(node.at(-1)!)}, in_progress ${secs(r.reportMs!)}\n`);
  }
  const row = (name: string, xs: number[]) =>
    `| ${name} | ${secs(median(xs))} | ${secs(percentile(xs, 95))} |`;
  console.log(
    `${RUNS} runs each, node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}`,
  );
  console.log('| what | median | p95 |');
  console.log('| --- | --- | --- |');
  console.log(row("baseline: `node -e ''`, spawn → exit", node));
  console.log(row('`numa-avatar --version`, spawn → exit (Node and the built CLI)', version));
  console.log(row('`numa-avatar task <id>`, spawn → `in_progress` at the backend', report));
  console.log(row('`numa-avatar task <id>`, spawn → exit (failed: no such application)', exit));
  console.log(
    `ratio runner start → in_progress / node start: ${ratio(median(report), median(node))} (median), ${ratio(percentile(report, 95), percentile(node, 95))} (p95)`,
  );
} finally {
  await backend.close();
  await rm(root, { recursive: true, force: true });
}
