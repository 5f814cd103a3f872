/**
 * Harness overhead per task, for the demo task (add titleCase to textkit, the recorded session):
 * the wall time of a run minus the time spent in the model server and in the project's test
 * commands. Those two are read from the run's own artifacts: the transcript's model responses
 * (durationMs of each call) and the verification report's test runs (setup steps, baseline, after)
 * plus the agent's run_tests calls (the transcript's tool results). What is left is the harness:
 * clone, context building, the agent's other tools, the quality gates, commit, push, status and
 * log reports, artifacts.
 *
 *   npx tsx bench/harness-overhead.ts [runs, default 5]
 *
 * Each run is `runTask` in this process (the runner's start is bench/runner-start.ts), against the
 * reference backend, the git server over a bare copy of demo/sample-project and the scripted model
 * replaying demo/recorded-session.json, all on 127.0.0.1; the model cache is off so that every
 * turn reaches the model server. The phase breakdown comes from the times the task's log lines
 * were written (BENCH_DEBUG=1 prints them).
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { validate } from '../core/config/load.ts';
import { silentLogger } from '../core/log.ts';
import { runTask } from '../container/runner/entry.ts';
import { DEMO_TASK } from '../demo/run-demo.ts';
import { createBareRepo, startGitServer } from '../servers/git-http/index.ts';
import { startNumaBackend } from '../servers/numa-backend/index.ts';
import { loadRecordedSession, startScriptedModel } from '../servers/scripted-model/index.ts';
import { median, ratio, secs } from './lib/stats.ts';

const RUNS = Number(process.argv[2] ?? 5);
const ROOT = path.resolve(import.meta.dirname, '..');
const TOKEN = 'bench-token-0123456789';
const GIT_TOKEN = 'bench-git-token-0123456789';

interface RunFigures {
  wallMs: number;
  modelMs: number;
  modelCalls: number;
  testsMs: number;
  testRuns: number;
  phases: Record<string, number>;
}

/** The phases, each ending at the first log line that matches. */
const PHASES: Array<[string, RegExp]> = [
  ['report in_progress, read the task and the application', /^application /],
  ['clone and branch', /^cloned |^restored the repository/],
  ['setup steps and baseline tests', /baseline|^tests before/i],
  ['build the context', /^agent: developing/],
  ['the agent (model, tools, run_tests)', /^agent: finished/],
  ['verification (tests after, quality gates)', /^committed /],
  ['push', /^pushed /],
  ['summary, done, logs', /.*/],
];

const tmp = await mkdtemp(path.join(os.tmpdir(), 'numa-bench-overhead-'));
const backend = await startNumaBackend({ port: 0, apiToken: TOKEN });
const gitRoot = path.join(tmp, 'git');
await createBareRepo(gitRoot, 'textkit', { sourceDir: path.join(ROOT, 'demo/sample-project') });
const git = await startGitServer({ root: gitRoot, auth: { username: 'avatar', password: GIT_TOKEN } });
const model = await startScriptedModel({
  turns: [],
  sessions: [
    {
      match: 'titleCase',
      turns: loadRecordedSession(path.join(ROOT, 'demo/recorded-session.json')),
      repeat: true,
    },
  ],
});
const app = backend.store.createApplication({ name: 'textkit', git_repo_url: git.repoUrl('textkit') });

const figures: RunFigures[] = [];
try {
  for (let i = 0; i < RUNS; i++) {
    const workDir = path.join(tmp, `work-${i}`);
    const config = validate(
      {
        backend: { url: backend.url, api_token: TOKEN },
        git: {
          username: 'avatar',
          email: 'avatar@bench.example',
          token: GIT_TOKEN,
          allowed_hosts: [new URL(git.url).host],
        },
        model: {
          base_url: model.baseURL,
          api_key: 'sk-bench-0000000000000000',
          name: 'recorded-session',
          cache: false,
        },
        work_dir: workDir,
        logs: { flush_interval: 0.5 },
      },
      'bench',
    );
    const task = backend.store.createTask({ ...DEMO_TASK, application_id: Number(app.id) });
    const lines: Array<{ at: number; text: string }> = [];
    const t0 = performance.now();
    const result = await runTask({
      loaded: { config, workDir, fileValues: {} },
      taskId: String(task.id),
      logger: silentLogger,
      onLine: (line) => lines.push({ at: performance.now(), text: line.replace(/^\S+ \S+ - /, '') }),
    });
    const wallMs = performance.now() - t0;
    if (process.env.BENCH_DEBUG)
      for (const l of lines) process.stderr.write(`${secs(l.at - t0)} ${l.text}\n`);
    if (result.status !== 'done') throw new Error(`run ${i + 1}: ${result.status}: ${result.reason}`);

    // The run's artifacts: transcript (model calls, run_tests) and the verification report.
    const runDir = path.join(workDir, 'runs', String(task.id), result.runId);
    const names = await readdir(runDir);
    const transcript = (await readFile(path.join(runDir, 'transcript.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; durationMs?: number; cached?: boolean; name?: string });
    const responses = transcript.filter((e) => e.type === 'response' && !e.cached);
    const modelMs = responses.reduce((s, e) => s + (e.durationMs ?? 0), 0);
    const runTests = transcript.filter((e) => e.type === 'tool_result' && e.name === 'run_tests');
    const report = JSON.parse(
      await readFile(
        path.join(
          runDir,
          names.find((n) => n === 'tests.json')!,
        ),
        'utf8',
      ),
    ) as {
      setup: Array<{ durationMs?: number }>;
      baseline: { durationMs: number } | null;
      after: { durationMs: number } | null;
    };
    const testRunsMs = [
      ...report.setup.map((s) => s.durationMs ?? 0),
      report.baseline?.durationMs ?? 0,
      report.after?.durationMs ?? 0,
      ...runTests.map((e) => e.durationMs ?? 0),
    ];
    const testsMs = testRunsMs.reduce((a, b) => a + b, 0);

    const phases: Record<string, number> = {};
    let from = t0;
    let k = 0;
    for (const [name, re] of PHASES) {
      const hit = name === PHASES.at(-1)![0] ? undefined : lines.slice(k).findIndex((l) => re.test(l.text));
      const end = hit === undefined || hit < 0 ? t0 + wallMs : lines[k + hit]!.at;
      phases[name] = end - from;
      if (hit !== undefined && hit >= 0) k += hit + 1;
      from = end;
    }
    figures.push({
      wallMs,
      modelMs,
      modelCalls: responses.length,
      testsMs,
      testRuns: testRunsMs.filter((x) => x > 0).length,
      phases,
    });
    process.stderr.write(
      `run ${i + 1}/${RUNS}: wall ${secs(wallMs)}, model ${secs(modelMs)}, tests ${secs(testsMs)}\n`,
    );
  }
} finally {
  await Promise.allSettled([backend.close(), git.close(), model.close()]);
  await rm(tmp, { recursive: true, force: true });
}

const med = (f: (x: RunFigures) => number) => median(figures.map(f));
const overhead = (x: RunFigures) => x.wallMs - x.modelMs - x.testsMs;
console.log(
  `demo task, ${RUNS} runs (runTask in-process, model cache off), medians; node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}`,
);
console.log('| figure | median |');
console.log('| --- | --- |');
console.log(`| wall time of the run | ${secs(med((x) => x.wallMs))} |`);
console.log(
  `| in the model server (${figures[0]!.modelCalls} calls, transcript) | ${secs(med((x) => x.modelMs))} |`,
);
console.log(
  `| in the project's test commands (${figures[0]!.testRuns} runs: baseline, run_tests, after; tests.json and transcript) | ${secs(med((x) => x.testsMs))} |`,
);
console.log(`| **harness overhead** (wall − model − tests) | **${secs(med(overhead))}** |`);
console.log(
  `overhead share of the wall time: ${((100 * med(overhead)) / med((x) => x.wallMs)).toFixed(0)}%; overhead / (model + tests): ${ratio(
    med(overhead),
    med((x) => x.modelMs + x.testsMs),
  )}`,
);
console.log('| phase (from the task log lines) | median |');
console.log('| --- | --- |');
for (const [name] of PHASES) console.log(`| ${name} | ${secs(med((x) => x.phases[name] ?? 0))} |`);
