import { randomUUID } from 'node:crypto';

/** A run id: sortable by start time, unique, safe in paths and S3 keys (20261122T015240-1a2b3c4d). */
export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomUUID().slice(0, 8)}`;
}
