/**
 * The agent: a tool-calling loop over the `openai` SDK (any OpenAI-compatible endpoint). develop()
 * gives the model the system prompt and the first user message (the intro, or the task's brief);
 * repair() continues the same conversation with a failing test run. Each step is one model turn
 * and the tool calls it asked for.
 *
 * Limits (each ends the run `failed`, AGENT_LIMIT, with a reason naming its configuration key):
 * steps, wall clock, prompt tokens, completion tokens, dollars (from the price table), errors in a
 * row (tool errors and model requests that failed after the SDK's retries), and a loop detector
 * (the same call with the same arguments `loop_repeats` times in a row). Malformed or unknown tool
 * calls get a corrective message (a few times in a row at most); answers without a tool call get a
 * nudge (bounded). The conversation is kept within the model's context window (history.ts); model
 * answers are cached by request (model-cache.ts). Everything the agent logs or emits passes
 * through the redactor.
 */
import type OpenAI from 'openai';
import { APIError } from 'openai';
import type {
  ChatCompletionCreateParamsBase,
  ChatCompletionMessageParam,
  ChatCompletionMessageToolCall,
} from 'openai/resources/chat/completions';
import { AvatarError, describeError } from '../../../core/errors.ts';
import type { BlobStore } from '../../../core/ports.ts';
import type { Redactor } from '../../../core/redact.ts';
import { CommandPolicy } from './commands.ts';
import type { CommandRules } from './commands.ts';
import { History, RunFacts, estimateTextTokens } from './history.ts';
import type { ContextChange, ContextOptions } from './history.ts';
import { ModelCache, canonicalJson, modelCacheKey } from './model-cache.ts';
import { RepoPaths } from './paths.ts';
import { DEFAULT_PRICES, costUsd, formatUsd, priceOf } from './prices.ts';
import type { ModelPrice, PriceTable } from './prices.ts';
import { NUDGE_MESSAGE, briefMessage, defaultCommitMessage, repairMessage, systemPrompt } from './prompt.ts';
import type { Brief } from './prompt.ts';
import { TOOL_DEFINITIONS, parseToolCall } from './schemas.ts';
import { capText, plural, tailText } from './text.ts';
import { checkSyntax } from '../syntax/index.ts';
import { runTool } from './tools/index.ts';
import { DEFAULT_LIMITS } from './types.ts';
import type { AgentLimits, SyntaxChecker, TestRunResult, ToolContext, ToolControl } from './types.ts';
import type { Sandbox } from '../sandbox/types.ts';

export type { AgentLimits, SyntaxChecker, SyntaxCheckResult, TestRunResult } from './types.ts';
export { DEFAULT_LIMITS } from './types.ts';
export type { Brief } from './prompt.ts';
export type { ContextOptions } from './history.ts';
export type { CommandRules } from './commands.ts';
export { DEFAULT_DENY } from './commands.ts';
export type { ModelPrice, PriceTable } from './prices.ts';
export { DEFAULT_PRICES } from './prices.ts';

/** The context window assumed when none is configured (model.context_window's default). */
export const DEFAULT_CONTEXT_WINDOW = 128_000;
/** Base pause before re-sending a model request that failed after the SDK's own retries (× the attempt). */
export const MODEL_RETRY_DELAY_MS = 2_000;

/** Invalid (malformed or unknown) tool calls in a row that get a corrective message; one more fails the run. */
export const MAX_INVALID_CALLS_IN_A_ROW = 3;
/** Answers without a tool call in a row that get a nudge; one more fails the run. */
export const MAX_NUDGES_IN_A_ROW = 3;

export interface AgentOptions {
  client: OpenAI;
  model: string;
  stream?: boolean;
  temperature?: number;
  repoDir: string;
  brief: Brief;
  runTests: () => Promise<TestRunResult>;
  limits: AgentLimits;
  /** Applied to everything the agent records or logs. */
  redactor: Redactor;
  /** Human-readable progress lines for the task's logs (one per tool call, short). */
  log: (line: string) => void;
  /** The transcript. */
  onEvent?: (e: AgentEvent) => void;
  signal?: AbortSignal;
  now?: () => number;
  /** The first user message (the CONTEXT helper's renderIntro); default: the brief as briefMessage() renders it. */
  intro?: string;
  /** USD per 1M tokens by model name, merged over DEFAULT_PRICES (model.prices). */
  prices?: PriceTable;
  /** The model's context window and how the conversation is kept within it (model.context_window). */
  context?: Partial<ContextOptions>;
  /** Where model answers are cached (`cache/model/<sha256>.json`); none: no cache. */
  blobs?: BlobStore;
  /** model.cache; default true (the cache is used when `blobs` is given). */
  cacheEnabled?: boolean;
  /** commands.allow / commands.deny for run_command (default: no allow list, DEFAULT_DENY). */
  commands?: CommandRules;
  /** Checks a file's new content before write_file/edit_file store it; default: container/runner/syntax/'s checkSyntax; false: no check. */
  checkSyntax?: SyntaxChecker | false;
  /** The environment run_command scrubs and hands on (default process.env). */
  baseEnv?: NodeJS.ProcessEnv;
  /** Where run_command runs (default: unsandboxed). */
  sandbox?: Sandbox;
  /** Pause before re-sending a model request that failed after the SDK's retries, × the attempt (default 2 s). */
  modelRetryDelayMs?: number;
}

export type AgentOutcome =
  | { kind: 'finished'; summary: string; commitMessage: string }
  | { kind: 'blocked'; question: string }
  | { kind: 'failed'; reason: string; code: 'AGENT_LIMIT' | 'MODEL_FAILED' | 'TOOL_INVALID' | 'RUN_ABORTED' };

export interface RecordedToolCall {
  id: string;
  name: string;
  arguments: string;
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

/**
 * Transcript events; `at` is a timestamp in milliseconds (AgentOptions.now). Together they hold
 * every model request (its new messages, or all of them after the context was rewritten) and
 * response (token counts, cost, timings, whether it came from the cache), every tool call and
 * result, and the outcome.
 */
export type AgentEvent =
  | {
      type: 'request';
      at: number;
      step: number;
      /** 1, or more when the request is re-sent after a failure. */
      attempt: number;
      model: string;
      stream: boolean;
      /** Messages in the conversation now. */
      messageCount: number;
      /** The prompt's size as the agent estimates it (tool definitions included). */
      estimatedPromptTokens: number;
      /** True when earlier messages were masked or condensed since the previous request: newMessages then holds all of them. */
      rewritten: boolean;
      /** The messages added since the previous request (the first request: all of them). */
      newMessages: ChatCompletionMessageParam[];
    }
  | {
      type: 'response';
      at: number;
      step: number;
      attempt: number;
      durationMs: number;
      content: string | null;
      toolCalls: RecordedToolCall[];
      finishReason: string | null;
      /** The tokens this call spent as the provider counted them (null: not reported, or from the cache). */
      usage: TokenUsage | null;
      /** The agent's estimate when the provider reported no usage. */
      estimatedUsage?: TokenUsage;
      /** USD this call cost; null when the model has no price. 0 for an answer from the cache. */
      costUsd: number | null;
      /** The answer came from the model cache: no model call was made. */
      cached: boolean;
      /** For a cached answer: the usage the original call reported. */
      cachedUsage?: TokenUsage | null;
      cacheKey?: string;
    }
  | {
      type: 'model_error';
      at: number;
      step: number;
      attempt: number;
      durationMs: number;
      error: string;
      /** Whether the request will be sent again (a transient failure within limits.max_consecutive_errors). */
      retrying: boolean;
    }
  | { type: 'tool_call'; at: number; step: number; id: string; name: string; arguments: string }
  | {
      type: 'tool_result';
      at: number;
      step: number;
      id: string;
      name: string;
      ok: boolean;
      durationMs: number;
      output: string;
    }
  | { type: 'nudge'; at: number; step: number; message: string }
  | ({ type: 'context'; at: number; step: number } & ContextChange)
  | { type: 'outcome'; at: number; outcome: AgentOutcome; stats: AgentStats };

/** What a session has used so far (develop() and repair() together). */
export interface AgentStats {
  /** Model turns. */
  steps: number;
  /** Tokens spent (answers from the cache spend none). */
  promptTokens: number;
  completionTokens: number;
  /** Requests the model answered (answers from the cache not included). */
  modelCalls: number;
  /** Answers replayed from the model cache. */
  cachedCalls: number;
  modelMs: number;
  toolMs: number;
  toolCalls: number;
  toolErrors: number;
  /** USD spent, from the price table; 0 when the model has no price (see costKnown). */
  costUsd: number;
  /** Whether the model has a price in the table (otherwise the cost is unknown and not limited). */
  costKnown: boolean;
  /** Times the conversation was condensed to fit the context window. */
  condensations: number;
}

interface ModelAnswer {
  content: string | null;
  toolCalls: RecordedToolCall[];
  finishReason: string | null;
  usage: TokenUsage | null;
}

type FailureCode = Extract<AgentOutcome, { kind: 'failed' }>['code'];

class Stop {
  constructor(readonly outcome: AgentOutcome) {}
}

/** A model request that failed in a way another attempt may fix (429, 5xx, timeouts, network). */
class TransientModelError {
  constructor(readonly reason: string) {}
}

/** HTTP statuses a new attempt will not fix: the request itself, the key or the model is wrong. */
const PERMANENT_STATUSES = new Set([400, 401, 403, 404, 405, 413, 415, 422]);

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s`;
}

function fail(code: FailureCode, reason: string): Stop {
  return new Stop({ kind: 'failed', code, reason });
}

function oneLine(s: string, max = 80): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function formatMs(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s` : `${ms} ms`;
}

/** What a tool call was about, for the progress log. */
function callLabel(name: string, args: Record<string, unknown>): string {
  const str = (k: string) => (typeof args[k] === 'string' ? (args[k] as string) : undefined);
  switch (name) {
    case 'run_command':
      return JSON.stringify(oneLine(str('command') ?? '', 80));
    case 'search_code':
      return `/${oneLine(str('pattern') ?? '', 60)}/${str('path') ? ` in ${str('path')}` : ''}${str('glob') ? ` (${str('glob')})` : ''}`;
    case 'ask_clarification':
      return JSON.stringify(oneLine(str('question') ?? '', 80));
    case 'finish':
      return JSON.stringify(oneLine(str('commit_message') ?? '', 72));
    case 'read_file': {
      const from = args.start_line ?? args.end_line;
      return `${str('path') ?? ''}${from !== undefined ? `:${String(args.start_line ?? 1)}-${String(args.end_line ?? '')}` : ''}`;
    }
    default:
      return str('path') ?? '';
  }
}

export class AgentSession {
  private readonly opts: AgentOptions;
  private readonly limits: Required<AgentLimits>;
  private readonly now: () => number;
  private readonly history: History;
  private readonly facts = new RunFacts();
  private readonly touched = new Set<string>();
  private readonly paths: RepoPaths;
  private readonly commandPolicy: CommandPolicy;
  private readonly cache: ModelCache | undefined;
  private readonly price: ModelPrice | undefined;
  private sentCount = 0;
  private startedAt: number | undefined;
  private invalidInARow = 0;
  private errorsInARow = 0;
  private lastCallKey: string | undefined;
  private sameCallsInARow = 0;
  private running = false;
  private started = false;

  readonly stats: AgentStats = {
    steps: 0,
    promptTokens: 0,
    completionTokens: 0,
    modelCalls: 0,
    cachedCalls: 0,
    modelMs: 0,
    toolMs: 0,
    toolCalls: 0,
    toolErrors: 0,
    costUsd: 0,
    costKnown: false,
    condensations: 0,
  };

  constructor(opts: AgentOptions) {
    this.opts = opts;
    this.limits = { ...DEFAULT_LIMITS, ...stripUndefined(opts.limits) };
    this.now = opts.now ?? Date.now;
    this.paths = new RepoPaths(opts.repoDir);
    this.commandPolicy = CommandPolicy.compile(opts.commands);
    this.price = priceOf(opts.model, { ...DEFAULT_PRICES, ...opts.prices });
    this.stats.costKnown = this.price !== undefined;
    this.history = new History(
      { windowTokens: DEFAULT_CONTEXT_WINDOW, ...stripUndefined(opts.context ?? {}) },
      estimateTextTokens(JSON.stringify(TOOL_DEFINITIONS)),
    );
    if (opts.blobs && opts.cacheEnabled !== false) {
      this.cache = new ModelCache({
        blobs: opts.blobs,
        redactor: opts.redactor,
        onError: (what, key, err) =>
          this.log(
            `agent: model cache ${what} ${key} failed (${oneLine(describeError(err), 160)}); going on without it`,
          ),
      });
    }
  }

  /** Repository-relative paths that write_file and edit_file changed. */
  get filesTouched(): ReadonlySet<string> {
    return this.touched;
  }

  /**
   * One line for the task's logs at the end of a run: files changed by the agent's tools, steps,
   * model calls (and answers from the cache), tokens, cost, model time and tool time.
   */
  summary(): string {
    const s = this.stats;
    const files = [...this.touched];
    const fileList = files.length
      ? ` (${files.slice(0, 6).join(', ')}${files.length > 6 ? `, … ${files.length - 6} more` : ''})`
      : '';
    const calls = `${plural(s.modelCalls, 'model call')}${s.cachedCalls ? ` + ${s.cachedCalls} answered from the cache` : ''}`;
    const cost = s.costKnown
      ? formatUsd(s.costUsd)
      : `unknown (no price for ${this.opts.model} in model.prices)`;
    return (
      `agent: ${plural(files.length, 'file')} changed${fileList}, ${plural(s.steps, 'step')}, ${calls}, ` +
      `${s.promptTokens.toLocaleString('en-US')} prompt + ${s.completionTokens.toLocaleString('en-US')} completion tokens, ` +
      `cost ${cost}, model time ${seconds(s.modelMs)}, tool time ${seconds(s.toolMs)}` +
      `${s.toolErrors ? `, ${plural(s.toolErrors, 'tool error')}` : ''}` +
      `${s.condensations ? `, context condensed ${s.condensations}×` : ''}`
    );
  }

  /** The first turn: the system prompt and the first user message (the intro, or the brief). */
  async develop(): Promise<AgentOutcome> {
    if (this.started) {
      throw new AvatarError('USAGE', 'AgentSession.develop() was already called; continue with repair()');
    }
    this.started = true;
    this.history.push({ role: 'system', content: systemPrompt(this.opts.brief) }, 0, 'head');
    this.history.push(
      {
        role: 'user',
        content: this.opts.redactor.redactValues(this.opts.intro ?? briefMessage(this.opts.brief)),
      },
      0,
      'head',
    );
    this.log(`agent: developing task ${this.opts.brief.taskId} with ${this.opts.model}`);
    return this.run();
  }

  /** Continues the same conversation with a failing test run. */
  async repair(failure: TestRunResult): Promise<AgentOutcome> {
    if (!this.started) {
      throw new AvatarError('USAGE', 'AgentSession.repair() called before develop()');
    }
    const output = this.opts.redactor.redact(
      tailText(failure.output, Math.max(500, this.limits.maxOutputChars)),
    );
    this.history.push({ role: 'user', content: repairMessage(failure, output) }, this.stats.steps, 'user');
    this.log(`agent: repairing (tests failed: exit ${failure.exitCode ?? 'none'})`);
    return this.run();
  }

  private async run(): Promise<AgentOutcome> {
    if (this.running) throw new AvatarError('USAGE', 'AgentSession is already running');
    this.running = true;
    this.startedAt ??= this.now();
    this.invalidInARow = 0;
    let outcome: AgentOutcome;
    try {
      outcome = await this.loop();
    } catch (err) {
      if (err instanceof Stop) outcome = err.outcome;
      else
        outcome = { kind: 'failed', code: 'MODEL_FAILED', reason: `the agent failed: ${describeError(err)}` };
    } finally {
      this.running = false;
    }
    outcome = this.redactOutcome(outcome);
    this.emit({ type: 'outcome', at: this.now(), outcome, stats: { ...this.stats } });
    if (outcome.kind === 'finished')
      this.log(`agent: finished: ${oneLine(outcome.summary, 200) || '(no summary)'}`);
    else if (outcome.kind === 'blocked') this.log(`agent: blocked, asks: ${outcome.question}`);
    else {
      this.log(`agent: failed (${outcome.code}): ${outcome.reason}`);
      this.log(this.summary());
    }
    return outcome;
  }

  private remainingMs(): number {
    return (this.startedAt ?? this.now()) + this.limits.wallClockMs - this.now();
  }

  private wallClockStop(while_ = ''): Stop {
    const ms = this.limits.wallClockMs;
    return fail(
      'AGENT_LIMIT',
      `limits.run_timeout (${seconds(ms)}) reached${while_}: the agent ran for ${formatMs(ms)} without finishing`,
    );
  }

  /** Abort and wall clock: checked before every model request and tool call. */
  private checkLimits(): void {
    if (this.opts.signal?.aborted) throw fail('RUN_ABORTED', 'the run was aborted');
    if (this.remainingMs() <= 0) throw this.wallClockStop();
  }

  /**
   * Tokens and cost: checked before every model request. The tool calls of the answer that
   * crossed a limit still run (its tokens are spent; it may be the one that finishes).
   */
  private checkBudget(): void {
    this.checkLimits();
    const L = this.limits;
    const s = this.stats;
    if (L.maxPromptTokens > 0 && s.promptTokens >= L.maxPromptTokens) {
      throw fail(
        'AGENT_LIMIT',
        `limits.max_prompt_tokens (${L.maxPromptTokens}) reached: ${s.promptTokens} prompt tokens used in ${plural(s.modelCalls, 'model call')}`,
      );
    }
    if (L.maxCompletionTokens > 0 && s.completionTokens >= L.maxCompletionTokens) {
      throw fail(
        'AGENT_LIMIT',
        `limits.max_completion_tokens (${L.maxCompletionTokens}) reached: ${s.completionTokens} completion tokens used in ${plural(s.modelCalls, 'model call')}`,
      );
    }
    if (this.price && L.maxCostUsd > 0 && s.costUsd >= L.maxCostUsd) {
      throw fail(
        'AGENT_LIMIT',
        `limits.max_cost_usd (${L.maxCostUsd}) reached: ${formatUsd(s.costUsd)} spent on ${plural(s.modelCalls, 'model call')} (${this.opts.model} at $${this.price.prompt} prompt / $${this.price.completion} completion per 1M tokens)`,
      );
    }
  }

  /** Counts a tool error or failed model request; the stop when limits.max_consecutive_errors is reached. */
  private countError(what: string): Stop | undefined {
    this.errorsInARow++;
    const max = this.limits.maxConsecutiveErrors;
    if (max > 0 && this.errorsInARow >= max) {
      return fail(
        'AGENT_LIMIT',
        `limits.max_consecutive_errors (${max}) reached: ${this.errorsInARow} errors in a row (the last: ${oneLine(what, 200)})`,
      );
    }
    return undefined;
  }

  private async loop(): Promise<AgentOutcome> {
    let nudges = 0;
    for (;;) {
      this.checkBudget();
      const { maxSteps } = this.limits;
      if (this.stats.steps >= maxSteps) {
        throw fail(
          'AGENT_LIMIT',
          `limits.max_steps (${maxSteps}) reached: ${maxSteps} model turns without finish`,
        );
      }
      const step = ++this.stats.steps;
      this.manageContext(step);
      const answer = await this.callModel(step);
      this.facts.recordNote(step, answer.content);

      const assistant: ChatCompletionMessageParam = { role: 'assistant', content: answer.content ?? null };
      if (answer.toolCalls.length > 0) {
        assistant.tool_calls = answer.toolCalls.map((c): ChatCompletionMessageToolCall => ({
          id: c.id,
          type: 'function',
          function: { name: c.name, arguments: c.arguments },
        }));
      }
      this.history.push(assistant, step);

      if (answer.toolCalls.length === 0) {
        if (nudges >= MAX_NUDGES_IN_A_ROW) {
          throw fail(
            'MODEL_FAILED',
            `the model answered ${nudges + 1} times in a row without calling a tool (last answer: ${JSON.stringify(oneLine(answer.content ?? '', 200))})`,
          );
        }
        nudges++;
        this.history.push({ role: 'user', content: NUDGE_MESSAGE }, step, 'user');
        this.emit({ type: 'nudge', at: this.now(), step, message: NUDGE_MESSAGE });
        this.log(`step ${step}: the model answered without a tool call; reminded it to use the tools`);
        continue;
      }
      nudges = 0;

      const control = await this.runCalls(step, answer.toolCalls);
      if (control?.kind === 'finish') {
        return {
          kind: 'finished',
          summary: control.summary,
          commitMessage: control.commitMessage || defaultCommitMessage(this.opts.brief),
        };
      }
      if (control?.kind === 'blocked') return { kind: 'blocked', question: control.question };
    }
  }

  /** Masks old tool outputs and condenses the conversation when it nears the context window. */
  private manageContext(step: number): void {
    const masked = this.history.mask(step);
    if (masked) this.emit({ type: 'context', at: this.now(), step, ...masked });
    const condensed = this.history.condense(this.facts);
    if (condensed) {
      this.stats.condensations++;
      this.emit({ type: 'context', at: this.now(), step, ...condensed });
      this.log(
        `step ${step}: context condensed to fit the model's window: ~${condensed.tokensBefore} → ~${condensed.tokensAfter} tokens (${condensed.messagesBefore} → ${condensed.messagesAfter} messages)`,
      );
    }
  }

  /** Runs one answer's tool calls in order; every call gets a tool message (the API requires it). */
  private async runCalls(step: number, calls: RecordedToolCall[]): Promise<ToolControl | undefined> {
    let control: ToolControl | undefined;
    let stop: Stop | undefined;
    for (const call of calls) {
      if (control || stop) {
        const why = control
          ? `${control.kind === 'finish' ? 'finish' : 'ask_clarification'} ended the turn`
          : 'the run stopped';
        this.pushToolMessage(step, call.id, `Not run: ${why}.`);
        continue;
      }
      this.emit({
        type: 'tool_call',
        at: this.now(),
        step,
        id: call.id,
        name: call.name,
        arguments: call.arguments,
      });
      this.stats.toolCalls++;
      const parsed = parseToolCall(call.name, call.arguments);
      if (!parsed.ok) {
        this.invalidInARow++;
        this.stats.toolErrors++;
        this.lastCallKey = undefined;
        this.sameCallsInARow = 0;
        const failing = this.invalidInARow > MAX_INVALID_CALLS_IN_A_ROW;
        const content = `Error: ${parsed.error}${failing ? ' The run stops here: too many invalid tool calls in a row.' : ''}`;
        this.pushToolMessage(step, call.id, content);
        this.emit({
          type: 'tool_result',
          at: this.now(),
          step,
          id: call.id,
          name: call.name,
          ok: false,
          durationMs: 0,
          output: content,
        });
        this.log(
          `step ${step}: invalid call to ${oneLine(call.name, 40) || '(no name)'}: ${oneLine(parsed.error, 160)}`,
        );
        if (failing) {
          stop = fail(
            'TOOL_INVALID',
            `the model made ${this.invalidInARow} invalid tool calls in a row (the last: ${oneLine(parsed.error, 200)})`,
          );
        } else {
          stop = this.countError(`invalid call to ${oneLine(call.name, 40)}: ${parsed.error}`);
        }
        continue;
      }
      this.invalidInARow = 0;
      const args = parsed.args as Record<string, unknown>;
      const label = callLabel(parsed.name, args);

      // The loop detector: the same call with the same arguments, again and again.
      const key = `${parsed.name} ${canonicalJson(args)}`;
      this.sameCallsInARow = key === this.lastCallKey ? this.sameCallsInARow + 1 : 1;
      this.lastCallKey = key;
      const repeats = this.limits.loopRepeats;
      if (repeats > 0 && this.sameCallsInARow >= repeats) {
        stop = fail(
          'AGENT_LIMIT',
          `limits.loop_repeats (${repeats}) reached: the same call ${parsed.name}${label ? ' ' + label : ''} ${repeats} times in a row`,
        );
        const content = `Not run: ${stop.outcome.kind === 'failed' ? stop.outcome.reason : ''}.`;
        this.pushToolMessage(step, call.id, content);
        this.emit({
          type: 'tool_result',
          at: this.now(),
          step,
          id: call.id,
          name: parsed.name,
          ok: false,
          durationMs: 0,
          output: content,
        });
        this.log(
          `step ${step}: ${parsed.name}${label ? ' ' + label : ''} → not run: the same call ${repeats} times in a row`,
        );
        continue;
      }

      const started = this.now();
      let output: string;
      let brief: string;
      let ok = true;
      try {
        this.checkLimits();
        const result = await runTool(this.toolContext(), parsed);
        output = result.output;
        brief = result.brief;
        control = result.control;
      } catch (err) {
        if (err instanceof Stop) {
          stop = err;
          output = `Not run: ${err.outcome.kind === 'failed' ? err.outcome.reason : 'the run stopped'}.`;
          brief = 'not run';
        } else {
          // fs errors name absolute paths: show them repository-relative, as the model knows them.
          const message = (err instanceof AvatarError ? err.message : describeError(err))
            .split(this.paths.root + '/')
            .join('');
          output = `Error: ${message}`;
          brief = `error: ${oneLine(message, 120)}`;
        }
        ok = false;
      }
      const durationMs = this.now() - started;
      this.stats.toolMs += durationMs;
      // The run's secrets never reach the model, whatever the tool read (run_command and run_tests
      // also redact credential-shaped text; file contents keep it, so that edits can quote them).
      output = capText(this.opts.redactor.redactValues(output), this.limits.maxOutputChars);
      if (ok) {
        this.errorsInARow = 0;
        if (repeats > 2 && this.sameCallsInARow === repeats - 1) {
          output += `\n[Note: you made this same call ${this.sameCallsInARow} times in a row and got the same kind of answer; one more identical call ends the run (limits.loop_repeats). Try something different.]`;
        }
      } else if (!stop) {
        this.stats.toolErrors++;
        stop = this.countError(`${parsed.name}: ${output.replace(/^Error: /, '')}`);
      }
      this.facts.recordCall(step, parsed.name, args, ok, output);
      this.pushToolMessage(step, call.id, output);
      this.emit({
        type: 'tool_result',
        at: this.now(),
        step,
        id: call.id,
        name: parsed.name,
        ok,
        durationMs,
        output,
      });
      this.log(`step ${step}: ${parsed.name}${label ? ' ' + label : ''} → ${brief}`);
    }
    if (stop) throw stop;
    return control;
  }

  private toolContext(): ToolContext {
    return {
      paths: this.paths,
      limits: this.limits,
      runTests: this.opts.runTests,
      touched: this.touched,
      redactor: this.opts.redactor,
      signal: this.opts.signal,
      remainingMs: () => this.remainingMs(),
      commandPolicy: this.commandPolicy,
      ...(this.opts.checkSyntax !== false ? { checkSyntax: this.opts.checkSyntax ?? checkSyntax } : {}),
      ...(this.opts.baseEnv ? { baseEnv: this.opts.baseEnv } : {}),
      ...(this.opts.sandbox ? { sandbox: this.opts.sandbox } : {}),
    };
  }

  private pushToolMessage(step: number, id: string, content: string): void {
    this.history.push({ role: 'tool', tool_call_id: id, content }, step);
  }

  /** One model answer; a transient failure is sent again (counted by limits.max_consecutive_errors). */
  private async callModel(step: number): Promise<ModelAnswer> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.callModelOnce(step, attempt);
      } catch (err) {
        if (!(err instanceof TransientModelError)) throw err;
        const stop = this.countError(`the model request failed (${err.reason})`);
        this.emitModelError(step, attempt, err.reason, stop === undefined);
        if (stop) throw stop;
        const delay = Math.min(
          (this.opts.modelRetryDelayMs ?? MODEL_RETRY_DELAY_MS) * attempt,
          Math.max(0, this.remainingMs()),
        );
        this.log(
          `step ${step}: the model request failed (${oneLine(err.reason, 200)}); trying again in ${seconds(delay)} (${this.errorsInARow} of limits.max_consecutive_errors = ${this.limits.maxConsecutiveErrors} errors in a row)`,
        );
        await sleep(delay, this.opts.signal);
        this.checkBudget();
      }
    }
  }

  private lastModelError: { durationMs: number } = { durationMs: 0 };

  private emitModelError(step: number, attempt: number, error: string, retrying: boolean): void {
    this.emit({
      type: 'model_error',
      at: this.now(),
      step,
      attempt,
      durationMs: this.lastModelError.durationMs,
      error,
      retrying,
    });
  }

  private async callModelOnce(step: number, attempt: number): Promise<ModelAnswer> {
    const stream = this.opts.stream === true;
    const messages = this.history.messages;
    const rewritten = this.history.takeRewritten();
    const newMessages = rewritten ? messages : messages.slice(this.sentCount);
    this.sentCount = messages.length;
    const estimated = this.history.estimate();
    this.emit({
      type: 'request',
      at: this.now(),
      step,
      attempt,
      model: this.opts.model,
      stream,
      messageCount: messages.length,
      estimatedPromptTokens: estimated,
      rewritten,
      newMessages,
    });
    const params: ChatCompletionCreateParamsBase = {
      model: this.opts.model,
      messages,
      tools: TOOL_DEFINITIONS,
      tool_choice: 'auto',
    };
    if (this.opts.temperature !== undefined) params.temperature = this.opts.temperature;

    const started = this.now();
    const cacheKey = this.cache
      ? modelCacheKey({
          model: this.opts.model,
          messages,
          tools: TOOL_DEFINITIONS,
          temperature: this.opts.temperature,
        })
      : undefined;
    if (this.cache && cacheKey) {
      const hit = await this.cache.get(cacheKey);
      if (hit) {
        const durationMs = this.now() - started;
        this.stats.cachedCalls++;
        if (hit.usage) this.history.observe(estimated, hit.usage.promptTokens);
        this.emit({
          type: 'response',
          at: this.now(),
          step,
          attempt,
          durationMs,
          content: hit.content,
          toolCalls: hit.toolCalls,
          finishReason: hit.finishReason,
          usage: null,
          costUsd: 0,
          cached: true,
          cachedUsage: hit.usage,
          cacheKey,
        });
        return hit;
      }
    }

    // setTimeout's longest delay is 2^31-1 ms; a longer one would fire at once.
    const wallClock = AbortSignal.timeout(Math.min(2_147_483_647, Math.max(1, this.remainingMs())));
    const signal = this.opts.signal ? AbortSignal.any([this.opts.signal, wallClock]) : wallClock;
    this.stats.modelCalls++;
    let answer: ModelAnswer;
    try {
      answer = stream ? await this.streamed(params, signal) : await this.whole(params, signal);
    } catch (err) {
      const durationMs = this.now() - started;
      this.stats.modelMs += durationMs;
      this.lastModelError = { durationMs };
      let stop: Stop;
      if (this.opts.signal?.aborted) {
        stop = fail('RUN_ABORTED', 'the run was aborted while waiting for the model');
      } else if (wallClock.aborted) {
        stop = this.wallClockStop(' while waiting for the model');
      } else if (err instanceof APIError) {
        const status = err.status !== undefined ? `HTTP ${err.status}: ` : '';
        const reason = `${status}${oneLine(err.message, 300)}`;
        const noRetry = err.headers?.get?.('x-should-retry') === 'false';
        if (!noRetry && (err.status === undefined || !PERMANENT_STATUSES.has(err.status))) {
          throw new TransientModelError(reason);
        }
        stop = fail('MODEL_FAILED', `the model request failed (${reason})`);
      } else if (err instanceof AvatarError && err.code === 'MODEL_FAILED') {
        throw new TransientModelError(oneLine(err.message, 300));
      } else {
        stop = fail('MODEL_FAILED', `the model request failed: ${oneLine(describeError(err), 300)}`);
      }
      const reason = stop.outcome.kind === 'failed' ? stop.outcome.reason : '';
      this.emitModelError(step, attempt, reason, false);
      throw stop;
    }
    const durationMs = this.now() - started;
    this.stats.modelMs += durationMs;
    answer.toolCalls.forEach((c, i) => {
      if (!c.id) c.id = `call_step${step}_${i}`;
    });
    let spent = answer.usage;
    let estimatedUsage: TokenUsage | undefined;
    if (spent) {
      this.history.observe(estimated, spent.promptTokens);
    } else {
      // No usage reported: the limits count an estimate instead.
      estimatedUsage = {
        promptTokens: estimated,
        completionTokens: estimateTextTokens(
          (answer.content ?? '') + answer.toolCalls.map((c) => c.name + c.arguments).join(''),
        ),
      };
      spent = estimatedUsage;
    }
    this.stats.promptTokens += spent.promptTokens;
    this.stats.completionTokens += spent.completionTokens;
    const cost = this.price ? costUsd(this.price, spent.promptTokens, spent.completionTokens) : null;
    if (cost !== null) this.stats.costUsd += cost;
    this.emit({
      type: 'response',
      at: this.now(),
      step,
      attempt,
      durationMs,
      content: answer.content,
      toolCalls: answer.toolCalls,
      finishReason: answer.finishReason,
      usage: answer.usage,
      ...(estimatedUsage ? { estimatedUsage } : {}),
      costUsd: cost,
      cached: false,
      ...(cacheKey ? { cacheKey } : {}),
    });
    if (this.cache && cacheKey) await this.cache.put(cacheKey, this.opts.model, answer);
    return answer;
  }

  private async whole(params: ChatCompletionCreateParamsBase, signal: AbortSignal): Promise<ModelAnswer> {
    const res = await this.opts.client.chat.completions.create({ ...params, stream: false }, { signal });
    const choice = res.choices?.[0];
    if (!choice) throw new AvatarError('MODEL_FAILED', 'the model answered with no choices');
    const toolCalls: RecordedToolCall[] = (choice.message.tool_calls ?? []).map((c) =>
      c.type === 'function'
        ? { id: c.id, name: c.function.name, arguments: c.function.arguments ?? '' }
        : { id: c.id, name: c.custom.name, arguments: c.custom.input },
    );
    return {
      content: choice.message.content ?? null,
      toolCalls,
      finishReason: choice.finish_reason ?? null,
      usage: res.usage
        ? { promptTokens: res.usage.prompt_tokens, completionTokens: res.usage.completion_tokens }
        : null,
    };
  }

  private async streamed(params: ChatCompletionCreateParamsBase, signal: AbortSignal): Promise<ModelAnswer> {
    const stream = await this.opts.client.chat.completions.create(
      { ...params, stream: true, stream_options: { include_usage: true } },
      { signal },
    );
    let content = '';
    let sawContent = false;
    let finishReason: string | null = null;
    let usage: TokenUsage | null = null;
    const calls: RecordedToolCall[] = [];
    for await (const chunk of stream) {
      if (chunk.usage) {
        usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
      }
      const choice = chunk.choices?.[0];
      if (!choice) continue;
      if (typeof choice.delta?.content === 'string') {
        content += choice.delta.content;
        sawContent = true;
      }
      for (const d of choice.delta?.tool_calls ?? []) {
        const slot = (calls[d.index] ??= { id: '', name: '', arguments: '' });
        if (d.id) slot.id = d.id;
        if (d.function?.name) slot.name = d.function.name;
        if (d.function?.arguments) slot.arguments += d.function.arguments;
      }
      if (choice.finish_reason) finishReason = choice.finish_reason;
    }
    return {
      content: sawContent && content !== '' ? content : null,
      toolCalls: calls.filter((c): c is RecordedToolCall => c !== undefined),
      finishReason,
      usage,
    };
  }

  private emit(e: AgentEvent): void {
    if (!this.opts.onEvent) return;
    try {
      this.opts.onEvent(this.opts.redactor.redactValue(e));
    } catch {
      // a transcript sink that fails must not stop the run
    }
  }

  private log(line: string): void {
    this.opts.log(this.opts.redactor.redact(line));
  }

  private redactOutcome(o: AgentOutcome): AgentOutcome {
    return this.opts.redactor.redactValue(o);
  }
}

/** The object without its undefined members (so they do not override defaults in a spread). */
function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
