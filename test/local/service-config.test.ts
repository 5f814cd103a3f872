/**
 * The avatar service's own interface, in-process: GET /status never shows a secret; POST /config
 * is validated, applied without a restart (the next poll goes to the new backend) and persisted. POST
 * /config carries the admin token the service keeps in `<work_dir>/status-api/admin-token`
 * (test/security/status-api.test.ts: refused without it).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config/load.ts';
import { silentLogger } from '../../core/log.ts';
import { AvatarService } from '../../local/service.ts';
import { adminTokenPath } from '../../local/status-api.ts';
import { startNumaBackend, type NumaBackend } from '../../servers/numa-backend/index.ts';
import { freePort } from '../helpers/world.ts';

describe('AvatarService status API', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  const setup = async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'svc-config-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const first: NumaBackend = await startNumaBackend({ port: 0, apiToken: 'tok-first-123456' });
    const second: NumaBackend = await startNumaBackend({ port: 0, apiToken: 'tok-second-654321' });
    cleanups.push(
      () => first.close(),
      () => second.close(),
    );
    const file = path.join(dir, 'config.yaml');
    await writeFile(
      file,
      `backend:\n  url: ${first.url}\n  api_token: tok-first-123456\nwork_dir: work\nstatus_port: ${await freePort()}\npolling:\n  wait: 1\n  interval: 0.2\ngit:\n  token: ghp_abcdefghijklmnopqrstuvwxyz0123456789\n`,
    );
    const loaded = await loadConfig({ file, env: {} });
    const service = new AvatarService({ loaded, logger: silentLogger });
    await service.start();
    cleanups.push(() => service.stop());
    // What a client of POST /config does: read the token file the service wrote.
    const token = (await readFile(adminTokenPath(service.workDir), 'utf8')).trim();
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    return { dir, file, first, second, service, url: service.statusUrl!, headers, token };
  };

  it('reports its state without secrets', async () => {
    const { url, first, token } = await setup();
    const res = await fetch(`${url}/status`);
    const text = await res.text();
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(body).toMatchObject({
      status: 'running',
      avatar_id: 'avatar_001',
      avatar_name: 'Developer Avatar',
      mode: 'local',
      backend_url: first.url,
      queue_depth: 0,
      tasks_running: 0,
    });
    expect(typeof body.version).toBe('string');
    expect(text).not.toContain('tok-first-123456');
    expect(text).not.toContain('ghp_abcdefghijklmnopqrstuvwxyz0123456789');
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(text).not.toContain(token);
  });

  it('applies a partial config without a restart and persists it', async () => {
    const { url, file, second, service, headers } = await setup();
    const res = await fetch(`${url}/config`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ backend: { url: second.url, api_token: 'tok-second-654321' }, concurrency: 3 }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ success: true, restart_required: [] });

    // The next polls go to the new backend, with the new token.
    const task = second.store.createTask({ title: 'x', application_id: 1 });
    second.store.publish(1, { task_id: task.id });
    await expect
      .poll(async () => (await service.status()).counters, { timeout: 10_000 })
      .toMatchObject({ forwarded: 1 });
    expect((await service.status()).backend_url).toBe(second.url);

    // Persisted: the file has the new values (and keeps the others).
    const saved = parse(await readFile(file, 'utf8')) as Record<string, Record<string, unknown>>;
    expect(saved.backend).toMatchObject({ url: second.url, api_token: 'tok-second-654321' });
    expect(saved.concurrency).toBe(3);
    expect(saved.work_dir).toBe('work');
    expect((await loadConfig({ file, env: {} })).config.concurrency).toBe(3);
  });

  it('rejects an invalid change, naming the key, and changes nothing', async () => {
    const { url, file, headers } = await setup();
    const before = await readFile(file, 'utf8');
    const res = await fetch(`${url}/config`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ concurrency: 'many' }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { success: boolean; error: string };
    expect(body.success).toBe(false);
    expect(body.error).toMatch(/concurrency/);
    expect(await readFile(file, 'utf8')).toBe(before);
  });

  it('says which changes need a restart', async () => {
    const { url, headers } = await setup();
    const res = await fetch(`${url}/config`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ status_port: 0, work_dir: 'elsewhere' }),
    });
    expect(await res.json()).toEqual({ success: true, restart_required: ['status_port', 'work_dir'] });
  });
});
