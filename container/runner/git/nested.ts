/**
 * A repository inside the work tree (a folder with its own `.git`, folder or file) is refused
 * before the runner's git stages anything: `git add` would record it as a submodule, and from
 * then on `git status` and `git diff` run git inside it, under that repository's own
 * configuration (filters, fsmonitor), which the sandboxed code wrote. The walk follows no link.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { AvatarError } from '../../../core/errors.ts';

/** Paths (relative, `/`-separated) of the `.git` entries below the top of `dir`. */
export async function nestedRepositories(dir: string, limit = 5): Promise<string[]> {
  const found: string[] = [];
  const visit = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (found.length >= limit) return;
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.name === '.git') {
        if (rel !== '') found.push(p);
        continue;
      }
      if (e.isDirectory()) await visit(p);
    }
  };
  await visit('');
  return found;
}

export async function assertNoNestedRepository(dir: string): Promise<void> {
  const found = await nestedRepositories(dir);
  if (found.length > 0) {
    throw new AvatarError(
      'GIT_FAILED',
      `the work tree holds another repository (${found.join(', ')}): the runner commits no repository inside the repository; remove it`,
    );
  }
}
