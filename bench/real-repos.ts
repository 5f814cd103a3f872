/**
 * Real repositories: the avatar's cold task start (clone + setup + baseline tests) against doing
 * the same by hand, and a second task on the same repository with the caches, for every snapshot
 * in test/fixtures/repos/<name>/ (its numa-fixture.json says how it is installed and tested by hand).
 *
 *   npx tsx bench/real-repos.ts [--runs=N, default 3] [names...]   (default: every fixture)
 *
 * BENCH_LOG=1 shows every task-log line on stderr.
 *
 * Per repository and round, each fixture served by servers/git-http (smart HTTP on 127.0.0.1,
 * token auth) as a bare repository of one commit:
 *   (a) by hand: `git clone --depth 1`, then numa-fixture.json's byHand.install, then byHand.test,
 *       in a shell, timed end to end. The commands get PATH and the toolchains' homes (RUSTUP_HOME,
 *       PYENV_ROOT, GOROOT, JAVA_HOME) but a fresh HOME and TMPDIR: the package managers' caches
 *       start empty, as the avatar's do on a cold start (a fair "first time on this machine").
 *   (b) the avatar, cold: the real `runTask` (container/runner/entry.ts) on a fresh work dir,
 *       against the reference backend and a scripted model; timed from the call to the task-log
 *       line "baseline (tests before the change)", which is clone + sandbox + detection + setup
 *       (the install, through the egress proxy to sandbox.network.allow's registries) + the
 *       baseline test run. The scripted model then adds a one-line file and finishes, so the task
 *       ends done and the code cache is saved (only a done run saves it); that part is not timed.
 *   (c) the avatar, warm: a second task on the same repository and work dir, with the code cache
 *       (BlobStoreCodeCache over the work dir's FileBlobStore, `cache/git/`, as the AWS runner
 *       wires it: a local run has none) and the dependency cache (`cache/deps/`, kept by the
 *       pipeline itself), timed the same way.
 * Targets: (b)/(a) ≤ 1.3×, (b)/(c) ≥ 2×. N rounds, each with a fresh work dir and by-hand folder,
 * by hand first in odd rounds and last in even ones; medians reported (of each part on its own,
 * so the parts need not add up to the total). A fixture whose toolchain is missing (the
 * ecosystem's programs and the first word of each byHand command, looked up on PATH) is skipped
 * with the reason. Nothing in the repository is written (everything under one temporary folder,
 * removed at the end); every server listens on 127.0.0.1 and is stopped at the end.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileBlobStore } from '../adapters/local/file-blob-store.ts';
import { validate } from '../core/config/load.ts';
import { silentLogger } from '../core/log.ts';
import { BlobStoreCodeCache } from '../container/runner/code-cache.ts';
import { runTask } from '../container/runner/entry.ts';
import { chooseMode, systemProbe } from '../container/runner/sandbox/index.ts';
import { onPath } from '../container/runner/testing/ecosystems/node.ts';
import { createBareRepo, startGitServer } from '../servers/git-http/index.ts';
import { startNumaBackend } from '../servers/numa-backend/index.ts';
import { startScriptedModel, type ScriptedSession } from '../servers/scripted-model/index.ts';
import { FIXTURES, readFixture, type Fixture } from '../test/helpers/repo-fixtures.ts';
import { median, ratio, secs } from './lib/stats.ts';

const API_TOKEN = 'bench-api-token-0123456789';
const GIT_USER = 'avatar';
const GIT_TOKEN = 'bench-git-token-0123456789';
const MODEL_KEY = 'sk-bench0123456789abcdef';
/** Programs each ecosystem's setup and tests need besides the byHand commands' own. */
const TOOLCHAINS: Record<string, string[]> = {
  javascript: ['node', 'npm'],
  typescript: ['node', 'npm'],
  python: ['python3'],
  go: ['go'],
  rust: ['cargo'],
  java: ['java'],
};
const BASELINE = 'baseline (tests before the change)';
/** BENCH_LOG=1: every task-log line on stderr, with its time since the task's start. */
const VERBOSE = process.env.BENCH_LOG === '1';

interface ByHand {
  cloneMs: number;
  installMs: number;
  testMs: number;
  totalMs: number;
  /** The first command that failed, with its exit code. */
  failed?: string;
}

interface AvatarRun {
  /** Start → the baseline line; undefined when there was none. */
  toBaselineMs?: number;
  baseline?: string;
  installMs: number;
  testMs?: number;
  clone: string;
  deps: string;
  testCommand?: string;
  status: string;
  reason?: string;
}

async function loadFixtures(names: string[]): Promise<Fixture[]> {
  const out: Fixture[] = [];
  for (const dir of (await readdir(FIXTURES)).sort()) {
    const file = path.join(FIXTURES, dir, 'numa-fixture.json');
    if (!existsSync(file)) continue;
    const f = readFixture(dir);
    if (names.length === 0 || names.includes(f.name) || names.includes(dir)) out.push({ ...f, name: dir });
  }
  const unknown = names.filter((n) => !out.some((f) => f.name === n));
  if (unknown.length) console.error(`no fixture named ${unknown.join(', ')} in ${FIXTURES}`);
  return out;
}

/** The programs a fixture needs that are not on PATH. */
async function missingPrograms(f: Fixture): Promise<string[]> {
  const firstWord = (cmd: string) =>
    cmd
      .trim()
      .split(/\s+/)
      .find((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w));
  const programs = new Set(TOOLCHAINS[f.ecosystem] ?? []);
  for (const cmd of [f.byHand.install, f.byHand.test]) {
    const w = firstWord(cmd);
    if (w && !w.includes('/') && !['cd', '.', 'set', 'export'].includes(w)) programs.add(w);
  }
  const missing: string[] = [];
  for (const p of programs) if (!(await onPath(p, process.env.PATH ?? ''))) missing.push(p);
  return missing;
}

/** PATH and the toolchains' homes from this environment; a fresh HOME and TMPDIR. */
function byHandEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, TMPDIR: path.join(home, 'tmp') };
  for (const k of ['LANG', 'TZ', 'JAVA_HOME', 'GOROOT', 'RUSTUP_HOME', 'PYENV_ROOT']) {
    if (process.env[k]) env[k] = process.env[k];
  }
  // Their defaults are below the real HOME, which the fresh one hides.
  const realHome = os.homedir();
  if (!env.RUSTUP_HOME && existsSync(path.join(realHome, '.rustup')))
    env.RUSTUP_HOME = path.join(realHome, '.rustup');
  if (!env.PYENV_ROOT && existsSync(path.join(realHome, '.pyenv')))
    env.PYENV_ROOT = path.join(realHome, '.pyenv');
  return env;
}

function shell(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ ms: number; code: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('sh', ['-c', command], { cwd, env, stdio: ['ignore', 'ignore', 'ignore'] });
    child.once('error', reject);
    child.once('close', (code) => resolve({ ms: performance.now() - t0, code: code ?? -1 }));
  });
}

async function byHand(f: Fixture, url: string, dir: string): Promise<ByHand> {
  const home = path.join(dir, 'home');
  await mkdir(path.join(home, 'tmp'), { recursive: true });
  const env = byHandEnv(home);
  const repo = path.join(dir, 'repo');
  const t0 = performance.now();
  const authed = url.replace('://', `://${GIT_USER}:${GIT_TOKEN}@`);
  const clone = await shell(`git clone -q --depth 1 '${authed}' '${repo}'`, dir, env);
  const out: ByHand = { cloneMs: clone.ms, installMs: 0, testMs: 0, totalMs: 0 };
  if (clone.code !== 0) out.failed = `git clone (exit ${clone.code})`;
  else {
    const install = await shell(f.byHand.install, repo, env);
    out.installMs = install.ms;
    if (install.code !== 0) out.failed = `${f.byHand.install} (exit ${install.code})`;
    else {
      const test = await shell(f.byHand.test, repo, env);
      out.testMs = test.ms;
      if (test.code !== 0) out.failed = `${f.byHand.test} (exit ${test.code})`;
    }
  }
  out.totalMs = performance.now() - t0;
  return out;
}

const available = (() => {
  try {
    chooseMode({ mode: 'auto', allowUnsandboxed: false }, systemProbe);
    return true;
  } catch {
    return false;
  }
})();

const args = process.argv.slice(2);
const RUNS = Number(/^--runs=(\d+)$/.exec(args.find((a) => a.startsWith('--runs=')) ?? '')?.[1] ?? 3);
const fixtures = await loadFixtures(args.filter((a) => !a.startsWith('--')));
const root = await mkdtemp(path.join(os.tmpdir(), 'numa-bench-real-'));
// The sandbox's leased uid must reach the run's repository below the work dir.
await chmod(root, 0o711);
const gitRoot = path.join(root, 'git');
const sessions: ScriptedSession[] = [];
for (const f of fixtures) {
  for (let round = 1; round <= RUNS; round++) {
    for (const phase of ['cold', 'warm']) {
      sessions.push({
        match: `BENCH-${f.name}-${phase}-${round}:`,
        turns: [
          {
            tool_calls: [
              {
                name: 'write_file',
                arguments: { path: `bench-${phase}.md`, content: `A ${phase} task start.\n` },
              },
            ],
          },
          {
            tool_calls: [
              { name: 'finish', arguments: { summary: 'Add a note', commit_message: 'Add a note' } },
            ],
          },
        ],
      });
    }
  }
}
const backend = await startNumaBackend({ port: 0, apiToken: API_TOKEN });
const git = await startGitServer({ root: gitRoot, auth: { username: GIT_USER, password: GIT_TOKEN } });
const model = await startScriptedModel({ apiKey: MODEL_KEY, turns: [], sessions });

async function avatarTask(
  f: Fixture,
  appId: number,
  workDir: string,
  phase: 'cold' | 'warm',
  round: number,
): Promise<AvatarRun> {
  const config = validate(
    {
      backend: { url: backend.url, api_token: API_TOKEN, timeout: 10 },
      git: {
        username: GIT_USER,
        email: 'avatar@bench.example',
        token: GIT_TOKEN,
        allowed_hosts: [new URL(git.url).host],
      },
      model: { base_url: model.baseURL, api_key: MODEL_KEY, name: 'scripted', max_retries: 0, timeout: 30 },
      work_dir: workDir,
      logs: { flush_interval: 0.3 },
      limits: { repair_rounds: 0 },
      sandbox: { allow_unsandboxed: !available },
    },
    'bench',
  );
  const task = backend.store.createTask({
    title: `BENCH-${f.name}-${phase}-${round}: add a note`,
    description: 'Add a note.',
    application_id: appId,
  });
  const blobs = new FileBlobStore({ root: workDir });
  const lines: Array<{ at: number; text: string }> = [];
  const t0 = performance.now();
  const result = await runTask({
    loaded: { config, workDir, fileValues: {} },
    taskId: String(task.id),
    logger: silentLogger,
    blobs,
    codeCache: new BlobStoreCodeCache({ blobs }),
    onLine: (text) => {
      lines.push({ at: performance.now() - t0, text });
      if (VERBOSE) console.error(`  ${secs(performance.now() - t0, 1)} ${text}`);
    },
  });
  const baselineIdx = lines.findIndex((l) => l.text.includes(BASELINE));
  const before = baselineIdx >= 0 ? lines.slice(0, baselineIdx + 1) : lines;
  const find = (re: RegExp) => before.map((l) => re.exec(l.text)).find((m) => m !== null);
  const installMs = before
    .map((l) => /- setup .*: exit \S+ in (\d+) ms/.exec(l.text))
    .reduce((sum, m) => sum + (m ? Number(m[1]) : 0), 0);
  const tests = find(/- tests (?:passed|failed): `.*` exit \S+ in (\d+) ms/);
  const restored = find(/- (restored the repository from the code cache)/);
  const deps = find(/- dependency cache: (restored|none yet|not used)/);
  return {
    toBaselineMs: baselineIdx >= 0 ? lines[baselineIdx]!.at : undefined,
    baseline: baselineIdx >= 0 ? lines[baselineIdx]!.text.split(`${BASELINE}: `)[1] : undefined,
    installMs,
    testMs: tests ? Number(tests[1]) : undefined,
    clone: restored ? 'code cache' : 'clone',
    deps: deps ? deps[1]! : 'none',
    testCommand: find(/- test command: (.*)$/)?.[1],
    status: result.status,
    reason: result.reason,
  };
}

interface Row {
  f: Fixture;
  skipped?: string;
  hand: ByHand[];
  cold: AvatarRun[];
  warm: AvatarRun[];
}

const rows: Row[] = [];
try {
  const ready: Array<{ row: Row; appId: number }> = [];
  for (const f of fixtures) {
    const missing = await missingPrograms(f);
    if (missing.length) {
      rows.push({ f, skipped: `not on PATH: ${missing.join(', ')}`, hand: [], cold: [], warm: [] });
      console.error(`${f.name}: skipped (not on PATH: ${missing.join(', ')})`);
      continue;
    }
    await createBareRepo(gitRoot, f.name, { sourceDir: path.join(FIXTURES, f.name) });
    const appId = Number(
      backend.store.createApplication({ name: f.name, git_repo_url: git.repoUrl(f.name), owner: 'bench' }).id,
    );
    const row: Row = { f, hand: [], cold: [], warm: [] };
    rows.push(row);
    ready.push({ row, appId });
  }
  for (let round = 1; round <= RUNS; round++) {
    for (const { row, appId } of ready) {
      const { f } = row;
      const dir = path.join(root, f.name, String(round));
      const handRun = async () => {
        console.error(`${f.name} ${round}/${RUNS}: by hand…`);
        row.hand.push(await byHand(f, git.repoUrl(f.name), path.join(dir, 'by-hand')));
      };
      // By hand first in odd rounds, last in even ones: a drift in the network or the machine
      // weighs on both sides.
      if (round % 2 === 1) await handRun();
      console.error(`${f.name} ${round}/${RUNS}: the avatar, cold…`);
      const workDir = path.join(dir, 'work');
      row.cold.push(await avatarTask(f, appId, workDir, 'cold', round));
      console.error(`${f.name} ${round}/${RUNS}: the avatar, warm…`);
      row.warm.push(await avatarTask(f, appId, workDir, 'warm', round));
      if (round % 2 === 0) await handRun();
    }
  }
} finally {
  await Promise.allSettled([backend.close(), git.close(), model.close()]);
  await rm(root, { recursive: true, force: true });
}

const t = (ms: number | undefined) => (ms === undefined ? '—' : secs(ms, 1));
const med = (xs: Array<number | undefined>): number | undefined =>
  xs.length > 0 && xs.every((x) => x !== undefined) ? median(xs as number[]) : undefined;
const r = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 ? '—' : ratio(a, b);
const same = (xs: string[]) => [...new Set(xs)].join(' / ');

console.log(
  `\nReal repositories: cold task start against by hand, and with the caches; medians of ${RUNS} run(s) ` +
    `(${os.cpus().length} CPUs, Node ${process.version}, sandbox ${available ? 'on' : 'off (allow_unsandboxed)'}).\n`,
);
console.log(
  '| repository | by hand (a): clone + install + test | avatar cold (b): start → baseline | (b)/(a) ≤ 1.3× | avatar warm (c): start → baseline | (b)/(c) ≥ 2× | baseline |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const { f, skipped, hand, cold, warm } of rows) {
  if (skipped) {
    console.log(`| ${f.name} (${f.ecosystem}) | skipped: ${skipped} | | | | | |`);
    continue;
  }
  const failed = hand.map((h) => h.failed).filter(Boolean);
  const handMs = med(hand.map((h) => h.totalMs));
  const handCell =
    `${t(handMs)} (${t(med(hand.map((h) => h.cloneMs)))} + ${t(med(hand.map((h) => h.installMs)))} + ` +
    `${t(med(hand.map((h) => h.testMs)))})${failed.length ? `, failed: ${same(failed as string[])}` : ''}`;
  const avatarCell = (runs: AvatarRun[]) => {
    const none = runs.find((a) => a.toBaselineMs === undefined);
    if (none) return `no baseline: ${none.status} ${none.reason ?? ''}`;
    return (
      `${t(med(runs.map((a) => a.toBaselineMs)))} (${same(runs.map((a) => a.clone))}; ` +
      `install ${t(med(runs.map((a) => a.installMs)))}, deps ${same(runs.map((a) => a.deps))}; ` +
      `tests ${t(med(runs.map((a) => a.testMs)))})`
    );
  };
  const coldMs = med(cold.map((a) => a.toBaselineMs));
  const warmMs = med(warm.map((a) => a.toBaselineMs));
  console.log(
    `| ${f.name} (${f.ecosystem}) | ${handCell} | ${avatarCell(cold)} | ${r(coldMs, handMs)} | ` +
      `${avatarCell(warm)} | ${r(coldMs, warmMs)} | ${same(cold.map((a) => a.baseline ?? '—'))} |`,
  );
}
console.log('\nThe commands:');
for (const { f, skipped, cold } of rows) {
  if (skipped || !cold[0]) continue;
  const ended = same(cold.map((a) => `${a.status}${a.reason ? ` (${a.reason})` : ''}`));
  console.log(
    `- ${f.name} (${f.source} @ ${f.commit.slice(0, 12)}): by hand \`${f.byHand.install}\`, ` +
      `\`${f.byHand.test}\`; the avatar: ${cold[0].testCommand ?? '(no test command)'}; its cold tasks ended ${ended}`,
  );
}
