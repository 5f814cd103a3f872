/**
 * Loads the configuration: defaults < the YAML file < environment overrides. Validation errors
 * name the key (or the environment variable) and what was expected.
 */
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AvatarError } from '../errors.ts';
import { describeIssues } from '../message.ts';
import { configSchema, type Config } from './schema.ts';

type Json = Record<string, unknown>;

export interface LoadedConfig {
  config: Config;
  /** The file the config came from (and where POST /config persists), if any. */
  file?: string;
  /** The file's own content (no environment overrides), for persisting changes. */
  fileValues: Json;
  /** Absolute work directory. */
  workDir: string;
}

export interface LoadOptions {
  /** --config; falls back to NUMA_CONFIG. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

type EnvRule = { key: string; kind: 'string' | 'int' };
/** Environment variable → config key. */
export const ENV_OVERRIDES: Record<string, EnvRule> = {
  NUMA_BACKEND_URL: { key: 'backend.url', kind: 'string' },
  NUMA_API_TOKEN: { key: 'backend.api_token', kind: 'string' },
  NUMA_WORK_DIR: { key: 'work_dir', kind: 'string' },
  NUMA_STATUS_PORT: { key: 'status_port', kind: 'int' },
  NUMA_CONCURRENCY: { key: 'concurrency', kind: 'int' },
  OPENAI_BASE_URL: { key: 'model.base_url', kind: 'string' },
  OPENAI_API_KEY: { key: 'model.api_key', kind: 'string' },
  NUMA_MODEL: { key: 'model.name', kind: 'string' },
  GIT_TOKEN: { key: 'git.token', kind: 'string' },
  GIT_USERNAME: { key: 'git.username', kind: 'string' },
  GIT_EMAIL: { key: 'git.email', kind: 'string' },
  GIT_AUTHOR_NAME: { key: 'git.author_name', kind: 'string' },
};

export function loadConfig(opts: LoadOptions = {}): Promise<LoadedConfig> {
  return load(opts, false);
}

/**
 * `persisted`: the file is the `<work_dir>/config.yaml` found in the work dir (no file was named).
 * Its relative work_dir is relative to where the command runs, as the lookup was: resolved against
 * the file's own folder, the default `.numa-avatar` would point into a `.numa-avatar` nested in the
 * work dir the file was found in.
 */
async function load(opts: LoadOptions, persisted: boolean): Promise<LoadedConfig> {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  let file = opts.file ?? (env.NUMA_CONFIG || undefined);
  let fileValues: Json = {};

  if (file) {
    file = path.resolve(cwd, file);
    if (!existsSync(file)) {
      throw new AvatarError('CONFIG_NOT_FOUND', `config file not found: ${file}`);
    }
    fileValues = await readConfigFile(file);
  }
  const merged = applyEnv(structuredClone(fileValues), env);

  // With no file named, a config persisted by POST /config in the work dir is picked up.
  if (!file) {
    const workDir = path.resolve(cwd, String(getPath(merged, 'work_dir') ?? '.numa-avatar'));
    const persisted = path.join(workDir, 'config.yaml');
    if (existsSync(persisted)) return load({ ...opts, file: persisted }, true);
  }

  const config = validate(merged, file ?? 'configuration');
  const base = file && !persisted ? path.dirname(file) : cwd;
  // A work_dir from the environment is relative to where the command runs; from a file, to the file.
  const workDirBase = env.NUMA_WORK_DIR ? cwd : base;
  return { config, file, fileValues, workDir: path.resolve(workDirBase, config.work_dir) };
}

export function validate(values: unknown, where: string): Config {
  const parsed = configSchema.safeParse(values);
  if (!parsed.success) {
    throw new AvatarError('CONFIG_INVALID', `${where}: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}

async function readConfigFile(file: string): Promise<Json> {
  const text = await readFile(file, 'utf8');
  // Loaded when a file is read: a runner that gets its config from the service reads none.
  const { parse: parseYaml } = await import('./yaml.ts');
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (cause) {
    throw new AvatarError('CONFIG_INVALID', `${file}: not valid YAML: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new AvatarError('CONFIG_INVALID', `${file}: expected a mapping of keys at the top level`);
  }
  // A section whose keys are all commented out reads as null: treat it as empty.
  return Object.fromEntries(Object.entries(doc as Json).filter(([, v]) => v !== null));
}

function applyEnv(values: Json, env: NodeJS.ProcessEnv): Json {
  for (const [name, rule] of Object.entries(ENV_OVERRIDES)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    let value: unknown = raw;
    if (rule.kind === 'int') {
      if (!/^\d+$/.test(raw.trim())) {
        throw new AvatarError(
          'CONFIG_INVALID',
          `${name}: expected a whole number, got ${JSON.stringify(raw)}`,
        );
      }
      value = Number(raw.trim());
    }
    setPath(values, rule.key, value);
  }
  return values;
}

export function getPath(obj: Json, dotted: string): unknown {
  let cur: unknown = obj;
  for (const part of dotted.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Json)[part];
  }
  return cur;
}

export function setPath(obj: Json, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let cur = obj;
  for (const part of parts.slice(0, -1)) {
    const next = cur[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[part] = {};
    cur = cur[part] as Json;
  }
  cur[parts[parts.length - 1]!] = value;
}

/** Deep-merges a partial config (objects merge, everything else replaces). */
export function mergeValues(base: Json, patch: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    const cur = Object.hasOwn(out, k) ? out[k] : undefined;
    const merged =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
        ? mergeValues(cur as Json, v as Json)
        : v;
    // An own property whatever the key: assigning to "__proto__" would replace the object's
    // prototype instead, and its values would reach validation (inherited) but never the file.
    Object.defineProperty(out, k, { value: merged, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Writes the file's values atomically (temp file + rename), mode 0600 since it may hold tokens. */
export async function saveConfigFile(file: string, values: Json): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const { stringify: stringifyYaml } = await import('./yaml.ts');
  await writeFile(tmp, stringifyYaml(values), { mode: 0o600 });
  await rename(tmp, file);
}
