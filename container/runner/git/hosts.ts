/**
 * Which hosts get the git token (`git.allowed_hosts`). An application's `git_repo_url` comes from
 * the Numa backend, so the runner does not trust it with `git.token`: the token goes only to a host
 * the deployer listed, over https (plain http only to a loopback address). To any other host
 * nothing of the runner's is sent, not even to try: a public repository can still be cloned
 * without credentials, and a push it refuses fails the run naming the host and the key.
 * Credentials written into the URL itself (`https://user:pass@host/…`) are the backend's own and
 * still go to the host they were written for.
 *
 * Hosts are compared as URLs normalize them (WHATWG): lower case, IDN as punycode, one trailing
 * dot dropped, the scheme's default port elided; userinfo (`https://github.com@evil.example/`) is
 * not the host. The engines connect to that same normalized URL (stripCredentials).
 */
import path from 'node:path';
import { AvatarError } from '../../../core/errors.ts';
import {
  formatGitHostPattern,
  parseGitHostPattern,
  type GitHostPattern,
} from '../../../core/config/schema.ts';
import { authForUrl, credentialsFromUrl } from './auth.ts';
import type { GitAuth, GitEngine } from './types.ts';

export type GitHostCheck =
  | { ok: true; host: string }
  | {
      ok: false;
      /** host[:port] as the URL names it (normalized); scheme://host[:port] for a scheme other than http(s). */
      host: string;
      why: 'not-listed' | 'plain-http' | 'not-http' | 'invalid-url';
    };

/** 127.0.0.0/8, ::1 (also IPv4-mapped), localhost: names that never leave the machine. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  return (
    h === 'localhost' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) ||
    h === '[::1]' ||
    /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(h)
  );
}

function parsePatterns(allowed: readonly string[]): GitHostPattern[] {
  return allowed
    .map((entry) => parseGitHostPattern(entry))
    .filter((p): p is GitHostPattern => typeof p !== 'string');
}

function defaultPort(protocol: string): number | undefined {
  return protocol === 'https:' ? 443 : protocol === 'http:' ? 80 : undefined;
}

/** Whether the token may go to `url`: its host is listed, and the scheme is https (http: loopback only). */
export function checkGitHost(url: string, allowed: readonly string[]): GitHostCheck {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { ok: false, host: '', why: 'invalid-url' };
  }
  const hostname = u.hostname.replace(/\.$/, '');
  const host = `${hostname}${u.port ? `:${u.port}` : ''}`;
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    return { ok: false, host: `${u.protocol}//${host}`, why: 'not-http' };
  }
  if (hostname === '') return { ok: false, host, why: 'invalid-url' };
  const port = u.port ? Number(u.port) : defaultPort(u.protocol);
  const listed = parsePatterns(allowed).some((p) => {
    const hostMatches = p.subdomains ? hostname.endsWith(`.${p.host}`) : hostname === p.host;
    const portMatches = p.port === undefined ? u.port === '' : port === p.port;
    return hostMatches && portMatches;
  });
  if (!listed) return { ok: false, host, why: 'not-listed' };
  if (u.protocol === 'http:' && !isLoopbackHost(hostname)) return { ok: false, host, why: 'plain-http' };
  return { ok: true, host };
}

function listText(allowed: readonly string[]): string {
  const shown = parsePatterns(allowed).map(formatGitHostPattern);
  return shown.length ? shown.join(', ') : 'empty';
}

/** What the task log says when the token is withheld, and what a failure there adds. */
function explain(check: Exclude<GitHostCheck, { ok: true }>, allowed: readonly string[], embedded: boolean) {
  const nothing = (where: string) =>
    embedded
      ? `the git token is not sent${where}, only the credentials written in the repository URL`
      : `no credentials are sent${where}`;
  switch (check.why) {
    case 'not-listed':
      return {
        line: `git: host ${check.host} is not in git.allowed_hosts (${listText(allowed)}): ${nothing(' to it')}`,
        hint:
          `the git token was not sent: host ${check.host} is not in git.allowed_hosts ` +
          `(${listText(allowed)}); list it there if it is your git server`,
      };
    case 'plain-http':
      return {
        line: `git: http://${check.host} is plain http to a host that is not loopback: ${nothing(' over it')}`,
        hint:
          `the git token was not sent: http://${check.host} is plain http ` +
          '(the token goes over https only, or plain http to a loopback address)',
      };
    case 'not-http':
      return {
        line: `git: ${check.host} is neither https nor http: ${nothing(' to it')}`,
        hint: `the git token was not sent: ${check.host} is neither https nor http`,
      };
    case 'invalid-url':
      return {
        line: `git: the repository URL is not a valid URL: ${nothing('')}`,
        hint: 'the git token was not sent: the repository URL is not a valid URL',
      };
  }
}

export interface GitCredentialsOptions {
  /** git.token; nothing is withheld (or logged) when there is none. */
  token?: string;
  /** git.username: the user name that goes with the token where the provider has no convention. */
  username?: string;
  /** git.allowed_hosts (normalized or not). */
  allowedHosts: readonly string[];
  /** Told once per host and reason when the token is withheld (the task log). */
  onWithheld?: (line: string) => void;
}

export interface GitCredentials {
  /** The credentials for a remote URL (GitEngineOptions.auth). */
  auth(url: string): GitAuth | undefined;
  /** Why the token is not sent to `url`, for the message of a failure there; undefined when it is sent. */
  withheld(url: string): string | undefined;
}

/** git.token for the allowed hosts only; elsewhere only what the URL itself carries. */
export function createGitCredentials(opts: GitCredentialsOptions): GitCredentials {
  const told = new Set<string>();
  const refusal = (url: string) => {
    if (!opts.token) return undefined;
    const check = checkGitHost(url, opts.allowedHosts);
    if (check.ok) return undefined;
    return explain(check, opts.allowedHosts, credentialsFromUrl(url) !== undefined);
  };
  return {
    auth(url) {
      const refused = refusal(url);
      if (!refused) return authForUrl(url, opts.token, opts.username);
      if (!told.has(refused.line)) {
        told.add(refused.line);
        opts.onWithheld?.(refused.line);
      }
      return authForUrl(url, undefined, opts.username);
    },
    withheld: (url) => refusal(url)?.hint,
  };
}

/** Failures that credentials could have changed: the remote refused, or hid the repository (GitHub answers 404). */
const CREDENTIAL_FAILURES = new Set(['GIT_AUTH', 'GIT_NOT_FOUND']);

/**
 * The engine, with the failures of calls to a host that did not get the token turned into
 * GIT_HOST_NOT_ALLOWED, whose message says so (naming the host and git.allowed_hosts).
 */
export function withGitHostPolicy(engine: GitEngine, credentials: GitCredentials): GitEngine {
  const urls = new Map<string, string>();
  const explained = async <T>(url: string | undefined, op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      const hint = url === undefined ? undefined : credentials.withheld(url);
      if (hint && err instanceof AvatarError && CREDENTIAL_FAILURES.has(err.code)) {
        throw new AvatarError('GIT_HOST_NOT_ALLOWED', `${err.message}; ${hint}`, { cause: err });
      }
      throw err;
    }
  };
  return {
    ...engine,
    lsRemote: (url) => explained(url, () => engine.lsRemote(url)),
    async clone(opts) {
      urls.set(path.resolve(opts.dir), opts.url);
      await explained(opts.url, () => engine.clone(opts));
    },
    async adopt(dir, url) {
      urls.set(path.resolve(dir), url);
      await engine.adopt(dir, url);
    },
    fetchBranch: (dir, branch) =>
      explained(urls.get(path.resolve(dir)), () => engine.fetchBranch(dir, branch)),
    checkoutRemoteBranch: (dir, branch) =>
      explained(urls.get(path.resolve(dir)), () => engine.checkoutRemoteBranch(dir, branch)),
    push: (dir, branch) => explained(urls.get(path.resolve(dir)), () => engine.push(dir, branch)),
  };
}
