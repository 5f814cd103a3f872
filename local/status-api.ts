/**
 * The avatar's own interface (numa-api.md, "The avatar's own interface"): `GET /status` and
 * `POST /config`, bound to loopback. Requests whose Host is not a loopback name are refused (DNS
 * rebinding), and POST needs a JSON content type (a browser cannot send one cross-site without a
 * preflight, which this server never grants).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIPv4, isIPv6, type AddressInfo } from 'node:net';
import { AvatarError, describeError } from '../core/errors.ts';

export interface StatusApiOptions {
  /** A loopback address or `localhost` (default 127.0.0.1); anything else is refused. */
  host?: string;
  port: number;
  status: () => Promise<Record<string, unknown>> | Record<string, unknown>;
  applyConfig: (patch: Record<string, unknown>) => Promise<{ restart_required: string[] }>;
}

export interface StatusApi {
  url: string;
  port: number;
  close(): Promise<void>;
}

const LOOPBACK_HOSTS = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/i;
const MAX_BODY = 64 * 1024;
/** Past MAX_BODY the rest is read and thrown away (so the client gets the 413) up to this much, then cut off. */
const MAX_DRAIN = 1024 * 1024;

class BodyTooLarge extends Error {}

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`: the only hosts the status API listens on. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost') return true;
  if (isIPv4(h)) return h.startsWith('127.');
  if (isIPv6(h)) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\.\d+\.\d+\.\d+$/.test(h);
  return false;
}

export async function startStatusApi(opts: StatusApiOptions): Promise<StatusApi> {
  const host = opts.host ?? '127.0.0.1';
  // POST /config can change where the tokens are sent (backend.url, model.base_url): it must never be
  // reachable from another machine, whatever a caller passes (the Host check only stops DNS rebinding).
  if (!isLoopbackHost(host)) {
    throw new AvatarError(
      'CONFIG_INVALID',
      `status API host ${JSON.stringify(host)} refused: the status API listens on loopback only (127.0.0.1, ::1 or localhost), since POST /config changes where the tokens are sent`,
    );
  }
  const server: Server = createServer((req, res) => {
    handle(req, res, opts).catch((err: unknown) =>
      send(res, 500, { success: false, error: describeError(err) }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host.replace(/^\[(.*)\]$/, '$1'), () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: StatusApiOptions): Promise<void> {
  if (!LOOPBACK_HOSTS.test(req.headers.host ?? '')) {
    return send(res, 403, { success: false, error: 'the status API answers loopback host names only' });
  }
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (url.pathname === '/status' && req.method === 'GET') {
    return send(res, 200, await opts.status());
  }
  if (url.pathname === '/config' && req.method === 'POST') {
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      return send(res, 415, { success: false, error: 'POST /config needs Content-Type: application/json' });
    }
    let patch: unknown;
    try {
      patch = JSON.parse(await readBody(req));
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        return send(res, 413, { success: false, error: `body: ${err.message}` }, { connection: 'close' });
      }
      return send(res, 400, { success: false, error: `body: ${describeError(err)}` });
    }
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
      return send(res, 400, {
        success: false,
        error: 'body: expected a JSON object with the keys to change',
      });
    }
    try {
      const applied = await opts.applyConfig(patch as Record<string, unknown>);
      return send(res, 200, { success: true, ...applied });
    } catch (err) {
      const status = err instanceof AvatarError && err.code === 'CONFIG_INVALID' ? 400 : 500;
      return send(res, status, { success: false, error: describeError(err) });
    }
  }
  if (url.pathname === '/status' || url.pathname === '/config') {
    res.setHeader('allow', url.pathname === '/status' ? 'GET' : 'POST');
    return send(res, 405, { success: false, error: `${req.method} is not allowed on ${url.pathname}` });
  }
  return send(res, 404, { success: false, error: `no such endpoint: ${url.pathname}` });
}

/**
 * Reads the body, at most MAX_BODY bytes. A larger one is read to its end without being kept, so
 * the client (still sending) receives the 413 instead of a reset connection; past MAX_DRAIN the
 * connection is cut.
 */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY + MAX_DRAIN) {
        reject(new BodyTooLarge(`larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      if (size > MAX_BODY) {
        chunks.length = 0;
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY) reject(new BodyTooLarge(`larger than ${MAX_BODY} bytes`));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}
