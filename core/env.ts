/**
 * Environments of child processes.
 *
 * - scrubEnv: the runner's own tools (git, tar). The runner's environment minus every variable
 *   that could carry a credential: the avatar's own settings, cloud credentials, and anything whose
 *   name says token, key, secret or password (a deny-list: git keeps its proxy and CA settings).
 * - repoEnv and scrubAgentEnv: what the repository makes run (setup steps, the install step, the
 *   tests, the quality gates, the agent's run_command). An allow-list: only the variables a build
 *   needs from the runner's environment pass (REPO_ENV_NAMES), so NODE_ENV, NODE_OPTIONS,
 *   npm_config_*, proxies, GIT_*, AWS_*, OPENAI_*, NUMA_* and whatever else the runner was started
 *   with never reach them.
 */
const DROP_PREFIXES = [
  'NUMA_',
  'OPENAI_',
  'AWS_',
  'AZURE_',
  'GOOGLE_',
  'GCP_',
  'ECS_CONTAINER_METADATA',
  'GH_',
  'GITHUB_',
  'GITLAB_',
  'ANTHROPIC_',
];
const DROP_EXACT = new Set([
  'GIT_TOKEN',
  'GIT_USERNAME',
  'GIT_ASKPASS',
  'SSH_AUTH_SOCK',
  'NPM_TOKEN',
  'NODE_AUTH_TOKEN',
  'DOCKER_AUTH_CONFIG',
]);
const DROP_WORDS = /(TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|AUTH)/i;

export function isSecretEnvName(name: string): boolean {
  const upper = name.toUpperCase();
  return DROP_EXACT.has(upper) || DROP_PREFIXES.some((p) => upper.startsWith(p)) || DROP_WORDS.test(upper);
}

export function scrubEnv(env: NodeJS.ProcessEnv, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && !isSecretEnvName(k)) out[k] = v;
  }
  // Never let git prompt for credentials: it would hang until the timeout.
  out.GIT_TERMINAL_PROMPT = '0';
  return { ...out, ...extra };
}

/**
 * The variables the repository's commands get from the runner's environment, besides LC_*. A
 * build needs where to find programs, a home and a temporary folder (the sandboxes set HOME and
 * TMPDIR themselves, and USER and LOGNAME), the locale, the time zone, the terminal type, and where
 * the toolchains that keep a home of their own are installed: JAVA_HOME, GOROOT, RUSTUP_HOME and
 * PYENV_ROOT, which only say where to read from. Caches a sandboxed command must write to its own
 * home instead (GOPATH, GOCACHE, CARGO_HOME, npm's cache) are left to their defaults.
 */
const REPO_ENV_NAMES = new Set([
  'PATH',
  'HOME',
  'TMPDIR',
  'USER',
  'LOGNAME',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TERM',
  'JAVA_HOME',
  'GOROOT',
  'RUSTUP_HOME',
  'PYENV_ROOT',
]);

/** Whether a variable of the runner's environment passes to the repository's commands (case matters). */
export function isRepoEnvName(name: string): boolean {
  return (REPO_ENV_NAMES.has(name) || /^LC_[A-Z]+$/.test(name)) && !isSecretEnvName(name);
}

/**
 * The environment of the repository's commands, by allow-list (isRepoEnvName), with CI=true (tools
 * do not wait for a terminal, installs take the lockfile as it is) and GIT_TERMINAL_PROMPT=0 (git
 * never prompts for credentials: it would hang until the timeout). `extra` is set last and wins.
 */
export function repoEnv(env: NodeJS.ProcessEnv, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && isRepoEnvName(k)) out[k] = v;
  }
  out.CI = 'true';
  out.GIT_TERMINAL_PROMPT = '0';
  return { ...out, ...extra };
}

/**
 * repoEnv for the commands the agent controls (run_command, the project's tests, setup steps and
 * quality gates), with a second guard: it also drops every variable whose value holds a secret
 * whatever its name (one the allow-list lets through), that is every value the run's redactor
 * would change: a configured token or key, credentials in a URL, a well-known token format
 * (`ghp_…`, `sk-…`, `AKIA…`). Output redaction alone would not do: a command can print a value
 * encoded (`env | base64`) or use it. `extra` is not checked: the caller chose it.
 */
export function scrubAgentEnv(
  env: NodeJS.ProcessEnv,
  redactor: { redact(text: string): string },
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const out = repoEnv(env);
  for (const [k, v] of Object.entries(out)) {
    if (v !== undefined && redactor.redact(v) !== v) delete out[k];
  }
  return { ...out, ...extra };
}
