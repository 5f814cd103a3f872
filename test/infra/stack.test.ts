/**
 * Assertions on the synthesized template. Two syntheses for the whole file: the defaults (plus an
 * alarm email), and a variant whose settings arrive as command-line context text.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { validate } from '../../core/config/load.ts';
import { isAvatarError } from '../../core/errors.ts';
import { DEFAULT_CONTAINER_CAPABILITIES } from '../../infra/constructs/runner.ts';
import { createNumaAvatarApp } from '../../infra/create-app.ts';
import { setSecretsCommand } from '../../infra/stack.ts';
import {
  FIXTURE_CODE,
  TEST_BACKEND_URL,
  asList,
  cdkJsonContext,
  flatten,
  identityStatements,
  resourcesOf,
  synth,
} from './helpers.ts';
import type { CfnResource, CfnTemplate, FoundStatement, PolicyStatement, Synthesized } from './helpers.ts';

let main: Synthesized;

beforeAll(() => {
  main = synth({ alarmEmail: 'ops@example.com' });
});
afterAll(() => main?.cleanup());

const one = (json: CfnTemplate, type: string): [string, CfnResource] => {
  const found = resourcesOf(json, type);
  expect(found, type).toHaveLength(1);
  return found[0]!;
};
const props = (r: CfnResource) => r.Properties ?? {};
const refTo = (id: string) => ({ Ref: id });

/** Our three handler functions (the CDK's own custom-resource Lambda is left out). */
function ourFunctions(json: CfnTemplate): Record<'Poller' | 'Dispatcher' | 'Stopped', CfnResource> {
  const fns = resourcesOf(json, 'AWS::Lambda::Function');
  const pick = (name: string) => {
    const hit = fns.find(([id]) => id.startsWith(`Functions${name}`));
    expect(hit, name).toBeDefined();
    return hit![1];
  };
  return { Poller: pick('Poller'), Dispatcher: pick('Dispatcher'), Stopped: pick('Stopped') };
}

function roleIdOf(fn: CfnResource): string {
  return ((props(fn).Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'] ?? [])[0]!;
}

/** Statements of the policies attached to one role. */
function statementsOfRole(json: CfnTemplate, roleId: string): PolicyStatement[] {
  return resourcesOf(json, 'AWS::IAM::Policy')
    .filter(([, p]) =>
      asList(props(p).Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify(refTo(roleId))),
    )
    .flatMap(([, p]) => (props(p).PolicyDocument as { Statement: PolicyStatement[] }).Statement);
}

const actionsOf = (statements: PolicyStatement[]) => statements.flatMap((s) => asList(s.Action));

interface ContainerDefinition {
  User?: string;
  Privileged?: boolean;
  LinuxParameters?: { Capabilities?: { Add?: string[]; Drop?: string[] }; InitProcessEnabled?: boolean };
  Environment: { Name: string; Value: unknown }[];
  ReadonlyRootFilesystem?: boolean;
  MountPoints?: { SourceVolume: string; ContainerPath: string; ReadOnly: boolean }[];
}
/** The runner task definition's one container. */
function runnerContainer(json: CfnTemplate): ContainerDefinition {
  const [, taskDef] = one(json, 'AWS::ECS::TaskDefinition');
  const containers = props(taskDef).ContainerDefinitions as ContainerDefinition[];
  expect(containers).toHaveLength(1);
  return containers[0]!;
}
/** The runner's NUMA_CONFIG_YAML, read as the runner reads it (core/config). */
function runnerConfigOf(json: CfnTemplate) {
  const entry = runnerContainer(json).Environment.find((e) => e.Name === 'NUMA_CONFIG_YAML');
  expect(entry, 'NUMA_CONFIG_YAML').toBeDefined();
  expect(typeof entry!.Value).toBe('string');
  const text = entry!.Value as string;
  return { text, config: validate(parseYaml(text), 'NUMA_CONFIG_YAML') };
}

const DNS_FIREWALL_TYPES = [
  'AWS::Route53Resolver::FirewallDomainList',
  'AWS::Route53Resolver::FirewallRuleGroup',
  'AWS::Route53Resolver::FirewallRuleGroupAssociation',
];
interface FirewallRule {
  Action: string;
  Priority: number;
  FirewallDomainListId: { 'Fn::GetAtt': [string, string] };
  BlockResponse?: string;
  FirewallDomainRedirectionAction?: string;
}

describe('storage', () => {
  it('is one encrypted, private, unversioned bucket that outlives the stack', () => {
    const [, bucket] = one(main.json, 'AWS::S3::Bucket');
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.UpdateReplacePolicy).toBe('Retain');
    const p = props(bucket);
    expect(p.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
    expect(p.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(p.VersioningConfiguration).toBeUndefined();
    // autoDeleteObjects would add a custom resource that empties the bucket.
    expect(resourcesOf(main.json, 'Custom::S3AutoDeleteObjects')).toHaveLength(0);
  });

  it('expires runs/ and cache/ and aborts incomplete uploads', () => {
    const rules = props(one(main.json, 'AWS::S3::Bucket')[1]).LifecycleConfiguration as {
      Rules: {
        Prefix?: string;
        ExpirationInDays?: number;
        AbortIncompleteMultipartUpload?: unknown;
        Status: string;
      }[];
    };
    const byPrefix = Object.fromEntries(
      rules.Rules.filter((r) => r.Prefix).map((r) => [r.Prefix, r.ExpirationInDays]),
    );
    expect(byPrefix).toMatchObject({ 'runs/': 90, 'cache/': 30 });
    expect(rules.Rules.some((r) => r.AbortIncompleteMultipartUpload && !r.Prefix)).toBe(true);
    expect(rules.Rules.every((r) => r.Status === 'Enabled')).toBe(true);
    // The poll cursor must never expire.
    expect(
      rules.Rules.some((r) => r.Prefix === 'state/' || (r.Prefix === undefined && r.ExpirationInDays)),
    ).toBe(false);
  });

  it('refuses requests without TLS', () => {
    main.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });
});

describe('queues', () => {
  it('has a task queue with SSE that dead-letters after 5 receives', () => {
    const queues = resourcesOf(main.json, 'AWS::SQS::Queue');
    expect(queues).toHaveLength(2);
    const [dlqId, dlq] = queues.find(([id]) => id.includes('DeadLetter'))!;
    const [, queue] = queues.find(([id]) => id.includes('TaskQueue'))!;
    expect(props(queue).SqsManagedSseEnabled).toBe(true);
    expect(props(dlq).SqsManagedSseEnabled).toBe(true);
    expect(props(queue).RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
      maxReceiveCount: 5,
    });
    expect(props(dlq).MessageRetentionPeriod).toBe(14 * 24 * 3600);
  });

  it('keeps a message invisible for at least 6 dispatcher timeouts', () => {
    const [, queue] = resourcesOf(main.json, 'AWS::SQS::Queue').find(([id]) => id.includes('TaskQueue'))!;
    const timeout = props(ourFunctions(main.json).Dispatcher).Timeout as number;
    expect(props(queue).VisibilityTimeout as number).toBeGreaterThanOrEqual(6 * timeout);
  });

  it('refuses requests without TLS on both queues', () => {
    const policies = resourcesOf(main.json, 'AWS::SQS::QueuePolicy');
    expect(policies).toHaveLength(2);
    for (const [, p] of policies) {
      const statements = (props(p).PolicyDocument as { Statement: PolicyStatement[] }).Statement;
      expect(statements).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });
});

describe('secrets', () => {
  it('creates one secret with no value in the template', () => {
    const secrets = resourcesOf(main.json, 'AWS::SecretsManager::Secret');
    expect(secrets).toHaveLength(1);
    for (const [, s] of secrets) {
      expect(props(s).SecretString).toBeUndefined();
      expect(props(s).GenerateSecretString).toBeUndefined();
      expect(props(s).Description).toMatch(/backend_token, git_token, model_api_key/);
    }
    const text = JSON.stringify(main.json);
    expect(text).not.toContain('SecretString"');
    expect(text).not.toContain('GenerateSecretString');
  });

  it('injects its three JSON keys into the runner as ECS secrets, never as plain environment', () => {
    const [secretId] = one(main.json, 'AWS::SecretsManager::Secret');
    const [, taskDef] = one(main.json, 'AWS::ECS::TaskDefinition');
    const [container] = props(taskDef).ContainerDefinitions as {
      Environment: { Name: string; Value: unknown }[];
      Secrets: { Name: string; ValueFrom: unknown }[];
    }[];
    const injected = Object.fromEntries(container!.Secrets.map((s) => [s.Name, s.ValueFrom]));
    // ECS's JSON-key reference: <secret ARN>:<json-key>:<version-stage>:<version-id>.
    const jsonKey = (key: string) => ({ 'Fn::Join': ['', [refTo(secretId), `:${key}::`]] });
    expect(injected).toEqual({
      NUMA_API_TOKEN: jsonKey('backend_token'),
      GIT_TOKEN: jsonKey('git_token'),
      OPENAI_API_KEY: jsonKey('model_api_key'),
    });
    const envNames = container!.Environment.map((e) => e.Name);
    for (const name of Object.keys(injected)) expect(envNames).not.toContain(name);
  });

  it('gives the Lambdas the secret ARN and the backend token field, no value', () => {
    const [secretId] = one(main.json, 'AWS::SecretsManager::Secret');
    for (const fn of Object.values(ourFunctions(main.json))) {
      const vars = (props(fn).Environment as { Variables: Record<string, unknown> }).Variables;
      expect(vars.NUMA_API_TOKEN_SECRET_ARN).toEqual(refTo(secretId));
      expect(vars.NUMA_API_TOKEN_SECRET_FIELD).toBe('backend_token');
      for (const name of Object.keys(vars)) {
        if (name.endsWith('_SECRET_ARN') || name.endsWith('_SECRET_FIELD')) continue;
        expect(name).not.toMatch(/TOKEN|API_KEY|PASSWORD|SECRET/);
      }
    }
  });

  it('lets no environment in the template carry a secret', () => {
    const [, taskDef] = one(main.json, 'AWS::ECS::TaskDefinition');
    const env = (props(taskDef).ContainerDefinitions as { Environment: { Name: string }[] }[])[0]!
      .Environment;
    for (const { Name } of env) expect(Name).not.toMatch(/TOKEN|API_KEY|PASSWORD|SECRET/);
  });
});

describe('runner', () => {
  it('is a Fargate task definition with the configured size, logs and stop timeout', () => {
    main.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: 'numa-avatar-runner',
      Cpu: '1024',
      Memory: '2048',
      EphemeralStorage: { SizeInGiB: 30 },
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
      ContainerDefinitions: [
        Match.objectLike({
          Name: 'runner',
          Essential: true,
          StopTimeout: 120,
          LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
          Environment: Match.arrayWith([
            { Name: 'NUMA_BACKEND_URL', Value: TEST_BACKEND_URL },
            Match.objectLike({ Name: 'BUCKET' }),
            { Name: 'NUMA_MODEL', Value: 'gpt-4o-mini' },
            { Name: 'NUMA_RUN_TIMEOUT_SECONDS', Value: '3600' },
          ]),
        }),
      ],
    });
  });

  it('runs on a read-only root file system, writing only to task volumes for the work dir, /tmp and the uid leases', () => {
    const container = runnerContainer(main.json);
    expect(container.ReadonlyRootFilesystem).toBe(true);
    expect(container.MountPoints).toEqual([
      { SourceVolume: 'work', ContainerPath: '/work', ReadOnly: false },
      { SourceVolume: 'tmp', ContainerPath: '/tmp', ReadOnly: false },
      { SourceVolume: 'run-numa-avatar', ContainerPath: '/run/numa-avatar', ReadOnly: false },
    ]);
    const [, taskDef] = one(main.json, 'AWS::ECS::TaskDefinition');
    expect((props(taskDef).Volumes as { Name: string }[]).map((v) => v.Name)).toEqual([
      'work',
      'tmp',
      'run-numa-avatar',
    ]);
  });

  it('runs as root with only the capabilities the user sandbox needs, under an init process', () => {
    const container = runnerContainer(main.json);
    expect(container.User).toBe('0');
    expect(container.Privileged).toBeUndefined();
    expect(container.LinuxParameters).toEqual({
      Capabilities: {
        Drop: ['AUDIT_WRITE', 'FSETID', 'MKNOD', 'NET_BIND_SERVICE', 'NET_RAW', 'SETFCAP', 'SYS_CHROOT'],
      },
      InitProcessEnabled: true,
    });
    // What is left of the default set is exactly what setpriv and the clean-up need.
    const dropped = container.LinuxParameters!.Capabilities!.Drop!;
    expect(DEFAULT_CONTAINER_CAPABILITIES.filter((c) => !dropped.includes(c))).toEqual([
      'CHOWN',
      'DAC_OVERRIDE',
      'FOWNER',
      'KILL',
      'SETGID',
      'SETPCAP',
      'SETUID',
    ]);
    // Every dropped name is one of the defaults (a typo would drop nothing).
    for (const c of dropped) expect(DEFAULT_CONTAINER_CAPABILITIES).toContain(c);
  });

  it('tells the runner to use the user sandbox', () => {
    const { text, config } = runnerConfigOf(main.json);
    expect(text).toBe('sandbox:\n  mode: user\n');
    expect(config.sandbox.mode).toBe('user');
    expect(config.sandbox.uid).toBe(61_000);
  });

  it('creates no DNS firewall unless egressAllowDomains is set', () => {
    for (const type of DNS_FIREWALL_TYPES) main.template.resourceCountIs(type, 0);
  });

  it('has a cluster with Fargate and Fargate Spot capacity providers', () => {
    main.template.resourceCountIs('AWS::ECS::Cluster', 1);
    main.template.hasResourceProperties('AWS::ECS::ClusterCapacityProviderAssociations', {
      CapacityProviders: Match.arrayWith(['FARGATE', 'FARGATE_SPOT']),
    });
  });

  it('builds its image from the Dockerfile at deploy time, not at synth', () => {
    const assets = JSON.parse(fs.readFileSync(path.join(main.outdir, 'NumaAvatar.assets.json'), 'utf8')) as {
      dockerImages: Record<string, { source: { directory: string; dockerFile?: string; platform?: string } }>;
    };
    const images = Object.values(assets.dockerImages);
    expect(images).toHaveLength(1);
    expect(images[0]!.source).toMatchObject({ dockerFile: 'Dockerfile', platform: 'linux/amd64' });
    // Staged (copied) into the assembly: that is all synth does with it.
    expect(fs.existsSync(path.join(main.outdir, images[0]!.source.directory, 'Dockerfile'))).toBe(true);
  });

  it('has a security group with no ingress and egress only on 443', () => {
    const [, sg] = one(main.json, 'AWS::EC2::SecurityGroup');
    expect(props(sg).SecurityGroupIngress).toBeUndefined();
    expect(props(sg).SecurityGroupEgress).toEqual([
      expect.objectContaining({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, CidrIp: '0.0.0.0/0' }),
    ]);
    main.template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
  });

  it('creates a VPC with public subnets only and no NAT gateway', () => {
    main.template.resourceCountIs('AWS::EC2::VPC', 1);
    main.template.resourceCountIs('AWS::EC2::NatGateway', 0);
    for (const [, subnet] of resourcesOf(main.json, 'AWS::EC2::Subnet')) {
      expect(props(subnet).MapPublicIpOnLaunch).toBe(true);
    }
    const env = (
      props(ourFunctions(main.json).Dispatcher).Environment as { Variables: Record<string, unknown> }
    ).Variables;
    expect(env.ASSIGN_PUBLIC_IP).toBe('ENABLED');
    const subnetIds = resourcesOf(main.json, 'AWS::EC2::Subnet').map(([id]) => `\${${id}}`);
    expect(flatten(env.SUBNET_IDS).split(',').sort()).toEqual(subnetIds.sort());
  });

  it('keeps its logs and every function’s logs for the configured retention', () => {
    const groups = resourcesOf(main.json, 'AWS::Logs::LogGroup');
    expect(groups).toHaveLength(4);
    for (const [, g] of groups) expect(props(g).RetentionInDays).toBe(30);
    for (const fn of Object.values(ourFunctions(main.json))) {
      expect(props(fn).LoggingConfig).toEqual({ LogGroup: { Ref: expect.any(String) } });
    }
  });
});

describe('functions', () => {
  it('are ESM bundles on Node 24, ARM64', () => {
    for (const fn of Object.values(ourFunctions(main.json))) {
      expect(props(fn)).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
      });
      const key = (props(fn).Code as { S3Key: string }).S3Key.replace(/\.zip$/, '');
      expect(fs.existsSync(path.join(main.outdir, `asset.${key}`, 'index.mjs'))).toBe(true);
    }
  });

  it('runs the poller every minute, one at a time, at 128 MB, with the configured window', () => {
    const { Poller, Dispatcher, Stopped } = ourFunctions(main.json);
    expect(props(Poller).ReservedConcurrentExecutions).toBe(1);
    expect(props(Poller).Timeout).toBe(60);
    expect(props(Poller).MemorySize).toBe(128);
    expect(props(Dispatcher).MemorySize).toBe(256);
    expect(props(Stopped).MemorySize).toBe(256);
    expect((props(Poller).Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
      NUMA_BACKEND_URL: TEST_BACKEND_URL,
      POLL_WAIT_SECONDS: '2',
      POLL_LIMIT: '50',
      POLL_SAFETY_MARGIN_SECONDS: '15',
      POWERTOOLS_SERVICE_NAME: 'numa-avatar',
      POWERTOOLS_METRICS_NAMESPACE: 'NumaAvatar',
      QUEUE_URL: { Ref: expect.stringContaining('TaskQueue') },
      DLQ_URL: { Ref: expect.stringContaining('DeadLetterQueue') },
      BUCKET: { Ref: expect.stringContaining('Bucket') },
    });
    const pollerId = resourcesOf(main.json, 'AWS::Lambda::Function').find(([, f]) => f === Poller)![0];
    main.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [pollerId, 'Arn'] } })],
    });
  });

  it('feeds the dispatcher from the queue in batches of 10 with partial failures, 2 at most', () => {
    main.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('TaskQueue'), 'Arn'] },
    });
  });

  it('gives the dispatcher and the stopped-task handler the launch settings', () => {
    const { Dispatcher, Stopped } = ourFunctions(main.json);
    for (const fn of [Dispatcher, Stopped]) {
      const vars = (props(fn).Environment as { Variables: Record<string, unknown> }).Variables;
      expect(vars).toMatchObject({
        CLUSTER_ARN: { 'Fn::GetAtt': [expect.stringContaining('Cluster'), 'Arn'] },
        TASK_DEFINITION_ARN: { Ref: expect.stringContaining('TaskDefinition') },
        RUNNER_CONTAINER_NAME: 'runner',
        RUNNER_FAMILY: 'numa-avatar-runner',
        SECURITY_GROUP_IDS: { 'Fn::GetAtt': [expect.stringContaining('SecurityGroup'), 'GroupId'] },
        CAPACITY_PROVIDER: 'FARGATE',
        MAX_RUNNERS: '5',
        MAX_ATTEMPTS: '2',
      });
      for (const key of ['QUEUE_URL', 'DLQ_URL', 'BUCKET', 'SUBNET_IDS', 'NUMA_BACKEND_URL'])
        expect(vars).toHaveProperty(key);
    }
  });

  it('calls the stopped-task handler for STOPPED runner tasks of this cluster', () => {
    const rules = resourcesOf(main.json, 'AWS::Events::Rule').filter(([, r]) => props(r).EventPattern);
    expect(rules).toHaveLength(1);
    const pattern = props(rules[0]![1]).EventPattern as {
      source: string[];
      'detail-type': string[];
      detail: { lastStatus: string[]; clusterArn: unknown[]; taskDefinitionArn: { prefix: unknown }[] };
    };
    expect(pattern.source).toEqual(['aws.ecs']);
    expect(pattern['detail-type']).toEqual(['ECS Task State Change']);
    expect(pattern.detail.lastStatus).toEqual(['STOPPED']);
    expect(pattern.detail.clusterArn).toEqual([
      { 'Fn::GetAtt': [expect.stringContaining('Cluster'), 'Arn'] },
    ]);
    expect(flatten(pattern.detail.taskDefinitionArn[0]!.prefix)).toMatch(
      /:task-definition\/numa-avatar-runner:$/,
    );
    const stoppedId = resourcesOf(main.json, 'AWS::Lambda::Function').find(
      ([, f]) => f === ourFunctions(main.json).Stopped,
    )![0];
    expect((props(rules[0]![1]).Targets as { Arn: unknown }[])[0]!.Arn).toEqual({
      'Fn::GetAtt': [stoppedId, 'Arn'],
    });
  });
});

describe('least privilege', () => {
  let statements: FoundStatement[];
  beforeAll(() => {
    statements = identityStatements(main.json);
  });

  it('grants no wildcard action anywhere', () => {
    expect(statements.length).toBeGreaterThan(20);
    for (const { holder, statement } of statements) {
      for (const action of asList(statement.Action)) {
        expect(action, `${holder}: ${action}`).not.toContain('*');
      }
    }
  });

  it('names a resource everywhere except the documented exceptions', () => {
    // The only statements allowed Resource "*": actions IAM cannot scope to a resource.
    // ecr:GetAuthorizationToken (image pull, added by the CDK) and ecs:ListTasks (scoped by the
    // ecs:cluster condition instead).
    const exceptions: string[] = [];
    for (const { holder, statement } of statements) {
      const resources = asList(statement.Resource as unknown);
      if (!resources.includes('*')) continue;
      const actions = asList(statement.Action);
      expect(resources, holder).toEqual(['*']);
      expect(actions.length, `${holder}: a "*" statement holds one action`).toBe(1);
      exceptions.push(actions[0]!);
      if (actions[0] === 'ecs:ListTasks') {
        expect(statement.Condition).toEqual({
          ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [expect.stringContaining('Cluster'), 'Arn'] } },
        });
      }
    }
    expect(exceptions.sort()).toEqual(['ecr:GetAuthorizationToken', 'ecs:ListTasks']);
  });

  it('attaches no AWS managed policy to our roles', () => {
    for (const [id, role] of resourcesOf(main.json, 'AWS::IAM::Role')) {
      // The CDK's own provider that strips the VPC's default security group uses the basic
      // Lambda execution policy; it is not one of ours.
      if (id.startsWith('CustomVpcRestrictDefaultSG')) continue;
      expect(props(role).ManagedPolicyArns, id).toBeUndefined();
    }
  });

  it('lets only the dispatcher start runners, in this cluster, passing only the runner roles', () => {
    const fns = ourFunctions(main.json);
    const dispatcher = statementsOfRole(main.json, roleIdOf(fns.Dispatcher));
    const runTask = dispatcher.find((s) => asList(s.Action).includes('ecs:RunTask'))!;
    expect(flatten(runTask.Resource)).toMatch(/:task-definition\/numa-avatar-runner:\*$/);
    expect(runTask.Condition).toEqual({
      ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [expect.any(String), 'Arn'] } },
    });
    const passRole = dispatcher.find((s) => asList(s.Action).includes('iam:PassRole'))!;
    const roleIds = asList(passRole.Resource as { 'Fn::GetAtt': string[] }[]).map((r) => r['Fn::GetAtt'][0]);
    expect(roleIds.sort()).toEqual(
      resourcesOf(main.json, 'AWS::IAM::Role')
        .map(([id]) => id)
        .filter((id) => /^Runner(Execution|Task)Role/.test(id))
        .sort(),
    );
    expect(passRole.Condition).toEqual({
      StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
    });

    for (const other of [fns.Poller, fns.Stopped]) {
      const actions = actionsOf(statementsOfRole(main.json, roleIdOf(other)));
      expect(actions).not.toContain('ecs:RunTask');
      expect(actions).not.toContain('iam:PassRole');
    }
    expect(
      actionsOf(statementsOfRole(main.json, roleIdOf(fns.Poller))).filter((a) => a.startsWith('ecs:')),
    ).toEqual([]);
  });

  it('limits S3 access to each role’s prefixes and the actions its code uses', () => {
    const fns = ourFunctions(main.json);
    /** prefix -> actions, and whether the role may list the bucket (for 404 on missing keys). */
    const accessOf = (roleId: string) => {
      const access: Record<string, string[]> = {};
      let listed = false;
      for (const s of statementsOfRole(main.json, roleId)) {
        const actions = actionsOf([s]).filter((a) => a.startsWith('s3:'));
        if (actions.length === 0) continue;
        if (actions.includes('s3:ListBucket')) {
          expect(actions).toEqual(['s3:ListBucket']);
          // On the bucket itself, never on objects or on `*`.
          expect(asList(s.Resource as unknown).map(flatten)).toEqual([
            expect.stringMatching(/^\$\{StorageBucket[^}/]*\.Arn\}$/),
          ]);
          listed = true;
          continue;
        }
        for (const r of asList(s.Resource as unknown).map(flatten)) {
          // "${StorageBucket.Arn}/runs/*" -> "runs/*"
          expect(r).toMatch(/^\$\{StorageBucket[^}]*\.Arn\}\/[a-z]+\/\*$/);
          const prefix = r.split('/').slice(-2).join('/');
          access[prefix] = [...(access[prefix] ?? []), ...actions].sort();
        }
      }
      return { access, listed };
    };
    const rw = ['s3:GetObject', 's3:PutObject'];
    expect(accessOf(roleIdOf(fns.Poller))).toEqual({ access: { 'state/*': rw }, listed: true });
    expect(accessOf(roleIdOf(fns.Dispatcher))).toEqual({
      access: { 'dispatch/*': ['s3:DeleteObject', ...rw] },
      listed: true,
    });
    expect(accessOf(roleIdOf(fns.Stopped))).toEqual({
      access: { 'stopped/*': rw, 'runs/*': ['s3:GetObject'] },
      listed: true,
    });
    const taskRole = resourcesOf(main.json, 'AWS::IAM::Role').find(([id]) =>
      id.startsWith('RunnerTaskRole'),
    )![0];
    expect(accessOf(taskRole)).toEqual({
      access: { 'runs/*': rw, 'cache/*': rw },
      listed: true,
    });
  });

  it('gives each function only the queues it sends to', () => {
    const fns = ourFunctions(main.json);
    const sendTargets = (fn: CfnResource) =>
      statementsOfRole(main.json, roleIdOf(fn))
        .filter((s) => actionsOf([s]).includes('sqs:SendMessage'))
        .flatMap((s) => asList(s.Resource as { 'Fn::GetAtt': string[] }[]).map((r) => r['Fn::GetAtt'][0]!))
        .map((id) => (id.includes('DeadLetter') ? 'dlq' : 'queue'))
        .sort();
    expect(sendTargets(fns.Poller)).toEqual(['dlq', 'queue']);
    expect(sendTargets(fns.Dispatcher)).toEqual(['dlq', 'queue']);
    // The stopped-task handler re-queues; its DLQ right serves the on-failure destination.
    expect(sendTargets(fns.Stopped)).toEqual(['dlq', 'queue']);
    main.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('DeadLetter'), 'Arn'] } },
      },
    });
  });

  it('lets the execution role read exactly the one secret', () => {
    const execRole = resourcesOf(main.json, 'AWS::IAM::Role').find(([id]) =>
      id.startsWith('RunnerExecutionRole'),
    )![0];
    const read = statementsOfRole(main.json, execRole).find((s) =>
      asList(s.Action).includes('secretsmanager:GetSecretValue'),
    )!;
    const secretIds = resourcesOf(main.json, 'AWS::SecretsManager::Secret').map(([id]) => refTo(id));
    expect(secretIds).toHaveLength(1);
    expect(asList(read.Resource as unknown)).toEqual(secretIds);
  });

  it('allows nobody anything through resource policies beyond EventBridge into the DLQ', () => {
    for (const type of ['AWS::SQS::QueuePolicy', 'AWS::S3::BucketPolicy', 'AWS::SNS::TopicPolicy']) {
      for (const [id, policy] of resourcesOf(main.json, type)) {
        const st = (props(policy).PolicyDocument as { Statement: PolicyStatement[] }).Statement;
        for (const s of st.filter((x) => x.Effect === 'Allow')) {
          expect(s.Principal, id).toEqual({ Service: 'events.amazonaws.com' });
          expect(s.Action, id).toBe('sqs:SendMessage');
          // Only the stopped-task rule (failed deliveries), not any rule in the account.
          expect(s.Condition, id).toEqual({
            ArnEquals: {
              'aws:SourceArn': { 'Fn::GetAtt': [expect.stringContaining('RunnerStoppedRule'), 'Arn'] },
            },
          });
        }
      }
    }
  });
});

describe('monitoring', () => {
  function widgets(): { type: string; properties: Record<string, unknown> }[] {
    const [, dashboard] = one(main.json, 'AWS::CloudWatch::Dashboard');
    return (JSON.parse(flatten(props(dashboard).DashboardBody)) as { widgets: never[] }).widgets;
  }
  const metricNames = (w: { properties: Record<string, unknown> }) =>
    ((w.properties.metrics as unknown[][] | undefined) ?? []).map((m) => `${String(m[0])}/${String(m[1])}`);

  it('has a widget for each thing the issue asks to watch', () => {
    const byTitle = Object.fromEntries(widgets().map((w) => [w.properties.title as string, w]));
    const expectMetrics = (title: string, names: string[]) => {
      expect(byTitle[title], title).toBeDefined();
      expect(metricNames(byTitle[title]!)).toEqual(expect.arrayContaining(names));
    };
    expectMetrics('Messages forwarded', ['NumaAvatar/MessagesForwarded']);
    expectMetrics('Task queue: depth and oldest message age', [
      'AWS/SQS/ApproximateNumberOfMessagesVisible',
      'AWS/SQS/ApproximateAgeOfOldestMessage',
    ]);
    expectMetrics('Dead-letter queue depth', ['AWS/SQS/ApproximateNumberOfMessagesVisible']);
    expectMetrics('Dispatches', ['NumaAvatar/Dispatches']);
    expectMetrics('Runners running', ['NumaAvatar/RunnersRunning']);
    expectMetrics('Run outcomes', ['NumaAvatar/RunsDone', 'NumaAvatar/RunsFailed', 'NumaAvatar/RunsBlocked']);
    expectMetrics('Tokens per task (average per run)', [
      'NumaAvatar/RunPromptTokens',
      'NumaAvatar/RunCompletionTokens',
    ]);
    expectMetrics('Model cost per task (USD)', ['NumaAvatar/RunCostUsd']);
    expectMetrics('Poller errors', ['NumaAvatar/PollErrors', 'AWS/Lambda/Errors']);
    const duration = (byTitle['Run duration p50 / p90 (s)']!.properties.metrics as unknown[][]).map(
      (m) => (m[4] as { stat: string }).stat,
    );
    expect(duration).toEqual(['p50', 'p90']);
    const lastPoll = byTitle['Last successful poll']!;
    expect(lastPoll.type).toBe('log');
    // The poller's summary line (functions/poller/handler.ts logs 'poller invocation done' with `polls`).
    expect(lastPoll.properties.query).toMatch(/filter message = 'poller invocation done' and polls > 0/);
    const successful = byTitle['Poller invocations that polled successfully (last 5 minutes)']!;
    expect(metricNames(successful)).toEqual(
      expect.arrayContaining(['AWS/Lambda/Invocations', 'AWS/Lambda/Errors']),
    );
  });

  it('uses the plan’s namespace and the single dimension service=numa-avatar', () => {
    for (const w of widgets()) {
      for (const m of (w.properties.metrics as unknown[][] | undefined) ?? []) {
        if (m[0] !== 'NumaAvatar') continue;
        expect(m.slice(2, 4)).toEqual(['service', 'numa-avatar']);
      }
    }
  });

  it('has the four alarms, all notifying the topic', () => {
    const alarms = resourcesOf(main.json, 'AWS::CloudWatch::Alarm');
    expect(alarms).toHaveLength(4);
    const [topicId] = one(main.json, 'AWS::SNS::Topic');
    for (const [, a] of alarms) expect(props(a).AlarmActions).toEqual([refTo(topicId)]);
    const byId = (part: string) => props(alarms.find(([id]) => id.includes(part))![1]);

    expect(byId('DlqNotEmpty')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Dimensions: [
        { Name: 'QueueName', Value: { 'Fn::GetAtt': [expect.stringContaining('DeadLetter'), 'QueueName'] } },
      ],
    });
    // Built-in metrics of the poller: its invocations minus its errors (an invocation without a
    // successful poll fails), under 1 in 5 minutes, or no data at all.
    const pollerId = resourcesOf(main.json, 'AWS::Lambda::Function').find(
      ([, f]) => f === ourFunctions(main.json).Poller,
    )![0];
    const noPoll = byId('NoSuccessfulPoll') as {
      Threshold: number;
      ComparisonOperator: string;
      TreatMissingData: string;
      EvaluationPeriods: number;
      Metrics: {
        Id: string;
        Expression?: string;
        MetricStat?: {
          Metric: { Namespace: string; MetricName: string; Dimensions: unknown[] };
          Period: number;
          Stat: string;
        };
      }[];
    };
    expect(noPoll).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      EvaluationPeriods: 1,
    });
    const stats = Object.fromEntries(
      noPoll.Metrics.filter((x) => x.MetricStat).map((x) => [x.Id, x.MetricStat!]),
    );
    expect(noPoll.Metrics.find((x) => x.Expression)!.Expression).toBe(
      'FILL(invocations, 0) - FILL(errors, 0)',
    );
    for (const [id, name] of [
      ['invocations', 'Invocations'],
      ['errors', 'Errors'],
    ] as const) {
      expect(stats[id]).toEqual({
        Metric: {
          Namespace: 'AWS/Lambda',
          MetricName: name,
          Dimensions: [{ Name: 'FunctionName', Value: refTo(pollerId) }],
        },
        Period: 300,
        Stat: 'Sum',
      });
    }
    const pollerFailing = byId('PollerFailing') as {
      Metrics: { Id: string; MetricStat?: { Metric: { MetricName: string } } }[];
    };
    expect(
      pollerFailing.Metrics.map((m) => m.MetricStat?.Metric.MetricName)
        .filter(Boolean)
        .sort(),
    ).toEqual(['Errors', 'PollErrors']);
    const rate = byId('RunnerFailureRate') as {
      Threshold: number;
      ComparisonOperator: string;
      Metrics: { Expression?: string; MetricStat?: { Metric: { MetricName: string } } }[];
    };
    expect(rate.Threshold).toBe(0.5);
    expect(rate.ComparisonOperator).toBe('GreaterThanThreshold');
    expect(rate.Metrics.find((m) => m.Expression)!.Expression).toMatch(
      /\/ \(FILL\(done, 0\) \+ FILL\(failed, 0\)/,
    );
    expect(
      rate.Metrics.map((m) => m.MetricStat?.Metric.MetricName)
        .filter(Boolean)
        .sort(),
    ).toEqual(['RunnerCrashes', 'RunsDone', 'RunsFailed']);
  });

  it('watches no custom metric that an idle stack would have to emit', () => {
    // PollSuccess was one: written every minute, billed as a custom metric.
    expect(JSON.stringify(main.json)).not.toContain('PollSuccess');
  });

  it('subscribes the alarm email when one is given', () => {
    main.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
  });
});

describe('outputs', () => {
  it('names the queue, DLQ, bucket, dashboard, re-run command and secrets', () => {
    const outputs = main.json.Outputs!;
    for (const key of [
      'QueueUrl',
      'DlqUrl',
      'BucketName',
      'DashboardUrl',
      'RerunCommand',
      'SecretArn',
      'SetSecretsCommand',
    ]) {
      expect(outputs, key).toHaveProperty(key);
    }
    const [queueId] = resourcesOf(main.json, 'AWS::SQS::Queue').find(([id]) => id.includes('TaskQueue'))!;
    expect(flatten(outputs.RerunCommand!.Value)).toBe(
      `aws sqs send-message --region \${AWS::Region} --queue-url \${${queueId}} --message-body '{"task_id": <TASK_ID>, "reason": "..."}'`,
    );
    expect(flatten(outputs.DashboardUrl!.Value)).toMatch(
      /^https:\/\/\$\{AWS::Region\}\.console\.aws\.amazon\.com\/cloudwatch\/home\?region=\$\{AWS::Region\}#dashboards:name=\$\{Monitoring/,
    );
    for (const gone of ['BackendTokenSecretArn', 'GitTokenSecretArn', 'ModelKeySecretArn']) {
      expect(outputs).not.toHaveProperty(gone);
    }
    const [secretId] = one(main.json, 'AWS::SecretsManager::Secret');
    expect(outputs.SecretArn!.Value).toEqual(refTo(secretId));
    expect(outputs.SecretArn!.Description).toMatch(/backend_token, git_token, model_api_key/);
    const setSecrets = flatten(outputs.SetSecretsCommand!.Value);
    expect(setSecrets).toMatch(
      new RegExp(
        `^node -e '[^']+' \\| aws secretsmanager put-secret-value --region \\$\\{AWS::Region\\} --secret-id \\$\\{${secretId}\\} --secret-string file:///dev/stdin$`,
      ),
    );
    // The values come from the environment inside node, never from the shell's command line.
    expect(setSecrets).not.toContain('$NUMA_API_TOKEN');
    expect(outputs.SetSecretsCommand!.Description).toMatch(/NUMA_API_TOKEN, GIT_TOKEN, OPENAI_API_KEY/);
  });

  it("SetSecretsCommand's node script builds the secret's JSON from the environment, and refuses an empty one", () => {
    const command = setSecretsCommand(
      'arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf',
      'us-east-1',
    );
    const script = /^node -e '([^']+)' \| /.exec(command)![1]!;
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['-e', script], {
        env: { PATH: process.env.PATH ?? '', ...env },
        encoding: 'utf8',
      });
    const values = { NUMA_API_TOKEN: 'numa "tok" $x', GIT_TOKEN: 'ghp_value', OPENAI_API_KEY: 'sk-value' };
    const ok = run(values);
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({
      backend_token: values.NUMA_API_TOKEN,
      git_token: values.GIT_TOKEN,
      model_api_key: values.OPENAI_API_KEY,
    });
    const missing = run({ NUMA_API_TOKEN: 'a', GIT_TOKEN: '', OPENAI_API_KEY: 'c' });
    expect(missing.status).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toContain('GIT_TOKEN is unset or empty');
  });
});

describe('settings from command-line context', () => {
  let variant: Synthesized;
  let imageRoot: string;
  beforeAll(() => {
    // A repository-shaped build context, to see what staging leaves out.
    imageRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'numa-image-root-'));
    for (const file of [
      'container/runner/Dockerfile',
      'core/errors.ts',
      'package.json',
      'node_modules/big/index.js',
      'cdk.out/old/template.json',
      '.git/HEAD',
      'test/infra/stack.test.ts',
    ]) {
      fs.mkdirSync(path.dirname(path.join(imageRoot, file)), { recursive: true });
      fs.writeFileSync(path.join(imageRoot, file), 'x');
    }
    variant = synth(
      {
        maxRunners: '10',
        capacity: 'FARGATE_SPOT',
        egressPorts: '443,22',
        runnerSubnets: 'private',
        reservePollerConcurrency: 'false',
        runnerCpu: '2048',
        runnerMemoryMiB: '4096',
        runnerEphemeralStorageGiB: '50',
        runnerArchitecture: 'ARM64',
        runTimeoutMinutes: '30',
        logRetentionDays: '7',
        lambdaRuntime: 'nodejs22.x',
        modelBaseUrl: 'https://models.example.com/v1',
        alarmEmail: '',
        egressAllowDomains: 'github.com, *.github.com,registry.npmjs.org,github.com',
        runnerConfigYaml: '# big repositories\nlimits:\n  max_steps: 60\nsandbox:\n  uid: 62000\n',
        // The Lambda bundles were checked above; skipping them here keeps this file fast.
        'aws:cdk:bundling-stacks': [],
      },
      { runnerImageDirectory: imageRoot, runnerDockerfile: 'container/runner/Dockerfile' },
    );
  });
  afterAll(() => {
    variant?.cleanup();
    if (imageRoot) fs.rmSync(imageRoot, { recursive: true, force: true });
  });

  it('carries the settings into the template', () => {
    const fns = ourFunctions(variant.json);
    const vars = (props(fns.Dispatcher).Environment as { Variables: Record<string, unknown> }).Variables;
    expect(vars).toMatchObject({
      MAX_RUNNERS: '10',
      CAPACITY_PROVIDER: 'FARGATE_SPOT',
      ASSIGN_PUBLIC_IP: 'DISABLED',
    });
    expect(props(fns.Poller).ReservedConcurrentExecutions).toBeUndefined();
    expect(props(fns.Poller).Runtime).toBe('nodejs22.x');
    variant.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Cpu: '2048',
      Memory: '4096',
      EphemeralStorage: { SizeInGiB: 50 },
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      ContainerDefinitions: [
        Match.objectLike({
          Environment: Match.arrayWith([
            { Name: 'NUMA_RUN_TIMEOUT_SECONDS', Value: '1800' },
            { Name: 'OPENAI_BASE_URL', Value: 'https://models.example.com/v1' },
          ]),
        }),
      ],
    });
    for (const [, g] of resourcesOf(variant.json, 'AWS::Logs::LogGroup'))
      expect(props(g).RetentionInDays).toBe(7);
    variant.template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('opens exactly the configured egress ports', () => {
    const [, sg] = one(variant.json, 'AWS::EC2::SecurityGroup');
    const ports = (props(sg).SecurityGroupEgress as { FromPort: number; ToPort: number }[]).map((r) => [
      r.FromPort,
      r.ToPort,
    ]);
    expect(ports).toEqual([
      [22, 22],
      [443, 443],
    ]);
  });

  it('keeps the given runner configuration and adds sandbox.mode user', () => {
    const { text, config } = runnerConfigOf(variant.json);
    expect(text).toContain('# big repositories');
    expect(config.sandbox).toMatchObject({ mode: 'user', uid: 62000 });
    expect(config.limits.max_steps).toBe(60);
  });

  it('builds the DNS allow-list: allowed names first, then NXDOMAIN for every other name', () => {
    const lists = Object.fromEntries(
      resourcesOf(variant.json, 'AWS::Route53Resolver::FirewallDomainList').map(([id, r]) => [
        id,
        props(r).Domains as unknown[],
      ]),
    );
    expect(Object.keys(lists)).toHaveLength(3);
    const [, group] = one(variant.json, 'AWS::Route53Resolver::FirewallRuleGroup');
    const rules = props(group).FirewallRules as FirewallRule[];
    const listOf = (rule: FirewallRule) => lists[rule.FirewallDomainListId['Fn::GetAtt'][0]]!;

    const allows = rules.filter((r) => r.Action === 'ALLOW');
    const blocks = rules.filter((r) => r.Action === 'BLOCK');
    expect(rules).toHaveLength(3);
    expect(allows).toHaveLength(2);
    expect(blocks).toHaveLength(1);
    const block = blocks[0]!;
    expect(block.BlockResponse).toBe('NXDOMAIN');
    expect(listOf(block)).toEqual(['*']);
    // Lowest priority first: every ALLOW rule is looked at before the BLOCK rule.
    for (const allow of allows) expect(allow.Priority).toBeLessThan(block.Priority);
    expect(new Set(rules.map((r) => r.Priority)).size).toBe(3);
    for (const allow of allows)
      expect(allow.FirewallDomainRedirectionAction).toBe('TRUST_REDIRECTION_DOMAIN');

    // The operator's list, de-duplicated; and the names the runner itself needs.
    const [operator, service] = [...allows].sort((a, b) => a.Priority - b.Priority).map(listOf);
    expect(operator).toEqual(['*.github.com', 'github.com', 'registry.npmjs.org']);
    const serviceNames = service!.map(flatten);
    expect(serviceNames).toEqual(
      expect.arrayContaining([
        'numa.test.example',
        'models.example.com',
        expect.stringMatching(/^\$\{StorageBucket[^}]*\}\.s3\.\$\{AWS::Region\}\.\$\{AWS::URLSuffix\}$/),
        'api.ecr.${AWS::Region}.${AWS::URLSuffix}',
        '${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}',
        'prod-${AWS::Region}-starport-layer-bucket.s3.${AWS::Region}.${AWS::URLSuffix}',
        'logs.${AWS::Region}.${AWS::URLSuffix}',
        'secretsmanager.${AWS::Region}.${AWS::URLSuffix}',
      ]),
    );
    // The model endpoint is the configured one, not OpenAI's.
    expect(serviceNames).not.toContain('api.openai.com');
    // No wildcard over AWS: only the endpoints themselves.
    for (const name of serviceNames) expect(name).not.toContain('*');
  });

  it('associates the rule group with the runners’ VPC', () => {
    const [vpcId] = one(variant.json, 'AWS::EC2::VPC');
    const [groupId] = one(variant.json, 'AWS::Route53Resolver::FirewallRuleGroup');
    const [, association] = one(variant.json, 'AWS::Route53Resolver::FirewallRuleGroupAssociation');
    expect(props(association)).toMatchObject({
      VpcId: refTo(vpcId),
      FirewallRuleGroupId: { 'Fn::GetAtt': [groupId, 'Id'] },
    });
    const priority = props(association).Priority as number;
    expect(priority).toBeGreaterThanOrEqual(100);
    expect(priority).toBeLessThanOrEqual(9900);
    // The VPC keeps the Amazon-provided resolver: no DHCP options or resolver endpoints of ours.
    variant.template.resourceCountIs('AWS::EC2::DHCPOptions', 0);
    variant.template.resourceCountIs('AWS::Route53Resolver::ResolverEndpoint', 0);
  });

  it('puts the runners in private subnets behind one NAT gateway', () => {
    variant.template.resourceCountIs('AWS::EC2::NatGateway', 1);
    const vars = (
      props(ourFunctions(variant.json).Dispatcher).Environment as { Variables: Record<string, unknown> }
    ).Variables;
    const runnerSubnets = flatten(vars.SUBNET_IDS).split(',');
    expect(runnerSubnets).toHaveLength(2);
    for (const ref of runnerSubnets) {
      const id = ref.slice(2, -1);
      expect(props(variant.json.Resources[id]!).MapPublicIpOnLaunch, id).toBe(false);
    }
  });

  it('stages the runner image without node_modules, cdk.out, .git or tests', () => {
    const assets = JSON.parse(
      fs.readFileSync(path.join(variant.outdir, 'NumaAvatar.assets.json'), 'utf8'),
    ) as {
      dockerImages: Record<string, { source: { directory: string; dockerFile: string; platform: string } }>;
    };
    const [image] = Object.values(assets.dockerImages);
    expect(image!.source).toMatchObject({
      dockerFile: 'container/runner/Dockerfile',
      platform: 'linux/arm64',
    });
    const staged = path.join(variant.outdir, image!.source.directory);
    expect(fs.existsSync(path.join(staged, 'container/runner/Dockerfile'))).toBe(true);
    expect(fs.existsSync(path.join(staged, 'core/errors.ts'))).toBe(true);
    expect(fs.existsSync(path.join(staged, 'package.json'))).toBe(true);
    for (const gone of ['node_modules', 'cdk.out', '.git', 'test']) {
      expect(fs.existsSync(path.join(staged, gone)), gone).toBe(false);
    }
  });
});

describe('DNS allow-list in an existing VPC', () => {
  let existing: Synthesized;
  beforeAll(() => {
    existing = synth({
      vpcId: 'vpc-0abc123',
      subnetIds: 'subnet-0aaa,subnet-0bbb',
      egressAllowDomains: 'github.com',
      'aws:cdk:bundling-stacks': [],
    });
  });
  afterAll(() => existing?.cleanup());

  it('associates the rule group with that VPC and warns that it applies to all of it', () => {
    existing.template.resourceCountIs('AWS::EC2::VPC', 0);
    existing.template.hasResourceProperties('AWS::Route53Resolver::FirewallRuleGroupAssociation', {
      VpcId: 'vpc-0abc123',
    });
    Annotations.fromStack(existing.stack).hasWarning(
      '*',
      Match.stringLikeRegexp(
        'egressAllowDomains: the DNS Firewall rule group is associated with the whole VPC vpc-0abc123',
      ),
    );
  });
});

describe('errors', () => {
  it('names a missing runner Dockerfile', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'numa-no-dockerfile-'));
    try {
      createNumaAvatarApp({
        context: { ...cdkJsonContext(), backendUrl: TEST_BACKEND_URL },
        outdir: empty,
        overrides: { ...FIXTURE_CODE, runnerImageDirectory: empty },
      });
      expect.unreachable('expected an error');
    } catch (err) {
      expect(isAvatarError(err, 'CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(
        /runner Dockerfile not found at .*numa-no-dockerfile-.*Dockerfile/,
      );
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('names an egressAllowDomains entry that is not a domain name', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'numa-bad-domain-'));
    try {
      createNumaAvatarApp({
        context: {
          ...cdkJsonContext(),
          backendUrl: TEST_BACKEND_URL,
          egressAllowDomains: 'github.com,https://evil.example.com/x',
        },
        outdir,
        overrides: FIXTURE_CODE,
      });
      expect.unreachable('expected an error');
    } catch (err) {
      expect(isAvatarError(err, 'CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(
        /egressAllowDomains\.1: "https:\/\/evil\.example\.com\/x" is not a domain name/,
      );
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('refuses a runnerConfigYaml that sets another sandbox mode', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'numa-bad-sandbox-'));
    try {
      expect(() =>
        createNumaAvatarApp({
          context: {
            ...cdkJsonContext(),
            backendUrl: TEST_BACKEND_URL,
            runnerConfigYaml: 'sandbox:\n  mode: none\n  allow_unsandboxed: true\n',
          },
          outdir,
          overrides: FIXTURE_CODE,
        }),
      ).toThrow(/runnerConfigYaml: sandbox\.mode is "none"/);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('names a bad context value before building anything', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'numa-bad-context-'));
    try {
      expect(() =>
        createNumaAvatarApp({
          context: { ...cdkJsonContext(), backendUrl: TEST_BACKEND_URL, maxRunners: '0' },
          outdir,
          overrides: FIXTURE_CODE,
        }),
      ).toThrow(/maxRunners/);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
});
