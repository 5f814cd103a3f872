/**
 * The stopped-task claim under lost answers (found by test/aws/faults.moto.test.ts): a claim
 * write that S3 carried out but whose answer was lost must not make the call take its own event
 * for a duplicate, and a claim left "handling" by a call that has ended must not swallow the
 * retries of the event.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { NumaClient } from '../../core/numa/client.ts';
import type { BlobStore } from '../../core/ports.ts';
import { startNumaBackend, type NumaBackend } from '../../servers/numa-backend/index.ts';
import { MemoryMetrics } from '../../functions/common/metrics.ts';
import type { DispatchMessage } from '../../functions/dispatcher/message.ts';
import { handleStoppedTask, stoppedClaimKey, type StoppedDeps } from '../../functions/dispatcher/settle.ts';

const TASK_ARN = 'arn:aws:ecs:us-east-1:123456789012:task/numa-avatar/0123456789abcdef0123456789abcdef';
const RUN_ID = '20261122T020000-1a2b3c4d';

/** An in-memory blob store whose writes can be made to "lose their answer". */
class Blobs implements BlobStore {
  readonly data = new Map<string, string>();
  /** The next putIfAbsent of a key with this prefix is carried out, then reported as already there (the SDK's retry met the object: 412). */
  lostAnswer?: string;
  /** The next putIfAbsent of a key with this prefix is carried out, then throws (the retries failed too). */
  lostAndFailed?: string;

  async get(key: string) {
    const v = this.data.get(key);
    return v === undefined ? undefined : Buffer.from(v);
  }
  async put(key: string, data: Buffer | string) {
    this.data.set(key, String(data));
  }
  async putIfAbsent(key: string, data: Buffer | string) {
    if (this.data.has(key)) return false;
    this.data.set(key, String(data));
    if (this.lostAnswer && key.startsWith(this.lostAnswer)) {
      this.lostAnswer = undefined;
      return false;
    }
    if (this.lostAndFailed && key.startsWith(this.lostAndFailed)) {
      this.lostAndFailed = undefined;
      throw new Error('S3 PutObject (If-None-Match: *) failed: ECONNRESET: socket hang up');
    }
    return true;
  }
  async list(prefix: string) {
    return [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
  async delete(key: string) {
    this.data.delete(key);
  }
  claim(): { state: string; owner?: string } {
    return JSON.parse(this.data.get(stoppedClaimKey(TASK_ARN))!) as { state: string; owner?: string };
  }
}

let backend: NumaBackend;
let blobs: Blobs;
let sent: DispatchMessage[];
let taskId: number;
let ids = 0;

beforeEach(async () => {
  backend = await startNumaBackend({ port: 0 });
  const app = backend.store.createApplication({ name: 'app', git_repo_url: 'https://git.example/app.git' });
  taskId = backend.store.createTask({ title: 't', application_id: app.id, status: 'in_progress' }).id;
  blobs = new Blobs();
  sent = [];
});

afterEach(async () => {
  await backend.close();
});

function deps(now = Date.now()): StoppedDeps {
  return {
    blobs,
    send: async (body) => {
      sent.push(body);
    },
    client: new NumaClient({ baseUrl: backend.url, maxAttempts: 1 }),
    clock: { now: () => now, sleep: async () => undefined },
    logger: silentLogger,
    metrics: new MemoryMetrics(),
    settings: {
      family: 'numa-avatar-runner',
      containerName: 'runner',
      maxAttempts: 2,
      statuses: { done: 'done', failed: 'failed', blocked: 'blocked' },
    },
    newId: () => `call-${++ids}`,
  };
}

/** A runner that died of OOM without a result. */
function detail(): unknown {
  return {
    taskArn: TASK_ARN,
    group: 'family:numa-avatar-runner',
    lastStatus: 'STOPPED',
    stopCode: 'EssentialContainerExited',
    stoppedReason: 'Essential container in task exited',
    containers: [{ name: 'runner', exitCode: 137, reason: 'OutOfMemoryError: Container killed' }],
    overrides: {
      containerOverrides: [
        {
          name: 'runner',
          environment: [
            { name: 'NUMA_TASK_ID', value: String(taskId) },
            { name: 'NUMA_RUN_ID', value: RUN_ID },
            {
              name: 'NUMA_MESSAGE',
              value: JSON.stringify({ task_id: taskId, message_id: 9, topic_id: 1, attempt: 1 }),
            },
          ],
        },
      ],
    },
  };
}

describe('stopped-task claims when answers are lost', () => {
  it("a claim write whose answer was lost is recognised as the call's own: the runner is settled", async () => {
    blobs.lostAnswer = 'stopped/';
    const outcome = await handleStoppedTask(detail(), deps());
    expect(outcome).toMatchObject({ kind: 'crashed', requeued: true, attempt: 1 });
    expect(backend.store.getTask(taskId)!.status).toBe('failed');
    expect(sent.map((m) => m.attempt)).toEqual([2]);
    expect(blobs.claim().state).toBe('done');
    // A later duplicate does nothing.
    expect(await handleStoppedTask(detail(), deps())).toEqual({ kind: 'duplicate' });
    expect(sent).toHaveLength(1);
  });

  it('a claim write that was carried out but failed is released, and the retry settles the runner', async () => {
    blobs.lostAndFailed = 'stopped/';
    await expect(handleStoppedTask(detail(), deps())).rejects.toThrow(/ECONNRESET/);
    expect(blobs.claim().state).toBe('retry');
    expect(backend.store.getTask(taskId)!.status).toBe('in_progress');

    expect(await handleStoppedTask(detail(), deps())).toMatchObject({ kind: 'crashed', requeued: true });
    expect(backend.store.getTask(taskId)!.status).toBe('failed');
    expect(sent).toHaveLength(1);
  });

  it('a fresh claim of another call fails the call (Lambda retries) instead of dropping the event', async () => {
    const t0 = Date.now();
    await blobs.put(
      stoppedClaimKey(TASK_ARN),
      JSON.stringify({ state: 'handling', taskArn: TASK_ARN, claimedAt: t0, owner: 'someone-else' }),
    );
    await expect(handleStoppedTask(detail(), deps(t0 + 5000))).rejects.toThrow(
      /being settled by another call \(claimed 5 s ago\)/,
    );
    expect(backend.store.getTask(taskId)!.status).toBe('in_progress');
    expect(sent).toHaveLength(0);

    // That call died without a word: once its claim is stale, a retry takes over and settles.
    expect(await handleStoppedTask(detail(), deps(t0 + 11 * 60_000))).toMatchObject({ kind: 'crashed' });
    expect(backend.store.getTask(taskId)!.status).toBe('failed');
    expect(sent).toHaveLength(1);
  });
});
