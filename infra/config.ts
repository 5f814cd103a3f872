/**
 * The stack's settings: `NumaAvatarProps` (documented one by one), their defaults and validation,
 * and how each is read from the CDK context (`cdk.json` or `npx cdk synth -c maxRunners=10`).
 * The context key of every setting is its prop name.
 */
import { isMap, isScalar, parseDocument } from 'yaml';
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

/**
 * The default long-poll window of the poller (pollWaitSeconds), in seconds: the stack's idle cost
 * stays under $5 a month with it (bench/idle-cost.ts).
 */
export const DEFAULT_POLL_WAIT_SECONDS = 2;

/** Most domains in `egressAllowDomains` (the DNS Firewall API's limit for one update of a domain list). */
export const MAX_EGRESS_ALLOW_DOMAINS = 1000;

const DOMAIN_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Why `domain` cannot go into a DNS Firewall domain list, or undefined when it can: a host name
 * (`github.com`) or a wildcard over its subdomains (`*.github.com`), lower case, at least two
 * labels, no trailing dot, no IP address, no scheme, path or port.
 */
export function egressDomainProblem(domain: string): string | undefined {
  const shown = JSON.stringify(domain);
  const expected = 'expected a domain name such as github.com, or *.github.com for its subdomains';
  if (domain === '*') {
    return `${shown} would allow every domain: leave egressAllowDomains unset for no allow-list`;
  }
  if (domain !== domain.toLowerCase()) return `${shown}: write it in lower case`;
  const name = domain.startsWith('*.') ? domain.slice(2) : domain;
  const labels = name.split('.');
  if (
    name.length === 0 ||
    name.length > 253 ||
    labels.length < 2 ||
    !labels.every((label) => DOMAIN_LABEL.test(label))
  ) {
    return `${shown} is not a domain name: ${expected} (letters, digits and hyphens, dot-separated labels of at most 63 characters, at least two labels; "*." only at the start)`;
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) {
    return `${shown} is an IP address: DNS Firewall filters names, not addresses (${expected})`;
  }
  return undefined;
}

const egressDomain = z.string().superRefine((domain, ctx) => {
  const problem = egressDomainProblem(domain);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

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
  egressAllowDomains: z
    .array(egressDomain)
    .min(1, 'needs at least one domain (the git host, e.g. github.com); leave it unset for no allow-list')
    .max(MAX_EGRESS_ALLOW_DOMAINS, `at most ${MAX_EGRESS_ALLOW_DOMAINS} domains`)
    .optional(),
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

  pollWaitSeconds: int(0, 60).default(DEFAULT_POLL_WAIT_SECONDS),
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
  /**
   * Opt-in DNS allow-list for the runners: the domains they may resolve, each a host name
   * (`github.com`) or a wildcard over its subdomains (`*.github.com`; it does not cover
   * `github.com` itself). Set, the stack creates a Route 53 Resolver DNS Firewall rule group that
   * answers every other name with NXDOMAIN, and associates it with the runners' VPC (with `vpcId`:
   * every resource in that VPC). The names the runner itself needs are allowed as well: the backend's
   * and the model endpoint's hosts, this stack's bucket and the AWS endpoints a task needs to start
   * (ECR, CloudWatch Logs, Secrets Manager). It filters name resolution only: a process that connects
   * to an IP address it already knows is not stopped (README, "Isolation of the runners").
   * Unset (default): no DNS filtering. Context: a comma list.
   */
  egressAllowDomains?: string[];
  /** Days the Lambda and runner logs are kept (a CloudWatch Logs retention value; default 30). */
  logRetentionDays?: number;
  /** Model name (NUMA_MODEL; not secret; default gpt-4o-mini). */
  modelName?: string;
  /** OpenAI-compatible endpoint (OPENAI_BASE_URL; not secret). Unset: OpenAI's. */
  modelBaseUrl?: string;
  /**
   * Extra runner configuration as YAML text (NUMA_CONFIG_YAML). Visible in the template: no secrets.
   * The stack adds `sandbox.mode: user` to it (and refuses any other `sandbox.mode`).
   */
  runnerConfigYaml?: string;
  /** Email address subscribed to the alarm topic (SNS asks it to confirm). */
  alarmEmail?: string;

  /**
   * The poller's long-poll window: the wait sent to the backend per request, 0..60 seconds
   * (default 2; POLL_WAIT_SECONDS). While the topic is idle each invocation (every minute) makes
   * one poll of this window and returns, so it is what an idle stack pays for, and a message
   * published between two invocations waits up to about 60 s minus the window (the worst-case
   * pickup latency while idle). While messages keep arriving the poller keeps polling until its
   * time budget runs out, whatever the window. 20 instead of 2: about $1.30 a month more, pickup
   * within about 40 s instead of 58 s (README, "What it costs").
   */
  pollWaitSeconds?: number;
  /** Most messages per poll (default 50; POLL_LIMIT). */
  pollLimit?: number;
  /** A busy poller stops polling when less than wait + this remains (default 15; POLL_SAFETY_MARGIN_SECONDS). */
  pollSafetyMarginSeconds?: number;
  /** The poller's timeout in seconds (default 60): a busy poller polls for this minus wait and margin. */
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

/**
 * The sandbox of the agent's commands on Fargate, where user namespaces (bubblewrap) are not
 * available: each command runs as a separate unprivileged uid through setpriv, started by the runner
 * as root (container/runner/sandbox/setpriv.ts). The task definition provides what that needs.
 */
export const RUNNER_SANDBOX_MODE = 'user';

/**
 * The runner's NUMA_CONFIG_YAML: `runnerConfigYaml` (comments and layout kept) with `sandbox.mode`
 * set to `user`, or a reason it cannot be. The runner has no environment variable for the sandbox
 * mode, so the stack passes it this way. A `runnerConfigYaml` that sets another mode is refused:
 * `namespaces` cannot run on Fargate, and `none` or `auto` would weaken what the task definition
 * was built for.
 */
function sandboxedRunnerConfig(text: string | undefined): { yaml: string } | { problem: string } {
  const doc = parseDocument(text ?? '');
  const where = 'runnerConfigYaml';
  if (doc.errors.length > 0) {
    return { problem: `${where}: not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}` };
  }
  if (doc.contents !== null && !isMap(doc.contents)) {
    return { problem: `${where}: expected a mapping of keys at the top level` };
  }
  const sandbox: unknown = doc.get('sandbox', true);
  if (sandbox === undefined || (isScalar(sandbox) && sandbox.value === null)) {
    // Absent, or a section whose keys are all commented out.
    doc.set('sandbox', doc.createNode({ mode: RUNNER_SANDBOX_MODE }));
    return { yaml: doc.toString() };
  }
  if (!isMap(sandbox)) return { problem: `${where}: sandbox: expected a mapping` };
  const mode = doc.getIn(['sandbox', 'mode']);
  if (mode !== undefined && mode !== null && mode !== RUNNER_SANDBOX_MODE) {
    return {
      problem:
        `${where}: sandbox.mode is ${JSON.stringify(mode)}, but on Fargate the runner runs the agent's commands ` +
        `as a separate uid (sandbox.mode ${RUNNER_SANDBOX_MODE}), which the stack sets itself: leave sandbox.mode out`,
    };
  }
  doc.setIn(['sandbox', 'mode'], RUNNER_SANDBOX_MODE);
  return { yaml: doc.toString() };
}

/** NUMA_CONFIG_YAML for the runner (see sandboxedRunnerConfig); throws CONFIG_INVALID. */
export function runnerConfigYaml(text: string | undefined): string {
  const result = sandboxedRunnerConfig(text);
  if ('problem' in result) {
    throw new AvatarError('CONFIG_INVALID', `invalid numa-avatar stack settings: ${result.problem}`);
  }
  return result.yaml;
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
  const runnerConfig = sandboxedRunnerConfig(s.runnerConfigYaml);
  if ('problem' in runnerConfig) problems.push(runnerConfig.problem);
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
  egressAllowDomains: 'stringList',
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
