/**
 * write_file: create or overwrite a whole file (parent directories are created). The content is
 * syntax-checked first (when the language is supported): content that does not parse is
 * rejected, and nothing is written, unless the file it replaces did not parse either.
 */
import { AvatarError } from '../../../../core/errors.ts';
import { isRepoFileError, readRepoFile, writeRepoFile } from '../safe-fs.ts';
import { syntaxGate } from '../syntax-gate.ts';
import { plural, splitLines } from '../text.ts';
import type { ToolContext, ToolResult } from '../types.ts';
import { READ_MAX_BYTES } from './read-file.ts';

export interface WriteFileArgs {
  path: string;
  content: string;
}

export async function writeFileTool(ctx: ToolContext, args: WriteFileArgs): Promise<ToolResult> {
  const target = await ctx.paths.resolve(args.path);
  if (target.rel === '.')
    throw new AvatarError('TOOL_INVALID', 'path must name a file, not the repository root');
  // The content it replaces, for the syntax gate (read as safely as it is written).
  let before: string | undefined;
  try {
    before = (await readRepoFile(ctx.paths.root, target.rel, { maxBytes: READ_MAX_BYTES })).toString('utf8');
  } catch (err) {
    if (isRepoFileError(err, 'directory'))
      throw new AvatarError('TOOL_INVALID', `${target.rel} is a directory, not a file`);
    // Nothing there yet (or too large to matter): the write below says what is wrong, if anything.
    const absent = isRepoFileError(err) && ['missing', 'too_large', 'not_directory'].includes(err.problem);
    if (!absent) throw nameTooLong(err, target.rel) ?? err;
  }
  const gate = await syntaxGate(ctx, target.rel, args.content, before, 'write');
  let created: boolean;
  try {
    // Folders made one at a time and re-opened O_NOFOLLOW; the file opened without truncation and
    // checked (regular, one link, inside the repository) before its content is replaced.
    ({ created } = await writeRepoFile(ctx.paths.root, target.rel, args.content));
  } catch (err) {
    if (isRepoFileError(err, 'not_directory')) {
      throw new AvatarError(
        'TOOL_INVALID',
        `cannot create ${target.rel}: a part of its directory path is an existing file`,
        { cause: err },
      );
    }
    if (isRepoFileError(err, 'directory'))
      throw new AvatarError('TOOL_INVALID', `${target.rel} is a directory, not a file`, { cause: err });
    throw nameTooLong(err, target.rel) ?? err;
  }
  ctx.touched.add(target.rel);
  const lines = splitLines(args.content).length;
  const bytes = Buffer.byteLength(args.content, 'utf8');
  const verb = created ? 'created' : 'overwrote';
  return {
    output: `${verb} ${target.rel} (${plural(lines, 'line')}, ${plural(bytes, 'byte')})${gate.note}`,
    brief: `${verb}, ${plural(lines, 'line')}${gate.brief}`,
  };
}

/** A name the file system cannot hold (a part over 255 bytes): the model's mistake, said so. */
function nameTooLong(err: unknown, rel: string): AvatarError | undefined {
  if ((err as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') return undefined;
  return new AvatarError(
    'TOOL_INVALID',
    `cannot create ${rel.length > 120 ? `${rel.slice(0, 120)}…` : rel}: a part of the path is too long for the file system (at most 255 bytes each)`,
    { cause: err },
  );
}
