/**
 * The runner pipeline: one task run, from `in_progress` to `done`, `failed` or `blocked`.
 *
 *   in_progress → task → application → clone → branch → develop (agent) → tests → repair rounds
 *   → commit → push (rebase onto a moved remote when that applies cleanly and tests still pass)
 *   → done (only after the push succeeded)
 *
 * Every failure ends the run `failed` with the reason in the task's logs and nothing half-pushed;
 * the working state is kept as a snapshot. The same pipeline runs in local mode and on Fargate:
 * only the adapters differ.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { AvatarError, describeError, isAvatarError } from '../../core/errors.ts';
import { scrubAgentEnv } from '../../core/env.ts';
import { commitIdentity, configForApplication, secretsOf, type Config } from '../../core/config/schema.ts';
import type { Logger } from '../../core/log.ts';
import type { TaskMessage } from '../../core/message.ts';
import type { NumaClient } from '../../core/numa/client.ts';
import type { Application, Task } from '../../core/numa/schemas.ts';
import type { BlobStore } from '../../core/ports.ts';
import type { Redactor } from '../../core/redact.ts';
import type { AgentOutcome, TestRunResult } from './agent/agent.ts';
import { credentialsFromUrl, stripCredentials, type GitEngine } from './git/index.ts';
import type { RunResult } from './outcome.ts';
import { checkoutFromCodeCache, saveToCodeCache, type CodeCache } from './code-cache.ts';
import { prepareIntro } from './context/intro.ts';
import { Snapshots } from './snapshot.ts';
import type { TaskLog } from './task-log.ts';
import { detectTestCommand } from './testing/detect.ts';
import { DepsCache } from './verify/deps-cache.ts';
import { excludeBuildOutput } from './git/build-output.ts';
import { Verifier } from './verify/index.ts';
import type { Sandbox } from './sandbox/types.ts';
import { guardGitDir, recordGitDir } from './sandbox/git-dir.ts';
import type { SandboxProvider } from './sandbox/provider.ts';

export interface Developer {
  develop(): Promise<AgentOutcome>;
  repair(failure: TestRunResult): Promise<AgentOutcome>;
  readonly filesTouched: ReadonlySet<string>;
  /** One line for the run's summary: files changed, steps, tokens, cost, model and tool time. */
  summary(): string;
}

export interface DeveloperContext {
  repoDir: string;
  task: Task;
  runTests: () => Promise<TestRunResult>;
  signal: AbortSignal;
  log: (line: string) => void;
  /** The agent's first message (the brief and the project's context); absent when it could not be built. */
  intro?: string;
  /** Where the agent's commands run. */
  sandbox: Sandbox;
}

export interface PipelineDeps {
  config: Config;
  client: NumaClient;
  git: GitEngine;
  blobs: BlobStore;
  /** May load the agent (and the model's SDK) only now, after the clone: the runner starts sooner. */
  createDeveloper: (ctx: DeveloperContext) => Developer | Promise<Developer>;
  taskLog: TaskLog;
  logger: Logger;
  redactor: Redactor;
  /** Scratch space for this run (the clone lives here). */
  scratchDir: string;
  signal?: AbortSignal;
  now?: () => number;
  /** The repositories' git objects kept between runs (S3 on AWS); without it every run clones. */
  codeCache?: CodeCache;
  /** Where untrusted code (the agent's commands, the project's setup, tests and gates) runs. */
  sandbox: SandboxProvider;
}

export interface RunRequest {
  taskId: string;
  runId: string;
  message?: TaskMessage;
}

export async function runPipeline(deps: PipelineDeps, req: RunRequest): Promise<RunResult> {
  const now = deps.now ?? Date.now;
  const started = now();
  const { config, client, taskLog } = deps;
  const statuses = config.statuses;
  const repoDir = path.join(deps.scratchDir, 'repo');
  const snapshots = new Snapshots(deps.blobs, req.taskId, req.runId, deps.redactor);
  const timeout = AbortSignal.timeout(config.limits.run_timeout * 1000);
  const signal = deps.signal ? AbortSignal.any([deps.signal, timeout]) : timeout;
  const log = (text: string) => taskLog.line(text);

  const state: {
    task?: Task;
    app?: Application;
    cloned: boolean;
    baseOid?: string;
    step: string;
  } = { cloned: false, step: 'starting' };
  // Once the sandbox is open, every git call first checks that .git is still the runner's own.
  let git = deps.git;

  const finish = async (
    status: RunResult['status'],
    extra: Partial<RunResult>,
    statusName: string,
  ): Promise<RunResult> => {
    let reported = false;
    // The logs that explain the outcome reach the task before its final status does.
    await taskLog.flushWithin(5000);
    try {
      await client.updateStatus(req.taskId, statusName);
      reported = true;
    } catch (err) {
      log(`could not report status "${statusName}": ${describeError(err)}`);
    }
    const result: RunResult = {
      status,
      taskId: req.taskId,
      runId: req.runId,
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(now()).toISOString(),
      durationMs: now() - started,
      reported,
      ...extra,
    };
    await snapshots
      .saveResult(result)
      .catch((err: unknown) =>
        deps.logger.warn('could not save the run result', { error: describeError(err) }),
      );
    return result;
  };

  const keepSnapshot = async (label: string) => {
    if (!state.cloned) return;
    try {
      const patch = await git.diffPatch(repoDir, state.baseOid);
      const key = await snapshots.savePatch(label, patch);
      log(`working state kept as a snapshot: ${key} (${patch.length} bytes)`);
    } catch (err) {
      log(`could not save a snapshot of the working state: ${describeError(err)}`);
    }
  };

  let openSandbox: Sandbox | undefined;
  try {
    const attempt = req.message?.attempt ?? 1;
    log(
      `run ${req.runId} started by ${config.avatar.name} (${config.avatar.id})` +
        (attempt > 1 ? `, attempt ${attempt}` : '') +
        (req.message?.reason ? `, re-run requested: ${req.message.reason}` : ''),
    );
    state.step = 'reporting in_progress';
    await client.updateStatus(req.taskId, statuses.in_progress, { signal });

    state.step = 'reading the task';
    const task = await client.getTask(req.taskId, { signal });
    state.task = task;
    log(`task ${task.id}: ${task.title} (branch ${task.code_branch})`);

    state.step = 'reading the application';
    const app = await client.getApplication(task.application_id, { signal });
    state.app = app;
    const repoUrl = app.git_repo_url;
    // The URL comes from the backend: a local path, file://, ssh:// or git:// would let it point
    // the runner (which holds the work dir and can read the machine) at repositories on this
    // machine or at transports the host policy does not cover.
    if (!/^https?:\/\//i.test(repoUrl.trim())) {
      throw new AvatarError(
        'GIT_HOST_NOT_ALLOWED',
        `application ${app.id}: git_repo_url ${JSON.stringify(stripCredentials(repoUrl))} is not an http(s) URL; ` +
          'the runner clones and pushes over https only (http to loopback)',
      );
    }
    // Credentials in the repository URL are a secret of this run from now on, wherever they appear
    // (a token alone in the user part, as in https://TOKEN@github.com/…, is the secret too).
    const inUrl = credentialsFromUrl(repoUrl);
    if (inUrl) deps.redactor.add(inUrl.password || inUrl.username);
    log(`application ${app.id} ${app.name}: repository ${repoUrl}`);
    // Its own settings (applications.<id>) for what verifies its changes.
    const appConfig = configForApplication(config, app.id);
    if (appConfig !== config) {
      const own = config.applications[String(app.id)]!;
      log(
        `application ${app.id} has its own settings (applications.${app.id}): ${Object.keys(own)
          .filter((k) => own[k as keyof typeof own] !== undefined)
          .join(', ')}`,
      );
    }

    state.step = 'cloning';
    await rm(deps.scratchDir, { recursive: true, force: true });
    // Private from the start: the run's repository is nobody else's to read.
    await mkdir(deps.scratchDir, { recursive: true, mode: 0o700 });
    const remote = await git.lsRemote(repoUrl);
    const branch = task.code_branch;
    const branchExists = Object.hasOwn(remote.branches, branch);
    const t0 = now();
    const fromCache =
      deps.codeCache !== undefined &&
      (await checkoutFromCodeCache({
        cache: deps.codeCache,
        git,
        url: repoUrl,
        dir: repoDir,
        branch,
        branchExists,
        defaultBranch: remote.defaultBranch,
        log,
        logger: deps.logger,
      }));
    if (fromCache) {
      state.cloned = true;
      log(
        `restored the repository from the code cache and fetched ${branchExists ? branch : remote.defaultBranch} ` +
          `with ${git.name} git in ${now() - t0} ms` +
          (branchExists ? ' (existing branch)' : `; created branch ${branch} from it`),
      );
    } else if (branchExists) {
      await git.clone({ url: repoUrl, dir: repoDir, branch, depth: 1 });
      state.cloned = true;
      log(`cloned ${branch} (existing branch) with ${git.name} git in ${now() - t0} ms`);
    } else {
      await git.clone({ url: repoUrl, dir: repoDir, branch: remote.defaultBranch, depth: 1 });
      state.cloned = true;
      await git.checkoutNewBranch(repoDir, branch);
      log(
        `cloned ${remote.defaultBranch} with ${git.name} git in ${now() - t0} ms; created branch ${branch} from it`,
      );
    }
    state.baseOid = await git.headOid(repoDir);
    await excludeBuildOutput(repoDir);
    const gitDir = await recordGitDir(repoDir);
    const sandbox = await deps.sandbox.open(repoDir, deps.scratchDir, log);
    openSandbox = sandbox;
    git = guardGitDir(deps.git, repoDir, gitDir);
    log(
      sandbox.mode === 'none'
        ? `WARNING: sandbox: ${sandbox.description}`
        : `sandbox: ${sandbox.description}`,
    );
    await snapshots.saveMeta({ task, application: app, branch, base: state.baseOid, engine: git.name });

    state.step = 'detecting the test command';
    const detected = await detectTestCommand(repoDir, appConfig.tests.command);
    if (detected) log(`test command: ${detected.command} (${detected.source})`);
    else log('no test command detected and none configured (tests.command): the change is not tested');

    // Verification (container/runner/verify): setup steps, the baseline on the untouched branch, then
    // after the agent: test classification (new / pre-existing / flaky), repair rounds, quality gates.
    const verify = new Verifier({
      repoDir,
      config: appConfig,
      detected,
      installCommand: appConfig.tests.setup ?? detected?.setup,
      task,
      git,
      baseOid: state.baseOid,
      secrets: secretsOf(config),
      onSecret: (value) => deps.redactor.add(value),
      // The project's own commands (setup, tests, gates) get no secret, by name or by value.
      env: scrubAgentEnv(process.env, deps.redactor, { CI: 'true' }),
      sandbox,
      depsCache: appConfig.tests.dependency_cache
        ? { cache: new DepsCache({ blobs: deps.blobs }), repoUrl }
        : undefined,
      log,
      step: (name) => {
        state.step = name;
      },
      signal,
      save: (report) => snapshots.saveReport('tests', report),
    });
    await verify.prepare();
    await verify.setup();
    await verify.baseline();
    // What the setup steps, the install and the baseline tests left in the work tree (build
    // output, egg-info, a lockfile an install rewrote) is theirs, not the change's: never committed.
    const madeBySetup = new Set(await git.changedFiles(repoDir));
    if (madeBySetup.size > 0) {
      log(
        `the setup and the baseline tests left ${madeBySetup.size} path(s) that git does not ignore; ` +
          `they are not committed: ${[...madeBySetup].slice(0, 10).join(', ')}${madeBySetup.size > 10 ? ', …' : ''}`,
      );
    }
    const runTests = () => verify.runTestsForAgent();

    state.step = 'reading the task and the project';
    const prepared = await prepareIntro({
      repoDir,
      task,
      client,
      budgetTokens: config.context.budget_tokens,
      repoMapTokens: config.context.repo_map_tokens,
      testCommand: appConfig.tests.command,
      log,
      signal,
    });
    state.step = 'developing';
    const developer = await deps.createDeveloper({
      repoDir,
      task,
      runTests,
      signal,
      log,
      intro: withEnvironmentProblem(prepared?.intro, verify.environmentProblem()),
      sandbox,
    });
    let outcome = await developer.develop();
    let round = 0;
    for (;;) {
      if (outcome.kind === 'blocked') {
        log(`blocked: the agent needs a clarification: ${outcome.question}`);
        await keepSnapshot('blocked');
        return await finish('blocked', { reason: outcome.question, branch }, statuses.blocked);
      }
      if (outcome.kind === 'failed')
        throw new AvatarError(outcome.code, `the agent stopped: ${outcome.reason}`);
      // Never green without a test that ran: tests that cannot run are a problem to repair, and
      // in the end the run's failure, unless verify.allow_unverified lets the change go on marked so.
      const problem = await verify.verifyChange({ canRepair: round < config.limits.repair_rounds });
      if (!problem) break;
      if (!problem.repairable) {
        log(problem.summary);
        verify.logReport();
        throw problem.error;
      }
      if (round >= config.limits.repair_rounds) {
        log(
          `${problem.summary} after ${round} repair round(s) (limits.repair_rounds = ${config.limits.repair_rounds})`,
        );
        verify.logReport();
        throw problem.error;
      }
      round++;
      verify.noteRepairRound(round);
      state.step = `repair round ${round}`;
      log(`repair round ${round} of ${config.limits.repair_rounds}: ${problem.summary}; the agent gets them`);
      outcome = await developer.repair(problem.request);
    }
    await verify.beforeCommit();

    state.step = 'committing';
    const changed = (await git.changedFiles(repoDir)).filter((p) => !madeBySetup.has(p));
    if (changed.length === 0)
      throw new AvatarError(
        'NO_CHANGES',
        `the agent finished without changing any file${madeBySetup.size ? ' (besides what the setup made)' : ''}`,
      );
    const commitMessage = outcome.commitMessage.trim() || `${task.title} (task ${task.id})`;
    const author = commitIdentity(config);
    let commit = await git.commit(repoDir, { message: commitMessage, author, paths: changed });
    log(`committed ${commit.slice(0, 12)}: ${firstLine(commitMessage)} (${changed.length} file(s))`);

    state.step = 'pushing';
    let pushed = await git.push(repoDir, branch);
    if (!pushed.ok) {
      log(`push rejected (${pushed.reason}); fetching ${branch} and replaying the commit on its new tip`);
      const tip = await git.fetchBranch(repoDir, branch);
      if (!tip)
        throw new AvatarError(
          'GIT_PUSH_REJECTED',
          `push of ${branch} rejected and the branch cannot be fetched`,
        );
      const rebased = await git.rebaseOnto(repoDir, branch, tip);
      if (!rebased.ok) {
        throw new AvatarError(
          'GIT_PUSH_REJECTED',
          `push rejected: ${branch} moved on the remote and the change does not apply on it (${rebased.reason})`,
        );
      }
      commit = rebased.oid;
      const again = await verify.checkTests();
      if (again.unrunnable !== undefined && !verify.allowUnverified) {
        verify.logReport();
        throw new AvatarError(
          'TESTS_NOT_RUN',
          `tests could not run on the new tip of ${branch}: ${again.unrunnable}`,
        );
      }
      if (again.newFailures.length > 0) {
        verify.logReport();
        throw new AvatarError(
          'TESTS_FAILED',
          `the change no longer passes the tests on the new tip of ${branch}`,
        );
      }
      pushed = await git.push(repoDir, branch);
      if (!pushed.ok)
        throw new AvatarError('GIT_PUSH_REJECTED', `push of ${branch} rejected again: ${pushed.reason}`);
    }
    const diffStat = await git.diffStat(repoDir, state.baseOid, commit);
    log(
      `pushed ${commit.slice(0, 12)} to ${branch}: ${diffStat.files} file(s), +${diffStat.insertions} -${diffStat.deletions}`,
    );
    verify.logReport();
    log(
      `summary: ${outcome.summary ? firstLine(outcome.summary) + '; ' : ''}${verify.summaryText()}; ` +
        `${developer.summary()}, ${round} repair round(s)`,
    );
    const result = await finish(
      'done',
      {
        branch,
        commit,
        diffStat,
        ...(verify.report.unverified ? { unverified: verify.report.unverified } : {}),
      },
      statuses.done,
    );
    if (deps.codeCache) await saveToCodeCache(deps.codeCache, repoUrl, repoDir, deps.logger);
    if (result.reported) await rm(deps.scratchDir, { recursive: true, force: true });
    return result;
  } catch (err) {
    const aborted = deps.signal?.aborted;
    const reason =
      timeout.aborted && !aborted
        ? `run timeout: the run took longer than limits.run_timeout (${config.limits.run_timeout} s) while ${state.step}`
        : aborted
          ? `run interrupted while ${state.step} (the runner was asked to stop)`
          : `${state.step}: ${describeError(err)}`;
    const code = timeout.aborted ? 'RUN_TIMEOUT' : isAvatarError(err) ? err.code : 'UNEXPECTED';
    log(`failed: ${reason}`);
    await keepSnapshot('failed');
    return await finish(
      'failed',
      { reason, errorCode: code, branch: state.task?.code_branch },
      statuses.failed,
    );
  } finally {
    await openSandbox
      ?.close()
      .catch((err: unknown) =>
        deps.logger.warn('could not close the sandbox', { error: describeError(err) }),
      );
  }
}

/** The agent's first message, with what keeps the tests from running in front of the task. */
function withEnvironmentProblem(intro: string | undefined, problem: string | undefined): string | undefined {
  if (!problem) return intro;
  return `${problem}\n\n---\n\n${intro ?? ''}`.trimEnd();
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.slice(0, 200);
}
