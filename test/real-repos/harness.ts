/**
 * What the real-repository suites (and bench/real-repos.ts) share: the fixtures under
 * test/fixtures/repos/ and their numa-fixture.json, a world serving them as bare repositories
 * with one application each, a task run through the real pipeline, and what to read back (the
 * task log's counts, the tool results a session got, the pushed branch).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { validate } from '../../core/config/load.ts';
import { silentLogger } from '../../core/log.ts';
import { runTask, type RunTaskOptions } from '../../container/runner/entry.ts';
import type { RunResult } from '../../container/runner/outcome.ts';
import { createBareRepo, type CreateBareRepoOptions } from '../../servers/git-http/index.ts';
import type { ScriptedSession, ScriptedTurn } from '../../servers/scripted-model/index.ts';
import { FIXTURES } from '../helpers/repo-fixtures.ts';
import { createWorld, type World } from '../helpers/world.ts';

const run = promisify(execFile);

export { FIXTURES, readFixture, type Fixture } from '../helpers/repo-fixtures.ts';

/** Folders the namespaces sandbox shows (bubblewrap.ts: /usr, /etc, /opt and the links into /usr). */
export const SANDBOX_SHOWN = ['/usr/', '/bin/', '/sbin/', '/lib/', '/lib64/', '/opt/'];

/** A scripted turn calling one of the agent's tools. */
export const toolTurn = (name: string, args: Record<string, unknown>): ScriptedTurn => ({
  tool_calls: [{ name, arguments: args }],
});

/** A world whose git server holds these repositories, each an application of the backend's. */
export async function repoWorld(
  sessions: ScriptedSession[],
  repos: Record<string, CreateBareRepoOptions>,
): Promise<{ world: World; apps: Record<string, number> }> {
  const world = await createWorld({ model: { turns: [], sessions } });
  const apps: Record<string, number> = {};
  for (const [name, opts] of Object.entries(repos)) {
    await createBareRepo(path.join(world.root, 'git'), name, opts);
    apps[name] = Number(
      world.backend.store.createApplication({ name, git_repo_url: world.git.repoUrl(name), owner: 'test' })
        .id,
    );
  }
  return { world, apps };
}

/** A fixture, as createBareRepo copies it. */
export const fromFixture = (name: string): CreateBareRepoOptions => ({
  sourceDir: path.join(FIXTURES, name),
});

export interface RealRun {
  task: { id: number; code_branch: string };
  /** The task's branch (task.code_branch). */
  branch: string;
  result: RunResult;
  log: string;
  /** The application's bare repository. */
  bare: string;
}

/** A task of application `repo` run by the real pipeline, with the world's configuration and `values` over it. */
export async function runOn(
  world: World,
  apps: Record<string, number>,
  repo: string,
  title: string,
  values: Record<string, unknown> = {},
  opts: Pick<RunTaskOptions, 'blobs' | 'codeCache'> = {},
): Promise<RealRun> {
  const t = world.backend.store.createTask({ title, description: title, application_id: apps[repo]! });
  const config = validate(world.configValues(values), 'test');
  const lines: string[] = [];
  const result = await runTask({
    loaded: { config, workDir: config.work_dir, fileValues: {} },
    taskId: String(t.id),
    logger: silentLogger,
    onLine: (l) => lines.push(l),
    ...opts,
  });
  return {
    task: { id: Number(t.id), code_branch: String(t.code_branch) },
    branch: String(t.code_branch),
    result,
    log: lines.join('\n'),
    bare: path.join(world.root, 'git', `${repo}.git`),
  };
}

/** The contents of the tool results of one session, in order (from its last request). */
export function toolResults(world: World, match: string): string[] {
  const last = world.model
    .requests()
    .map((r) => r.body as { messages?: Array<{ role: string; content?: unknown }> })
    .filter((b) => JSON.stringify(b.messages?.find((m) => m.role === 'user')?.content ?? '').includes(match))
    .at(-1);
  return (last?.messages ?? [])
    .filter((m) => m.role === 'tool')
    .map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content)));
}

/** The counts in the task log's lines (the verifier's): both must be there. */
export function loggedCounts(log: string): {
  before: number;
  beforeFailed: number;
  after: number;
  afterFailed: number;
} {
  const before = /baseline \(tests before the change\): (\d+) passed, (\d+) failed/.exec(log);
  const after = /tests after the change: (\d+) passed, (\d+) failed/.exec(log);
  expect(before, log).not.toBeNull();
  expect(after, log).not.toBeNull();
  return {
    before: Number(before![1]),
    beforeFailed: Number(before![2]),
    after: Number(after![1]),
    afterFailed: Number(after![2]),
  };
}

/** The branch's tip in the bare repository, or undefined (rev-parse --verify -q fails). */
export function tipOf(bare: string, branch: string): Promise<string | undefined> {
  return run('git', ['--git-dir', bare, 'rev-parse', '--verify', '-q', `refs/heads/${branch}`]).then(
    (r) => r.stdout.trim() || undefined,
    () => undefined,
  );
}

/** The files the branch's tip commit changed (git show --name-only), sorted. */
export async function committedFiles(bare: string, branch: string): Promise<string[]> {
  const { stdout } = await run('git', [
    '--git-dir',
    bare,
    'show',
    '--name-only',
    '--format=',
    `refs/heads/${branch}`,
  ]);
  return stdout.split('\n').filter(Boolean).sort();
}
