/**
 * The stack's settings: `NumaAvatarProps` (documented one by one), their defaults and validation,
 * and how each is read from the CDK context (`cdk.json` or `npx cdk synth -c maxRunners=10`).
 * The context key of every setting is its prop name.
 */
import { z } from 'zod';
import { AvatarError } from '../core/errors.ts';
import { describeIssues } from '../core/message.ts';

/** Log retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** Memory sizes Fargate accepts for each CPU size (MiB). */
const FARGATE_MEMORY: Record<number, { min: number; max: number; step: number; extra?: number[] }> = {
  256: { min: 1024, max: 2048, step: 1024, extra: [512] },
  512: { min: 1024, max: 4096, step: 1024 },
  1024: { min: 2048, max: 8192, step: 1024 },
  2048: { min: 4096, max: 16384, step: 1024 },
  4096: { min: 8192, max: 30720, step: 1024 },
  8192: { min: 16384, max: 61440, step: 4096 },
  16384: { min: 32768, max: 122880, step: 8192 },
};

/** The placeholder in cdk.json: synth works with it, the stack warns until it is replaced. */
export const PLACEHOLDER_BACKEND_URL = 'https://numa.example.invalid';

const httpUrl = z
  .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
  .refine((u) => !/^[a-z]+:\/\/[^/]*@/i.test(u), 'must not contain credentials: put the token in the secret');

const int = (min: number, max: number) => z.number().int().min(min).max(max);

/** Validation and defaults of `NumaAvatarSettings` (documented there, key by key). */
export const settingsSchema = z.strictObject({
  backendUrl: httpUrl,

  vpcId: z
    .string()
    .regex(/^vpc-[0-9a-f]+$/, 'expected a VPC id (vpc-...)')
    .optional(),
  subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]+$/, 'expected subnet ids (subnet-...)')).optional(),
  runnerSubnets: z.enum(['public', 'private']).default('public'),
  natGateways: int(1, 3).default(1),

  runnerCpu: z
    .number()
    .int()
    .refine((n) => n in FARGATE_MEMORY, 'expected one of 256, 512, 1024, 2048, 4096, 8192, 16384')
    .default(1024),
  runnerMemoryMiB: z.number().int().positive().default(2048),
  runnerEphemeralStorageGiB: int(21, 200).default(30),
  runnerArchitecture: z.enum(['X86_64', 'ARM64']).default('X86_64'),
  runnerFamily: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,255}$/, 'letters, digits, _ and - only')
    .default('numa-avatar-runner'),
  runTimeoutMinutes: int(1, 24 * 60).default(60),
  maxRunners: int(1, 500).default(5),
  maxAttempts: int(1, 10).default(2),
  capacity: z.enum(['FARGATE', 'FARGATE_SPOT']).default('FARGATE'),
  egressPorts: z.array(int(1, 65_535)).min(1, 'needs at least one port').default([443]),
  logRetentionDays: z
    .number()
    .int()
    .refine((n) => (LOG_RETENTION_DAYS as readonly number[]).includes(n), {
      message: `expected one of ${LOG_RETENTION_DAYS.join(', ')}`,
    })
    .default(30),
  modelName: z.string().min(1).max(200).default('gpt-4o-mini'),
  modelBaseUrl: httpUrl.optional(),
  runnerConfigYaml: z.string().max(16_384).optional(),
  alarmEmail: z.email({ error: 'expected an email address' }).optional(),

  pollWaitSeconds: int(0, 60).default(20),
  pollLimit: int(1, 1000).default(50),
  pollSafetyMarginSeconds: int(1, 300).default(15),
  pollerTimeoutSeconds: int(10, 900).default(60),
  reservePollerConcurrency: z.boolean().default(true),

  runsRetentionDays: int(1, 3650).default(90),
  cacheRetentionDays: int(1, 3650).default(30),
  failureRateThreshold: z.number().gt(0).max(1).default(0.5),
  failureRateMinRuns: int(1, 10_000).default(3),

  lambdaRuntime: z.enum(['nodejs22.x', 'nodejs24.x']).default('nodejs24.x'),
  bundleAwsSdk: z.boolean().default(false),
});

/**
 * The settings of the numa-avatar stack. Every one but `backendUrl` has a default; each can be
 * given as a construct prop or as a CDK context value of the same name (`-c maxRunners=10`).
 */
export interface NumaAvatarSettings {
  /** The Numa backend's base URL (NUMA_BACKEND_URL for the Lambdas and the runner). Required. */
  backendUrl: string;

  /**
   * An existing VPC to run the runners in. Without it the stack creates a VPC with public subnets
   * only and no NAT gateway (idle cost near zero); the runners then get public IPs.
   */
  vpcId?: string;
  /**
   * Subnets of `vpcId` for the runners. Given with `vpcId`, no lookup is needed (synth works without
   * AWS credentials); without it the stack looks the VPC up (credentials needed once; the answer is
   * cached in cdk.context.json) and picks its public or private subnets per `runnerSubnets`.
   * Context: a comma list.
   */
  subnetIds?: string[];
  /**
   * 'public' (default): runners in public subnets with a public IP, no NAT gateway.
   * 'private': runners in private subnets without public IPs, reaching out through NAT gateways
   * (a new VPC gets `natGateways` of them: about 32 USD a month each, plus traffic).
   */
  runnerSubnets?: 'public' | 'private';
  /** NAT gateways in a new VPC when `runnerSubnets` is 'private' (1..3, default 1). */
  natGateways?: number;

  /** Runner task CPU units, 1024 = 1 vCPU (256, 512, 1024, 2048, 4096, 8192, 16384; default 1024). */
  runnerCpu?: number;
  /** Runner task memory in MiB, a size Fargate allows for `runnerCpu` (default 2048). */
  runnerMemoryMiB?: number;
  /** Runner task ephemeral storage in GiB, 21..200 (default 30): clones, caches and test runs. */
  runnerEphemeralStorageGiB?: number;
  /** CPU architecture of the runner image and task (default X86_64; ARM64 is about 20% cheaper). */
  runnerArchitecture?: 'X86_64' | 'ARM64';
  /** Task definition family of the runner (default numa-avatar-runner; RUNNER_FAMILY). */
  runnerFamily?: string;
  /** A run's time limit in minutes (default 60; NUMA_RUN_TIMEOUT_SECONDS = this × 60). */
  runTimeoutMinutes?: number;
  /** Most runners at once: the dispatcher's cap (default 5; MAX_RUNNERS). */
  maxRunners?: number;
  /** Runs of one message when runners die without reporting (default 2; MAX_ATTEMPTS). */
  maxAttempts?: number;
  /** Fargate capacity for the runners (default FARGATE; FARGATE_SPOT is cheaper and can be reclaimed). */
  capacity?: 'FARGATE' | 'FARGATE_SPOT';
  /** TCP ports the runners may connect out to, anywhere on IPv4 (default [443]; no inbound at all). Context: a comma list. */
  egressPorts?: number[];
  /** Days the Lambda and runner logs are kept (a CloudWatch Logs retention value; default 30). */
  logRetentionDays?: number;
  /** Model name (NUMA_MODEL; not secret; default gpt-4o-mini). */
  modelName?: string;
  /** OpenAI-compatible endpoint (OPENAI_BASE_URL; not secret). Unset: OpenAI's. */
  modelBaseUrl?: string;
  /** Extra runner configuration as YAML text (NUMA_CONFIG_YAML). Visible in the template: no secrets. */
  runnerConfigYaml?: string;
  /** Email address subscribed to the alarm topic (SNS asks it to confirm). */
  alarmEmail?: string;

  /** Long-poll wait sent to the backend per request, 0..60 seconds (default 20; POLL_WAIT_SECONDS). */
  pollWaitSeconds?: number;
  /** Most messages per poll (default 50; POLL_LIMIT). */
  pollLimit?: number;
  /** The poller stops long-polling when less than wait + this remains (default 15; POLL_SAFETY_MARGIN_SECONDS). */
  pollSafetyMarginSeconds?: number;
  /** The poller's timeout in seconds (default 60): its long-poll window is this minus wait and margin. */
  pollerTimeoutSeconds?: number;
  /**
   * Reserve concurrency 1 for the poller, one invocation at a time (default true). Accounts whose
   * Lambda concurrency quota is still the new-account 10 cannot reserve any: set false there (the
   * poller's conditional cursor writes keep overlapping invocations correct anyway).
   */
  reservePollerConcurrency?: boolean;

  /** Days run artifacts (runs/) and dispatch records (dispatch/, stopped/) are kept (default 90). */
  runsRetentionDays?: number;
  /** Days a code or model cache entry (cache/) is kept after it was last written (default 30). */
  cacheRetentionDays?: number;
  /** The runner failure-rate alarm fires above this share of failed runs in an hour (0..1, default 0.5)... */
  failureRateThreshold?: number;
  /** ...once at least this many runs ended in that hour (default 3). */
  failureRateMinRuns?: number;

  /** Lambda runtime (default nodejs24.x). Node 20 is past its Lambda deprecation: creates are blocked. */
  lambdaRuntime?: 'nodejs22.x' | 'nodejs24.x';
  /** Bundle the AWS SDK into the Lambdas instead of using the runtime's copy (default false: smaller bundles). */
  bundleAwsSdk?: boolean;
}

/** The stack's settings after defaults. */
export type AvatarSettings = z.infer<typeof settingsSchema>;
/** The stack's settings as given (defaults optional). */
export type AvatarSettingsInput = NumaAvatarSettings;

// Compile-time check that the documented interface and the schema describe the same keys and types.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _schemaMatchesInterface: Same<z.input<typeof settingsSchema>, NumaAvatarSettings> = true;

/** Every context key, in the order README lists them. */
export const CONTEXT_KEYS = Object.keys(settingsSchema.shape) as (keyof AvatarSettings)[];

function fargateMemoryProblem(cpu: number, memory: number): string | undefined {
  const rule = FARGATE_MEMORY[cpu];
  if (!rule) return undefined;
  const ok =
    (memory >= rule.min && memory <= rule.max && (memory - rule.min) % rule.step === 0) ||
    (rule.extra ?? []).includes(memory);
  if (ok) return undefined;
  const sizes = [...(rule.extra ?? [])];
  for (let m = rule.min; m <= rule.max; m += rule.step) sizes.push(m);
  const shown =
    sizes.length > 8 ? `${sizes[0]}..${sizes[sizes.length - 1]} in steps of ${rule.step}` : sizes.join(', ');
  return `runnerMemoryMiB: ${memory} is not a Fargate size for runnerCpu ${cpu} (expected ${shown})`;
}

/** Applies defaults and checks every setting; throws CONFIG_INVALID naming each bad key. */
export function resolveSettings(input: AvatarSettingsInput): AvatarSettings {
  const parsed = settingsSchema.safeParse(input);
  if (!parsed.success) {
    throw new AvatarError(
      'CONFIG_INVALID',
      `invalid numa-avatar stack settings: ${describeIssues(parsed.error)}`,
    );
  }
  const s = parsed.data;
  const problems: string[] = [];
  const memory = fargateMemoryProblem(s.runnerCpu, s.runnerMemoryMiB);
  if (memory) problems.push(memory);
  if (s.pollWaitSeconds + s.pollSafetyMarginSeconds >= s.pollerTimeoutSeconds) {
    problems.push(
      `pollWaitSeconds (${s.pollWaitSeconds}) + pollSafetyMarginSeconds (${s.pollSafetyMarginSeconds}) must be less than pollerTimeoutSeconds (${s.pollerTimeoutSeconds})`,
    );
  }
  if (s.subnetIds && !s.vpcId) problems.push('subnetIds: needs vpcId (the VPC the subnets belong to)');
  if (problems.length > 0) {
    throw new AvatarError('CONFIG_INVALID', `invalid numa-avatar stack settings: ${problems.join('; ')}`);
  }
  return s;
}

type Kind = 'number' | 'boolean' | 'string' | 'numberList' | 'stringList';

/** How a context value given as text (`-c key=value`) becomes the prop's type. */
const KINDS: Record<keyof AvatarSettings, Kind> = {
  backendUrl: 'string',
  vpcId: 'string',
  subnetIds: 'stringList',
  runnerSubnets: 'string',
  natGateways: 'number',
  runnerCpu: 'number',
  runnerMemoryMiB: 'number',
  runnerEphemeralStorageGiB: 'number',
  runnerArchitecture: 'string',
  runnerFamily: 'string',
  runTimeoutMinutes: 'number',
  maxRunners: 'number',
  maxAttempts: 'number',
  capacity: 'string',
  egressPorts: 'numberList',
  logRetentionDays: 'number',
  modelName: 'string',
  modelBaseUrl: 'string',
  runnerConfigYaml: 'string',
  alarmEmail: 'string',
  pollWaitSeconds: 'number',
  pollLimit: 'number',
  pollSafetyMarginSeconds: 'number',
  pollerTimeoutSeconds: 'number',
  reservePollerConcurrency: 'boolean',
  runsRetentionDays: 'number',
  cacheRetentionDays: 'number',
  failureRateThreshold: 'number',
  failureRateMinRuns: 'number',
  lambdaRuntime: 'string',
  bundleAwsSdk: 'boolean',
};

function coerce(kind: Kind, value: unknown): unknown {
  if (typeof value !== 'string') {
    if (kind === 'numberList' && typeof value === 'number') return [value];
    return value;
  }
  const text = value.trim();
  switch (kind) {
    case 'number':
      return text === '' || Number.isNaN(Number(text)) ? value : Number(text);
    case 'boolean':
      return text === 'true' ? true : text === 'false' ? false : value;
    case 'numberList':
      return text
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean)
        .map((p) => (Number.isNaN(Number(p)) ? p : Number(p)));
    case 'stringList':
      return text
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean);
    case 'string':
      return text;
  }
}

/**
 * Reads every setting from the CDK context (`node.tryGetContext`). Values given on the command
 * line arrive as text and are converted (`-c egressPorts=443,22`, `-c reservePollerConcurrency=false`);
 * an empty text means "unset" (the default applies).
 */
export function settingsFromContext(tryGetContext: (key: string) => unknown): Partial<NumaAvatarSettings> {
  const out: Record<string, unknown> = {};
  for (const key of CONTEXT_KEYS) {
    const raw = tryGetContext(key);
    if (raw === undefined || raw === null || raw === '') continue;
    out[key] = coerce(KINDS[key], raw);
  }
  // Not checked here: resolveSettings validates every value (and names the key of a bad one).
  return out as Partial<NumaAvatarSettings>;
}
