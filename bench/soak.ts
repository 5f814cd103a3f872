/**
 * `npm run soak`: the fault-injection soak of local mode (bench/soak/run.ts says what it does).
 *
 *   npx tsx bench/soak.ts [--tasks 200] [--concurrency 4] [--seed 1] [--timeout-s 900] [--keep]
 *
 * Loopback only, bounded by its task count and its time limit; prints the checks and the figures
 * and exits 0 when every check passed, 1 when one failed, 64 on a usage error.
 */
import { parseArgs } from 'node:util';
import { formatReport } from './soak/report.ts';
import { runSoak } from './soak/run.ts';

const USAGE =
  'usage: npx tsx bench/soak.ts [--tasks N (≥ 1, default 200)] [--concurrency C (default 4)] ' +
  '[--seed S (default 1)] [--timeout-s T (default 900)] [--keep]';

function int(name: string, raw: string | undefined, def: number, min: number): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(
      `soak: --${name}: expected a whole number of at least ${min}, got ${JSON.stringify(raw)}\n${USAGE}\n`,
    );
    process.exit(64);
  }
  return n;
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      tasks: { type: 'string' },
      concurrency: { type: 'string' },
      seed: { type: 'string' },
      'timeout-s': { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (err) {
  process.stderr.write(`soak: ${(err as Error).message}\n${USAGE}\n`);
  process.exit(64);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

// Ctrl-C or SIGTERM: stop publishing, stop the service and the runners, report what there is.
const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
process.once('SIGTERM', () => controller.abort());
try {
  const report = await runSoak({
    tasks: int('tasks', values.tasks as string | undefined, 200, 1),
    concurrency: int('concurrency', values.concurrency as string | undefined, 4, 1),
    seed: int('seed', values.seed as string | undefined, 1, 0),
    timeoutS: int('timeout-s', values['timeout-s'] as string | undefined, 900, 10),
    keep: values.keep === true,
    signal: controller.signal,
    progress: (line) => process.stderr.write(`[soak] ${line}\n`),
  });
  process.stdout.write(formatReport(report) + '\n');
  process.exitCode = report.ok ? 0 : 1;
} catch (err) {
  process.stderr.write(
    `soak: could not run: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
}
