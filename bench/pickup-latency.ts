/**
 * Pickup latency: a task published on the topic → `in_progress` reported to the backend, with the
 * avatar's long polling (`polling.wait: 20`) against the seed design's fixed 5-second polling (the
 * same service with `polling.wait: 0, polling.interval: 5`), in the same run.
 *
 *   npx tsx bench/pickup-latency.ts [publishes per arm, default 20] [seed, default 1]
 *
 * Each arm: the reference backend and the real service (`AvatarService`, in this process) on
 * 127.0.0.1, each task run in a real runner child process (`numa-avatar task`), as in production.
 * Publishes are sequential: before each one a random pause of 0–5 s (the same seeded sequence in
 * both arms, so a publish lands anywhere in the 5-s polling cycle), then the publish, then the
 * wait for `in_progress`, then for the run to end. The tasks name an application the backend does
 * not have, so each run ends `failed` right after `in_progress` and the machine is idle again
 * before the next publish (what is measured is the pickup, not the development). Also reported:
 * publish → message in the service's queue (the polling alone, without the runner's start).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { validate } from '../core/config/load.ts';
import { silentLogger } from '../core/log.ts';
import { AvatarService } from '../local/service.ts';
import { startNumaBackend } from '../servers/numa-backend/index.ts';
import { percentile, ratio, secs, seeded, sleep } from './lib/stats.ts';

const PUBLISHES = Number(process.argv[2] ?? 20);
const SEED = Number(process.argv[3] ?? 1);
const TOKEN = 'bench-token-0123456789';

interface Arm {
  name: string;
  polling: { wait: number; interval: number };
}

interface Sample {
  pickupMs: number;
  queuedMs: number;
}

async function measure(arm: Arm): Promise<Sample[]> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'numa-bench-pickup-'));
  const backend = await startNumaBackend({ port: 0, apiToken: TOKEN });
  const store = backend.store;
  const config = validate(
    {
      backend: { url: backend.url, api_token: TOKEN, timeout: 30 },
      work_dir: path.join(root, 'work'),
      status_port: 0,
      concurrency: 2,
      polling: { ...arm.polling, limit: 50 },
      model: { base_url: 'http://127.0.0.1:9/v1', api_key: 'unused-0000' },
      logs: { flush_interval: 0.2 },
      limits: { max_attempts: 1 },
    },
    arm.name,
  );
  const service = new AvatarService({
    loaded: { config, workDir: config.work_dir, fileValues: {} },
    logger: silentLogger,
  });
  await service.start();
  const random = seeded(SEED);
  const samples: Sample[] = [];
  try {
    // One poll cycle first, so the first publish does not meet the service's start-up.
    await sleep(arm.polling.wait > 0 ? 500 : arm.polling.interval * 1000 + 200);
    for (let i = 0; i < PUBLISHES; i++) {
      await sleep(random() * 5000);
      const task = store.createTask({ title: `bench ${i}`, application_id: 999_999 });
      const forwardedBefore = service.counters.forwarded;
      let inProgressAt: number | undefined;
      let queuedAt: number | undefined;
      const off = store.onChange(() => {
        if (
          inProgressAt === undefined &&
          store.statusHistoryOf(task.id).some((h) => h.status === 'in_progress')
        ) {
          inProgressAt = performance.now();
        }
      });
      const t0 = performance.now();
      store.publish(1, { task_id: task.id });
      const deadline = t0 + 60_000;
      while (inProgressAt === undefined || queuedAt === undefined) {
        if (queuedAt === undefined && service.counters.forwarded > forwardedBefore)
          queuedAt = performance.now();
        if (performance.now() > deadline)
          throw new Error(`${arm.name}: task ${task.id} not picked up within 60 s`);
        await sleep(2);
      }
      off();
      samples.push({ pickupMs: inProgressAt - t0, queuedMs: queuedAt - t0 });
      // Let the run end (failed: no such application) before the next publish.
      while (!['failed', 'done', 'blocked'].includes(store.getTask(task.id)?.status ?? '')) {
        if (performance.now() > deadline) throw new Error(`${arm.name}: task ${task.id} did not end`);
        await sleep(20);
      }
      process.stderr.write(`${arm.name}: ${i + 1}/${PUBLISHES} pickup ${secs(inProgressAt - t0)}\n`);
    }
  } finally {
    await service.stop();
    await backend.close();
    await rm(root, { recursive: true, force: true });
  }
  return samples;
}

const arms: Arm[] = [
  { name: 'long polling (wait 20 s)', polling: { wait: 20, interval: 5 } },
  { name: 'seed: fixed 5-s polling (wait 0, interval 5)', polling: { wait: 0, interval: 5 } },
];
const results: Array<{ arm: Arm; samples: Sample[] }> = [];
for (const arm of arms) results.push({ arm, samples: await measure(arm) });

const row = (name: string, xs: number[]) =>
  `| ${name} | ${secs(percentile(xs, 50))} | ${secs(percentile(xs, 95))} | ${secs(Math.max(...xs))} |`;
console.log(
  `pickup latency, ${PUBLISHES} publishes per arm, seed ${SEED}, node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}`,
);
console.log('| arm | p50 | p95 | max |');
console.log('| --- | --- | --- | --- |');
for (const { arm, samples } of results) {
  console.log(
    row(
      `${arm.name}: publish → in_progress`,
      samples.map((s) => s.pickupMs),
    ),
  );
  console.log(
    row(
      `${arm.name}: publish → queued`,
      samples.map((s) => s.queuedMs),
    ),
  );
}
const [lp, seed] = results.map((r) => r.samples.map((s) => s.pickupMs)) as [number[], number[]];
const [lq, sq] = results.map((r) => r.samples.map((s) => s.queuedMs)) as [number[], number[]];
console.log(
  `ratio (seed / long polling), publish → in_progress: p50 ${ratio(percentile(seed, 50), percentile(lp, 50))}, p95 ${ratio(percentile(seed, 95), percentile(lp, 95))}`,
);
console.log(
  `ratio (seed / long polling), publish → queued: p50 ${ratio(percentile(sq, 50), percentile(lq, 50))}, p95 ${ratio(percentile(sq, 95), percentile(lq, 95))}`,
);
