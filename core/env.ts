/**
 * The environment handed to commands the agent runs and to the project's tests. It keeps what a
 * build needs (PATH, HOME, locale, proxies, toolchain settings) and drops every variable that
 * could carry a credential: the avatar's own settings, cloud credentials, and anything whose name
 * says token, key, secret or password.
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
  // Never let git prompt for credentials inside an agent command: it would hang until the timeout.
  out.GIT_TERMINAL_PROMPT = '0';
  return { ...out, ...extra };
}

/**
 * scrubEnv for the commands the agent controls (run_command, the project's tests, setup steps and
 * quality gates): it also drops every variable whose value holds a secret whatever its name, that
 * is every value the run's redactor would change: a configured token or key (the backend token
 * under `BACKEND=…`), credentials in a URL (`DATABASE_URL=https://user:pw@…`), a well-known token
 * format (`ghp_…`, `sk-…`, `AKIA…`). Output redaction alone would not do: a command can print a
 * value encoded (`env | base64`) or use it.
 */
export function scrubAgentEnv(
  env: NodeJS.ProcessEnv,
  redactor: { redact(text: string): string },
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const out = scrubEnv(env);
  for (const [k, v] of Object.entries(out)) {
    if (v !== undefined && redactor.redact(v) !== v) delete out[k];
  }
  return { ...out, ...extra };
}
