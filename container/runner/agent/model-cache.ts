/**
 * The model response cache: an answer is stored under the SHA-256 of the canonical request (the
 * model, the messages, the tools and the temperature, as JSON with sorted keys), at
 * `cache/model/<sha256>.json` in a BlobStore (the work dir locally; S3 on AWS). Re-running an
 * identical run replays its answers from here without calling the model. Cache trouble never
 * fails a run: a blob that cannot be read or parsed is a miss, a write that fails is skipped.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { BlobStore } from '../../../core/ports.ts';
import type { Redactor } from '../../../core/redact.ts';

export const MODEL_CACHE_PREFIX = 'cache/model/';
const FORMAT_VERSION = 1;

export interface CanonicalRequest {
  model: string;
  messages: unknown;
  tools: unknown;
  temperature?: number;
}

export interface CachedAnswer {
  content: string | null;
  toolCalls: Array<{ id: string; name: string; arguments: string }>;
  finishReason: string | null;
  usage: { promptTokens: number; completionTokens: number } | null;
}

const answerSchema = z.object({
  content: z.string().nullable(),
  toolCalls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.string() })),
  finishReason: z.string().nullable(),
  usage: z
    .object({ promptTokens: z.number().nonnegative(), completionTokens: z.number().nonnegative() })
    .nullable(),
});

const blobSchema = z.object({ version: z.literal(FORMAT_VERSION), model: z.string(), answer: answerSchema });

/** JSON with object keys sorted at every level (undefined members left out, as JSON.stringify does). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v as Record<string, unknown>).sort()) {
        sorted[k] = (v as Record<string, unknown>)[k];
      }
      return sorted;
    }
    return v;
  });
}

/** The blob key of a request: `cache/model/<sha256 of its canonical JSON>.json`. */
export function modelCacheKey(req: CanonicalRequest): string {
  const canonical = canonicalJson({
    model: req.model,
    messages: req.messages,
    tools: req.tools,
    temperature: req.temperature ?? null,
  });
  return `${MODEL_CACHE_PREFIX}${createHash('sha256').update(canonical).digest('hex')}.json`;
}

export interface ModelCacheOptions {
  blobs: BlobStore;
  /** Answers it would change (secrets, credential-shaped text) are not stored. */
  redactor?: Redactor;
  /** Told about blobs that could not be read or written (the run goes on). */
  onError?: (what: 'get' | 'put', key: string, err: unknown) => void;
}

export class ModelCache {
  constructor(private readonly opts: ModelCacheOptions) {}

  async get(key: string): Promise<CachedAnswer | undefined> {
    let raw: Buffer | undefined;
    try {
      raw = await this.opts.blobs.get(key);
    } catch (err) {
      this.opts.onError?.('get', key, err);
      return undefined;
    }
    if (!raw) return undefined;
    try {
      const parsed = blobSchema.safeParse(JSON.parse(raw.toString('utf8')));
      return parsed.success ? parsed.data.answer : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Stores an answer; false when it was not stored: it holds something the redactor would change
   * (a secret must not reach the disk, and a redacted answer would not replay the same run), or
   * the write failed.
   */
  async put(key: string, model: string, answer: CachedAnswer): Promise<boolean> {
    if (this.opts.redactor) {
      const redacted = this.opts.redactor.redactValue(answer);
      if (JSON.stringify(redacted) !== JSON.stringify(answer)) return false;
    }
    try {
      await this.opts.blobs.put(
        key,
        JSON.stringify({ version: FORMAT_VERSION, model, answer }, null, 1) + '\n',
      );
      return true;
    } catch (err) {
      this.opts.onError?.('put', key, err);
      return false;
    }
  }
}
