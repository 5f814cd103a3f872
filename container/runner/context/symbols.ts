/**
 * Key symbols of a source file — definitions of functions, classes, methods, types and exported
 * names — read from its tree-sitter tree with one query per language. Definitions inside function
 * bodies (locals) are left out. Each symbol keeps the first line of its definition as a signature
 * (what the repo map shows) and whether it looks public (exported / `pub` / `public` / capitalised
 * in Go / no leading underscore in Python).
 */
import { Query, getLanguage, parse } from '../treesitter/index.ts';
import type { Node, TreeLang } from '../treesitter/index.ts';

export type SymbolKind =
  'function' | 'class' | 'method' | 'interface' | 'type' | 'enum' | 'const' | 'module' | 'trait' | 'macro';

export interface CodeSymbol {
  name: string;
  kind: SymbolKind;
  /** 1-based line of the definition. */
  line: number;
  /** The definition's first line, trimmed and capped. */
  signature: string;
  exported: boolean;
  /** Nesting among the file's symbols (0: top level; 1: e.g. a method of a class). */
  depth: number;
}

const JS_COMMON = `
(function_declaration name: (identifier) @name) @def.function
(generator_function_declaration name: (identifier) @name) @def.function
(method_definition name: [(property_identifier) (private_property_identifier)] @name) @def.method
(variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression)]) @def.function
(export_statement declaration: (lexical_declaration (variable_declarator name: (identifier) @name value: [(string) (number) (object) (array) (call_expression) (new_expression) (template_string) (member_expression) (identifier) (true) (false)]) @def.const))
`;

const TS_EXTRA = `
(class_declaration name: (type_identifier) @name) @def.class
(abstract_class_declaration name: (type_identifier) @name) @def.class
(interface_declaration name: (type_identifier) @name) @def.interface
(type_alias_declaration name: (type_identifier) @name) @def.type
(enum_declaration name: (identifier) @name) @def.enum
(function_signature name: (identifier) @name) @def.function
(abstract_method_signature name: (property_identifier) @name) @def.method
(internal_module name: [(identifier) (nested_identifier)] @name) @def.module
`;

const QUERIES: Record<TreeLang, string> = {
  javascript: JS_COMMON + `(class_declaration name: (identifier) @name) @def.class\n`,
  typescript: JS_COMMON + TS_EXTRA,
  tsx: JS_COMMON + TS_EXTRA,
  python: `
(function_definition name: (identifier) @name) @def.function
(class_definition name: (identifier) @name) @def.class
`,
  go: `
(function_declaration name: (identifier) @name) @def.function
(method_declaration name: (field_identifier) @name) @def.method
(type_spec name: (type_identifier) @name) @def.type
`,
  rust: `
(function_item name: (identifier) @name) @def.function
(function_signature_item name: (identifier) @name) @def.function
(struct_item name: (type_identifier) @name) @def.class
(enum_item name: (type_identifier) @name) @def.enum
(union_item name: (type_identifier) @name) @def.class
(trait_item name: (type_identifier) @name) @def.trait
(type_item name: (type_identifier) @name) @def.type
(mod_item name: (identifier) @name) @def.module
(macro_definition name: (identifier) @name) @def.macro
(const_item name: (identifier) @name) @def.const
(static_item name: (identifier) @name) @def.const
`,
  java: `
(class_declaration name: (identifier) @name) @def.class
(interface_declaration name: (identifier) @name) @def.interface
(enum_declaration name: (identifier) @name) @def.enum
(record_declaration name: (identifier) @name) @def.class
(annotation_type_declaration name: (identifier) @name) @def.interface
(method_declaration name: (identifier) @name) @def.method
`,
  c: `
(function_definition declarator: (function_declarator declarator: (identifier) @name)) @def.function
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))) @def.function
(struct_specifier name: (type_identifier) @name body: (_)) @def.class
(enum_specifier name: (type_identifier) @name body: (_)) @def.enum
(type_definition declarator: (type_identifier) @name) @def.type
`,
  cpp: `
(function_definition declarator: (function_declarator declarator: [(identifier) (field_identifier) (qualified_identifier) (destructor_name) (operator_name)] @name)) @def.function
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: [(identifier) (qualified_identifier)] @name))) @def.function
(function_definition declarator: (reference_declarator (function_declarator declarator: [(identifier) (qualified_identifier)] @name))) @def.function
(class_specifier name: (type_identifier) @name body: (_)) @def.class
(struct_specifier name: (type_identifier) @name body: (_)) @def.class
(enum_specifier name: (type_identifier) @name body: (_)) @def.enum
(namespace_definition name: (namespace_identifier) @name) @def.module
(type_definition declarator: (type_identifier) @name) @def.type
`,
  csharp: `
(class_declaration name: (identifier) @name) @def.class
(struct_declaration name: (identifier) @name) @def.class
(record_declaration name: (identifier) @name) @def.class
(interface_declaration name: (identifier) @name) @def.interface
(enum_declaration name: (identifier) @name) @def.enum
(method_declaration name: (identifier) @name) @def.method
`,
  ruby: `
(method name: (_) @name) @def.method
(singleton_method name: (_) @name) @def.method
(class name: [(constant) (scope_resolution)] @name) @def.class
(module name: [(constant) (scope_resolution)] @name) @def.module
`,
  php: `
(function_definition name: (name) @name) @def.function
(class_declaration name: (name) @name) @def.class
(interface_declaration name: (name) @name) @def.interface
(trait_declaration name: (name) @name) @def.trait
(enum_declaration name: (name) @name) @def.enum
(method_declaration name: (name) @name) @def.method
`,
};

/** Nodes whose bodies hold locals: definitions inside them are not key symbols. */
const FUNCTION_TYPES: Record<TreeLang, ReadonlySet<string>> = (() => {
  const js = new Set([
    'function_declaration',
    'generator_function_declaration',
    'function_expression',
    'arrow_function',
    'method_definition',
    'function',
  ]);
  return {
    javascript: js,
    typescript: js,
    tsx: js,
    python: new Set(['function_definition', 'lambda']),
    go: new Set(['function_declaration', 'method_declaration', 'func_literal']),
    rust: new Set(['function_item', 'closure_expression']),
    java: new Set(['method_declaration', 'constructor_declaration', 'lambda_expression']),
    c: new Set(['function_definition']),
    cpp: new Set(['function_definition', 'lambda_expression']),
    csharp: new Set([
      'method_declaration',
      'constructor_declaration',
      'local_function_statement',
      'lambda_expression',
    ]),
    ruby: new Set(['method', 'singleton_method', 'block', 'do_block', 'lambda']),
    php: new Set(['function_definition', 'method_declaration', 'anonymous_function', 'arrow_function']),
  };
})();

const queries = new Map<TreeLang, Promise<Query | undefined>>();

/** The definitions query of a language, compiled once per process. */
export function symbolQuery(lang: TreeLang): Promise<Query | undefined> {
  let q = queries.get(lang);
  if (!q) {
    q = getLanguage(lang).then((language) => (language ? new Query(language, QUERIES[lang]) : undefined));
    queries.set(lang, q);
  }
  return q;
}

const MAX_SIGNATURE = 120;
/** At most this many symbols per file (the first ones in the file). */
export const MAX_SYMBOLS_PER_FILE = 200;

/**
 * The key symbols of a file, in line order; undefined when its language is not supported (or
 * its grammar cannot load). `rel` picks the language by extension.
 */
export async function extractSymbols(rel: string, text: string): Promise<CodeSymbol[] | undefined> {
  const parsed = await parse(rel, text);
  if (!parsed) return undefined;
  const { tree, lang } = parsed;
  try {
    const query = await symbolQuery(lang);
    if (!query) return undefined;
    const found: Array<CodeSymbol & { start: number; end: number }> = [];
    const seen = new Set<number>();
    for (const match of query.matches(tree.rootNode)) {
      let def: Node | undefined;
      let name: Node | undefined;
      let kind: SymbolKind | undefined;
      for (const c of match.captures) {
        if (c.name === 'name') name = c.node;
        else if (c.name.startsWith('def.')) {
          def = c.node;
          kind = c.name.slice(4) as SymbolKind;
        }
      }
      if (!def || !name || !kind) continue;
      if (seen.has(def.startIndex)) continue; // two patterns matched the same definition
      if (insideFunction(def, FUNCTION_TYPES[lang])) continue;
      seen.add(def.startIndex);
      const outer = exportedOuter(def);
      const row = outer.startPosition.row;
      const signature = signatureOf(text, outer.startIndex);
      const symbolName = name.text;
      found.push({
        name: symbolName,
        kind: kind === 'function' && lang === 'python' && insideClass(def) ? 'method' : kind,
        line: row + 1,
        signature,
        exported: isExported(lang, symbolName, signature, outer),
        depth: 0,
        start: outer.startIndex,
        end: outer.endIndex,
      });
      if (found.length >= MAX_SYMBOLS_PER_FILE) break;
    }
    found.sort((a, b) => a.start - b.start || b.end - a.end);
    // Depth: how many earlier symbols enclose this one.
    const stack: Array<{ end: number }> = [];
    for (const s of found) {
      while (stack.length > 0 && stack[stack.length - 1]!.end <= s.start) stack.pop();
      s.depth = stack.length;
      stack.push(s);
    }
    return found.map(({ start: _s, end: _e, ...sym }) => sym);
  } finally {
    tree.delete();
  }
}

/** The node a definition's text starts at: `export const x = …` starts at `export`. */
function exportedOuter(def: Node): Node {
  let outer = def;
  while (
    outer.parent &&
    (outer.parent.type === 'lexical_declaration' || outer.parent.type === 'variable_declaration')
  )
    outer = outer.parent;
  if (outer.parent?.type === 'export_statement') return outer.parent;
  return outer === def ? def : outer;
}

function insideFunction(def: Node, functionTypes: ReadonlySet<string>): boolean {
  for (let p = def.parent; p; p = p.parent) {
    if (functionTypes.has(p.type)) return true;
  }
  return false;
}

function insideClass(def: Node): boolean {
  for (let p = def.parent; p; p = p.parent) {
    if (p.type === 'class_definition') return true;
    if (p.type === 'function_definition') return false;
  }
  return false;
}

/**
 * The definition's text from its start to the end of its line, without a body that opens on the
 * same line (`{ … }` at bracket depth 0, or Python's trailing `:`).
 */
function signatureOf(text: string, start: number): string {
  const nl = text.indexOf('\n', start);
  let line = text.slice(start, nl < 0 ? text.length : nl);
  let depth = 0;
  for (let k = 0; k < line.length; k++) {
    const c = line[k];
    if (c === '(' || c === '[' || c === '<') depth++;
    else if ((c === ')' || c === ']' || c === '>') && depth > 0 && line[k - 1] !== '=') depth--;
    else if (c === '{' && depth === 0) {
      line = line.slice(0, k);
      break;
    }
  }
  line = line.replace(/\s+/g, ' ').trim().replace(/\s*:$/, '');
  return line.length > MAX_SIGNATURE ? line.slice(0, MAX_SIGNATURE - 1) + '…' : line;
}

function isExported(lang: TreeLang, name: string, signature: string, outer: Node): boolean {
  switch (lang) {
    case 'javascript':
    case 'typescript':
    case 'tsx':
      return outer.type === 'export_statement' || /^export\b/.test(signature);
    case 'python':
      return !name.startsWith('_');
    case 'go':
      return /^[A-Z]/.test(name);
    case 'rust':
      return /^pub\b/.test(signature);
    case 'java':
    case 'csharp':
    case 'php':
      return /\bpublic\b/.test(signature) || !/\b(private|protected)\b/.test(signature);
    default:
      return !name.startsWith('_');
  }
}
