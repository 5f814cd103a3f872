/**
 * Status reports that could not be delivered (the backend was down when a runner crashed) are kept
 * here, in the blob store, and retried until they land: a crash never leaves a task
 * `in_progress` just because the backend was away at the wrong moment.
 */
import { describeError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { NumaClient } from '../core/numa/client.ts';
import type { BlobStore } from '../core/ports.ts';

export interface PendingReport {
  taskId: string;
  status: string;
  /** Task log text to append first (already timestamped and redacted). */
  logs?: string;
  firstTriedAt: string;
}

const PREFIX = 'outbox';

export class ReportOutbox {
  constructor(
    private readonly blobs: BlobStore,
    private readonly logger: Logger,
  ) {}

  /** Tries to deliver now; on failure keeps the report for `retry()`. */
  async deliver(client: NumaClient, report: PendingReport): Promise<boolean> {
    try {
      await send(client, report);
      return true;
    } catch (err) {
      const key = `${PREFIX}/${Date.now()}-${report.taskId.replace(/[^A-Za-z0-9._-]/g, '_')}.json`;
      await this.blobs.put(key, JSON.stringify(report));
      this.logger.warn('could not report to the backend; kept to retry', {
        task_id: report.taskId,
        status: report.status,
        error: describeError(err),
      });
      return false;
    }
  }

  /** Retries every kept report, oldest first; returns how many are still pending. */
  async retry(client: NumaClient): Promise<number> {
    const keys = (await this.blobs.list(`${PREFIX}/`)).sort();
    let pending = 0;
    for (const key of keys) {
      const data = await this.blobs.get(key);
      if (!data) continue;
      const report = JSON.parse(data.toString('utf8')) as PendingReport;
      try {
        await send(client, report);
        await this.blobs.delete(key);
        this.logger.info('delivered a kept report', { task_id: report.taskId, status: report.status });
      } catch {
        pending++;
      }
    }
    return pending;
  }
}

async function send(client: NumaClient, report: PendingReport): Promise<void> {
  if (report.logs) await client.appendLogs(report.taskId, report.logs);
  await client.updateStatus(report.taskId, report.status);
}
