/**
 * The three Lambdas, their triggers and their least-privilege roles:
 * - poller: EventBridge rate(1 minute), reserved concurrency 1, 128 MB; long-polls the backend
 *   into SQS: one short long poll when the topic is idle, more while messages keep arriving.
 * - dispatcher: SQS event source (batches of 10, partial batch failures, at most 2 at once);
 *   starts runners with ECS RunTask.
 * - stopped: EventBridge rule on the runner tasks' STOPPED state changes; reports dead runners
 *   `failed` and re-queues them.
 * Each has its own role (no AWS managed policies) and its own log group with retention.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { lambdaBundling } from '../bundling.ts';
import type { Network } from './network.ts';
import type { Queues } from './queues.ts';
import { METRICS_NAMESPACE, RUNNER_CONTAINER_NAME, SERVICE_NAME } from './runner.ts';
import type { Runner } from './runner.ts';
import { SECRET_FIELDS, type Secrets } from './secrets.ts';
import type { Storage } from './storage.ts';

export const DISPATCHER_TIMEOUT = Duration.seconds(60);

/** Memory of the dispatcher and the stopped-task handler (MB). */
export const DEFAULT_MEMORY_MB = 256;
/**
 * Memory of the poller (MB), Lambda's smallest size: its peak RSS is 95 MB on Node 24 (72 MB on
 * Node 20), measured by bench/poller-memory.ts (the stack's bundle in a node process of its own,
 * idle invocations and a busy one forwarding 500 messages, against the reference backend and
 * moto). Its duration is most of the stack's idle cost, billed per GB-second.
 */
export const POLLER_MEMORY_MB = 128;

export interface FunctionEntries {
  /** functions/poller/handler.ts (export `handler`). */
  poller: string;
  /** functions/dispatcher/handler.ts (export `handler`, SQS). */
  dispatcher: string;
  /** functions/dispatcher/stopped.ts (export `handler`, EventBridge). */
  stopped: string;
}

export interface FunctionsProps {
  entries: FunctionEntries;
  /** Where package-lock.json is; esbuild runs there. */
  projectRoot: string;
  network: Network;
  storage: Storage;
  queues: Queues;
  secrets: Secrets;
  runner: Runner;
  runtime: 'nodejs22.x' | 'nodejs24.x';
  bundleAwsSdk: boolean;
  logRetention: logs.RetentionDays;
  backendUrl: string;
  capacity: 'FARGATE' | 'FARGATE_SPOT';
  maxRunners: number;
  maxAttempts: number;
  pollWaitSeconds: number;
  pollLimit: number;
  pollSafetyMarginSeconds: number;
  pollerTimeoutSeconds: number;
  reservePollerConcurrency: boolean;
}

const RUNTIMES = { 'nodejs22.x': lambda.Runtime.NODEJS_22_X, 'nodejs24.x': lambda.Runtime.NODEJS_24_X };

export class Functions extends Construct {
  readonly poller: nodejs.NodejsFunction;
  readonly dispatcher: nodejs.NodejsFunction;
  readonly stopped: nodejs.NodejsFunction;
  readonly pollSchedule: events.Rule;
  readonly stoppedRule: events.Rule;

  constructor(scope: Construct, id: string, props: FunctionsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { storage, queues, secrets, runner, network } = props;

    const common = {
      NUMA_BACKEND_URL: props.backendUrl,
      NUMA_API_TOKEN_SECRET_ARN: secrets.secret.secretArn,
      NUMA_API_TOKEN_SECRET_FIELD: SECRET_FIELDS.backendToken,
      QUEUE_URL: queues.queue.queueUrl,
      DLQ_URL: queues.dlq.queueUrl,
      BUCKET: storage.bucket.bucketName,
      POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    };

    const make = (
      name: string,
      entry: string,
      description: string,
      timeout: Duration,
      environment: Record<string, string>,
      extra: Partial<nodejs.NodejsFunctionProps> = {},
    ): nodejs.NodejsFunction => {
      const logGroup = new logs.LogGroup(this, `${name}Logs`, {
        retention: props.logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      // Own role, no AWSLambdaBasicExecutionRole (whose log rights cover every log group).
      const role = new iam.Role(this, `${name}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `numa-avatar ${name.toLowerCase()} Lambda`,
      });
      logGroup.grantWrite(role);
      return new nodejs.NodejsFunction(this, name, {
        entry,
        handler: 'handler',
        description,
        projectRoot: props.projectRoot,
        depsLockFilePath: `${props.projectRoot}/package-lock.json`,
        runtime: RUNTIMES[props.runtime],
        architecture: lambda.Architecture.ARM_64,
        memorySize: DEFAULT_MEMORY_MB,
        timeout,
        role,
        logGroup,
        environment,
        bundling: lambdaBundling({ runtime: props.runtime, bundleAwsSdk: props.bundleAwsSdk }),
        ...extra,
      });
    };

    // --- poller ---------------------------------------------------------------------------------
    this.poller = make(
      'Poller',
      props.entries.poller,
      'numa-avatar: long-polls the Numa task topic into the task queue',
      Duration.seconds(props.pollerTimeoutSeconds),
      {
        ...common,
        POLL_WAIT_SECONDS: String(props.pollWaitSeconds),
        POLL_LIMIT: String(props.pollLimit),
        POLL_SAFETY_MARGIN_SECONDS: String(props.pollSafetyMarginSeconds),
      },
      {
        memorySize: POLLER_MEMORY_MB,
        // One poller at a time; the cursor's conditional writes cover any overlap anyway.
        ...(props.reservePollerConcurrency ? { reservedConcurrentExecutions: 1 } : {}),
        // The next scheduled run polls again: a failed or throttled one is not retried.
        retryAttempts: 0,
        maxEventAge: Duration.seconds(60),
      },
    );
    queues.queue.grantSendMessages(this.poller);
    queues.dlq.grantSendMessages(this.poller);
    // The cursor (state/cursor.json), read and written with ETag conditions.
    storage.grantPrefixes(this.poller, { 'state/': ['s3:GetObject', 's3:PutObject'] });
    secrets.secret.grantRead(this.poller);

    this.pollSchedule = new events.Rule(this, 'PollSchedule', {
      description: 'numa-avatar: runs the poller every minute',
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [
        new targets.LambdaFunction(this.poller, { retryAttempts: 0, maxEventAge: Duration.seconds(60) }),
      ],
    });

    // --- dispatcher and stopped-task handler (one code package, two handlers) --------------------
    const dispatchEnv = {
      ...common,
      CLUSTER_ARN: runner.cluster.clusterArn,
      TASK_DEFINITION_ARN: runner.taskDefinition.taskDefinitionArn,
      RUNNER_CONTAINER_NAME,
      RUNNER_FAMILY: runner.taskDefinition.family,
      SUBNET_IDS: network.subnetIds.join(','),
      SECURITY_GROUP_IDS: network.securityGroup.securityGroupId,
      ASSIGN_PUBLIC_IP: network.assignPublicIp,
      CAPACITY_PROVIDER: props.capacity,
      MAX_RUNNERS: String(props.maxRunners),
      MAX_ATTEMPTS: String(props.maxAttempts),
    };

    this.dispatcher = make(
      'Dispatcher',
      props.entries.dispatcher,
      'numa-avatar: starts a Fargate runner for each task message',
      DISPATCHER_TIMEOUT,
      dispatchEnv,
    );
    this.dispatcher.addEventSource(
      new SqsEventSource(queues.queue, { batchSize: 10, reportBatchItemFailures: true, maxConcurrency: 2 }),
    );

    this.stopped = make(
      'Stopped',
      props.entries.stopped,
      'numa-avatar: reports runners that stopped without a final status and re-queues them',
      DISPATCHER_TIMEOUT,
      dispatchEnv,
      // After Lambda's own retries, the event goes to the DLQ for a person (and trips its alarm)
      // instead of being dropped: no task may stay in_progress unnoticed.
      { retryAttempts: 2, onFailure: new SqsDestination(queues.dlq) },
    );

    const clusterCondition = { ArnEquals: { 'ecs:cluster': runner.cluster.clusterArn } };
    const tasksInCluster = stack.formatArn({
      service: 'ecs',
      resource: 'task',
      resourceName: `${runner.cluster.clusterName}/*`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    const runnerRevisions = stack.formatArn({
      service: 'ecs',
      resource: 'task-definition',
      // Every revision of the runner's family (the dispatcher passes TASK_DEFINITION_ARN).
      resourceName: `${props.runner.taskDefinition.family}:*`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });

    // Dispatcher: re-sends deferred messages, dead-letters invalid ones; idempotency records under
    // dispatch/ (put-if-absent, updated, deleted when a launch fails so a retry may launch).
    queues.queue.grantSendMessages(this.dispatcher);
    queues.dlq.grantSendMessages(this.dispatcher);
    storage.grantPrefixes(this.dispatcher, {
      'dispatch/': ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
    });
    secrets.secret.grantRead(this.dispatcher);

    // Stopped-task handler: re-queues; claims under stopped/; reads the runner's result under runs/.
    // (Its DLQ send right comes with the on-failure destination above.)
    queues.queue.grantSendMessages(this.stopped);
    storage.grantPrefixes(this.stopped, {
      'stopped/': ['s3:GetObject', 's3:PutObject'],
      'runs/': ['s3:GetObject'],
    });
    secrets.secret.grantRead(this.stopped);

    // Only the dispatcher starts runners, and only this task definition in this cluster.
    this.dispatcher.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ecs:RunTask'],
        resources: [runnerRevisions],
        conditions: clusterCondition,
      }),
    );
    this.dispatcher.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [runner.taskRole.roleArn, runner.executionRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    this.dispatcher.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ecs:DescribeTasks'],
        resources: [tasksInCluster],
        conditions: clusterCondition,
      }),
    );
    // Documented exception to "no Resource: *": ecs:ListTasks has no resource type of its own to
    // name (IAM only knows container instances for it); the ecs:cluster condition limits it to
    // this cluster.
    this.dispatcher.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ecs:ListTasks'],
        resources: ['*'],
        conditions: clusterCondition,
      }),
    );

    // Runner tasks of this stack's cluster and family that stopped (whatever the reason).
    this.stoppedRule = new events.Rule(this, 'RunnerStoppedRule', {
      description: 'numa-avatar: a runner task stopped',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: {
          lastStatus: ['STOPPED'],
          clusterArn: [runner.cluster.clusterArn],
          // By task definition, not `group`: a RunTask `group` parameter would change the group.
          taskDefinitionArn: [
            {
              prefix: stack.formatArn({
                service: 'ecs',
                resource: 'task-definition',
                resourceName: `${props.runner.taskDefinition.family}:`,
                arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
              }),
            },
          ],
        },
      },
      targets: [
        new targets.LambdaFunction(this.stopped, {
          retryAttempts: 10,
          maxEventAge: Duration.hours(6),
          deadLetterQueue: queues.dlq,
        }),
      ],
    });
  }
}
