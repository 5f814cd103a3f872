/** Repository-relative paths as git writes them. */
import path from 'node:path';
import { AvatarError } from '../../../core/errors.ts';

/** A repository-relative path in git's form (forward slashes, no ./); refuses paths that leave the repository. */
export function normalizeRepoPath(p: string): string {
  const norm = path.posix
    .normalize(p.replace(/\\/g, '/'))
    .replace(/^(\.\/)+/, '')
    .replace(/\/+$/, '');
  if (!norm || norm === '.' || norm === '..' || norm.startsWith('../') || path.posix.isAbsolute(norm)) {
    throw new AvatarError('PATH_ESCAPE', `path ${JSON.stringify(p)} is not inside the repository`);
  }
  if (norm === '.git' || norm.startsWith('.git/')) {
    throw new AvatarError('PATH_ESCAPE', `path ${JSON.stringify(p)} is inside .git`);
  }
  return norm;
}

/** Byte order of paths, as git sorts them. */
export function byPath(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether two paths are the same or one is a folder holding the other. */
export function pathsOverlap(a: string, b: string): boolean {
  return a === b || a.startsWith(b + '/') || b.startsWith(a + '/');
}
