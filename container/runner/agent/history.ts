/**
 * The conversation the agent sends, and how it is kept within the model's context window:
 *
 * - Masking: tool outputs (and long write_file/edit_file arguments) become short stubs once they
 *   are `maskAfterTurns` turns old. Masking moves in batches of that many turns, so the prompt's
 *   prefix stays the same between batches (provider prompt caches keep working) and the latest
 *   turns are always whole.
 * - Condensation: when the estimated prompt passes `condenseAt` of the window, the middle of the
 *   conversation (between the first user message and the last few turns) is replaced by a
 *   deterministic summary: the tool calls made, the files read and changed, the commands and the
 *   last test result, and the agent's own notes. If the last turns alone are still too large,
 *   their tool outputs are cut further. Everything here is deterministic, so a re-run with the
 *   same answers sends the same requests (the model cache relies on it).
 */
import type {
  ChatCompletionMessageParam,
  ChatCompletionMessageToolCall,
} from 'openai/resources/chat/completions';
import { estimateTokens } from '../context/budget.ts';

export interface ContextOptions {
  /** The model's context window in tokens (model.context_window). */
  windowTokens: number;
  /** Condense when the estimated prompt passes this share of the window (default 0.7). */
  condenseAt?: number;
  /** What a condensed prompt aims for, as a share of the window (default 0.5). */
  condenseTo?: number;
  /** Tool outputs this many turns old are cut to a stub (default 6). */
  maskAfterTurns?: number;
  /** Turns kept whole when condensing, at most (default 4). */
  keepRecentTurns?: number;
}

export const DEFAULT_CONTEXT: Required<Omit<ContextOptions, 'windowTokens'>> = {
  condenseAt: 0.7,
  condenseTo: 0.5,
  maskAfterTurns: 6,
  keepRecentTurns: 4,
};

/** Tool outputs shorter than this are never masked (a stub would save nothing). */
const MASK_MIN_CHARS = 400;
const MASK_KEEP_CHARS = 240;
/** String arguments of old tool calls longer than this are cut. */
const MASK_ARG_CHARS = 800;

// --- token estimates ---------------------------------------------------------------------------

/** The product's token estimate (container/runner/context/budget.ts): on the high side of OpenAI's tokenizers. */
export function estimateTextTokens(s: string): number {
  return s ? estimateTokens(s) : 0;
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (p && typeof p === 'object' && 'text' in p ? String((p as { text: unknown }).text) : ''))
      .join('');
  }
  return '';
}

export function estimateMessageTokens(m: ChatCompletionMessageParam): number {
  let n = 4 + estimateTextTokens(contentText(m.content));
  if (m.role === 'assistant' && m.tool_calls) {
    for (const c of m.tool_calls) {
      if (c.type === 'function')
        n += 8 + estimateTextTokens(c.function.name) + estimateTextTokens(c.function.arguments);
    }
  }
  return n;
}

// --- what happened so far (for the condensed summary) -------------------------------------------

interface Note {
  step: number;
  text: string;
}

function oneLine(s: string, max: number): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Facts about the run, gathered as tool calls complete; rendered into the condensed summary. */
export class RunFacts {
  private readonly calls = new Map<string, { n: number; failed: number }>();
  private readonly read = new Map<string, string[]>();
  readonly changed = new Set<string>();
  private readonly commands: string[] = [];
  private readonly searches: string[] = [];
  private lastTests: string | undefined;
  private readonly notes: Note[] = [];
  private readonly errors: string[] = [];

  recordNote(step: number, text: string | null): void {
    if (text && text.trim()) this.notes.push({ step, text: oneLine(text, 300) });
  }

  recordCall(step: number, name: string, args: Record<string, unknown>, ok: boolean, output: string): void {
    const c = this.calls.get(name) ?? { n: 0, failed: 0 };
    c.n++;
    if (!ok) c.failed++;
    this.calls.set(name, c);
    const str = (k: string) => (typeof args[k] === 'string' ? (args[k] as string) : '');
    const first = oneLine(output.split('\n')[0] ?? '', 160);
    if (!ok) {
      this.errors.push(
        `step ${step}: ${name} ${oneLine(str('path') || str('command') || str('pattern'), 80)}: ${first}`,
      );
      return;
    }
    switch (name) {
      case 'read_file': {
        const ranges = this.read.get(str('path')) ?? [];
        const m = /lines (\d+-\d+) of (\d+)/.exec(first);
        ranges.push(m ? `${m[1]} of ${m[2]}` : 'whole');
        this.read.set(str('path'), ranges);
        break;
      }
      case 'write_file':
      case 'edit_file':
        this.changed.add(str('path'));
        break;
      case 'run_command':
        this.commands.push(`step ${step}: \`${oneLine(str('command'), 100)}\` → ${first}`);
        break;
      case 'search_code':
        this.searches.push(`step ${step}: /${oneLine(str('pattern'), 60)}/ → ${first}`);
        break;
      case 'run_tests':
        this.lastTests = `step ${step}: ${first}`;
        break;
    }
  }

  /** The summary text for the condensed part (steps `from`..`to`). */
  render(from: number, to: number): string {
    const lines: string[] = [
      `[Context condensed: ${from === to ? `step ${from} was` : `steps ${from}-${to} were`} replaced by this summary so that the conversation fits the model's context window. The latest steps follow in full.]`,
    ];
    const calls = [...this.calls]
      .map(([name, c]) => `${name} ×${c.n}${c.failed ? ` (${c.failed} failed)` : ''}`)
      .join(', ');
    if (calls) lines.push(`Tool calls so far: ${calls}.`);
    if (this.changed.size) lines.push(`Files you changed: ${[...this.changed].join(', ')}.`);
    if (this.read.size) {
      const read = [...this.read]
        .slice(-30)
        .map(([p, r]) => `${p} (${[...new Set(r)].slice(-3).join('; ')})`);
      lines.push(`Files you read: ${read.join(', ')}${this.read.size > 30 ? ', …' : ''}.`);
    }
    if (this.searches.length)
      lines.push('Searches (latest):', ...this.searches.slice(-5).map((s) => `- ${s}`));
    if (this.commands.length)
      lines.push('Commands (latest):', ...this.commands.slice(-5).map((s) => `- ${s}`));
    if (this.lastTests) lines.push(`Last test run: ${this.lastTests}`);
    if (this.errors.length) lines.push('Recent tool errors:', ...this.errors.slice(-3).map((s) => `- ${s}`));
    const notes = this.notes.filter((n) => n.step >= from && n.step <= to).slice(-8);
    if (notes.length)
      lines.push('Your notes from those steps:', ...notes.map((n) => `- step ${n.step}: ${n.text}`));
    lines.push(
      'Files may have changed since you read them: read_file again what you need before editing it.',
    );
    return lines.join('\n');
  }
}

// --- the conversation ---------------------------------------------------------------------------

interface Entry {
  msg: ChatCompletionMessageParam;
  /** The model turn it belongs to (0: the system prompt and the intro). */
  step: number;
  kind: 'head' | 'turn' | 'user' | 'summary';
  masked?: boolean;
}

export interface ContextChange {
  action: 'masked' | 'condensed';
  /** Estimated prompt tokens before and after. */
  tokensBefore: number;
  tokensAfter: number;
  messagesBefore: number;
  messagesAfter: number;
  /** masked: how many tool outputs or call arguments were cut. */
  count?: number;
  /** condensed: the steps summarised, the turns kept whole, whether those were cut too. */
  steps?: [number, number];
  keptTurns?: number;
  trimmedTo?: number;
  summary?: string;
}

function capMiddle(text: string, keep: number, note: string): string {
  if (text.length <= keep) return text;
  const head = Math.floor(keep * 0.6);
  const tail = keep - head;
  return `${text.slice(0, head)}\n… [${note}: ${text.length - keep} characters cut] …\n${text.slice(-tail)}`;
}

function maskArgs(raw: string): string {
  if (raw.length <= MASK_ARG_CHARS) return raw;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return `${raw.slice(0, MASK_KEEP_CHARS)}… [arguments cut: ${raw.length} characters]`;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return raw;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] =
      typeof v === 'string' && v.length > MASK_ARG_CHARS
        ? `${v.slice(0, MASK_KEEP_CHARS)}… [cut from this old call: ${v.length} characters]`
        : v;
  }
  return JSON.stringify(out);
}

export class History {
  private entries: Entry[] = [];
  private readonly opts: Required<ContextOptions>;
  /** Actual/estimated prompt tokens of the last answered request (never below 1). */
  private calibration = 1;
  /** Tokens of what every request carries besides the messages (the tool definitions). */
  private readonly fixedTokens: number;
  /** Set when earlier messages were rewritten since `takeRewritten()` was last called. */
  private rewritten = false;

  constructor(opts: ContextOptions, fixedTokens: number) {
    this.opts = { ...DEFAULT_CONTEXT, ...opts };
    this.fixedTokens = fixedTokens;
  }

  get length(): number {
    return this.entries.length;
  }

  get messages(): ChatCompletionMessageParam[] {
    return this.entries.map((e) => e.msg);
  }

  push(msg: ChatCompletionMessageParam, step: number, kind: Entry['kind'] = 'turn'): void {
    this.entries.push({ msg, step, kind });
  }

  /** Whether messages already sent were changed (masked or condensed) since the last call. */
  takeRewritten(): boolean {
    const r = this.rewritten;
    this.rewritten = false;
    return r;
  }

  /** The estimated prompt tokens of the conversation as it stands. */
  estimate(entries: Entry[] = this.entries): number {
    const raw = this.fixedTokens + entries.reduce((n, e) => n + estimateMessageTokens(e.msg), 0);
    return Math.ceil(raw * this.calibration);
  }

  /** Learns from what the provider counted for the request whose estimate was `estimated`. */
  observe(estimated: number, actualPromptTokens: number): void {
    if (estimated <= 0 || actualPromptTokens <= 0) return;
    const uncalibrated = estimated / this.calibration;
    this.calibration = Math.min(3, Math.max(1, actualPromptTokens / uncalibrated));
  }

  /** Cuts old tool outputs and long arguments of old calls; undefined when nothing changed. */
  mask(step: number): ContextChange | undefined {
    const m = this.opts.maskAfterTurns;
    if (m <= 0) return undefined;
    const upTo = Math.floor((step - 1) / m) * m - m;
    if (upTo < 1) return undefined;
    const before = this.estimate();
    let count = 0;
    for (const e of this.entries) {
      if (e.masked || e.kind !== 'turn' || e.step > upTo) continue;
      e.masked = true;
      if (e.msg.role === 'tool') {
        const text = contentText(e.msg.content);
        if (text.length < MASK_MIN_CHARS) continue;
        const head = text.slice(0, MASK_KEEP_CHARS);
        e.msg = {
          ...e.msg,
          content: `${head}\n… [output of step ${e.step} cut after ${m} turns: ${text.length - head.length} more characters; call the tool again if you need it]`,
        };
        count++;
      } else if (e.msg.role === 'assistant' && e.msg.tool_calls) {
        let changed = false;
        const calls = e.msg.tool_calls.map((c): ChatCompletionMessageToolCall => {
          if (c.type !== 'function') return c;
          const args = maskArgs(c.function.arguments);
          if (args === c.function.arguments) return c;
          changed = true;
          return { ...c, function: { ...c.function, arguments: args } };
        });
        if (changed) {
          e.msg = { ...e.msg, tool_calls: calls };
          count++;
        }
      }
    }
    if (count === 0) return undefined;
    this.rewritten = true;
    return {
      action: 'masked',
      tokensBefore: before,
      tokensAfter: this.estimate(),
      messagesBefore: this.entries.length,
      messagesAfter: this.entries.length,
      count,
    };
  }

  /** Whether the prompt has grown past the condensation threshold. */
  needsCondensing(): boolean {
    return this.estimate() > this.opts.condenseAt * this.opts.windowTokens;
  }

  /**
   * Replaces the middle of the conversation with a summary (and cuts the kept turns' tool outputs
   * when they alone are too large). Undefined when the prompt is below the threshold.
   */
  condense(facts: RunFacts): ContextChange | undefined {
    if (!this.needsCondensing()) return undefined;
    const before = this.estimate();
    const messagesBefore = this.entries.length;
    const target = this.opts.condenseTo * this.opts.windowTokens;
    const headEnd = this.entries.findIndex((e) => e.kind !== 'head');
    if (headEnd < 0) return undefined;
    const head = this.entries.slice(0, headEnd);
    const turnStarts: number[] = [];
    this.entries.forEach((e, i) => {
      if (i >= headEnd && e.msg.role === 'assistant') turnStarts.push(i);
    });

    // The largest tail of whole turns (at most keepRecentTurns) that fits the target with a summary.
    let chosen: { tail: Entry[]; summary?: Entry; keep: number; steps?: [number, number] } | undefined;
    for (let keep = Math.min(this.opts.keepRecentTurns, turnStarts.length); keep >= 1; keep--) {
      let start = turnStarts[turnStarts.length - keep] as number;
      // A user message just before the kept turns (a repair request, a nudge) stays with them.
      while (start - 1 >= headEnd && this.entries[start - 1]?.kind === 'user') start--;
      const middle = this.entries.slice(headEnd, start);
      const tail = this.entries.slice(start);
      const summary = this.summaryEntry(facts, middle);
      const candidate = summary ? [...head, summary.entry, ...tail] : [...head, ...tail];
      chosen = { tail, keep, ...(summary ? { summary: summary.entry, steps: summary.steps } : {}) };
      if (this.estimate(candidate) <= target) break;
    }
    if (!chosen) return undefined;
    let next = chosen.summary ? [...head, chosen.summary, ...chosen.tail] : [...head, ...chosen.tail];

    // Still too large: cut the kept turns' tool outputs, harder and harder.
    let trimmedTo: number | undefined;
    for (const cap of [8000, 4000, 2000, 1000, 500, 200]) {
      if (this.estimate(next) <= target) break;
      trimmedTo = cap;
      next = next.map((e) => {
        if (e.msg.role !== 'tool') return e;
        const text = contentText(e.msg.content);
        if (text.length <= cap) return e;
        return { ...e, msg: { ...e.msg, content: capMiddle(text, cap, 'cut to fit the context window') } };
      });
    }
    if (next.length === this.entries.length && trimmedTo === undefined) return undefined;
    this.entries = next;
    this.rewritten = true;
    return {
      action: 'condensed',
      tokensBefore: before,
      tokensAfter: this.estimate(),
      messagesBefore,
      messagesAfter: next.length,
      keptTurns: chosen.keep,
      ...(chosen.steps ? { steps: chosen.steps } : {}),
      ...(trimmedTo !== undefined ? { trimmedTo } : {}),
      ...(chosen.summary ? { summary: contentText(chosen.summary.msg.content) } : {}),
    };
  }

  private summaryEntry(
    facts: RunFacts,
    middle: Entry[],
  ): { entry: Entry; steps: [number, number] } | undefined {
    if (middle.length === 0) return undefined;
    // A summary from an earlier condensation is folded into the new one (facts cover the whole run).
    const earlier = middle.filter((e) => e.kind === 'summary');
    const rest = middle.filter((e) => e.kind !== 'summary');
    if (rest.length === 0) return undefined;
    const firstStep = earlier.length > 0 ? 1 : Math.max(1, rest[0]?.step ?? 1);
    const lastStep = rest.at(-1)?.step ?? firstStep;
    return {
      entry: {
        msg: { role: 'user', content: facts.render(firstStep, lastStep) },
        step: lastStep,
        kind: 'summary',
      },
      steps: [firstStep, lastStep],
    };
  }
}
