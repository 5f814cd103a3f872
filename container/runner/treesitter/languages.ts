/**
 * Which language a file is in, by its name. The grammars are the prebuilt .wasm files of
 * `@repomix/tree-sitter-wasms` (built with tree-sitter-cli 0.26, ABI 14–15, which the
 * `web-tree-sitter` 0.27 runtime loads); JSON has no grammar there and is checked by json.ts.
 */
export type Lang =
  | 'javascript'
  | 'typescript'
  | 'tsx'
  | 'python'
  | 'go'
  | 'rust'
  | 'java'
  | 'c'
  | 'cpp'
  | 'csharp'
  | 'ruby'
  | 'php'
  | 'json';

/** Languages parsed by tree-sitter (every Lang but json). */
export type TreeLang = Exclude<Lang, 'json'>;

export const TREE_LANGS: readonly TreeLang[] = [
  'javascript',
  'typescript',
  'tsx',
  'python',
  'go',
  'rust',
  'java',
  'c',
  'cpp',
  'csharp',
  'ruby',
  'php',
];

/** The grammar file of each language inside @repomix/tree-sitter-wasms/out/. */
export const GRAMMAR_FILES: Readonly<Record<TreeLang, string>> = {
  javascript: 'tree-sitter-javascript.wasm',
  typescript: 'tree-sitter-typescript.wasm',
  tsx: 'tree-sitter-tsx.wasm',
  python: 'tree-sitter-python.wasm',
  go: 'tree-sitter-go.wasm',
  rust: 'tree-sitter-rust.wasm',
  java: 'tree-sitter-java.wasm',
  c: 'tree-sitter-c.wasm',
  cpp: 'tree-sitter-cpp.wasm',
  csharp: 'tree-sitter-c_sharp.wasm',
  ruby: 'tree-sitter-ruby.wasm',
  php: 'tree-sitter-php.wasm',
};

const BY_EXTENSION: Readonly<Record<string, Lang>> = {
  '.js': 'javascript',
  '.mjs': 'javascript',
  '.cjs': 'javascript',
  '.jsx': 'javascript', // the JavaScript grammar parses JSX
  '.ts': 'typescript',
  '.mts': 'typescript',
  '.cts': 'typescript',
  '.tsx': 'tsx',
  '.py': 'python',
  '.pyi': 'python',
  '.go': 'go',
  '.rs': 'rust',
  '.java': 'java',
  '.c': 'c',
  '.h': 'c',
  '.cc': 'cpp',
  '.cpp': 'cpp',
  '.cxx': 'cpp',
  '.hpp': 'cpp',
  '.hh': 'cpp',
  '.hxx': 'cpp',
  '.cs': 'csharp',
  '.rb': 'ruby',
  '.php': 'php',
  '.json': 'json',
  '.jsonc': 'json',
};

/** The language of a file from its name (`.d.ts` is TypeScript), or undefined when unsupported. */
export function languageForPath(file: string): Lang | undefined {
  const name = file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1).toLowerCase();
  const dot = name.lastIndexOf('.');
  if (dot < 0) return undefined;
  return BY_EXTENSION[name.slice(dot)];
}

/**
 * JSON files that by convention allow comments and trailing commas (tsconfig.json, VS Code
 * settings, .jsonc, …): checkJson accepts both there.
 */
export function isJsoncPath(file: string): boolean {
  const rel = file.replace(/\\/g, '/');
  const name = rel.slice(rel.lastIndexOf('/') + 1).toLowerCase();
  return (
    name.endsWith('.jsonc') ||
    /^(tsconfig|jsconfig)(\..*)?\.json$/.test(name) ||
    name === '.eslintrc.json' ||
    name === 'devcontainer.json' ||
    name === '.devcontainer.json' ||
    name === 'deno.json' ||
    /(^|\/)\.vscode\/[^/]+\.json$/.test(rel)
  );
}
