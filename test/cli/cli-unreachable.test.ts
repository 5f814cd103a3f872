/**
 * `numa-avatar task <id>` against a backend where nothing listens. In a file of its own because it
 * takes about 17 s: the runner goes on trying to deliver the task's log for 15 s
 * (container/runner/entry.ts, `taskLog.close(15_000)`) before it gives up; here that overlaps the
 * other test files instead of the other CLI tests.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readResult } from '../../container/runner/snapshot.ts';
import { FileBlobStore } from '../../adapters/local/file-blob-store.ts';
import { freePort } from '../helpers/world.ts';
import { cli, STACK_LINE } from './helpers.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'numa-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('task against a backend where nothing listens fails (2) with the reason and no stack trace', async () => {
  const port = await freePort();
  const file = path.join(dir, 'unreachable.yaml');
  await writeFile(
    file,
    [
      `backend: { url: "http://127.0.0.1:${port}", max_attempts: 1, timeout: 5 }`,
      `work_dir: ${JSON.stringify(path.join(dir, 'task-work'))}`,
      'status_port: 0',
    ].join('\n') + '\n',
  );
  // The runner keeps trying to deliver the task's log for 15 s before it gives up.
  const r = await cli(['task', '1', '--config', file], { cwd: dir, timeoutMs: 40_000 });
  // outcome.ts: a run that fails exits 2 (`failed`), also when the failure is the backend itself.
  expect(r.signal).toBeNull();
  expect(r.code).toBe(2);
  const out = r.stdout + r.stderr;
  expect(out).toContain('BACKEND_UNAVAILABLE');
  expect(out).toContain(`127.0.0.1:${port}`);
  expect(out).not.toMatch(STACK_LINE);
  // The outcome is kept locally, marked as not reported.
  const blobs = new FileBlobStore({ root: path.join(dir, 'task-work') });
  const [key] = await blobs.list('runs/1/');
  expect(key).toMatch(/^runs\/1\/[^/]+\/(result\.json|task\.log)$/);
  const runId = key!.split('/')[2]!;
  expect(await readResult(blobs, '1', runId)).toMatchObject({ status: 'failed', reported: false });
}, 45_000);
