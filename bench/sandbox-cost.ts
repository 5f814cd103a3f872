/**
 * What the sandbox costs per command: `true` and a short `node -e` through execShell (what
 * run_command, the test runs and the setup steps use) unsandboxed and under each adapter this
 * machine can run, in the same process, alternating.
 *
 *   npx tsx bench/sandbox-cost.ts [runs per variant, default 60]
 *
 * The user mode needs root (it leases a uid and hands the folder to it) and cc (its seccomp
 * network filter, netoff.c, is built as the runner image builds it).
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { validate } from '../core/config/load.ts';
import { scrubEnv } from '../core/env.ts';
import { execShell } from '../container/runner/agent/tools/run-command.ts';
import { runTestCommand } from '../container/runner/testing/run.ts';
import {
  chooseMode,
  systemProbe,
  Unsandboxed,
  type Sandbox,
  type SandboxMode,
} from '../container/runner/sandbox/index.ts';
import { sandboxProvider, sandboxSettings } from '../container/runner/sandbox/provider.ts';
import { median, percentile } from './lib/stats.ts';
import { buildNetoff } from '../test/helpers/netoff.ts';

const RUNS = Number(process.argv[2] ?? 60);
const root = await mkdtemp(path.join(os.tmpdir(), 'numa-bench-sandbox-'));
await chmod(root, 0o711);
const workDir = path.join(root, 'work');
/** A run's scratch folder with a one-file repository, one per variant (each sandbox owns its own). */
async function workspace(name: string): Promise<{ scratch: string; repo: string }> {
  const scratch = path.join(workDir, 'workspaces', name);
  const repo = path.join(scratch, 'repo');
  await mkdir(repo, { recursive: true });
  await writeFile(path.join(repo, 'README.md'), 'bench\n');
  return { scratch, repo };
}

const variants: Array<{ name: string; sandbox: Sandbox; repo: string }> = [
  { name: 'unsandboxed', sandbox: new Unsandboxed('bench'), repo: (await workspace('unsandboxed')).repo },
];
for (const mode of ['namespaces', 'user'] as SandboxMode[]) {
  try {
    chooseMode({ mode, allowUnsandboxed: false }, systemProbe);
  } catch (err) {
    console.log(`${mode}: not available here (${(err as Error).message.slice(0, 80)}…)`);
    continue;
  }
  const config = validate({ backend: { url: 'http://127.0.0.1:9' }, sandbox: { mode } }, 'bench');
  const settings = sandboxSettings(config);
  if (mode === 'user') {
    // The image's seccomp network filter, built here as the image builds it.
    settings.netoff = buildNetoff(root);
  }
  const { scratch, repo } = await workspace(mode);
  const sandbox = await sandboxProvider(settings, { workDir }).open(repo, scratch);
  if (mode === 'user' && !sandbox.description.includes('network off')) throw new Error(sandbox.description);
  variants.push({ name: mode, sandbox, repo });
}

const commands = { true: 'true', node: `node -e "process.stdout.write('x')"` };
const env = scrubEnv(process.env);
const times = new Map<string, number[]>();
for (let i = 0; i < RUNS + 3; i++) {
  for (const [cname, command] of Object.entries(commands)) {
    for (const v of variants) {
      const t0 = performance.now();
      const res = await execShell(command, {
        cwd: v.repo,
        env,
        timeoutMs: 30_000,
        maxOutputChars: 10_000,
        sandbox: v.sandbox,
      });
      const ms = performance.now() - t0;
      if (res.exitCode !== 0) throw new Error(`${v.name} ${cname}: exit ${res.exitCode}: ${res.output}`);
      if (i < 3) continue; // warm-up
      const key = `${cname}|${v.name}`;
      times.set(key, [...(times.get(key) ?? []), ms]);
    }
  }
}
// A setup step in the namespaces mode also starts the bridge to the egress proxy.
const ns = variants.find((v) => v.name === 'namespaces');
if (ns) {
  for (let i = 0; i < RUNS + 3; i++) {
    const r = await runTestCommand({
      command: 'true',
      cwd: ns.repo,
      timeoutMs: 30_000,
      env,
      sandbox: ns.sandbox,
      network: 'setup',
    });
    if (!r.passed) throw new Error(`setup step: ${r.output}`);
    if (i >= 3) times.set('setup|namespaces', [...(times.get('setup|namespaces') ?? []), r.durationMs]);
  }
}
for (const v of variants) await v.sandbox.close();
await rm(root, { recursive: true, force: true });

console.log(`\n${RUNS} runs each (after 3 warm-up), ${os.cpus().length} cores, node ${process.version}\n`);
console.log('| command | variant | p50 | p95 | p50 over unsandboxed |');
console.log('| --- | --- | ---: | ---: | ---: |');
for (const cname of Object.keys(commands)) {
  const base = median(times.get(`${cname}|unsandboxed`)!);
  for (const v of variants) {
    const xs = times.get(`${cname}|${v.name}`)!;
    const p50 = median(xs);
    const over = v.name === 'unsandboxed' ? '' : `+${(p50 - base).toFixed(1)} ms`;
    console.log(
      `| \`${commands[cname as keyof typeof commands]}\` | ${v.name} | ${p50.toFixed(1)} ms | ${percentile(xs, 95).toFixed(1)} ms | ${over} |`,
    );
  }
}
const setup = times.get('setup|namespaces');
if (setup) {
  const base = median(times.get('true|unsandboxed')!);
  const p50 = median(setup);
  console.log(
    `| \`true\` as a setup step (with the egress proxy's bridge) | namespaces | ${p50.toFixed(1)} ms | ${percentile(setup, 95).toFixed(1)} ms | +${(p50 - base).toFixed(1)} ms |`,
  );
}
