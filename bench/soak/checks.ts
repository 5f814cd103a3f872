/**
 * What a soak run left behind, checked: the backend's status history and task logs, the work dir
 * (dispatch records, run folders, dead letters, queue, outbox), the service's output and what the
 * model was sent. Each check says what it found; nothing here depends on timing.
 */
import { readdirSync, readFileSync, statSync, type Dirent } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { TaskKind } from './plan.ts';

export const TERMINAL = ['done', 'failed', 'blocked'] as const;

/** The failure line of a run that failed because a backend request failed through every retry. */
const BACKEND_GAVE_UP = /failed: [^\n]*\b(BACKEND_UNAVAILABLE|BACKEND_TIMEOUT)\b/;

export interface SoakTask {
  id: number;
  kind: TaskKind;
  branch: string;
}

export interface PublishedMessage {
  /** The topic message id the backend gave it. */
  id: number;
  /** task: a valid task's message; redrive: published again after every copy came corrupted; malformed: the soak's own bad message. */
  kind: 'task' | 'redrive' | 'malformed';
  taskId?: number;
  label?: string;
  data: unknown;
}

export interface Evidence {
  workDir: string;
  tasks: SoakTask[];
  published: PublishedMessage[];
  statuses: (taskId: number) => string[];
  logs: (taskId: number) => string;
  /** Run ids of the runners the soak SIGKILLed. */
  killedRunIds: ReadonlySet<string>;
  serviceOutput: string;
  /** Bodies of the requests the model received. */
  modelRequests: unknown[];
  secrets: ReadonlyArray<{ name: string; value: string }>;
}

export interface Check {
  name: string;
  ok: boolean;
  /** What was found (on failure: every offender, one line each). */
  details: string[];
}

export interface DispatchRecordFile {
  key: string;
  runId: string;
  taskId: string;
  attempt: number;
  outcome?: string;
  startedAt?: string;
  endedAt?: string;
}

export interface Analysis {
  checks: Check[];
  ok: boolean;
  finalStatus: Record<string, number>;
  /** Runs that failed because one backend request failed through every retry (not scripted, not a bug). */
  failedByBackend: number;
  lost: number;
  stuck: number;
  duplicated: number;
  runs: {
    started: number;
    /** Attempt 2 of a message after the soak SIGKILLed its runner. */
    rerunsAfterRunnerKill: number;
    /** Attempt 2 of a message whose attempt 1 never started (the service was SIGKILLed in between). */
    rerunsAfterServiceKill: number;
    unexplainedReruns: number;
    /** Run folders without a dispatch record. */
    orphanRuns: number;
    /** Pipeline time of each run that wrote a result (result.json's durationMs). */
    durationsMs: number[];
    /** Dispatch to settled of each run (a runner slot's occupancy: process start and exit included). */
    slotMs: number[];
  };
  deadLetters: {
    files: number;
    malformedPublished: number;
    malformedFound: number;
    /** Distinct valid messages whose delivered copy the backend corrupted (malformedRate). */
    corruptedValid: number;
    wronglyDeadLettered: number;
  };
  secrets: {
    filesScanned: number;
    bytesScanned: number;
    taskLogs: number;
    modelRequests: number;
    found: number;
  };
}

export function analyze(ev: Evidence): Analysis {
  const checks: Check[] = [];

  // ---- 1. every valid task ended done, failed or blocked ----
  const finalStatus: Record<string, number> = {};
  const notTerminal: string[] = [];
  let stuck = 0;
  let lost = 0;
  const mismatched: string[] = [];
  const failedByBackend: string[] = [];
  for (const t of ev.tasks) {
    const history = ev.statuses(t.id);
    const last = history.at(-1) ?? '(none)';
    finalStatus[last] = (finalStatus[last] ?? 0) + 1;
    if (!(TERMINAL as readonly string[]).includes(last)) {
      if (last === 'in_progress') stuck++;
      else lost++;
      notTerminal.push(`task ${t.id} (${t.kind}): ${history.join(' → ')}`);
    } else if (last !== t.kind) {
      const why = lastLogLine(ev.logs(t.id));
      // A backend that kept failing one request through every retry fails the run: by design.
      if (last === 'failed' && BACKEND_GAVE_UP.test(why)) failedByBackend.push(`task ${t.id}: ${why}`);
      else mismatched.push(`task ${t.id}: scripted to end ${t.kind}, ended ${last}: ${why}`);
    }
  }
  checks.push({
    name: 'every valid task ended done, failed or blocked',
    ok: notTerminal.length === 0,
    details: notTerminal,
  });
  checks.push({
    name: 'every task ended as its scripted session does (or failed: the backend kept failing a request)',
    ok: mismatched.length === 0,
    details: [...mismatched, ...failedByBackend],
  });

  // The task's logs in the backend say why it ended as it did (no log line lost for good).
  const unexplainedOutcome: string[] = [];
  for (const t of ev.tasks) {
    const last = ev.statuses(t.id).at(-1);
    const logs = ev.logs(t.id);
    const why =
      last === 'done'
        ? /pushed [0-9a-f]{12} to /
        : last === 'failed'
          ? /failed: |died without reporting a final status/
          : last === 'blocked'
            ? /blocked: /
            : undefined;
    if (why && !why.test(logs))
      unexplainedOutcome.push(`task ${t.id} ended ${last}, its logs do not say why`);
  }
  checks.push({
    name: "every task's logs in the backend explain how it ended",
    ok: unexplainedOutcome.length === 0,
    details: unexplainedOutcome,
  });

  // ---- 2. no message ran twice (explicit re-runs aside) ----
  const records = readRecords(ev.workDir);
  const byKey = new Map(records.map((r) => [r.key, r]));
  const recordedRunIds = new Set(records.map((r) => r.runId));
  const runFolders = readRunFolders(ev.workDir);
  const started = new Set(runFolders.filter((f) => f.started).map((f) => f.runId));
  const orphans = runFolders.filter((f) => f.started && !recordedRunIds.has(f.runId));
  let afterRunnerKill = 0;
  let afterServiceKill = 0;
  const unexplained: string[] = [];
  for (const r of records) {
    if (r.attempt <= 1) continue;
    const prev = byKey.get(r.key.replace(/-a\d+$/, `-a${r.attempt - 1}`));
    if (prev && ev.killedRunIds.has(prev.runId)) afterRunnerKill++;
    else if (prev && !started.has(prev.runId)) afterServiceKill++;
    else {
      unexplained.push(
        `${r.key} (task ${r.taskId}): attempt ${r.attempt}, but attempt ${r.attempt - 1} ` +
          (prev
            ? `(run ${prev.runId}, outcome ${prev.outcome ?? '?'}) was not killed by the soak`
            : 'has no record'),
      );
    }
  }
  const runsPerTask = new Map<string, number>();
  for (const f of runFolders) if (f.started) runsPerTask.set(f.taskId, (runsPerTask.get(f.taskId) ?? 0) + 1);
  const overReported: string[] = [];
  const keysPerTask = new Map<string, Set<string>>();
  for (const r of records) {
    if (!started.has(r.runId)) continue;
    const set = keysPerTask.get(r.taskId) ?? new Set<string>();
    set.add(r.key.replace(/-a\d+$/, ''));
    keysPerTask.set(r.taskId, set);
  }
  const twoMessages: string[] = [];
  for (const t of ev.tasks) {
    const inProgress = ev.statuses(t.id).filter((s) => s === 'in_progress').length;
    const runs = runsPerTask.get(String(t.id)) ?? 0;
    if (inProgress > runs) {
      overReported.push(`task ${t.id}: in_progress reported ${inProgress}× but ${runs} run(s) started`);
    }
    const keys = keysPerTask.get(String(t.id));
    if (keys && keys.size > 1)
      twoMessages.push(`task ${t.id} ran for ${keys.size} messages: ${[...keys].join(', ')}`);
  }
  const duplicated = unexplained.length + orphans.length + overReported.length + twoMessages.length;
  checks.push({
    name: 'no message ran twice (re-runs after a kill aside)',
    ok: duplicated === 0,
    details: [
      ...unexplained,
      ...orphans.map((o) => `run ${o.runId} of task ${o.taskId} has no dispatch record`),
      ...overReported,
      ...twoMessages,
    ],
  });

  // ---- 3. every malformed message is in the dead-letter store with its reason ----
  const letters = readDeadLetters(ev.workDir);
  const publishedById = new Map(ev.published.map((p) => [p.id, p]));
  const reasonsById = new Map<number, string[]>();
  const strangers: string[] = [];
  const wrongly: string[] = [];
  const corrupted = new Set<number>();
  for (const l of letters) {
    const raw = l.raw as { id?: unknown; data?: unknown } | null;
    const id = raw && typeof raw === 'object' ? Number(raw.id) : NaN;
    const p = publishedById.get(id);
    if (!p) {
      strangers.push(`${l.file}: a dead letter for no message the soak published (${l.reason})`);
      continue;
    }
    if (p.kind === 'malformed') {
      if (l.reason.trim()) reasonsById.set(id, [...(reasonsById.get(id) ?? []), l.reason]);
    } else if (isDeepStrictEqual(raw?.data, p.data)) {
      wrongly.push(`message ${id} (task ${p.taskId}) was dead-lettered intact: ${l.reason}`);
    } else {
      corrupted.add(id);
    }
  }
  const malformed = ev.published.filter((p) => p.kind === 'malformed');
  const missing = malformed
    .filter((p) => !reasonsById.has(p.id))
    .map((p) => `message ${p.id} (${p.label}) is not in the dead-letter store`);
  checks.push({
    name: 'every malformed message is in the dead-letter store with its reason',
    ok: missing.length === 0 && wrongly.length === 0 && strangers.length === 0,
    details: [...missing, ...wrongly, ...strangers],
  });

  // ---- 4. the queue, the outbox and the runners are drained ----
  const leftovers: string[] = [];
  for (const sub of ['queue/pending', 'queue/inflight', 'outbox']) {
    const n = listJson(path.join(ev.workDir, sub)).length;
    if (n > 0) leftovers.push(`${sub}: ${n} file(s) left`);
  }
  const unsettled = records.filter((r) => !r.endedAt).map((r) => `dispatch record ${r.key} never settled`);
  checks.push({
    name: 'queue, report outbox and dispatch records all settled',
    ok: leftovers.length === 0 && unsettled.length === 0,
    details: [...leftovers, ...unsettled],
  });

  // ---- 5. no secret in any log or file ----
  const scan = scanSecrets(ev);
  checks.push({ name: 'no secret in any log or file', ok: scan.found.length === 0, details: scan.found });

  const durationsMs = runFolders.flatMap((f) => (f.durationMs !== undefined ? [f.durationMs] : []));
  const slotMs = records.flatMap((r) =>
    r.startedAt && r.endedAt && started.has(r.runId) ? [Date.parse(r.endedAt) - Date.parse(r.startedAt)] : [],
  );
  return {
    checks,
    ok: checks.every((c) => c.ok),
    finalStatus,
    failedByBackend: failedByBackend.length,
    lost,
    stuck,
    duplicated,
    runs: {
      started: started.size,
      rerunsAfterRunnerKill: afterRunnerKill,
      rerunsAfterServiceKill: afterServiceKill,
      unexplainedReruns: unexplained.length,
      orphanRuns: orphans.length,
      durationsMs,
      slotMs,
    },
    deadLetters: {
      files: letters.length,
      malformedPublished: malformed.length,
      malformedFound: malformed.length - missing.length,
      corruptedValid: corrupted.size,
      wronglyDeadLettered: wrongly.length,
    },
    secrets: {
      filesScanned: scan.files,
      bytesScanned: scan.bytes,
      taskLogs: ev.tasks.length,
      modelRequests: ev.modelRequests.length,
      found: scan.found.length,
    },
  };
}

function lastLogLine(text: string): string {
  const lines = text.trimEnd().split('\n');
  const failed = lines.filter((l) => /failed: |blocked: /.test(l)).at(-1);
  return (failed ?? lines.at(-1) ?? '').slice(0, 300);
}

export function readRecords(workDir: string): DispatchRecordFile[] {
  const dir = path.join(workDir, 'dispatch');
  return listJson(dir).flatMap((name) => {
    try {
      return [JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as DispatchRecordFile];
    } catch {
      return [];
    }
  });
}

interface RunFolder {
  taskId: string;
  runId: string;
  /** The runner process was spawned (its log file exists). */
  started: boolean;
  durationMs?: number;
}

function readRunFolders(workDir: string): RunFolder[] {
  const root = path.join(workDir, 'runs');
  const out: RunFolder[] = [];
  for (const task of listDirs(root)) {
    for (const runId of listDirs(path.join(root, task))) {
      const dir = path.join(root, task, runId);
      const size = (f: string) => {
        try {
          return statSync(path.join(dir, f)).size;
        } catch {
          return -1;
        }
      };
      let durationMs: number | undefined;
      try {
        durationMs = (
          JSON.parse(readFileSync(path.join(dir, 'result.json'), 'utf8')) as { durationMs?: number }
        ).durationMs;
      } catch {
        /* no result: killed */
      }
      // The launcher creates runner.log just before it spawns the runner.
      out.push({ taskId: task, runId, started: size('runner.log') >= 0, durationMs });
    }
  }
  return out;
}

export interface DeadLetterFile {
  file: string;
  reason: string;
  raw: unknown;
}

export function readDeadLetters(workDir: string): DeadLetterFile[] {
  const dir = path.join(workDir, 'queue', 'dead');
  return listJson(dir).map((file) => {
    try {
      const v = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { reason?: unknown; raw?: unknown };
      return { file, reason: typeof v.reason === 'string' ? v.reason : '', raw: v.raw };
    } catch {
      return { file, reason: '', raw: undefined };
    }
  });
}

function scanSecrets(ev: Evidence): { found: string[]; files: number; bytes: number } {
  const needles = ev.secrets
    .filter((s) => s.value.length > 0)
    .map((s) => ({ name: s.name, bytes: Buffer.from(s.value) }));
  const found: string[] = [];
  const look = (where: string, data: Buffer | string) => {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    for (const n of needles) if (buf.includes(n.bytes)) found.push(`${where}: contains the ${n.name}`);
  };
  look("the service's output", ev.serviceOutput);
  for (const t of ev.tasks) look(`task ${t.id}'s logs in the backend`, ev.logs(t.id));
  ev.modelRequests.forEach((body, i) => look(`model request ${i + 1}`, JSON.stringify(body)));
  let files = 0;
  let bytes = 0;
  for (const file of walkFiles(ev.workDir)) {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch {
      continue; // removed while walking
    }
    files++;
    bytes += data.length;
    look(path.relative(ev.workDir, file), data);
  }
  return { found, files, bytes };
}

function* walkFiles(dir: string): Generator<string> {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) yield* walkFiles(full);
    else if (e.isFile()) yield full;
  }
}

function listDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

export function listJson(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .sort();
  } catch {
    return [];
  }
}
