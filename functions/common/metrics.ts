/**
 * Powertools Metrics (EMF on stdout): namespace NumaAvatar, one dimension service=numa-avatar.
 * Metric names are the contract with the dashboard and alarms (aws-plan.md, "Names").
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export const METRICS_NAMESPACE = 'NumaAvatar';
export { MetricUnit };

export const METRIC = {
  // poller: written only when messages came or a poll failed, so an idle stack emits none (its
  // successful polls are the poller Lambda's invocations minus its errors: infra/constructs/monitoring.ts)
  MessagesForwarded: 'MessagesForwarded',
  MessagesDeadLettered: 'MessagesDeadLettered',
  PollErrors: 'PollErrors',
  // dispatcher
  Dispatches: 'Dispatches',
  DispatchDeferred: 'DispatchDeferred',
  DispatchFailed: 'DispatchFailed',
  RunnersRunning: 'RunnersRunning',
  // stopped-task handler
  RunnerCrashes: 'RunnerCrashes',
  Requeued: 'Requeued',
} as const;
export type MetricName = (typeof METRIC)[keyof typeof METRIC];

export interface MetricsFactoryOptions {
  namespace?: string;
  serviceName?: string;
}

export function createMetrics(opts: MetricsFactoryOptions = {}): Metrics {
  return new Metrics({
    namespace: opts.namespace ?? process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE,
    serviceName: opts.serviceName ?? process.env.POWERTOOLS_SERVICE_NAME ?? 'numa-avatar',
  });
}

/** What the function logic records; the handlers pass a Powertools Metrics behind it. */
export interface MetricSink {
  count(name: MetricName, value?: number): void;
  gauge(name: MetricName, value: number): void;
}

export function metricSink(metrics: Metrics): MetricSink {
  return {
    count: (name, value = 1) => metrics.addMetric(name, MetricUnit.Count, value),
    gauge: (name, value) => metrics.addMetric(name, MetricUnit.Count, value),
  };
}

/** A sink that keeps totals in memory (tests, and code paths without a Lambda). */
export class MemoryMetrics implements MetricSink {
  readonly counts: Record<string, number> = {};
  readonly gauges: Record<string, number[]> = {};
  count(name: MetricName, value = 1): void {
    this.counts[name] = (this.counts[name] ?? 0) + value;
  }
  gauge(name: MetricName, value: number): void {
    (this.gauges[name] ??= []).push(value);
  }
}
