/**
 * The folder of the numa-avatar package: where package.json, bin/ and demo/ are, whether this
 * module runs from its TypeScript source (`core/`) or from the build (`dist/core/`).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function find(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (
      existsSync(file) &&
      (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'numa-avatar'
    )
      return dir;
    if (dir === path.dirname(dir))
      throw new Error('numa-avatar: cannot find the package folder (package.json)');
  }
}

export const PACKAGE_ROOT = find();
