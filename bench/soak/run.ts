/**
 * The soak: the real `numa-avatar run` (a child process, as in production) against the reference
 * backend, a real git server and the scripted model, all on 127.0.0.1, under faults:
 *
 *   - the backend answers 5xx (errorRate), answers slower than the client's timeout (delayRate,
 *     delayMs above backend.timeout), repeats messages already delivered (duplicateRate) and
 *     corrupts delivered copies of messages (malformedRate; the stored message stays intact);
 *   - the soak publishes malformed messages of its own (data without a usable task_id);
 *   - the service is SIGKILLed and restarted (three times by default; every other kill lands just
 *     after a publish, in the poll → queue → dispatch → spawn path), once with its poll cursor
 *     rewound to the start of the topic, so every message handled so far is delivered again;
 *   - runners are SIGKILLed mid-task (cloned, nothing committed yet; the whole process group, as
 *     an OOM kill would).
 *
 * How each is counted: the backend's faults by its own counters (faultCounts(): 5xx responses,
 * slow responses, responses that repeated delivered messages, message copies corrupted); the
 * soak's own by what it did. A malformed message the soak published must be dead-lettered with a
 * reason. A copy the backend corrupted cannot be told from a malformed message by the avatar, so
 * it is dead-lettered too and never runs: the checks accept a dead letter of a valid message only
 * when its data differs from what was published; such a task runs when a later delivery comes
 * intact (after the rewind), and otherwise, once no kill is left to come, the soak publishes it
 * again as an operator would from the dead-letter store ("published again"). Neither is lost nor
 * duplicated; a task that never ended is (lost: still todo; stuck: still in_progress).
 *
 * Publishing is paced (at most 2 × concurrency tasks published and not yet ended), so the run is
 * bounded by its task count, and by `timeoutS`. When everything has settled (no runner alive,
 * queue and outbox empty, the cursor past the last message, nothing changing) the service is
 * stopped with SIGTERM and the checks run (checks.ts).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import type { FaultOptions } from '../../servers/numa-backend/index.ts';
import { mulberry32 } from '../../servers/numa-backend/index.ts';
import {
  API_TOKEN,
  createWorld,
  GIT_TOKEN,
  MODEL_KEY,
  RECORDED_SESSION,
  REPO_ROOT,
  type World,
} from '../../test/helpers/world.ts';
import {
  analyze,
  listJson,
  readDeadLetters,
  TERMINAL,
  type Analysis,
  type PublishedMessage,
  type SoakTask,
} from './checks.ts';
import { makePlan, type PlannedMessage } from './plan.ts';
import { findRunners, killRunner, type RunnerProcess } from './procs.ts';
import { ServiceProcess } from './service.ts';
import { soakSessions } from './sessions.ts';

export interface SoakOptions {
  /** Valid tasks to publish (malformed messages come on top: `malformedShare` of all messages). */
  tasks: number;
  concurrency: number;
  seed: number;
  /** The whole run's limit; past it the soak stops and reports what is unfinished. */
  timeoutS: number;
  /** Default 3. */
  serviceKills?: number;
  /** Default: 3% of the tasks, at least 2. */
  runnerKills?: number;
  /** Rewind the poll cursor to the start of the topic at the second service kill (default true). */
  rewindCursor?: boolean;
  malformedShare?: number;
  /** The backend's faults (default DEFAULT_FAULTS). */
  faults?: FaultOptions;
  /** backend.timeout of the avatar, seconds (default 2); slow responses take this + 1.5 s. */
  backendTimeoutS?: number;
  /** Progress lines (default: none). */
  progress?: (line: string) => void;
  /** Keep the temp folder (work dir, service.log) instead of removing it. */
  keep?: boolean;
  /** Stops the soak early (Ctrl-C): it then stops the service and reports, as on a timeout. */
  signal?: AbortSignal;
}

export const DEFAULT_FAULTS: FaultOptions = {
  errorRate: 0.1,
  delayRate: 0.05,
  duplicateRate: 0.1,
  malformedRate: 0.02,
};

export interface SoakReport {
  ok: boolean;
  options: Omit<SoakOptions, 'progress' | 'signal'>;
  wallSeconds: number;
  /** The time limit passed before everything settled. */
  timedOut: boolean;
  /** Stopped early by `signal`. */
  interrupted: boolean;
  /** The temp folder, when kept. */
  root?: string;
  tasks: { total: number; byKind: Record<string, number> };
  messages: { published: number; valid: number; malformed: number; redriven: number };
  faults: {
    backend: Record<string, number>;
    slowResponseMs: number;
    malformedPublished: number;
    serviceKills: number;
    cursorRewinds: number;
    /** Messages the service had already handled that a rewind delivered again. */
    redelivered: number;
    runnerKills: number;
  };
  serviceStopExit: number | null;
  /** What the scripted model refused (a request past the script, an unmet expectation). */
  modelErrors: string[];
  analysis: Analysis;
}

const BIN = path.join(REPO_ROOT, 'bin/numa-avatar.mjs');

export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const t0 = Date.now();
  const deadline = t0 + opts.timeoutS * 1000;
  const progress = opts.progress ?? (() => undefined);
  const random = mulberry32(opts.seed ^ 0x5eed);
  const backendTimeoutS = opts.backendTimeoutS ?? 2;
  const slowMs = backendTimeoutS * 1000 + 1500;
  const faults: FaultOptions = { ...DEFAULT_FAULTS, ...opts.faults, delayMs: slowMs };
  const serviceKills = opts.serviceKills ?? 3;
  const runnerKills = opts.runnerKills ?? Math.max(2, Math.round(opts.tasks * 0.03));
  const rewind = opts.rewindCursor ?? true;

  const plan = makePlan({ tasks: opts.tasks, seed: opts.seed, malformedShare: opts.malformedShare });
  const world: World = await createWorld({
    model: { turns: [], sessions: soakSessions(RECORDED_SESSION) },
    backend: { seed: opts.seed },
  });
  const workDir = path.join(world.root, 'work');
  const service = new ServiceProcess({
    bin: BIN,
    configFile: path.join(world.root, 'config.yaml'),
    cwd: world.root,
    logFile: path.join(world.root, 'service.log'),
  });
  const killedRunIds = new Set<string>();
  const killedTasks = new Set<number>();
  const published: PublishedMessage[] = [];
  const redrives = new Map<number, number>();
  let cursorRewinds = 0;
  let redelivered = 0;
  let timedOut = false;
  let interrupted = false;
  let serviceStopExit: number | null = null;

  try {
    const tasks: SoakTask[] = [];
    for (const t of plan.tasks) {
      const created = await world.createTask({ title: t.title });
      tasks.push({ id: created.id, kind: t.kind, branch: created.code_branch });
    }
    const taskOf = new Map(plan.tasks.map((t, i) => [t.index, tasks[i]!]));
    writeConfig(world, opts.concurrency, backendTimeoutS);
    world.backend.setFaults(faults);
    await service.start();
    progress(`service started (pid ${service.pid}); ${plan.messages.length} messages to publish`);

    const pending: PlannedMessage[] = [...plan.messages];
    const total = plan.messages.length;
    const serviceKillAt = spread(serviceKills, total);
    const runnerKillAt = spread(runnerKills, total);
    let serviceKillsDone = 0;
    let runnerKillsDone = 0;
    let runnerKillsSkipped = 0;
    let armed: { r: RunnerProcess; task: SoakTask; at: number } | undefined;
    let lastProgress = Date.now();
    let lastSignature = '';
    let stableSince = Date.now();

    const last = (id: number) => world.statuses(id).at(-1) ?? '';
    const isTerminal = (id: number) => (TERMINAL as readonly string[]).includes(last(id));
    const publish = (m: PlannedMessage) => {
      if (m.type === 'task') {
        const t = taskOf.get(m.task.index)!;
        const data = { task_id: t.id };
        const msg = world.backend.store.publish(1, data);
        published.push({ id: msg.id, kind: 'task', taskId: t.id, data });
      } else {
        const msg = world.backend.store.publish(1, m.data);
        published.push({ id: msg.id, kind: 'malformed', label: m.label, data: m.data });
      }
    };

    for (;;) {
      if (opts.signal?.aborted) {
        interrupted = true;
        progress('interrupted: stopping');
        break;
      }
      if (Date.now() > deadline) {
        timedOut = true;
        progress(`timeout after ${opts.timeoutS} s: stopping`);
        break;
      }
      // Publish, keeping at most 2 × concurrency tasks published and not ended.
      const publishedTasks = published.filter((p) => p.kind === 'task').map((p) => p.taskId!);
      let open = publishedTasks.filter((id) => !isTerminal(id)).length;
      while (pending.length > 0 && open < opts.concurrency * 2) {
        const m = pending.shift()!;
        publish(m);
        if (m.type === 'task') open++;
      }
      const sent = total - pending.length;
      const runners = findRunners(world.root);

      // The service: SIGKILL with runners under way, a pause, a restart.
      if (serviceKillsDone < serviceKills && sent >= serviceKillAt[serviceKillsDone]!) {
        if (runners.length > 0 || pending.length === 0) {
          serviceKillsDone++;
          // Every other kill lands just after a publish: in the poll → queue → dispatch → spawn path.
          if (serviceKillsDone % 2 === 1 && pending.length > 0) {
            publish(pending.shift()!);
            await sleep(Math.floor(random() * 400));
          }
          await service.stop('SIGKILL');
          let note = '';
          if (rewind && serviceKillsDone === 2) {
            const n = rewindCursor(workDir);
            if (n !== undefined) {
              cursorRewinds++;
              redelivered += published.filter((p) => p.id <= n).length;
              note = `, poll cursor rewound from ${n} to the start`;
            }
          }
          progress(
            `SIGKILLed the service (${serviceKillsDone}/${serviceKills}) with ${runners.length} runner(s) under way${note}`,
          );
          await sleep(200 + Math.floor(random() * 1300));
          await service.start();
        }
      }

      // A runner: SIGKILL one mid-task (first attempt, cloned, nothing committed yet), a random
      // moment after it was picked.
      const killsSettled = runnerKillsDone + runnerKillsSkipped;
      if (armed && Date.now() >= armed.at) {
        const { r, task } = armed;
        armed = undefined;
        // Looked up again right before the kill: the pid must still be this run's runner.
        const still = findRunners(world.root).some((x) => x.pid === r.pid && x.runId === r.runId);
        if (
          still &&
          underWay(runnerLog(workDir, r.taskId, r.runId)) &&
          (await world.remoteBranch(task.branch)) === undefined
        ) {
          killRunner(r.pid);
          killedRunIds.add(r.runId);
          killedTasks.add(task.id);
          runnerKillsDone++;
          progress(`SIGKILLed runner ${r.runId} of task ${task.id} (${runnerKillsDone}/${runnerKills})`);
        }
      } else if (!armed && killsSettled < runnerKills && sent >= runnerKillAt[killsSettled]!) {
        const candidates = runners.flatMap((r) => {
          const task = tasks.find((t) => String(t.id) === r.taskId);
          if (!task || r.attempt !== 1 || killedTasks.has(task.id)) return [];
          return underWay(runnerLog(workDir, r.taskId, r.runId)) ? [{ r, task }] : [];
        });
        if (candidates.length > 0) {
          const pick = candidates[Math.floor(random() * candidates.length)]!;
          armed = { ...pick, at: Date.now() + Math.floor(random() * 1500) };
        } else if (pending.length === 0 && runners.length === 0) {
          runnerKillsSkipped++; // nothing left to kill
        }
      }

      if (Date.now() - lastProgress >= 10_000) {
        lastProgress = Date.now();
        const counts: Record<string, number> = {};
        for (const t of tasks) counts[last(t.id) || '-'] = (counts[last(t.id) || '-'] ?? 0) + 1;
        progress(
          `+${Math.round((Date.now() - t0) / 1000)}s published ${sent}/${total}, ` +
            `${Object.entries(counts)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')}, runners ${runners.length}`,
        );
      }

      // Tasks that never ran because every copy delivered came corrupted (dead-lettered): once no
      // kill can make the service read them again, publish them again, as an operator would.
      const chaosDone =
        serviceKillsDone >= serviceKills && runnerKillsDone + runnerKillsSkipped >= runnerKills && !armed;
      if (chaosDone) {
        const deadIds = deadLetteredIds(workDir);
        const queued = queuedTaskIds(workDir);
        const cursor = cursorAfter(workDir) ?? 0;
        const again = tasks.filter((t) => {
          const mine = published.filter((p) => p.taskId === t.id);
          return (
            last(t.id) === 'todo' &&
            (redrives.get(t.id) ?? 0) < 3 &&
            mine.length > 0 &&
            mine.every((p) => deadIds.has(p.id) && p.id <= cursor) &&
            !queued.has(String(t.id))
          );
        });
        for (const t of again) {
          redrives.set(t.id, (redrives.get(t.id) ?? 0) + 1);
          const data = { task_id: t.id };
          const msg = world.backend.store.publish(1, data);
          published.push({ id: msg.id, kind: 'redrive', taskId: t.id, data });
          progress(`published task ${t.id} again: every copy of its message was delivered corrupted`);
        }
      }

      // Settled? Everything published, every kill done, nothing running, queued or changing.
      const signature = tasks.map((t) => world.statuses(t.id).length).join(',') + `/${published.length}`;
      if (signature !== lastSignature) {
        lastSignature = signature;
        stableSince = Date.now();
      }
      if (
        pending.length === 0 &&
        chaosDone &&
        runners.length === 0 &&
        Date.now() - stableSince >= 1500 &&
        queueDrained(workDir) &&
        (cursorAfter(workDir) ?? 0) >= (published.at(-1)?.id ?? 0)
      ) {
        break;
      }
      await sleep(200);
    }

    // A clean stop: nothing is running, so SIGTERM returns at once (on a timeout, after the grace).
    serviceStopExit = await service.stop('SIGTERM');
    for (const r of findRunners(world.root)) killRunner(r.pid);
    world.backend.setFaults({});

    const analysis = analyze({
      workDir,
      tasks,
      published,
      statuses: (id) => world.statuses(id),
      logs: (id) => world.logs(id),
      killedRunIds,
      serviceOutput: service.output,
      modelRequests: world.model.requests().map((r) => r.body),
      secrets: [
        { name: 'backend API token', value: API_TOKEN },
        { name: 'git token', value: GIT_TOKEN },
        {
          name: 'git credentials (base64 Basic auth)',
          value: Buffer.from(`avatar:${GIT_TOKEN}`).toString('base64'),
        },
        { name: 'model API key', value: MODEL_KEY },
      ],
    });
    analysis.checks.push({
      name: 'the service stopped cleanly on SIGTERM (exit 0), within the time limit',
      ok: serviceStopExit === 0 && !timedOut && !interrupted,
      details: [
        ...(timedOut ? [`the soak hit its time limit (${opts.timeoutS} s)`] : []),
        ...(interrupted ? ['the soak was interrupted'] : []),
        ...(serviceStopExit !== 0 ? [`exit code ${serviceStopExit}`] : []),
      ],
    });
    analysis.ok = analysis.checks.every((c) => c.ok);

    const byKind: Record<string, number> = {};
    for (const t of tasks) byKind[t.kind] = (byKind[t.kind] ?? 0) + 1;
    const { progress: _p, signal: _s, ...shown } = opts;
    return {
      ok: analysis.ok,
      options: { ...shown, serviceKills, runnerKills, faults },
      wallSeconds: (Date.now() - t0) / 1000,
      timedOut,
      interrupted,
      root: opts.keep ? world.root : undefined,
      tasks: { total: tasks.length, byKind },
      messages: {
        published: published.length,
        valid: published.filter((p) => p.kind === 'task').length,
        malformed: published.filter((p) => p.kind === 'malformed').length,
        redriven: published.filter((p) => p.kind === 'redrive').length,
      },
      faults: {
        backend: world.backend.faultCounts(),
        slowResponseMs: slowMs,
        malformedPublished: plan.malformed,
        serviceKills: serviceKillsDone,
        cursorRewinds,
        redelivered,
        runnerKills: runnerKillsDone,
      },
      serviceStopExit,
      modelErrors: world.model.errors(),
      analysis,
    };
  } finally {
    await service.stop('SIGKILL');
    for (const r of findRunners(world.root)) killRunner(r.pid);
    if (opts.keep) await Promise.allSettled([world.backend.close(), world.git.close(), world.model.close()]);
    else await world.close();
  }
}

function writeConfig(world: World, concurrency: number, backendTimeoutS: number): void {
  const values = world.configValues();
  const backend = values.backend as Record<string, unknown>;
  values.backend = { ...backend, timeout: backendTimeoutS, max_attempts: 5 };
  values.concurrency = concurrency;
  values.status_port = 0;
  values.polling = { wait: 2, interval: 1 };
  values.logs = { flush_interval: 0.5, level: 'debug' };
  values.limits = { repair_rounds: 1, shutdown_grace: 5, max_attempts: 2 };
  writeFileSync(path.join(world.root, 'config.yaml'), stringify(values));
}

/** `n` points spread over (0, total): the published-message counts at which to act. */
function spread(n: number, total: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.max(1, Math.floor(((i + 1) * total) / (n + 1))));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function cursorFile(workDir: string): string {
  return path.join(workDir, 'state', 'cursor.json');
}

function cursorAfter(workDir: string): number | undefined {
  const rec = readJson(cursorFile(workDir)) as { value?: { after?: unknown } } | undefined;
  const after = rec?.value?.after;
  return after === undefined ? undefined : Number(after);
}

/** Moves the (stopped) service's poll cursor back to the start of the topic; returns where it was. */
function rewindCursor(workDir: string): number | undefined {
  const rec = readJson(cursorFile(workDir)) as
    { version: number; value: Record<string, unknown> } | undefined;
  if (!rec || rec.value.after === undefined) return undefined;
  const was = Number(rec.value.after);
  const { after: _a, ...rest } = rec.value;
  writeFileSync(
    cursorFile(workDir),
    JSON.stringify({ version: rec.version + 1, value: rest }, null, 2) + '\n',
  );
  return was;
}

function runnerLog(workDir: string, taskId: string, runId: string): string {
  try {
    return readFileSync(path.join(workDir, 'runs', taskId, runId, 'runner.log'), 'utf8');
  } catch {
    return '';
  }
}

/**
 * Cloned and not yet committed: a kill now lands in the middle of the run, and its re-run starts
 * from the same remote state (a kill after the push would leave the branch changed under attempt 2).
 */
function underWay(log: string): boolean {
  return /\bcloned \S+/.test(log) && !/\bcommitted [0-9a-f]{12}|\bpushed [0-9a-f]{12}/.test(log);
}

function queueDrained(workDir: string): boolean {
  const count = (sub: string) => listJson(path.join(workDir, sub)).length;
  return count('queue/pending') + count('queue/inflight') + count('outbox') === 0;
}

/** Task ids of the messages waiting in the service's queue or claimed from it. */
function queuedTaskIds(workDir: string): Set<string> {
  const ids = new Set<string>();
  for (const sub of ['queue/pending', 'queue/inflight']) {
    const dir = path.join(workDir, sub);
    for (const name of listJson(dir)) {
      const rec = readJson(path.join(dir, name)) as { body?: { task_id?: unknown } } | undefined;
      if (rec?.body?.task_id !== undefined) ids.add(String(rec.body.task_id));
    }
  }
  return ids;
}

function deadLetteredIds(workDir: string): Set<number> {
  const ids = new Set<number>();
  for (const letter of readDeadLetters(workDir)) {
    const raw = letter.raw as { id?: unknown } | null | undefined;
    if (raw && typeof raw === 'object' && raw.id !== undefined) ids.add(Number(raw.id));
  }
  return ids;
}
