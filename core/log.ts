/**
 * The process logger for local mode and the runner (Lambdas use the Powertools logger). One line
 * per event, either human-readable (`text`, the default on a terminal) or JSON (`json`, for log
 * shippers). Every line goes through the Redactor, so a secret that reaches a log call is still
 * not written.
 */
import { Redactor } from './redact.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  level?: LogLevel;
  format?: 'text' | 'json';
  redactor?: Redactor;
  write?: (line: string) => void;
  now?: () => Date;
  fields?: LogFields;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const format = opts.format ?? 'text';
  const redactor = opts.redactor ?? new Redactor();
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const now = opts.now ?? (() => new Date());
  const base = opts.fields ?? {};

  const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (ORDER[lvl] < ORDER[level]) return;
    const all = { ...base, ...fields };
    let line: string;
    if (format === 'json') {
      line = JSON.stringify({ time: now().toISOString(), level: lvl, msg, ...all }, errorReplacer);
    } else {
      const extra = Object.entries(all)
        .map(([k, v]) => `${k}=${formatValue(v)}`)
        .join(' ');
      line = `${now().toISOString()} ${lvl.toUpperCase().padEnd(5)} ${msg}${extra ? ' ' + extra : ''}`;
    }
    write(redactor.redact(line));
  };

  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...opts, fields: { ...base, ...fields } }),
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

function formatValue(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === 'string') return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  return JSON.stringify(v, errorReplacer) ?? 'undefined';
}

/** A logger that writes nothing (tests, library defaults). */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};
