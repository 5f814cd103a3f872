/**
 * Syntax check of a file's (new) content, by its name: tree-sitter grammars through the shared
 * loader (container/runner/treesitter/) for JavaScript, TypeScript/TSX, Python, Go, Rust, Java,
 * C, C++, C#, Ruby and PHP, and a positional JSON check (comments and trailing commas allowed in
 * tsconfig.json and the other JSONC files). Other files, and languages whose grammar cannot load,
 * are `unsupported`. A `.h` header passes when it parses as C or as C++.
 *
 * The agent's write_file/edit_file reject content that breaks a file (agent/syntax-gate.ts); the
 * quality gates check the changed files before the commit.
 */
import { checkJson, firstSyntaxError, isJsoncPath, languageForPath, parse } from '../treesitter/index.ts';
import type { Lang } from '../treesitter/index.ts';

export type SyntaxCheck =
  { ok: true } | { ok: false; line: number; column: number; message: string } | { ok: 'unsupported' };

const LANGUAGE_NAMES: Readonly<Record<Lang, string>> = {
  javascript: 'JavaScript',
  typescript: 'TypeScript',
  tsx: 'TSX',
  python: 'Python',
  go: 'Go',
  rust: 'Rust',
  java: 'Java',
  c: 'C',
  cpp: 'C++',
  csharp: 'C#',
  ruby: 'Ruby',
  php: 'PHP',
  json: 'JSON',
};

/** The language checkSyntax would check `path` as, or undefined when it does not check it. */
export function syntaxLanguage(path: string): string | undefined {
  const lang = languageForPath(path);
  return lang ? LANGUAGE_NAMES[lang] : undefined;
}

async function treeCheck(path: string, text: string): Promise<SyntaxCheck> {
  const parsed = await parse(path, text);
  if (!parsed) return { ok: 'unsupported' };
  try {
    const err = firstSyntaxError(parsed.tree);
    if (!err) return { ok: true };
    return {
      ok: false,
      line: err.line,
      column: err.column,
      message: `${LANGUAGE_NAMES[parsed.lang]} syntax error: ${err.message}`,
    };
  } finally {
    parsed.tree.delete();
  }
}

/** Checks `text` as the content of the file at `path` (repository-relative or absolute; only the name counts). */
export async function checkSyntax(path: string, text: string): Promise<SyntaxCheck> {
  const lang = languageForPath(path);
  if (!lang) return { ok: 'unsupported' };
  if (lang === 'json') {
    const r = checkJson(text, { jsonc: isJsoncPath(path) });
    return r.ok ? r : { ...r, message: `JSON syntax error: ${r.message}` };
  }
  const result = await treeCheck(path, text);
  if (result.ok === false && /\.h$/i.test(path)) {
    // A header may be C++ as well as C.
    const asCpp = await treeCheck(`${path}pp`, text);
    if (asCpp.ok === true) return asCpp;
  }
  return result;
}
