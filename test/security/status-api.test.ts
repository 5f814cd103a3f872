/**
 * The status API: bound to loopback, whatever it is handed; `POST /config` only with the admin
 * token the service keeps in `<work_dir>/status-api/admin-token` (0600 in a 0700 folder), which no
 * log line, answer or `/status` shows; `/status` free of secrets even when they come back in the
 * backend's own error messages or arrive through POST /config.
 * test/local/status-api.test.ts covers the Host check (DNS rebinding), content types, sizes and the
 * Authorization header's forms; test/local/service-config.test.ts the plain /status of a healthy
 * service.
 */
import {
  chmod,
  chown,
  lstat,
  mkdir,
  readFile,
  mkdtemp,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../core/config/load.ts';
import { isAvatarError } from '../../core/errors.ts';
import { createLogger, silentLogger, type LogFields, type Logger } from '../../core/log.ts';
import { Redactor } from '../../core/redact.ts';
import { AvatarService } from '../../local/service.ts';
import { adminTokenPath, ensureAdminToken, isLoopbackHost, startStatusApi } from '../../local/status-api.ts';
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
    adminToken: 'k3Jd9xQv_0aZ-7TtYpLw2sNcE5rUf8hGm1bVo4iXyqA',
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

    const admin = (await readFile(adminTokenPath(service.workDir), 'utf8')).trim();
    const changed = await fetch(`${service.statusUrl}/config`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
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
      for (const secret of [API, GIT, MODEL, NEW_TOKEN, URL_PASSWORD, admin]) {
        expect(text.includes(secret), `${secret.slice(0, 8)}… in ${text.slice(0, 400)}`).toBe(false);
      }
    }
    // The token did reach the config file (where secrets belong), so the absence above means something.
    expect(await readFile(file, 'utf8')).toContain(NEW_TOKEN);
  });
});

/** A logger that keeps every call as given, unredacted: what the service tried to log. */
function rawLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const record = (level: string) => (msg: string, fields?: LogFields) =>
    lines.push(JSON.stringify({ level, msg, ...fields }));
  const logger: Logger & { lines: string[] } = {
    lines,
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
    child: () => logger,
  };
  return logger;
}

describe('POST /config needs the admin token', () => {
  /** Where an attacker would like the tokens to go. */
  const EVIL = 'http://127.0.0.1:9/evil';

  const setup = async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'numa-status-auth-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'config.yaml');
    const port = await freePort();
    await writeFile(
      file,
      [
        'backend:',
        '  url: http://127.0.0.1:1/backend',
        `  api_token: ${API}`,
        '  max_attempts: 1',
        'model:',
        '  base_url: http://127.0.0.1:1/v1',
        `  api_key: ${MODEL}`,
        'commands:',
        '  deny: ["curl", "wget"]',
        'work_dir: work',
        `status_port: ${port}`,
        'polling:',
        '  wait: 0',
        '  interval: 60',
        '',
      ].join('\n'),
    );
    const logger = rawLogger();
    let service: AvatarService | undefined;
    const start = async () => {
      service = new AvatarService({ loaded: await loadConfig({ file, env: {} }), logger });
      await service.start();
      return service;
    };
    const stop = async () => {
      await service?.stop();
      service = undefined;
    };
    cleanups.push(stop);
    const first = await start();
    const tokenFile = adminTokenPath(first.workDir);
    const url = first.statusUrl!;
    const post = async (patch: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(`${url}/config`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(patch),
      });
      return { status: res.status, headers: res.headers, text: await res.text() };
    };
    const statusText = async () => (await fetch(`${url}/status`)).text();
    const token = async () => (await readFile(tokenFile, 'utf8')).trim();
    return { dir, file, logger, start, stop, service: () => service!, tokenFile, post, statusText, token };
  };

  const attack = { backend: { url: EVIL }, model: { base_url: EVIL }, commands: { deny: [] } };

  /** The config file, the configuration a restart would load, /status: all as they were. */
  const expectUnchanged = async (s: Awaited<ReturnType<typeof setup>>, fileBefore: string) => {
    expect(await readFile(s.file, 'utf8')).toBe(fileBefore);
    const reloaded = (await loadConfig({ file: s.file, env: {} })).config;
    expect(reloaded.backend.url).toBe('http://127.0.0.1:1/backend');
    expect(reloaded.model.base_url).toBe('http://127.0.0.1:1/v1');
    expect(reloaded.commands.deny).toEqual(['curl', 'wget']);
    const status = JSON.parse(await s.statusText()) as { backend_url: string };
    expect(status.backend_url).toBe('http://127.0.0.1:1/backend');
  };

  it('without a token: 401, WWW-Authenticate: Bearer, the answer names the token file; nothing applied or persisted', async () => {
    const s = await setup();
    const before = await readFile(s.file, 'utf8');
    const apply = vi.spyOn(s.service(), 'applyConfig');
    const cases: Array<Record<string, string>> = [
      {},
      { authorization: 'Basic YWRtaW46YWRtaW4=' },
      { authorization: 'Bearer' },
    ];
    for (const headers of cases) {
      const r = await s.post(attack, headers);
      expect(r.status, JSON.stringify(headers)).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
      const body = JSON.parse(r.text) as { success: boolean; error: string; token_file: string };
      expect(body.success).toBe(false);
      expect(body.error).toContain(s.tokenFile);
      expect(body.token_file).toBe(s.tokenFile);
      expect(r.text).not.toContain(await s.token());
    }
    expect(apply).not.toHaveBeenCalled();
    await expectUnchanged(s, before);
  });

  it('with a wrong token: 403; nothing applied or persisted', async () => {
    const s = await setup();
    const before = await readFile(s.file, 'utf8');
    const token = await s.token();
    const apply = vi.spyOn(s.service(), 'applyConfig');
    const flipped = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    for (const wrong of [flipped, token.slice(1), `${token}${token}`, API, 'x']) {
      const r = await s.post(attack, { authorization: `Bearer ${wrong}` });
      expect(r.status).toBe(403);
      expect(r.text).not.toContain(token);
    }
    expect(apply).not.toHaveBeenCalled();
    await expectUnchanged(s, before);
  });

  it('with the token from the file: applied and persisted', async () => {
    const s = await setup();
    const token = await s.token();
    const patch = { backend: { url: 'http://127.0.0.1:2/new' }, commands: { deny: ['curl'] } };
    const r = await s.post(patch, { authorization: `Bearer ${token}` });
    expect(r.status, r.text).toBe(200);
    expect(JSON.parse(r.text)).toEqual({ success: true, restart_required: [] });
    expect((JSON.parse(await s.statusText()) as { backend_url: string }).backend_url).toBe(
      'http://127.0.0.1:2/new',
    );
    const saved = parse(await readFile(s.file, 'utf8')) as {
      backend: { url: string };
      commands: { deny: string[] };
    };
    expect(saved.backend.url).toBe('http://127.0.0.1:2/new');
    expect(saved.commands.deny).toEqual(['curl']);
  });

  it("the token file is 0600 in a 0700 folder, this user's, 32 random bytes in base64url; reused across restarts", async () => {
    const s = await setup();
    const file = await stat(s.tokenFile);
    const folder = await stat(path.dirname(s.tokenFile));
    expect(s.tokenFile).toBe(path.join(s.dir, 'work', 'status-api', 'admin-token'));
    expect((file.mode & 0o777).toString(8)).toBe('600');
    expect((folder.mode & 0o777).toString(8)).toBe('700');
    expect(file.isFile() && folder.isDirectory()).toBe(true);
    expect(file.uid).toBe(process.getuid!());
    const token = await s.token();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);

    await s.stop();
    await s.start();
    expect(await s.token()).toBe(token);
    expect((await s.post({ avatar: { name: 'again' } }, { authorization: `Bearer ${token}` })).status).toBe(
      200,
    );
    expect(s.logger.lines.join('\n')).not.toMatch(/regenerated/);
  });

  it('a token file another user could read is replaced (and the log says so); the old token is refused', async () => {
    const s = await setup();
    const old = await s.token();
    await s.stop();
    await chmod(s.tokenFile, 0o644);
    await s.start();
    const fresh = await s.token();
    expect(fresh).not.toBe(old);
    expect(((await stat(s.tokenFile)).mode & 0o777).toString(8)).toBe('600');
    const warning = s.logger.lines.find((l) => l.includes('admin token regenerated'));
    expect(warning).toMatch(/mode 0644, not 0600/);
    expect((await s.post({ avatar: { name: 'x' } }, { authorization: `Bearer ${old}` })).status).toBe(403);
    expect((await s.post({ avatar: { name: 'x' } }, { authorization: `Bearer ${fresh}` })).status).toBe(200);

    // A folder others can enter: set back to 0700, and the token regenerated.
    await s.stop();
    await chmod(path.dirname(s.tokenFile), 0o755);
    await s.start();
    expect(((await stat(path.dirname(s.tokenFile))).mode & 0o777).toString(8)).toBe('700');
    expect(await s.token()).not.toBe(fresh);
    expect(s.logger.lines.filter((l) => l.includes('admin token regenerated')).at(-1)).toMatch(
      /mode 0755, not 0700/,
    );
    for (const t of [old, fresh, await s.token()]) expect(s.logger.lines.join('\n')).not.toContain(t);
  });

  it("ensureAdminToken: replaces a symbolic link, garbled content, another owner's file; refuses a linked folder", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'numa-admin-token-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const first = ensureAdminToken(dir);
    expect(first.state).toBe('created');
    expect(ensureAdminToken(dir)).toEqual({ token: first.token, file: first.file, state: 'reused' });

    // A link to a file holding a token of someone else's choosing: not followed, replaced.
    const planted = path.join(dir, 'planted');
    await writeFile(planted, 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n', { mode: 0o600 });
    await rm(first.file);
    await symlink(planted, first.file);
    const relinked = ensureAdminToken(dir);
    expect(relinked).toMatchObject({ state: 'regenerated', reason: expect.stringMatching(/symbolic link/) });
    expect(relinked.token).not.toMatch(/^A+$/);
    expect((await lstat(first.file)).isSymbolicLink()).toBe(false);
    expect(await readFile(planted, 'utf8')).toMatch(/^A+\n$/);

    await writeFile(first.file, 'not a token\n', { mode: 0o600 });
    expect(ensureAdminToken(dir)).toMatchObject({
      state: 'regenerated',
      reason: expect.stringMatching(/did not hold a token/),
    });

    if (process.getuid?.() === 0) {
      await chown(first.file, 4242, 4242);
      expect(ensureAdminToken(dir)).toMatchObject({
        state: 'regenerated',
        reason: expect.stringMatching(/uid 4242/),
      });
      expect((await stat(first.file)).uid).toBe(0);
    }

    const other = path.join(dir, 'other');
    await mkdir(path.join(other, 'elsewhere'), { recursive: true });
    await symlink(path.join(other, 'elsewhere'), path.join(other, 'status-api'));
    const err = (() => {
      try {
        ensureAdminToken(other);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isAvatarError(err, 'QUEUE_IO'), String(err)).toBe(true);
    expect(String(err)).toMatch(/symbolic link/);
  });

  it('the token is in no log line (unredacted, as the service wrote it) and not in /status', async () => {
    const s = await setup();
    const token = await s.token();
    await s.post(attack);
    await s.post(attack, { authorization: `Bearer ${token.slice(2)}xy` });
    await s.post({ avatar: { name: 'ok' } }, { authorization: `Bearer ${token}` });
    const status = await s.statusText();
    await s.stop();
    expect(s.logger.lines.length).toBeGreaterThan(3);
    expect(s.logger.lines.join('\n')).toMatch(/POST \/config refused/);
    expect(s.logger.lines.join('\n')).toContain(s.tokenFile); // the start line says where it is
    for (const line of s.logger.lines) expect(line).not.toContain(token);
    expect(status).not.toContain(token);
    expect(status).not.toContain(token.slice(0, 16));
  });

  it("the token is one of the Redactor's secrets: a log line that carried it would show [REDACTED]", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'numa-status-redact-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'config.yaml');
    await writeFile(
      file,
      `backend:\n  url: http://127.0.0.1:1\n  max_attempts: 1\nwork_dir: work\nstatus_port: ${await freePort()}\npolling:\n  wait: 0\n  interval: 60\n`,
    );
    const lines: string[] = [];
    const redactor = new Redactor();
    const logger = createLogger({ level: 'debug', format: 'text', redactor, write: (l) => lines.push(l) });
    const service = new AvatarService({ loaded: await loadConfig({ file, env: {} }), logger, redactor });
    await service.start();
    cleanups.push(() => service.stop());
    const token = (await readFile(adminTokenPath(service.workDir), 'utf8')).trim();
    // Forms the patterns alone would not catch: bare, in a sentence, in a field of no secret name.
    logger.info(`value ${token} here`, { note: token, path: `/x/${token}` });
    expect(lines.at(-1)).not.toContain(token);
    expect(lines.at(-1)).toContain('[REDACTED]');
    expect(redactor.redact(token)).toBe('[REDACTED]');
  });
});
