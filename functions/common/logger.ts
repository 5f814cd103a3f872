/**
 * The Lambdas' logger: Powertools Logger (JSON lines with the Lambda context) whose formatter
 * passes the message and every attribute through a Redactor, so a secret that reaches a log call
 * (a token in an error text, a URL with credentials) is still not written. The secrets fetched at
 * init are added to the same redactor (secrets.ts). `toCoreLogger` adapts it to the core Logger
 * interface that the poll loop and the dispatch logic take.
 */
import { LogFormatter, LogItem, Logger } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';
import type { LogFields, Logger as CoreLogger } from '../../core/log.ts';
import { Redactor } from '../../core/redact.ts';

export const SERVICE_NAME = 'numa-avatar';

/** One redactor per container: every secret the function learns is added to it. */
export const sharedRedactor = new Redactor();

export class RedactingLogFormatter extends LogFormatter {
  constructor(private readonly redactor: Redactor) {
    super();
  }

  override formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    const base: LogAttributes = {
      level: attributes.logLevel,
      message: this.redactor.redact(String(attributes.message ?? '')),
      timestamp: this.formatTimestamp(attributes.timestamp),
      service: attributes.serviceName,
      cold_start: attributes.lambdaContext?.coldStart,
      function_arn: attributes.lambdaContext?.invokedFunctionArn,
      function_memory_size: attributes.lambdaContext?.memoryLimitInMB,
      function_name: attributes.lambdaContext?.functionName,
      function_request_id: attributes.lambdaContext?.awsRequestId,
      sampling_rate: attributes.sampleRateValue,
      xray_trace_id: attributes.xRayTraceId,
    };
    return new LogItem({ attributes: base }).addAttributes(this.clean(additional) as LogAttributes);
  }

  /** Errors become their formatted form, then every string (keys too) is redacted. */
  private clean(v: unknown, depth = 0): unknown {
    if (depth > 20) return '[too deep]';
    if (typeof v === 'string') return this.redactor.redact(v);
    if (v instanceof Error) return this.clean(this.formatError(v), depth + 1);
    if (Array.isArray(v)) return v.map((x) => this.clean(x, depth + 1));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[this.redactor.redact(k)] = this.clean(x, depth + 1);
      return out;
    }
    return v;
  }
}

export interface LoggerFactoryOptions {
  serviceName?: string;
  redactor?: Redactor;
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
}

export function createLogger(opts: LoggerFactoryOptions = {}): Logger {
  return new Logger({
    serviceName: opts.serviceName ?? process.env.POWERTOOLS_SERVICE_NAME ?? SERVICE_NAME,
    logFormatter: new RedactingLogFormatter(opts.redactor ?? sharedRedactor),
    ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
  });
}

/** The core Logger interface over a Powertools logger. */
export function toCoreLogger(logger: Logger, fields: LogFields = {}): CoreLogger {
  const emit =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (msg: string, extra?: LogFields): void => {
      logger[level](msg, { ...fields, ...extra });
    };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (more) => toCoreLogger(logger, { ...fields, ...more }),
  };
}
