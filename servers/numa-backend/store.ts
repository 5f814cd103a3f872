/**
 * The reference backend's state: applications, tasks, topics and their messages, per-task logs and
 * status history, solutions and requirements. The HTTP layer and tests use the same operations.
 * Ids are numbers generated here; lookups compare ids as strings, so "7" and 7 find the same
 * record. Every value handed out is a copy: a caller cannot change the stored state by mutating it.
 */
import { AvatarError } from '../../core/errors.ts';

/** An id as a client may send it: a number, or a string (numa-api.md). */
export type IdLike = number | string;

export interface Application {
  id: number;
  name: string;
  description: string;
  git_repo_url: string;
  owner: string | null;
}

export interface Task {
  id: number;
  title: string;
  description: string;
  status: string;
  assigned_to: IdLike | null;
  code_branch: string;
  solution_id: IdLike | null;
  requirement_id: IdLike | null;
  application_id: IdLike;
  started_at: string | null;
  completed_at: string | null;
}

export interface Topic {
  id: number;
  name: string;
  description: string;
}

export interface TopicMessage {
  id: number;
  topic_id: number;
  /** Stored as given: tests publish malformed data on purpose. */
  data: unknown;
  created_at: string;
}

export interface LogEntry {
  logs: string;
  received_at: string;
}

export interface StatusChange {
  status: string;
  at: string;
}

/** A solution or a requirement: both are a titled text. */
export interface Document {
  id: number;
  title: string;
  content: string;
}

export interface NewApplication {
  name: string;
  description?: string;
  git_repo_url: string;
  owner?: string | null;
}

export interface NewTask {
  title: string;
  description?: string;
  application_id: IdLike;
  status?: string;
  code_branch?: string;
  assigned_to?: IdLike | null;
  solution_id?: IdLike | null;
  requirement_id?: IdLike | null;
}

export interface NewDocument {
  title: string;
  content?: string;
}

/** Everything the store holds, as plain JSON (the data file's content). */
export interface StoreSnapshot {
  version: 1;
  next_ids: Record<IdKind, number>;
  applications: Application[];
  tasks: Task[];
  topics: Topic[];
  messages: TopicMessage[];
  logs: Record<string, LogEntry[]>;
  status_history: Record<string, StatusChange[]>;
  solutions: Document[];
  requirements: Document[];
}

export type IdKind = 'application' | 'task' | 'topic' | 'message' | 'solution' | 'requirement';

export interface NumaStoreOptions {
  now?: () => Date;
  /** Statuses that set `started_at` (and clear `completed_at`). Default: in_progress. */
  startedStatuses?: string[];
  /** Statuses that set `completed_at`. Default: done, failed, blocked. */
  completedStatuses?: string[];
}

export type MessageListener = (message: TopicMessage) => void;
export type ChangeListener = () => void;

export const TASKS_TOPIC: Readonly<Topic> = { id: 1, name: 'tasks', description: 'Development tasks topic' };

export class NumaStore {
  private readonly now: () => Date;
  private readonly started: Set<string>;
  private readonly completed: Set<string>;
  private nextIds: Record<IdKind, number> = {
    application: 1,
    task: 1,
    topic: 2,
    message: 1,
    solution: 1,
    requirement: 1,
  };
  private readonly applications = new Map<string, Application>();
  private readonly tasks = new Map<string, Task>();
  private readonly topics = new Map<string, Topic>();
  /** Per topic, in id order (ids only grow, so appending keeps the order). */
  private readonly messages = new Map<string, TopicMessage[]>();
  private readonly logs = new Map<string, LogEntry[]>();
  private readonly statusHistory = new Map<string, StatusChange[]>();
  private readonly solutions = new Map<string, Document>();
  private readonly requirements = new Map<string, Document>();
  private readonly messageListeners = new Set<MessageListener>();
  private readonly changeListeners = new Set<ChangeListener>();

  constructor(opts: NumaStoreOptions = {}, snapshot?: StoreSnapshot) {
    this.now = opts.now ?? (() => new Date());
    this.started = new Set(opts.startedStatuses ?? ['in_progress']);
    this.completed = new Set(opts.completedStatuses ?? ['done', 'failed', 'blocked']);
    if (snapshot) this.restore(snapshot);
    if (!this.topics.has(String(TASKS_TOPIC.id))) {
      this.topics.set(String(TASKS_TOPIC.id), { ...TASKS_TOPIC });
      this.messages.set(String(TASKS_TOPIC.id), []);
    }
  }

  /** Called with every published message (long polls wake on it). Returns the unsubscribe function. */
  onMessage(listener: MessageListener): () => void {
    this.messageListeners.add(listener);
    return () => this.messageListeners.delete(listener);
  }

  /** Called after every change of the state (persistence hooks on it). Returns the unsubscribe function. */
  onChange(listener: ChangeListener): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  // ---- applications ----

  createApplication(input: NewApplication): Application {
    const app: Application = {
      id: this.nextId('application'),
      name: input.name,
      description: input.description ?? '',
      git_repo_url: input.git_repo_url,
      owner: input.owner ?? null,
    };
    this.applications.set(String(app.id), app);
    this.changed();
    return clone(app);
  }

  getApplication(id: IdLike): Application | undefined {
    return cloneOpt(this.applications.get(String(id)));
  }

  listApplications(): Application[] {
    return [...this.applications.values()].map(clone);
  }

  // ---- tasks ----

  createTask(input: NewTask): Task {
    const id = this.nextId('task');
    const status = input.status ?? 'todo';
    const at = this.timestamp();
    const task: Task = {
      id,
      title: input.title,
      description: input.description ?? '',
      status,
      assigned_to: input.assigned_to ?? null,
      code_branch: input.code_branch ?? defaultBranch(id, input.title),
      solution_id: input.solution_id ?? null,
      requirement_id: input.requirement_id ?? null,
      application_id: input.application_id,
      started_at: this.started.has(status) ? at : null,
      completed_at: this.completed.has(status) ? at : null,
    };
    this.tasks.set(String(id), task);
    this.statusHistory.set(String(id), [{ status, at }]);
    this.logs.set(String(id), []);
    this.changed();
    return clone(task);
  }

  getTask(id: IdLike): Task | undefined {
    return cloneOpt(this.tasks.get(String(id)));
  }

  listTasks(): Task[] {
    return [...this.tasks.values()].map(clone);
  }

  /** Sets the status, records it in the history, and keeps started_at/completed_at in step. */
  setStatus(id: IdLike, status: string): Task {
    const task = this.requireTask(id);
    const at = this.timestamp();
    task.status = status;
    if (this.started.has(status)) {
      task.started_at = at;
      task.completed_at = null;
    }
    if (this.completed.has(status)) task.completed_at = at;
    this.historyOf(task.id).push({ status, at });
    this.changed();
    return clone(task);
  }

  statusHistoryOf(id: IdLike): StatusChange[] {
    const task = this.requireTask(id);
    return this.historyOf(task.id).map(clone);
  }

  appendLogs(id: IdLike, logs: string): LogEntry {
    const task = this.requireTask(id);
    const entry: LogEntry = { logs, received_at: this.timestamp() };
    const key = String(task.id);
    const list = this.logs.get(key) ?? [];
    list.push(entry);
    this.logs.set(key, list);
    this.changed();
    return clone(entry);
  }

  logsOf(id: IdLike): LogEntry[] {
    const task = this.requireTask(id);
    return (this.logs.get(String(task.id)) ?? []).map(clone);
  }

  // ---- topics and messages ----

  getTopic(id: IdLike): Topic | undefined {
    return cloneOpt(this.topics.get(String(id)));
  }

  getTopicByName(name: string): Topic | undefined {
    return cloneOpt([...this.topics.values()].find((t) => t.name === name));
  }

  listTopics(): Topic[] {
    return [...this.topics.values()].map(clone);
  }

  createTopic(name: string, description = ''): Topic {
    const topic: Topic = { id: this.nextId('topic'), name, description };
    this.topics.set(String(topic.id), topic);
    this.messages.set(String(topic.id), []);
    this.changed();
    return clone(topic);
  }

  /** Appends a message to the topic. `data` is stored exactly as given, whatever it is. */
  publish(topicId: IdLike, data: unknown): TopicMessage {
    const topic = this.requireTopic(topicId);
    const message: TopicMessage = {
      id: this.nextId('message'),
      topic_id: topic.id,
      data: clone(data),
      created_at: this.timestamp(),
    };
    this.messagesOf(topic.id).push(message);
    this.changed();
    const copy = clone(message);
    for (const listener of this.messageListeners) listener(copy);
    return clone(message);
  }

  /** Messages of the topic with an id above `after`, in id order, at most `limit` (all when undefined). */
  messagesAfter(topicId: IdLike, after = 0, limit?: number): TopicMessage[] {
    const topic = this.requireTopic(topicId);
    const out: TopicMessage[] = [];
    for (const m of this.messagesOf(topic.id)) {
      if (limit !== undefined && out.length >= limit) break;
      if (m.id > after) out.push(clone(m));
    }
    return out;
  }

  /** The newest message id of the topic (0 when it has none). */
  lastMessageId(topicId: IdLike): number {
    const list = this.messagesOf(this.requireTopic(topicId).id);
    return list.length ? list[list.length - 1]!.id : 0;
  }

  // ---- solutions and requirements ----

  createSolution(input: NewDocument): Document {
    return this.createDocument('solution', this.solutions, input);
  }

  getSolution(id: IdLike): Document | undefined {
    return cloneOpt(this.solutions.get(String(id)));
  }

  createRequirement(input: NewDocument): Document {
    return this.createDocument('requirement', this.requirements, input);
  }

  getRequirement(id: IdLike): Document | undefined {
    return cloneOpt(this.requirements.get(String(id)));
  }

  // ---- snapshot ----

  snapshot(): StoreSnapshot {
    const logs: Record<string, LogEntry[]> = {};
    for (const [k, v] of this.logs) logs[k] = v;
    const history: Record<string, StatusChange[]> = {};
    for (const [k, v] of this.statusHistory) history[k] = v;
    return clone({
      version: 1,
      next_ids: this.nextIds,
      applications: [...this.applications.values()],
      tasks: [...this.tasks.values()],
      topics: [...this.topics.values()],
      messages: [...this.messages.values()].flat().sort((a, b) => a.id - b.id),
      logs,
      status_history: history,
      solutions: [...this.solutions.values()],
      requirements: [...this.requirements.values()],
    });
  }

  private restore(s: StoreSnapshot): void {
    const data = clone(s);
    for (const a of data.applications) this.applications.set(String(a.id), a);
    for (const t of data.tasks) this.tasks.set(String(t.id), t);
    for (const t of data.topics) {
      this.topics.set(String(t.id), t);
      this.messages.set(String(t.id), []);
    }
    for (const m of [...data.messages].sort((a, b) => a.id - b.id)) {
      const list = this.messages.get(String(m.topic_id));
      if (list) list.push(m);
    }
    for (const [k, v] of Object.entries(data.logs)) this.logs.set(k, v);
    for (const [k, v] of Object.entries(data.status_history)) this.statusHistory.set(k, v);
    for (const d of data.solutions) this.solutions.set(String(d.id), d);
    for (const d of data.requirements) this.requirements.set(String(d.id), d);
    // Never hand out an id twice, even if the file's counters are behind its records.
    const maxOf = (ids: number[]) => ids.reduce((m, id) => Math.max(m, id), 0);
    this.nextIds = {
      application: Math.max(data.next_ids.application, maxOf(data.applications.map((a) => a.id)) + 1),
      task: Math.max(data.next_ids.task, maxOf(data.tasks.map((t) => t.id)) + 1),
      topic: Math.max(data.next_ids.topic, maxOf(data.topics.map((t) => t.id)) + 1, TASKS_TOPIC.id + 1),
      message: Math.max(data.next_ids.message, maxOf(data.messages.map((m) => m.id)) + 1),
      solution: Math.max(data.next_ids.solution, maxOf(data.solutions.map((d) => d.id)) + 1),
      requirement: Math.max(data.next_ids.requirement, maxOf(data.requirements.map((d) => d.id)) + 1),
    };
  }

  // ---- internals ----

  private createDocument(kind: IdKind, map: Map<string, Document>, input: NewDocument): Document {
    const doc: Document = { id: this.nextId(kind), title: input.title, content: input.content ?? '' };
    map.set(String(doc.id), doc);
    this.changed();
    return clone(doc);
  }

  private requireTask(id: IdLike): Task {
    const task = this.tasks.get(String(id));
    if (!task) throw new AvatarError('BACKEND_NOT_FOUND', `task ${id} not found`);
    return task;
  }

  private requireTopic(id: IdLike): Topic {
    const topic = this.topics.get(String(id));
    if (!topic) throw new AvatarError('BACKEND_NOT_FOUND', `topic ${id} not found`);
    return topic;
  }

  private messagesOf(topicId: number): TopicMessage[] {
    const key = String(topicId);
    let list = this.messages.get(key);
    if (!list) {
      list = [];
      this.messages.set(key, list);
    }
    return list;
  }

  private historyOf(taskId: number): StatusChange[] {
    const key = String(taskId);
    let list = this.statusHistory.get(key);
    if (!list) {
      list = [];
      this.statusHistory.set(key, list);
    }
    return list;
  }

  private nextId(kind: IdKind): number {
    const id = this.nextIds[kind];
    this.nextIds[kind] = id + 1;
    return id;
  }

  private timestamp(): string {
    return this.now().toISOString();
  }

  private changed(): void {
    for (const listener of this.changeListeners) listener();
  }
}

/** `dev-<id>-<slug of title>`; the slug keeps ASCII letters and digits, so a title in any script works. */
export function defaultBranch(id: IdLike, title: string): string {
  const slug = title
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/, '');
  return slug ? `dev-${id}-${slug}` : `dev-${id}`;
}

function clone<T>(value: T): T {
  return value === undefined ? value : structuredClone(value);
}

function cloneOpt<T>(value: T | undefined): T | undefined {
  return value === undefined ? undefined : clone(value);
}
