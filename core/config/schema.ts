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

/** List prices in USD per 1M tokens of a few common models (`model.prices`' default). */
/**
 * The hosts setup steps (setup.commands, .numa/setup.sh, dependency installs) may reach by
 * default: the public package registries. Agent commands and tests never have a network.
 */
export const DEFAULT_NETWORK_ALLOW = [
  'registry.npmjs.org',
  'registry.yarnpkg.com',
  // Yarn 2+ itself, as corepack downloads it.
  'repo.yarnpkg.com',
  'pypi.org',
  'files.pythonhosted.org',
  'crates.io',
  'index.crates.io',
  'static.crates.io',
  'proxy.golang.org',
  'sum.golang.org',
  'repo.maven.apache.org',
  'repo1.maven.org',
  'rubygems.org',
  'index.rubygems.org',
] as const;

export const DEFAULT_MODEL_PRICES: Readonly<Record<string, { prompt: number; completion: number }>> = {
  'gpt-4o': { prompt: 2.5, completion: 10 },
  'gpt-4o-mini': { prompt: 0.15, completion: 0.6 },
  'gpt-4.1': { prompt: 2, completion: 8 },
  'gpt-4.1-mini': { prompt: 0.4, completion: 1.6 },
  'gpt-4.1-nano': { prompt: 0.1, completion: 0.4 },
  'gpt-5': { prompt: 1.25, completion: 10 },
  'gpt-5-mini': { prompt: 0.25, completion: 2 },
  'gpt-5-nano': { prompt: 0.05, completion: 0.4 },
  o3: { prompt: 2, completion: 8 },
  'o3-mini': { prompt: 1.1, completion: 4.4 },
  'o4-mini': { prompt: 1.1, completion: 4.4 },
};

/**
 * `commands.deny`'s default: what the agent's run_command refuses (container/runner/agent/commands.ts
 * says how rules match; config.example.yaml explains each group).
 */
export const DEFAULT_COMMAND_DENY: readonly string[] = [
  'git push',
  'git remote',
  'git config',
  'git credential',
  'git commit',
  'git switch',
  'git checkout -b',
  'git rebase',
  'git filter-branch',
  'git update-ref',
  'gh',
  'npm publish',
  'yarn publish',
  'pnpm publish',
  'cargo publish',
  'twine upload',
  'sudo',
  'su',
  'doas',
  'ssh',
  'scp',
  'sftp',
  'nc',
  'ncat',
  'netcat',
  'telnet',
  String.raw`/^(?:curl|wget)(?:\s|$)(?:(?=.*\b[a-z][\w+.-]*:\/\/(?!(?:127\.0\.0\.1|localhost|\[::1\])(?:[:/?#\s]|$)))|(?=.*:\/\/[^\s/]*@)|(?!.*(?:^|[\s/])(?:127\.0\.0\.1|localhost|\[::1\])(?:[:/?#\s]|$)))/i`,
  String.raw`/^rm\s+(?:-\S+\s+)*(?:\/|\/\*|~|~\/|~\/\*|\$HOME|\$HOME\/|\$HOME\/\*|\.\.|\.\.\/|\.\.\/\*)(?:\s|$)/`,
  String.raw`/^mkfs(?:\.\w+)?(?:\s|$)/`,
  'shutdown',
  'reboot',
  'halt',
  'poweroff',
];

/** A commands.allow / commands.deny rule: a command prefix, or a regular expression written /…/flags. */
const commandRule = z
  .string()
  .trim()
  .min(1)
  .refine(
    (rule) => {
      const m = /^\/(.+)\/([a-z]*)$/s.exec(rule);
      if (!m) return true;
      try {
        new RegExp(m[1] as string, m[2]);
        return true;
      } catch {
        return false;
      }
    },
    { error: 'a rule written /…/flags must be a valid regular expression' },
  );

/**
 * `git.allowed_hosts`' default: the three public forges whose token conventions the runner knows
 * (auth.ts). None of them can be a server an attacker runs, so a repository URL naming one of them
 * cannot collect the token; any other host (a self-hosted GitLab, Gitea or GitHub Enterprise) gets
 * the token only once it is listed. Setting the key replaces this list.
 */
export const DEFAULT_GIT_ALLOWED_HOSTS: readonly string[] = ['github.com', 'gitlab.com', 'bitbucket.org'];

/** One `git.allowed_hosts` entry, normalized: `host` lower-case, punycode, no trailing dot. */
export interface GitHostPattern {
  host: string;
  /** Absent: only the scheme's default port (443 for https). */
  port?: number;
  /** `*.example.com`: any subdomain of `host` (not `host` itself). */
  subdomains: boolean;
}

/**
 * Parses a `git.allowed_hosts` entry (`host`, `host:port`, `*.domain`, `*.domain:port`, `[v6]:port`);
 * a sentence saying what is wrong when it is not one. Host names are normalized as URLs normalize
 * them (case, IDN to punycode, one trailing dot dropped), so an entry matches the host a URL names.
 */
export function parseGitHostPattern(entry: string): GitHostPattern | string {
  let text = entry.trim().toLowerCase();
  if (text === '') return 'expected a host name';
  if (/[\s/\\?#@]/.test(text)) return 'expected a host name or host:port, without a scheme, user, or path';
  const subdomains = text.startsWith('*.');
  if (subdomains) text = text.slice(2);
  if (text.includes('*')) return 'a wildcard is allowed only as a leading "*." (*.example.com)';
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d+))?$/.exec(text);
  if (!m?.[1]) return 'expected a host name or host:port (an IPv6 address in brackets: [::1]:8080)';
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65_535)) return 'the port must be 1-65535';
  let host: string;
  try {
    host = new URL(`https://${m[1]}/`).hostname.replace(/\.$/, '');
  } catch {
    return 'not a valid host name';
  }
  if (host === '') return 'expected a host name';
  const isIp = host.startsWith('[') || /^\d+\.\d+\.\d+\.\d+$/.test(host);
  if (subdomains && (isIp || !host.includes('.')))
    return 'a "*." wildcard needs a domain name of two labels or more (*.example.com)';
  return { host, ...(port !== undefined ? { port } : {}), subdomains };
}

/** The normalized text of a pattern (what the loaded config holds). */
export function formatGitHostPattern(p: GitHostPattern): string {
  return `${p.subdomains ? '*.' : ''}${p.host}${p.port !== undefined ? `:${p.port}` : ''}`;
}

const gitHostPattern = z.string().transform((entry, ctx) => {
  const parsed = parseGitHostPattern(entry);
  if (typeof parsed === 'string') {
    ctx.issues.push({ code: 'custom', message: `${JSON.stringify(entry)}: ${parsed}`, input: entry });
    return z.NEVER;
  }
  return formatGitHostPattern(parsed);
});

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
      // The user name sent with git.token. Unset or empty: the host's own convention (github.com
      // x-access-token, GitLab oauth2, bitbucket.org x-token-auth; `git` elsewhere).
      username: z.string().max(256).optional(),
      // The commits' author; unset or empty: the avatar's identity (commitIdentity).
      author_name: z.string().max(256).optional(),
      email: z
        .string()
        .regex(/^$|^[^\s@<>]+@[^\s@<>]+$/, 'expected an email address (name@host)')
        .optional(),
      token: z.string().optional(),
      engine: z.enum(['auto', 'native', 'isomorphic']).default('auto'),
      timeout: seconds(600),
      // Hosts git.token is sent to (see DEFAULT_GIT_ALLOWED_HOSTS and container/runner/git/hosts.ts).
      allowed_hosts: z
        .array(gitHostPattern)
        .max(200)
        .default(() => [...DEFAULT_GIT_ALLOWED_HOSTS]),
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
      context_window: z.number().int().min(1000).max(10_000_000).default(128_000),
      cache: z.boolean().default(true),
      prices: z
        .record(
          z.string().min(1),
          z.strictObject({ prompt: z.number().min(0), completion: z.number().min(0) }),
        )
        .default(() => structuredClone(DEFAULT_MODEL_PRICES)),
    })
    .prefault({}),
  limits: z
    .strictObject({
      max_steps: z.number().int().min(1).max(1000).default(40),
      run_timeout: seconds(1800),
      command_timeout: seconds(300),
      test_timeout: seconds(600),
      repair_rounds: z.number().int().min(0).max(10).default(3),
      max_attempts: z.number().int().min(1).max(10).default(2),
      shutdown_grace: seconds(60, 3600),
      max_prompt_tokens: z.number().int().min(0).default(3_000_000),
      max_completion_tokens: z.number().int().min(0).default(200_000),
      max_cost_usd: z.number().min(0).default(5),
      max_consecutive_errors: z.number().int().min(1).max(100).default(5),
      loop_repeats: z.number().int().min(2).max(100).default(3),
      // The largest file a change may commit (the pre-commit gate refuses larger ones, naming them).
      max_file_bytes: z
        .number()
        .int()
        .min(1)
        .default(10 * 1024 ** 2),
    })
    .prefault({}),
  commands: z
    .strictObject({
      allow: z.array(commandRule).default([]),
      deny: z.array(commandRule).default(() => [...DEFAULT_COMMAND_DENY]),
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
      flaky_reruns: z.number().int().min(0).max(5).default(1),
      // Keep what the install step downloads per repository and lockfiles (the code cache's store).
      dependency_cache: z.boolean().default(true),
    })
    .prefault({}),
  setup: z
    .strictObject({
      commands: z.array(z.string().trim().min(1)).max(50).default([]),
      timeout: seconds(600),
    })
    .prefault({}),
  verify: z
    .strictObject({
      // When the project's tests cannot run (nothing installed, collected or passed), the task
      // fails ("tests could not run: ..."); true lets it end done, marked unverified.
      allow_unverified: z.boolean().default(false),
    })
    .prefault({}),
  // Settings of one application (its Numa id as the key) over the ones above, for its tasks only.
  applications: z
    // The ids first, so a bad one is named once (and its value, not looked at, is not in the path).
    .record(z.string(), z.unknown())
    .superRefine((apps, ctx) => {
      for (const id of Object.keys(apps)) {
        if (!/^[A-Za-z0-9_-]{1,64}$/.test(id))
          ctx.addIssue({
            code: 'custom',
            message: `expected application ids as keys (letters, digits, _ and -), got ${JSON.stringify(id)}`,
          });
      }
    })
    .pipe(
      z.record(
        z.string(),
        z.strictObject({
          tests: z
            .strictObject({
              command: z.string().min(1).optional(),
              setup: z.string().min(1).optional(),
              flaky_reruns: z.number().int().min(0).max(5).optional(),
              dependency_cache: z.boolean().optional(),
            })
            .optional(),
          setup: z
            .strictObject({
              commands: z.array(z.string().trim().min(1)).max(50).optional(),
              timeout: z.number().positive().max(86_400).optional(),
            })
            .optional(),
          verify: z.strictObject({ allow_unverified: z.boolean().optional() }).optional(),
        }),
      ),
    )
    .default({}),
  gates: z
    .strictObject({
      lint: z.boolean().default(true),
      secrets: z.enum(['block', 'report']).default('block'),
      test_edits: z.enum(['revert', 'flag']).default('revert'),
      dangerous: z.enum(['report', 'off']).default('report'),
    })
    .prefault({}),
  context: z
    .strictObject({
      budget_tokens: z.number().int().min(2000).max(200_000).default(8000),
      repo_map_tokens: z.number().int().min(0).max(100_000).default(3000),
    })
    .prefault({}),
  sandbox: z
    .strictObject({
      mode: z.enum(['auto', 'namespaces', 'user', 'none']).default('auto'),
      allow_unsandboxed: z.boolean().default(false),
      uid: z.number().int().min(1000).max(2_147_483_646).default(61_000),
      read_only_paths: z
        .array(z.string().regex(/^\/[^\0]*$/, 'expected an absolute path'))
        .max(50)
        .default([]),
      network: z
        .strictObject({
          allow: z
            .array(
              z
                .string()
                .regex(
                  /^(\*\.)?([a-z0-9-]+\.)*[a-z0-9-]+(:\d{1,5})?$|^\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?$/i,
                  'expected host, *.domain or either with :port',
                ),
            )
            .max(500)
            .default(() => [...DEFAULT_NETWORK_ALLOW]),
        })
        .prefault({}),
      limits: z
        .strictObject({
          file_bytes: z
            .number()
            .int()
            .min(1024)
            .default(1024 ** 3),
          processes: z.number().int().min(16).max(1_000_000).default(4096),
          open_files: z.number().int().min(64).max(1_048_576).default(8192),
          memory_bytes: z
            .number()
            .int()
            .min(64 * 1024 ** 2)
            .default(8 * 1024 ** 3),
          tmp_bytes: z
            .number()
            .int()
            .min(16 * 1024 ** 2)
            .default(1024 ** 3),
        })
        .prefault({}),
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

/**
 * Who the avatar's commits are by: git.author_name and git.email when set, the avatar's own name
 * otherwise, with an address under the reserved `.invalid` domain made of its id (no mail goes
 * anywhere, and no provider takes it for one of its users).
 */
export function commitIdentity(config: Pick<Config, 'git' | 'avatar'>): { name: string; email: string } {
  const local = config.avatar.id.replace(/[^A-Za-z0-9._+-]/g, '-').replace(/^[.-]+|[.-]+$/g, '') || 'avatar';
  return {
    name: config.git.author_name || config.avatar.name,
    email: config.git.email || `${local}@numa-avatar.invalid`,
  };
}

/** The configuration for a task of application `appId`: its `applications` entry over the rest. */
export function configForApplication(config: Config, appId: string | number): Config {
  const own = config.applications[String(appId)];
  if (!own) return config;
  return {
    ...config,
    tests: { ...config.tests, ...definedOf(own.tests) },
    setup: { ...config.setup, ...definedOf(own.setup) },
    verify: { ...config.verify, ...definedOf(own.verify) },
  };
}

function definedOf<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function secretsOf(config: Config): string[] {
  return [config.backend.api_token, config.git.token, config.model.api_key].filter(
    (s): s is string => typeof s === 'string' && s.length > 0,
  );
}
