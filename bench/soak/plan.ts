/**
 * What a soak run publishes, decided up front from its seed: the valid tasks and the scripted
 * session each follows (the demo's recorded session → `done`, tests that keep failing → `failed`,
 * a clarification → `blocked`), the malformed messages the soak publishes itself, and the order
 * of it all. The same seed gives the same plan.
 */
import { mulberry32 } from '../../servers/numa-backend/index.ts';

export type TaskKind = 'done' | 'failed' | 'blocked';

export interface PlannedTask {
  /** 0-based position among the valid tasks. */
  index: number;
  kind: TaskKind;
  title: string;
}

/** One message to publish, in order: a valid task's, or a malformed one. */
export type PlannedMessage =
  { type: 'task'; task: PlannedTask } | { type: 'malformed'; data: unknown; label: string };

export interface SoakPlan {
  tasks: PlannedTask[];
  messages: PlannedMessage[];
  malformed: number;
}

/** The text in a task's title that routes its agent conversation to a scripted session. */
export const SESSION_MARKERS: Readonly<Record<TaskKind, string>> = {
  done: '[soak:done]',
  failed: '[soak:failed]',
  blocked: '[soak:blocked]',
};

/**
 * Malformed topic messages: `data` without a usable task_id. Each must end in the dead-letter
 * store with its reason; none may start a run.
 */
export const MALFORMED_PAYLOADS: ReadonlyArray<{ label: string; data: unknown }> = [
  { label: 'empty object', data: {} },
  { label: 'task_id null', data: { task_id: null } },
  { label: 'misspelt key', data: { taskid: 7 } },
  { label: 'a string', data: 'run task 7 please' },
  { label: 'an array', data: [7] },
  { label: 'empty task_id', data: { task_id: '' } },
  { label: 'shell in task_id', data: { task_id: '7; rm -rf /' } },
  { label: 'negative task_id', data: { task_id: -3 } },
  { label: 'fractional task_id', data: { task_id: 1.5 } },
  { label: 'object task_id', data: { task_id: { id: 7 } } },
  { label: 'null', data: null },
  { label: 'a number', data: 42 },
  { label: 'task_id too long', data: { task_id: 'x'.repeat(300) } },
  { label: 'path in task_id', data: { task_id: '../../etc/passwd' } },
];

export interface PlanOptions {
  tasks: number;
  seed: number;
  /** Share of all published messages that are malformed (default 0.05). */
  malformedShare?: number;
  /** Shares of valid tasks whose session ends failed and blocked (default 0.1 each). */
  failedShare?: number;
  blockedShare?: number;
}

export function makePlan(opts: PlanOptions): SoakPlan {
  const random = mulberry32(opts.seed);
  const failedShare = opts.failedShare ?? 0.1;
  const blockedShare = opts.blockedShare ?? 0.1;
  const tasks: PlannedTask[] = [];
  for (let index = 0; index < opts.tasks; index++) {
    const r = random();
    const kind: TaskKind = r < failedShare ? 'failed' : r < failedShare + blockedShare ? 'blocked' : 'done';
    tasks.push({ index, kind, title: titleFor(kind, index) });
  }
  // Every kind at least once when there is room, so a short run still covers all three endings.
  if (opts.tasks >= 6) {
    for (const [i, kind] of [
      [1, 'failed'],
      [2, 'blocked'],
    ] as const) {
      if (!tasks.some((t) => t.kind === kind)) tasks[i] = { index: i, kind, title: titleFor(kind, i) };
    }
  }
  const share = opts.malformedShare ?? 0.05;
  const malformed = share > 0 ? Math.max(1, Math.round((opts.tasks * share) / (1 - share))) : 0;
  const messages: PlannedMessage[] = tasks.map((task) => ({ type: 'task', task }));
  for (let i = 0; i < malformed; i++) {
    const payload = MALFORMED_PAYLOADS[i % MALFORMED_PAYLOADS.length]!;
    // Anywhere after the first task, so the first poll already has something real to do.
    const at = 1 + Math.floor(random() * messages.length);
    messages.splice(at, 0, { type: 'malformed', data: structuredClone(payload.data), label: payload.label });
  }
  return { tasks, messages, malformed };
}

function titleFor(kind: TaskKind, index: number): string {
  const what =
    kind === 'done'
      ? 'Add titleCase to textkit'
      : kind === 'failed'
        ? 'Add a test to textkit (its tests keep failing)'
        : 'Add titleCase to textkit (needs a clarification)';
  return `${SESSION_MARKERS[kind]} ${what}, soak task ${index + 1}`;
}
