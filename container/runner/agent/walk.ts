/**
 * Walks the repository tree the way the agent should see it: sorted, `.git` skipped, what
 * .gitignore ignores skipped, symlinks reported but never followed. Each directory is read through
 * a descriptor walked from the root (safe-fs.ts), so a folder swapped for a link to outside while
 * the walk runs is not listed.
 */
import type { Dirent } from 'node:fs';
import path from 'node:path';
import type { IgnoreMatcher } from './ignore.ts';
import { readRepoDir } from './safe-fs.ts';

export interface WalkEntry {
  /** Repository-relative, forward slashes. */
  rel: string;
  abs: string;
  kind: 'file' | 'dir' | 'symlink' | 'other';
  /** 1 for the direct children of the starting directory. */
  depth: number;
}

export interface WalkOptions {
  root: string;
  /** Repository-relative start directory ('' or '.' for the root). */
  start: string;
  matcher: IgnoreMatcher;
  /** Directories deeper than this are reported but not entered. */
  maxDepth?: number;
  signal?: AbortSignal;
}

function kindOf(d: Dirent): WalkEntry['kind'] {
  if (d.isSymbolicLink()) return 'symlink';
  if (d.isDirectory()) return 'dir';
  if (d.isFile()) return 'file';
  return 'other';
}

/** Depth-first, entries of a directory in name order (directories and files interleaved). */
export async function* walk(opts: WalkOptions): AsyncGenerator<WalkEntry> {
  const start = opts.start === '.' ? '' : opts.start;
  const maxDepth = opts.maxDepth ?? Infinity;

  async function* visit(dirRel: string, depth: number): AsyncGenerator<WalkEntry> {
    if (opts.signal?.aborted) return;
    let dirents: Dirent[];
    try {
      dirents = await readRepoDir(opts.root, dirRel === '' ? '.' : dirRel);
    } catch {
      return; // unreadable directory: nothing to show
    }
    dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of dirents) {
      if (d.name === '.git') continue;
      const rel = dirRel === '' ? d.name : `${dirRel}/${d.name}`;
      const kind = kindOf(d);
      if (await opts.matcher.isIgnored(rel, kind === 'dir')) continue;
      yield { rel, abs: path.join(opts.root, rel), kind, depth };
      if (kind === 'dir' && depth < maxDepth) yield* visit(rel, depth + 1);
    }
  }

  yield* visit(start, 1);
}
