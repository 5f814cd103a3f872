/**
 * edit_file: replace one exact, unique occurrence of old_text. When old_text matches nowhere, the
 * answer shows the closest parts of the file (numbered, with the first difference); when it
 * matches several times, their line numbers. The new content is syntax-checked first (when the
 * language is supported): an edit that breaks a file that parsed is rejected, the file unchanged.
 */
import { AvatarError } from '../../../../core/errors.ts';
import { closestCandidates, describeCandidates } from '../closest.ts';
import { isRepoFileError, openRepoFile, type RepoFile } from '../safe-fs.ts';
import { syntaxGate } from '../syntax-gate.ts';
import { looksBinary } from '../text.ts';
import type { ToolContext, ToolResult } from '../types.ts';
import { READ_MAX_BYTES } from './read-file.ts';

export interface EditFileArgs {
  path: string;
  old_text: string;
  new_text: string;
}

function occurrences(haystack: string, needle: string): number[] {
  const at: number[] = [];
  for (let i = haystack.indexOf(needle); i !== -1; i = haystack.indexOf(needle, i + needle.length))
    at.push(i);
  return at;
}

function lineOf(text: string, index: number): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

export async function editFile(ctx: ToolContext, args: EditFileArgs): Promise<ToolResult> {
  const target = await ctx.paths.resolve(args.path);
  if (args.old_text === '') {
    throw new AvatarError(
      'TOOL_INVALID',
      'old_text must not be empty (use write_file to create or replace a whole file)',
    );
  }
  // One descriptor for the read and the write: checked once (regular, one link, inside the
  // repository), so what is written is the file that was read (safe-fs.ts).
  let file: RepoFile;
  try {
    file = await openRepoFile(ctx.paths.root, target.rel, 'update');
  } catch (err) {
    if (isRepoFileError(err, 'missing'))
      throw new AvatarError('TOOL_INVALID', `${target.rel}: no such file (use write_file to create it)`);
    if (isRepoFileError(err, 'directory'))
      throw new AvatarError('TOOL_INVALID', `${target.rel} is a directory, not a file`);
    throw err;
  }
  try {
    return await editOpened(ctx, target.rel, file, args);
  } finally {
    await file.close();
  }
}

async function editOpened(
  ctx: ToolContext,
  rel: string,
  file: RepoFile,
  args: EditFileArgs,
): Promise<ToolResult> {
  const target = { rel };
  let buf: Buffer;
  try {
    buf = await file.read({ maxBytes: READ_MAX_BYTES });
  } catch (err) {
    if (isRepoFileError(err, 'too_large')) {
      throw new AvatarError(
        'TOOL_INVALID',
        `${target.rel} is ${((err.size ?? 0) / 1048576).toFixed(1)} MB, too large for edit_file; use run_command`,
      );
    }
    throw err;
  }
  if (looksBinary(buf))
    throw new AvatarError('TOOL_INVALID', `${target.rel} is a binary file; edit_file changes text files`);
  const text = buf.toString('utf8');

  let oldText = args.old_text;
  let newText = args.new_text;
  let at = occurrences(text, oldText);
  // A file with CRLF line ends, and old_text written with LF ones: match the file's convention.
  if (at.length === 0 && text.includes('\r\n') && oldText.includes('\n') && !oldText.includes('\r')) {
    const crlfOld = oldText.replace(/\n/g, '\r\n');
    const crlfAt = occurrences(text, crlfOld);
    if (crlfAt.length > 0) {
      oldText = crlfOld;
      newText = newText.replace(/\r?\n/g, '\r\n');
      at = crlfAt;
    }
  }
  if (at.length === 0) {
    const base = `old_text was not found in ${target.rel} (0 occurrences). It must match the file exactly, whitespace and indentation included`;
    const candidates = closestCandidates(text, oldText);
    if (candidates.length === 0) {
      throw new AvatarError(
        'TOOL_INVALID',
        `${base}; nothing in the file is similar. read_file the part you want to change and copy it without the line numbers.`,
      );
    }
    throw new AvatarError(
      'TOOL_INVALID',
      `${base}. The closest ${candidates.length === 1 ? 'part' : 'parts'} of the file (the numbers before the tab are line numbers, not part of the file):\n${describeCandidates(text, candidates)}\nCopy old_text from the file as it is (without the line numbers) and try again.`,
    );
  }
  if (at.length > 1) {
    const lines = at.slice(0, 10).map((i) => lineOf(text, i));
    throw new AvatarError(
      'TOOL_INVALID',
      `old_text occurs ${at.length} times in ${target.rel} (at lines ${lines.join(', ')}${at.length > 10 ? ', …' : ''}); include more of the surrounding lines so that it matches exactly one place.`,
    );
  }
  const index = at[0] as number;
  const updated = text.slice(0, index) + newText + text.slice(index + oldText.length);
  const gate = await syntaxGate(ctx, target.rel, updated, text, 'edit');
  await file.replace(updated);
  ctx.touched.add(target.rel);
  const line = lineOf(text, index);
  const removed = oldText.split('\n').length;
  const added = newText === '' ? 0 : newText.split('\n').length;
  return {
    output: `edited ${target.rel}: replaced 1 occurrence at line ${line} (${removed} line(s) removed, ${added} added)${gate.note}`,
    brief: `line ${line}${gate.brief}`,
  };
}
