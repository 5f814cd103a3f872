/** Shared by the security tests: planted secrets, a process environment that holds them, artifact sweeps. */
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { expect } from 'vitest';
import { API_TOKEN, GIT_TOKEN, MODEL_KEY } from '../helpers/world.ts';

/** Values planted in the process environment under the names that carry credentials. */
export const NAMED_SECRETS: Record<string, string> = {
  NUMA_API_TOKEN: API_TOKEN,
  GIT_TOKEN,
  OPENAI_API_KEY: MODEL_KEY,
  AWS_ACCESS_KEY_ID: 'AKIAPLANTEDKEY123456',
  AWS_SECRET_ACCESS_KEY: 'planted/aws/secret+access+key+0123456789',
  AWS_SESSION_TOKEN: 'planted-aws-session-token-IQoJb3JpZ2luX2Vj',
  GITHUB_TOKEN: 'ghs_plantedgithubtoken0123456789abcdef',
  NPM_TOKEN: 'npm_plantednpmtoken0123456789abcdefghij',
};

/**
 * Secret values under innocent names: a configured secret copied into another variable, a value
 * that contains one, credentials in a URL, and well-known token formats.
 */
export const INNOCENT_SECRETS: Record<string, string> = {
  BACKEND_HINT: API_TOKEN,
  DEPLOY_NOTE: `deploy with ${GIT_TOKEN} please`,
  LLM: MODEL_KEY,
  DATABASE_URL: 'postgres://app:planted-db-password-55@db.internal:5432/app',
  RELEASE_BOT: 'ghp_plantedpersonaltoken0123456789abcd',
};

/** Ordinary variables of the allow-list (core/env.ts) that commands must keep. */
export const ORDINARY: Record<string, string> = {
  LANG: 'C.UTF-8',
  TZ: 'Etc/UTC',
};

/**
 * The runner's own variables, no secret among them, that commands must not get either (the
 * allow-list drops them): NODE_ENV=production would make an install skip the devDependencies.
 */
export const RUNNER_OWN: Record<string, string> = {
  PLAIN_SECURITY_TEST_VAR: 'visible-value',
  NODE_ENV: 'production',
  NODE_OPTIONS: '--no-deprecation',
  npm_config_omit: 'dev',
};

/** Every planted value a command environment, a log or an artifact must not show. */
export const PLANTED_VALUES: string[] = [
  ...Object.values(NAMED_SECRETS),
  API_TOKEN,
  GIT_TOKEN,
  MODEL_KEY,
  'planted-db-password-55',
  'ghp_plantedpersonaltoken0123456789abcd',
];

/** Sets variables on process.env; the returned function restores what was there. */
export function plantEnv(vars: Record<string, string>): () => void {
  const saved = new Map<string, string | undefined>();
  for (const [k, v] of Object.entries(vars)) {
    saved.set(k, process.env[k]);
    process.env[k] = v;
  }
  return () => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** `NAME=value` lines (as `env` prints them) → names. */
export function envNames(dump: string): string[] {
  return dump
    .split('\n')
    .map((l) => /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}

/**
 * Asserts that a raw environment dump holds no planted secret, by name or by value, none of the
 * runner's own variables, and keeps the ordinary ones.
 */
export function expectCleanEnv(dump: string, where: string): void {
  const names = envNames(dump);
  expect(names.length, `${where}: an environment was dumped`).toBeGreaterThan(3);
  for (const name of [
    ...Object.keys(NAMED_SECRETS),
    ...Object.keys(INNOCENT_SECRETS),
    ...Object.keys(RUNNER_OWN),
  ]) {
    expect(names, `${where}: ${name}`).not.toContain(name);
  }
  for (const value of PLANTED_VALUES) expect(dump, `${where}: a planted value`).not.toContain(value);
  for (const [k, v] of Object.entries(ORDINARY)) expect(dump, `${where}: ${k}`).toContain(`${k}=${v}`);
  expect(names, `${where}: PATH`).toContain('PATH');
}

/** Every regular file under `dir` (recursively), with its content as UTF-8 text. */
export async function filesUnder(dir: string): Promise<Array<{ file: string; text: string }>> {
  const out: Array<{ file: string; text: string }> = [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile()) continue;
    const file = path.join(e.parentPath, e.name);
    out.push({ file: path.relative(dir, file), text: await readFile(file, 'utf8') });
  }
  return out;
}

/** Asserts that none of `texts` contains any of `secrets` (naming the text that does). */
export function expectNoSecrets(
  texts: Array<{ file: string; text: string }>,
  secrets: readonly string[],
): void {
  for (const { file, text } of texts) {
    for (const s of secrets) {
      const at = text.indexOf(s);
      expect(
        at < 0,
        `${file} contains the secret ${s.slice(0, 6)}… in ${JSON.stringify(text.slice(Math.max(0, at - 120), at + 40).replace(s, '<SECRET>'))}`,
      ).toBe(true);
    }
  }
}

export interface Sink {
  url: string;
  seen: string[];
  close(): Promise<void>;
}

/** An HTTP server on loopback that records every request (line, headers, body) and answers 401 Basic. */
export async function startSink(): Promise<Sink> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}\n${JSON.stringify(req.headers)}\n${body}`);
      res.writeHead(401, { 'www-authenticate': 'Basic realm="sink"' });
      res.end();
    });
  });
  return { ...(await listenOnLoopback(server)), seen };
}

/** Starts `server` on a free 127.0.0.1 port: its URL, and a close that ends open connections too. */
export async function listenOnLoopback(
  server: http.Server,
): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
