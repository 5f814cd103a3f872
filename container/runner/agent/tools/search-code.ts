/**
 * search_code: a regular expression over the repository's text files. The answer lists the
 * matching files with their hit counts first (all of them, even when the hits are cut), then the
 * hits as file:line: text.
 */
import type { Stats } from 'node:fs';
import { AvatarError, isAvatarError } from '../../../../core/errors.ts';
import { IgnoreMatcher, globToRegExpSource } from '../ignore.ts';
import { isRepoFileError, readRepoFile, statInRepo } from '../safe-fs.ts';
import { looksBinary, plural } from '../text.ts';
import type { ToolContext, ToolResult } from '../types.ts';
import { walk } from '../walk.ts';

export interface SearchCodeArgs {
  pattern: string;
  path?: string;
  glob?: string;
}

export const SEARCH_MAX_HITS = 100;
/** Matching files listed before the hits. */
export const SEARCH_MAX_FILES = 200;
export const SEARCH_MAX_FILE_BYTES = 2 * 1024 * 1024;
export const SEARCH_MAX_LINE_CHARS = 300;

/** A glob without '/' matches file names; with one, repository-relative paths. */
export function globMatcher(glob: string): (rel: string) => boolean {
  const g = glob.trim().replace(/^\.\//, '').replace(/^\//, '');
  const re = new RegExp(`^${globToRegExpSource(g, { braces: true })}$`);
  if (!g.includes('/')) return (rel) => re.test(rel.slice(rel.lastIndexOf('/') + 1));
  return (rel) => re.test(rel);
}

export async function searchCode(ctx: ToolContext, args: SearchCodeArgs): Promise<ToolResult> {
  if (args.pattern === '') throw new AvatarError('TOOL_INVALID', 'pattern must not be empty');
  let re: RegExp;
  try {
    re = new RegExp(args.pattern);
  } catch (err) {
    throw new AvatarError(
      'TOOL_INVALID',
      `pattern is not a valid JavaScript regular expression: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const target = await ctx.paths.resolve(args.path ?? '.');
  const st: Stats | undefined = await statInRepo(ctx.paths.root, target.rel).then(
    (found) => found.stats,
    (err: unknown) => {
      if (isAvatarError(err, 'PATH_ESCAPE')) throw err;
      return undefined;
    },
  );
  if (!st) throw new AvatarError('TOOL_INVALID', `${target.rel}: no such file or directory`);
  const accept = args.glob ? globMatcher(args.glob) : () => true;

  const files: string[] = [];
  if (st.isFile()) {
    files.push(target.rel);
  } else {
    for await (const e of walk({
      root: ctx.paths.root,
      start: target.rel,
      matcher: new IgnoreMatcher(ctx.paths.root),
      signal: ctx.signal,
    })) {
      if (e.kind === 'file' && accept(e.rel)) files.push(e.rel);
    }
  }

  const hits: string[] = [];
  const perFile = new Map<string, number>();
  let totalHits = 0;
  let searched = 0;
  let skippedBinary = 0;
  let skippedLarge = 0;
  for (const rel of files) {
    if (ctx.signal?.aborted) break;
    // Read through a descriptor walk (safe-fs.ts): an entry swapped for a link out, a FIFO or a
    // hard link since the walk listed it is skipped.
    let buf: Buffer;
    try {
      buf = await readRepoFile(ctx.paths.root, rel, { maxBytes: SEARCH_MAX_FILE_BYTES, listedName: true });
    } catch (err) {
      if (isRepoFileError(err, 'too_large')) skippedLarge++;
      continue;
    }
    if (looksBinary(buf)) {
      skippedBinary++;
      continue;
    }
    searched++;
    const lines = buf.toString('utf8').split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string;
      if (!re.test(line)) continue;
      totalHits++;
      perFile.set(rel, (perFile.get(rel) ?? 0) + 1);
      if (hits.length >= SEARCH_MAX_HITS) continue;
      const text =
        line.length > SEARCH_MAX_LINE_CHARS ? `${line.slice(0, SEARCH_MAX_LINE_CHARS)} …[line cut]` : line;
      hits.push(`${rel}:${i + 1}: ${text}`);
    }
  }

  const skipped: string[] = [];
  if (skippedBinary) skipped.push(`${plural(skippedBinary, 'binary file')} skipped`);
  if (skippedLarge) skipped.push(`${plural(skippedLarge, 'file')} over 2 MB skipped`);
  const scope = `${target.rel === '.' ? 'the repository' : target.rel}${args.glob ? ` (glob ${args.glob})` : ''}`;
  const skippedNote = skipped.length ? `; ${skipped.join(', ')}` : '';
  if (totalHits === 0) {
    return {
      output: `No matches for /${args.pattern}/ in ${scope}: ${plural(searched, 'file')} searched${skippedNote}.`,
      brief: '0 hits',
    };
  }
  const header = `/${args.pattern}/ in ${scope}: ${plural(totalHits, 'hit')} in ${plural(perFile.size, 'file')} (${plural(searched, 'file')} searched${skippedNote}).`;
  const fileLines = [...perFile]
    .slice(0, SEARCH_MAX_FILES)
    .map(([rel, n]) => `  ${rel} (${plural(n, 'hit')})`);
  if (perFile.size > SEARCH_MAX_FILES) {
    fileLines.push(
      `  … and ${perFile.size - SEARCH_MAX_FILES} more files: narrow the pattern, path or glob.`,
    );
  }
  const capped = totalHits > hits.length;
  const hitsHeader = capped
    ? `Hits (the first ${hits.length} of ${totalHits}: narrow the pattern, path or glob, or search one of the files above, to see the rest):`
    : 'Hits:';
  return {
    output: [header, 'Files:', ...fileLines, hitsHeader, ...hits].join('\n'),
    brief: `${totalHits} hits in ${plural(perFile.size, 'file')}`,
  };
}
