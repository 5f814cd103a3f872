/**
 * A scripted OpenAI-compatible chat-completions server for tests and the demo. Each
 * `POST /v1/chat/completions` consumes the next scripted turn and answers it exactly as OpenAI
 * would: a JSON completion, or (with `stream: true`) server-sent `chat.completion.chunk` events with
 * the content and tool-call arguments in pieces, then `data: [DONE]`. A turn may instead answer an
 * HTTP status (429, 500, ...) with `retry-after-ms: 10`, so the SDK's retries are quick.
 *
 * Several conversations can share one server through `sessions`: a request whose first user
 * message (the agent's brief) contains a session's `match` takes its turns from that session.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedToolCall {
  name: string;
  /** An object is sent as JSON; a string is sent as is (to test malformed arguments). */
  arguments: Record<string, unknown> | string;
}

export interface ScriptedTurn {
  content?: string;
  tool_calls?: ScriptedToolCall[];
  /** Checks on the request; a mismatch is recorded in errors() and answered 400 with why. */
  expect?: { lastToolResultIncludes?: string; lastUserIncludes?: string };
  /** Answer this HTTP status instead (a retried request then gets the next turn). */
  status?: number;
  usage?: { prompt_tokens: number; completion_tokens: number };
  /** Wait this long before answering (to hold a run in the middle). */
  delayMs?: number;
}

/** Turns for the conversations whose first user message contains `match` (the first session that matches wins). */
export interface ScriptedSession {
  match: string;
  turns: ScriptedTurn[];
  /** Start again from the first turn when the turns run out (several runs of the same task). */
  repeat?: boolean;
  /**
   * Pick each answer by the conversation's progress instead of consuming the turns in order: a
   * request with k assistant messages gets turn k (0-based). Many conversations of this session
   * can then run at once, and a conversation started over (a runner killed and run again, answers
   * replayed from the model cache) still gets the turn it is at. `repeat` does not apply.
   */
  stateless?: boolean;
}

export interface ScriptedModelOptions {
  /** Turns for requests that no session matches. */
  turns: ScriptedTurn[];
  sessions?: ScriptedSession[];
  /** Default 0: the OS picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** When set, requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** When the turns run out: 'error' (default) answers 500; 'finish' answers a finish tool call. */
  onExhausted?: 'error' | 'finish';
  /** The id GET /v1/models lists (default "scripted-model"). */
  model?: string;
}

export interface ScriptedModelServer {
  /** http://127.0.0.1:<port>/v1 */
  baseURL: string;
  requests(): Array<{ body: unknown; at: number }>;
  remaining(): number;
  errors(): string[];
  close(): Promise<void>;
}

interface ChatMessage {
  role?: unknown;
  content?: unknown;
}

/** The text of a message's content: a string, or an array of text parts. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) =>
        p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string'
          ? (p as { text: string }).text
          : '',
      )
      .join('');
  }
  return '';
}

function lastOfRole(messages: ChatMessage[], role: string): ChatMessage | undefined {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]?.role === role) return messages[i];
  return undefined;
}

/** Why the request does not meet the turn's expectations, or undefined. */
export function checkExpectations(turn: ScriptedTurn, body: Record<string, unknown>): string | undefined {
  if (!turn.expect) return undefined;
  const messages = Array.isArray(body.messages) ? (body.messages as ChatMessage[]) : [];
  const { lastToolResultIncludes, lastUserIncludes } = turn.expect;
  if (lastToolResultIncludes !== undefined) {
    const last = lastOfRole(messages, 'tool');
    if (!last)
      return `expected a tool result including ${JSON.stringify(lastToolResultIncludes)}, but the request has no tool message`;
    const text = contentText(last.content);
    if (!text.includes(lastToolResultIncludes)) {
      return `expected the last tool result to include ${JSON.stringify(lastToolResultIncludes)}, got ${JSON.stringify(text.slice(0, 500))}`;
    }
  }
  if (lastUserIncludes !== undefined) {
    const last = lastOfRole(messages, 'user');
    if (!last)
      return `expected a user message including ${JSON.stringify(lastUserIncludes)}, but the request has none`;
    const text = contentText(last.content);
    if (!text.includes(lastUserIncludes)) {
      return `expected the last user message to include ${JSON.stringify(lastUserIncludes)}, got ${JSON.stringify(text.slice(0, 500))}`;
    }
  }
  return undefined;
}

const tokens = (chars: number) => Math.max(1, Math.ceil(chars / 4));

/** Splits a string into pieces of about `size` characters (keeping surrogate pairs whole). */
function pieces(s: string, size: number): string[] {
  const chars = Array.from(s);
  const out: string[] = [];
  for (let i = 0; i < chars.length; i += size) out.push(chars.slice(i, i + size).join(''));
  return out;
}

interface Answer {
  content: string | null;
  toolCalls: Array<{ id: string; name: string; arguments: string }>;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

function errorBody(message: string, type: string, code: string | null = null) {
  return { error: { message, type, param: null, code } };
}

export function startScriptedModel(opts: ScriptedModelOptions): Promise<ScriptedModelServer> {
  interface Script {
    label: string;
    all: ScriptedTurn[];
    queue: ScriptedTurn[];
    repeat: boolean;
    stateless: boolean;
    match?: string;
  }
  const main: Script = {
    label: 'the main script',
    all: opts.turns,
    queue: [...opts.turns],
    repeat: false,
    stateless: false,
  };
  const sessions: Script[] = (opts.sessions ?? []).map((sess) => ({
    label: `session ${JSON.stringify(sess.match)}`,
    all: sess.turns,
    queue: [...sess.turns],
    repeat: sess.repeat === true,
    stateless: sess.stateless === true,
    match: sess.match,
  }));
  const timers = new Set<NodeJS.Timeout>();

  function scriptFor(body: Record<string, unknown>): Script {
    if (sessions.length === 0) return main;
    const messages = Array.isArray(body.messages) ? (body.messages as ChatMessage[]) : [];
    const firstUser = contentText(messages.find((m) => m?.role === 'user')?.content);
    return sessions.find((sess) => sess.match !== undefined && firstUser.includes(sess.match)) ?? main;
  }
  const recorded: Array<{ body: unknown; at: number }> = [];
  const errors: string[] = [];
  const modelId = opts.model ?? 'scripted-model';
  let completions = 0;
  let callSeq = 0;

  function sendJson(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  function buildAnswer(turn: ScriptedTurn, body: Record<string, unknown>): Answer {
    const toolCalls = (turn.tool_calls ?? []).map((c) => ({
      id: `call_${++callSeq}`,
      name: c.name,
      arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments),
    }));
    const content = turn.content ?? null;
    const promptTokens = turn.usage?.prompt_tokens ?? tokens(JSON.stringify(body.messages ?? []).length);
    const completionTokens =
      turn.usage?.completion_tokens ??
      tokens((content ?? '').length + toolCalls.reduce((n, c) => n + c.name.length + c.arguments.length, 0));
    return {
      content,
      toolCalls,
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
      },
    };
  }

  function answerJson(res: ServerResponse, model: string, a: Answer): void {
    const message: Record<string, unknown> = { role: 'assistant', content: a.content, refusal: null };
    if (a.toolCalls.length > 0) {
      message.tool_calls = a.toolCalls.map((c) => ({
        id: c.id,
        type: 'function',
        function: { name: c.name, arguments: c.arguments },
      }));
    }
    sendJson(res, 200, {
      id: `chatcmpl-scripted-${completions}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [
        { index: 0, message, logprobs: null, finish_reason: a.toolCalls.length > 0 ? 'tool_calls' : 'stop' },
      ],
      usage: a.usage,
    });
  }

  function answerStream(res: ServerResponse, model: string, a: Answer, includeUsage: boolean): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    const id = `chatcmpl-scripted-${completions}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) => {
      const c: Record<string, unknown> = {
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      };
      if (includeUsage) c.usage = null;
      res.write(`data: ${JSON.stringify(c)}\n\n`);
    };
    chunk({ role: 'assistant', content: '', refusal: null });
    if (a.content) for (const p of pieces(a.content, 16)) chunk({ content: p });
    a.toolCalls.forEach((c, index) => {
      chunk({
        tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }],
      });
      for (const p of pieces(c.arguments, 10)) chunk({ tool_calls: [{ index, function: { arguments: p } }] });
    });
    chunk({}, a.toolCalls.length > 0 ? 'tool_calls' : 'stop');
    if (includeUsage) {
      res.write(
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: a.usage })}\n\n`,
      );
    }
    res.write('data: [DONE]\n\n');
    res.end();
  }

  function handleCompletion(res: ServerResponse, body: Record<string, unknown>): void {
    completions++;
    const model = typeof body.model === 'string' ? body.model : modelId;
    const script = scriptFor(body);
    let turn: ScriptedTurn | undefined;
    let turnNumber: number;
    if (script.stateless) {
      const messages = Array.isArray(body.messages) ? (body.messages as ChatMessage[]) : [];
      const index = messages.filter((m) => m?.role === 'assistant').length;
      turn = script.all[index];
      turnNumber = index + 1;
    } else {
      if (script.queue.length === 0 && script.repeat) script.queue = [...script.all];
      turn = script.queue.shift();
      turnNumber = script.all.length - script.queue.length;
    }
    const where = script === main ? '' : ` (${script.label})`;
    if (!turn) {
      if (opts.onExhausted === 'finish') {
        turn = {
          tool_calls: [
            { name: 'finish', arguments: { summary: 'The scripted session has ended.', commit_message: '' } },
          ],
        };
      } else {
        const why = `scripted model: no scripted turns left${where} (${script.all.length} were scripted; this is request ${completions})`;
        errors.push(why);
        // Not worth retrying: the script will not grow.
        sendJson(res, 500, errorBody(why, 'server_error', 'script_exhausted'), { 'x-should-retry': 'false' });
        return;
      }
    }
    const mismatch = checkExpectations(turn, body);
    if (mismatch) {
      const why = `scripted model, turn ${turnNumber}${where}: ${mismatch}`;
      errors.push(why);
      sendJson(res, 400, errorBody(why, 'invalid_request_error', 'expectation_failed'));
      return;
    }
    if (turn.delayMs !== undefined && turn.delayMs > 0) {
      const delayed = turn;
      const t = setTimeout(() => {
        timers.delete(t);
        if (!res.destroyed) answerTurn(res, model, delayed, body);
      }, turn.delayMs);
      timers.add(t);
      return;
    }
    answerTurn(res, model, turn, body);
  }

  function answerTurn(
    res: ServerResponse,
    model: string,
    turn: ScriptedTurn,
    body: Record<string, unknown>,
  ): void {
    if (turn.status !== undefined && turn.status !== 200) {
      const type =
        turn.status === 429
          ? 'rate_limit_error'
          : turn.status >= 500
            ? 'server_error'
            : 'invalid_request_error';
      sendJson(res, turn.status, errorBody(`scripted model: scripted HTTP ${turn.status}`, type), {
        'retry-after-ms': '10',
      });
      return;
    }
    const answer = buildAnswer(turn, body);
    if (body.stream === true) {
      const so = body.stream_options as { include_usage?: unknown } | undefined;
      answerStream(res, model, answer, so?.include_usage === true);
    } else {
      answerJson(res, model, answer);
    }
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const pathname = url.pathname.replace(/\/+$/, '');
      if (opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
        await readBody(req);
        sendJson(
          res,
          401,
          errorBody('scripted model: missing or wrong API key', 'invalid_request_error', 'invalid_api_key'),
        );
        return;
      }
      if (req.method === 'GET' && pathname === '/v1/models') {
        sendJson(res, 200, {
          object: 'list',
          data: [{ id: modelId, object: 'model', created: 0, owned_by: 'numa-avatar' }],
        });
        return;
      }
      if (req.method === 'POST' && pathname === '/v1/chat/completions') {
        const text = await readBody(req);
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          sendJson(
            res,
            400,
            errorBody('scripted model: the request body is not valid JSON', 'invalid_request_error'),
          );
          return;
        }
        recorded.push({ body, at: Date.now() });
        if (body === null || typeof body !== 'object' || Array.isArray(body)) {
          sendJson(
            res,
            400,
            errorBody('scripted model: the request body must be a JSON object', 'invalid_request_error'),
          );
          return;
        }
        handleCompletion(res, body as Record<string, unknown>);
        return;
      }
      await readBody(req);
      sendJson(
        res,
        404,
        errorBody(`scripted model: no route for ${req.method} ${url.pathname}`, 'invalid_request_error'),
      );
    })().catch((err: unknown) => {
      if (!res.headersSent) {
        sendJson(
          res,
          500,
          errorBody(`scripted model: ${err instanceof Error ? err.message : String(err)}`, 'server_error'),
        );
      } else {
        res.destroy();
      }
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      const addr = server.address() as AddressInfo;
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      resolve({
        baseURL: `http://${host}:${addr.port}/v1`,
        requests: () => recorded.slice(),
        remaining: () => [main, ...sessions].reduce((n, sc) => n + (sc.stateless ? 0 : sc.queue.length), 0),
        errors: () => errors.slice(),
        close: () =>
          new Promise<void>((done) => {
            for (const t of timers) clearTimeout(t);
            timers.clear();
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
