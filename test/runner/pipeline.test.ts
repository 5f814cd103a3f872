/**
 * The runner pipeline in-process (`runTask`), against the reference backend, a real git server and
 * the scripted model: existing and new branches, blocked, backend 404, a missing model key, an
 * interrupted run, a push rejected because the branch moved (replayed when it applies, failed when
 * it conflicts), and snapshots of failed work.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validate } from '../../core/config/load.ts';
import { silentLogger } from '../../core/log.ts';
import { runTask } from '../../container/runner/entry.ts';
import { EXIT_CODES } from '../../container/runner/outcome.ts';
import { loadRecordedSession, type ScriptedTurn } from '../../servers/scripted-model/index.ts';
import {
  API_TOKEN,
  createWorld,
  GIT_TOKEN,
  MODEL_KEY,
  RECORDED_SESSION,
  type World,
} from '../helpers/world.ts';

const run = promisify(execFile);

const blockedTurns: ScriptedTurn[] = [
  {
    tool_calls: [
      { name: 'ask_clarification', arguments: { question: 'Which locale should titleCase follow?' } },
    ],
  },
];

/** Adds a line to README.md and finishes (a change that does not touch src/strings.js). */
const readmeTurns = (delayMs: number): ScriptedTurn[] => [
  { tool_calls: [{ name: 'read_file', arguments: { path: 'README.md' } }], delayMs },
  {
    tool_calls: [
      {
        name: 'edit_file',
        arguments: { path: 'README.md', old_text: 'Run the tests', new_text: 'Always run the tests' },
      },
    ],
  },
  {
    tool_calls: [
      { name: 'finish', arguments: { summary: 'README wording', commit_message: 'README: wording' } },
    ],
  },
];

describe('runner pipeline', () => {
  let world: World;
  let scratch: string;

  beforeAll(async () => {
    world = await createWorld({
      model: {
        turns: [],
        sessions: [
          { match: 'BLOCKED', turns: blockedTurns },
          { match: 'MOVED-OK', turns: readmeTurns(1500) },
          { match: 'MOVED-CONFLICT', turns: readmeTurns(1500) },
          { match: 'INTERRUPT', turns: readmeTurns(5000) },
          { match: 'titleCase', turns: loadRecordedSession(RECORDED_SESSION), repeat: true },
        ],
      },
    });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'numa-pipeline-'));
  });

  afterAll(async () => {
    await world?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  const loaded = (extra: Record<string, unknown> = {}) => {
    const config = validate(world.configValues(extra), 'test');
    return { config, workDir: config.work_dir, fileValues: {} };
  };

  /** Pushes a commit that changes `file` on `branch` of the bare repository, from a separate clone. */
  const pushFromElsewhere = async (branch: string, file: string, content: string) => {
    const dir = await mkdtemp(path.join(scratch, 'other-'));
    await run('git', ['clone', '-q', '--branch', branch, world.bareRepo, dir]);
    await writeFile(path.join(dir, file), content);
    await run('git', ['-C', dir, 'add', '-A']);
    await run('git', [
      '-C',
      dir,
      '-c',
      'user.name=someone',
      '-c',
      'user.email=s@x',
      'commit',
      '-qm',
      `someone changed ${file}`,
    ]);
    await run('git', ['-C', dir, 'push', '-q', 'origin', branch]);
  };

  const createBranch = async (branch: string) => {
    await run('git', ['--git-dir', world.bareRepo, 'branch', branch, 'main']);
  };

  it('creates the branch from the default branch, develops, tests, pushes, reports done', async () => {
    const task = await world.createTask({ title: 'Add titleCase (new branch)' });
    const lines: string[] = [];
    const result = await runTask({
      loaded: loaded(),
      taskId: String(task.id),
      logger: silentLogger,
      onLine: (l) => lines.push(l),
    });
    expect(result).toMatchObject({ status: 'done', reported: true, branch: task.code_branch });
    expect(EXIT_CODES[result.status]).toBe(0);
    expect(world.statuses(task.id)).toEqual(['todo', 'in_progress', 'done']);
    expect(await world.remoteBranch(task.code_branch)).toBe(result.commit);
    expect(result.diffStat).toMatchObject({ files: 2 });
    expect(lines.join('\n')).toMatch(/created branch .* from it/);
    // The log lines printed locally are the ones the backend received.
    expect(world.logs(task.id)).toContain('committed');
    // The run's artifacts: result, transcript, task log, meta; no secret in any of them.
    const dir = path.join(loaded().workDir, 'runs', String(task.id), result.runId);
    expect((await readdir(dir)).sort()).toEqual([
      'meta.json',
      'result.json',
      'task.log',
      'tests.json',
      'transcript.jsonl',
    ]);
    // The verification report: the baseline (untouched branch) and the run after the change.
    const report = JSON.parse(await readFile(path.join(dir, 'tests.json'), 'utf8'));
    expect(report).toMatchObject({ outcome: 'passed', baseline: { passed: true }, after: { passed: true } });
    expect(report.after.counts.passed).toBeGreaterThan(report.baseline.counts.passed);
    expect(lines.join('\n')).toMatch(/verification: tests before \(baseline\): \d+ passed, 0 failed/);
    for (const f of await readdir(dir)) {
      const text = await readFile(path.join(dir, f), 'utf8');
      for (const secret of [GIT_TOKEN, API_TOKEN, MODEL_KEY]) expect(text).not.toContain(secret);
    }
  });

  it('works on an existing branch and pushes on top of it', async () => {
    const task = await world.createTask({
      title: 'Add titleCase (existing branch)',
      code_branch: 'feature/existing-1',
    });
    await createBranch('feature/existing-1');
    const before = await world.remoteBranch('feature/existing-1');
    const lines: string[] = [];
    const result = await runTask({
      loaded: loaded(),
      taskId: String(task.id),
      logger: silentLogger,
      onLine: (l) => lines.push(l),
    });
    expect(result.status).toBe('done');
    expect(lines.join('\n')).toMatch(/cloned feature\/existing-1 \(existing branch\)/);
    const { stdout } = await run('git', ['--git-dir', world.bareRepo, 'rev-parse', `${result.commit}^`]);
    expect(stdout.trim()).toBe(before);
  });

  it('ends blocked with the question in the logs when the agent asks for a clarification', async () => {
    const task = await world.createTask({ title: 'BLOCKED: make titles nicer' });
    const result = await runTask({ loaded: loaded(), taskId: String(task.id), logger: silentLogger });
    expect(result).toMatchObject({ status: 'blocked', reason: 'Which locale should titleCase follow?' });
    expect(EXIT_CODES[result.status]).toBe(3);
    expect(world.statuses(task.id)).toEqual(['todo', 'in_progress', 'blocked']);
    expect(world.logs(task.id)).toContain('Which locale should titleCase follow?');
    expect(await world.remoteBranch(task.code_branch)).toBeUndefined();
  });

  it('fails clearly when the task does not exist', async () => {
    const result = await runTask({ loaded: loaded(), taskId: '999999', logger: silentLogger });
    expect(result.status).toBe('failed');
    expect(result.reason).toMatch(/not found/);
    expect(result.reported).toBe(false);
  });

  it('fails with the reason in the logs when no model key is configured', async () => {
    const task = await world.createTask({ title: 'Add titleCase (no model key)' });
    const result = await runTask({
      loaded: loaded({ model: { name: 'x' } }),
      taskId: String(task.id),
      logger: silentLogger,
    });
    expect(result.status).toBe('failed');
    expect(world.statuses(task.id).at(-1)).toBe('failed');
    expect(world.logs(task.id)).toMatch(/model\.api_key is not set \(OPENAI_API_KEY\)/);
  });

  it('replays the commit on the new tip when the branch moved during the run, and pushes', async () => {
    const task = await world.createTask({
      title: 'MOVED-OK: reword the README',
      code_branch: 'feature/moved-ok',
    });
    await createBranch('feature/moved-ok');
    const running = runTask({ loaded: loaded(), taskId: String(task.id), logger: silentLogger });
    // While the agent works (the first model answer is delayed), someone else pushes to the branch.
    while (world.model.requests().filter((r) => JSON.stringify(r.body).includes('MOVED-OK')).length === 0) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await pushFromElsewhere('feature/moved-ok', 'src/other.js', 'export const other = 1;\n');
    const result = await running;
    expect(result.status).toBe('done');
    expect(world.logs(task.id)).toMatch(/push rejected/);
    expect(await world.showFile('feature/moved-ok', 'src/other.js')).toContain('other = 1');
    expect(await world.showFile('feature/moved-ok', 'README.md')).toContain('Always run the tests');
  });

  it('fails without pushing when the moved branch conflicts with the change, and keeps a snapshot', async () => {
    const task = await world.createTask({
      title: 'MOVED-CONFLICT: reword the README',
      code_branch: 'feature/moved-conflict',
    });
    await createBranch('feature/moved-conflict');
    const running = runTask({ loaded: loaded(), taskId: String(task.id), logger: silentLogger });
    while (
      world.model.requests().filter((r) => JSON.stringify(r.body).includes('MOVED-CONFLICT')).length === 0
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await pushFromElsewhere(
      'feature/moved-conflict',
      'README.md',
      '# textkit\n\nRun the tests with `make`.\n',
    );
    const theirs = await world.remoteBranch('feature/moved-conflict');
    const result = await running;
    expect(result.status).toBe('failed');
    expect(result.errorCode).toBe('GIT_PUSH_REJECTED');
    expect(await world.remoteBranch('feature/moved-conflict')).toBe(theirs);
    const patch = await readFile(
      path.join(loaded().workDir, 'runs', String(task.id), result.runId, 'failed.patch'),
      'utf8',
    );
    expect(patch).toContain('Always run the tests');
  });

  it('ends failed, not in_progress, when the run is interrupted', async () => {
    const task = await world.createTask({ title: 'INTERRUPT: reword the README' });
    const controller = new AbortController();
    const running = runTask({
      loaded: loaded(),
      taskId: String(task.id),
      logger: silentLogger,
      signal: controller.signal,
    });
    while (world.statuses(task.id).at(-1) !== 'in_progress') await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    const result = await running;
    expect(result.status).toBe('failed');
    expect(result.reason).toMatch(/interrupted/);
    expect(world.statuses(task.id)).toEqual(['todo', 'in_progress', 'failed']);
  });
});
