/**
 * Runs the demo N times (default 5) and reports the median and worst wall time of the whole demo
 * and of its pickup latency (task published → `in_progress` reported to the backend).
 *   npx tsx bench/demo-timing.ts [runs]
 */
import { runDemo } from '../demo/run-demo.ts';

const runs = Number(process.argv[2] ?? 5);
const walls: number[] = [];
const pickups: number[] = [];
const dones: number[] = [];

for (let i = 0; i < runs; i++) {
  const lines: string[] = [];
  const t0 = performance.now();
  const code = await runDemo({ keep: false, env: {}, out: (l) => lines.push(l) });
  walls.push((performance.now() - t0) / 1000);
  if (code !== 0) throw new Error(`demo run ${i + 1} exited ${code}:\n${lines.join('\n')}`);
  const at = (status: string) => {
    const line = lines.find((l) => l.includes(`status → ${status}`));
    const m = line?.match(/\(\+\s*([\d.]+)s\)/);
    if (!m) throw new Error(`no ${status} line in the demo output`);
    return Number(m[1]);
  };
  pickups.push(at('in_progress'));
  dones.push(at('done'));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (xs: number[]) => `median ${median(xs).toFixed(2)} s, max ${Math.max(...xs).toFixed(2)} s`;
console.log(`demo runs: ${runs} (offline recorded session, loopback servers, node ${process.version})`);
console.log(`demo wall time (in-process, servers included): ${fmt(walls)}`);
console.log(`publish → in_progress: ${fmt(pickups)}`);
console.log(`publish → done (pushed): ${fmt(dones)}`);
