/**
 * What the `git` binary may read from a repository's own configuration. The agent's commands can
 * write `.git/config` (by hand, without `git config`), and git obeys it: `url.<x>.insteadOf`
 * rewrites the URL a push goes to (credentials follow, the helper answering for the same host),
 * `http.proxy` sends the credentials through another server, `include.path` pulls in any file,
 * filter, diff and merge drivers and `gpg.program` run commands, some of them while the
 * credentials are in git's environment. So before the native engine runs git in a repository, the
 * repository's config must hold only the settings git and the engine write themselves (and a few
 * inert ones tools add, such as husky's `core.hooksPath`, overridden anyway); anything else stops
 * the operation with a clear error. The user's global config is not read at all (process.ts): the
 * agent's commands can write the home folder too.
 */
import { AvatarError } from '../../../core/errors.ts';
import { patternRedactor } from '../../../core/redact.ts';

// remote.origin.url is checked by the origin guard; pushurl is harmless: fetch and push name the URL.
const ALLOWED: readonly RegExp[] = [
  /^core\.(repositoryformatversion|filemode|bare|logallrefupdates|ignorecase|precomposeunicode|symlinks|autocrlf|eol|safecrlf|hookspath|fsmonitor|quotepath|checkstat|trustctime|untrackedcache|preloadindex|longpaths|abbrev|compression|loosecompression|bigfilethreshold|whitespace|sparsecheckout|sparsecheckoutcone)$/,
  /^extensions\.objectformat$/,
  /^remote\.origin\.(url|pushurl|fetch|tagopt)$/,
  /^branch\..+\.(remote|merge)$/,
  /^submodule\..+\.(url|active)$/,
  /^user\.(name|email)$/,
  /^gc\.(auto|autodetach|autopacklimit|pruneexpire|reflogexpire|reflogexpireunreachable)$/,
  /^advice\.[a-z]+$/,
  /^init\.defaultbranch$/,
];

/** Whether a key (as `git config --list` prints it: section and name lower-cased) is allowed. */
export function isAllowedConfigKey(key: string): boolean {
  return ALLOWED.some((re) => re.test(key));
}

/** The keys of `git config --local --list -z` output (entries `key\nvalue\0`). */
export function configKeys(listZ: string): string[] {
  return listZ
    .split('\0')
    .filter((entry) => entry !== '')
    .map((entry) => {
      const nl = entry.indexOf('\n');
      return nl < 0 ? entry : entry.slice(0, nl);
    });
}

/** Throws GIT_FAILED naming the settings that are not allowed. */
export function assertConfigAllowed(dir: string, listZ: string): void {
  const refused = [...new Set(configKeys(listZ).filter((k) => !isAllowedConfigKey(k)))];
  if (refused.length === 0) return;
  const named = refused
    .slice(0, 8)
    .map((k) => patternRedactor.redact(k))
    .join(', ');
  throw new AvatarError(
    'GIT_FAILED',
    `the git configuration of ${dir} holds settings the runner did not write and does not allow ` +
      `(${named}${refused.length > 8 ? ', …' : ''}); git is not run with them, and no credentials are sent`,
  );
}
