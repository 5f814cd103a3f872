/**
 * The syntax check write_file and edit_file run before they store a file's new content
 * (ToolContext.checkSyntax, see container/runner/syntax/). Content that does not parse is
 * rejected with where it breaks, and nothing is written; unless the content it replaces did not
 * parse either (then the change goes through with a warning, so a broken file can be repaired
 * step by step). A checker that fails or does not know the language never blocks a change.
 */
import { AvatarError } from '../../../core/errors.ts';
import { splitLines } from './text.ts';
import type { SyntaxCheckResult, ToolContext } from './types.ts';

export interface GateResult {
  /** Appended to the tool's answer ('' when there is nothing to say). */
  note: string;
  /** Appended to the progress-log brief. */
  brief: string;
}

const PASS: GateResult = { note: '', brief: '' };

async function check(ctx: ToolContext, rel: string, text: string): Promise<SyntaxCheckResult | undefined> {
  if (!ctx.checkSyntax) return undefined;
  try {
    return await ctx.checkSyntax(rel, text);
  } catch {
    return undefined;
  }
}

function clip(s: string, max = 200): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export async function syntaxGate(
  ctx: ToolContext,
  rel: string,
  next: string,
  before: string | undefined,
  action: 'edit' | 'write',
): Promise<GateResult> {
  const after = await check(ctx, rel, next);
  if (!after || after.ok !== false) return PASS;
  const where = `line ${after.line}, column ${after.column}: ${after.message}`;
  if (before !== undefined) {
    const old = await check(ctx, rel, before);
    if (old && old.ok === false) {
      return {
        note: `\nWarning: ${rel} still does not parse (${where}); it did not parse before this ${action} either.`,
        brief: ', still a syntax error',
      };
    }
  }
  const lines = splitLines(next);
  const from = Math.max(1, after.line - 1);
  const to = Math.min(lines.length, after.line + 1);
  const width = String(to).length;
  const context: string[] = [];
  for (let i = from; i <= to; i++) {
    context.push(
      `${String(i).padStart(width)}\t${clip(lines[i - 1] ?? '')}${i === after.line ? '   <-- here' : ''}`,
    );
  }
  throw new AvatarError(
    'TOOL_INVALID',
    `${action} rejected: ${rel} would not parse after this ${action} (${where}).` +
      (context.length ? `\nThe new content around it:\n${context.join('\n')}` : '') +
      `\nThe file is unchanged. Fix the ${action === 'edit' ? 'new_text' : 'content'} and try again.`,
  );
}
