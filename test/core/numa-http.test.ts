/**
 * The backend client's transport (core/numa/http.ts) against a real node:http server on
 * 127.0.0.1: what it sends, what it reads back, and where it stops (an abort, a cut connection,
 * an answer too large, a redirect it does not follow).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeHttpFetch, nodeHttpFetch } from '../../core/numa/http.ts';

const servers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((c) => c()));
});

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

async function serve(
  handler: (req: Seen, res: ServerResponse) => void,
): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(s);
      handler(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('nodeHttpFetch', () => {
  it('sends the method, headers and body, and reads the status, a header and the text', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json', 'retry-after': '3' });
      res.end('{"ok":true}');
    });
    const res = await nodeHttpFetch(`${s.url}/api/tasks/7/logs?x=1`, {
      method: 'POST',
      headers: { authorization: 'Bearer t0k', 'content-type': 'application/json' },
      body: '{"logs":"héllo"}',
    });
    expect(res.status).toBe(201);
    expect(res.ok).toBe(true);
    expect(res.headers.get('Retry-After')).toBe('3');
    expect(res.headers.get('x-absent')).toBeNull();
    expect(await res.text()).toBe('{"ok":true}');
    expect(s.seen).toHaveLength(1);
    expect(s.seen[0]).toMatchObject({
      method: 'POST',
      url: '/api/tasks/7/logs?x=1',
      body: '{"logs":"héllo"}',
    });
    expect(s.seen[0]!.headers.authorization).toBe('Bearer t0k');
    expect(s.seen[0]!.headers['content-length']).toBe(String(Buffer.byteLength('{"logs":"héllo"}')));
  });

  it('a 5xx is an answer, not an error (ok false)', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(503);
      res.end('down');
    });
    const res = await nodeHttpFetch(s.url, { method: 'GET', headers: {} });
    expect([res.status, res.ok, await res.text()]).toEqual([503, false, 'down']);
  });

  it('does not follow a redirect: the token never goes to the other address', async () => {
    const other = await serve((_req, res) => res.end('followed'));
    const s = await serve((_req, res) => {
      res.writeHead(302, { location: `${other.url}/steal` });
      res.end();
    });
    const res = await nodeHttpFetch(s.url, { method: 'GET', headers: { authorization: 'Bearer t0k' } });
    expect(res.status).toBe(302);
    expect(other.seen).toEqual([]);
  });

  it('an abort signal ends a request the server holds', async () => {
    const s = await serve(() => {
      /* never answers */
    });
    const ctl = new AbortController();
    const p = nodeHttpFetch(s.url, { method: 'GET', headers: {}, signal: ctl.signal });
    setTimeout(() => ctl.abort(), 50);
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('a connection cut in the middle of the answer is an error, never a short text', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('{"partial":');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    await expect(nodeHttpFetch(s.url, { method: 'GET', headers: {} })).rejects.toThrow();
  });

  it('refuses an answer larger than its limit', async () => {
    const s = await serve((_req, res) => res.end('x'.repeat(5000)));
    const small = createNodeHttpFetch({ maxBytes: 1000 });
    await expect(small(s.url, { method: 'GET', headers: {} })).rejects.toMatchObject({
      code: 'ERR_RESPONSE_TOO_LARGE',
    });
  });

  it('names the network error (nothing listens)', async () => {
    const s = await serve((_req, res) => res.end());
    const url = s.url;
    await servers.pop()!();
    await expect(nodeHttpFetch(url, { method: 'GET', headers: {} })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });

  it('refuses a URL that is not http(s)', async () => {
    await expect(nodeHttpFetch('file:///etc/passwd', { method: 'GET', headers: {} })).rejects.toMatchObject({
      code: 'ERR_INVALID_PROTOCOL',
    });
  });
});
