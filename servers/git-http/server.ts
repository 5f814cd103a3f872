/**
 * A smart-HTTP git server for tests and the demo: a small node:http server that runs
 * `git http-backend` (CGI) for every request over the bare repositories under `root`.
 * Clone, fetch and push are real (protocol v0/v1/v2, gzip request bodies, chunked uploads).
 * Optional HTTP Basic authentication guards every request.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cgiHeaderEnd, parseCgiHead } from './cgi.ts';
import { bareRepoDirName } from './bare-repo.ts';
import { gitChildEnv } from './git-env.ts';

export interface GitServerOptions {
  /** Folder holding the bare repositories (`<name>.git`). */
  root: string;
  /** 0 (default): a port chosen by the OS. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** When set, every request needs HTTP Basic with these credentials. */
  auth?: { username: string; password: string };
}

export interface GitServerRequest {
  method: string;
  /** Path and query string (never any credential). */
  path: string;
  authorized: boolean;
}

export interface GitServer {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** http://127.0.0.1:port/<name>.git */
  repoUrl(name: string): string;
  close(): Promise<void>;
  requests(): GitServerRequest[];
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function isAuthorized(header: string | undefined, auth: { username: string; password: string }): boolean {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m?.[1]) return false;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  return (
    sameSecret(decoded.slice(0, colon), auth.username) && sameSecret(decoded.slice(colon + 1), auth.password)
  );
}

export function startGitServer(opts: GitServerOptions): Promise<GitServer> {
  const host = opts.host ?? '127.0.0.1';
  const log: GitServerRequest[] = [];
  const children = new Set<ChildProcess>();

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://git.invalid');
    const authorized = opts.auth ? isAuthorized(req.headers.authorization, opts.auth) : true;
    log.push({ method: req.method ?? 'GET', path: url.pathname + url.search, authorized });

    if (!authorized) {
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"', 'Content-Type': 'text/plain' });
      res.end('Authentication required\n');
      return;
    }

    let pathInfo: string;
    try {
      pathInfo = decodeURIComponent(url.pathname);
    } catch {
      req.resume();
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end('Bad path\n');
      return;
    }

    const cgiEnv: Record<string, string> = {
      GIT_PROJECT_ROOT: opts.root,
      GIT_HTTP_EXPORT_ALL: '1',
      // Push is allowed on every repository (created repos also set http.receivepack).
      GIT_CONFIG_COUNT: '2',
      GIT_CONFIG_KEY_0: 'http.receivepack',
      GIT_CONFIG_VALUE_0: 'true',
      GIT_CONFIG_KEY_1: 'safe.directory',
      GIT_CONFIG_VALUE_1: '*',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
      SERVER_SOFTWARE: 'numa-git-http',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: pathInfo,
      QUERY_STRING: url.search.replace(/^\?/, ''),
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    };
    if (opts.auth) cgiEnv.REMOTE_USER = opts.auth.username;
    const contentType = req.headers['content-type'];
    if (contentType) cgiEnv.CONTENT_TYPE = contentType;
    const contentLength = req.headers['content-length'];
    if (contentLength) cgiEnv.CONTENT_LENGTH = contentLength;
    const encoding = req.headers['content-encoding'];
    if (encoding) cgiEnv.HTTP_CONTENT_ENCODING = encoding;
    const protocol = req.headers['git-protocol'];
    if (typeof protocol === 'string') cgiEnv.GIT_PROTOCOL = protocol;

    const child = spawn('git', ['http-backend'], {
      env: gitChildEnv(cgiEnv),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.add(child);
    child.on('close', () => children.delete(child));

    let head: Buffer = Buffer.alloc(0);
    let headersSent = false;
    let stderr = '';

    child.on('error', (err) => {
      if (!headersSent) {
        headersSent = true;
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(`git http-backend failed to start: ${err.message}\n`);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4096);
    });
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersSent) {
        if (!res.write(chunk)) {
          child.stdout.pause();
          res.once('drain', () => child.stdout.resume());
        }
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = cgiHeaderEnd(head);
      if (!end) return;
      const parsed = parseCgiHead(head.subarray(0, end.headerEnd).toString('latin1'));
      headersSent = true;
      res.writeHead(parsed.status, parsed.statusText || undefined, parsed.headers.flat());
      const rest = head.subarray(end.bodyStart);
      if (rest.length > 0) res.write(rest);
    });
    child.on('close', (code) => {
      if (!headersSent) {
        headersSent = true;
        res.writeHead(502, { 'Content-Type': 'text/plain' });
        res.end(`git http-backend exited with ${code}: ${stderr}\n`);
        return;
      }
      res.end();
    });

    res.on('close', () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    child.stdin.on('error', () => {
      // http-backend may exit before reading the whole body (e.g. on an error): nothing to do.
    });
    req.pipe(child.stdin);
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      const base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      resolve({
        url: base,
        repoUrl: (name) => `${base}/${bareRepoDirName(name)}`,
        requests: () => log.map((r) => ({ ...r })),
        close: () =>
          new Promise<void>((done) => {
            for (const child of children) child.kill('SIGKILL');
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
