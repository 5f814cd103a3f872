/**
 * The configuration: the seed's shape (backend, git, avatar, polling; numa-api.md) plus what the
 * product needs. Every key has a default except secrets, so an empty file is a valid config for
 * local use. config.example.yaml documents every key; keep the two in step.
 */
import { z } from 'zod';

const seconds = (def: number, max = 86_400) => z.number().positive().max(max).default(def);
const statusName = (def: string) =>
  z
    .string()
    .trim()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only')
    .default(def);

export const configSchema = z.strictObject({
  backend: z
    .strictObject({
      url: z
        .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
        .refine(
          (u) => !/^[a-z]+:\/\/[^/]*@/i.test(u),
          'must not contain credentials: set backend.api_token instead',
        )
        .default('http://localhost:7301'),
      api_token: z.string().optional(),
      timeout: seconds(30, 600),
      max_attempts: z.number().int().min(1).max(20).default(5),
    })
    .prefault({}),
  git: z
    .strictObject({
      username: z.string().default('numa-avatar'),
      email: z
        .string()
        .regex(/^[^\s@<>]+@[^\s@<>]+$/, 'expected an email address (name@host)')
        .default('numa-avatar@localhost'),
      token: z.string().optional(),
      engine: z.enum(['auto', 'native', 'isomorphic']).default('auto'),
      timeout: seconds(600),
    })
    .prefault({}),
  avatar: z
    .strictObject({
      id: z.string().min(1).max(128).default('avatar_001'),
      name: z.string().min(1).max(256).default('Developer Avatar'),
    })
    .prefault({}),
  polling: z
    .strictObject({
      interval: seconds(5, 3600),
      wait: z.number().int().min(0).max(60).default(20),
      limit: z.number().int().min(1).max(1000).default(50),
    })
    .prefault({}),
  work_dir: z.string().min(1).default('.numa-avatar'),
  concurrency: z.number().int().min(1).max(64).default(2),
  status_port: z.number().int().min(0).max(65_535).default(7302),
  model: z
    .strictObject({
      name: z.string().min(1).default('gpt-4o-mini'),
      base_url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
      api_key: z.string().optional(),
      stream: z.boolean().default(false),
      temperature: z.number().min(0).max(2).default(0.2),
      timeout: seconds(120, 3600),
      max_retries: z.number().int().min(0).max(10).default(3),
    })
    .prefault({}),
  limits: z
    .strictObject({
      max_steps: z.number().int().min(1).max(1000).default(40),
      run_timeout: seconds(1800),
      command_timeout: seconds(300),
      test_timeout: seconds(600),
      repair_rounds: z.number().int().min(0).max(10).default(2),
      max_attempts: z.number().int().min(1).max(10).default(2),
      shutdown_grace: seconds(60, 3600),
    })
    .prefault({}),
  statuses: z
    .strictObject({
      in_progress: statusName('in_progress'),
      done: statusName('done'),
      failed: statusName('failed'),
      blocked: statusName('blocked'),
    })
    .prefault({}),
  tests: z
    .strictObject({
      command: z.string().min(1).optional(),
      setup: z.string().min(1).optional(),
    })
    .prefault({}),
  logs: z
    .strictObject({
      flush_interval: seconds(2, 60),
      flush_lines: z.number().int().min(1).max(1000).default(40),
      level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
      format: z.enum(['text', 'json']).default('text'),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** Paths of the keys that hold secrets: never echoed by /status, redacted everywhere. */
export const SECRET_KEYS = ['backend.api_token', 'git.token', 'model.api_key'] as const;

/** Keys that only take effect after a restart (they shape the process itself). */
export const RESTART_KEYS = ['status_port', 'work_dir'] as const;

export function secretsOf(config: Config): string[] {
  return [config.backend.api_token, config.git.token, config.model.api_key].filter(
    (s): s is string => typeof s === 'string' && s.length > 0,
  );
}
