/**
 * The agent: a tool-calling loop over the `openai` SDK (any OpenAI-compatible endpoint). develop()
 * gives the model the system prompt and the task's brief; repair() continues the same
 * conversation with a failing test run. Each step is one model turn and the tool calls it asked
 * for; steps and the wall clock count across develop() and repair(). Malformed or unknown tool
 * calls get a corrective message (a few times in a row at most); answers without a tool call get
 * a nudge (bounded). Everything the agent logs or emits passes through the redactor.
 */
import type OpenAI from 'openai';
import { APIError } from 'openai';
import type {
  ChatCompletionCreateParamsBase,
  ChatCompletionMessageParam,
  ChatCompletionMessageToolCall,
} from 'openai/resources/chat/completions';
import { AvatarError, describeError } from '../../../core/errors.ts';
import type { Redactor } from '../../../core/redact.ts';
import { RepoPaths } from './paths.ts';
import { NUDGE_MESSAGE, briefMessage, defaultCommitMessage, repairMessage, systemPrompt } from './prompt.ts';
import type { Brief } from './prompt.ts';
import { TOOL_DEFINITIONS, parseToolCall } from './schemas.ts';
import { capText, tailText } from './text.ts';
import { runTool } from './tools/index.ts';
import type { AgentLimits, TestRunResult, ToolContext, ToolControl } from './types.ts';

export type { AgentLimits, TestRunResult } from './types.ts';
export { DEFAULT_LIMITS } from './types.ts';
export type { Brief } from './prompt.ts';

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

/** Transcript events; `at` is a timestamp in milliseconds (AgentOptions.now). */
export type AgentEvent =
  | {
      type: 'request';
      at: number;
      step: number;
      model: string;
      stream: boolean;
      /** Messages in the conversation now. */
      messageCount: number;
      /** The messages added since the previous request (the first request: all of them). */
      newMessages: ChatCompletionMessageParam[];
    }
  | {
      type: 'response';
      at: number;
      step: number;
      durationMs: number;
      content: string | null;
      toolCalls: RecordedToolCall[];
      finishReason: string | null;
      usage: TokenUsage | null;
    }
  | { type: 'model_error'; at: number; step: number; durationMs: number; error: string }
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
  | { type: 'outcome'; at: number; outcome: AgentOutcome };

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
  private readonly now: () => number;
  private readonly messages: ChatCompletionMessageParam[] = [];
  private readonly touched = new Set<string>();
  private readonly paths: RepoPaths;
  private sentCount = 0;
  private startedAt: number | undefined;
  private invalidInARow = 0;
  private running = false;

  readonly stats = { steps: 0, promptTokens: 0, completionTokens: 0, modelCalls: 0, modelMs: 0, toolMs: 0 };

  constructor(opts: AgentOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.paths = new RepoPaths(opts.repoDir);
  }

  /** Repository-relative paths that write_file and edit_file changed. */
  get filesTouched(): ReadonlySet<string> {
    return this.touched;
  }

  /** The first turn: the system prompt and the task's brief. */
  async develop(): Promise<AgentOutcome> {
    if (this.messages.length > 0) {
      throw new AvatarError('USAGE', 'AgentSession.develop() was already called; continue with repair()');
    }
    this.messages.push(
      { role: 'system', content: systemPrompt(this.opts.brief) },
      { role: 'user', content: briefMessage(this.opts.brief) },
    );
    this.log(`agent: developing task ${this.opts.brief.taskId} with ${this.opts.model}`);
    return this.run();
  }

  /** Continues the same conversation with a failing test run. */
  async repair(failure: TestRunResult): Promise<AgentOutcome> {
    if (this.messages.length === 0) {
      throw new AvatarError('USAGE', 'AgentSession.repair() called before develop()');
    }
    const output = this.opts.redactor.redact(
      tailText(failure.output, Math.max(500, this.opts.limits.maxOutputChars)),
    );
    this.messages.push({ role: 'user', content: repairMessage(failure, output) });
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
    this.emit({ type: 'outcome', at: this.now(), outcome });
    if (outcome.kind === 'finished')
      this.log(`agent: finished: ${oneLine(outcome.summary, 200) || '(no summary)'}`);
    else if (outcome.kind === 'blocked') this.log(`agent: blocked, asks: ${outcome.question}`);
    else this.log(`agent: failed (${outcome.code}): ${outcome.reason}`);
    return outcome;
  }

  private remainingMs(): number {
    return (this.startedAt ?? this.now()) + this.opts.limits.wallClockMs - this.now();
  }

  private checkLimits(): void {
    if (this.opts.signal?.aborted) throw fail('RUN_ABORTED', 'the run was aborted');
    if (this.remainingMs() <= 0) {
      const ms = this.opts.limits.wallClockMs;
      throw fail(
        'AGENT_LIMIT',
        `wall-clock limit reached: the agent ran for ${formatMs(ms)} (limits.wallClockMs = ${ms}) without finishing`,
      );
    }
  }

  private async loop(): Promise<AgentOutcome> {
    let nudges = 0;
    for (;;) {
      this.checkLimits();
      const { maxSteps } = this.opts.limits;
      if (this.stats.steps >= maxSteps) {
        throw fail(
          'AGENT_LIMIT',
          `step limit reached: ${maxSteps} model turns (limits.maxSteps = ${maxSteps}) without finish`,
        );
      }
      const step = ++this.stats.steps;
      const answer = await this.callModel(step);

      const assistant: ChatCompletionMessageParam = { role: 'assistant', content: answer.content ?? null };
      if (answer.toolCalls.length > 0) {
        assistant.tool_calls = answer.toolCalls.map((c): ChatCompletionMessageToolCall => ({
          id: c.id,
          type: 'function',
          function: { name: c.name, arguments: c.arguments },
        }));
      }
      this.messages.push(assistant);

      if (answer.toolCalls.length === 0) {
        if (nudges >= MAX_NUDGES_IN_A_ROW) {
          throw fail(
            'MODEL_FAILED',
            `the model answered ${nudges + 1} times in a row without calling a tool (last answer: ${JSON.stringify(oneLine(answer.content ?? '', 200))})`,
          );
        }
        nudges++;
        this.messages.push({ role: 'user', content: NUDGE_MESSAGE });
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

  /** Runs one answer's tool calls in order; every call gets a tool message (the API requires it). */
  private async runCalls(step: number, calls: RecordedToolCall[]): Promise<ToolControl | undefined> {
    let control: ToolControl | undefined;
    let stop: Stop | undefined;
    for (const call of calls) {
      if (control || stop) {
        const why = control
          ? `${control.kind === 'finish' ? 'finish' : 'ask_clarification'} ended the turn`
          : 'the run stopped';
        this.pushToolMessage(call.id, `Not run: ${why}.`);
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
      const parsed = parseToolCall(call.name, call.arguments);
      if (!parsed.ok) {
        this.invalidInARow++;
        const failing = this.invalidInARow > MAX_INVALID_CALLS_IN_A_ROW;
        const content = `Error: ${parsed.error}${failing ? ' The run stops here: too many invalid tool calls in a row.' : ''}`;
        this.pushToolMessage(call.id, content);
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
        }
        continue;
      }
      this.invalidInARow = 0;
      const label = callLabel(parsed.name, parsed.args as Record<string, unknown>);
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
      output = capText(output, this.opts.limits.maxOutputChars);
      this.pushToolMessage(call.id, output);
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
      limits: this.opts.limits,
      runTests: this.opts.runTests,
      touched: this.touched,
      redactor: this.opts.redactor,
      signal: this.opts.signal,
      remainingMs: () => this.remainingMs(),
    };
  }

  private pushToolMessage(id: string, content: string): void {
    this.messages.push({ role: 'tool', tool_call_id: id, content });
  }

  private async callModel(step: number): Promise<ModelAnswer> {
    const stream = this.opts.stream === true;
    const newMessages = this.messages.slice(this.sentCount);
    this.sentCount = this.messages.length;
    this.emit({
      type: 'request',
      at: this.now(),
      step,
      model: this.opts.model,
      stream,
      messageCount: this.messages.length,
      newMessages,
    });
    // setTimeout's longest delay is 2^31-1 ms; a longer one would fire at once.
    const wallClock = AbortSignal.timeout(Math.min(2_147_483_647, Math.max(1, this.remainingMs())));
    const signal = this.opts.signal ? AbortSignal.any([this.opts.signal, wallClock]) : wallClock;
    const params: ChatCompletionCreateParamsBase = {
      model: this.opts.model,
      messages: this.messages,
      tools: TOOL_DEFINITIONS,
      tool_choice: 'auto',
    };
    if (this.opts.temperature !== undefined) params.temperature = this.opts.temperature;

    const started = this.now();
    this.stats.modelCalls++;
    let answer: ModelAnswer;
    try {
      answer = stream ? await this.streamed(params, signal) : await this.whole(params, signal);
    } catch (err) {
      const durationMs = this.now() - started;
      this.stats.modelMs += durationMs;
      let stop: Stop;
      if (this.opts.signal?.aborted) {
        stop = fail('RUN_ABORTED', 'the run was aborted while waiting for the model');
      } else if (wallClock.aborted) {
        const ms = this.opts.limits.wallClockMs;
        stop = fail(
          'AGENT_LIMIT',
          `wall-clock limit reached while waiting for the model: ${formatMs(ms)} (limits.wallClockMs = ${ms})`,
        );
      } else if (err instanceof APIError) {
        const status = err.status !== undefined ? `HTTP ${err.status}: ` : '';
        stop = fail('MODEL_FAILED', `the model request failed (${status}${oneLine(err.message, 300)})`);
      } else {
        stop = fail('MODEL_FAILED', `the model request failed: ${oneLine(describeError(err), 300)}`);
      }
      const reason = stop.outcome.kind === 'failed' ? stop.outcome.reason : '';
      this.emit({ type: 'model_error', at: this.now(), step, durationMs, error: reason });
      throw stop;
    }
    const durationMs = this.now() - started;
    this.stats.modelMs += durationMs;
    if (answer.usage) {
      this.stats.promptTokens += answer.usage.promptTokens;
      this.stats.completionTokens += answer.usage.completionTokens;
    }
    answer.toolCalls.forEach((c, i) => {
      if (!c.id) c.id = `call_step${step}_${i}`;
    });
    this.emit({
      type: 'response',
      at: this.now(),
      step,
      durationMs,
      content: answer.content,
      toolCalls: answer.toolCalls,
      finishReason: answer.finishReason,
      usage: answer.usage,
    });
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
