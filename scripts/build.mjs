// `npm run build` (and `prepare`, so `npm ci` runs it): compiles the runtime sources with tsc into
// dist/ (one module per source, the same layout, `.ts` imports rewritten to `.js`), copies the
// files the modules load beside themselves, and writes the stamp bin/numa-avatar.mjs checks.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourcesStamp } from '../bin/build-stamp.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const stamp = sourcesStamp(root);
// From nothing each time: tsc leaves the output of a deleted source behind otherwise.
rmSync(path.join(root, 'dist'), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
});
if (r.status !== 0) process.exit(r.status ?? 1);
for (const asset of ['container/runner/sandbox/bridge.mjs']) {
  const to = path.join(root, 'dist', asset);
  mkdirSync(path.dirname(to), { recursive: true });
  copyFileSync(path.join(root, asset), to);
}
writeFileSync(path.join(root, 'dist', '.build-stamp'), stamp + '\n');
