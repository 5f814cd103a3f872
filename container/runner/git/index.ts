/**
 * The runner's Git port: its types, the two engines (the `git` binary and isomorphic-git), the
 * engine choice, and the credentials convention per provider.
 */
export type {
  CloneOptions,
  CommitOptions,
  DiffStat,
  GitAuth,
  GitEngine,
  GitEngineOptions,
  GitIdentity,
  PushResult,
  RebaseResult,
  RemoteInfo,
} from './types.ts';
export { DEFAULT_GIT_TIMEOUT_MS } from './types.ts';
export { authForUrl, credentialsFromUrl, stripCredentials } from './auth.ts';
export { createNativeGit } from './native.ts';
export { createIsomorphicGit } from './isomorphic.ts';
export { gitVersion, selectGitEngine } from './select.ts';
