/**
 * The shared tree-sitter loader: `web-tree-sitter` (the WebAssembly runtime, no native build) with
 * the prebuilt grammars of `@repomix/tree-sitter-wasms`, both installed from the npm registry:
 * nothing is downloaded at run time. The runtime and each grammar are loaded on first use and
 * cached for the life of the process; a grammar that fails to load is remembered as unavailable
 * (see loadFailures()) and never retried, so callers fall back to "unsupported".
 *
 * Parsing is synchronous, so one Parser per language is shared by every caller: do not call
 * setLanguage() on a parser you got here. Trees live in WebAssembly memory: call `tree.delete()`
 * when done with one (parse() callers own the tree they get).
 */
import { createRequire } from 'node:module';
import { Language, Parser } from 'web-tree-sitter';
import type { Node, Tree } from 'web-tree-sitter';
import { GRAMMAR_FILES, TREE_LANGS, languageForPath } from './languages.ts';
import type { Lang, TreeLang } from './languages.ts';

export type { Node, Tree } from 'web-tree-sitter';
export { Language, Parser, Query } from 'web-tree-sitter';
export { GRAMMAR_FILES, TREE_LANGS, isJsoncPath, languageForPath } from './languages.ts';
export type { Lang, TreeLang } from './languages.ts';
export { checkJson } from './json.ts';
export type { JsonCheck, JsonCheckOptions } from './json.ts';

const require = createRequire(import.meta.url);
const GRAMMAR_PACKAGE = '@repomix/tree-sitter-wasms/out';

let runtime: Promise<void> | undefined;
const languages = new Map<TreeLang, Promise<Language | undefined>>();
const parsers = new Map<TreeLang, Parser>();
const failures = new Map<string, string>();

export function isTreeLang(lang: Lang): lang is TreeLang {
  return (TREE_LANGS as readonly string[]).includes(lang);
}

/** The absolute path of a language's grammar file (resolved from node_modules). */
export function grammarPath(lang: TreeLang): string {
  return require.resolve(`${GRAMMAR_PACKAGE}/${GRAMMAR_FILES[lang]}`);
}

function initRuntime(): Promise<void> {
  runtime ??= Parser.init().catch((err: unknown) => {
    failures.set('runtime', err instanceof Error ? err.message : String(err));
    throw err;
  });
  return runtime;
}

/** The grammar of `lang`, loaded once per process; undefined for json and when it cannot load. */
export function getLanguage(lang: Lang): Promise<Language | undefined> {
  if (!isTreeLang(lang)) return Promise.resolve(undefined);
  let p = languages.get(lang);
  if (!p) {
    p = (async () => {
      try {
        await initRuntime();
        return await Language.load(grammarPath(lang));
      } catch (err) {
        failures.set(lang, err instanceof Error ? err.message || err.name : String(err));
        return undefined;
      }
    })();
    languages.set(lang, p);
  }
  return p;
}

/** A parser for `lang` (shared, see above), or undefined for json and grammars that cannot load. */
export async function getParser(lang: Lang): Promise<Parser | undefined> {
  if (!isTreeLang(lang)) return undefined;
  const cached = parsers.get(lang);
  if (cached) return cached;
  const language = await getLanguage(lang);
  if (!language) return undefined;
  let parser = parsers.get(lang); // another caller may have finished first
  if (!parser) {
    parser = new Parser();
    parser.setLanguage(language);
    parsers.set(lang, parser);
  }
  return parser;
}

/**
 * Parses `text` as the language of `path`; undefined when the file's language has no tree-sitter
 * grammar here (json included: use checkJson) or its grammar cannot load. The caller owns the
 * tree (call tree.delete()).
 */
export async function parse(path: string, text: string): Promise<{ tree: Tree; lang: TreeLang } | undefined> {
  const lang = languageForPath(path);
  if (!lang || !isTreeLang(lang)) return undefined;
  const parser = await getParser(lang);
  if (!parser) return undefined;
  const tree = parser.parse(text);
  if (!tree) return undefined;
  return { tree, lang };
}

/** Why a grammar (or the runtime, key "runtime") could not load, for logs. */
export function loadFailures(): ReadonlyMap<string, string> {
  return failures;
}

export interface SyntaxErrorInfo {
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units (JavaScript string indices), as web-tree-sitter counts them. */
  column: number;
  message: string;
}

/**
 * The first syntax error of a tree in document order (an ERROR node, or a MISSING node the parser
 * inserted to recover), or undefined when the tree has none.
 */
export function firstSyntaxError(tree: Tree): SyntaxErrorInfo | undefined {
  let node: Node | null = tree.rootNode;
  if (!node.hasError) return undefined;
  // Descend into the first child that contains an error until the node is the error itself.
  for (;;) {
    if (node.isError || node.isMissing) break;
    let next: Node | null = null;
    for (let k = 0; k < node.childCount; k++) {
      const child = node.child(k);
      if (child && (child.hasError || child.isMissing || child.isError)) {
        next = child;
        break;
      }
    }
    if (!next) break;
    node = next;
  }
  const { row, column } = node.startPosition;
  let message: string;
  if (node.isMissing) {
    message = `missing ${JSON.stringify(node.type)}`;
  } else {
    const snippet = (node.text.split('\n')[0] ?? '').replace(/\s+/g, ' ').trim();
    message =
      snippet === ''
        ? 'syntax error'
        : `unexpected ${JSON.stringify(snippet.length > 40 ? snippet.slice(0, 39) + '…' : snippet)}`;
  }
  return { line: row + 1, column: column + 1, message };
}
