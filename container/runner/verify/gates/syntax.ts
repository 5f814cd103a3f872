/**
 * The syntax gate: every changed file of a supported language must still parse. Uses the
 * runner's syntax checker (container/runner/syntax/, tree-sitter); files of other languages, binary
 * files and deleted files are skipped.
 */
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { checkSyntax } from '../../syntax/index.ts';
import type { SyntaxCheck } from '../../syntax/index.ts';

export type SyntaxResult = SyntaxCheck;

/** `checkSyntax(path, text)` of container/runner/syntax/. */
export type SyntaxChecker = (file: string, text: string) => Promise<SyntaxResult>;

export interface SyntaxProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

export interface SyntaxGateResult {
  checked: string[];
  unsupported: string[];
  errors: SyntaxProblem[];
}

/** Larger files are not parsed (generated code, bundles). */
export const MAX_SYNTAX_BYTES = 1024 * 1024;

export async function checkChangedFilesSyntax(
  repoDir: string,
  files: readonly string[],
  check: SyntaxChecker,
): Promise<SyntaxGateResult> {
  const result: SyntaxGateResult = { checked: [], unsupported: [], errors: [] };
  for (const file of files) {
    const abs = path.join(repoDir, file);
    let st;
    try {
      st = await lstat(abs);
    } catch {
      continue; // deleted
    }
    if (!st.isFile() || st.size > MAX_SYNTAX_BYTES) {
      result.unsupported.push(file);
      continue;
    }
    const buf = await readFile(abs);
    if (buf.subarray(0, 8000).includes(0)) {
      result.unsupported.push(file);
      continue;
    }
    let r: SyntaxResult;
    try {
      r = await check(file, buf.toString('utf8'));
    } catch {
      // a checker that breaks is not the change's fault
      r = { ok: 'unsupported' };
    }
    if (r.ok === 'unsupported') result.unsupported.push(file);
    else {
      result.checked.push(file);
      if (r.ok === false) result.errors.push({ file, line: r.line, column: r.column, message: r.message });
    }
  }
  return result;
}

/** The runner's checker (container/runner/syntax/, tree-sitter). */
export const defaultSyntaxChecker: SyntaxChecker = checkSyntax;
