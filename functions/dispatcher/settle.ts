/**
 * What the stopped-task handler decides when a runner's ECS task has STOPPED:
 *
 * - `runs/<task>/<run>/result.json` with reported=true: the runner finished and told the backend;
 *   nothing to do (except after a Spot interruption, when the runner reported `failed` on SIGTERM:
 *   the task is re-queued while attempts remain, as a reclaimed runner is no fault of the task).
 * - result.json with reported=false: the runner finished but could not report; report its status.
 * - no result: the runner died (OOM, Spot reclaim, stopped, failed to start, crashed). Report
 *   `failed` with a log line naming the stop, and re-queue with attempt+1 while attempts remain.
 *
 * Idempotent per ECS task: a claim `stopped/<task id>.json` (put-if-absent) makes a duplicate event
 * do nothing. A failure half way leaves the claim in state "retry" with what was already done, so
 * the Lambda's retry finishes the job without reporting or re-queuing twice.
 *
 * Each call writes its claim with an owner id of its own: a put-if-absent that S3 carried out but
 * whose answer was lost comes back as "already there" when the SDK retries it (412), and the call
 * must recognise the claim as its own rather than take its own event for a duplicate. A claim
 * another call holds ("handling", not stale) fails the call, so that Lambda tries again later
 * (when it is "done": nothing to do; "retry" or stale: taken over), instead of dropping what may be
 * the only event for a runner that died.
 */
import { randomUUID } from 'node:crypto';
import { AvatarError, describeError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { messageKey, parseTaskMessage, type TaskMessage } from '../../core/message.ts';
import type { NumaClient } from '../../core/numa/client.ts';
import type { BlobStore, Clock } from '../../core/ports.ts';
import { patternRedactor, type Redactor } from '../../core/redact.ts';
import { formatTimestamp } from '../../container/runner/task-log.ts';
import { readResult } from '../../container/runner/snapshot.ts';
import type { StatusNames } from '../common/env.ts';
import { METRIC, type MetricSink } from '../common/metrics.ts';
import {
  describeStop,
  ecsTaskDetailSchema,
  familyOf,
  overrideEnv,
  taskIdOfArn,
  type EcsTaskDetail,
  type StopDescription,
} from './ecs-event.ts';
import { attemptKey, type DispatchMessage } from './message.ts';
import type { SendDispatchMessage } from './sqs-send.ts';

export interface StoppedSettings {
  family: string;
  containerName: string;
  maxAttempts: number;
  statuses: StatusNames;
  /** A claim left "handling" longer than this is taken over (its Lambda died). Default 10 min. */
  staleClaimMs?: number;
}

export interface StoppedDeps {
  blobs: BlobStore;
  send: SendDispatchMessage;
  client: NumaClient;
  clock: Clock;
  logger: Logger;
  metrics: MetricSink;
  settings: StoppedSettings;
  redactor?: Redactor;
  /** The claim's owner id, one per call (default crypto.randomUUID). */
  newId?: () => string;
}

export type StoppedOutcome =
  | { kind: 'ignored'; reason: string }
  | { kind: 'duplicate' }
  | { kind: 'already-reported'; status: string; requeued: boolean }
  | { kind: 'reported'; status: string }
  | { kind: 'crashed'; stop: StopDescription; requeued: boolean; attempt: number };

interface Claim {
  state: 'handling' | 'retry' | 'done';
  taskArn: string;
  claimedAt: number;
  /** The call that wrote it. */
  owner?: string;
  reported?: boolean;
  requeued?: boolean;
  outcome?: string;
  error?: string;
}

export function stoppedClaimKey(taskArn: string): string {
  return `stopped/${taskIdOfArn(taskArn)}.json`;
}

export async function handleStoppedTask(rawDetail: unknown, deps: StoppedDeps): Promise<StoppedOutcome> {
  const parsed = ecsTaskDetailSchema.safeParse(rawDetail);
  if (!parsed.success) return { kind: 'ignored', reason: 'not an ECS task state change (no taskArn)' };
  const detail = parsed.data;
  const { settings } = deps;
  if (detail.lastStatus !== 'STOPPED')
    return { kind: 'ignored', reason: `lastStatus is ${detail.lastStatus}` };
  const family = familyOf(detail);
  if (family !== settings.family) {
    return { kind: 'ignored', reason: `task family ${family ?? '(unknown)'} is not ${settings.family}` };
  }
  const env = overrideEnv(detail, settings.containerName);
  const taskId = env.NUMA_TASK_ID;
  const runId = env.NUMA_RUN_ID;
  const log = deps.logger.child({ task_arn: detail.taskArn, task_id: taskId, run_id: runId });
  if (!taskId || !runId) {
    log.error('stopped runner has no NUMA_TASK_ID / NUMA_RUN_ID in its overrides; cannot settle it');
    return { kind: 'ignored', reason: 'no NUMA_TASK_ID / NUMA_RUN_ID in the container overrides' };
  }
  const message = messageOf(env.NUMA_MESSAGE, taskId, log);

  // Claim the stopped task: one handler per ECS task, whatever EventBridge delivers.
  const claimKey = stoppedClaimKey(detail.taskArn);
  const owner = (deps.newId ?? randomUUID)();
  let claim: Claim;
  try {
    const got = await acquireClaim(deps, claimKey, detail.taskArn, owner, log);
    if (got === 'duplicate') return { kind: 'duplicate' };
    claim = got;
  } catch (err) {
    // A claim write whose answer was lost may still have been carried out: a claim of ours left
    // "handling" would make every retry of this event wait for a call that has ended.
    const mine = await loadClaim(deps.blobs, claimKey).catch(() => undefined);
    if (mine?.owner === owner && mine.state === 'handling') {
      const released: Claim = { ...mine, state: 'retry', error: describeError(err) };
      await deps.blobs.put(claimKey, JSON.stringify(released)).catch(() => undefined);
    }
    throw err;
  }

  try {
    const outcome = await settle(detail, deps, { taskId, runId, message, claim, claimKey, log });
    await deps.blobs.put(claimKey, JSON.stringify({ ...claim, state: 'done', outcome: outcome.kind }));
    return outcome;
  } catch (err) {
    const failed: Claim = { ...claim, state: 'retry', error: describeError(err) };
    await deps.blobs.put(claimKey, JSON.stringify(failed)).catch(() => undefined);
    throw err;
  }
}

/**
 * Puts this call's claim on the stopped task, or says why not: "duplicate" when the task is settled
 * already; throws when another call holds a claim that is not stale.
 */
async function acquireClaim(
  deps: StoppedDeps,
  claimKey: string,
  taskArn: string,
  owner: string,
  log: Logger,
): Promise<Claim | 'duplicate'> {
  const now = deps.clock.now();
  const claim: Claim = { state: 'handling', taskArn, claimedAt: now, owner };
  if (await deps.blobs.putIfAbsent(claimKey, JSON.stringify(claim))) return claim;
  const existing = await loadClaim(deps.blobs, claimKey);
  if (existing?.owner === owner) {
    // Our own write, whose answer was lost: S3 has it, and the SDK's retry met it (412).
    log.info("the stopped-task claim is this call's own (a retried conditional write)");
    return existing;
  }
  if (existing?.state === 'done') {
    log.info('stopped event already handled; nothing to do', { state: existing.state });
    return 'duplicate';
  }
  const age = existing !== undefined ? now - existing.claimedAt : 0;
  if (existing?.state === 'handling' && age <= (deps.settings.staleClaimMs ?? 600_000)) {
    throw new AvatarError(
      'AWS_FAILED',
      `stopped task ${taskIdOfArn(taskArn)} is being settled by another call (claimed ${Math.round(age / 1000)} s ago); ` +
        'failing so that Lambda tries again once that call has ended',
    );
  }
  const taken: Claim = { ...(existing ?? claim), state: 'handling', claimedAt: now, owner };
  log.warn('taking over an unfinished stopped-task claim', { previous_error: existing?.error });
  await deps.blobs.put(claimKey, JSON.stringify(taken));
  return taken;
}

interface SettleContext {
  taskId: string;
  runId: string;
  message: TaskMessage;
  claim: Claim;
  claimKey: string;
  log: Logger;
}

async function settle(detail: EcsTaskDetail, deps: StoppedDeps, ctx: SettleContext): Promise<StoppedOutcome> {
  const { settings } = deps;
  const { taskId, runId, message, claim, log } = ctx;
  const attempt = message.attempt ?? 1;
  const stop = describeStop(detail, settings.containerName);
  const result = await readResult(deps.blobs, taskId, runId);

  if (result?.reported) {
    // After a Spot reclaim the runner reports `failed` on SIGTERM; that is not the task's fault.
    if (stop.kind === 'spot' && result.status === 'failed' && attempt < settings.maxAttempts) {
      await requeue(deps, ctx, detail, [
        `runner ${runId} was interrupted: ${stop.summary}; re-queued as attempt ${attempt + 1} of ${settings.maxAttempts}`,
      ]);
      return { kind: 'already-reported', status: result.status, requeued: true };
    }
    log.info('runner reported its final status itself; nothing to do', { status: result.status });
    return { kind: 'already-reported', status: result.status, requeued: false };
  }

  if (result) {
    const status = settings.statuses[result.status];
    if (!claim.reported) {
      await report(deps, ctx, status, [
        `runner ${runId} finished (${result.status}) but could not report it; reported by the stopped-task handler` +
          (result.reason ? `: ${result.reason}` : ''),
      ]);
      claim.reported = true;
      await saveProgress(deps, ctx);
    }
    log.info('reported the status the runner could not', { status });
    return { kind: 'reported', status };
  }

  // No result: the runner died.
  deps.metrics.count(METRIC.RunnerCrashes);
  const willRequeue = attempt < settings.maxAttempts;
  const lines = [
    `runner ${runId} (Fargate task ${detail.taskArn}) stopped without reporting a final status: ${stop.summary}`,
    `stop details: ${stop.facts}`,
    willRequeue
      ? `re-queued as attempt ${attempt + 1} of ${settings.maxAttempts}`
      : `no attempts left (attempt ${attempt} of ${settings.maxAttempts})`,
  ];
  log.warn('runner died without a final status', { stop: stop.kind, facts: stop.facts, attempt });
  if (!claim.reported) {
    await report(deps, ctx, settings.statuses.failed, lines);
    claim.reported = true;
    await saveProgress(deps, ctx);
  }
  if (willRequeue) await requeue(deps, ctx, detail, []);
  return { kind: 'crashed', stop, requeued: willRequeue, attempt };
}

async function report(deps: StoppedDeps, ctx: SettleContext, status: string, lines: string[]): Promise<void> {
  const redactor = deps.redactor ?? patternRedactor;
  const stamp = formatTimestamp(new Date(deps.clock.now()));
  const text = redactor.redact(
    lines
      .flatMap((l) => l.split(/\r?\n/))
      .map((l) => `${stamp} - ${l}`)
      .join('\n'),
  );
  // The lines that explain the status reach the task before the status does.
  try {
    await deps.client.appendLogs(ctx.message.task_id, text);
  } catch (err) {
    ctx.log.warn('could not post the stop reason to the task', { error: describeError(err) });
  }
  await deps.client.updateStatus(ctx.message.task_id, status);
}

async function requeue(
  deps: StoppedDeps,
  ctx: SettleContext,
  detail: EcsTaskDetail,
  lines: string[],
): Promise<void> {
  if (ctx.claim.requeued) return;
  const attempt = (ctx.message.attempt ?? 1) + 1;
  // The same idempotency key for every copy of this re-queue: a topic message keeps its own; a
  // hand-sent one is keyed on the stopped ECS task (so a retried handler cannot start two runs).
  const base =
    ctx.message.message_id !== undefined
      ? messageKey(ctx.message, '')
      : `manual-stopped-${taskIdOfArn(detail.taskArn)}`;
  const body: DispatchMessage = { ...ctx.message, attempt, dispatch_key: base };
  await deps.send(body, 0, attemptKey(base, attempt));
  ctx.claim.requeued = true;
  deps.metrics.count(METRIC.Requeued);
  ctx.log.info('re-queued the task', { attempt });
  await saveProgress(deps, ctx);
  if (lines.length > 0) {
    const stamp = formatTimestamp(new Date(deps.clock.now()));
    await deps.client
      .appendLogs(ctx.message.task_id, lines.map((l) => `${stamp} - ${l}`).join('\n'))
      .catch((err: unknown) =>
        ctx.log.warn('could not post the re-queue note', { error: describeError(err) }),
      );
  }
}

async function saveProgress(deps: StoppedDeps, ctx: SettleContext): Promise<void> {
  await deps.blobs.put(ctx.claimKey, JSON.stringify(ctx.claim));
}

function messageOf(raw: string | undefined, taskId: string, log: Logger): TaskMessage {
  if (raw) {
    try {
      return parseTaskMessage(raw);
    } catch (err) {
      log.warn('NUMA_MESSAGE of the stopped runner is not a task message; using the task id', {
        error: describeError(err),
      });
    }
  }
  return { task_id: /^\d+$/.test(taskId) && taskId.length < 16 ? Number(taskId) : taskId, attempt: 1 };
}

async function loadClaim(blobs: BlobStore, key: string): Promise<Claim | undefined> {
  const data = await blobs.get(key);
  if (!data) return undefined;
  try {
    const c = JSON.parse(data.toString('utf8')) as Claim;
    return typeof c.state === 'string' && typeof c.claimedAt === 'number' ? c : undefined;
  } catch {
    return undefined;
  }
}
