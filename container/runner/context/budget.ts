/**
 * Token budgets for the first request. estimateTokens() is a heuristic meant to err on the high
 * side of OpenAI's tokenizers (o200k_base and cl100k_base), measured in
 * bench/first-request-tokens.ts and test/context/budget.test.ts:
 *   - ASCII text: one token per 3.7 characters (English prose, code, JSON schemas and file paths
 *     measure 4.0–4.6 characters per token, so this overestimates by 8–25%);
 *   - CJK ideographs, kana, Hangul and full-width forms: 1.2 tokens per character (measured
 *     0.5–0.9 per character with o200k_base, up to 1.1 with cl100k_base);
 *   - characters outside the Basic Multilingual Plane (emoji, …): three tokens each;
 *   - accented Latin, Greek, Cyrillic, Hebrew, Arabic (below U+0800): half a token each;
 *   - any other character (symbols such as ✅ or →, Indic scripts, Thai, …): one token each.
 * fitSections() then fits prioritised sections into a budget, cutting the least important first
 * and saying so in the text.
 */

const ASCII_CHARS_PER_TOKEN = 3.7;

function isCjk(c: number): boolean {
  return (
    (c >= 0x2e80 && c <= 0x9fff) || // CJK radicals, punctuation, kana, ideographs
    (c >= 0xa960 && c <= 0xa97f) ||
    (c >= 0xac00 && c <= 0xd7ff) || // Hangul
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0xfe30 && c <= 0xfe4f) ||
    (c >= 0xff00 && c <= 0xffef) // full-width forms
  );
}

/** An estimate of the tokens `text` costs a model (see the module comment). */
export function estimateTokens(text: string): number {
  let ascii = 0;
  let other = 0;
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c < 0x80) ascii++;
    else if (c >= 0xd800 && c <= 0xdfff)
      other += 1.5; // each half of a surrogate pair
    else if (isCjk(c)) other += 1.2;
    else if (c < 0x0800) other += 0.5;
    else other += 1;
  }
  return Math.ceil(ascii / ASCII_CHARS_PER_TOKEN + other);
}

/**
 * The longest prefix of `text` that fits `maxTokens`, cut at a line end when one is near, never
 * inside a surrogate pair.
 */
export function truncateToTokens(text: string, maxTokens: number): string {
  if (maxTokens <= 0) return '';
  if (estimateTokens(text) <= maxTokens) return text;
  // Binary search on the prefix length (estimateTokens is monotonic in the prefix).
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (estimateTokens(text.slice(0, mid)) <= maxTokens) lo = mid;
    else hi = mid - 1;
  }
  let end = lo;
  const c = text.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--; // do not split a surrogate pair
  const nl = text.lastIndexOf('\n', end);
  if (nl > 0 && nl >= end * 0.7) end = nl;
  return text.slice(0, end);
}

export interface Section {
  /** Stable id, for stats and tests (e.g. "brief", "instructions", "repo-map"). */
  id: string;
  /** What the note about a cut calls it ("the repository map"). */
  title: string;
  text: string;
  /** Lower numbers are more important: they are kept longest. */
  priority: number;
  /** Cut this section to a shorter prefix rather than dropping it whole (default true). */
  truncatable?: boolean;
  /** When cut, the text is at least this many tokens or dropped (default 40). */
  minTokens?: number;
}

export interface FittedSection {
  id: string;
  text: string;
  tokens: number;
  /** 'kept' whole, 'cut' to a prefix, or 'dropped'. */
  fate: 'kept' | 'cut' | 'dropped';
}

export interface FitResult {
  /** The sections in their original order, joined by blank lines, with the notes about cuts. */
  text: string;
  tokens: number;
  sections: FittedSection[];
}

/**
 * Fits sections into `budget` tokens. Sections keep their order in the text; when they do not
 * all fit, the least important (highest priority number) is cut to what is left or dropped,
 * then the next, until the whole fits. A section that was cut ends with a note saying how much
 * was left out; dropped sections are listed in a final note.
 */
export function fitSections(sections: Section[], budget: number): FitResult {
  const SEP = '\n\n';
  const sepTokens = estimateTokens(SEP);
  const parts = sections.map((s) => ({
    s,
    text: s.text.trim(),
    fate: 'kept' as FittedSection['fate'],
  }));
  const live = () => parts.filter((p) => p.fate !== 'dropped' && p.text !== '');
  const dropNote = () => {
    const dropped = parts.filter((p) => p.fate === 'dropped');
    return dropped.length === 0
      ? ''
      : `[Left out to stay within the ${budget}-token budget: ${dropped.map((p) => p.s.title).join(', ')}.]`;
  };
  const total = () => {
    const items = live().map((p) => p.text);
    const note = dropNote();
    if (note) items.push(note);
    return items.reduce((n, t) => n + estimateTokens(t), 0) + Math.max(0, items.length - 1) * sepTokens;
  };

  const order = [...parts].sort((a, b) => b.s.priority - a.s.priority);
  for (const p of order) {
    const over = total() - budget;
    if (over <= 0) break;
    if (p.text === '') continue;
    const own = estimateTokens(p.text);
    const truncatable = p.s.truncatable !== false;
    const minTokens = p.s.minTokens ?? 40;
    // The note that replaces what is cut costs tokens too.
    const note = `[… ${p.s.title} cut here to stay within the token budget …]`;
    const room = own - over - estimateTokens(note) - sepTokens;
    if (truncatable && room >= minTokens) {
      const kept = truncateToTokens(p.text, room);
      p.text = `${kept.trimEnd()}\n${note}`;
      p.fate = 'cut';
    } else {
      p.fate = 'dropped';
    }
  }
  // The drop note itself may tip the total over: drop more, least important first.
  for (const p of order) {
    if (total() <= budget) break;
    if (p.fate !== 'dropped' && p.text !== '') p.fate = 'dropped';
  }
  const items = live().map((p) => p.text);
  const note = dropNote();
  if (note) items.push(note);
  let text = items.join(SEP);
  // Only a budget smaller than the note about dropped sections gets here.
  if (estimateTokens(text) > budget) text = truncateToTokens(text, budget);
  return {
    text,
    tokens: estimateTokens(text),
    sections: parts.map((p) => ({
      id: p.s.id,
      text: p.fate === 'dropped' ? '' : p.text,
      tokens: p.fate === 'dropped' ? 0 : estimateTokens(p.text),
      fate: p.fate,
    })),
  };
}
