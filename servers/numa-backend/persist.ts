/**
 * The data file: the store's snapshot as JSON. Loaded at start when present; written atomically
 * and durably (adapters/local/atomic.ts: a fsynced temporary file beside it, then a rename) so a crash
 * leaves either the old or the new state, never half a file. Writes are serialised and coalesced: many changes in a burst cost one write.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { AvatarError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../adapters/local/atomic.ts';
import { describeIssues } from '../../core/message.ts';
import type { StoreSnapshot } from './store.ts';

const id = z.union([z.number(), z.string()]);
const positive = z.number().int().positive();
const doc = z.object({ id: positive, title: z.string(), content: z.string() });

const snapshotSchema = z.object({
  version: z.literal(1),
  next_ids: z.object({
    application: positive,
    task: positive,
    topic: positive,
    message: positive,
    solution: positive,
    requirement: positive,
  }),
  applications: z.array(
    z.object({
      id: positive,
      name: z.string(),
      description: z.string(),
      git_repo_url: z.string(),
      owner: z.string().nullable(),
    }),
  ),
  tasks: z.array(
    z.object({
      id: positive,
      title: z.string(),
      description: z.string(),
      status: z.string(),
      assigned_to: id.nullable(),
      code_branch: z.string(),
      solution_id: id.nullable(),
      requirement_id: id.nullable(),
      application_id: id,
      started_at: z.string().nullable(),
      completed_at: z.string().nullable(),
    }),
  ),
  topics: z.array(z.object({ id: positive, name: z.string(), description: z.string() })),
  messages: z.array(
    z.object({ id: positive, topic_id: positive, data: z.unknown(), created_at: z.string() }),
  ),
  logs: z.record(z.string(), z.array(z.object({ logs: z.string(), received_at: z.string() }))),
  status_history: z.record(z.string(), z.array(z.object({ status: z.string(), at: z.string() }))),
  solutions: z.array(doc),
  requirements: z.array(doc),
});

/** Reads the data file; undefined when there is none. Throws CONFIG_INVALID naming the file and the field. */
export async function loadSnapshot(file: string): Promise<StoreSnapshot | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AvatarError('CONFIG_INVALID', `cannot read the data file ${file}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new AvatarError('CONFIG_INVALID', `the data file ${file} is not valid JSON`, { cause });
  }
  const parsed = snapshotSchema.safeParse(raw);
  if (!parsed.success) {
    throw new AvatarError(
      'CONFIG_INVALID',
      `the data file ${file} is not a backend state: ${describeIssues(parsed.error)}`,
    );
  }
  return parsed.data as StoreSnapshot;
}

/**
 * Saves snapshots of a changing state. `save()` resolves once a write that began after the call
 * has finished, so a caller that awaits it knows its change is on disk.
 */
export class SnapshotWriter {
  private writing: Promise<void> | undefined;
  private pending: Promise<void> | undefined;
  private lastError: unknown;
  private latest: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly snapshot: () => StoreSnapshot,
  ) {}

  save(): Promise<void> {
    const p = this.schedule();
    this.latest = p;
    return p;
  }

  /** The write covering the latest `save()` call (resolved when there was none). */
  settled(): Promise<void> {
    return this.latest;
  }

  private schedule(): Promise<void> {
    if (this.pending) return this.pending;
    if (!this.writing) {
      this.writing = this.writeOnce().finally(() => (this.writing = undefined));
      return this.writing;
    }
    // A write is under way with an older state: queue one more after it, shared by every caller until it starts.
    const after = this.writing;
    this.pending = after
      .catch(() => undefined)
      .then(() => {
        this.pending = undefined;
        return this.schedule();
      });
    return this.pending;
  }

  /** Waits for every write under way or queued. Rejects with the last write error, if any. */
  async flush(): Promise<void> {
    while (this.writing || this.pending) {
      await (this.pending ?? this.writing)?.catch(() => undefined);
    }
    if (this.lastError) {
      const err = this.lastError;
      this.lastError = undefined;
      throw err;
    }
  }

  private async writeOnce(): Promise<void> {
    try {
      const text = JSON.stringify(this.snapshot(), null, 2) + '\n';
      await mkdir(dirname(this.file), { recursive: true });
      await writeFileAtomic(this.file, text);
      this.lastError = undefined;
    } catch (err) {
      this.lastError = err;
      throw new AvatarError('QUEUE_IO', `cannot write the data file ${this.file}`, { cause: err });
    }
  }
}
