import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AvatarError } from '../../core/errors.ts';
import { startStatusApi, type StatusApi, type StatusApiOptions } from '../../local/status-api.ts';

/** An admin token of the shape the service generates (32 random bytes, base64url). */
const TOKEN = 'k3Jd9xQv_0aZ-7TtYpLw2sNcE5rUf8hGm1bVo4iXyqA';
const TOKEN_FILE = '/work/dir/status-api/admin-token';

const apis: StatusApi[] = [];
afterEach(async () => {
  await Promise.all(apis.splice(0).map((a) => a.close()));
});

async function start(opts: Partial<StatusApiOptions> = {}): Promise<StatusApi & { patches: unknown[] }> {
  const patches: unknown[] = [];
  const api = await startStatusApi({
    port: 0,
    status: () => ({
      status: 'running',
      avatar_id: 'avatar_001',
      avatar_name: 'Developer Avatar',
      queue_depth: 0,
    }),
    applyConfig: async (patch) => {
      patches.push(patch);
      return { restart_required: [] };
    },
    adminToken: TOKEN,
    adminTokenFile: TOKEN_FILE,
    ...opts,
  });
  apis.push(api);
  return Object.assign(api, { patches });
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies of several shapes, checked by the assertions
  json: any;
}

/** A raw HTTP request (node:http: lets the test set Host, which fetch does not). */
function call(
  api: StatusApi,
  method: string,
  path: string,
  opts: { body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: api.port, method, path, headers: opts.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = text;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

const AUTH = { authorization: `Bearer ${TOKEN}` };
const JSON_HEADERS = { 'content-type': 'application/json', ...AUTH };

describe('status API', () => {
  it('listens on 127.0.0.1 and reports its URL', async () => {
    const api = await start();
    expect(api.url).toBe(`http://127.0.0.1:${api.port}`);
    expect(api.port).toBeGreaterThan(0);
  });

  it('GET /status returns what status() gives, as JSON, not cached', async () => {
    let depth = 0;
    const api = await start({
      status: async () => ({ status: 'running', avatar_id: 'a1', queue_depth: depth++ }),
    });
    const first = await call(api, 'GET', '/status');
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toMatch(/^application\/json/);
    expect(first.headers['cache-control']).toBe('no-store');
    expect(first.json).toEqual({ status: 'running', avatar_id: 'a1', queue_depth: 0 });
    expect((await call(api, 'GET', '/status?x=1')).json.queue_depth).toBe(1);
    // fetch works too (Host: 127.0.0.1:port).
    const res = await fetch(`${api.url}/status`);
    expect(res.status).toBe(200);
  });

  it('answers loopback Host names: 127.x, localhost, [::1], with or without a port', async () => {
    const api = await start();
    for (const host of [
      '127.0.0.1',
      `127.0.0.1:${api.port}`,
      '127.1.2.3',
      'localhost',
      `LOCALHOST:${api.port}`,
      '[::1]:80',
    ]) {
      expect((await call(api, 'GET', '/status', { headers: { host } })).status, host).toBe(200);
    }
  });

  it('403 for a Host that is not loopback (DNS rebinding), on every route', async () => {
    const api = await start();
    for (const host of ['evil.example', 'localhost.evil.example', '127.0.0.1.nip.io', '10.0.0.5:7302']) {
      const r = await call(api, 'GET', '/status', { headers: { host } });
      expect(r.status, host).toBe(403);
      expect(r.json).toMatchObject({ success: false, error: expect.stringContaining('loopback') });
    }
    const post = await call(api, 'POST', '/config', {
      headers: { host: 'evil.example', ...JSON_HEADERS },
      body: '{"avatar":{"name":"x"}}',
    });
    expect(post.status).toBe(403);
    expect(api.patches).toEqual([]);
  });

  it('403 without a Host header (HTTP/1.0)', async () => {
    const api = await start();
    const head = await new Promise<string>((resolve, reject) => {
      const socket = connect(api.port, '127.0.0.1', () => socket.end('GET /status HTTP/1.0\r\n\r\n'));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(head).toMatch(/^HTTP\/1\.[01] 403 /);
  });

  it('POST /config applies a partial config and says what needs a restart', async () => {
    const api = await start({
      applyConfig: async (patch) => ({ restart_required: 'status_port' in patch ? ['status_port'] : [] }),
    });
    const r = await call(api, 'POST', '/config', {
      headers: JSON_HEADERS,
      body: JSON.stringify({ backend: { url: 'http://new-backend:7301' } }),
    });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ success: true, restart_required: [] });
    const r2 = await call(api, 'POST', '/config', {
      headers: { 'content-type': 'application/json; charset=utf-8', ...AUTH },
      body: JSON.stringify({ status_port: 8000 }),
    });
    expect(r2.json).toEqual({ success: true, restart_required: ['status_port'] });
  });

  it('POST /config hands the parsed patch to applyConfig', async () => {
    const api = await start();
    const patch = { backend: { url: 'http://new-backend:7301' }, avatar: { name: '开发者' } };
    await call(api, 'POST', '/config', { headers: JSON_HEADERS, body: JSON.stringify(patch) });
    expect(api.patches).toEqual([patch]);
  });

  it('POST /config: 400 with the message of a CONFIG_INVALID error', async () => {
    const api = await start({
      applyConfig: async () => {
        throw new AvatarError(
          'CONFIG_INVALID',
          'POST /config: backend.url: expected an http:// or https:// URL',
        );
      },
    });
    const r = await call(api, 'POST', '/config', {
      headers: JSON_HEADERS,
      body: '{"backend":{"url":"ftp://x"}}',
    });
    expect(r.status).toBe(400);
    expect(r.json.success).toBe(false);
    expect(r.json.error).toContain('backend.url: expected an http:// or https:// URL');
  });

  it('POST /config: 500 when applying fails otherwise', async () => {
    const api = await start({
      applyConfig: async () => {
        throw new AvatarError('QUEUE_IO', 'cannot write config.yaml: disk full');
      },
    });
    const r = await call(api, 'POST', '/config', { headers: JSON_HEADERS, body: '{}' });
    expect(r.status).toBe(500);
    expect(r.json).toMatchObject({ success: false, error: expect.stringContaining('disk full') });
  });

  it('POST /config: 400 for a body that is not JSON or not an object', async () => {
    const api = await start();
    for (const body of ['{not json', '[1,2]', 'null', '"text"', '']) {
      const r = await call(api, 'POST', '/config', { headers: JSON_HEADERS, body });
      expect(r.status, body).toBe(400);
      expect(r.json.success).toBe(false);
      expect(r.json.error).toMatch(/^body: /);
    }
    expect(api.patches).toEqual([]);
  });

  it('POST /config: 415 without a JSON content type', async () => {
    const api = await start();
    const cases: Array<Record<string, string>> = [
      { ...AUTH },
      { 'content-type': 'text/plain', ...AUTH },
      { 'content-type': 'application/x-www-form-urlencoded', ...AUTH },
      { 'content-type': 'application/jsonp', ...AUTH },
    ];
    for (const headers of cases) {
      const r = await call(api, 'POST', '/config', { headers, body: '{"avatar":{"name":"x"}}' });
      expect(r.status, JSON.stringify(headers)).toBe(415);
      expect(r.json.error).toContain('Content-Type: application/json');
    }
    expect(api.patches).toEqual([]);
  });

  it('POST /config without a bearer token: 401 with WWW-Authenticate and where the token is, nothing applied', async () => {
    const api = await start();
    const body = JSON.stringify({ backend: { url: 'http://127.0.0.1:9999' }, commands: { deny: [] } });
    for (const authorization of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`,
      TOKEN,
      `Token ${TOKEN}`,
    ]) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (authorization !== undefined) headers.authorization = authorization;
      const r = await call(api, 'POST', '/config', { headers, body });
      expect(r.status, JSON.stringify(authorization)).toBe(401);
      expect(r.headers['www-authenticate']).toMatch(/^Bearer\b/);
      expect(r.json.success).toBe(false);
      expect(r.json.error).toContain(TOKEN_FILE);
      expect(r.json.token_file).toBe(TOKEN_FILE);
      expect(JSON.stringify(r)).not.toContain(TOKEN);
    }
    expect(api.patches).toEqual([]);
  });

  it('POST /config with a wrong bearer token: 403, nothing applied, the token not echoed', async () => {
    const api = await start();
    const body = JSON.stringify({ backend: { url: 'http://127.0.0.1:9999' } });
    const wrong = [
      'not-the-token',
      TOKEN.slice(0, -1) + (TOKEN.endsWith('A') ? 'B' : 'A'), // same length, last character differs
      TOKEN.slice(0, -1), // a prefix
      TOKEN + 'x',
      TOKEN.toLowerCase(),
    ];
    for (const token of wrong) {
      const r = await call(api, 'POST', '/config', {
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
      });
      expect(r.status, token).toBe(403);
      expect(r.json.success).toBe(false);
      expect(r.json.error).toMatch(/not the status API's admin token/);
      expect(JSON.stringify(r)).not.toContain(TOKEN);
      expect(JSON.stringify(r.json)).not.toContain(token);
    }
    expect(api.patches).toEqual([]);
  });

  it('POST /config: the token is checked first (before the content type and the body), the scheme in any case', async () => {
    const api = await start();
    const noAuth = await call(api, 'POST', '/config', {
      headers: { 'content-type': 'text/plain' },
      body: '{not json',
    });
    expect(noAuth.status).toBe(401);
    const lower = await call(api, 'POST', '/config', {
      headers: { 'content-type': 'application/json', authorization: `bearer ${TOKEN}` },
      body: '{"avatar":{"name":"x"}}',
    });
    expect(lower.status).toBe(200);
    expect(api.patches).toEqual([{ avatar: { name: 'x' } }]);
  });

  it('GET /status needs no token', async () => {
    const api = await start();
    expect((await call(api, 'GET', '/status')).status).toBe(200);
  });

  it('refuses to start with an empty or short admin token', async () => {
    for (const adminToken of ['', 'short', ' '.repeat(43), TOKEN + '=']) {
      await expect(start({ adminToken }), JSON.stringify(adminToken)).rejects.toThrow(/admin token refused/);
    }
  });

  it('405 for other methods on /status and /config, with Allow', async () => {
    const api = await start();
    const a = await call(api, 'POST', '/status', { headers: JSON_HEADERS, body: '{}' });
    expect(a.status).toBe(405);
    expect(a.headers.allow).toBe('GET');
    const b = await call(api, 'GET', '/config');
    expect(b.status).toBe(405);
    expect(b.headers.allow).toBe('POST');
    expect(b.json.error).toContain('GET is not allowed on /config');
    expect((await call(api, 'DELETE', '/config')).status).toBe(405);
  });

  it('404 for anything else', async () => {
    const api = await start();
    for (const p of ['/', '/statusx', '/status/extra', '/api/tasks/1']) {
      const r = await call(api, 'GET', p);
      expect(r.status, p).toBe(404);
      expect(r.json).toMatchObject({ success: false, error: expect.stringContaining('no such endpoint') });
    }
  });

  it('refuses an oversize body with an answer (not a dropped connection), and still serves afterwards', async () => {
    const api = await start();
    const big = JSON.stringify({ avatar: { name: 'x'.repeat(200 * 1024) } });
    const r = await call(api, 'POST', '/config', { headers: JSON_HEADERS, body: big });
    expect(r.status).toBe(413);
    expect(r.json).toMatchObject({ success: false, error: expect.stringContaining('bytes') });
    expect(api.patches).toEqual([]);
    expect((await call(api, 'GET', '/status')).status).toBe(200);
  });

  it('an oversize body sent in chunks (no Content-Length) is refused too', async () => {
    const api = await start();
    const r = await new Promise<Reply>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: api.port,
          method: 'POST',
          path: '/config',
          headers: { ...JSON_HEADERS, 'transfer-encoding': 'chunked' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              json: JSON.parse(Buffer.concat(chunks).toString()),
            }),
          );
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write('x'.repeat(8 * 1024));
      req.end();
    });
    expect(r.status).toBe(413);
    expect(api.patches).toEqual([]);
  });

  it('a status() that throws is a 500 naming the error', async () => {
    const api = await start({
      status: () => {
        throw new Error('queue folder unreadable');
      },
    });
    const r = await call(api, 'GET', '/status');
    expect(r.status).toBe(500);
    expect(r.json).toEqual({ success: false, error: 'queue folder unreadable' });
  });

  it('close() stops listening', async () => {
    const api = await start();
    await api.close();
    await expect(call(api, 'GET', '/status')).rejects.toThrow(/ECONNREFUSED/);
  });
});
