/**
 * Environment readers for the Lambdas. The environment is the contract between the stack and the
 * code (notes: aws-plan.md), so a missing or malformed variable fails loudly at init with an
 * AvatarError CONFIG_INVALID that names the variable and what was expected, instead of a vague
 * failure later. Nothing here reads a secret value: secrets are fetched by ARN (secrets.ts).
 */
import { AvatarError } from '../../core/errors.ts';

export type Env = Record<string, string | undefined>;

function invalid(name: string, problem: string, expected: string): AvatarError {
  return new AvatarError('CONFIG_INVALID', `environment variable ${name}: ${problem} (expected ${expected})`);
}

function raw(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  return t.length === 0 ? undefined : t;
}

export function requireVar(env: Env, name: string, expected: string): string {
  const v = raw(env, name);
  if (v === undefined) throw invalid(name, 'missing', expected);
  return v;
}

export function optionalVar(env: Env, name: string): string | undefined {
  return raw(env, name);
}

export function urlVar(env: Env, name: string, expected: string): string {
  const v = requireVar(env, name, expected);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw invalid(name, 'not a valid URL', expected);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw invalid(name, `unsupported scheme ${u.protocol}`, expected);
  }
  return v;
}

export function intVar(
  env: Env,
  name: string,
  o: { default?: number; min?: number; max?: number; expected: string },
): number {
  const v = raw(env, name);
  if (v === undefined) {
    if (o.default === undefined) throw invalid(name, 'missing', o.expected);
    return o.default;
  }
  if (!/^-?\d+$/.test(v))
    throw invalid(name, `not an integer (${JSON.stringify(v.slice(0, 40))})`, o.expected);
  const n = Number(v);
  if ((o.min !== undefined && n < o.min) || (o.max !== undefined && n > o.max)) {
    throw invalid(name, `${n} is out of range`, o.expected);
  }
  return n;
}

/** A comma-separated list with at least one entry. */
export function listVar(env: Env, name: string, expected: string): string[] {
  const v = requireVar(env, name, expected);
  const items = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw invalid(name, 'empty list', expected);
  return items;
}

export function enumVar<T extends string>(env: Env, name: string, values: readonly T[], fallback?: T): T {
  const expected = `one of ${values.join(', ')}`;
  const v = raw(env, name);
  if (v === undefined) {
    if (fallback === undefined) throw invalid(name, 'missing', expected);
    return fallback;
  }
  if (!(values as readonly string[]).includes(v))
    throw invalid(name, `${JSON.stringify(v)} is not allowed`, expected);
  return v as T;
}

/** A Secrets Manager ARN (or name), when the variable is set. */
export function secretRefVar(env: Env, name: string): string | undefined {
  const v = raw(env, name);
  if (v === undefined) return undefined;
  if (
    !/^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+|[A-Za-z0-9/_+=.@-]+)$/.test(
      v,
    )
  ) {
    throw invalid(
      name,
      'not a Secrets Manager ARN',
      'arn:aws:secretsmanager:<region>:<account>:secret:<name>',
    );
  }
  return v;
}

// ---- what each function reads ----

/** A JSON key of a secret: what NUMA_API_TOKEN_SECRET_FIELD may name. */
const SECRET_FIELD = /^[A-Za-z0-9_.-]{1,128}$/;

export interface BackendEnv {
  backendUrl: string;
  apiTokenSecretArn?: string;
  /**
   * The JSON key of the backend token in that secret (the stack's secret holds its three values as
   * one JSON object). Unset: the secret's whole value is the token.
   */
  apiTokenSecretField?: string;
}

function readBackendEnv(env: Env): BackendEnv {
  const apiTokenSecretArn = secretRefVar(env, 'NUMA_API_TOKEN_SECRET_ARN');
  const apiTokenSecretField = optionalVar(env, 'NUMA_API_TOKEN_SECRET_FIELD');
  if (apiTokenSecretField !== undefined) {
    if (!SECRET_FIELD.test(apiTokenSecretField)) {
      throw invalid(
        'NUMA_API_TOKEN_SECRET_FIELD',
        'not a JSON key name',
        'letters, digits, _ . and -, at most 128, such as backend_token',
      );
    }
    if (!apiTokenSecretArn) {
      throw invalid(
        'NUMA_API_TOKEN_SECRET_FIELD',
        'set without NUMA_API_TOKEN_SECRET_ARN',
        'both, or neither',
      );
    }
  }
  return {
    backendUrl: urlVar(env, 'NUMA_BACKEND_URL', "the Numa backend's base URL, http:// or https://"),
    ...(apiTokenSecretArn ? { apiTokenSecretArn } : {}),
    ...(apiTokenSecretField ? { apiTokenSecretField } : {}),
  };
}

export interface PollerEnv extends BackendEnv {
  queueUrl: string;
  dlqUrl: string;
  bucket: string;
  waitSeconds: number;
  limit: number;
  safetyMarginSeconds: number;
  /** Sleep between polls when the backend answers at once (it ignores `wait`). */
  intervalSeconds: number;
}

export function readPollerEnv(env: Env = process.env): PollerEnv {
  return {
    ...readBackendEnv(env),
    queueUrl: requireVar(env, 'QUEUE_URL', "the task queue's URL"),
    dlqUrl: requireVar(env, 'DLQ_URL', "the dead-letter queue's URL"),
    bucket: requireVar(env, 'BUCKET', 'the state bucket name'),
    // The long-poll window: while idle, one poll of it per invocation (functions/poller/handler.ts).
    waitSeconds: intVar(env, 'POLL_WAIT_SECONDS', {
      default: 2,
      min: 0,
      max: 300,
      expected: 'the long-poll wait in seconds, 0-300',
    }),
    limit: intVar(env, 'POLL_LIMIT', {
      default: 50,
      min: 1,
      max: 1000,
      expected: 'messages per poll, 1-1000',
    }),
    safetyMarginSeconds: intVar(env, 'POLL_SAFETY_MARGIN_SECONDS', {
      default: 15,
      min: 1,
      max: 600,
      expected: 'seconds kept free before the Lambda timeout, 1-600',
    }),
    intervalSeconds: intVar(env, 'POLL_INTERVAL_SECONDS', {
      default: 5,
      min: 1,
      max: 300,
      expected: 'seconds between polls of a backend that does not long-poll, 1-300',
    }),
  };
}

export interface StatusNames {
  done: string;
  failed: string;
  blocked: string;
}

function readStatuses(env: Env): StatusNames {
  return {
    done: optionalVar(env, 'STATUS_DONE') ?? 'done',
    failed: optionalVar(env, 'STATUS_FAILED') ?? 'failed',
    blocked: optionalVar(env, 'STATUS_BLOCKED') ?? 'blocked',
  };
}

function readMaxAttempts(env: Env): number {
  return intVar(env, 'MAX_ATTEMPTS', {
    default: 2,
    min: 1,
    max: 100,
    expected: 'runs per message including the first, 1-100',
  });
}

export interface DispatcherEnv extends BackendEnv {
  queueUrl: string;
  dlqUrl: string;
  bucket: string;
  clusterArn: string;
  taskDefinitionArn: string;
  /** The runner task definition's family (counting runners). */
  family: string;
  containerName: string;
  subnetIds: string[];
  securityGroupIds: string[];
  assignPublicIp: 'ENABLED' | 'DISABLED';
  capacityProvider: 'FARGATE' | 'FARGATE_SPOT';
  maxRunners: number;
  maxAttempts: number;
  statuses: StatusNames;
}

export function readDispatcherEnv(env: Env = process.env): DispatcherEnv {
  const taskDefinitionArn = requireVar(env, 'TASK_DEFINITION_ARN', "the runner task definition's ARN");
  return {
    ...readBackendEnv(env),
    queueUrl: requireVar(env, 'QUEUE_URL', "the task queue's URL"),
    dlqUrl: requireVar(env, 'DLQ_URL', "the dead-letter queue's URL"),
    bucket: requireVar(env, 'BUCKET', 'the state bucket name'),
    clusterArn: requireVar(env, 'CLUSTER_ARN', "the ECS cluster's ARN"),
    taskDefinitionArn,
    family: optionalVar(env, 'RUNNER_FAMILY') ?? familyOfDefinition(taskDefinitionArn),
    containerName: optionalVar(env, 'RUNNER_CONTAINER_NAME') ?? 'runner',
    subnetIds: listVar(env, 'SUBNET_IDS', 'a comma-separated list of subnet ids'),
    securityGroupIds: listVar(env, 'SECURITY_GROUP_IDS', 'a comma-separated list of security group ids'),
    assignPublicIp: enumVar(env, 'ASSIGN_PUBLIC_IP', ['ENABLED', 'DISABLED'] as const, 'DISABLED'),
    capacityProvider: enumVar(env, 'CAPACITY_PROVIDER', ['FARGATE', 'FARGATE_SPOT'] as const, 'FARGATE'),
    maxRunners: intVar(env, 'MAX_RUNNERS', {
      min: 1,
      max: 10_000,
      expected: 'the most runners at once, a positive integer',
    }),
    maxAttempts: readMaxAttempts(env),
    statuses: readStatuses(env),
  };
}

export interface StoppedEnv extends BackendEnv {
  queueUrl: string;
  bucket: string;
  family: string;
  containerName: string;
  maxAttempts: number;
  statuses: StatusNames;
}

export function readStoppedEnv(env: Env = process.env): StoppedEnv {
  return {
    ...readBackendEnv(env),
    queueUrl: requireVar(env, 'QUEUE_URL', "the task queue's URL"),
    bucket: requireVar(env, 'BUCKET', 'the state bucket name'),
    family: optionalVar(env, 'RUNNER_FAMILY') ?? 'numa-avatar-runner',
    containerName: optionalVar(env, 'RUNNER_CONTAINER_NAME') ?? 'runner',
    maxAttempts: readMaxAttempts(env),
    statuses: readStatuses(env),
  };
}

/** The family named in a task definition ARN (".../task-definition/<family>:<revision>") or "family:rev". */
export function familyOfDefinition(taskDefinition: string): string {
  const m = /(?:task-definition\/)?([^:/]+)(?::\d+)?$/.exec(taskDefinition);
  return m?.[1] ?? 'numa-avatar-runner';
}
