/**
 * The smart-HTTP git server used by tests and the demo (`git http-backend` behind node:http),
 * and the helper that creates the bare repositories it serves.
 */
export { startGitServer } from './server.ts';
export type { GitServer, GitServerOptions, GitServerRequest } from './server.ts';
export { createBareRepo } from './bare-repo.ts';
export type { CreateBareRepoOptions } from './bare-repo.ts';
