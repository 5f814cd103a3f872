/**
 * Least privilege of every IAM role, as an exact inventory on the synthesized template: who may
 * assume each role, and every action it is granted, on which resources, under which condition.
 * Any permission added to the stack fails this test until the inventory (and README.md's IAM
 * table, which it mirrors) is updated on purpose. test/infra/stack.test.ts ("least privilege")
 * checks the general rules: no wildcard action, named resources but for the two documented
 * exceptions, no AWS managed policy on our roles, S3 prefixes, queues, PassRole and RunTask scope.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  asList,
  flatten,
  resourcesOf,
  synth,
  type PolicyStatement,
  type Synthesized,
} from '../infra/helpers.ts';

let main: Synthesized;
beforeAll(() => {
  main = synth();
});
afterAll(() => main?.cleanup());

/** Logical ids without the CDK's hash suffix: `StorageBucket5CB7C8EA` → `StorageBucket`. */
const stable = (text: string) => text.replace(/([A-Za-z])[0-9A-F]{8}\b/g, '$1');

/** One line per statement: effect, sorted actions, sorted resources, condition. */
function describeStatement(s: PolicyStatement & { NotAction?: unknown; NotResource?: unknown }): string {
  expect(s.NotAction, 'NotAction').toBeUndefined();
  expect(s.NotResource, 'NotResource').toBeUndefined();
  const actions = asList(s.Action).sort().join(',');
  const resources = asList(s.Resource as unknown)
    .map((r) => stable(flatten(r)))
    .sort()
    .join(' ');
  const condition = s.Condition ? ` if ${stable(JSON.stringify(s.Condition))}` : '';
  return `${s.Effect} ${actions} on ${resources}${condition}`;
}

interface RoleInventory {
  trustedBy: string[];
  managed: string[];
  statements: string[];
}

function inventory(): Record<string, RoleInventory> {
  const json = main.json;
  const out: Record<string, RoleInventory> = {};
  for (const [id, role] of resourcesOf(json, 'AWS::IAM::Role')) {
    const p = role.Properties ?? {};
    const trust = (
      p.AssumeRolePolicyDocument as { Statement: Array<PolicyStatement & { Principal: unknown }> }
    ).Statement;
    const statements = [
      ...resourcesOf(json, 'AWS::IAM::Policy')
        .filter(([, pol]) =>
          asList((pol.Properties ?? {}).Roles as unknown[]).some(
            (r) => JSON.stringify(r) === JSON.stringify({ Ref: id }),
          ),
        )
        .flatMap(
          ([, pol]) => ((pol.Properties ?? {}).PolicyDocument as { Statement: PolicyStatement[] }).Statement,
        ),
      ...(
        (p.Policies as Array<{ PolicyDocument: { Statement: PolicyStatement[] } }> | undefined) ?? []
      ).flatMap((x) => x.PolicyDocument.Statement),
    ];
    out[stable(id)] = {
      trustedBy: trust.map(
        (t) =>
          `${t.Effect} ${JSON.stringify(t.Principal)} ${asList(t.Action).join(',')}${t.Condition ? ' if …' : ''}`,
      ),
      managed: asList(p.ManagedPolicyArns as unknown[]).map((m) => stable(flatten(m))),
      statements: statements.map(describeStatement).sort(),
    };
  }
  return out;
}

const BUCKET = '${StorageBucket.Arn}';
const LAMBDA = 'Allow {"Service":"lambda.amazonaws.com"} sts:AssumeRole';
const ECS_TASKS = 'Allow {"Service":"ecs-tasks.amazonaws.com"} sts:AssumeRole';
// The stack's one secret holds the backend token, the git token and the model key as JSON
// (infra/constructs/secrets.ts): IAM cannot narrow a read to one of its keys, so a role that needs
// the backend token can read the three.
const SECRET_READ = 'Allow secretsmanager:DescribeSecret,secretsmanager:GetSecretValue on ${SecretsValues}';
const CLUSTER = '{"ArnEquals":{"ecs:cluster":{"Fn::GetAtt":["RunnerCluster","Arn"]}}}';
const QUEUE_SEND = 'sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:SendMessage';

const EXPECTED: Record<string, RoleInventory> = {
  RunnerExecutionRole: {
    trustedBy: [ECS_TASKS],
    managed: [],
    statements: [
      'Allow ecr:BatchCheckLayerAvailability,ecr:BatchGetImage,ecr:GetDownloadUrlForLayer on arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/${{"Fn::Sub":"cdk-hnb659fds-container-assets-${AWS::AccountId}-${AWS::Region}"}}',
      'Allow ecr:GetAuthorizationToken on *',
      'Allow logs:CreateLogStream,logs:PutLogEvents on ${RunnerLogs.Arn}',
      SECRET_READ,
    ].sort(),
  },
  // What the runner's code, and so any command the agent runs in the container, can do with the
  // task's credentials: its own run artifacts and caches, nothing else (no secret, no queue).
  RunnerTaskRole: {
    trustedBy: [ECS_TASKS],
    managed: [],
    statements: [
      `Allow s3:GetObject,s3:PutObject on ${BUCKET}/cache/* ${BUCKET}/runs/*`,
      `Allow s3:ListBucket on ${BUCKET}`,
    ].sort(),
  },
  FunctionsPollerRole: {
    trustedBy: [LAMBDA],
    managed: [],
    statements: [
      'Allow logs:CreateLogStream,logs:PutLogEvents on ${FunctionsPollerLogs.Arn}',
      `Allow ${QUEUE_SEND} on \${QueuesDeadLetterQueue.Arn} \${QueuesTaskQueue.Arn}`,
      `Allow s3:GetObject,s3:PutObject on ${BUCKET}/state/*`,
      `Allow s3:ListBucket on ${BUCKET}`,
      SECRET_READ,
    ].sort(),
  },
  FunctionsDispatcherRole: {
    trustedBy: [LAMBDA],
    managed: [],
    statements: [
      'Allow logs:CreateLogStream,logs:PutLogEvents on ${FunctionsDispatcherLogs.Arn}',
      'Allow sqs:ChangeMessageVisibility,sqs:DeleteMessage,sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:ReceiveMessage,sqs:SendMessage on ${QueuesTaskQueue.Arn}',
      `Allow ${QUEUE_SEND} on \${QueuesDeadLetterQueue.Arn}`,
      `Allow s3:DeleteObject,s3:GetObject,s3:PutObject on ${BUCKET}/dispatch/*`,
      `Allow s3:ListBucket on ${BUCKET}`,
      SECRET_READ,
      `Allow ecs:RunTask on arn:\${AWS::Partition}:ecs:\${AWS::Region}:\${AWS::AccountId}:task-definition/numa-avatar-runner:* if ${CLUSTER}`,
      'Allow iam:PassRole on ${RunnerExecutionRole.Arn} ${RunnerTaskRole.Arn} if {"StringEquals":{"iam:PassedToService":"ecs-tasks.amazonaws.com"}}',
      `Allow ecs:DescribeTasks on arn:\${AWS::Partition}:ecs:\${AWS::Region}:\${AWS::AccountId}:task/\${RunnerCluster}/* if ${CLUSTER}`,
      `Allow ecs:ListTasks on * if ${CLUSTER}`,
    ].sort(),
  },
  FunctionsStoppedRole: {
    trustedBy: [LAMBDA],
    managed: [],
    statements: [
      'Allow logs:CreateLogStream,logs:PutLogEvents on ${FunctionsStoppedLogs.Arn}',
      `Allow ${QUEUE_SEND} on \${QueuesDeadLetterQueue.Arn} \${QueuesTaskQueue.Arn}`,
      `Allow s3:GetObject,s3:PutObject on ${BUCKET}/stopped/*`,
      `Allow s3:GetObject on ${BUCKET}/runs/*`,
      `Allow s3:ListBucket on ${BUCKET}`,
      SECRET_READ,
    ].sort(),
  },
};

describe('every IAM role of the stack', () => {
  it('is one of ours with exactly the documented permissions, or the CDK’s VPC custom resource', () => {
    const found = inventory();
    const cdkOwn = Object.keys(found).filter((id) => id.startsWith('CustomVpcRestrictDefaultSG'));
    expect(cdkOwn).toHaveLength(1);
    const ours = Object.fromEntries(Object.entries(found).filter(([id]) => !cdkOwn.includes(id)));
    expect(Object.keys(ours).sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const [id, expected] of Object.entries(EXPECTED)) expect(ours[id], id).toEqual(expected);
  });

  it('the CDK’s custom resource may only edit the rules of the VPC’s default security group', () => {
    const [id, role] = Object.entries(inventory()).find(([k]) => k.startsWith('CustomVpcRestrictDefaultSG'))!;
    expect(role.trustedBy, id).toEqual([LAMBDA]);
    expect(role.managed).toEqual([
      '${{"Fn::Sub":"arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}}',
    ]);
    expect(role.statements).toHaveLength(1);
    expect(role.statements[0]).toMatch(
      /^Allow ec2:AuthorizeSecurityGroupEgress,ec2:AuthorizeSecurityGroupIngress,ec2:RevokeSecurityGroupEgress,ec2:RevokeSecurityGroupIngress on arn:.*:security-group\/\$\{.*DefaultSecurityGroup\}$/,
    );
  });

  it('no role can be assumed by an account or user, and none can assume roles or change IAM', () => {
    for (const [id, role] of Object.entries(inventory())) {
      for (const t of role.trustedBy)
        expect(t, id).toMatch(/^Allow \{"Service":"[a-z-]+\.amazonaws\.com"\} sts:AssumeRole$/);
      for (const s of role.statements) {
        expect(s, id).not.toMatch(/\bsts:/);
        const actions = s.split(' on ')[0]!;
        expect(actions.replace('iam:PassRole', ''), id).not.toMatch(/\biam:/);
        expect(s, id).not.toMatch(/^Deny/);
      }
    }
  });
});
