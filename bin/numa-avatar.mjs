#!/usr/bin/env node
// Entry point of the `numa-avatar` command: runs the build in dist/ (`npm run build`; `npm ci`
// builds it through `prepare`). In a checkout whose runtime sources changed since that build, it
// runs the sources through tsx instead and says so on stderr: a stale build is never used
// silently. An installed package has no sources, only the build.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sourcesStamp } from './build-stamp.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const built = path.join(root, 'dist', 'cli.js');

function buildIsCurrent() {
  if (!existsSync(path.join(root, 'cli', 'main.ts'))) return true; // an installed package
  try {
    return readFileSync(path.join(root, 'dist', '.build-stamp'), 'utf8').trim() === sourcesStamp(root);
  } catch {
    return false;
  }
}

let main;
if (existsSync(built) && buildIsCurrent()) {
  ({ main } = await import(pathToFileURL(built).href));
} else {
  process.stderr.write(
    `numa-avatar: ${existsSync(built) ? 'the build in dist/ is older than the sources' : 'no build in dist/'}: ` +
      'running the sources through tsx (`npm run build` makes the build current)\n',
  );
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(pathToFileURL(path.join(root, 'cli', 'main.ts')).href));
}
process.exitCode = await main(process.argv.slice(2));
