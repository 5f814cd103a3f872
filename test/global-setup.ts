/**
 * Before the suite: the build in dist/ brought up to date when the sources changed since it was
 * made, so that every test that starts the CLI (the service's runners, the CLI tests, the demo)
 * runs what a user runs, the compiled code, and none of them gets the "older than the sources"
 * note on its stderr.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourcesStamp } from '../bin/build-stamp.mjs';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

export default function setup(): void {
  let built = '';
  try {
    built = readFileSync(path.join(ROOT, 'dist', '.build-stamp'), 'utf8').trim();
  } catch {
    // no build yet
  }
  if (built !== sourcesStamp(ROOT)) {
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit' });
  }
}
