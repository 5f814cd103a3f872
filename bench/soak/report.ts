/** The soak's report as text: the checks (with every offender when one fails), then the figures. */
import type { SoakReport } from './run.ts';

export function formatReport(r: SoakReport): string {
  const a = r.analysis;
  const out: string[] = [];
  const o = r.options;
  out.push(
    `numa-avatar soak (local mode): ${r.tasks.total} tasks, concurrency ${o.concurrency}, seed ${o.seed}, ` +
      `limit ${o.timeoutS} s, node ${process.version}`,
  );
  out.push('');
  out.push('checks');
  for (const c of a.checks) {
    out.push(`  ${c.ok ? 'PASS' : 'FAIL'}  ${c.name}`);
    const shown = c.ok ? c.details.slice(0, 3) : c.details.slice(0, 40);
    for (const d of shown) out.push(`          ${d}`);
    if (c.details.length > shown.length) out.push(`          … and ${c.details.length - shown.length} more`);
  }
  out.push('');
  const f = r.faults;
  const b = f.backend;
  const kinds = Object.entries(r.tasks.byKind)
    .map(([k, v]) => `${v} scripted to end ${k}`)
    .join(', ');
  const final = Object.entries(a.finalStatus)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const d = a.runs.durationsMs;
  const rows: Array<[string, string]> = [
    ['tasks', `${r.tasks.total} (${kinds})`],
    [
      'final status',
      `${final} (of the failed: ${a.failedByBackend} because a backend request failed through every retry)`,
    ],
    [
      'messages published',
      `${r.messages.published}: ${r.messages.valid} valid, ${r.messages.malformed} malformed, ` +
        `${r.messages.redriven} published again after every delivered copy came corrupted`,
    ],
    ['faults: backend 5xx responses', String(b.error ?? 0)],
    ['faults: backend responses slower than the timeout', `${b.delay ?? 0} (held ${f.slowResponseMs} ms)`],
    ['faults: duplicated message deliveries (responses)', String(b.duplicate ?? 0)],
    ['faults: message copies corrupted by the backend', String(b.malformed ?? 0)],
    ['faults: malformed messages published', String(f.malformedPublished)],
    [
      'faults: service SIGKILLs and restarts',
      `${f.serviceKills}${f.cursorRewinds ? ` (cursor rewound ${f.cursorRewinds}×: ${f.redelivered} messages delivered again)` : ''}`,
    ],
    ['faults: runner SIGKILLs mid-task', String(f.runnerKills)],
    [
      'runs started',
      `${a.runs.started}: re-runs (attempt 2) after a runner kill ${a.runs.rerunsAfterRunnerKill}, ` +
        `after a service kill before the runner started ${a.runs.rerunsAfterServiceKill}, unexplained ${a.runs.unexplainedReruns}`,
    ],
    [
      'dead letters',
      `${a.deadLetters.files} files: ${a.deadLetters.malformedFound}/${a.deadLetters.malformedPublished} malformed messages, ` +
        `${a.deadLetters.corruptedValid} valid messages whose delivered copy came corrupted, ` +
        `${a.deadLetters.wronglyDeadLettered} valid messages dead-lettered intact`,
    ],
    ['lost', String(a.lost)],
    ['duplicated', String(a.duplicated)],
    ['stuck', String(a.stuck)],
    [
      'secrets found',
      `${a.secrets.found} (scanned the service output, ${a.secrets.taskLogs} task logs, ` +
        `${a.secrets.modelRequests} model requests, ${a.secrets.filesScanned} files / ${mb(a.secrets.bytesScanned)} in the work dir)`,
    ],
    ['run time (pipeline: in_progress → final status)', dist(d)],
    ['runner slot time (dispatch → settled)', dist(a.runs.slotMs)],
    ['scripted model errors', String(r.modelErrors.length)],
    [
      'wall time',
      `${r.wallSeconds.toFixed(1)} s (${((r.tasks.total / r.wallSeconds) * 60).toFixed(1)} tasks/min)` +
        (r.timedOut ? ' — TIMED OUT' : '') +
        (r.interrupted ? ' — INTERRUPTED' : ''),
    ],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  out.push('figures');
  for (const [k, v] of rows) out.push(`  ${k.padEnd(width)}  ${v}`);
  if (r.root) out.push('', `kept: ${r.root} (work dir: work/, service output: service.log)`);
  out.push('', r.ok ? 'soak: all checks passed' : 'soak: FAILED');
  return out.join('\n');
}

function dist(xs: number[]): string {
  return xs.length ? `median ${s(pct(xs, 0.5))}, p95 ${s(pct(xs, 0.95))}, max ${s(Math.max(...xs))}` : 'n/a';
}

function pct(xs: number[], p: number): number {
  const sorted = [...xs].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function s(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
