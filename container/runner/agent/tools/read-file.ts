/** read_file: numbered lines of a text file, in windows of at most READ_WINDOW_LINES. */
import { AvatarError } from '../../../../core/errors.ts';
import { isRepoFileError, readRepoFile } from '../safe-fs.ts';
import { looksBinary, splitLines } from '../text.ts';
import type { ToolContext, ToolResult } from '../types.ts';

export interface ReadFileArgs {
  path: string;
  start_line?: number;
  end_line?: number;
}

export const READ_WINDOW_LINES = 200;
export const READ_MAX_BYTES = 10 * 1024 * 1024;
export const READ_MAX_LINE_CHARS = 2000;

export async function readFileTool(ctx: ToolContext, args: ReadFileArgs): Promise<ToolResult> {
  const target = await ctx.paths.resolve(args.path);
  let buf: Buffer;
  try {
    // Through a descriptor walk from the root: no link out, no FIFO, device or hard link (safe-fs.ts).
    buf = await readRepoFile(ctx.paths.root, target.rel, { maxBytes: READ_MAX_BYTES });
  } catch (err) {
    if (isRepoFileError(err, 'missing'))
      throw new AvatarError('TOOL_INVALID', `${target.rel}: no such file (list_files shows what exists)`);
    if (isRepoFileError(err, 'directory'))
      throw new AvatarError('TOOL_INVALID', `${target.rel} is a directory (use list_files)`);
    if (isRepoFileError(err, 'too_large')) {
      throw new AvatarError(
        'TOOL_INVALID',
        `${target.rel} is ${((err.size ?? 0) / 1048576).toFixed(1)} MB, too large to read; use search_code, or run_command with head/sed`,
      );
    }
    throw err;
  }
  if (looksBinary(buf)) {
    return { output: `${target.rel} is a binary file (${buf.length} bytes); not shown.`, brief: 'binary' };
  }
  const lines = splitLines(buf.toString('utf8'));
  const total = lines.length;
  if (total === 0) return { output: `${target.rel} is empty (0 lines).`, brief: 'empty' };
  const start = Math.floor(args.start_line ?? 1);
  if (start < 1) throw new AvatarError('TOOL_INVALID', `start_line must be 1 or more (got ${start})`);
  if (start > total) {
    throw new AvatarError(
      'TOOL_INVALID',
      `start_line ${start} is past the end: ${target.rel} has ${total} lines`,
    );
  }
  const wantedEnd = args.end_line === undefined ? start + READ_WINDOW_LINES - 1 : Math.floor(args.end_line);
  if (wantedEnd < start) {
    throw new AvatarError('TOOL_INVALID', `end_line (${wantedEnd}) is before start_line (${start})`);
  }
  const end = Math.min(total, wantedEnd, start + READ_WINDOW_LINES - 1);
  const width = String(end).length;
  const body = lines.slice(start - 1, end).map((line, i) => {
    const text =
      line.length > READ_MAX_LINE_CHARS
        ? `${line.slice(0, READ_MAX_LINE_CHARS)} …[line cut: ${line.length} characters]`
        : line;
    return `${String(start + i).padStart(width)}\t${text}`;
  });
  const header =
    start === 1 && end === total
      ? `${target.rel} (${total} lines; the numbers before the tab are not part of the file)`
      : `${target.rel}: lines ${start}-${end} of ${total} (the numbers before the tab are not part of the file)`;
  const notes: string[] = [];
  if (end < total) {
    const capped = end < wantedEnd && end < total ? ` (at most ${READ_WINDOW_LINES} lines per call)` : '';
    notes.push(
      `… ${total - end} more lines${capped}: call read_file with start_line=${end + 1} to see more.`,
    );
  }
  return { output: [header, ...body, ...notes].join('\n'), brief: `lines ${start}-${end} of ${total}` };
}
