/** The runner's EMF metrics: the record's shape (what CloudWatch extracts), values per outcome, token usage, cost. */
import { describe, expect, it } from 'vitest';
import {
  emitRunMetrics,
  runMetricsRecord,
  UsageMeter,
  type RunOutcome,
} from '../../container/runner/metrics.ts';

describe('runner EMF metrics', () => {
  it('is a valid EMF record: namespace NumaAvatar, dimension service, every metric declared and valued', () => {
    const rec = runMetricsRecord(
      {
        outcome: 'done',
        durationSeconds: 61.23456,
        promptTokens: 1200,
        completionTokens: 300,
        costUsd: 0.00036,
        taskId: '123',
        runId: 'r1',
        attempt: 2,
      },
      1_700_000_000_123,
    );
    expect(rec._aws.Timestamp).toBe(1_700_000_000_123);
    const directive = rec._aws.CloudWatchMetrics[0]!;
    expect(directive.Namespace).toBe('NumaAvatar');
    expect(directive.Dimensions).toEqual([['service']]);
    expect(rec.service).toBe('numa-avatar');
    expect(directive.Metrics).toEqual([
      { Name: 'RunsDone', Unit: 'Count' },
      { Name: 'RunsFailed', Unit: 'Count' },
      { Name: 'RunsBlocked', Unit: 'Count' },
      { Name: 'RunDurationSeconds', Unit: 'Seconds' },
      { Name: 'RunPromptTokens', Unit: 'Count' },
      { Name: 'RunCompletionTokens', Unit: 'Count' },
      { Name: 'RunCostUsd', Unit: 'None' },
    ]);
    // Every declared metric has a numeric value at the top level (EMF drops the record otherwise).
    for (const m of directive.Metrics) expect(typeof rec[m.Name]).toBe('number');
    expect(rec).toMatchObject({
      RunsDone: 1,
      RunsFailed: 0,
      RunsBlocked: 0,
      RunDurationSeconds: 61.235,
      RunPromptTokens: 1200,
      RunCompletionTokens: 300,
      RunCostUsd: 0.00036,
      task_id: '123',
      run_id: 'r1',
      attempt: 2,
      status: 'done',
    });
  });

  it.each<[RunOutcome, number, number, number]>([
    ['done', 1, 0, 0],
    ['failed', 0, 1, 0],
    ['blocked', 0, 0, 1],
    // The stopped-task handler counts a runner that ended without its result (RunnerCrashes).
    ['crash', 0, 0, 0],
  ])('%s counts as done %i, failed %i, blocked %i', (outcome, done, failed, blocked) => {
    const rec = runMetricsRecord({ outcome, durationSeconds: 1 }, 0);
    expect([rec.RunsDone, rec.RunsFailed, rec.RunsBlocked]).toEqual([done, failed, blocked]);
  });

  it('leaves the cost out when it is not known, and tokens default to 0', () => {
    const rec = runMetricsRecord({ outcome: 'failed', durationSeconds: 2, errorCode: 'GIT_AUTH' }, 0);
    expect(rec._aws.CloudWatchMetrics[0]!.Metrics.map((m) => m.Name)).not.toContain('RunCostUsd');
    expect(rec).not.toHaveProperty('RunCostUsd');
    expect(rec).toMatchObject({ RunPromptTokens: 0, RunCompletionTokens: 0, error_code: 'GIT_AUTH' });
  });

  it('writes one JSON line', () => {
    const lines: string[] = [];
    emitRunMetrics(
      { outcome: 'blocked', durationSeconds: 3 },
      { write: (l) => lines.push(l), now: () => 42 },
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ _aws: { Timestamp: 42 }, RunsBlocked: 1 });
  });

  it('sums the tokens and cost of the model calls: reported usage, else the estimate, nothing for a cached answer', () => {
    const meter = new UsageMeter();
    meter.record({ type: 'request' });
    meter.record({ type: 'response', usage: { promptTokens: 100, completionTokens: 10 }, costUsd: 0.5 });
    meter.record({
      type: 'response',
      usage: null,
      estimatedUsage: { promptTokens: 50, completionTokens: 5 },
      costUsd: 0.25,
    });
    meter.record({ type: 'response', usage: null, cached: true, costUsd: 0 });
    meter.record({ type: 'response', usage: { promptTokens: 1, completionTokens: 1 }, costUsd: null });
    expect(meter).toMatchObject({ promptTokens: 151, completionTokens: 16, costUsd: 0.75, responses: 4 });
  });
});
