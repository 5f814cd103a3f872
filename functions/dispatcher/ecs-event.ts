/**
 * The EventBridge "ECS Task State Change" event, as far as the stopped-task handler needs it, and
 * the classification of why a runner stopped (stop code, stopped reason, the container's exit code
 * and reason) into words a person reads in the task's logs.
 */
import * as z from 'zod/mini';

const kv = z.looseObject({ name: z.optional(z.string()), value: z.optional(z.string()) });

export const ecsTaskDetailSchema = z.looseObject({
  taskArn: z.string().check(z.minLength(1)),
  lastStatus: z.optional(z.string()),
  desiredStatus: z.optional(z.string()),
  clusterArn: z.optional(z.string()),
  taskDefinitionArn: z.optional(z.string()),
  group: z.optional(z.string()),
  startedBy: z.optional(z.string()),
  stopCode: z.optional(z.string()),
  stoppedReason: z.optional(z.string()),
  stoppedAt: z.optional(z.string()),
  capacityProviderName: z.optional(z.string()),
  containers: z.optional(
    z.array(
      z.looseObject({
        name: z.optional(z.string()),
        exitCode: z.nullish(z.number()),
        reason: z.nullish(z.string()),
        lastStatus: z.optional(z.string()),
      }),
    ),
  ),
  overrides: z.optional(
    z.looseObject({
      containerOverrides: z.optional(
        z.array(z.looseObject({ name: z.optional(z.string()), environment: z.optional(z.array(kv)) })),
      ),
    }),
  ),
});
export type EcsTaskDetail = z.infer<typeof ecsTaskDetailSchema>;

/** The task's id: the last segment of its ARN (arn:aws:ecs:region:account:task/cluster/id). */
export function taskIdOfArn(arn: string): string {
  const id = arn.slice(arn.lastIndexOf('/') + 1) || arn;
  return id.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** The family of the task definition (from `group` "family:x" or the definition ARN ".../x:3"). */
export function familyOf(detail: EcsTaskDetail): string | undefined {
  if (detail.group?.startsWith('family:')) return detail.group.slice('family:'.length);
  const def = detail.taskDefinitionArn;
  if (!def) return undefined;
  const m = /task-definition\/([^:/]+)(?::\d+)?$/.exec(def);
  return m?.[1];
}

/** The environment overrides of the runner container (or, failing that, of any container). */
export function overrideEnv(detail: EcsTaskDetail, containerName: string): Record<string, string> {
  const overrides = detail.overrides?.containerOverrides ?? [];
  const chosen =
    overrides.find((o) => o.name === containerName) ?? overrides.find((o) => o.environment?.length);
  const env: Record<string, string> = {};
  for (const e of chosen?.environment ?? []) {
    if (e.name && e.value !== undefined) env[e.name] = e.value;
  }
  return env;
}

export type StopKind = 'oom' | 'spot' | 'user-stop' | 'failed-to-start' | 'exit' | 'unknown';

export interface StopDescription {
  kind: StopKind;
  /** In words: "ran out of memory (OutOfMemoryError)". */
  summary: string;
  /** The facts: "stopCode=..., stoppedReason=..., container runner exit code 137 (...)". */
  facts: string;
  exitCode?: number;
}

const START_FAILURES =
  /CannotPullContainerError|ResourceInitializationError|CannotStartContainerError|CannotCreateContainerError|ResourceNotFoundException/i;

export function describeStop(detail: EcsTaskDetail, containerName: string): StopDescription {
  const containers = detail.containers ?? [];
  const runner = containers.find((c) => c.name === containerName) ?? containers[0];
  const exitCode = typeof runner?.exitCode === 'number' ? runner.exitCode : undefined;
  const containerReason = runner?.reason ?? '';
  const stopCode = detail.stopCode ?? '';
  const stoppedReason = detail.stoppedReason ?? '';
  const all = `${stoppedReason} ${containerReason}`;

  const facts = [
    `stopCode=${stopCode || '(none)'}`,
    `stoppedReason=${JSON.stringify(stoppedReason || '(none)')}`,
    runner
      ? `container ${runner.name ?? '?'} exit code ${exitCode ?? '(none)'}${containerReason ? ` (${containerReason})` : ''}`
      : 'no container status',
  ].join(', ');

  let kind: StopKind;
  let summary: string;
  if (stopCode === 'TaskFailedToStart' || START_FAILURES.test(all)) {
    kind = 'failed-to-start';
    const m = START_FAILURES.exec(all);
    summary = `the runner failed to start${m ? ` (${m[0]})` : ' (TaskFailedToStart)'}`;
  } else if (stopCode === 'SpotInterruption' || /spot task was interrupted/i.test(stoppedReason)) {
    kind = 'spot';
    summary = 'Fargate Spot reclaimed the capacity (SpotInterruption)';
  } else if (/OutOfMemory/i.test(all)) {
    kind = 'oom';
    summary = 'the runner ran out of memory (OutOfMemoryError)';
  } else if (stopCode === 'UserInitiated' || /stopped by user/i.test(stoppedReason)) {
    kind = 'user-stop';
    summary = 'the task was stopped (StopTask by a person or a timeout: UserInitiated)';
  } else if (exitCode !== undefined) {
    kind = 'exit';
    summary =
      exitCode === 0
        ? 'the runner exited with code 0 without writing a result'
        : `the runner exited with code ${exitCode}${exitCode === 137 ? ' (killed: SIGKILL)' : exitCode === 143 ? ' (SIGTERM)' : ''}`;
  } else {
    kind = 'unknown';
    summary = `the task stopped${stopCode ? ` (${stopCode})` : ''} for an unknown reason`;
  }
  return { kind, summary, facts, ...(exitCode !== undefined ? { exitCode } : {}) };
}
