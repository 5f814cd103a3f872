/**
 * The URL fetch and push talk to. It is read from the repository's `origin`, and it must still be
 * the URL the engine cloned from: the agent can edit .git/config, and credentials must not follow
 * an origin (or pushurl, proxy, remote helper) it pointed elsewhere. Engines therefore pass this
 * URL explicitly instead of letting git or isomorphic-git resolve `origin` themselves.
 */
import path from 'node:path';
import { AvatarError } from '../../../core/errors.ts';
import { patternRedactor } from '../../../core/redact.ts';
import { stripCredentials } from './auth.ts';

export interface OriginGuard {
  /** Records the URL a folder was cloned from (without credentials). */
  remember(dir: string, url: string): void;
  /** The URL to use for `dir`, given the origin URL configured there. */
  verify(dir: string, configured: string | undefined): string;
}

export function createOriginGuard(): OriginGuard {
  const cloned = new Map<string, string>();
  return {
    remember(dir, url) {
      cloned.set(path.resolve(dir), stripCredentials(url));
    },
    verify(dir, configured) {
      if (!configured) throw new AvatarError('GIT_FAILED', `the repository in ${dir} has no origin remote`);
      const clean = stripCredentials(configured);
      const expected = cloned.get(path.resolve(dir));
      if (expected !== undefined && expected !== clean) {
        throw new AvatarError(
          'GIT_FAILED',
          `the origin URL of ${dir} changed after the clone (from ${expected} to ${patternRedactor.redact(clean)}); ` +
            'credentials are not sent to it',
        );
      }
      return clean;
    },
  };
}
