/**
 * The soak's checks on a work dir and a backend history made up here: a clean run passes, and
 * each kind of failure the soak looks for (stuck, lost, duplicate run, missing dead letter, valid
 * message dead-lettered, leaked secret, unsettled queue) is caught and named.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { analyze, type Evidence, type PublishedMessage, type SoakTask } from '../../bench/soak/checks.ts';

const SECRET = 'numa_secret_token_0123456789';

let workDir: string;
beforeEach(() => {
  workDir = mkdtempSync(path.join(os.tmpdir(), 'soak-checks-'));
});
afterEach(() => rmSync(workDir, { recursive: true, force: true }));

function put(rel: string, content: unknown): void {
  const file = path.join(workDir, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
}

/** A dispatch record and its run folder, as the service leaves them. */
function run(taskId: number, messageId: number, attempt: number, runId: string, spawned = true): void {
  const key = `topic-1-msg-${messageId}-a${attempt}`;
  put(`dispatch/${key}.json`, {
    key,
    runId,
    taskId: String(taskId),
    attempt,
    startedAt: '2026-01-01T00:00:00.000Z',
    endedAt: '2026-01-01T00:00:05.000Z',
    outcome: 'done',
  });
  if (spawned) put(`runs/${taskId}/${runId}/runner.log`, 'run started\n');
}

function evidence(over: Partial<Evidence> = {}, history: Record<number, string[]> = {}): Evidence {
  const tasks: SoakTask[] = [
    { id: 1, kind: 'done', branch: 'b1' },
    { id: 2, kind: 'failed', branch: 'b2' },
  ];
  const published: PublishedMessage[] = [
    { id: 1, kind: 'task', taskId: 1, data: { task_id: 1 } },
    { id: 2, kind: 'malformed', label: 'empty', data: {} },
    { id: 3, kind: 'task', taskId: 2, data: { task_id: 2 } },
  ];
  const statuses: Record<number, string[]> = {
    1: ['todo', 'in_progress', 'done'],
    2: ['todo', 'in_progress', 'failed'],
    ...history,
  };
  const logs: Record<number, string> = { 1: 'x - pushed 0123456789ab to b1', 2: 'x - failed: tests fail' };
  return {
    workDir,
    tasks,
    published,
    statuses: (id) => statuses[id] ?? [],
    logs: (id) => logs[id] ?? '',
    killedRunIds: new Set(),
    serviceOutput: 'numa-avatar running',
    modelRequests: [{ messages: [{ role: 'user', content: 'hello' }] }],
    secrets: [{ name: 'backend API token', value: SECRET }],
    ...over,
  };
}

function cleanRun(): void {
  run(1, 1, 1, 'r1');
  run(2, 3, 1, 'r3');
  put('queue/dead/0001.json', {
    at: 'now',
    reason: 'message 2: data.task_id: missing',
    source: 'topic 1',
    raw: { id: 2, topic_id: 1, data: {} },
  });
  mkdirSync(path.join(workDir, 'queue/pending'), { recursive: true });
}

const SCRIPTED =
  'every task ended as its scripted session does (or failed: the backend kept failing a request)';

const failing = (ev: Evidence) =>
  Object.fromEntries(
    analyze(ev)
      .checks.filter((c) => !c.ok)
      .map((c) => [c.name, c.details]),
  );

describe('soak checks', () => {
  it('pass on a clean run', () => {
    cleanRun();
    const a = analyze(evidence());
    expect(a.checks.filter((c) => !c.ok)).toEqual([]);
    expect(a).toMatchObject({ ok: true, lost: 0, stuck: 0, duplicated: 0 });
    expect(a.deadLetters).toMatchObject({ malformedPublished: 1, malformedFound: 1, corruptedValid: 0 });
  });

  it('name a task left in_progress (stuck) or todo (lost), and one that ended otherwise than scripted', () => {
    cleanRun();
    const a = analyze(evidence({}, { 1: ['todo', 'in_progress'], 2: ['todo', 'in_progress', 'done'] }));
    expect(a.stuck).toBe(1);
    const f = failing(evidence({}, { 1: ['todo'], 2: ['todo', 'in_progress', 'done'] }));
    expect(f['every valid task ended done, failed or blocked']).toEqual(['task 1 (done): todo']);
    expect(f[SCRIPTED]?.[0]).toMatch(/task 2: scripted to end failed, ended done/);
  });

  it('accept a run that failed because a backend request failed through every retry, and count it', () => {
    cleanRun();
    const ev = evidence(
      {
        logs: (id) =>
          id === 1
            ? 'x - failed: reading the task: BACKEND_UNAVAILABLE: GET /api/tasks/1: backend error (HTTP 503)'
            : 'x - failed: tests fail',
      },
      { 1: ['todo', 'in_progress', 'failed'] },
    );
    const a = analyze(ev);
    expect(a.checks.find((c) => c.name === SCRIPTED)?.ok).toBe(true);
    expect(a.failedByBackend).toBe(1);
    const other = evidence(
      { logs: (id) => (id === 1 ? 'x - failed: developing: MODEL_ERROR' : 'x - failed: tests fail') },
      { 1: ['todo', 'in_progress', 'failed'] },
    );
    expect(failing(other)[SCRIPTED]).toEqual([
      'task 1: scripted to end done, ended failed: x - failed: developing: MODEL_ERROR',
    ]);
  });

  it('count a re-run after a kill as explicit, and any other second run as a duplicate', () => {
    cleanRun();
    run(1, 1, 2, 'r1b');
    expect(analyze(evidence({ killedRunIds: new Set(['r1']) })).duplicated).toBe(0);
    expect(analyze(evidence({ killedRunIds: new Set(['r1']) })).runs.rerunsAfterRunnerKill).toBe(1);
    const f = failing(evidence());
    expect(f['no message ran twice (re-runs after a kill aside)']?.[0]).toMatch(
      /topic-1-msg-1-a2 \(task 1\): attempt 2, but attempt 1 \(run r1, outcome done\) was not killed by the soak/,
    );
  });

  it('explain a re-run whose first attempt never spawned a runner (the service died in between)', () => {
    cleanRun();
    rmSync(path.join(workDir, 'runs/1/r1'), { recursive: true });
    run(1, 1, 2, 'r1b');
    const a = analyze(evidence());
    expect(a.runs.rerunsAfterServiceKill).toBe(1);
    expect(a.duplicated).toBe(0);
  });

  it('flag a run without a dispatch record and more in_progress reports than runs', () => {
    cleanRun();
    put('runs/1/stray/runner.log', 'x');
    const f = failing(evidence({}, { 2: ['todo', 'in_progress', 'failed', 'in_progress', 'failed'] }));
    expect(f['no message ran twice (re-runs after a kill aside)']).toEqual([
      'run stray of task 1 has no dispatch record',
      'task 2: in_progress reported 2× but 1 run(s) started',
    ]);
  });

  it('flag a malformed message missing from the dead letters, and a valid one dead-lettered intact', () => {
    cleanRun();
    rmSync(path.join(workDir, 'queue/dead/0001.json'));
    put('queue/dead/0002.json', { reason: 'oops', raw: { id: 3, topic_id: 1, data: { task_id: 2 } } });
    put('queue/dead/0003.json', {
      reason: 'corrupted',
      raw: { id: 1, topic_id: 1, data: { task_id: null } },
    });
    const a = analyze(evidence());
    expect(a.deadLetters).toMatchObject({ malformedFound: 0, corruptedValid: 1, wronglyDeadLettered: 1 });
    expect(
      failing(evidence())['every malformed message is in the dead-letter store with its reason'],
    ).toEqual([
      'message 2 (empty) is not in the dead-letter store',
      'message 3 (task 2) was dead-lettered intact: oops',
    ]);
  });

  it('find a secret in a work-dir file, the service output, a task log or a model request, without printing it', () => {
    cleanRun();
    put('runs/1/r1/transcript.jsonl', `{"auth":"Bearer ${SECRET}"}`);
    const f = failing(
      evidence({
        serviceOutput: `token=${SECRET}`,
        logs: (id) => (id === 1 ? `pushed 0123456789ab to b1 ${SECRET}` : 'failed: x'),
        modelRequests: [{ messages: [{ role: 'tool', content: SECRET }] }],
      }),
    );
    expect(f['no secret in any log or file']).toEqual([
      "the service's output: contains the backend API token",
      "task 1's logs in the backend: contains the backend API token",
      'model request 1: contains the backend API token',
      `${path.join('runs/1/r1/transcript.jsonl')}: contains the backend API token`,
    ]);
    expect(JSON.stringify(f)).not.toContain(SECRET);
  });

  it('flag messages left in the queue and runs never settled', () => {
    cleanRun();
    put('queue/inflight/0000000000000001-aaaaaaaa.json', {});
    put('dispatch/topic-1-msg-9-a1.json', { key: 'topic-1-msg-9-a1', runId: 'r9', taskId: '1', attempt: 1 });
    expect(failing(evidence())['queue, report outbox and dispatch records all settled']).toEqual([
      'queue/inflight: 1 file(s) left',
      'dispatch record topic-1-msg-9-a1 never settled',
    ]);
  });

  it('flag a task whose logs do not say why it ended', () => {
    cleanRun();
    const f = failing(evidence({ logs: (id) => (id === 1 ? 'cloned main' : 'failed: x') }));
    expect(f["every task's logs in the backend explain how it ended"]).toEqual([
      'task 1 ended done, its logs do not say why',
    ]);
  });
});
