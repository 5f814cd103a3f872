/**
 * The runner: an ECS cluster with Fargate and Fargate Spot capacity, the task definition the
 * dispatcher starts (family numa-avatar-runner, container "runner"), its log group, and its two
 * roles: the execution role (pull the image, write logs, read the stack's secret) and the task role
 * (S3 under runs/ and cache/ only).
 *
 * The container runs as root with only the capabilities the `user` sandbox needs (agent commands
 * as a separate uid through setpriv: see RUNNER_CAPABILITIES), an init process that reaps orphans,
 * and `sandbox.mode: user` in its NUMA_CONFIG_YAML.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Aws, Duration, IgnoreMode, RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AvatarError } from '../../core/errors.ts';
import { runnerConfigYaml } from '../config.ts';
import { RUNNER_SECRET_ENV, type Secrets } from './secrets.ts';
import type { ObjectAction, Storage } from './storage.ts';

export const RUNNER_CONTAINER_NAME = 'runner';
export const METRICS_NAMESPACE = 'NumaAvatar';
export const SERVICE_NAME = 'numa-avatar';

/**
 * Left out of the image's build context (Docker ignore syntax; a .dockerignore in the directory is
 * applied as well). The image needs the code, package files and lock file, not these.
 */
export const RUNNER_IMAGE_EXCLUDE = [
  '.git',
  '**/node_modules',
  '**/cdk.out',
  'cdk.context.json',
  '.work',
  '**/.numa-avatar',
  'coverage',
  'dist',
  '**/*.log',
  '.ci',
  'test',
  'bench',
  'infra',
];

/**
 * The writable folders of the runner's read-only container: the work dir's parent (clones, run
 * artifacts), /tmp (the runner's and the agent's temporary files), and the uid leases
 * (container/runner/sandbox/uid-lease.ts).
 */
export const RUNNER_VOLUMES: ReadonlyArray<readonly [string, string]> = [
  ['work', '/work'],
  ['tmp', '/tmp'],
  ['run-numa-avatar', '/run/numa-avatar'],
];

/** The container's user: root, so that it can start the agent's commands as another uid. */
export const RUNNER_USER = '0';

/**
 * The capabilities Docker (and Fargate) give a container by default: the bounding set the runner
 * starts from.
 */
export const DEFAULT_CONTAINER_CAPABILITIES = [
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'NET_RAW',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
] as const;

/**
 * What the runner (root in the container) keeps, each for the `user` sandbox
 * (container/runner/sandbox/setpriv.ts): SETUID and SETGID to start a command as the agent's uid,
 * KILL to kill every process of that uid after it, CHOWN to hand the clone to that uid, FOWNER and
 * DAC_OVERRIDE to read, change and commit files the agent's uid created with restrictive modes,
 * SETPCAP so that setpriv can empty the commands' bounding set (without it `--bounding-set=-all`
 * leaves the runner's set in place).
 * The agent's commands themselves run with none (setpriv empties every set, no_new_privs).
 */
export const RUNNER_CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'KILL',
  'SETGID',
  'SETPCAP',
  'SETUID',
] as const;

/**
 * Dropped from the default set: everything it holds that RUNNER_CAPABILITIES does not. Listed
 * one by one, not as "drop ALL, add back": Fargate accepts only SYS_PTRACE in `add`.
 */
export const RUNNER_DROPPED_CAPABILITIES: ecs.Capability[] = [
  ecs.Capability.AUDIT_WRITE,
  ecs.Capability.FSETID,
  ecs.Capability.MKNOD,
  ecs.Capability.NET_BIND_SERVICE,
  ecs.Capability.NET_RAW,
  ecs.Capability.SETFCAP,
  ecs.Capability.SYS_CHROOT,
];

export interface RunnerProps {
  vpc: ec2.IVpc;
  storage: Storage;
  secrets: Secrets;
  /** Build context of the runner image (the repository root). */
  imageDirectory: string;
  /** Dockerfile, relative to imageDirectory. */
  dockerfile: string;
  family: string;
  cpu: number;
  memoryMiB: number;
  ephemeralStorageGiB: number;
  architecture: 'X86_64' | 'ARM64';
  runTimeoutMinutes: number;
  backendUrl: string;
  modelName: string;
  modelBaseUrl?: string;
  configYaml?: string;
  logRetention: logs.RetentionDays;
}

export class Runner extends Construct {
  readonly cluster: ecs.Cluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly logGroup: logs.LogGroup;
  readonly taskRole: iam.Role;
  readonly executionRole: iam.Role;

  constructor(scope: Construct, id: string, props: RunnerProps) {
    super(scope, id);
    const dockerfilePath = path.join(props.imageDirectory, props.dockerfile);
    if (!fs.existsSync(dockerfilePath)) {
      throw new AvatarError(
        'CONFIG_INVALID',
        `runner Dockerfile not found at ${dockerfilePath} (NumaAvatarStack props runnerImageDirectory / runnerDockerfile)`,
      );
    }

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      enableFargateCapacityProviders: true,
    });

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: "numa-avatar runner: pull the image, write logs, read the stack's secret",
    });
    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'numa-avatar runner: S3 under runs/ and cache/',
    });
    // Snapshots, transcripts and reports under runs/; the code and model caches under cache/.
    const readWrite: ObjectAction[] = ['s3:GetObject', 's3:PutObject'];
    props.storage.grantPrefixes(this.taskRole, { 'runs/': readWrite, 'cache/': readWrite });

    const arm = props.architecture === 'ARM64';
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      family: props.family,
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      ephemeralStorageGiB: props.ephemeralStorageGiB,
      runtimePlatform: {
        cpuArchitecture: arm ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
      taskRole: this.taskRole,
      executionRole: this.executionRole,
    });

    const environment: Record<string, string> = {
      NUMA_BACKEND_URL: props.backendUrl,
      BUCKET: props.storage.bucket.bucketName,
      NUMA_MODEL: props.modelName,
      NUMA_RUN_TIMEOUT_SECONDS: String(props.runTimeoutMinutes * 60),
      AWS_REGION: Aws.REGION,
      POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    };
    if (props.modelBaseUrl) environment.OPENAI_BASE_URL = props.modelBaseUrl;
    // Always set: it carries sandbox.mode user (the runner has no environment variable for it).
    environment.NUMA_CONFIG_YAML = runnerConfigYaml(props.configYaml);

    const linuxParameters = new ecs.LinuxParameters(this, 'LinuxParameters', {
      // An init process as PID 1 reaps orphaned processes (the agent's commands double-fork).
      initProcessEnabled: true,
    });
    linuxParameters.dropCapabilities(...RUNNER_DROPPED_CAPABILITIES);

    this.container = this.taskDefinition.addContainer('Runner', {
      containerName: RUNNER_CONTAINER_NAME,
      // Staged (copied) at synth, built by `cdk deploy`: synth needs no Docker. Binding it gives the
      // execution role ECR pull rights on the CDK's asset repository, plus the one documented
      // exception to "no Resource: *": ecr:GetAuthorizationToken, which IAM cannot scope to a
      // resource.
      image: ecs.ContainerImage.fromAsset(props.imageDirectory, {
        file: props.dockerfile,
        exclude: RUNNER_IMAGE_EXCLUDE,
        ignoreMode: IgnoreMode.DOCKER,
        platform: arm ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
      }),
      essential: true,
      // Hardened accounts require it (Security Hub ECS.5): what the runner writes goes to the
      // task's volumes below (the work dir, /tmp, the uid leases), nothing to the image's layers.
      readonlyRootFilesystem: true,
      // Set here, whatever the image's USER: the `user` sandbox needs the runner to be root.
      user: RUNNER_USER,
      linuxParameters,
      environment,
      // Injected by ECS from Secrets Manager when the task starts, each from its JSON key of the one
      // secret (RUNNER_SECRET_ENV): the values are never in the template, the task definition or
      // the task's overrides. The execution role gets read access.
      secrets: Object.fromEntries(
        Object.entries(RUNNER_SECRET_ENV).map(([name, field]) => [
          name,
          ecs.Secret.fromSecretsManager(props.secrets.secret, field),
        ]),
      ),
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'runner', logGroup: this.logGroup }),
      // SIGTERM (StopTask, Spot reclaim, run timeout) gives the runner this long to save a snapshot
      // and report before SIGKILL; 120 s is Fargate's maximum.
      stopTimeout: Duration.seconds(120),
    });
    // Task storage (the ephemeral storage above) for the folders the runner writes.
    for (const [name, containerPath] of RUNNER_VOLUMES) {
      this.taskDefinition.addVolume({ name });
      this.container.addMountPoints({ sourceVolume: name, containerPath, readOnly: false });
    }
  }
}
