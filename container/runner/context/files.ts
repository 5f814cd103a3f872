/**
 * The repository's files as the context sees them: what .gitignore ignores left out, and so are
 * vendored and generated trees (node_modules, vendor, dist, build, target, virtualenvs, …),
 * hidden directories other than a few that hold instructions and CI (.github, .cursor, …),
 * lockfiles, minified and generated sources, and binary files (by extension). Symlinks are never
 * followed, and every directory is read through a descriptor walked from the root
 * (agent/safe-fs.ts): a folder swapped for a link to outside is not listed. The walk stops after
 * `maxFiles` files (it says so: `truncated`).
 */
import type { Dirent } from 'node:fs';
import { IgnoreMatcher } from '../agent/ignore.ts';
import { withRepoDir } from '../agent/safe-fs.ts';
import { languageForPath } from '../treesitter/index.ts';
import type { Lang } from '../treesitter/index.ts';

export interface RepoFile {
  /** Repository-relative, forward slashes. */
  rel: string;
  size: number;
  /** Tree-sitter language (or json), when supported. */
  lang?: Lang;
}

export interface RepoFiles {
  files: RepoFile[];
  /** True when the walk stopped at maxFiles. */
  truncated: boolean;
  /** Files seen but left out as vendored, generated or binary. */
  skipped: number;
}

export interface ListOptions {
  /** Default 20 000. */
  maxFiles?: number;
  signal?: AbortSignal;
}

/** Directory names never entered. */
export const VENDORED_DIRS: ReadonlySet<string> = new Set([
  'node_modules',
  'bower_components',
  'jspm_packages',
  'vendor',
  'third_party',
  'third-party',
  'thirdparty',
  'dist',
  'build',
  'out',
  'target',
  'coverage',
  'htmlcov',
  '__pycache__',
  'site-packages',
  'venv',
  'Pods',
  'DerivedData',
  'obj',
]);

/** Hidden directories that are entered (instructions, CI, editor settings). */
const HIDDEN_DIRS_KEPT: ReadonlySet<string> = new Set([
  '.github',
  '.gitlab',
  '.circleci',
  '.cursor',
  '.devcontainer',
  '.husky',
  '.numa',
  '.vscode',
  '.storybook',
  '.changeset',
]);

const BINARY_EXTENSIONS: ReadonlySet<string> = new Set(
  (
    'png jpg jpeg gif bmp ico icns webp avif tif tiff psd svgz heic ' +
    'mp3 mp4 m4a wav ogg oga flac aac webm mov avi mkv ' +
    'woff woff2 ttf otf eot ' +
    'zip gz tgz bz2 xz 7z rar tar zst lz4 jar war ear whl egg ' +
    'pdf doc docx xls xlsx ppt pptx odt ods ' +
    'exe dll so dylib a o obj lib class pyc pyo pyd wasm node bin dat db sqlite sqlite3 ' +
    'iso dmg img pkg deb rpm apk ipa keystore jks p12 pfx der ' +
    'parquet avro orc npy npz pkl pickle h5 hdf5 pt pth onnx ckpt safetensors tflite'
  ).split(' '),
);

const GENERATED_NAMES: ReadonlySet<string> = new Set([
  'package-lock.json',
  'npm-shrinkwrap.json',
  'yarn.lock',
  'pnpm-lock.yaml',
  'bun.lockb',
  'bun.lock',
  'Cargo.lock',
  'poetry.lock',
  'Pipfile.lock',
  'uv.lock',
  'pdm.lock',
  'go.sum',
  'composer.lock',
  'Gemfile.lock',
  'mix.lock',
  'pubspec.lock',
  'packages.lock.json',
  '.DS_Store',
]);

const GENERATED_PATTERNS: readonly RegExp[] = [
  /\.min\.(js|css|mjs)$/i,
  /\.(js|css)\.map$/i,
  /\.map$/i,
  /\.bundle\.js$/i,
  /\.pb\.go$/,
  /_pb2(_grpc)?\.pyi?$/,
  /\.pb\.(h|cc)$/,
  /\.generated\.[a-z]+$/i,
  /\.g\.(dart|cs)$/,
  /\.designer\.cs$/i,
  /(^|\/)generated\//i,
  /\.snap$/,
  /\.lock$/,
];

/** Whether a file is left out of the context (vendored, generated or binary) by its path. */
export function isSkippedFile(rel: string): boolean {
  const name = rel.slice(rel.lastIndexOf('/') + 1);
  if (GENERATED_NAMES.has(name)) return true;
  const dot = name.lastIndexOf('.');
  if (dot > 0 && BINARY_EXTENSIONS.has(name.slice(dot + 1).toLowerCase())) return true;
  return GENERATED_PATTERNS.some((re) => re.test(rel));
}

export function isSkippedDir(name: string): boolean {
  if (name === '.git') return true;
  if (name.startsWith('.')) return !HIDDEN_DIRS_KEPT.has(name);
  return VENDORED_DIRS.has(name) || name.endsWith('.egg-info');
}

/** Directories read (or files sized) at once: each holds a few descriptors while it walks. */
const CONCURRENCY = 32;

/** `items.map(fn)` with at most `limit` calls running at once; results in order. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Lists the repository's files (sorted by path) for the context. */
export async function listRepoFiles(root: string, opts: ListOptions = {}): Promise<RepoFiles> {
  const maxFiles = opts.maxFiles ?? 20_000;
  const matcher = new IgnoreMatcher(root);
  const files: RepoFile[] = [];
  let skipped = 0;
  let truncated = false;

  // Breadth-first, a directory level at a time, so a huge subtree cannot starve the rest.
  let level: string[] = [''];
  while (level.length > 0 && !truncated) {
    if (opts.signal?.aborted) break;
    const next: string[] = [];
    // Each directory listed, and its files sized, through one descriptor of it.
    const listed = await mapLimited(level, CONCURRENCY, async (dirRel) => {
      try {
        return await withRepoDir(root, dirRel === '' ? '.' : dirRel, async (dir) => {
          const sizes = new Map<string, number>();
          for (const d of dir.entries) {
            if (!d.isFile()) continue;
            const st = await dir.lstat(d.name).catch(() => undefined);
            if (st?.isFile()) sizes.set(d.name, st.size);
          }
          return { dirRel, entries: dir.entries, sizes };
        });
      } catch {
        return { dirRel, entries: [] as Dirent[], sizes: new Map<string, number>() };
      }
    });
    const candidates: Array<{ rel: string; size: number }> = [];
    for (const { dirRel, entries, sizes } of listed) {
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const d of entries) {
        const rel = dirRel === '' ? d.name : `${dirRel}/${d.name}`;
        if (d.isDirectory()) {
          if (isSkippedDir(d.name)) continue;
          if (await matcher.isIgnored(rel, true)) continue;
          next.push(rel);
        } else if (d.isFile()) {
          if (await matcher.isIgnored(rel, false)) continue;
          if (isSkippedFile(rel)) {
            skipped++;
            continue;
          }
          if (files.length + candidates.length >= maxFiles) {
            truncated = true;
            break;
          }
          const size = sizes.get(d.name);
          if (size !== undefined) candidates.push({ rel, size });
        }
        // symlinks and other kinds: never followed, not listed
      }
      if (truncated) break;
    }
    for (const f of candidates) {
      const lang = languageForPath(f.rel);
      files.push(lang ? { ...f, lang } : f);
    }
    level = next;
  }
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { files, truncated, skipped };
}
