/**
 * The AWS BlobStore: objects in one S3 bucket, optionally under a key prefix.
 *
 * Keys follow the local store's rules (relative `a/b/c` paths of plain segments, checked by the
 * same validateKey, so what works in local mode works here) plus S3's 1024-byte limit.
 * putIfAbsent is an S3 conditional write (`If-None-Match: *`): of several concurrent writers of a
 * key exactly one gets true. S3 answers 412 PreconditionFailed when the key exists (→ false) and
 * may answer 409 ConditionalRequestConflict when a concurrent write to the same key is in flight;
 * that one is tried once more, and a second 409 throws AWS_FAILED rather than guess (a false
 * would tell the dispatcher "already dispatched" and a task could be skipped).
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { AvatarError } from '../../core/errors.ts';
import type { BlobStore } from '../../core/ports.ts';
import { validateKey } from '../local/file-blob-store.ts';
import { awsFailed, errorName, httpStatus } from './aws-errors.ts';

export interface S3BlobStoreOptions {
  client: S3Client;
  bucket: string;
  /** Prepended to every key ("avatar/" → avatar/state/cursor.json); keys are returned without it. */
  prefix?: string;
}

export const S3_MAX_KEY_BYTES = 1024;

export class S3BlobStore implements BlobStore {
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;

  constructor(opts: S3BlobStoreOptions) {
    if (!opts.bucket) throw new AvatarError('CONFIG_INVALID', 'S3BlobStore: bucket is required');
    this.client = opts.client;
    this.bucket = opts.bucket;
    this.prefix = normalizePrefix(opts.prefix);
  }

  async get(key: string): Promise<Buffer | undefined> {
    const objectKey = this.objectKey(key);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      return out.Body ? Buffer.from(await out.Body.transformToByteArray()) : Buffer.alloc(0);
    } catch (err) {
      if (isNoSuchKey(err)) return undefined;
      throw awsFailed(`S3 GetObject s3://${this.bucket}/${objectKey}`, err);
    }
  }

  async put(key: string, data: Buffer | string): Promise<void> {
    const objectKey = this.objectKey(key);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          Body: data,
          ContentType: contentTypeOf(key),
        }),
      );
    } catch (err) {
      throw awsFailed(`S3 PutObject s3://${this.bucket}/${objectKey}`, err);
    }
  }

  async putIfAbsent(key: string, data: Buffer | string): Promise<boolean> {
    const objectKey = this.objectKey(key);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: objectKey,
            Body: data,
            ContentType: contentTypeOf(key),
            IfNoneMatch: '*',
          }),
        );
        return true;
      } catch (err) {
        if (isPreconditionFailed(err)) return false;
        if (isConditionalConflict(err) && attempt < 2) continue;
        throw awsFailed(`S3 PutObject (If-None-Match: *) s3://${this.bucket}/${objectKey}`, err);
      }
    }
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.objectKey(key);
    try {
      // S3 answers 204 whether or not the key existed.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (err) {
      if (isNoSuchKey(err)) return;
      throw awsFailed(`S3 DeleteObject s3://${this.bucket}/${objectKey}`, err);
    }
  }

  /** Keys that start with `prefix` (a plain string prefix), sorted, without the store's prefix. */
  async list(prefix: string): Promise<string[]> {
    checkListPrefix(prefix);
    const full = this.prefix + prefix;
    const out: string[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: full, ContinuationToken: token }),
        );
      } catch (err) {
        throw awsFailed(`S3 ListObjectsV2 s3://${this.bucket}/${full}`, err);
      }
      for (const o of page.Contents ?? []) {
        if (o.Key !== undefined && o.Key.startsWith(full)) out.push(o.Key.slice(this.prefix.length));
      }
      const next = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (next !== undefined && next === token) {
        throw new AvatarError(
          'AWS_FAILED',
          `S3 ListObjectsV2 s3://${this.bucket}/${full}: pagination did not advance`,
        );
      }
      token = next;
    } while (token !== undefined);
    return out.sort();
  }

  private objectKey(key: string): string {
    validateKey(key);
    const full = this.prefix + key;
    if (Buffer.byteLength(full) > S3_MAX_KEY_BYTES) {
      throw new AvatarError(
        'PATH_ESCAPE',
        `invalid blob key ${JSON.stringify(key).slice(0, 200)}: longer than S3's ${S3_MAX_KEY_BYTES} bytes`,
      );
    }
    return full;
  }
}

/** "" or a valid key prefix ending with "/". */
export function normalizePrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === '') return '';
  const trimmed = prefix.replace(/\/+$/, '');
  validateKey(trimmed);
  return `${trimmed}/`;
}

/** The same rules as the local store's list(): no absolute prefix, backslash, NUL or `..`. */
function checkListPrefix(prefix: string): void {
  if (
    typeof prefix !== 'string' ||
    prefix.startsWith('/') ||
    prefix.includes('\\') ||
    prefix.includes('\0')
  ) {
    throw new AvatarError('PATH_ESCAPE', `invalid blob key prefix ${JSON.stringify(String(prefix))}`);
  }
  const slash = prefix.lastIndexOf('/');
  if (slash >= 0) validateKey(prefix.slice(0, slash));
}

function contentTypeOf(key: string): string {
  if (key.endsWith('.json')) return 'application/json';
  if (key.endsWith('.jsonl')) return 'application/x-ndjson';
  if (key.endsWith('.log') || key.endsWith('.patch') || key.endsWith('.txt'))
    return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}

export function isNoSuchKey(err: unknown): boolean {
  const name = errorName(err);
  return name === 'NoSuchKey' || (httpStatus(err) === 404 && name !== 'NoSuchBucket');
}

/** 412: the condition (If-None-Match / If-Match) did not hold. */
export function isPreconditionFailed(err: unknown): boolean {
  return errorName(err) === 'PreconditionFailed' || httpStatus(err) === 412;
}

/** 409 ConditionalRequestConflict: a concurrent write to the key raced this conditional one. */
export function isConditionalConflict(err: unknown): boolean {
  return errorName(err) === 'ConditionalRequestConflict' || httpStatus(err) === 409;
}
