import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileBlobStore } from '../../adapters/local/file-blob-store.ts';
import { silentLogger } from '../../core/log.ts';
import { NumaClient } from '../../core/numa/client.ts';
import { ReportOutbox } from '../../local/report-outbox.ts';
import { startNumaBackend, type NumaBackend } from '../../servers/numa-backend/index.ts';

describe('ReportOutbox', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('keeps a report the backend could not take and delivers it once the backend is back', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'outbox-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    let backend: NumaBackend = await startNumaBackend({ port: 0 });
    const port = backend.port;
    const task = backend.store.createTask({ title: 't', application_id: 1 });
    backend.store.setStatus(task.id, 'in_progress');
    const dataFile = path.join(dir, 'backend.json');
    await backend.close();

    const client = new NumaClient({ baseUrl: `http://127.0.0.1:${port}`, maxAttempts: 1, timeoutMs: 2000 });
    const blobs = new FileBlobStore({ root: path.join(dir, 'blobs') });
    const outbox = new ReportOutbox(blobs, silentLogger);
    const report = {
      taskId: String(task.id),
      status: 'failed',
      logs: '2026-01-01 00:00:00 - runner died',
      firstTriedAt: new Date().toISOString(),
    };

    expect(await outbox.deliver(client, report)).toBe(false);
    expect(await blobs.list('outbox/')).toHaveLength(1);
    expect(await outbox.retry(client)).toBe(1);

    // The backend comes back on the same port, with the task still in progress.
    backend = await startNumaBackend({ port, dataFile });
    cleanups.push(() => backend.close());
    const again = backend.store.createTask({ title: 't', application_id: 1 });
    expect(String(again.id)).toBe(String(task.id));
    backend.store.setStatus(again.id, 'in_progress');

    expect(await outbox.retry(client)).toBe(0);
    expect(await blobs.list('outbox/')).toEqual([]);
    expect(backend.store.getTask(again.id)?.status).toBe('failed');
    expect(backend.store.logsOf(again.id).map((l) => l.logs)).toEqual(['2026-01-01 00:00:00 - runner died']);
  });
});
