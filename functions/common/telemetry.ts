/**
 * A handler's logging and metrics: the Powertools logger and metrics (injected in tests), the core
 * logger view of the same logger, and the metric sink the shared code writes to.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { createLogger, toCoreLogger } from './logger.ts';
import { createMetrics, metricSink } from './metrics.ts';

export function handlerTelemetry(opts: { logger?: Logger; metrics?: Metrics }) {
  const logger = opts.logger ?? createLogger();
  const metrics = opts.metrics ?? createMetrics();
  return { logger, metrics, log: toCoreLogger(logger), sink: metricSink(metrics) };
}
