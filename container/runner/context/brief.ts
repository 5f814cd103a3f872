/**
 * The structured brief: a task's title and description (any language; text is kept exactly as
 * written) turned into functional requirements, acceptance criteria and the files the task most
 * likely touches, plus the text of the task's solution and requirement documents when the backend
 * offers them (GET /api/solutions/{id}, GET /api/requirements/{id}: a 404 is normal and silent).
 *
 * - Requirements: list items (bullets, numbers, check boxes, 1、 （1）) outside the acceptance and
 *   background sections; without any, the sentences of the description; without a description,
 *   the title.
 * - Acceptance criteria: the items of a section headed "Acceptance criteria", "AC:", "Definition
 *   of done", "验收标准", "受け入れ基準", … ; without one, derived ("the project's tests pass and
 *   every requirement is met").
 * - Likely files: paths and identifiers the text mentions, matched against the repository's files
 *   and the symbols they define, ranked.
 */
import { z } from 'zod';
import { describeError, isAvatarError } from '../../../core/errors.ts';
import type { NumaClient } from '../../../core/numa/client.ts';
import type { Brief } from '../agent/prompt.ts';
import type { RepoFile } from './files.ts';

export interface LinkedDocument {
  kind: 'solution' | 'requirement';
  id: string;
  title: string;
  content: string;
}

export interface Mentions {
  /** Path-like strings (`src/a.ts`, `lib/`, `README.md`), as written, without leading `./`. */
  paths: string[];
  /** Code identifiers (camelCase, snake_case, PascalCase, `backticked`, `call()`). */
  identifiers: string[];
  /** Other words (ASCII, 4+ letters, not common English), lower-cased. */
  words: string[];
}

export interface LikelyFile {
  path: string;
  score: number;
  /** Why, for people: e.g. "named in the task", "defines validateUser". */
  reasons: string[];
}

export interface TaskBrief extends Brief {
  requirements: string[];
  acceptance: string[];
  /** True when the task had no acceptance criteria and these were derived. */
  acceptanceDerived: boolean;
  mentions: Mentions;
  likelyFiles: LikelyFile[];
  documents: LinkedDocument[];
}

export interface TextAnalysis {
  requirements: string[];
  acceptance: string[];
  acceptanceDerived: boolean;
}

const MAX_ITEMS = 30;
const MAX_ITEM_CHARS = 400;

// ---- sections and items ----

const ACCEPTANCE_HEADING =
  /^(?:acceptance(?:\s+criteria|\s+tests?)?|ac|a\.c\.|definition\s+of\s+done|dod|done\s+when|success\s+criteria|验收标准|验收条件|验收准则|验收|完成标准|完成条件|驗收標準|驗收條件|受け入れ(?:基準|条件)|受入(?:基準|条件)|完了条件|인수\s*조건|수락\s*기준|criterios\s+de\s+aceptaci[oó]n|crit[eè]res\s+d['’]acceptation|akzeptanzkriterien|crit[eé]rios\s+de\s+aceita[cç][aã]o)(?=$|[\s:：(（\-–—])/i;

const NOTES_HEADING =
  /^(?:background|context|motivation|notes?|references?|links?|screenshots?|additional\s+context|背景|说明|說明|备注|備註|参考|參考|上下文|动机|補足|備考|참고|배경)(?=$|[\s:：(（\-–—])/i;

const LIST_ITEM =
  /^\s*(?:[-*+•·▪►]\s+(?:\[[ xX]\]\s+)?|\d{1,3}[.)]\s+|\d{1,3}[、．]\s*|[（(]\d{1,3}[)）]\s*|[a-z][.)]\s+|[一二三四五六七八九十]{1,3}[、.．]\s*|[①-⑳]\s*)(.+)$/;

type SectionKind = 'requirements' | 'acceptance' | 'notes';

interface Heading {
  text: string;
  /** Text after a "Heading:" on the same line (e.g. "AC: the button is blue"). */
  rest?: string;
}

function headingOf(line: string): Heading | undefined {
  const t = line.trim();
  let m = /^#{1,6}\s+(.+?)\s*#*$/.exec(t);
  if (m) return { text: stripColon(m[1]!) };
  m = /^(?:\*\*|__)(.+?)(?:\*\*|__)\s*[:：]?\s*$/.exec(t);
  if (m) return { text: stripColon(m[1]!) };
  m = /^【(.+?)】\s*(.*)$/.exec(t);
  if (m) return { text: stripColon(m[1]!), rest: m[2]!.trim() || undefined };
  // "Acceptance criteria:" / "验收标准：" alone, or with its first criterion after the colon.
  m = /^([^:：]{1,40})[:：]\s*(.*)$/.exec(t);
  if (m && !LIST_ITEM.test(t)) {
    const text = m[1]!.trim();
    if (ACCEPTANCE_HEADING.test(text) || NOTES_HEADING.test(text))
      return { text, rest: m[2]!.trim() || undefined };
    if (m[2]!.trim() === '' && !/[.。!！?？]/.test(text)) return { text };
  }
  return undefined;
}

function stripColon(s: string): string {
  return s.replace(/[:：]\s*$/, '').trim();
}

function kindOf(heading: string): SectionKind {
  const h = heading
    .replace(/^[\d.\s、)）]+/, '')
    .replace(/\*+/g, '')
    .trim();
  if (ACCEPTANCE_HEADING.test(h)) return 'acceptance';
  if (NOTES_HEADING.test(h)) return 'notes';
  return 'requirements';
}

function cap(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > MAX_ITEM_CHARS ? t.slice(0, MAX_ITEM_CHARS - 1) + '…' : t;
}

/** Splits prose into sentences (Western and CJK punctuation); keeps file names like a.ts intact. */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (let k = 0; k < text.length; k++) {
    const c = text[k]!;
    const cjkEnd = c === '。' || c === '！' || c === '？' || c === '；';
    const westEnd =
      (c === '.' || c === '!' || c === '?' || c === ';') && (k + 1 >= text.length || /\s/.test(text[k + 1]!));
    if (cjkEnd || westEnd) {
      // "e.g. " / "i.e. " / "etc. " mid-sentence are not sentence ends.
      if (c === '.' && /\b(?:e\.g|i\.e|etc|vs|cf|approx)$/i.test(text.slice(Math.max(0, k - 7), k))) continue;
      out.push(text.slice(start, k + 1));
      start = k + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((s) => s.trim()).filter((s) => s.replace(/[\p{P}\s]/gu, '').length >= 2);
}

/** Requirements and acceptance criteria from a task's title and description. */
export function analyzeText(title: string, description: string): TextAnalysis {
  const sections: Array<{ kind: SectionKind; items: string[]; prose: string[] }> = [];
  let current = { kind: 'requirements' as SectionKind, items: [] as string[], prose: [] as string[] };
  sections.push(current);
  let inFence = false;
  // "… done. 验收标准：测试通过" — an acceptance label after a sentence starts its own section.
  const text = description
    .replace(/\r\n?/g, '\n')
    .replace(
      /([.!?。！？；;])[ \t]*(?=(?:acceptance criteria|acceptance|AC|definition of done|验收标准|验收条件|驗收標準|受け入れ基準|受け入れ条件)[ \t]*[:：])/gi,
      '$1\n',
    );
  for (const raw of text.split('\n')) {
    if (/^\s*(```|~~~)/.test(raw)) {
      inFence = !inFence; // code blocks are context, not requirements
      continue;
    }
    if (inFence || raw.trim() === '') continue;
    const heading = headingOf(raw);
    if (heading) {
      current = { kind: kindOf(heading.text), items: [], prose: [] };
      sections.push(current);
      if (heading.rest) current.items.push(cap(heading.rest));
      continue;
    }
    const item = LIST_ITEM.exec(raw);
    if (item) current.items.push(cap(item[1]!));
    else current.prose.push(raw.trim());
  }

  const itemsOf = (kind: SectionKind) => sections.filter((s) => s.kind === kind).flatMap((s) => s.items);
  const sentencesOf = (kind: SectionKind) =>
    sections
      .filter((s) => s.kind === kind)
      .flatMap((s) => splitSentences(s.prose.join('\n')))
      .map(cap);

  let requirements = itemsOf('requirements');
  if (requirements.length === 0) requirements = sentencesOf('requirements');
  if (requirements.length === 0) requirements = [cap(title)].filter((t) => t !== '');

  let acceptance = sections
    .filter((s) => s.kind === 'acceptance')
    .flatMap((s) =>
      s.items.length > 0
        ? [...s.items, ...splitSentences(s.prose.join('\n')).map(cap)]
        : splitSentences(s.prose.join('\n')).map(cap),
    );
  const acceptanceDerived = acceptance.length === 0;
  if (acceptanceDerived) {
    acceptance = [
      "The project's tests pass, including tests for this change where the project has tests.",
      `Every requirement above is met (the task: ${cap(title) || 'as described'}).`,
    ];
  }
  return {
    requirements: dedupe(requirements).slice(0, MAX_ITEMS),
    acceptance: dedupe(acceptance).slice(0, MAX_ITEMS),
    acceptanceDerived,
  };
}

function dedupe(items: string[]): string[] {
  return [...new Set(items)];
}

// ---- mentions ----

const CODE_EXTENSIONS =
  'ts|tsx|js|jsx|mjs|cjs|mts|cts|py|pyi|go|rs|java|kt|kts|swift|rb|php|cs|c|h|cc|cpp|cxx|hpp|hh|m|mm|scala|dart|ex|exs|erl|hs|lua|r|pl|sh|bash|zsh|ps1|sql|json|jsonc|yaml|yml|toml|ini|cfg|conf|env|xml|html|htm|css|scss|sass|less|vue|svelte|md|mdx|rst|txt|proto|graphql|gql|gradle|properties|tf|hcl|lock|csv|ipynb';

const PATH_RE = new RegExp(
  String.raw`(?<![\w@$/.\-])((?:\.{1,2}/)?(?:[\w@$.\-]+/)+[\w@$.\-]*|[\w@$\-][\w@$.\-]*\.(?:${CODE_EXTENSIONS}))(?![\w/\-])`,
  'gi',
);
const WELL_KNOWN_FILES =
  /(?<![\w.\-/])(Dockerfile|Makefile|Procfile|Gemfile|Rakefile|Jenkinsfile|Vagrantfile|LICENSE|README|CHANGELOG|CONTRIBUTING|AGENTS|CLAUDE)(?![\w.\-/])/g;
const IDENT_RE = /(?<![\w$])[A-Za-z_$][\w$]*(?![\w$])/g;

const STOPWORDS = new Set(
  (
    'about above after again against also because been before being below between both could does doing down during each ' +
    'from further have having here into itself just more most other over same should some such than that their them then there ' +
    'these they this those through under until very what when where which while will with would your yours make made must need ' +
    'needs want wants like only when used uses using user users file files code change changes task please add adds added ' +
    'update updates remove removes fix fixes new old test tests should shall able allow allows work works existing current ' +
    'support supports value values return returns function method class field type data item items list name names case ' +
    'cases first last next line lines page pages text show shows view true false null none error errors when also each ' +
    'without within instead still well even back case every thing things someone something done sure check checks ' +
    'requirements requirement acceptance criteria criterion background notes note details description steps title task tasks'
  ).split(/\s+/),
);

function looksLikeIdentifier(tok: string): boolean {
  if (tok.length < 3 || tok.length > 80) return false;
  return (
    /[a-z][A-Z]/.test(tok) || // camelCase
    /^[A-Z][a-z0-9]+[A-Z]/.test(tok) || // PascalCase with two humps
    /[A-Za-z0-9]_[A-Za-z0-9]/.test(tok) || // snake_case / SCREAMING_CASE
    /^_+[A-Za-z]/.test(tok) ||
    /^\$/.test(tok)
  );
}

/** Paths, identifiers and words the text mentions (URLs and e-mail addresses left out). */
export function extractMentions(text: string): Mentions {
  const paths = new Set<string>();
  const identifiers = new Set<string>();
  const words = new Set<string>();
  const clean = text.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, ' ').replace(/[\w.+-]+@[\w-]+\.[\w.-]+/g, ' ');

  const addPath = (p: string) => {
    const t = p
      .replace(/^\.\//, '')
      .replace(/^\/+/, '')
      .replace(/[.,:;]+$/, '');
    if (t === '' || t.length > 300 || /^\.+$/.test(t) || /^\d+(\.\d+)*$/.test(t)) return;
    paths.add(t);
  };
  const addIdentifier = (id: string) => {
    const t = id.replace(/\(\)$/, '');
    if (/^[A-Za-z_$][\w$]*$/.test(t) && t.length >= 2 && t.length <= 80) identifiers.add(t);
  };

  for (const m of clean.matchAll(/`([^`\n]{1,200})`/g)) {
    const span = m[1]!.trim();
    if (
      /^[\w@$.\-/]+$/.test(span) &&
      (span.includes('/') || new RegExp(`\\.(?:${CODE_EXTENSIONS})$`, 'i').test(span))
    ) {
      addPath(span);
    } else {
      // `Foo.bar()`, `validate_user`, `UserService#login`: the parts are identifiers.
      for (const part of span.split(/[.#:]+|::/)) addIdentifier(part.replace(/\(.*\)$/, ''));
    }
  }
  for (const m of clean.matchAll(PATH_RE)) {
    const p = m[1]!;
    // "and/or", "I/O", "N/A": a slash between two short words is not a path.
    if (!/\.[A-Za-z0-9]+$/.test(p) && /^[A-Za-z]{1,4}\/[A-Za-z]{1,4}$/.test(p)) continue;
    addPath(p);
  }
  for (const m of clean.matchAll(WELL_KNOWN_FILES)) addPath(m[1]!);
  // Identifiers and words come from the prose: paths and code spans are blanked out first.
  const prose = clean.replace(/`[^`\n]{1,200}`/g, ' ').replace(PATH_RE, ' ');
  for (const m of prose.matchAll(IDENT_RE)) {
    const tok = m[0];
    const after = prose[m.index + tok.length];
    if (looksLikeIdentifier(tok) || (after === '(' && tok.length >= 3)) addIdentifier(tok);
    else if (/^[A-Za-z]{4,}$/.test(tok) && !STOPWORDS.has(tok.toLowerCase())) words.add(tok.toLowerCase());
  }
  for (const id of identifiers) words.delete(id.toLowerCase());
  return { paths: [...paths], identifiers: [...identifiers], words: [...words].slice(0, 200) };
}

// ---- likely files ----

/** Definitions by name (lower-cased) → the files that define it, and whether it is exported there. */
export type DefinitionIndex = ReadonlyMap<
  string,
  ReadonlyArray<{ rel: string; name: string; exported: boolean }>
>;

function stem(rel: string): string {
  const base = rel.slice(rel.lastIndexOf('/') + 1);
  const dot = base.indexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/** `user-service`, `user_service`, `UserService` → `userservice`. */
export function normalizeName(s: string): string {
  return s.replace(/[-_.\s]/g, '').toLowerCase();
}

/**
 * Files the task likely touches, best first: named paths (exact, by suffix, by base name, a
 * named directory's files), files defining a mentioned identifier, files whose name matches one,
 * then word matches. At most `limit`.
 */
export function rankLikelyFiles(
  mentions: Mentions,
  files: readonly RepoFile[],
  defs: DefinitionIndex,
  limit = 12,
): LikelyFile[] {
  const scores = new Map<string, { score: number; reasons: string[] }>();
  const add = (rel: string, score: number, reason: string) => {
    const e = scores.get(rel) ?? { score: 0, reasons: [] };
    e.score += score;
    if (!e.reasons.includes(reason) && e.reasons.length < 3) e.reasons.push(reason);
    scores.set(rel, e);
  };
  const byBase = new Map<string, string[]>();
  const byStem = new Map<string, string[]>();
  const byRel = new Map<string, string>();
  const byRelNoExt = new Map<string, string[]>();
  for (const f of files) {
    byRel.set(f.rel.toLowerCase(), f.rel);
    const base = f.rel.slice(f.rel.lastIndexOf('/') + 1).toLowerCase();
    push(byBase, base, f.rel);
    push(byStem, normalizeName(stem(f.rel)), f.rel);
    push(byRelNoExt, f.rel.replace(/\.[^./]+$/, '').toLowerCase(), f.rel);
  }

  for (const raw of mentions.paths) {
    const m = raw.toLowerCase().replace(/\/+$/, '');
    const exact = byRel.get(m);
    if (exact) {
      add(exact, 10, 'named in the task');
      continue;
    }
    const noExt = byRelNoExt.get(m);
    if (noExt && noExt.length <= 3) {
      for (const rel of noExt) add(rel, 9, 'named in the task');
      continue;
    }
    const suffix = files.filter((f) => f.rel.toLowerCase().endsWith('/' + m));
    if (suffix.length > 0 && suffix.length <= 5) {
      for (const f of suffix) add(f.rel, 8, 'named in the task');
      continue;
    }
    if (!m.includes('/')) {
      const same = byBase.get(m) ?? [];
      if (same.length > 0) {
        for (const rel of same) add(rel, same.length <= 3 ? 6 : 2, `named ${raw}`);
        continue;
      }
    }
    const under = files.filter(
      (f) => f.rel.toLowerCase().startsWith(m + '/') || f.rel.toLowerCase().includes('/' + m + '/'),
    );
    for (const f of under.slice(0, 50)) add(f.rel, under.length <= 10 ? 3 : 1, `in ${raw}/`);
  }

  for (const id of mentions.identifiers) {
    const found = defs.get(id.toLowerCase()) ?? [];
    const exactCase = found.filter((d) => d.name === id);
    const definers = exactCase.length > 0 ? exactCase : found;
    const unique = [...new Set(definers.map((d) => d.rel))];
    for (const rel of unique) add(rel, unique.length <= 5 ? 5 : 1, `defines ${id}`);
    const named = byStem.get(normalizeName(id)) ?? [];
    if (named.length <= 5) for (const rel of named) add(rel, 4, `named after ${id}`);
  }

  for (const w of mentions.words) {
    if (w.length < 4) continue;
    // A plain word only counts for names other files can use (exported ones).
    const definers = [...new Set((defs.get(w) ?? []).filter((d) => d.exported).map((d) => d.rel))];
    if (definers.length > 0 && definers.length <= 3) for (const rel of definers) add(rel, 2, `defines ${w}`);
    const named = byStem.get(w) ?? [];
    if (named.length > 0 && named.length <= 3) for (const rel of named) add(rel, 2, `named after "${w}"`);
  }

  return [...scores.entries()]
    .map(([path, e]) => ({ path, score: e.score, reasons: e.reasons }))
    .sort((a, b) => b.score - a.score || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .slice(0, limit);
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

// ---- linked documents ----

const documentSchema = z.looseObject({
  id: z.union([z.number(), z.string()]).optional(),
  title: z.string().nullish(),
  name: z.string().nullish(),
  content: z.string().nullish(),
  description: z.string().nullish(),
  text: z.string().nullish(),
  body: z.string().nullish(),
});

export interface TaskDocumentIds {
  solution_id?: string | number | null;
  requirement_id?: string | number | null;
}

/**
 * The task's solution and requirement documents, when it names them and the backend has them.
 * A 404 (the backend has no such endpoint or document) is normal and silent; any other error is
 * logged and the run goes on without the document.
 */
export async function fetchLinkedDocuments(
  client: Pick<NumaClient, 'getOptional'>,
  task: TaskDocumentIds,
  opts: { log: (line: string) => void; signal?: AbortSignal },
): Promise<LinkedDocument[]> {
  const wanted: Array<{ kind: LinkedDocument['kind']; id: string; path: string }> = [];
  if (task.solution_id !== undefined && task.solution_id !== null && String(task.solution_id) !== '') {
    const id = String(task.solution_id);
    wanted.push({ kind: 'solution', id, path: `/api/solutions/${encodeURIComponent(id)}` });
  }
  if (
    task.requirement_id !== undefined &&
    task.requirement_id !== null &&
    String(task.requirement_id) !== ''
  ) {
    const id = String(task.requirement_id);
    wanted.push({ kind: 'requirement', id, path: `/api/requirements/${encodeURIComponent(id)}` });
  }
  const docs = await Promise.all(
    wanted.map(async (w): Promise<LinkedDocument | undefined> => {
      try {
        const doc = await client.getOptional(w.path, documentSchema, { signal: opts.signal, maxAttempts: 2 });
        if (!doc) return undefined;
        const content = doc.content ?? doc.description ?? doc.text ?? doc.body ?? '';
        const title = doc.title ?? doc.name ?? '';
        if (content.trim() === '' && title.trim() === '') return undefined;
        return { kind: w.kind, id: w.id, title, content };
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        const why = isAvatarError(err) ? describeError(err) : `unexpected error: ${describeError(err)}`;
        opts.log(`could not read ${w.kind} ${w.id} (the brief goes on without it): ${why}`);
        return undefined;
      }
    }),
  );
  return docs.filter((d): d is LinkedDocument => d !== undefined);
}

// ---- the brief ----

export interface BriefInput extends Brief {
  documents?: LinkedDocument[];
}

/**
 * The structured brief of a task. `files` and `defs` (from the repository) rank the likely files;
 * the documents' text counts for mentions too.
 */
export function buildBrief(input: BriefInput, files: readonly RepoFile[], defs: DefinitionIndex): TaskBrief {
  const documents = input.documents ?? [];
  const analysis = analyzeText(input.title, input.description);
  const mentionText = [
    input.title,
    input.description,
    ...documents.map((d) => `${d.title}\n${d.content}`),
  ].join('\n');
  const mentions = extractMentions(mentionText);
  return {
    taskId: input.taskId,
    title: input.title,
    description: input.description,
    branch: input.branch,
    ...analysis,
    mentions,
    likelyFiles: rankLikelyFiles(mentions, files, defs),
    documents,
  };
}
