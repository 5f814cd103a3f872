/**
 * The AWS VersionedStore (the poll cursor, state/cursor.json): one S3 object, compare-and-set
 * with conditional writes. The version is the object's ETag as S3 returns it (quotes included).
 *
 * save(value, undefined) writes with `If-None-Match: *` (only if nothing is stored);
 * save(value, etag) writes with `If-Match: etag`. S3 answers 412 when the condition fails and 404
 * when an If-Match write finds no object: both mean "the stored version is not `expected`" →
 * false. A 409 ConditionalRequestConflict (a concurrent write in flight) is tried once more, then
 * thrown as AWS_FAILED.
 *
 * The object holds `{ "value": ..., "write_id": "<uuid>", "saved_at": "<ISO time>" }`. The write id
 * makes every write's content, and so its ETag, unique: an ETag is an MD5 of the content, and
 * without it A → B → A would bring back A's ETag and let a stale compare-and-set succeed.
 */
import { randomUUID } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { AvatarError } from '../../core/errors.ts';
import type { VersionedStore } from '../../core/ports.ts';
import { validateKey } from '../local/file-blob-store.ts';
import { awsFailed } from './aws-errors.ts';
import { isConditionalConflict, isNoSuchKey, isPreconditionFailed } from './s3-blob-store.ts';

export interface S3VersionedStoreOptions {
  client: S3Client;
  bucket: string;
  /** The object's key, e.g. "state/cursor.json". */
  key: string;
  /** For the write id; default crypto.randomUUID. */
  newId?: () => string;
  now?: () => number;
}

interface StoredRecord<T> {
  value: T;
  write_id: string;
  saved_at: string;
}

export class S3VersionedStore<T> implements VersionedStore<T> {
  readonly bucket: string;
  readonly key: string;
  private readonly client: S3Client;
  private readonly newId: () => string;
  private readonly now: () => number;

  constructor(opts: S3VersionedStoreOptions) {
    if (!opts.bucket) throw new AvatarError('CONFIG_INVALID', 'S3VersionedStore: bucket is required');
    validateKey(opts.key);
    this.client = opts.client;
    this.bucket = opts.bucket;
    this.key = opts.key;
    this.newId = opts.newId ?? randomUUID;
    this.now = opts.now ?? Date.now;
  }

  private get where(): string {
    return `s3://${this.bucket}/${this.key}`;
  }

  async load(): Promise<{ value: T; version: string } | undefined> {
    let text: string;
    let etag: string | undefined;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key }));
      text = out.Body ? await out.Body.transformToString('utf-8') : '';
      etag = out.ETag;
    } catch (err) {
      if (isNoSuchKey(err)) return undefined;
      throw awsFailed(`S3 GetObject ${this.where}`, err);
    }
    if (!etag) throw new AvatarError('AWS_FAILED', `S3 GetObject ${this.where} returned no ETag`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (parsed === null || typeof parsed !== 'object' || !('value' in parsed)) {
      throw new AvatarError(
        'QUEUE_IO',
        `${this.where} is not a versioned record ({ "value": ..., "write_id": ... }); delete it to start over`,
      );
    }
    return { value: (parsed as StoredRecord<T>).value, version: etag };
  }

  async save(value: T, expected: string | undefined): Promise<boolean> {
    const record: StoredRecord<T> = {
      value,
      write_id: this.newId(),
      saved_at: new Date(this.now()).toISOString(),
    };
    const body = JSON.stringify(record, null, 2) + '\n';
    const condition = expected === undefined ? { IfNoneMatch: '*' } : { IfMatch: expected };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: this.key,
            Body: body,
            ContentType: 'application/json',
            ...condition,
          }),
        );
        return true;
      } catch (err) {
        if (isPreconditionFailed(err)) return false;
        // If-Match on an object that is gone: its version is not `expected` either.
        if (expected !== undefined && isNoSuchKey(err)) return false;
        if (isConditionalConflict(err) && attempt < 2) continue;
        const how = expected === undefined ? 'If-None-Match: *' : `If-Match: ${expected}`;
        throw awsFailed(`S3 PutObject (${how}) ${this.where}`, err);
      }
    }
  }
}
