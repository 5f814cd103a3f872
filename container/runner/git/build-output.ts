/**
 * Build and test output that is never the change: what the project's own tools write into the
 * work tree (cargo's target/, node_modules/, Python's bytecode and caches, tox's and nox's
 * environments). The runner writes these patterns into the clone's `.git/info/exclude` (its own,
 * never the repository's .gitignore): both git engines then leave new files there out of
 * `changedFiles`, the gates and the commit. Only untracked files are affected; a file the
 * repository tracks under such a folder is committed as before.
 */
import { constants } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';

export const BUILD_OUTPUT_PATTERNS = [
  'target/',
  'node_modules/',
  '__pycache__/',
  '*.py[cod]',
  '.pytest_cache/',
  '*.egg-info/',
  '.eggs/',
  '.tox/',
  '.nox/',
  '.mypy_cache/',
  '.ruff_cache/',
  '.gradle/',
  '.nyc_output/',
] as const;

/** Appends the patterns to `<repoDir>/.git/info/exclude` (created when missing; never through a link). */
export async function excludeBuildOutput(repoDir: string): Promise<void> {
  const info = path.join(repoDir, '.git', 'info');
  await mkdir(info, { recursive: true });
  const fh = await open(
    path.join(info, 'exclude'),
    constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW,
    0o644,
  );
  try {
    await fh.appendFile(
      `\n# numa-avatar: build and test output, never committed\n${BUILD_OUTPUT_PATTERNS.join('\n')}\n`,
    );
  } finally {
    await fh.close();
  }
}
