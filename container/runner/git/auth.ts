/**
 * Credentials for git remotes. Provider conventions for a token, credentials embedded in a URL,
 * and URL helpers that keep credentials out of everything stored or logged.
 */
import type { GitAuth } from './types.ts';

/** Username that goes with an access token on the well-known hosts. */
function providerUsername(host: string): string | undefined {
  const h = host.toLowerCase();
  if (h === 'github.com' || h.endsWith('.github.com')) return 'x-access-token';
  if (h === 'bitbucket.org' || h.endsWith('.bitbucket.org')) return 'x-token-auth';
  if (h === 'gitlab.com' || /(^|[.-])gitlab([.-]|$)/.test(h)) return 'oauth2';
  return undefined;
}

function parseUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** Credentials written into the URL (`https://user:pass@host/...`), if any. */
export function credentialsFromUrl(url: string): GitAuth | undefined {
  const u = parseUrl(url);
  if (!u || (!u.username && !u.password)) return undefined;
  return { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
}

/**
 * The credentials to use for `url`: those embedded in the URL when present; otherwise the token
 * with the provider's username convention (github.com: x-access-token, GitLab: oauth2,
 * bitbucket.org: x-token-auth), or `username` (default `git`) anywhere else. An explicit username
 * wins over the convention. Undefined when there is neither. This applies no host policy: the
 * runner hands out the token through createGitCredentials (hosts.ts, `git.allowed_hosts`).
 */
export function authForUrl(url: string, token: string | undefined, username?: string): GitAuth | undefined {
  const embedded = credentialsFromUrl(url);
  if (embedded) {
    if (embedded.password) return embedded;
    // https://user@host/...: with a configured token the user part is the username. Without one, on a
    // provider that takes tokens (https://TOKEN@github.com/...) the user part is the token.
    if (token) return { username: embedded.username, password: token };
    const conventional = providerUsername(parseUrl(url)?.hostname ?? '');
    if (conventional) return { username: conventional, password: embedded.username };
    return { username: embedded.username, password: '' };
  }
  if (!token) return undefined;
  const host = parseUrl(url)?.hostname ?? '';
  return { username: username || providerUsername(host) || 'git', password: token };
}

/**
 * The URL without userinfo, in its normalized form: what is stored as `origin`, what git and
 * isomorphic-git connect to, and what messages show. Normalized (WHATWG: host lower-cased and in
 * punycode, `\` read as `/`, default port dropped) so that every parser after this one sees the
 * host that git.allowed_hosts was checked against (hosts.ts). A string that is not a URL is
 * returned as it is.
 */
export function stripCredentials(url: string): string {
  const u = parseUrl(url);
  if (!u) return url;
  u.username = '';
  u.password = '';
  return u.toString();
}

/** protocol (without ':') and host[:port] of a URL, for matching credential requests. */
export function urlOrigin(url: string): { protocol: string; host: string } | undefined {
  const u = parseUrl(url);
  if (!u) return undefined;
  return { protocol: u.protocol.replace(/:$/, ''), host: u.host };
}
