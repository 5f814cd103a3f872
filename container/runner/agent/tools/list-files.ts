/** list_files: the repository tree below a directory, without what .gitignore ignores. */
import type { Stats } from 'node:fs';
import { AvatarError, isAvatarError } from '../../../../core/errors.ts';
import { IgnoreMatcher } from '../ignore.ts';
import { readLinkInRepo, statInRepo } from '../safe-fs.ts';
import { plural } from '../text.ts';
import type { ToolContext, ToolResult } from '../types.ts';
import { walk } from '../walk.ts';

export interface ListFilesArgs {
  path?: string;
  depth?: number;
}

export const LIST_DEFAULT_DEPTH = 2;
export const LIST_MAX_DEPTH = 8;
export const LIST_MAX_ENTRIES = 500;

export async function listFiles(ctx: ToolContext, args: ListFilesArgs): Promise<ToolResult> {
  const target = await ctx.paths.resolve(args.path ?? '.');
  const st: Stats | undefined = await statInRepo(ctx.paths.root, target.rel).then(
    (found) => found.stats,
    (err: unknown) => {
      if (isAvatarError(err, 'PATH_ESCAPE')) throw err;
      return undefined;
    },
  );
  if (!st) throw new AvatarError('TOOL_INVALID', `${target.rel}: no such directory`);
  if (!st.isDirectory()) {
    throw new AvatarError(
      'TOOL_INVALID',
      `${target.rel} is a file, not a directory (use read_file to see it)`,
    );
  }
  const depth = Math.min(Math.max(1, Math.floor(args.depth ?? LIST_DEFAULT_DEPTH)), LIST_MAX_DEPTH);
  const lines: string[] = [];
  let files = 0;
  let dirs = 0;
  let unexpanded = 0;
  let cut = false;
  const prefixLen = target.rel === '.' ? 0 : target.rel.length + 1;
  for await (const e of walk({
    root: ctx.paths.root,
    start: target.rel,
    matcher: new IgnoreMatcher(ctx.paths.root),
    maxDepth: depth,
    signal: ctx.signal,
  })) {
    if (lines.length >= LIST_MAX_ENTRIES) {
      cut = true;
      break;
    }
    const indent = '  '.repeat(e.depth - 1);
    const name = e.rel.slice(prefixLen).split('/').pop() ?? e.rel;
    if (e.kind === 'dir') {
      dirs++;
      const more = e.depth >= depth;
      if (more) unexpanded++;
      lines.push(`${indent}${name}/${more ? ' …' : ''}`);
    } else if (e.kind === 'symlink') {
      files++;
      const to = await readLinkInRepo(ctx.paths.root, e.rel, { listedName: true }).catch(() => '?');
      lines.push(`${indent}${name} -> ${to}`);
    } else {
      files++;
      lines.push(`${indent}${name}`);
    }
  }
  const where = target.rel === '.' ? 'the repository root' : `${target.rel}/`;
  if (lines.length === 0) {
    return { output: `${where}: empty (or everything in it is ignored by .gitignore)`, brief: 'empty' };
  }
  const notes: string[] = [];
  if (cut)
    notes.push(`Listing cut at ${LIST_MAX_ENTRIES} entries: list a subdirectory or use a smaller depth.`);
  if (unexpanded > 0)
    notes.push(`Directories marked … have more inside: list them by path or with a larger depth.`);
  const header = `${where} (${plural(dirs, 'directory', 'directories')}, ${plural(files, 'file')} shown, depth ${depth}; .gitignore'd entries left out)`;
  return {
    output: [header, ...lines, ...notes].join('\n'),
    brief: `${lines.length} entries${cut ? ' (cut)' : ''}`,
  };
}
