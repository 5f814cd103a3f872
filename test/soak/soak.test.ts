/**
 * A short run of the soak (`npm run soak` runs 200 tasks): the real `numa-avatar run` under 5xx and
 * slow backend responses, duplicated and corrupted deliveries, malformed messages, three SIGKILLs
 * of the service (one with its cursor rewound) and runners SIGKILLed mid-task. Every check of the
 * soak must pass, and the faults must really have happened.
 */
import { describe, expect, it } from 'vitest';
import { formatReport } from '../../bench/soak/report.ts';
import { runSoak } from '../../bench/soak/run.ts';

describe('soak (short)', () => {
  it('every task ends, nothing runs twice, malformed messages are dead-lettered, no secret leaks', async () => {
    const report = await runSoak({ tasks: 20, concurrency: 4, seed: 7, timeoutS: 80, runnerKills: 2 });
    const text = formatReport(report);
    // The whole report on failure: every check with its offenders, and the figures.
    expect(
      report.analysis.checks.filter((c) => !c.ok).map((c) => c.name),
      text,
    ).toEqual([]);
    expect(report.ok, text).toBe(true);

    // The faults happened: the checks above held under them.
    expect(report.faults.serviceKills, text).toBe(3);
    expect(report.faults.cursorRewinds, text).toBe(1);
    expect(report.faults.runnerKills, text).toBeGreaterThanOrEqual(1);
    expect(report.analysis.runs.rerunsAfterRunnerKill, text).toBe(report.faults.runnerKills);
    expect(report.faults.backend.error ?? 0, text).toBeGreaterThan(0);
    expect(report.faults.backend.delay ?? 0, text).toBeGreaterThan(0);
    expect(report.messages.malformed, text).toBeGreaterThan(0);
    expect(report.analysis.deadLetters.malformedFound, text).toBe(report.messages.malformed);
    expect(report.tasks.total, text).toBe(20);
  }, 120_000);
});
