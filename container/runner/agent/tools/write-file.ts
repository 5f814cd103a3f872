/**
 * write_file: create or overwrite a whole file (parent directories are created). The content is
 * syntax-checked first (when the language is supported): content that does not parse is
 * rejected, and nothing is written, unless the file it replaces did not parse either.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AvatarError } from '../../../../core/errors.ts';
import { syntaxGate } from '../syntax-gate.ts';
import { plural, splitLines } from '../text.ts';
import type { ToolContext, ToolResult } from '../types.ts';

export interface WriteFileArgs {
  path: string;
  content: string;
}

export async function writeFileTool(ctx: ToolContext, args: WriteFileArgs): Promise<ToolResult> {
  const target = await ctx.paths.resolve(args.path);
  if (target.rel === '.')
    throw new AvatarError('TOOL_INVALID', 'path must name a file, not the repository root');
  const st = await stat(target.abs).catch(() => undefined);
  if (st?.isDirectory()) throw new AvatarError('TOOL_INVALID', `${target.rel} is a directory, not a file`);
  const before = st ? await readFile(target.abs, 'utf8').catch(() => undefined) : undefined;
  const gate = await syntaxGate(ctx, target.rel, args.content, before, 'write');
  try {
    await mkdir(path.dirname(target.abs), { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw new AvatarError(
        'TOOL_INVALID',
        `cannot create ${target.rel}: a part of its directory path is an existing file`,
        { cause: err },
      );
    }
    throw nameTooLong(err, target.rel) ?? err;
  }
  try {
    await writeFile(target.abs, args.content, 'utf8');
  } catch (err) {
    throw nameTooLong(err, target.rel) ?? err;
  }
  ctx.touched.add(target.rel);
  const lines = splitLines(args.content).length;
  const bytes = Buffer.byteLength(args.content, 'utf8');
  const verb = st ? 'overwrote' : 'created';
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
