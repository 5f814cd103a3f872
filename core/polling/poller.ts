/**
 * The poll step, written once for local mode and the poller Lambda: long-poll the task topic after
 * the persisted cursor, put every new valid message on the task queue (durably) and every
 * malformed one in the dead-letter store with its reason, and only then move the cursor.
 * A crash at any point re-reads messages the queue already has; the queue's dedup key
 * (the message id) keeps them from being queued twice.
 */
import { AvatarError } from '../errors.ts';
import type { Id, TaskMessage } from '../message.ts';
import { messageKey, taskIdFromTopicData } from '../message.ts';
import type { NumaClient } from '../numa/client.ts';
import type { TopicMessage } from '../numa/schemas.ts';
import type { DeadLetter, OutgoingMessage, TaskQueue, VersionedStore } from '../ports.ts';
import { compareIds, isAfter } from './ids.ts';

export interface CursorState {
  topic_id?: Id;
  /** The highest message id handled (queued or dead-lettered). */
  after?: Id;
  updated_at?: string;
}

export interface PollDeps {
  client: NumaClient;
  queue: TaskQueue;
  cursor: VersionedStore<CursorState>;
  now?: () => number;
}

export interface PollSettings {
  /** Long-poll wait in seconds (0: plain poll). */
  wait: number;
  limit: number;
  signal?: AbortSignal;
}

export interface PollResult {
  topicId: Id;
  received: number;
  forwarded: number;
  deadLettered: number;
  /** Messages at or below the cursor that the backend sent again (ignored). */
  alreadySeen: number;
  cursor: Id | undefined;
  /** True when the backend answered with nothing new well before `wait` ran out: it does not long-poll. */
  answeredAtOnce: boolean;
  elapsedMs: number;
}

export async function pollOnce(deps: PollDeps, settings: PollSettings): Promise<PollResult> {
  const now = deps.now ?? Date.now;
  const started = now();
  const loaded = await deps.cursor.load();
  let state: CursorState = loaded?.value ?? {};
  let version = loaded?.version;

  if (state.topic_id === undefined) {
    const topic = await deps.client.getTaskTopic({ signal: settings.signal, maxAttempts: 1 });
    state = { ...state, topic_id: topic.id, updated_at: new Date(now()).toISOString() };
    if (await deps.cursor.save(state, version)) {
      version = (await deps.cursor.load())?.version;
    } else {
      const fresh = await deps.cursor.load();
      state = fresh?.value ?? state;
      version = fresh?.version;
    }
  }
  const topicId = state.topic_id as Id;

  const page = await deps.client.getMessages(
    topicId,
    { after: state.after, wait: settings.wait, limit: settings.limit },
    { signal: settings.signal, maxAttempts: 1 },
  );

  const fresh = page.messages
    .filter((m) => isAfter(m.id, state.after))
    .sort((a, b) => compareIds(a.id, b.id));
  const unique = dedupeById(fresh);
  const alreadySeen = page.messages.length - unique.length;

  const outgoing: OutgoingMessage[] = [];
  const letters: DeadLetter[] = page.invalid.map((i) => ({
    raw: i.raw,
    reason: i.reason,
    source: `topic ${topicId}`,
  }));
  for (const m of unique) {
    const parsed = taskIdFromTopicData(m.data);
    if (!parsed.ok) {
      letters.push({ raw: m, reason: `message ${m.id}: ${parsed.reason}`, source: `topic ${topicId}` });
      continue;
    }
    const body: TaskMessage = {
      task_id: parsed.taskId,
      message_id: m.id,
      topic_id: m.topic_id ?? topicId,
      attempt: 1,
      ...(typeof m.created_at === 'string' ? { created_at: m.created_at } : {}),
    };
    outgoing.push({ dedupKey: messageKey(body, String(m.id)), body });
  }

  // Durable first: queue and dead-letter, then the cursor.
  if (outgoing.length > 0) await deps.queue.send(outgoing);
  for (const letter of letters) await deps.queue.deadLetter(letter);

  const last = unique.at(-1)?.id;
  if (last !== undefined) await advanceCursor(deps.cursor, { ...state, after: last }, version, now);

  const elapsedMs = now() - started;
  return {
    topicId,
    received: page.messages.length + page.invalid.length,
    forwarded: outgoing.length,
    deadLettered: letters.length,
    alreadySeen,
    cursor: last ?? state.after,
    answeredAtOnce: unique.length === 0 && answeredEarly(settings.wait, elapsedMs),
    elapsedMs,
  };
}

/**
 * Whether an empty answer came back well before the long poll's `wait` ran out. With wait 0 (long
 * polling off) every answer is at once; a short wait keeps half of it as the margin, a long one a
 * second, so that a backend ignoring `wait` is recognised (and slept on) whatever the wait is.
 */
function answeredEarly(waitSeconds: number, elapsedMs: number): boolean {
  if (waitSeconds <= 0) return true;
  const waitMs = waitSeconds * 1000;
  return elapsedMs < waitMs - Math.min(1000, waitMs / 2);
}

function dedupeById(messages: TopicMessage[]): TopicMessage[] {
  const out: TopicMessage[] = [];
  for (const m of messages) {
    if (out.length === 0 || compareIds(out[out.length - 1]!.id, m.id) !== 0) out.push(m);
  }
  return out;
}

/** Moves the cursor forward, never back: on a conflicting write it re-reads and keeps the higher one. */
async function advanceCursor(
  store: VersionedStore<CursorState>,
  next: CursorState,
  version: string | undefined,
  now: () => number,
): Promise<void> {
  let expected = version;
  for (let i = 0; i < 5; i++) {
    if (await store.save({ ...next, updated_at: new Date(now()).toISOString() }, expected)) return;
    const current = await store.load();
    const after = current?.value.after;
    if (after !== undefined && next.after !== undefined && compareIds(after, next.after) >= 0) return;
    expected = current?.version;
  }
  throw new AvatarError('QUEUE_IO', 'could not save the poll cursor: it kept changing under us');
}
