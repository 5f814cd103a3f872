/**
 * The CloudWatch dashboard and the four alarms, which notify an SNS topic (and an email address
 * when one is given). Custom metrics come from the functions and the runner as EMF log lines:
 * namespace NumaAvatar, one dimension service=numa-avatar (names in notes/aws-plan.md). An idle
 * stack emits none of them (a custom metric is billed for each hour it has data): whether the
 * poller is polling is told by the poller Lambda's own AWS/Lambda metrics, because an invocation
 * without a successful poll fails (functions/poller/handler.ts).
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, SERVICE_NAME } from './runner.ts';

export interface MonitoringProps {
  queue: sqs.IQueue;
  dlq: sqs.IQueue;
  poller: lambda.Function;
  dispatcher: lambda.IFunction;
  stopped: lambda.IFunction;
  alarmEmail?: string;
  failureRateThreshold: number;
  failureRateMinRuns: number;
}

const FIVE_MINUTES = Duration.minutes(5);

/** A custom metric of the product (namespace NumaAvatar, service=numa-avatar). */
export function avatarMetric(metricName: string, statistic: string, label?: string, period = FIVE_MINUTES) {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: SERVICE_NAME },
    statistic,
    period,
    ...(label ? { label } : {}),
  });
}

/**
 * The poller's invocations that made a successful poll, per 5 minutes: its AWS/Lambda Invocations
 * minus its Errors (no custom metric). No invocation at all gives 0.
 */
export function successfulPollerInvocations(
  poller: lambda.IFunction,
  label = 'successful poller invocations',
) {
  return new cloudwatch.MathExpression({
    expression: 'FILL(invocations, 0) - FILL(errors, 0)',
    usingMetrics: {
      invocations: poller.metricInvocations({ statistic: 'Sum', period: FIVE_MINUTES }),
      errors: poller.metricErrors({ statistic: 'Sum', period: FIVE_MINUTES }),
    },
    label,
    period: FIVE_MINUTES,
  });
}

export class Monitoring extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly topic: sns.Topic;
  readonly dlqNotEmpty: cloudwatch.Alarm;
  readonly pollerFailing: cloudwatch.Alarm;
  readonly noSuccessfulPoll: cloudwatch.Alarm;
  readonly runnerFailureRate: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);

    // Not encrypted: CloudWatch alarms cannot publish to a topic under the AWS-managed SNS key.
    this.topic = new sns.Topic(this, 'AlarmTopic', { displayName: 'numa-avatar alarms', enforceSSL: true });
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    const notify = new cwActions.SnsAction(this.topic);

    // --- alarms ---------------------------------------------------------------------------------
    this.dlqNotEmpty = new cloudwatch.Alarm(this, 'DlqNotEmpty', {
      alarmDescription:
        'numa-avatar: messages in the dead-letter queue (malformed topic messages, or tasks the dispatcher failed 5 times). Inspect them; re-run a task with the RerunCommand output.',
      metric: props.dlq.metricApproximateNumberOfMessagesVisible({
        statistic: 'Maximum',
        period: FIVE_MINUTES,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.pollerFailing = new cloudwatch.Alarm(this, 'PollerFailing', {
      alarmDescription:
        'numa-avatar: the poller failed (Lambda errors or failed polls) in two 5-minute periods in a row. See the poller logs.',
      metric: new cloudwatch.MathExpression({
        expression: 'FILL(lambdaErrors, 0) + FILL(pollErrors, 0)',
        usingMetrics: {
          lambdaErrors: props.poller.metricErrors({ statistic: 'Sum', period: FIVE_MINUTES }),
          pollErrors: avatarMetric('PollErrors', 'Sum'),
        },
        label: 'poller errors',
        period: FIVE_MINUTES,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // An invocation succeeds exactly when it made a successful poll (it fails otherwise), so
    // invocations minus errors counts the invocations that polled successfully.
    this.noSuccessfulPoll = new cloudwatch.Alarm(this, 'NoSuccessfulPoll', {
      alarmDescription:
        'numa-avatar: no successful poll of the Numa backend for 5 minutes (backend down, wrong URL or token, or the poller is not running).',
      metric: successfulPollerInvocations(props.poller),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // No data at all is the clearest sign the poller is not polling.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    // Failed runs: the runner's own `failed` outcomes plus runners that died without reporting
    // (RunnerCrashes, counted by the stopped-task handler). Blocked runs are not failures.
    const hour = Duration.hours(1);
    const total = '(FILL(done, 0) + FILL(failed, 0) + FILL(crashed, 0))';
    this.runnerFailureRate = new cloudwatch.Alarm(this, 'RunnerFailureRate', {
      alarmDescription: `numa-avatar: more than ${Math.round(props.failureRateThreshold * 100)}% of the runs in the last hour failed (at least ${props.failureRateMinRuns} runs). See the run transcripts under runs/ in the bucket.`,
      metric: new cloudwatch.MathExpression({
        expression: `IF(${total} >= ${props.failureRateMinRuns}, (FILL(failed, 0) + FILL(crashed, 0)) / ${total}, 0)`,
        usingMetrics: {
          done: avatarMetric('RunsDone', 'Sum', undefined, hour),
          failed: avatarMetric('RunsFailed', 'Sum', undefined, hour),
          crashed: avatarMetric('RunnerCrashes', 'Sum', undefined, hour),
        },
        label: 'share of runs failed',
        period: hour,
      }),
      threshold: props.failureRateThreshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const alarms = [this.dlqNotEmpty, this.pollerFailing, this.noSuccessfulPoll, this.runnerFailureRate];
    for (const alarm of alarms) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }

    // --- dashboard ------------------------------------------------------------------------------
    const graph = (title: string, left: cloudwatch.IMetric[], right: cloudwatch.IMetric[] = [], extra = {}) =>
      new cloudwatch.GraphWidget({ title, left, right, width: 8, height: 6, ...extra });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(1),
    });
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown:
          '# numa-avatar\nPoller → task queue → dispatcher → Fargate runners. Re-run a task: the stack output **RerunCommand**. Metrics: namespace `NumaAvatar`, `service=numa-avatar`.',
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      graph('Messages forwarded', [
        avatarMetric('MessagesForwarded', 'Sum', 'forwarded to the queue'),
        avatarMetric('MessagesDeadLettered', 'Sum', 'malformed, dead-lettered'),
      ]),
      graph(
        'Task queue: depth and oldest message age',
        [
          props.queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', label: 'waiting' }),
          props.queue.metricApproximateNumberOfMessagesNotVisible({
            statistic: 'Maximum',
            label: 'in flight',
          }),
        ],
        [
          props.queue.metricApproximateAgeOfOldestMessage({
            statistic: 'Maximum',
            label: 'oldest message age (s)',
          }),
        ],
      ),
      graph('Dead-letter queue depth', [
        props.dlq.metricApproximateNumberOfMessagesVisible({
          statistic: 'Maximum',
          label: 'messages in the DLQ',
        }),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Dispatches', [
        avatarMetric('Dispatches', 'Sum', 'runners started'),
        avatarMetric('DispatchDeferred', 'Sum', 'deferred (cap, or task already running)'),
        avatarMetric('DispatchFailed', 'Sum', 'failed to start'),
        avatarMetric('Requeued', 'Sum', 're-queued after a dead runner'),
      ]),
      graph('Runners running', [avatarMetric('RunnersRunning', 'Maximum', 'runners running')]),
      graph('Run outcomes', [
        avatarMetric('RunsDone', 'Sum', 'done'),
        avatarMetric('RunsFailed', 'Sum', 'failed'),
        avatarMetric('RunsBlocked', 'Sum', 'blocked (needs clarification)'),
        avatarMetric('RunnerCrashes', 'Sum', 'runner died without reporting'),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Run duration p50 / p90 (s)', [
        avatarMetric('RunDurationSeconds', 'p50', 'p50'),
        avatarMetric('RunDurationSeconds', 'p90', 'p90'),
      ]),
      graph('Tokens per task (average per run)', [
        avatarMetric('RunPromptTokens', 'Average', 'prompt tokens'),
        avatarMetric('RunCompletionTokens', 'Average', 'completion tokens'),
      ]),
      graph(
        'Model cost per task (USD)',
        [avatarMetric('RunCostUsd', 'Average', 'average per run')],
        [avatarMetric('RunCostUsd', 'Sum', 'total')],
      ),
    );
    this.dashboard.addWidgets(
      graph('Poller errors', [
        avatarMetric('PollErrors', 'Sum', 'failed polls'),
        props.poller.metricErrors({ statistic: 'Sum', period: FIVE_MINUTES, label: 'Lambda errors' }),
        props.poller.metricThrottles({ statistic: 'Sum', period: FIVE_MINUTES, label: 'Lambda throttles' }),
      ]),
      new cloudwatch.LogQueryWidget({
        title: 'Last successful poll',
        logGroupNames: [props.poller.logGroup.logGroupName],
        // The handler's summary line of each invocation (`polls`: its successful polls).
        queryLines: [
          'fields @timestamp',
          "filter message = 'poller invocation done' and polls > 0",
          'sort @timestamp desc',
          'limit 1',
          'display @timestamp',
        ],
        view: cloudwatch.LogQueryVisualizationType.TABLE,
        width: 8,
        height: 3,
      }),
      new cloudwatch.SingleValueWidget({
        title: 'Poller invocations that polled successfully (last 5 minutes)',
        metrics: [successfulPollerInvocations(props.poller, 'successful invocations')],
        width: 8,
        height: 3,
      }),
    );
    this.dashboard.addWidgets(
      graph('Function errors', [
        props.dispatcher.metricErrors({ statistic: 'Sum', period: FIVE_MINUTES, label: 'dispatcher errors' }),
        props.stopped.metricErrors({
          statistic: 'Sum',
          period: FIVE_MINUTES,
          label: 'stopped-task handler errors',
        }),
      ]),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms, width: 16, height: 4 }),
    );
  }
}
