/**
 * The repository map: files ranked by relevance to the task, each with its key symbols (from
 * tree-sitter: symbols.ts), rendered within a token budget.
 *
 * indexRepository() parses up to `maxParseFiles` source files (the files the brief points at
 * first, then shallower paths; files over `maxFileBytes` or with NUL bytes are not parsed) and
 * collects, per file, its definitions and the identifiers it uses. A file that uses a name another
 * file defines references that file; names defined in many files are too common to count.
 * rankFiles() runs a PageRank over those references, personalised towards the files the brief
 * points at (aider's approach; recency is unknown in a shallow clone, so it plays no part), and
 * puts the files the brief points at first. renderRepoMap() fills the budget: the best files with
 * their symbols (line numbers point at definitions), then bare paths, then a count of the rest.
 */
import { readRepoText } from '../agent/safe-fs.ts';
import { estimateTokens } from './budget.ts';
import type { DefinitionIndex } from './brief.ts';
import type { RepoFile } from './files.ts';
import { extractSymbols } from './symbols.ts';
import type { CodeSymbol } from './symbols.ts';

export interface IndexOptions {
  root: string;
  files: readonly RepoFile[];
  /** Files to parse first (the brief's likely files). */
  first?: readonly string[];
  /** Default 2500. */
  maxParseFiles?: number;
  /** Default 256 KiB. */
  maxFileBytes?: number;
  signal?: AbortSignal;
  now?: () => number;
}

export interface RepoIndex {
  files: readonly RepoFile[];
  /** Per parsed file, its key symbols in line order. */
  symbols: ReadonlyMap<string, CodeSymbol[]>;
  /** File → files it references, with weights. */
  refs: ReadonlyMap<string, ReadonlyMap<string, number>>;
  defs: DefinitionIndex;
  /** Name → how many files (other than its definers) use it. */
  useCount: ReadonlyMap<string, number>;
  stats: { parsed: number; parseable: number; skippedLarge: number; ms: number };
}

/** Names too generic to link files by. */
const COMMON_NAMES = new Set([
  'constructor',
  'init',
  '__init__',
  'main',
  'run',
  'get',
  'set',
  'new',
  'test',
  'setup',
  'default',
  'index',
  'name',
  'value',
  'data',
  'self',
  'this',
  'toString',
  'String',
  'Error',
]);
/** A name defined in more files than this links nothing. */
const MAX_DEFINERS = 8;
const IDENT = /[A-Za-z_$][\w$]{2,}/g;

function depthOf(rel: string): number {
  let n = 0;
  for (const c of rel) if (c === '/') n++;
  return n;
}

function isTestPath(rel: string): boolean {
  return (
    /(^|\/)(__tests__|tests?|spec|e2e|fixtures?|testdata|examples?|docs?|benchmarks?)\//i.test(rel) ||
    /[._-](test|spec)\.[a-z]+$/i.test(rel) ||
    /(^|\/)test_[^/]+\.py$/.test(rel)
  );
}

/** Parses the repository's source files (see the module comment). */
export async function indexRepository(opts: IndexOptions): Promise<RepoIndex> {
  const now = opts.now ?? (() => performance.now());
  const started = now();
  const maxParse = opts.maxParseFiles ?? 2500;
  const maxBytes = opts.maxFileBytes ?? 256 * 1024;
  const first = new Set(opts.first ?? []);
  const parseable = opts.files.filter((f) => f.lang !== undefined && f.lang !== 'json');
  let skippedLarge = 0;
  const candidates = parseable
    .filter((f) => {
      if (f.size > maxBytes) {
        skippedLarge++;
        return false;
      }
      return true;
    })
    .sort((a, b) => {
      const fa = first.has(a.rel) ? 0 : 1;
      const fb = first.has(b.rel) ? 0 : 1;
      if (fa !== fb) return fa - fb;
      const ta = isTestPath(a.rel) ? 1 : 0;
      const tb = isTestPath(b.rel) ? 1 : 0;
      if (ta !== tb) return ta - tb;
      return depthOf(a.rel) - depthOf(b.rel) || (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0);
    })
    .slice(0, maxParse);

  const symbols = new Map<string, CodeSymbol[]>();
  const used = new Map<string, Map<string, number>>();
  // Reads run a few at a time; parsing is synchronous inside extractSymbols.
  const BATCH = 32;
  for (let k = 0; k < candidates.length; k += BATCH) {
    if (opts.signal?.aborted) break;
    const batch = candidates.slice(k, k + BATCH);
    const texts = await Promise.all(batch.map((f) => readRepoText(opts.root, f.rel, maxBytes)));
    for (let j = 0; j < batch.length; j++) {
      const text = texts[j];
      const f = batch[j]!;
      if (text === undefined || text.slice(0, 8000).includes('\0')) continue;
      let syms: CodeSymbol[] | undefined;
      try {
        syms = await extractSymbols(f.rel, text);
      } catch {
        syms = undefined; // a file the parser chokes on is left out of the map's symbols
      }
      if (!syms) continue;
      symbols.set(f.rel, syms);
      const counts = new Map<string, number>();
      for (const m of text.matchAll(IDENT)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
      used.set(f.rel, counts);
    }
  }

  const defs = new Map<string, Array<{ rel: string; name: string; exported: boolean }>>();
  for (const [rel, syms] of symbols) {
    for (const s of syms) {
      const key = s.name.toLowerCase();
      const list = defs.get(key) ?? [];
      if (!list.some((d) => d.rel === rel && d.name === s.name))
        list.push({ rel, name: s.name, exported: s.exported });
      defs.set(key, list);
    }
  }
  // Case-sensitive definers for the reference graph.
  const definers = new Map<string, string[]>();
  for (const [rel, syms] of symbols) {
    for (const s of syms) {
      if (s.name.length < 3 || COMMON_NAMES.has(s.name)) continue;
      const list = definers.get(s.name) ?? [];
      if (!list.includes(rel)) list.push(rel);
      definers.set(s.name, list);
    }
  }
  const refs = new Map<string, Map<string, number>>();
  const useCount = new Map<string, number>();
  for (const [rel, counts] of used) {
    const out = new Map<string, number>();
    for (const [name, count] of counts) {
      const d = definers.get(name);
      if (!d || d.length > MAX_DEFINERS) continue;
      const targets = d.filter((t) => t !== rel);
      if (targets.length === 0) continue;
      useCount.set(name, (useCount.get(name) ?? 0) + 1);
      const w = Math.sqrt(count) / d.length;
      for (const t of targets) out.set(t, (out.get(t) ?? 0) + w);
    }
    if (out.size > 0) refs.set(rel, out);
  }
  return {
    files: opts.files,
    symbols,
    refs,
    defs,
    useCount,
    stats: {
      parsed: symbols.size,
      parseable: parseable.length,
      skippedLarge,
      ms: Math.round(now() - started),
    },
  };
}

export interface RankedFile {
  rel: string;
  /** PageRank share (sums to ~1 over all files). */
  rank: number;
  /** The brief's score for this file (0 when it does not point at it). */
  focus: number;
}

/**
 * Files by relevance: those the brief points at first (highest focus first), then by PageRank
 * personalised towards them; ties by shallower path.
 */
export function rankFiles(index: RepoIndex, focus: ReadonlyMap<string, number>): RankedFile[] {
  const nodes = index.files.map((f) => f.rel);
  const n = nodes.length;
  if (n === 0) return [];
  const id = new Map(nodes.map((rel, k) => [rel, k] as const));
  const personal = new Float64Array(n);
  let focusTotal = 0;
  for (const [rel, s] of focus) {
    const k = id.get(rel);
    if (k !== undefined && s > 0) {
      personal[k] = s;
      focusTotal += s;
    }
  }
  if (focusTotal === 0) personal.fill(1 / n);
  else for (let k = 0; k < n; k++) personal[k]! /= focusTotal;

  const out: Array<Array<[number, number]>> = nodes.map(() => []);
  const outSum = new Float64Array(n);
  for (const [from, targets] of index.refs) {
    const a = id.get(from);
    if (a === undefined) continue;
    for (const [to, w] of targets) {
      const b = id.get(to);
      if (b === undefined) continue;
      out[a]!.push([b, w]);
      outSum[a] = outSum[a]! + w;
    }
  }
  const d = 0.85;
  let rank = Float64Array.from(personal);
  for (let iter = 0; iter < 30; iter++) {
    const next = new Float64Array(n);
    let dangling = 0;
    for (let a = 0; a < n; a++) {
      const r = rank[a]!;
      if (outSum[a] === 0) {
        dangling += r;
        continue;
      }
      for (const [b, w] of out[a]!) next[b] = next[b]! + (d * r * w) / outSum[a]!;
    }
    for (let k = 0; k < n; k++) next[k] = next[k]! + (1 - d + d * dangling) * personal[k]!;
    rank = next;
  }
  return nodes
    .map((rel, k) => ({ rel, rank: rank[k]!, focus: focus.get(rel) ?? 0 }))
    .sort(
      (a, b) =>
        b.focus - a.focus ||
        b.rank - a.rank ||
        depthOf(a.rel) - depthOf(b.rel) ||
        (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0),
    );
}

export interface RenderOptions {
  /** Identifiers the brief mentions: their definitions are shown first. */
  mentioned?: readonly string[];
  /** Most symbols shown for a file the brief points at (default 20) and for others (default 8). */
  maxSymbolsFocus?: number;
  maxSymbols?: number;
}

export interface RepoMap {
  text: string;
  tokens: number;
  /** Files shown with their symbols. */
  filesWithSymbols: number;
  /** Files shown as a bare path. */
  filesPathOnly: number;
  symbolsShown: number;
  totalFiles: number;
}

const HEADER = 'Repository map (most relevant files first; "N:" is the line a definition starts on):';

/** Renders the map within `budgetTokens` (see the module comment). */
export function renderRepoMap(
  index: RepoIndex,
  ranked: readonly RankedFile[],
  budgetTokens: number,
  opts: RenderOptions = {},
): RepoMap {
  const empty: RepoMap = {
    text: '',
    tokens: 0,
    filesWithSymbols: 0,
    filesPathOnly: 0,
    symbolsShown: 0,
    totalFiles: ranked.length,
  };
  if (budgetTokens <= 0 || ranked.length === 0) return empty;
  const mentioned = new Set(opts.mentioned ?? []);
  const maxFocus = opts.maxSymbolsFocus ?? 20;
  const maxOther = opts.maxSymbols ?? 8;

  const lines: string[] = [HEADER];
  let used = estimateTokens(HEADER) + 1;
  // The closing "… N more files" line must always fit.
  const reserve = estimateTokens('… and 1000000 more files (list_files shows them)') + 1;
  let withSymbols = 0;
  let pathOnly = 0;
  let symbolsShown = 0;
  const shownFiles = new Set<string>();

  const fits = (text: string) => used + estimateTokens(text) + 1 <= budgetTokens - reserve;
  const addLine = (text: string) => {
    lines.push(text);
    used += estimateTokens(text) + 1;
  };

  // Phase 1: files with their symbols, while a file's block fits.
  for (const f of ranked) {
    const syms = index.symbols.get(f.rel);
    if (!syms || syms.length === 0) {
      if (f.focus > 0) {
        if (!fits(f.rel)) break;
        addLine(f.rel);
        shownFiles.add(f.rel);
        pathOnly++;
        continue;
      }
      // Files without symbols wait for phase 2 unless the brief points at them.
      continue;
    }
    const chosen = chooseSymbols(syms, index, mentioned, f.focus > 0 ? maxFocus : maxOther);
    let block = [f.rel, ...chosen.map((s) => `${'  '.repeat(s.depth + 1)}${s.line}: ${s.signature}`)];
    // Shrink the block until it fits; a file that cannot fit even its path ends phase 1.
    while (block.length > 1 && !fits(block.join('\n'))) block = block.slice(0, -1);
    if (!fits(block.join('\n'))) break;
    for (const line of block) addLine(line);
    shownFiles.add(f.rel);
    if (block.length > 1) {
      withSymbols++;
      symbolsShown += block.length - 1;
    } else {
      pathOnly++;
    }
    if (block.length - 1 < chosen.length) break; // the budget is nearly spent
  }
  // Phase 2: bare paths of the remaining files, in rank order.
  const rest = ranked.filter((f) => !shownFiles.has(f.rel));
  let restShown = 0;
  for (const f of rest) {
    if (!fits(f.rel)) break;
    addLine(f.rel);
    pathOnly++;
    restShown++;
  }
  if (shownFiles.size + restShown === 0) return empty; // not even one path fits
  const remaining = rest.length - restShown;
  if (remaining > 0) lines.push(`… and ${remaining} more files (list_files shows them)`);
  const text = lines.join('\n');
  return {
    text,
    tokens: estimateTokens(text),
    filesWithSymbols: withSymbols,
    filesPathOnly: pathOnly,
    symbolsShown,
    totalFiles: ranked.length,
  };
}

/** The file's most telling symbols (mentioned, used elsewhere, exported, top level), in line order. */
function chooseSymbols(
  syms: readonly CodeSymbol[],
  index: RepoIndex,
  mentioned: ReadonlySet<string>,
  max: number,
): CodeSymbol[] {
  if (syms.length <= max) return [...syms];
  const score = (s: CodeSymbol) =>
    (mentioned.has(s.name) ? 1000 : 0) +
    (s.exported ? Math.min(50, index.useCount.get(s.name) ?? 0) * 4 : 0) +
    (s.exported ? 3 : 0) +
    (s.depth === 0 ? 2 : 0) +
    (s.kind === 'class' || s.kind === 'interface' ? 1 : 0);
  const best = [...syms]
    .map((s, k) => ({ s, k, score: score(s) }))
    .sort((a, b) => b.score - a.score || a.k - b.k)
    .slice(0, max);
  const keep = new Set(best.map((e) => e.s));
  // A method is shown under its class: keep the enclosing symbols of what was chosen.
  for (const { k } of best) {
    let depth = syms[k]!.depth;
    for (let j = k - 1; j >= 0 && depth > 0; j--) {
      if (syms[j]!.depth < depth) {
        keep.add(syms[j]!);
        depth = syms[j]!.depth;
      }
    }
  }
  return syms.filter((s) => keep.has(s));
}
