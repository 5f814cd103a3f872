/**
 * NumaAvatarStack: everything numa-avatar needs in the user's AWS account. The constructs under
 * ./constructs/ each own one concern; this file wires them together and declares the outputs.
 */
import * as path from 'node:path';
import { Annotations, Aws, CfnOutput, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { CONTEXT_KEYS, PLACEHOLDER_BACKEND_URL, resolveSettings } from './config.ts';
import type { AvatarSettings, NumaAvatarSettings } from './config.ts';
import { EgressDnsFirewall, runnerServiceDomains } from './constructs/dns-firewall.ts';
import { DISPATCHER_TIMEOUT, Functions } from './constructs/functions.ts';
import { Monitoring } from './constructs/monitoring.ts';
import { Network } from './constructs/network.ts';
import { Queues } from './constructs/queues.ts';
import { Runner } from './constructs/runner.ts';
import { RUNNER_SECRET_ENV, Secrets } from './constructs/secrets.ts';
import { Storage } from './constructs/storage.ts';

/** The repository root (infra/..). */
export const REPO_ROOT = path.resolve(import.meta.dirname, '..');

/**
 * Props of NumaAvatarStack: the settings (NumaAvatarSettings in ./config.ts, each also a context
 * key) plus where the code is. The code paths default to this repository's files; tests point
 * them at fixtures.
 */
export interface NumaAvatarProps extends StackProps, NumaAvatarSettings {
  /** Poller handler (export `handler`). Default: functions/poller/handler.ts. */
  pollerEntry?: string;
  /** Dispatcher SQS handler (export `handler`). Default: functions/dispatcher/handler.ts. */
  dispatcherEntry?: string;
  /** Stopped-task EventBridge handler (export `handler`). Default: functions/dispatcher/stopped.ts. */
  stoppedEntry?: string;
  /** Build context of the runner image. Default: the repository root. */
  runnerImageDirectory?: string;
  /** The runner's Dockerfile, relative to runnerImageDirectory. Default: container/runner/Dockerfile. */
  runnerDockerfile?: string;
  /** Directory holding package-lock.json, where esbuild runs. Default: the repository root. */
  projectRoot?: string;
}

export class NumaAvatarStack extends Stack {
  readonly settings: AvatarSettings;
  readonly storage: Storage;
  readonly queues: Queues;
  readonly secrets: Secrets;
  readonly network: Network;
  /** The runners' DNS allow-list, when `egressAllowDomains` is set. */
  readonly dnsFirewall?: EgressDnsFirewall;
  readonly runner: Runner;
  readonly functions: Functions;
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: NumaAvatarProps) {
    super(scope, id, {
      description:
        'numa-avatar: runs Numa development tasks on Fargate (poller, dispatcher, runner, dashboard)',
      ...props,
    });
    const s = resolveSettings(pickSettings(props));
    this.settings = s;
    if (s.backendUrl === PLACEHOLDER_BACKEND_URL) {
      Annotations.of(this).addWarningV2(
        'numa-avatar:backendUrl',
        `backendUrl is the placeholder ${PLACEHOLDER_BACKEND_URL}: set your backend's URL in cdk.json or with -c backendUrl=https://...`,
      );
    }
    const logRetention = s.logRetentionDays as logs.RetentionDays;
    const root = props.projectRoot ?? REPO_ROOT;

    this.storage = new Storage(this, 'Storage', {
      runsRetentionDays: s.runsRetentionDays,
      cacheRetentionDays: s.cacheRetentionDays,
    });
    this.queues = new Queues(this, 'Queues', { dispatcherTimeout: DISPATCHER_TIMEOUT });
    this.secrets = new Secrets(this, 'Secrets');
    this.network = new Network(this, 'Network', {
      vpcId: s.vpcId,
      subnetIds: s.subnetIds,
      runnerSubnets: s.runnerSubnets,
      natGateways: s.natGateways,
      egressPorts: s.egressPorts,
    });
    if (s.egressAllowDomains) {
      this.dnsFirewall = new EgressDnsFirewall(this, 'EgressDnsFirewall', {
        vpcId: this.network.vpc.vpcId,
        allowDomains: s.egressAllowDomains,
        serviceDomains: runnerServiceDomains({
          backendUrl: s.backendUrl,
          modelBaseUrl: s.modelBaseUrl,
          bucketName: this.storage.bucket.bucketName,
        }),
      });
      if (s.vpcId) {
        Annotations.of(this).addWarningV2(
          'numa-avatar:egressAllowDomains',
          `egressAllowDomains: the DNS Firewall rule group is associated with the whole VPC ${s.vpcId}: every resource in it that uses the Amazon-provided resolver can then resolve only the allowed names. Use a VPC of its own for the runners, or accept that.`,
        );
      }
    }
    this.runner = new Runner(this, 'Runner', {
      vpc: this.network.vpc,
      storage: this.storage,
      secrets: this.secrets,
      imageDirectory: props.runnerImageDirectory ?? REPO_ROOT,
      dockerfile: props.runnerDockerfile ?? 'container/runner/Dockerfile',
      family: s.runnerFamily,
      cpu: s.runnerCpu,
      memoryMiB: s.runnerMemoryMiB,
      ephemeralStorageGiB: s.runnerEphemeralStorageGiB,
      architecture: s.runnerArchitecture,
      runTimeoutMinutes: s.runTimeoutMinutes,
      backendUrl: s.backendUrl,
      modelName: s.modelName,
      modelBaseUrl: s.modelBaseUrl,
      configYaml: s.runnerConfigYaml,
      logRetention,
    });
    this.functions = new Functions(this, 'Functions', {
      entries: {
        poller: props.pollerEntry ?? path.join(REPO_ROOT, 'functions/poller/handler.ts'),
        dispatcher: props.dispatcherEntry ?? path.join(REPO_ROOT, 'functions/dispatcher/handler.ts'),
        stopped: props.stoppedEntry ?? path.join(REPO_ROOT, 'functions/dispatcher/stopped.ts'),
      },
      projectRoot: root,
      network: this.network,
      storage: this.storage,
      queues: this.queues,
      secrets: this.secrets,
      runner: this.runner,
      runtime: s.lambdaRuntime,
      bundleAwsSdk: s.bundleAwsSdk,
      logRetention,
      backendUrl: s.backendUrl,
      capacity: s.capacity,
      maxRunners: s.maxRunners,
      maxAttempts: s.maxAttempts,
      pollWaitSeconds: s.pollWaitSeconds,
      pollLimit: s.pollLimit,
      pollSafetyMarginSeconds: s.pollSafetyMarginSeconds,
      pollerTimeoutSeconds: s.pollerTimeoutSeconds,
      reservePollerConcurrency: s.reservePollerConcurrency,
    });
    this.monitoring = new Monitoring(this, 'Monitoring', {
      queue: this.queues.queue,
      dlq: this.queues.dlq,
      poller: this.functions.poller,
      dispatcher: this.functions.dispatcher,
      stopped: this.functions.stopped,
      alarmEmail: s.alarmEmail,
      failureRateThreshold: s.failureRateThreshold,
      failureRateMinRuns: s.failureRateMinRuns,
    });

    this.addOutputs();
  }

  private addOutputs(): void {
    const { queue, dlq } = this.queues;
    const secret = this.secrets;
    const fields = Object.values(RUNNER_SECRET_ENV).join(', ');
    const envs = Object.keys(RUNNER_SECRET_ENV).join(', ');
    new CfnOutput(this, 'QueueUrl', { value: queue.queueUrl, description: 'The task queue' });
    new CfnOutput(this, 'DlqUrl', { value: dlq.queueUrl, description: 'The dead-letter queue' });
    new CfnOutput(this, 'BucketName', {
      value: this.storage.bucket.bucketName,
      description: 'Poll state, dispatch records, run artifacts (runs/<task_id>/<run_id>/) and caches',
    });
    new CfnOutput(this, 'DashboardUrl', {
      value: `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards:name=${this.monitoring.dashboard.dashboardName}`,
      description: 'The CloudWatch dashboard',
    });
    new CfnOutput(this, 'RerunCommand', {
      value: `aws sqs send-message --region ${Aws.REGION} --queue-url ${queue.queueUrl} --message-body '{"task_id": <TASK_ID>, "reason": "..."}'`,
      description: 'Re-runs a task: replace <TASK_ID> (and the reason). Or: numa-avatar rerun <TASK_ID>',
    });
    new CfnOutput(this, 'ClusterArn', {
      value: this.runner.cluster.clusterArn,
      description: 'The runners’ ECS cluster',
    });
    new CfnOutput(this, 'RunnerLogGroup', {
      value: this.runner.logGroup.logGroupName,
      description: 'The runners’ logs',
    });
    new CfnOutput(this, 'SecretArn', {
      value: secret.secret.secretArn,
      description: `The stack's one secret: a JSON object with the keys ${fields}. Holds no value after the first deploy: set it with the SetSecretsCommand output.`,
    });
    new CfnOutput(this, 'SetSecretsCommand', {
      value: setSecretsCommand(secret.secret.secretArn, Aws.REGION),
      description: `Puts the secret's JSON (${fields}) built by node from the environment variables ${envs} (export them first): no value is on a command line or in a file, and nothing is written when one is empty.`,
    });
  }
}

/**
 * The shell command that sets the secret: `node` (which the deployer has, for the CDK) builds the
 * JSON from the environment variables named in RUNNER_SECRET_ENV and pipes it to the AWS CLI, which
 * reads it from /dev/stdin. It fails, and the CLI then refuses the empty input, when a variable is
 * unset or empty.
 */
export function setSecretsCommand(secretArn: string, region: string): string {
  const names = Object.entries(RUNNER_SECRET_ENV)
    .map(([name, field]) => `${field}:"${name}"`)
    .join(',');
  // No single quote inside: the script is single-quoted for the shell.
  const script =
    `const n={${names}},v={};` +
    'for(const[k,x]of Object.entries(n)){if(!process.env[x]){console.error(x+" is unset or empty");process.exit(1)}v[k]=process.env[x]}' +
    'process.stdout.write(JSON.stringify(v))';
  return `node -e '${script}' | aws secretsmanager put-secret-value --region ${region} --secret-id ${secretArn} --secret-string file:///dev/stdin`;
}

/** The settings among the props (everything but StackProps and the code paths). */
function pickSettings(props: NumaAvatarProps): NumaAvatarSettings {
  const picked: Record<string, unknown> = {};
  for (const key of CONTEXT_KEYS) {
    if (props[key] !== undefined) picked[key] = props[key];
  }
  // Checked by resolveSettings, which names any bad key.
  return picked as unknown as NumaAvatarSettings;
}
