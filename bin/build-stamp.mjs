// What the build in dist/ was made from: the newest modification time and the number of the
// runtime sources (the folders the CLI's bundle is made of). The build writes it to
// dist/.build-stamp; bin/numa-avatar.mjs compares it with the checkout's, so that a build older
// than the sources is never run silently. Plain JavaScript: it runs before any TypeScript can.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

export const SOURCE_DIRS = ['core', 'adapters', 'local', 'cli', 'container', 'servers', 'demo'];
const SKIP = new Set(['node_modules', 'sample-project', 'dist']);

function visit(dir, acc) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (SKIP.has(e.name)) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) visit(p, acc);
    else if (/\.(ts|mjs|json)$/.test(e.name) && !e.name.endsWith('.test.ts')) {
      acc.count++;
      acc.newest = Math.max(acc.newest, statSync(p).mtimeMs);
    }
  }
}

/** `<count>:<newest mtime in ms>` of the runtime sources under `root`. */
export function sourcesStamp(root) {
  const acc = { count: 0, newest: 0 };
  for (const d of SOURCE_DIRS) visit(path.join(root, d), acc);
  visit(path.join(root, 'package.json'), acc);
  acc.newest = Math.max(acc.newest, statSync(path.join(root, 'package.json')).mtimeMs);
  return `${acc.count}:${Math.floor(acc.newest)}`;
}
