/**
 * The avatar's own interface (numa-api.md, "The avatar's own interface"): `GET /status` and
 * `POST /config`, bound to loopback. Requests whose Host is not a loopback name are refused (DNS
 * rebinding), and POST needs a JSON content type (a browser cannot send one cross-site without a
 * preflight, which this server never grants).
 *
 * `POST /config` also needs the admin token (`Authorization: Bearer <token>`): loopback is not a
 * boundary between the processes of one machine (an agent's command can reach 127.0.0.1 too), and a
 * change of `backend.url` or `model.base_url` sends the tokens elsewhere. The service keeps the
 * token in `<work_dir>/status-api/admin-token` (file 0600, folder 0700: ensureAdminToken).
 * `GET /status` stays open: it holds no secret.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants as fsConstants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIPv4, isIPv6, type AddressInfo } from 'node:net';
import path from 'node:path';
import { AvatarError, describeError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

export interface StatusApiOptions {
  /** A loopback address or `localhost` (default 127.0.0.1); anything else is refused. */
  host?: string;
  port: number;
  status: () => Promise<Record<string, unknown>> | Record<string, unknown>;
  applyConfig: (patch: Record<string, unknown>) => Promise<{ restart_required: string[] }>;
  /** The bearer token POST /config must carry (ensureAdminToken). */
  adminToken: string;
  /** Where the token is kept, for the 401 answer (a path, never the token). */
  adminTokenFile?: string;
  /** Refused POST /config requests are logged here (without the credential they carried). */
  logger?: Logger;
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
  if (!ADMIN_TOKEN_SHAPE.test(opts.adminToken)) {
    // Never a short or empty token (an empty one would let `Authorization: Bearer ` through).
    throw new AvatarError(
      'CONFIG_INVALID',
      'status API admin token refused: expected 43 base64url characters',
    );
  }
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
    const auth = checkBearer(req.headers.authorization, opts.adminToken);
    if (auth !== 'ok') {
      // The body is not read (Node discards it once the answer is sent); nothing is applied.
      const where = opts.adminTokenFile ?? 'the admin token file in the work dir (status-api/admin-token)';
      opts.logger?.warn('status API: POST /config refused', {
        reason: auth === 'missing' ? 'no bearer token' : 'wrong admin token',
        remote: req.socket.remoteAddress,
      });
      if (auth === 'missing') {
        return send(
          res,
          401,
          {
            success: false,
            error: `POST /config needs the status API's admin token as a bearer credential (header Authorization, scheme Bearer); the service keeps it in ${where}, readable by the service's user only`,
            token_file: where,
          },
          { 'www-authenticate': 'Bearer realm="numa-avatar"' },
        );
      }
      return send(res, 403, {
        success: false,
        error: `POST /config refused: the bearer credential is not the status API's admin token (the service keeps it in ${where})`,
        token_file: where,
      });
    }
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

/** 32 random bytes in base64url, no padding. */
const ADMIN_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Compares the request's `Authorization: Bearer <token>` with the admin token in constant time
 * (SHA-256 of both, so the buffers timingSafeEqual compares are of equal length whatever was sent).
 */
function checkBearer(header: string | undefined, token: string): 'ok' | 'missing' | 'wrong' {
  const m = /^\s*Bearer +(\S+)\s*$/i.exec(header ?? '');
  if (!m) return 'missing';
  const given = createHash('sha256').update(m[1]!, 'utf8').digest();
  const expected = createHash('sha256').update(token, 'utf8').digest();
  return timingSafeEqual(given, expected) ? 'ok' : 'wrong';
}

/** The folder (in the work dir) that holds the admin token. */
export const ADMIN_TOKEN_DIR = 'status-api';
export const ADMIN_TOKEN_FILE = 'admin-token';

export function adminTokenPath(workDir: string): string {
  return path.join(workDir, ADMIN_TOKEN_DIR, ADMIN_TOKEN_FILE);
}

export interface AdminToken {
  token: string;
  file: string;
  /** `reused`: the file was there and safe; `created`: there was none; `regenerated`: see reason. */
  state: 'reused' | 'created' | 'regenerated';
  /** Why an existing token was not reused (permissions, owner, content); never the token. */
  reason?: string;
}

const CHECK_OWNER_AND_MODE = process.platform !== 'win32';

/**
 * The status API's admin token: `<work_dir>/status-api/admin-token`, 32 random bytes in base64url,
 * in a file of mode 0600 in a folder of mode 0700, both owned by this user. An existing token is
 * reused when its file is a regular file of this user that nobody else can read or write and holds
 * a token; otherwise (wrong mode or owner, a symbolic link, unreadable, garbled) a new one replaces
 * it, and `reason` says why. A folder with a wider mode is set back to 0700 and the token
 * regenerated; a folder that is a symbolic link, not a folder, or another user's is refused
 * (QUEUE_IO), since the file inside it could not be kept private.
 */
export function ensureAdminToken(workDir: string): AdminToken {
  const dir = path.join(workDir, ADMIN_TOKEN_DIR);
  const file = path.join(dir, ADMIN_TOKEN_FILE);
  const uid = process.getuid?.();
  let reason: string | undefined;
  try {
    mkdirSync(workDir, { recursive: true });
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new AvatarError('QUEUE_IO', `cannot create ${dir}: ${describeError(err)}`, { cause: err });
    }
  }
  const dirStat = lstatSync(dir);
  if (dirStat.isSymbolicLink() || !dirStat.isDirectory()) {
    throw new AvatarError(
      'QUEUE_IO',
      `${dir} is not a folder (${dirStat.isSymbolicLink() ? 'a symbolic link' : 'a file'}): remove it; the status API keeps its admin token there`,
    );
  }
  if (CHECK_OWNER_AND_MODE) {
    if (uid !== undefined && dirStat.uid !== uid) {
      throw new AvatarError(
        'QUEUE_IO',
        `${dir} belongs to uid ${dirStat.uid}, not to this user (${uid}): remove it; the status API keeps its admin token there`,
      );
    }
    if ((dirStat.mode & 0o777) !== 0o700) {
      chmodSync(dir, 0o700);
      reason = `its folder had mode ${octal(dirStat.mode)}, not 0700`;
    }
  }

  if (reason === undefined) {
    const existing = readExistingToken(file, uid);
    if (existing.token !== undefined) return { token: existing.token, file, state: 'reused' };
    if (existing.reason === undefined) return { token: writeNewToken(dir, file), file, state: 'created' };
    reason = existing.reason;
  }
  return { token: writeNewToken(dir, file), file, state: 'regenerated', reason };
}

/** The token in `file` if it is safe to reuse; otherwise why not (undefined both: no file). */
function readExistingToken(file: string, uid: number | undefined): { token?: string; reason?: string } {
  let fd: number;
  try {
    // O_NOFOLLOW: a symbolic link is not followed (ELOOP); O_NONBLOCK: a FIFO does not hang the open.
    fd = openSync(file, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0) | (fsConstants.O_NONBLOCK ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return {};
    if (code === 'ELOOP') return { reason: 'the token file was a symbolic link' };
    return { reason: `the token file could not be read (${code ?? describeError(err)})` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { reason: 'the token file was not a regular file' };
    if (CHECK_OWNER_AND_MODE) {
      if (uid !== undefined && st.uid !== uid) {
        return { reason: `the token file belonged to uid ${st.uid}, not to this user (${uid})` };
      }
      if ((st.mode & 0o777) !== 0o600)
        return { reason: `the token file had mode ${octal(st.mode)}, not 0600` };
    }
    if (st.size > 1024) return { reason: 'the token file did not hold a token' };
    const text = readFileSync(fd, 'utf8').trim();
    if (!ADMIN_TOKEN_SHAPE.test(text)) return { reason: 'the token file did not hold a token' };
    return { token: text };
  } finally {
    closeSync(fd);
  }
}

/** Writes a new token beside `file` (created 0600, exclusively) and renames it over `file`. */
function writeNewToken(dir: string, file: string): string {
  const token = randomBytes(32).toString('base64url');
  const tmp = path.join(dir, `.${ADMIN_TOKEN_FILE}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, token + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(tmp, 0o600); // whatever the umask
    // rename replaces whatever `file` was (a link included) without following it.
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new AvatarError(
      'QUEUE_IO',
      `cannot write the status API admin token to ${file}: ${describeError(err)}`,
      {
        cause: err,
      },
    );
  }
  return token;
}

function octal(mode: number): string {
  return '0' + (mode & 0o777).toString(8).padStart(3, '0');
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
