/**
 * Run artifacts under `runs/<task_id>/<run_id>/` in the blob store (the work dir locally, S3 on
 * AWS): the run's metadata, patches of the working state, the transcript, and the result. Every
 * text is redacted before it is stored.
 */
import type { BlobStore } from '../../core/ports.ts';
import type { Redactor } from '../../core/redact.ts';
import type { RunResult } from './outcome.ts';

export function runPrefix(taskId: string, runId: string): string {
  return `runs/${safeSegment(taskId)}/${safeSegment(runId)}`;
}

/** A key segment from an id: ids are validated already, this is defence in depth. */
export function safeSegment(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || '_';
}

export class Snapshots {
  readonly prefix: string;

  constructor(
    private readonly blobs: BlobStore,
    taskId: string,
    runId: string,
    private readonly redactor: Redactor,
  ) {
    this.prefix = runPrefix(taskId, runId);
  }

  async saveMeta(meta: unknown): Promise<void> {
    await this.blobs.put(`${this.prefix}/meta.json`, this.redactor.redact(JSON.stringify(meta, null, 2)));
  }

  async savePatch(label: string, patch: string): Promise<string> {
    const key = `${this.prefix}/${safeSegment(label)}.patch`;
    await this.blobs.put(key, this.redactor.redact(patch));
    return key;
  }

  async saveTranscript(jsonl: string): Promise<void> {
    await this.blobs.put(`${this.prefix}/transcript.jsonl`, this.redactor.redact(jsonl));
  }

  async saveLog(text: string): Promise<void> {
    await this.blobs.put(`${this.prefix}/task.log`, this.redactor.redact(text));
  }

  /** A JSON report of the run, e.g. the verification report at `<prefix>/tests.json`. */
  async saveReport(name: string, json: unknown): Promise<string> {
    const key = `${this.prefix}/${safeSegment(name)}.json`;
    // Each string redacted on its own (redacting the JSON text could match across fields).
    await this.blobs.put(key, JSON.stringify(this.redactor.redactValue(json), null, 2));
    return key;
  }

  async saveResult(result: RunResult): Promise<void> {
    await this.blobs.put(`${this.prefix}/result.json`, this.redactor.redact(JSON.stringify(result, null, 2)));
  }
}

export async function readResult(
  blobs: BlobStore,
  taskId: string,
  runId: string,
): Promise<RunResult | undefined> {
  const data = await blobs.get(`${runPrefix(taskId, runId)}/result.json`);
  if (!data) return undefined;
  try {
    return JSON.parse(data.toString('utf8')) as RunResult;
  } catch {
    return undefined;
  }
}
