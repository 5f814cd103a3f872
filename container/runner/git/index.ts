/**
 * The runner's Git port: its types, the native engine (the `git` binary), the engine choice, the
 * credentials convention per provider, and the hosts the token may go to. isomorphic-git is loaded
 * only when it is the engine (select.ts): import createIsomorphicGit from isomorphic.ts.
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
export { checkGitHost, createGitCredentials, isLoopbackHost, withGitHostPolicy } from './hosts.ts';
export type { GitCredentials, GitCredentialsOptions, GitHostCheck } from './hosts.ts';
export { assertBranchName } from './refs.ts';
export { createNativeGit } from './native.ts';
export { gitVersion, selectGitEngine } from './select.ts';
