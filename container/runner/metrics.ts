/**
 * The runner's CloudWatch metrics, in the Embedded Metric Format: one JSON line on stdout at the
 * end of a run, which CloudWatch Logs turns into metrics in the namespace `NumaAvatar` with the
 * single dimension `service=numa-avatar` (the dashboard and the failure-rate alarm read them).
 *
 *   RunsDone, RunsFailed, RunsBlocked   Count, 1 for the outcome and 0 for the others; all 0 for a
 *                                       `crash`, which the stopped-task handler counts (RunnerCrashes)
 *   RunDurationSeconds                  Seconds
 *   RunPromptTokens, RunCompletionTokens Count (as the model reported them)
 *   RunCostUsd                          None, only when the model's price is known (model.prices)
 *
 * task_id, run_id and status ride along as properties (searchable in Logs Insights, not dimensions).
 */

export const METRICS_NAMESPACE = 'NumaAvatar';
export const SERVICE_NAME = 'numa-avatar';

/** `crash`: the runner stopped without a result of its own (the stopped-task handler reports it failed). */
export type RunOutcome = 'done' | 'failed' | 'blocked' | 'crash';

export interface RunMetrics {
  outcome: RunOutcome;
  durationSeconds: number;
  promptTokens?: number;
  completionTokens?: number;
  costUsd?: number;
  taskId?: string;
  runId?: string;
  attempt?: number;
  errorCode?: string;
}

type Unit = 'Count' | 'Seconds' | 'None';

export interface EmfRecord {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: string; Unit: Unit }>;
    }>;
  };
  service: string;
  [key: string]: unknown;
}

/** The EMF record of one run. */
export function runMetricsRecord(m: RunMetrics, timestamp: number): EmfRecord {
  const values: Array<[string, Unit, number]> = [
    ['RunsDone', 'Count', m.outcome === 'done' ? 1 : 0],
    ['RunsFailed', 'Count', m.outcome === 'failed' ? 1 : 0],
    ['RunsBlocked', 'Count', m.outcome === 'blocked' ? 1 : 0],
    ['RunDurationSeconds', 'Seconds', round(Math.max(0, m.durationSeconds), 3)],
    ['RunPromptTokens', 'Count', m.promptTokens ?? 0],
    ['RunCompletionTokens', 'Count', m.completionTokens ?? 0],
  ];
  if (m.costUsd !== undefined && Number.isFinite(m.costUsd))
    values.push(['RunCostUsd', 'None', round(m.costUsd, 6)]);
  const record: EmfRecord = {
    _aws: {
      Timestamp: Math.round(timestamp),
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [['service']],
          Metrics: values.map(([Name, Unit]) => ({ Name, Unit })),
        },
      ],
    },
    service: SERVICE_NAME,
    status: m.outcome,
  };
  if (m.taskId !== undefined) record.task_id = m.taskId;
  if (m.runId !== undefined) record.run_id = m.runId;
  if (m.attempt !== undefined) record.attempt = m.attempt;
  if (m.errorCode !== undefined) record.error_code = m.errorCode;
  for (const [name, , value] of values) record[name] = value;
  return record;
}

/** Writes the run's EMF line (default: stdout, where the awslogs driver picks it up). */
export function emitRunMetrics(
  m: RunMetrics,
  opts: { write?: (line: string) => void; now?: () => number } = {},
): void {
  const write = opts.write ?? ((line: string) => process.stdout.write(line + '\n'));
  write(JSON.stringify(runMetricsRecord(m, (opts.now ?? Date.now)())));
}

/**
 * Sums a run's model usage from the agent's events: each `response` event carries the tokens the
 * call spent (as the provider reported them, else the agent's estimate; none for an answer from
 * the model cache) and its cost at `model.prices` (null when the model has no price).
 */
export class UsageMeter {
  promptTokens = 0;
  completionTokens = 0;
  /** USD of the calls that had a price. */
  costUsd = 0;
  /** Model calls answered, cached ones included. */
  responses = 0;

  record(event: {
    type: string;
    usage?: TokenCount | null;
    estimatedUsage?: TokenCount;
    costUsd?: number | null;
    cached?: boolean;
  }): void {
    if (event.type !== 'response') return;
    this.responses++;
    const spent = event.cached ? undefined : (event.usage ?? event.estimatedUsage);
    if (spent) {
      this.promptTokens += spent.promptTokens;
      this.completionTokens += spent.completionTokens;
    }
    if (typeof event.costUsd === 'number') this.costUsd += event.costUsd;
  }
}

interface TokenCount {
  promptTokens: number;
  completionTokens: number;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
