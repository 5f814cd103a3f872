/**
 * The parts of a file most like a text that was not found in it (edit_file's feedback): windows
 * of as many lines as the text, scored by line-by-line similarity (bigram Dice over the trimmed
 * lines; a line that differs only in indentation scores 0.95), best first, not overlapping.
 */
import { splitLines } from './text.ts';

export interface Candidate {
  /** 1-based, inclusive. */
  startLine: number;
  endLine: number;
  /** 0..1 */
  score: number;
  /** The first line of the window that differs from the wanted text, when there is one. */
  firstDifference?: { line: number; file: string; wanted: string };
}

/** Above this many line comparisons, windows are scored on a sample of the wanted lines. */
const MAX_COMPARISONS = 600_000;

/** The line's character bigrams as sorted integer codes (a multiset). */
function bigrams(s: string): Int32Array {
  const out = new Int32Array(Math.max(0, s.length - 1));
  for (let i = 0; i < s.length - 1; i++) out[i] = (s.charCodeAt(i) << 16) | s.charCodeAt(i + 1);
  return out.sort();
}

/** Dice's coefficient of two sorted bigram multisets. */
function dice(a: Int32Array, b: Int32Array): number {
  if (a.length === 0 || b.length === 0) return 0;
  let i = 0;
  let j = 0;
  let common = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as number;
    const y = b[j] as number;
    if (x === y) {
      common++;
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  return (2 * common) / (a.length + b.length);
}

class LineInfo {
  readonly trimmed: string;
  private grams: Int32Array | undefined;
  constructor(readonly raw: string) {
    this.trimmed = raw.trim();
  }
  get bigrams(): Int32Array {
    this.grams ??= bigrams(this.trimmed);
    return this.grams;
  }
}

function lineSimilarity(a: LineInfo, b: LineInfo): number {
  if (a.raw === b.raw) return 1;
  if (a.trimmed === b.trimmed) return 0.95;
  if (a.trimmed === '' || b.trimmed === '') return 0;
  return dice(a.bigrams, b.bigrams);
}

/**
 * The best `max` windows of `fileText` scoring at least `minScore` against `wanted`. Empty when
 * nothing is similar enough.
 */
export function closestCandidates(fileText: string, wanted: string, max = 3, minScore = 0.5): Candidate[] {
  const fileLines = splitLines(fileText).map((l) => new LineInfo(l));
  let wantedLines = splitLines(wanted).map((l) => new LineInfo(l));
  // Leading and trailing blank lines of the wanted text say little about where it belongs.
  while (wantedLines.length > 1 && wantedLines[0]?.trimmed === '') wantedLines = wantedLines.slice(1);
  while (wantedLines.length > 1 && wantedLines.at(-1)?.trimmed === '') wantedLines = wantedLines.slice(0, -1);
  const n = wantedLines.length;
  if (n === 0 || fileLines.length === 0) return [];
  const windows = Math.max(1, fileLines.length - n + 1);
  const size = Math.min(n, fileLines.length);
  // Which wanted lines to score on: all of them, or an even sample for very large inputs.
  let sample = Array.from({ length: size }, (_, i) => i);
  if (windows * size > MAX_COMPARISONS) {
    const k = Math.max(3, Math.floor(MAX_COMPARISONS / windows));
    sample = Array.from({ length: Math.min(k, size) }, (_, i) =>
      Math.round((i * (size - 1)) / Math.max(1, Math.min(k, size) - 1)),
    );
  }
  const scored: Array<{ start: number; score: number }> = [];
  for (let s = 0; s < windows; s++) {
    let sum = 0;
    for (const i of sample) sum += lineSimilarity(wantedLines[i] as LineInfo, fileLines[s + i] as LineInfo);
    // A window shorter than the wanted text (the file is shorter) scores its missing lines as 0.
    const score = (sum / sample.length) * (size / n);
    if (score >= minScore) scored.push({ start: s, score });
  }
  scored.sort((a, b) => b.score - a.score || a.start - b.start);
  const chosen: Candidate[] = [];
  for (const c of scored) {
    if (chosen.length >= max) break;
    const startLine = c.start + 1;
    const endLine = c.start + size;
    if (chosen.some((o) => startLine <= o.endLine && endLine >= o.startLine)) continue;
    const cand: Candidate = { startLine, endLine, score: c.score };
    for (let i = 0; i < size; i++) {
      const f = fileLines[c.start + i] as LineInfo;
      const w = wantedLines[i] as LineInfo;
      if (f.raw !== w.raw) {
        cand.firstDifference = { line: c.start + i + 1, file: f.raw, wanted: w.raw };
        break;
      }
    }
    chosen.push(cand);
  }
  return chosen;
}

function clip(s: string, max = 160): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** The candidates as the model reads them: numbered lines like read_file, and what differs. */
export function describeCandidates(fileText: string, candidates: Candidate[], maxLinesEach = 12): string {
  const lines = splitLines(fileText);
  const out: string[] = [];
  for (const c of candidates) {
    const pct = Math.round(c.score * 100);
    let note = '';
    if (c.firstDifference) {
      const d = c.firstDifference;
      const wsOnly = d.file.trim() === d.wanted.trim();
      note = wsOnly
        ? `; line ${d.line} differs only in whitespace or indentation: the file has ${JSON.stringify(clip(d.file))}, old_text has ${JSON.stringify(clip(d.wanted))}`
        : `; first difference at line ${d.line}: the file has ${JSON.stringify(clip(d.file))}, old_text has ${JSON.stringify(clip(d.wanted))}`;
    }
    out.push(`lines ${c.startLine}-${c.endLine} (${pct}% similar${note}):`);
    const width = String(c.endLine).length;
    const numbered = (i: number) => `${String(i).padStart(width)}\t${clip(lines[i - 1] ?? '', 300)}`;
    const count = c.endLine - c.startLine + 1;
    if (count <= maxLinesEach) {
      for (let i = c.startLine; i <= c.endLine; i++) out.push(numbered(i));
    } else {
      const half = Math.floor(maxLinesEach / 2);
      for (let i = c.startLine; i < c.startLine + half; i++) out.push(numbered(i));
      out.push(`\t… ${count - 2 * half} more lines …`);
      for (let i = c.endLine - half + 1; i <= c.endLine; i++) out.push(numbered(i));
    }
  }
  return out.join('\n');
}
