/**
 * The AWS Launcher: one ECS RunTask on Fargate (or Fargate Spot) per task run.
 *
 * - launchTask(req) starts the runner task with the message as container environment overrides
 *   (NUMA_TASK_ID, NUMA_RUN_ID, NUMA_MESSAGE as JSON, plus `environment`), a `startedBy` naming
 *   the task ("numa-task-<id>", at most 36 characters: see startedByFor) and a `clientToken`
 *   derived from the message key and attempt (see clientTokenFor), so a retried RunTask for the
 *   same attempt starts one task, not two. Keep `req.runId` stable across retries of one attempt:
 *   ECS expects the same parameters with the same token.
 * - RunTask answers partly in-band: `failures[]` with "Capacity is unavailable ..." or
 *   "RESOURCE:*" → AvatarError LAUNCH_CAPACITY (retry later); any other failure → LAUNCH_FAILED.
 *   Thrown errors: throttling, 5xx, network errors and "limit reached" ClientExceptions →
 *   LAUNCH_CAPACITY; the rest (bad task definition, access denied, ...) → LAUNCH_FAILED.
 *   `isRetryableLaunchError(err)` tells the dispatcher which is which.
 * - running(): ListTasks (cluster, family, desiredStatus RUNNING, every page): tasks starting or
 *   running. isRunning(taskId): ListTasks by startedBy (ECS wants it as the only filter; its
 *   default is desiredStatus RUNNING), confirmed with DescribeTasks (lastStatus not STOPPED:
 *   recently stopped tasks may still be listed, and moto lists them all).
 *   A runner that has been told to stop but is still saving its snapshot has desiredStatus
 *   STOPPED and is counted by neither.
 */
import { createHash } from 'node:crypto';
import { DescribeTasksCommand, ListTasksCommand, RunTaskCommand } from '@aws-sdk/client-ecs';
import type { ECSClient, RunTaskCommandInput } from '@aws-sdk/client-ecs';
import { AvatarError, isAvatarError } from '../../core/errors.ts';
import type { LaunchRequest, Launcher } from '../../core/ports.ts';
import { describeAwsError, errorName, httpStatus, isNetworkError, sdkRetryable } from './aws-errors.ts';

export interface EcsLauncherOptions {
  client: ECSClient;
  /** Cluster name or ARN. */
  cluster: string;
  /** Task definition family[:revision] or ARN. */
  taskDefinition: string;
  /** The runner container's name in the task definition ("runner"). */
  containerName: string;
  /** The task definition family ("numa-avatar-runner"), for counting runners. */
  family: string;
  subnets: string[];
  securityGroups: string[];
  assignPublicIp: boolean;
  capacityProvider: 'FARGATE' | 'FARGATE_SPOT';
  /** Extra non-secret environment for the runner (secrets come from the task definition's `secrets`). */
  environment?: Record<string, string>;
  /**
   * How RunTask places the task. 'capacity-provider-strategy' (default, and the only way to use
   * Fargate Spot): `capacityProviderStrategy: [{ capacityProvider, weight: 1 }]`, which needs the
   * provider associated with the cluster. 'launch-type': `launchType: 'FARGATE'` (FARGATE only),
   * for emulators that ignore strategies: moto 5.2.1 treats a RunTask without launchType as EC2.
   */
  placement?: 'capacity-provider-strategy' | 'launch-type';
}

export interface LaunchedTask {
  taskArn: string;
  startedBy: string;
  clientToken: string;
}

/** Environment variables the launcher sets itself; `environment` cannot override them. */
export const RUNNER_ENV_KEYS = ['NUMA_TASK_ID', 'NUMA_RUN_ID', 'NUMA_MESSAGE'] as const;

export class EcsLauncher implements Launcher {
  private readonly opts: EcsLauncherOptions;

  constructor(opts: EcsLauncherOptions) {
    const bad = (why: string) => new AvatarError('CONFIG_INVALID', `EcsLauncher: ${why}`);
    for (const k of ['cluster', 'taskDefinition', 'containerName', 'family'] as const) {
      if (typeof opts[k] !== 'string' || opts[k] === '') throw bad(`${k} is required`);
    }
    if (!Array.isArray(opts.subnets) || opts.subnets.length === 0 || opts.subnets.some((s) => !s)) {
      throw bad('subnets must name at least one subnet');
    }
    if (!Array.isArray(opts.securityGroups) || opts.securityGroups.some((s) => !s)) {
      throw bad('securityGroups must be a list of security group ids');
    }
    if (opts.capacityProvider !== 'FARGATE' && opts.capacityProvider !== 'FARGATE_SPOT') {
      throw bad(`capacityProvider must be FARGATE or FARGATE_SPOT, got ${String(opts.capacityProvider)}`);
    }
    if (opts.placement === 'launch-type' && opts.capacityProvider !== 'FARGATE') {
      throw bad('placement "launch-type" works with capacityProvider FARGATE only (Spot needs a strategy)');
    }
    this.opts = { ...opts, placement: opts.placement ?? 'capacity-provider-strategy' };
  }

  async launch(req: LaunchRequest): Promise<void> {
    await this.launchTask(req);
  }

  /** Starts the runner; returns the new task's ARN. Throws LAUNCH_CAPACITY or LAUNCH_FAILED. */
  async launchTask(req: LaunchRequest): Promise<LaunchedTask> {
    const taskId = String(req.message.task_id);
    const attempt = req.message.attempt ?? 1;
    const startedBy = startedByFor(taskId);
    const clientToken = clientTokenFor(req.messageKey, attempt);
    const input = this.runTaskInput(req, startedBy, clientToken);
    const what = `ECS RunTask for task ${taskId} (run ${req.runId}, attempt ${attempt})`;

    let out;
    try {
      out = await this.opts.client.send(new RunTaskCommand(input));
    } catch (err) {
      throw classifyRunTaskError(what, err);
    }
    const failures = out.failures ?? [];
    const taskArn = out.tasks?.[0]?.taskArn;
    if (taskArn) return { taskArn, startedBy, clientToken };
    if (failures.length === 0) {
      throw new AvatarError('LAUNCH_FAILED', `${what}: no task started and no failure given`);
    }
    const described = failures
      .map((f) => [f.reason, f.detail].filter(Boolean).join(' — ') || 'unknown failure')
      .join('; ');
    const capacity = failures.some((f) => isCapacityReason(f.reason));
    throw new AvatarError(capacity ? 'LAUNCH_CAPACITY' : 'LAUNCH_FAILED', `${what} failed: ${described}`);
  }

  /** Runner tasks starting or running (desiredStatus RUNNING) in the family. */
  async running(): Promise<number> {
    let count = 0;
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.opts.client.send(
          new ListTasksCommand({
            cluster: this.opts.cluster,
            family: this.opts.family,
            desiredStatus: 'RUNNING',
            maxResults: 100,
            nextToken: token,
          }),
        );
      } catch (err) {
        throw new AvatarError(
          'AWS_FAILED',
          `ECS ListTasks (family ${this.opts.family}) failed: ${describeAwsError(err)}`,
          {
            cause: err,
          },
        );
      }
      count += page.taskArns?.length ?? 0;
      token = page.nextToken && page.nextToken !== token ? page.nextToken : undefined;
    } while (token !== undefined);
    return count;
  }

  async isRunning(taskId: string): Promise<boolean> {
    const startedBy = startedByFor(String(taskId));
    const arns: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.opts.client.send(
          new ListTasksCommand({ cluster: this.opts.cluster, startedBy, maxResults: 100, nextToken: token }),
        );
        arns.push(...(page.taskArns ?? []));
        token = page.nextToken && page.nextToken !== token ? page.nextToken : undefined;
      } while (token !== undefined);
      for (let i = 0; i < arns.length; i += 100) {
        const out = await this.opts.client.send(
          new DescribeTasksCommand({ cluster: this.opts.cluster, tasks: arns.slice(i, i + 100) }),
        );
        if ((out.tasks ?? []).some((t) => t.lastStatus !== 'STOPPED')) return true;
      }
    } catch (err) {
      throw new AvatarError(
        'AWS_FAILED',
        `ECS ListTasks/DescribeTasks (startedBy ${startedBy}) failed: ${describeAwsError(err)}`,
        {
          cause: err,
        },
      );
    }
    return false;
  }

  /** The RunTask request launchTask() sends (public so tests and logs can show it). */
  runTaskInput(req: LaunchRequest, startedBy: string, clientToken: string): RunTaskCommandInput {
    const o = this.opts;
    const env: Record<string, string> = { ...(o.environment ?? {}) };
    for (const k of RUNNER_ENV_KEYS) delete env[k];
    env.NUMA_TASK_ID = String(req.message.task_id);
    env.NUMA_RUN_ID = req.runId;
    env.NUMA_MESSAGE = JSON.stringify(req.message);
    return {
      cluster: o.cluster,
      taskDefinition: o.taskDefinition,
      count: 1,
      ...(o.placement === 'launch-type'
        ? { launchType: 'FARGATE' as const }
        : { capacityProviderStrategy: [{ capacityProvider: o.capacityProvider, weight: 1 }] }),
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: o.subnets,
          securityGroups: o.securityGroups,
          assignPublicIp: o.assignPublicIp ? 'ENABLED' : 'DISABLED',
        },
      },
      overrides: {
        containerOverrides: [
          {
            name: o.containerName,
            environment: Object.entries(env).map(([name, value]) => ({ name, value })),
          },
        ],
      },
      startedBy,
      clientToken,
    };
  }
}

/** ECS `startedBy` is at most 36 characters: letters, digits, `-` and `_` here. */
export const STARTED_BY_MAX = 36;
const STARTED_BY_PREFIX = 'numa-task-';

/**
 * "numa-task-<task id>" when the id is plain and short enough; otherwise the id's characters
 * outside [A-Za-z0-9_-] become "_", it is cut, and 8 hex digits of its SHA-256 are appended, so
 * two different ids never share a value by accident.
 */
export function startedByFor(taskId: string | number): string {
  const id = String(taskId);
  const plain = `${STARTED_BY_PREFIX}${id}`;
  if (/^[A-Za-z0-9_-]+$/.test(id) && plain.length <= STARTED_BY_MAX && !/-h[0-9a-f]{8}$/.test(id)) {
    return plain;
  }
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 8);
  const room = STARTED_BY_MAX - STARTED_BY_PREFIX.length - '-h'.length - hash.length;
  return `${STARTED_BY_PREFIX}${id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, room)}-h${hash}`;
}

/** RunTask's idempotency token: SHA-256 of "<messageKey>#<attempt>", 64 hex characters. */
export function clientTokenFor(messageKey: string, attempt: number): string {
  return createHash('sha256').update(`${messageKey}#${attempt}`).digest('hex').slice(0, 64);
}

/** RunTask failure reasons that mean "no room now" rather than "this cannot work". */
export function isCapacityReason(reason: string | undefined): boolean {
  if (!reason) return false;
  return /^RESOURCE:/i.test(reason) || /capacity/i.test(reason);
}

const RETRYABLE_NAMES = new Set([
  'ThrottlingException',
  'ServerException',
  'ServiceUnavailableException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'LimitExceededException',
]);

function classifyRunTaskError(what: string, err: unknown): AvatarError {
  if (err instanceof AvatarError) return err;
  const name = errorName(err) ?? '';
  const status = httpStatus(err);
  const message = err instanceof Error ? err.message : String(err);
  const retryable =
    RETRYABLE_NAMES.has(name) ||
    (status !== undefined && status >= 500) ||
    sdkRetryable(err) ||
    isNetworkError(err) ||
    // Fargate's account limits ("You've reached the limit on the number of tasks/vCPUs you can
    // run concurrently") come as ClientException and clear when runners finish.
    (name === 'ClientException' && /reached the limit|capacity/i.test(message));
  return new AvatarError(
    retryable ? 'LAUNCH_CAPACITY' : 'LAUNCH_FAILED',
    `${what} failed: ${describeAwsError(err)}`,
    { cause: err },
  );
}

/** True for errors worth retrying later (capacity, throttling, 5xx, network): LAUNCH_CAPACITY. */
export function isRetryableLaunchError(err: unknown): boolean {
  return isAvatarError(err, 'LAUNCH_CAPACITY');
}
