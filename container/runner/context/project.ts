/**
 * Project facts for the agent: languages (by file extension counts), package managers, the test,
 * lint and format commands, the repository's instruction files and its style configs.
 *
 * Instruction files: AGENTS.md and CLAUDE.md (nested: the root one, plus for the files the brief
 * points at the closest one in their folder or above — the closest wins, as in the AGENTS.md
 * convention), .github/copilot-instructions.md, .cursorrules and .cursor/rules/*, CONTRIBUTING.md.
 * Style configs (.editorconfig, ESLint, Prettier, ruff / black / isort / flake8 sections, golangci,
 * rustfmt, clang-format, RuboCop, Biome, tsconfig) are summarised: file name plus a short excerpt.
 * Every excerpt is capped. Every file is read through agent/safe-fs.ts: only regular files inside
 * the repository, never through a link out of it (`.editorconfig -> /proc/self/environ` is left out).
 */
import { existsInRepo, readRepoText } from '../agent/safe-fs.ts';
import { detectTestCommand } from '../testing/detect.ts';
import { estimateTokens, truncateToTokens } from './budget.ts';
import type { RepoFile } from './files.ts';
import { ESLINT_CONFIG_FILES as ESLINT_CONFIGS } from '../testing/config-files.ts';

export interface Command {
  tool: string;
  command: string;
  /** Why (the file that told). */
  source: string;
}

export interface InstructionFile {
  path: string;
  kind: 'agents' | 'claude' | 'copilot' | 'cursor' | 'contributing';
  /** For nested AGENTS.md / CLAUDE.md: the folder it governs ('' for the root). */
  scope: string;
  /** Files the brief points at that this (closest) file governs. */
  governs: string[];
  excerpt: string;
  truncated: boolean;
}

export interface StyleConfig {
  path: string;
  tool: string;
  excerpt: string;
}

export interface ProjectFacts {
  languages: Array<{ name: string; files: number }>;
  packageManagers: string[];
  test?: { command: string; source: string; setup?: string };
  lint: Command[];
  format: Command[];
  instructions: InstructionFile[];
  styles: StyleConfig[];
}

export interface ProjectOptions {
  /** Files the brief points at (for nested AGENTS.md). */
  pointedFiles?: readonly string[];
  /** A configured test command (config tests.command) wins over detection. */
  testCommand?: string;
  /** Caps in tokens (defaults: 1200 for a root AGENTS.md/CLAUDE.md, 800 nested/copilot, 500 cursor, 400 CONTRIBUTING). */
  caps?: Partial<Record<InstructionFile['kind'] | 'nested', number>>;
}

const LANGUAGE_BY_EXT: Readonly<Record<string, string>> = {
  ts: 'TypeScript',
  tsx: 'TypeScript',
  mts: 'TypeScript',
  cts: 'TypeScript',
  js: 'JavaScript',
  jsx: 'JavaScript',
  mjs: 'JavaScript',
  cjs: 'JavaScript',
  py: 'Python',
  pyi: 'Python',
  go: 'Go',
  rs: 'Rust',
  java: 'Java',
  kt: 'Kotlin',
  kts: 'Kotlin',
  scala: 'Scala',
  swift: 'Swift',
  m: 'Objective-C',
  mm: 'Objective-C',
  c: 'C',
  h: 'C/C++ header',
  cc: 'C++',
  cpp: 'C++',
  cxx: 'C++',
  hpp: 'C++',
  hh: 'C++',
  cs: 'C#',
  fs: 'F#',
  rb: 'Ruby',
  php: 'PHP',
  dart: 'Dart',
  ex: 'Elixir',
  exs: 'Elixir',
  erl: 'Erlang',
  hs: 'Haskell',
  lua: 'Lua',
  r: 'R',
  pl: 'Perl',
  sh: 'Shell',
  bash: 'Shell',
  zsh: 'Shell',
  ps1: 'PowerShell',
  sql: 'SQL',
  vue: 'Vue',
  svelte: 'Svelte',
  html: 'HTML',
  htm: 'HTML',
  css: 'CSS',
  scss: 'SCSS',
  sass: 'SCSS',
  less: 'Less',
  clj: 'Clojure',
  groovy: 'Groovy',
  tf: 'Terraform',
  proto: 'Protocol Buffers',
  zig: 'Zig',
  nim: 'Nim',
  jl: 'Julia',
  ml: 'OCaml',
  elm: 'Elm',
  sol: 'Solidity',
};

/** Programming languages by how many files each has, most first. */
export function detectLanguages(files: readonly RepoFile[]): Array<{ name: string; files: number }> {
  const counts = new Map<string, number>();
  for (const f of files) {
    const base = f.rel.slice(f.rel.lastIndexOf('/') + 1);
    const dot = base.lastIndexOf('.');
    if (dot <= 0) continue;
    const name = LANGUAGE_BY_EXT[base.slice(dot + 1).toLowerCase()];
    if (name) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts.entries()]
    .map(([name, n]) => ({ name, files: n }))
    .sort((a, b) => b.files - a.files || a.name.localeCompare(b.name));
}

/** Whether `rel` exists inside the repository (a link counts only when its target stays inside). */
function exists(root: string, rel: string): Promise<boolean> {
  return existsInRepo(root, rel);
}

/** A regular file inside the repository as text, at most `max` bytes; undefined when it cannot be read safely. */
async function readText(root: string, rel: string, max = 200_000): Promise<string | undefined> {
  const t = await readRepoText(root, rel, max);
  return t !== undefined && t.length > max ? t.slice(0, max) : t;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The lines of a TOML / INI section whose header matches, up to the next unrelated header. */
export function iniSection(text: string, header: RegExp): string | undefined {
  const lines = text.split(/\r?\n/);
  const out: string[] = [];
  let inside = false;
  for (const line of lines) {
    const h = /^\s*\[+\s*([^\]]+?)\s*\]+\s*$/.exec(line);
    if (h) {
      inside = header.test(h[1]!);
      if (inside) out.push(line.trim());
      continue;
    }
    if (inside) out.push(line);
  }
  return out.length > 0 ? out.join('\n') : undefined;
}

interface RootInfo {
  root: string;
  pkg?: Record<string, unknown>;
  pyproject?: string;
  setupCfg?: string;
  toxIni?: string;
  has: (name: string) => Promise<boolean>;
}

async function packageManagers(info: RootInfo): Promise<string[]> {
  const out: string[] = [];
  const { has } = info;
  if (info.pkg) {
    const declared =
      typeof info.pkg.packageManager === 'string' ? /^(\w+)@/.exec(info.pkg.packageManager)?.[1] : undefined;
    if (await has('pnpm-lock.yaml')) out.push('pnpm');
    else if (await has('yarn.lock')) out.push('yarn');
    else if ((await has('bun.lockb')) || (await has('bun.lock'))) out.push('bun');
    else if (await has('package-lock.json')) out.push('npm');
    else out.push(declared ?? 'npm');
  }
  const py = info.pyproject ?? '';
  if (/^\s*\[tool\.poetry\]/m.test(py) || (await has('poetry.lock'))) out.push('poetry');
  else if (await has('uv.lock')) out.push('uv');
  else if (await has('pdm.lock')) out.push('pdm');
  else if (await has('Pipfile')) out.push('pipenv');
  else if ((await has('requirements.txt')) || (await has('setup.py')) || info.pyproject !== undefined)
    out.push('pip');
  if ((await has('environment.yml')) || (await has('environment.yaml'))) out.push('conda');
  if (await has('go.mod')) out.push('go modules');
  if (await has('Cargo.toml')) out.push('cargo');
  if (await has('pom.xml')) out.push('maven');
  if ((await has('build.gradle')) || (await has('build.gradle.kts'))) out.push('gradle');
  if (await has('Gemfile')) out.push('bundler');
  if (await has('composer.json')) out.push('composer');
  if (await has('Package.swift')) out.push('swiftpm');
  if (await has('pubspec.yaml')) out.push('pub');
  if (await has('mix.exs')) out.push('mix');
  return out;
}

function scriptRunner(info: RootInfo, pms: string[], script: string): string | undefined {
  const scripts = info.pkg && isRecord(info.pkg.scripts) ? info.pkg.scripts : undefined;
  if (!scripts || typeof scripts[script] !== 'string') return undefined;
  const pm = pms.find((p) => p === 'npm' || p === 'yarn' || p === 'pnpm' || p === 'bun') ?? 'npm';
  return pm === 'npm' ? `npm run ${script}` : `${pm} ${script === 'test' ? 'test' : `run ${script}`}`;
}

function hasDep(info: RootInfo, name: string): boolean {
  const pkg = info.pkg;
  if (!pkg) return false;
  return ['dependencies', 'devDependencies', 'peerDependencies'].some(
    (k) => isRecord(pkg[k]) && name in (pkg[k] as object),
  );
}

async function firstExisting(info: RootInfo, names: readonly string[]): Promise<string | undefined> {
  for (const n of names) if (await info.has(n)) return n;
  return undefined;
}

const PRETTIER_CONFIGS = [
  '.prettierrc',
  '.prettierrc.json',
  '.prettierrc.json5',
  '.prettierrc.yaml',
  '.prettierrc.yml',
  '.prettierrc.toml',
  '.prettierrc.js',
  '.prettierrc.cjs',
  '.prettierrc.mjs',
  'prettier.config.js',
  'prettier.config.cjs',
  'prettier.config.mjs',
  'prettier.config.ts',
];
const GOLANGCI_CONFIGS = ['.golangci.yml', '.golangci.yaml', '.golangci.toml', '.golangci.json'];

async function lintAndFormat(info: RootInfo, pms: string[]): Promise<{ lint: Command[]; format: Command[] }> {
  const lint: Command[] = [];
  const format: Command[] = [];
  const py = info.pyproject ?? '';
  const cfg = `${info.setupCfg ?? ''}\n${info.toxIni ?? ''}`;

  const eslint = await firstExisting(info, ESLINT_CONFIGS);
  const eslintInPkg = info.pkg !== undefined && isRecord(info.pkg.eslintConfig);
  const lintScript = scriptRunner(info, pms, 'lint');
  if (eslint || eslintInPkg) {
    lint.push({
      tool: 'eslint',
      command: lintScript ?? 'npx eslint <files>',
      source: eslint ?? 'package.json eslintConfig',
    });
  } else if (await info.has('biome.json')) {
    lint.push({ tool: 'biome', command: lintScript ?? 'npx biome check <files>', source: 'biome.json' });
  } else if (lintScript) {
    lint.push({ tool: 'lint script', command: lintScript, source: 'package.json scripts.lint' });
  }
  const ruffFile = await firstExisting(info, ['ruff.toml', '.ruff.toml']);
  if (ruffFile || /^\s*\[tool\.ruff/m.test(py)) {
    lint.push({
      tool: 'ruff',
      command: 'ruff check <files>',
      source: ruffFile ?? 'pyproject.toml [tool.ruff]',
    });
  }
  const flake8 = (await info.has('.flake8'))
    ? '.flake8'
    : /^\s*\[flake8\]/m.test(cfg)
      ? 'setup.cfg/tox.ini [flake8]'
      : undefined;
  if (flake8) lint.push({ tool: 'flake8', command: 'flake8 <files>', source: flake8 });
  if (await info.has('.pylintrc'))
    lint.push({ tool: 'pylint', command: 'pylint <files>', source: '.pylintrc' });
  if (/^\s*\[tool\.mypy\]/m.test(py) || (await info.has('mypy.ini'))) {
    lint.push({
      tool: 'mypy',
      command: 'mypy <files>',
      source: (await info.has('mypy.ini')) ? 'mypy.ini' : 'pyproject.toml [tool.mypy]',
    });
  }
  const golangci = await firstExisting(info, GOLANGCI_CONFIGS);
  const goMod = await info.has('go.mod');
  if (golangci) lint.push({ tool: 'golangci-lint', command: 'golangci-lint run', source: golangci });
  else if (goMod) lint.push({ tool: 'go vet', command: 'go vet ./...', source: 'go.mod' });
  const cargo = await info.has('Cargo.toml');
  if (cargo)
    lint.push({
      tool: 'clippy',
      command: 'cargo clippy',
      source: (await info.has('clippy.toml')) ? 'clippy.toml' : 'Cargo.toml',
    });
  if (await info.has('.rubocop.yml'))
    lint.push({ tool: 'rubocop', command: 'rubocop <files>', source: '.rubocop.yml' });

  const prettier = await firstExisting(info, PRETTIER_CONFIGS);
  const prettierInPkg = info.pkg !== undefined && info.pkg.prettier !== undefined;
  const formatScript = scriptRunner(info, pms, 'format');
  if (prettier || prettierInPkg || hasDep(info, 'prettier')) {
    format.push({
      tool: 'prettier',
      command: formatScript ?? 'npx prettier --write <files>',
      source: prettier ?? (prettierInPkg ? 'package.json prettier' : 'package.json devDependencies'),
    });
  } else if (formatScript) {
    format.push({ tool: 'format script', command: formatScript, source: 'package.json scripts.format' });
  }
  if (/^\s*\[tool\.black\]/m.test(py))
    format.push({ tool: 'black', command: 'black <files>', source: 'pyproject.toml [tool.black]' });
  else if (ruffFile || /^\s*\[tool\.ruff/m.test(py)) {
    format.push({
      tool: 'ruff format',
      command: 'ruff format <files>',
      source: ruffFile ?? 'pyproject.toml [tool.ruff]',
    });
  }
  if (/^\s*\[tool\.isort\]/m.test(py) || (await info.has('.isort.cfg'))) {
    format.push({
      tool: 'isort',
      command: 'isort <files>',
      source: /^\s*\[tool\.isort\]/m.test(py) ? 'pyproject.toml [tool.isort]' : '.isort.cfg',
    });
  }
  if (goMod) format.push({ tool: 'gofmt', command: 'gofmt -w <files>', source: 'go.mod' });
  if (cargo) {
    const rustfmt = await firstExisting(info, ['rustfmt.toml', '.rustfmt.toml']);
    format.push({ tool: 'rustfmt', command: 'cargo fmt', source: rustfmt ?? 'Cargo.toml' });
  }
  if (await info.has('.clang-format'))
    format.push({ tool: 'clang-format', command: 'clang-format -i <files>', source: '.clang-format' });
  return { lint, format };
}

// ---- instruction files ----

const DEFAULT_CAPS: Record<InstructionFile['kind'] | 'nested', number> = {
  agents: 1200,
  claude: 1200,
  nested: 800,
  copilot: 800,
  cursor: 500,
  contributing: 400,
};

/** Markdown as the agent needs it: no HTML comments, badges or image lines, no runs of blank lines. */
function tidyMarkdown(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/<!--[\s\S]*?-->/g, '')
    .split('\n')
    .filter((l) => !/^\s*(\[!\[|!\[)[^\n]*$/.test(l))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function excerptOf(text: string, capTokens: number, file: string): { excerpt: string; truncated: boolean } {
  const tidy = tidyMarkdown(text);
  if (estimateTokens(tidy) <= capTokens) return { excerpt: tidy, truncated: false };
  const kept = truncateToTokens(
    tidy,
    capTokens - estimateTokens(`[… the rest of ${file} is not shown: read_file it …]`) - 2,
  );
  const restLines = tidy.slice(kept.length).split('\n').length;
  return {
    excerpt: `${kept.trimEnd()}\n[… ${restLines} more lines of ${file}: read_file it for the rest …]`,
    truncated: true,
  };
}

function dirOf(rel: string): string {
  const k = rel.lastIndexOf('/');
  return k < 0 ? '' : rel.slice(0, k);
}

/** The closest file of `candidates` (paths of one kind, e.g. every AGENTS.md) governing `target`. */
export function closestGoverning(target: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDepth = -1;
  for (const c of candidates) {
    const scope = dirOf(c);
    if (scope === '' || target.startsWith(scope + '/')) {
      const depth = scope === '' ? 0 : scope.split('/').length;
      if (depth > bestDepth) {
        best = c;
        bestDepth = depth;
      }
    }
  }
  return best;
}

async function instructionFiles(
  root: string,
  files: readonly RepoFile[],
  opts: ProjectOptions,
): Promise<InstructionFile[]> {
  const caps = { ...DEFAULT_CAPS, ...opts.caps };
  const pointed = opts.pointedFiles ?? [];
  const out: InstructionFile[] = [];
  const add = async (
    rel: string,
    kind: InstructionFile['kind'],
    cap: number,
    scope = '',
    governs: string[] = [],
  ) => {
    const text = await readText(root, rel);
    if (text === undefined || text.trim() === '') return;
    out.push({ path: rel, kind, scope, governs, ...excerptOf(text, cap, rel) });
  };

  for (const [kind, name] of [
    ['agents', 'agents.md'],
    ['claude', 'claude.md'],
  ] as const) {
    const all = files
      .filter((f) => f.rel.slice(f.rel.lastIndexOf('/') + 1).toLowerCase() === name)
      .map((f) => f.rel);
    const rootFile = all.find((r) => !r.includes('/'));
    if (rootFile) await add(rootFile, kind, caps[kind], '');
    // For each file the brief points at, the closest one wins.
    const closest = new Map<string, string[]>();
    for (const p of pointed) {
      const c = closestGoverning(p, all);
      if (c && c !== rootFile) closest.set(c, [...(closest.get(c) ?? []), p]);
    }
    for (const [c, governs] of [...closest.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      await add(c, kind, caps.nested, dirOf(c), governs);
    }
  }
  const has = (rel: string) => files.some((f) => f.rel === rel);
  if (has('.github/copilot-instructions.md'))
    await add('.github/copilot-instructions.md', 'copilot', caps.copilot);
  if (await exists(root, '.cursorrules')) await add('.cursorrules', 'cursor', caps.cursor);
  const cursorRules = files.filter((f) => /^\.cursor\/rules\/[^/]+\.(mdc|md)$/.test(f.rel)).slice(0, 3);
  for (const f of cursorRules) await add(f.rel, 'cursor', Math.floor(caps.cursor / 2));
  const contributing = [
    'CONTRIBUTING.md',
    '.github/CONTRIBUTING.md',
    'docs/CONTRIBUTING.md',
    'CONTRIBUTING.rst',
    'CONTRIBUTING',
  ].find(has);
  if (contributing) await add(contributing, 'contributing', caps.contributing);
  return out;
}

// ---- style configs ----

const STYLE_MAX_LINES = 12;
const STYLE_MAX_CHARS = 500;

function shortExcerpt(text: string, opts: { stripComments?: boolean } = {}): string {
  let lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (opts.stripComments) {
    lines = lines.filter((l) => !/^\s*(#|;|\/\/)/.test(l));
  }
  lines = lines.map((l) => l.replace(/\s+$/, '')).filter((l) => l.trim() !== '');
  let out = lines.slice(0, STYLE_MAX_LINES).join('\n');
  let cut = lines.length > STYLE_MAX_LINES;
  if (out.length > STYLE_MAX_CHARS) {
    out = out.slice(0, STYLE_MAX_CHARS);
    out = out.slice(0, Math.max(out.lastIndexOf('\n'), 0)) || out;
    cut = true;
  }
  return cut ? `${out}\n…` : out;
}

async function styleConfigs(info: RootInfo, files: readonly RepoFile[]): Promise<StyleConfig[]> {
  const out: StyleConfig[] = [];
  const addFile = async (rel: string, tool: string, stripComments = true) => {
    const text = await readText(info.root, rel, 50_000);
    if (text === undefined || text.trim() === '') return;
    out.push({ path: rel, tool, excerpt: shortExcerpt(text, { stripComments }) });
  };
  if (await info.has('.editorconfig')) await addFile('.editorconfig', 'EditorConfig');
  const eslint = await firstExisting(info, ESLINT_CONFIGS);
  if (eslint) await addFile(eslint, 'ESLint', false);
  else if (info.pkg && isRecord(info.pkg.eslintConfig)) {
    out.push({
      path: 'package.json (eslintConfig)',
      tool: 'ESLint',
      excerpt: shortExcerpt(JSON.stringify(info.pkg.eslintConfig, null, 2)),
    });
  }
  const prettier = await firstExisting(info, PRETTIER_CONFIGS);
  if (prettier) await addFile(prettier, 'Prettier', false);
  else if (info.pkg && info.pkg.prettier !== undefined) {
    out.push({
      path: 'package.json (prettier)',
      tool: 'Prettier',
      excerpt: shortExcerpt(JSON.stringify(info.pkg.prettier, null, 2)),
    });
  }
  if (await info.has('biome.json')) await addFile('biome.json', 'Biome', false);
  const py = info.pyproject;
  if (py) {
    for (const [re, tool] of [
      [/^tool\.ruff(\..*)?$/, 'ruff'],
      [/^tool\.black$/, 'black'],
      [/^tool\.isort$/, 'isort'],
    ] as const) {
      const sec = iniSection(py, re);
      if (sec)
        out.push({
          path: `pyproject.toml [${tool === 'ruff' ? 'tool.ruff' : `tool.${tool}`}]`,
          tool,
          excerpt: shortExcerpt(sec, { stripComments: true }),
        });
    }
  }
  for (const [rel, tool] of [
    ['ruff.toml', 'ruff'],
    ['.ruff.toml', 'ruff'],
    ['.flake8', 'flake8'],
    ['.pylintrc', 'pylint'],
    ['.isort.cfg', 'isort'],
    ['rustfmt.toml', 'rustfmt'],
    ['.rustfmt.toml', 'rustfmt'],
    ['clippy.toml', 'clippy'],
    ['.golangci.yml', 'golangci-lint'],
    ['.golangci.yaml', 'golangci-lint'],
    ['.golangci.toml', 'golangci-lint'],
    ['.clang-format', 'clang-format'],
    ['.rubocop.yml', 'RuboCop'],
    ['.stylelintrc.json', 'Stylelint'],
    ['checkstyle.xml', 'Checkstyle'],
  ] as const) {
    if (await info.has(rel)) await addFile(rel, tool);
  }
  const flake8InCfg = info.setupCfg ? iniSection(info.setupCfg, /^flake8$/) : undefined;
  if (flake8InCfg)
    out.push({
      path: 'setup.cfg [flake8]',
      tool: 'flake8',
      excerpt: shortExcerpt(flake8InCfg, { stripComments: true }),
    });
  if (files.some((f) => f.rel === 'tsconfig.json')) {
    const ts = await readText(info.root, 'tsconfig.json', 50_000);
    if (ts) {
      const opts = /"compilerOptions"\s*:\s*\{([^}]*)\}/.exec(ts)?.[1];
      const keys = (opts ?? '')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) =>
          /^"(strict\w*|noImplicit\w*|noUnused\w*|noUnchecked\w*|exactOptional\w*|target|module|moduleResolution|jsx|verbatimModuleSyntax|allowImportingTsExtensions|isolatedModules)"/.test(
            l,
          ),
        );
      if (keys.length > 0)
        out.push({
          path: 'tsconfig.json (compilerOptions)',
          tool: 'TypeScript',
          excerpt: keys.slice(0, STYLE_MAX_LINES).join('\n'),
        });
    }
  }
  return out;
}

/** Detects the project's facts (see the module comment). */
export async function detectProject(
  root: string,
  files: readonly RepoFile[],
  opts: ProjectOptions = {},
): Promise<ProjectFacts> {
  const existsCache = new Map<string, Promise<boolean>>();
  const has = (name: string) => {
    let p = existsCache.get(name);
    if (!p) {
      p = exists(root, name);
      existsCache.set(name, p);
    }
    return p;
  };
  let pkg: Record<string, unknown> | undefined;
  const pkgText = await readText(root, 'package.json');
  if (pkgText !== undefined) {
    try {
      const parsed: unknown = JSON.parse(pkgText);
      if (isRecord(parsed)) pkg = parsed;
    } catch {
      pkg = {};
    }
  }
  const info: RootInfo = {
    root,
    pkg,
    pyproject: await readText(root, 'pyproject.toml'),
    setupCfg: await readText(root, 'setup.cfg'),
    toxIni: await readText(root, 'tox.ini'),
    has,
  };
  const pms = await packageManagers(info);
  const detected = await detectTestCommand(root, opts.testCommand).catch(() => undefined);
  const { lint, format } = await lintAndFormat(info, pms);
  return {
    languages: detectLanguages(files),
    packageManagers: pms,
    test: detected
      ? {
          command: detected.command,
          source: detected.source,
          ...(detected.setup ? { setup: detected.setup } : {}),
        }
      : undefined,
    lint,
    format,
    instructions: await instructionFiles(root, files, opts),
    styles: await styleConfigs(info, files),
  };
}
