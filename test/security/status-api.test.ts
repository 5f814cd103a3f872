/**
 * The status API: bound to loopback, whatever it is handed, and `/status` free of secrets even
 * when they come back in the backend's own error messages or arrive through POST /config.
 * test/local/status-api.test.ts covers the Host check (DNS rebinding), content types and sizes;
 * test/local/service-config.test.ts the plain /status of a healthy service.
 */
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config/load.ts';
import { isAvatarError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { AvatarService } from '../../local/service.ts';
import { isLoopbackHost, startStatusApi } from '../../local/status-api.ts';
import { freePort } from '../helpers/world.ts';

const API = 'numa_status_token_5c2e9a7d';
const GIT = 'ghp_statustesttoken0123456789abcdefghij';
const MODEL = 'sk-statustestmodelkey0123456789';
const NEW_TOKEN = 'numa_rotated_token_77aa11bb';
const URL_PASSWORD = 'status-url-password-31';

/** The machine's own addresses that are not loopback (where a remote client would connect). */
const external = Object.values(os.networkInterfaces())
  .flat()
  .filter((a): a is os.NetworkInterfaceInfo => a !== undefined && !a.internal && a.family === 'IPv4')
  .map((a) => a.address);

/** Local addresses of the sockets listening on `port`, from /proc/net/tcp and tcp6 (Linux). */
async function listeningAddresses(port: number): Promise<string[]> {
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || state !== '0A') continue;
      const [hex, portHex] = local.split(':');
      if (parseInt(portHex!, 16) !== port) continue;
      if (hex!.length === 8) {
        out.push(
          (hex!.match(/../g) ?? [])
            .map((b) => parseInt(b, 16))
            .reverse()
            .join('.'),
        );
      } else out.push(hex === '00000000000000000000000001000000' ? '::1' : `ipv6:${hex}`);
    }
  }
  return out;
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(2000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const api = (host?: string) =>
  startStatusApi({
    ...(host === undefined ? {} : { host }),
    port: 0,
    status: () => ({ status: 'running' }),
    applyConfig: async () => ({ restart_required: [] }),
  });

describe('the status API listens on loopback only', () => {
  it.each(['0.0.0.0', '::', '', '192.0.2.10', 'example.com', '[::]', '::ffff:10.0.0.1', '10.127.0.1'])(
    'refuses host %j with CONFIG_INVALID',
    async (host) => {
      const err = await api(host).catch((e: unknown) => e);
      expect(isAvatarError(err, 'CONFIG_INVALID'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/loopback only/);
    },
  );

  it.each(['127.0.0.1', '127.0.0.2', 'localhost', '::1', '[::1]'])('accepts %j', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });

  it('binds 127.0.0.1 by default: the socket is on loopback, another interface is refused', async () => {
    const s = await api();
    cleanups.push(() => s.close());
    expect(s.url).toBe(`http://127.0.0.1:${s.port}`);
    const listening = await listeningAddresses(s.port);
    if (listening.length > 0) expect(listening).toEqual(['127.0.0.1']);
    expect(await connects('127.0.0.1', s.port)).toBe(true);
    for (const address of external) expect(await connects(address, s.port), address).toBe(false);
  });

  it('the service (numa-avatar run) binds its status port on loopback', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'numa-status-bind-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const port = await freePort();
    const file = path.join(dir, 'config.yaml');
    await writeFile(
      file,
      `backend:\n  url: http://127.0.0.1:9\n  max_attempts: 1\nwork_dir: work\nstatus_port: ${port}\npolling:\n  wait: 0\n  interval: 60\n`,
    );
    const service = new AvatarService({ loaded: await loadConfig({ file, env: {} }), logger: silentLogger });
    await service.start();
    cleanups.push(() => service.stop());
    expect(service.statusUrl).toBe(`http://127.0.0.1:${port}`);
    const listening = await listeningAddresses(port);
    if (listening.length > 0) expect(listening).toEqual(['127.0.0.1']);
    expect(await connects('127.0.0.1', port)).toBe(true);
    for (const address of external) expect(await connects(address, port), address).toBe(false);
  });
});

describe('/status shows no secret', () => {
  it('when the backend echoes tokens in its errors, and after POST /config sets a new token', async () => {
    // A backend whose every answer is a 503 quoting what a misbehaving proxy might: the token it
    // received (bare, too), a URL with a password, the other tokens.
    const echo = http.createServer((req, res) => {
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: `upstream failed for ${req.headers.authorization ?? 'nobody'} (token ${(req.headers.authorization ?? '').replace(/^Bearer /, '')}) via https://svc:${URL_PASSWORD}@proxy.example git ${GIT} model ${MODEL}`,
        }),
      );
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', () => resolve()));
    cleanups.push(() => new Promise<void>((resolve) => echo.close(() => resolve())));
    const backendUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;

    const dir = await mkdtemp(path.join(os.tmpdir(), 'numa-status-secrets-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'config.yaml');
    await writeFile(
      file,
      [
        'backend:',
        `  url: ${backendUrl}`,
        `  api_token: ${API}`,
        '  max_attempts: 1',
        'git:',
        `  token: ${GIT}`,
        'model:',
        `  api_key: ${MODEL}`,
        'work_dir: work',
        `status_port: ${await freePort()}`,
        'polling:',
        '  wait: 0',
        '  interval: 0.2',
        '',
      ].join('\n'),
    );
    const service = new AvatarService({ loaded: await loadConfig({ file, env: {} }), logger: silentLogger });
    await service.start();
    cleanups.push(() => service.stop());

    const status = async () => {
      const res = await fetch(`${service.statusUrl}/status`);
      return { text: await res.text() };
    };
    let seen = '';
    for (let i = 0; i < 100; i++) {
      seen = (await status()).text;
      if ((JSON.parse(seen) as { last_poll_error: unknown }).last_poll_error) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const before = JSON.parse(seen) as { last_poll_error: string; counters: { pollErrors: number } };
    expect(before.last_poll_error).toMatch(/HTTP 503: upstream failed/);
    const errorsBefore = before.counters.pollErrors;

    const changed = await fetch(`${service.statusUrl}/config`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ backend: { api_token: NEW_TOKEN } }),
    });
    const answer = await changed.text();
    expect(changed.status, answer).toBe(200);
    // The next failed poll carries the new token back.
    let after = '';
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = (await status()).text;
      if (
        after.includes('(token [REDACTED])') &&
        (JSON.parse(after) as { counters: { pollErrors: number } }).counters.pollErrors > errorsBefore
      )
        break;
    }

    for (const text of [seen, answer, after]) {
      for (const secret of [API, GIT, MODEL, NEW_TOKEN, URL_PASSWORD]) {
        expect(text.includes(secret), `${secret.slice(0, 8)}… in ${text.slice(0, 400)}`).toBe(false);
      }
    }
    // The token did reach the config file (where secrets belong), so the absence above means something.
    expect(await readFile(file, 'utf8')).toContain(NEW_TOKEN);
  });
});
