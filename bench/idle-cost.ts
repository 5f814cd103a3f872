/**
 * The deployed stack's idle cost per month (no task at all), as arithmetic from its resources and
 * from what its poller does when idle, before and now, against the seed design's always-on
 * container polling every 5 s (a 0.25 vCPU / 0.5 GB Fargate task running all month).
 *
 *   npx tsx bench/idle-cost.ts
 *
 * Now: the template is synthesized here exactly as `cdk synth` does (cdk.json's context, the real
 * handlers; no AWS credentials or Docker needed) and its resources counted. What the poller does
 * per idle invocation is not guessed from its settings: the real handler
 * (functions/poller/handler.ts, with the template's POLL_* settings and Lambda timeout) is invoked
 * here twice against the reference Numa backend on 127.0.0.1 with no message on the topic, and its
 * successful polls and the custom metrics it writes are counted on the second (warm) invocation.
 * Its billed duration is those polls × the window, plus the per-invocation work around them
 * (ASSUME, measured by bench/poller-memory.ts).
 *
 * Before: the stack as it was published at $11.62 (BEFORE: its parameters, and its arithmetic
 * unchanged: it counted no per-invocation work around the polls; the note under the table gives
 * that figure with it too).
 *
 * Prices: us-east-1, on demand, as listed on the AWS pricing pages in 2025 (Lambda arm64, SQS
 * standard, Secrets Manager, CloudWatch, S3 Standard, ECR, Fargate Linux/x86). A month is 730 hours.
 * "Free tier" means the always-free monthly allowances of an account that uses them for nothing else.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import type { CursorState } from '../core/polling/poller.ts';
import { NumaClient } from '../core/numa/client.ts';
import type { DeadLetter, OutgoingMessage, TaskQueue, VersionedStore } from '../core/ports.ts';
import { createPollerHandler, type PollSummary } from '../functions/poller/handler.ts';
import { createNumaAvatarApp } from '../infra/create-app.ts';
import { startNumaBackend } from '../servers/numa-backend/index.ts';

const PRICE = {
  lambdaArmGbSecond: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  sqsRequest: 0.4 / 1e6,
  secretMonth: 0.4,
  secretsApiCall: 0.05 / 10_000,
  dashboardMonth: 3.0,
  alarmMetricMonth: 0.1,
  customMetricMonth: 0.3,
  logsIngestGb: 0.5,
  logsStoreGbMonth: 0.03,
  s3Get: 0.0004 / 1000,
  s3GbMonth: 0.023,
  ecrGbMonth: 0.1,
  natHour: 0.045,
  interfaceEndpointHour: 0.01,
  kmsKeyMonth: 1.0,
  fargateVcpuHour: 0.04048,
  fargateGbHour: 0.004445,
  publicIpv4Hour: 0.005,
};
const FREE = {
  lambdaGbSeconds: 400_000,
  lambdaRequests: 1_000_000,
  sqsRequests: 1_000_000,
  dashboards: 3,
  alarmMetrics: 10,
  customMetrics: 10,
  logsGb: 5,
};
const HOURS = 730;
/** Lambda gives a function one full vCPU at 1,769 MB, and CPU in proportion to memory below that. */
const FULL_VCPU_MB = 1769;

/** Assumptions that neither the template nor a local run can tell, each stated where it is used. */
const ASSUME = {
  /**
   * CPU of one warm idle invocation at a full vCPU: 5 ms (bench/poller-memory.ts, the bundle on
   * Node 24: the cursor read, one poll, the summary log line). At the poller's memory it takes
   * FULL_VCPU_MB / memory times as long.
   */
  idleCpuSeconds: 0.005,
  /**
   * Time an idle invocation waits on the network besides the long poll itself: the S3 cursor read
   * and the round trip to the backend, in AWS (not measurable on loopback).
   */
  idleNetworkSeconds: 0.1,
  /** Bytes an idle invocation logs: the handler's 418 B (bench/poller-memory.ts) and Lambda's START, END and REPORT lines. */
  pollerLogBytes: 800,
  /**
   * Cold starts of the poller a month (one an hour: Lambda does not say how long it keeps an
   * environment), each billed for its init and first invocation: the bundle's import (117 ms at a
   * full vCPU, bench/poller-memory.ts) and the first invocation's extra 42 ms of CPU, at the
   * poller's memory, plus about half a second of the runtime's own start.
   */
  coldStartsPerMonth: HOURS,
  coldStartCpuSeconds: 0.117 + 0.042,
  coldStartFixedSeconds: 0.5,
  /** ReceiveMessage calls a minute of the SQS event source's pollers on an empty queue (Lambda's 5 long-polling pollers, 20 s each). */
  sqsEventSourceCallsPerMinute: 15,
  /** The runner image in the CDK assets repository. */
  imageGb: 0.2,
  /** State in the bucket while idle (cursor, old run artifacts are counted per task). */
  bucketGb: 0.01,
};

/** What the idle month's arithmetic needs to know of one shape of the stack. */
interface Shape {
  schedule: string;
  invocations: number;
  memoryMb: number;
  timeout: number;
  wait: number;
  margin: number;
  /** Successful polls an idle invocation makes. */
  idlePolls: number;
  /** How idlePolls was found. */
  pollsHow: string;
  /** Seconds billed per idle invocation besides its long polls. */
  overheadSeconds: number;
  coldStarts: number;
  coldStartSeconds: number;
  pollerLogBytes: number;
  secrets: number;
  idleCustomMetrics: string[];
  dashboards: number;
  alarms: number;
  alarmMetrics: number[];
  eventSourceMappings: number;
  logGroups: number;
  retentionDays: number;
  buckets: number;
  nat: number;
  interfaceEndpoints: number;
  gatewayEndpoints: number;
  eips: number;
  kms: number;
  services: number;
}

/**
 * The stack before one secret and the idle window, as its idle month was published ($11.62). Its
 * poller long-polled back to back while at least wait + margin seconds remained: with a 60 s
 * timeout, a 20 s wait and a 15 s margin, floor((60 − 20 − 15) / 20) + 1 = 2 polls of 20 s per
 * invocation, at 256 MB; three secrets; PollSuccess written every minute; 4 alarms over 7 metrics.
 */
const BEFORE: Shape = {
  schedule: 'rate(1 minute)',
  invocations: (HOURS * 60) / 1,
  memoryMb: 256,
  timeout: 60,
  wait: 20,
  margin: 15,
  idlePolls: Math.floor((60 - 20 - 15) / 20) + 1,
  pollsHow: 'back to back while wait + margin remained',
  overheadSeconds: 0,
  coldStarts: 0,
  coldStartSeconds: 0,
  pollerLogBytes: 2048,
  secrets: 3,
  idleCustomMetrics: ['PollSuccess'],
  dashboards: 1,
  alarms: 4,
  alarmMetrics: [1, 2, 1, 3],
  eventSourceMappings: 1,
  logGroups: 4,
  retentionDays: 30,
  buckets: 1,
  nat: 0,
  interfaceEndpoints: 0,
  gatewayEndpoints: 1,
  eips: 0,
  kms: 0,
  services: 0,
};

type Res = { Type: string; Properties?: Record<string, unknown> };

function synthesize(): Res[] {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'numa-bench-cost-'));
  try {
    const context = (
      JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../cdk.json'), 'utf8')) as {
        context: Record<string, unknown>;
      }
    ).context;
    const { app, stack } = createNumaAvatarApp({
      context: { ...context, backendUrl: 'https://numa.example.com' },
      outdir,
      builtinValidation: false,
    });
    const template = app.synth().getStackByName(stack.stackName).template as {
      Resources: Record<string, Res>;
    };
    return Object.values(template.Resources);
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

/** A queue and a cursor in memory: enough for the poll step with no message on the topic. */
function memoryPorts(): { queue: TaskQueue; cursor: VersionedStore<CursorState>; sent: unknown[] } {
  const sent: unknown[] = [];
  let stored: { value: CursorState; version: string } | undefined;
  let version = 0;
  const unused = () => Promise.reject(new Error('not used by the poller'));
  return {
    sent,
    queue: {
      send: async (messages: OutgoingMessage[]) => void sent.push(...messages),
      deadLetter: async (letter: DeadLetter) => void sent.push(letter),
      receive: unused,
      ack: unused,
      release: unused,
      depth: async () => 0,
    },
    cursor: {
      load: async () => stored,
      save: async (value, expected) => {
        if (expected !== stored?.version) return false;
        stored = { value, version: String(++version) };
        return true;
      },
    },
  };
}

/**
 * Invokes the real poller handler twice with no message on the topic (the first also learns the
 * topic id, as a first invocation in AWS does) and returns what the second did: its successful
 * polls, how it ended, the custom metrics it wrote (EMF lines on stdout) and its wall time.
 */
async function idleInvocation(o: {
  timeoutSeconds: number;
  wait: number;
  margin: number;
  limit: number;
}): Promise<{ summary: PollSummary; metrics: string[]; wallMs: number }> {
  const backend = await startNumaBackend({ port: 0 });
  const ports = memoryPorts();
  const handler = createPollerHandler({
    logger: new Logger({ logLevel: 'SILENT' }),
    init: async () => ({
      client: new NumaClient({ baseUrl: backend.url }),
      queue: ports.queue,
      cursor: ports.cursor,
      settings: { waitSeconds: o.wait, safetyMarginSeconds: o.margin, limit: o.limit, intervalSeconds: 5 },
    }),
  });
  const context = (): Context => {
    const deadline = Date.now() + o.timeoutSeconds * 1000;
    return {
      callbackWaitsForEmptyEventLoop: true,
      functionName: 'bench-poller',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:bench-poller',
      memoryLimitInMB: '128',
      awsRequestId: 'bench',
      logGroupName: '/aws/lambda/bench-poller',
      logStreamName: 'bench',
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    };
  };
  const event = { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} };
  const written: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  try {
    await handler(event, context());
    process.stdout.write = ((chunk: string | Uint8Array) => {
      written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }) as typeof process.stdout.write;
    const started = performance.now();
    const summary = (await handler(event, context())) as PollSummary;
    const wallMs = performance.now() - started;
    process.stdout.write = write;
    if (ports.sent.length > 0) throw new Error('the idle topic gave the poller something to send');
    const metrics = new Set<string>();
    for (const line of written.join('').split('\n')) {
      if (!line.includes('"_aws"')) continue;
      const doc = JSON.parse(line) as {
        _aws: { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string }> }> };
      };
      for (const m of doc._aws.CloudWatchMetrics) for (const { Name } of m.Metrics) metrics.add(Name);
    }
    return { summary, metrics: [...metrics], wallMs };
  } finally {
    process.stdout.write = write;
    await backend.close();
  }
}

const resources = synthesize();
const ofType = (t: string) => resources.filter((r) => r.Type === t);
const props = (r: Res) => r.Properties ?? {};

const schedule = ofType('AWS::Events::Rule')
  .map((r) => String(props(r).ScheduleExpression ?? ''))
  .find((s) => s.startsWith('rate('));
const m = /^rate\((\d+) minutes?\)$/.exec(schedule ?? '');
if (!m) throw new Error(`no rate(N minutes) schedule in the template (found ${schedule})`);
const poller = ofType('AWS::Lambda::Function').find((r) =>
  JSON.stringify(props(r).Environment ?? {}).includes('POLL_WAIT_SECONDS'),
)!;
const env = (props(poller).Environment as { Variables: Record<string, string> }).Variables;
const arch = (props(poller).Architectures as string[] | undefined)?.[0] ?? 'x86_64';
if (arch !== 'arm64') throw new Error(`the prices here are for arm64; the poller is ${arch}`);
const memoryMb = Number(props(poller).MemorySize);
const timeout = Number(props(poller).Timeout);
const wait = Number(env.POLL_WAIT_SECONDS);
const margin = Number(env.POLL_SAFETY_MARGIN_SECONDS);
const idle = await idleInvocation({ timeoutSeconds: timeout, wait, margin, limit: Number(env.POLL_LIMIT) });
if (idle.summary.end !== 'idle') {
  throw new Error(`the idle invocation did not end idle: ${JSON.stringify(idle.summary)}`);
}
/** Seconds an idle invocation is billed besides its long polls, and a cold start, at `mb` of memory. */
const overheadAt = (mb: number) => ASSUME.idleNetworkSeconds + ASSUME.idleCpuSeconds * (FULL_VCPU_MB / mb);
const coldStartAt = (mb: number) =>
  ASSUME.coldStartFixedSeconds + ASSUME.coldStartCpuSeconds * (FULL_VCPU_MB / mb);
const alarmsNow = ofType('AWS::CloudWatch::Alarm');
const interfaceEndpoints = ofType('AWS::EC2::VPCEndpoint').filter(
  (e) => props(e).VpcEndpointType === 'Interface',
).length;
const logGroups = ofType('AWS::Logs::LogGroup');

const NOW: Shape = {
  schedule: schedule!,
  invocations: (HOURS * 60) / Number(m[1]),
  memoryMb,
  timeout,
  wait,
  margin,
  idlePolls: idle.summary.polls,
  pollsHow: `the handler, run here: ${idle.summary.polls} successful poll, then it ended (${idle.summary.end}) after ${(idle.wallMs / 1000).toFixed(2)} s`,
  overheadSeconds: overheadAt(memoryMb),
  coldStarts: ASSUME.coldStartsPerMonth,
  coldStartSeconds: coldStartAt(memoryMb),
  pollerLogBytes: ASSUME.pollerLogBytes,
  secrets: ofType('AWS::SecretsManager::Secret').length,
  idleCustomMetrics: idle.metrics,
  dashboards: ofType('AWS::CloudWatch::Dashboard').length,
  alarms: alarmsNow.length,
  alarmMetrics: alarmsNow.map((a) => {
    const metrics = (props(a).Metrics as Array<{ MetricStat?: unknown }> | undefined) ?? [];
    return metrics.length === 0 ? 1 : metrics.filter((x) => x.MetricStat).length;
  }),
  eventSourceMappings: ofType('AWS::Lambda::EventSourceMapping').length,
  logGroups: logGroups.length,
  retentionDays: Math.max(...logGroups.map((g) => Number(props(g).RetentionInDays ?? 0))),
  buckets: ofType('AWS::S3::Bucket').length,
  nat: ofType('AWS::EC2::NatGateway').length,
  interfaceEndpoints,
  gatewayEndpoints: ofType('AWS::EC2::VPCEndpoint').length - interfaceEndpoints,
  eips: ofType('AWS::EC2::EIP').length,
  kms: ofType('AWS::KMS::Key').length,
  services: ofType('AWS::ECS::Service').length,
};

const f = (n: number, d = 2) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const n0 = (n: number) => Math.round(n).toLocaleString('en-US');

interface Line {
  item: string;
  arithmetic: string;
  usd: number;
  freeUsd: number;
}

/** The idle month of one shape, line by line. */
function idleMonth(s: Shape): Line[] {
  const lines: Line[] = [];
  const add = (item: string, arithmetic: string, usd: number, freeUsd = usd) =>
    lines.push({ item, arithmetic, usd, freeUsd });
  const gb = s.memoryMb / 1024;

  add(
    'poller Lambda requests',
    `${s.schedule}: ${n0(s.invocations)} invocations × $0.20 per million`,
    s.invocations * PRICE.lambdaRequest,
    0,
  );
  const seconds = s.idlePolls * s.wait + s.overheadSeconds;
  const pollGbSeconds = s.invocations * gb * seconds + s.coldStarts * gb * s.coldStartSeconds;
  add(
    `poller Lambda duration: ${s.idlePolls} long poll${s.idlePolls === 1 ? '' : 's'} of ${s.wait} s per idle invocation (${s.pollsHow}; timeout ${s.timeout} s, margin ${s.margin} s) at ${s.memoryMb} MB arm64` +
      (s.overheadSeconds > 0 ? `, + ${f(s.overheadSeconds, 2)} s around the poll` : '') +
      (s.coldStarts > 0 ? `, + ${n0(s.coldStarts)} cold starts of ${f(s.coldStartSeconds, 1)} s` : ''),
    `${n0(s.invocations)} × ${gb} GB × ${f(seconds, 2)} s` +
      (s.coldStarts > 0 ? ` + ${n0(s.coldStarts)} × ${gb} GB × ${f(s.coldStartSeconds, 1)} s` : '') +
      ` = ${n0(pollGbSeconds)} GB-s × $${PRICE.lambdaArmGbSecond}`,
    pollGbSeconds * PRICE.lambdaArmGbSecond,
    Math.max(0, pollGbSeconds - FREE.lambdaGbSeconds) * PRICE.lambdaArmGbSecond,
  );

  const sqsCalls = s.eventSourceMappings * ASSUME.sqsEventSourceCallsPerMinute * 60 * HOURS;
  add(
    `SQS: ${s.eventSourceMappings} event source (dispatcher) long-polling an empty queue, ≈ ${ASSUME.sqsEventSourceCallsPerMinute} ReceiveMessage a minute`,
    `${n0(sqsCalls)} requests × $0.40 per million`,
    sqsCalls * PRICE.sqsRequest,
    Math.max(0, sqsCalls - FREE.sqsRequests) * PRICE.sqsRequest,
  );

  add('Secrets Manager secrets', `${s.secrets} × $${PRICE.secretMonth}`, s.secrets * PRICE.secretMonth);
  add(
    'Secrets Manager reads by the poller (at most one per invocation; fewer, as containers are reused)',
    `≤ ${n0(s.invocations)} × $0.05 / 10,000`,
    s.invocations * PRICE.secretsApiCall,
  );

  add(
    'CloudWatch dashboards',
    `${s.dashboards} × $${PRICE.dashboardMonth}`,
    s.dashboards * PRICE.dashboardMonth,
    Math.max(0, s.dashboards - FREE.dashboards) * PRICE.dashboardMonth,
  );
  const alarmMetricCount = s.alarmMetrics.reduce((a, b) => a + b, 0);
  add(
    `CloudWatch alarms: ${s.alarms} alarms over ${alarmMetricCount} metrics (metric-math alarms are billed per metric: ${s.alarmMetrics.join(' + ')})`,
    `${alarmMetricCount} × $${PRICE.alarmMetricMonth}`,
    alarmMetricCount * PRICE.alarmMetricMonth,
    Math.max(0, alarmMetricCount - FREE.alarmMetrics) * PRICE.alarmMetricMonth,
  );
  const custom = s.idleCustomMetrics.length;
  add(
    `CloudWatch custom metrics an idle stack emits (${custom === 0 ? 'none' : s.idleCustomMetrics.join(', ')})`,
    `${custom} × $${PRICE.customMetricMonth}`,
    custom * PRICE.customMetricMonth,
    Math.max(0, custom - FREE.customMetrics) * PRICE.customMetricMonth,
  );
  const logGb = (s.invocations * s.pollerLogBytes) / 1e9;
  const storedGb = logGb * Math.min(1, s.retentionDays / 30);
  add(
    `CloudWatch Logs: the poller's ≈ ${f(s.pollerLogBytes / 1024, 1)} KB per invocation (${s.logGroups} log groups, ${s.retentionDays}-day retention)`,
    `${f(logGb, 3)} GB × $0.50 ingested + ${f(storedGb, 3)} GB × $0.03 stored`,
    logGb * PRICE.logsIngestGb + storedGb * PRICE.logsStoreGbMonth,
    logGb > FREE.logsGb ? (logGb - FREE.logsGb) * PRICE.logsIngestGb : 0,
  );

  add(
    `S3: ${s.buckets} bucket, one cursor read per invocation, ≈ ${ASSUME.bucketGb * 1000} MB stored`,
    `${n0(s.invocations)} × $0.0004 / 1,000 + ${ASSUME.bucketGb} GB × $0.023`,
    s.invocations * PRICE.s3Get + ASSUME.bucketGb * PRICE.s3GbMonth,
  );
  add(
    'ECR: the runner image in the CDK assets repository',
    `${ASSUME.imageGb} GB × $0.10`,
    ASSUME.imageGb * PRICE.ecrGbMonth,
  );
  add(
    `NAT gateways (${s.nat}), interface endpoints (${s.interfaceEndpoints}), Elastic IPs (${s.eips}), KMS keys (${s.kms}), always-on ECS services (${s.services}); ${s.gatewayEndpoints} S3 gateway endpoint, VPC, subnets, ECS cluster, EventBridge rules, SNS topic: no hourly price`,
    `${s.nat} × $0.045 × ${HOURS} + ${s.interfaceEndpoints} × $0.01 × ${HOURS} + ${s.eips} × $0.005 × ${HOURS} + ${s.kms} × $1`,
    s.nat * PRICE.natHour * HOURS +
      s.interfaceEndpoints * PRICE.interfaceEndpointHour * HOURS +
      s.eips * PRICE.publicIpv4Hour * HOURS +
      s.kms * PRICE.kmsKeyMonth,
  );
  return lines;
}

const before = idleMonth(BEFORE);
const now = idleMonth(NOW);
const sum = (ls: Line[], k: 'usd' | 'freeUsd') => ls.reduce((a, l) => a + l[k], 0);
const total = sum(now, 'usd');
const totalFree = sum(now, 'freeUsd');
const totalBefore = sum(before, 'usd');
const beforeWithOverhead = sum(
  idleMonth({
    ...BEFORE,
    overheadSeconds: overheadAt(BEFORE.memoryMb),
    coldStarts: ASSUME.coldStartsPerMonth,
    coldStartSeconds: coldStartAt(BEFORE.memoryMb),
  }),
  'usd',
);

// --- the seed's design: an always-on container polling every 5 s --------------------------------
const seedCpu = 0.25 * HOURS * PRICE.fargateVcpuHour;
const seedMem = 0.5 * HOURS * PRICE.fargateGbHour;
const seedIp = HOURS * PRICE.publicIpv4Hour;
const seed = seedCpu + seedMem;

console.log(
  `idle month (${HOURS} h), us-east-1 list prices; template: ${resources.length} resources (${os.platform()}, node ${process.version})`,
);
console.log(
  '| item | before: arithmetic | before USD | now: arithmetic | now USD | now, within the free tiers |',
);
console.log('| --- | --- | --- | --- | --- | --- |');
for (let i = 0; i < now.length; i++) {
  const b = before[i]!;
  const l = now[i]!;
  const item = b.item === l.item ? l.item : `before: ${b.item}; now: ${l.item}`;
  console.log(
    `| ${item} | ${b.arithmetic} | ${f(b.usd)} | ${l.arithmetic} | ${f(l.usd)} | ${f(l.freeUsd)} |`,
  );
}
console.log(
  `| **numa-avatar stack, idle** | | **${f(totalBefore)}** | | **${f(total)}** | **${f(totalFree)}** |`,
);
console.log(
  `| seed design: Fargate 0.25 vCPU × ${HOURS} h | | | 0.25 × ${HOURS} × $${PRICE.fargateVcpuHour} | ${f(seedCpu)} | ${f(seedCpu)} |`,
);
console.log(
  `| seed design: Fargate 0.5 GB × ${HOURS} h | | | 0.5 × ${HOURS} × $${PRICE.fargateGbHour} | ${f(seedMem)} | ${f(seedMem)} |`,
);
console.log(`| **seed design, idle (the task alone)** | | | | **${f(seed)}** | **${f(seed)}** |`);
console.log(
  `| seed design: + the public IPv4 address such a task needs in a public subnet | | | ${HOURS} × $${PRICE.publicIpv4Hour} | ${f(seedIp)} | ${f(seedIp)} |`,
);
console.log(
  `before → now: $${f(totalBefore)} → $${f(total)} a month (target ≤ $5.00: ${total <= 5 ? 'met' : 'NOT met'}); ` +
    `before with the same per-invocation work and cold starts counted: $${f(beforeWithOverhead)}`,
);
console.log(
  `idle pickup latency now: a message published between two invocations waits up to ≈ ${m[1]} min − the ${wait} s window ≈ ${60 * Number(m[1]) - wait} s (before: ≈ ${60 - BEFORE.idlePolls * BEFORE.wait} s between one invocation's last poll and the next one's first)`,
);
console.log(
  `ratio numa-avatar / seed: ${(total / seed).toFixed(2)} (task alone), ${(total / (seed + seedIp)).toFixed(2)} (with its IPv4 address); within the free tiers ${(totalFree / seed).toFixed(2)} and ${(totalFree / (seed + seedIp)).toFixed(2)}`,
);
if (total > 5) process.exitCode = 1;
