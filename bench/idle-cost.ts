/**
 * The deployed stack's idle cost per month (no task at all), as arithmetic from its resources:
 * the template is synthesized here exactly as `cdk synth` does (cdk.json's context, the real
 * handlers; no AWS credentials or Docker needed), its resources counted and priced at the list
 * prices written out below, against the seed design's always-on container polling every 5 s (a
 * 0.25 vCPU / 0.5 GB Fargate task running all month), in the same run.
 *
 *   npx tsx bench/idle-cost.ts
 *
 * Prices: us-east-1, on demand, as listed on the AWS pricing pages in 2025 (Lambda arm64, SQS
 * standard, Secrets Manager, CloudWatch, S3 Standard, ECR, Fargate Linux/x86). A month is 730 hours.
 * "Free tier" means the always-free monthly allowances of an account that uses them for nothing else.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createNumaAvatarApp } from '../infra/create-app.ts';

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

/** Assumptions that the template cannot tell, each stated where it is used. */
const ASSUME = {
  /** Bytes the idle poller logs per invocation (start, report line, END/REPORT). */
  pollerLogBytes: 2048,
  /** ReceiveMessage calls a minute of the SQS event source's pollers on an empty queue (Lambda's 5 long-polling pollers, 20 s each). */
  sqsEventSourceCallsPerMinute: 15,
  /** The runner image in the CDK assets repository. */
  imageGb: 0.2,
  /** State in the bucket while idle (cursor, old run artifacts are counted per task). */
  bucketGb: 0.01,
  /** Custom metrics an idle stack emits (the poller's PollSuccess). */
  idleCustomMetrics: 1,
};

type Res = { Type: string; Properties?: Record<string, unknown> };

const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'numa-bench-cost-'));
let resources: Res[];
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
  const template = app.synth().getStackByName(stack.stackName).template as { Resources: Record<string, Res> };
  resources = Object.values(template.Resources);
} finally {
  fs.rmSync(outdir, { recursive: true, force: true });
}

const ofType = (t: string) => resources.filter((r) => r.Type === t);
const props = (r: Res) => r.Properties ?? {};
const lines: Array<{ item: string; arithmetic: string; usd: number; freeUsd: number }> = [];
const add = (item: string, arithmetic: string, usd: number, freeUsd = usd) =>
  lines.push({ item, arithmetic, usd, freeUsd });
const f = (n: number, d = 2) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const n0 = (n: number) => Math.round(n).toLocaleString('en-US');

// --- the poller: a scheduled Lambda that long-polls for most of its run ------------------------
const schedule = ofType('AWS::Events::Rule')
  .map((r) => String(props(r).ScheduleExpression ?? ''))
  .find((s) => s.startsWith('rate('));
const m = /^rate\((\d+) minutes?\)$/.exec(schedule ?? '');
if (!m) throw new Error(`no rate(N minutes) schedule in the template (found ${schedule})`);
const invocations = (HOURS * 60) / Number(m[1]);
const poller = ofType('AWS::Lambda::Function').find((r) =>
  JSON.stringify(props(r).Environment ?? {}).includes('POLL_WAIT_SECONDS'),
)!;
const env = (props(poller).Environment as { Variables: Record<string, string> }).Variables;
const memGb = Number(props(poller).MemorySize) / 1024;
const arch = (props(poller).Architectures as string[] | undefined)?.[0] ?? 'x86_64';
if (arch !== 'arm64') throw new Error(`the prices here are for arm64; the poller is ${arch}`);
const timeout = Number(props(poller).Timeout);
const wait = Number(env.POLL_WAIT_SECONDS);
const margin = Number(env.POLL_SAFETY_MARGIN_SECONDS);
// It polls while at least wait + margin seconds remain: floor((timeout - wait - margin) / wait) + 1 polls.
const polls = Math.floor((timeout - wait - margin) / wait) + 1;
const duration = polls * wait;
const gbSeconds = invocations * memGb * duration;
add(
  'poller Lambda requests',
  `${schedule}: ${n0(invocations)} invocations × $0.20 per million`,
  invocations * PRICE.lambdaRequest,
  0,
);
add(
  `poller Lambda duration: ${polls} long polls of ${wait} s per invocation (timeout ${timeout} s, margin ${margin} s) at ${props(poller).MemorySize} MB arm64`,
  `${n0(invocations)} × ${memGb} GB × ${duration} s = ${n0(gbSeconds)} GB-s × $${PRICE.lambdaArmGbSecond}`,
  gbSeconds * PRICE.lambdaArmGbSecond,
  Math.max(0, gbSeconds - FREE.lambdaGbSeconds) * PRICE.lambdaArmGbSecond,
);

// --- the dispatcher's SQS event source polls the empty queue ------------------------------------
const mappings = ofType('AWS::Lambda::EventSourceMapping').length;
const sqsCalls = mappings * ASSUME.sqsEventSourceCallsPerMinute * 60 * HOURS;
add(
  `SQS: ${mappings} event source (dispatcher) long-polling an empty queue, ≈ ${ASSUME.sqsEventSourceCallsPerMinute} ReceiveMessage a minute`,
  `${n0(sqsCalls)} requests × $0.40 per million`,
  sqsCalls * PRICE.sqsRequest,
  sqsCalls + invocations > FREE.sqsRequests ? (sqsCalls - FREE.sqsRequests) * PRICE.sqsRequest : 0,
);

// --- secrets --------------------------------------------------------------------------------------
const secrets = ofType('AWS::SecretsManager::Secret').length;
add('Secrets Manager secrets', `${secrets} × $${PRICE.secretMonth}`, secrets * PRICE.secretMonth);
add(
  'Secrets Manager reads by the poller (at most one per invocation; fewer, as containers are reused)',
  `≤ ${n0(invocations)} × $0.05 / 10,000`,
  invocations * PRICE.secretsApiCall,
);

// --- CloudWatch -------------------------------------------------------------------------------------
const dashboards = ofType('AWS::CloudWatch::Dashboard').length;
add(
  'CloudWatch dashboards',
  `${dashboards} × $${PRICE.dashboardMonth}`,
  dashboards * PRICE.dashboardMonth,
  Math.max(0, dashboards - FREE.dashboards) * PRICE.dashboardMonth,
);
const alarms = ofType('AWS::CloudWatch::Alarm');
const alarmMetrics = alarms.map((a) => {
  const metrics = (props(a).Metrics as Array<{ MetricStat?: unknown }> | undefined) ?? [];
  return metrics.length === 0 ? 1 : metrics.filter((x) => x.MetricStat).length;
});
const alarmMetricCount = alarmMetrics.reduce((a, b) => a + b, 0);
add(
  `CloudWatch alarms: ${alarms.length} alarms over ${alarmMetricCount} metrics (metric-math alarms are billed per metric: ${alarmMetrics.join(' + ')})`,
  `${alarmMetricCount} × $${PRICE.alarmMetricMonth}`,
  alarmMetricCount * PRICE.alarmMetricMonth,
  Math.max(0, alarmMetricCount - FREE.alarmMetrics) * PRICE.alarmMetricMonth,
);
add(
  'CloudWatch custom metrics an idle stack emits (PollSuccess)',
  `${ASSUME.idleCustomMetrics} × $${PRICE.customMetricMonth}`,
  ASSUME.idleCustomMetrics * PRICE.customMetricMonth,
  Math.max(0, ASSUME.idleCustomMetrics - FREE.customMetrics) * PRICE.customMetricMonth,
);
const logGroups = ofType('AWS::Logs::LogGroup');
const retention = Math.max(...logGroups.map((g) => Number(props(g).RetentionInDays ?? 0)));
const logGb = (invocations * ASSUME.pollerLogBytes) / 1e9;
const storedGb = logGb * Math.min(1, retention / 30);
add(
  `CloudWatch Logs: the poller's ≈ ${ASSUME.pollerLogBytes / 1024} KB per invocation (${logGroups.length} log groups, ${retention}-day retention)`,
  `${f(logGb, 3)} GB × $0.50 ingested + ${f(storedGb, 3)} GB × $0.03 stored`,
  logGb * PRICE.logsIngestGb + storedGb * PRICE.logsStoreGbMonth,
  logGb > FREE.logsGb ? (logGb - FREE.logsGb) * PRICE.logsIngestGb : 0,
);

// --- storage ----------------------------------------------------------------------------------------
const buckets = ofType('AWS::S3::Bucket').length;
add(
  `S3: ${buckets} bucket, one cursor read per invocation, ≈ ${ASSUME.bucketGb * 1000} MB stored`,
  `${n0(invocations)} × $0.0004 / 1,000 + ${ASSUME.bucketGb} GB × $0.023`,
  invocations * PRICE.s3Get + ASSUME.bucketGb * PRICE.s3GbMonth,
);
add(
  'ECR: the runner image in the CDK assets repository',
  `${ASSUME.imageGb} GB × $0.10`,
  ASSUME.imageGb * PRICE.ecrGbMonth,
);

// --- network: what would cost by the hour ---------------------------------------------------------
const nat = ofType('AWS::EC2::NatGateway').length;
const interfaceEndpoints = ofType('AWS::EC2::VPCEndpoint').filter(
  (e) => props(e).VpcEndpointType === 'Interface',
).length;
const gatewayEndpoints = ofType('AWS::EC2::VPCEndpoint').length - interfaceEndpoints;
const kms = ofType('AWS::KMS::Key').length;
const eips = ofType('AWS::EC2::EIP').length;
const services = ofType('AWS::ECS::Service').length;
add(
  `NAT gateways (${nat}), interface endpoints (${interfaceEndpoints}), Elastic IPs (${eips}), KMS keys (${kms}), always-on ECS services (${services}); ${gatewayEndpoints} S3 gateway endpoint, VPC, subnets, ECS cluster, EventBridge rules, SNS topic: no hourly price`,
  `${nat} × $0.045 × ${HOURS} + ${interfaceEndpoints} × $0.01 × ${HOURS} + ${eips} × $0.005 × ${HOURS} + ${kms} × $1`,
  nat * PRICE.natHour * HOURS +
    interfaceEndpoints * PRICE.interfaceEndpointHour * HOURS +
    eips * PRICE.publicIpv4Hour * HOURS +
    kms * PRICE.kmsKeyMonth,
);

const total = lines.reduce((s, l) => s + l.usd, 0);
const totalFree = lines.reduce((s, l) => s + l.freeUsd, 0);

// --- the seed's design: an always-on container polling every 5 s --------------------------------
const seedCpu = 0.25 * HOURS * PRICE.fargateVcpuHour;
const seedMem = 0.5 * HOURS * PRICE.fargateGbHour;
const seedIp = HOURS * PRICE.publicIpv4Hour;
const seed = seedCpu + seedMem;

console.log(
  `idle month (${HOURS} h), us-east-1 list prices; template: ${resources.length} resources (${os.platform()}, node ${process.version})`,
);
console.log('| item | arithmetic | USD | USD within the free tiers |');
console.log('| --- | --- | --- | --- |');
for (const l of lines) console.log(`| ${l.item} | ${l.arithmetic} | ${f(l.usd)} | ${f(l.freeUsd)} |`);
console.log(`| **numa-avatar stack, idle** | | **${f(total)}** | **${f(totalFree)}** |`);
console.log(
  `| seed design: Fargate 0.25 vCPU × ${HOURS} h | 0.25 × ${HOURS} × $${PRICE.fargateVcpuHour} | ${f(seedCpu)} | ${f(seedCpu)} |`,
);
console.log(
  `| seed design: Fargate 0.5 GB × ${HOURS} h | 0.5 × ${HOURS} × $${PRICE.fargateGbHour} | ${f(seedMem)} | ${f(seedMem)} |`,
);
console.log(`| **seed design, idle (the task alone)** | | **${f(seed)}** | **${f(seed)}** |`);
console.log(
  `| seed design: + the public IPv4 address such a task needs in a public subnet | ${HOURS} × $${PRICE.publicIpv4Hour} | ${f(seedIp)} | ${f(seedIp)} |`,
);
console.log(
  `ratio numa-avatar / seed: ${(total / seed).toFixed(2)} (task alone), ${(total / (seed + seedIp)).toFixed(2)} (with its IPv4 address); within the free tiers ${(totalFree / seed).toFixed(2)} and ${(totalFree / (seed + seedIp)).toFixed(2)}`,
);
