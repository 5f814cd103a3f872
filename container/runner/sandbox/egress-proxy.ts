/**
 * The network of setup steps (setup.commands, .numa/setup.sh, the dependency install): an HTTP
 * proxy in the runner, on a unix socket that only the sandbox is given, that lets through only
 * the hosts of `sandbox.network.allow` (package registries by default). `CONNECT host:port` for
 * TLS (the proxy never sees inside), absolute-URI requests for plain HTTP. It resolves names
 * itself and never connects a listed name to an internal address (loopback, private, link-local:
 * the cloud credentials and metadata endpoints) unless that address is listed as it is; a plain
 * HTTP request goes with the Host of its URL. Over CONNECT the proxy cannot see inside: a TLS
 * client may still name another site served by an allowed host's CDN (domain fronting). Everything else the sandbox tries has no
 * route at all: its network namespace has only its own loopback.
 */
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import { isIP, connect, type Socket } from 'node:net';
import { rm } from 'node:fs/promises';

export interface EgressProxyOptions {
  socketPath: string;
  /** `host`, `*.domain` (any subdomain), either with `:port`; without a port, 443 and 80. */
  allow: readonly string[];
  /** Told each refused destination (for the task log). */
  onRefused?: (destination: string, why: string) => void;
}

export interface EgressProxy {
  readonly socketPath: string;
  readonly refused: string[];
  readonly allowed: string[];
  close(): Promise<void>;
}

interface Rule {
  host: string;
  wildcard: boolean;
  port?: number;
}

function parseRule(entry: string): Rule {
  const m = /^(\*\.)?(\[[0-9a-f:.]+\]|[^:]+)(?::(\d{1,5}))?$/i.exec(entry.trim().toLowerCase());
  if (!m) throw new Error(`not a host or host:port: ${JSON.stringify(entry)}`);
  return {
    wildcard: Boolean(m[1]),
    host: m[2]!.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, ''),
    port: m[3] ? Number(m[3]) : undefined,
  };
}

export function allowsDestination(rules: readonly string[], host: string, port: number): boolean {
  const h = host
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
  return rules.map(parseRule).some((r) => {
    const portOk = r.port === undefined ? port === 443 || port === 80 : r.port === port;
    if (!portOk) return false;
    if (r.wildcard) return !isIP(h) && h.endsWith('.' + r.host);
    return h === r.host;
  });
}

/** Loopback, private, link-local (metadata and credentials endpoints) and unspecified addresses. */
function internal(address: string): boolean {
  const a = address.toLowerCase().replace(/^::ffff:/, '');
  return (
    /^(127\.|10\.|0\.|169\.254\.|192\.168\.)/.test(a) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(a) ||
    /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./.test(a) ||
    a === '::1' ||
    a === '::' ||
    /^f[cd][0-9a-f]{2}:/.test(a) ||
    /^fe[89ab][0-9a-f]:/.test(a)
  );
}

/** Where to connect: the listed host's address, or why not. */
async function resolveAllowed(
  rules: readonly string[],
  host: string,
  port: number,
): Promise<{ address?: string; why?: string }> {
  if (!allowsDestination(rules, host, port)) return { why: 'not in sandbox.network.allow' };
  const literal = isIP(host.replace(/^\[(.*)\]$/, '$1'));
  const address = literal
    ? host.replace(/^\[(.*)\]$/, '$1')
    : (await lookup(host).catch(() => undefined))?.address;
  if (!address) return { why: 'the name does not resolve' };
  // A listed name that resolves inside (DNS the sandbox's code cannot set, but a registry's name
  // could be made to): only an address listed as it is may be internal.
  if (!literal && internal(address)) return { why: `resolves to the internal address ${address}` };
  return { address };
}

function splitHostPort(target: string): { host: string; port: number } | undefined {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(target);
  return m ? { host: m[1]!, port: Number(m[2]) } : undefined;
}

export async function startEgressProxy(opts: EgressProxyOptions): Promise<EgressProxy> {
  for (const r of opts.allow) parseRule(r);
  const refused: string[] = [];
  const allowed: string[] = [];
  const refuse = (destination: string, why: string) => {
    refused.push(destination);
    opts.onRefused?.(destination, why);
  };
  const sockets = new Set<Socket>();

  const server = http.createServer((req, res) => {
    // Plain HTTP through a proxy: the request line carries the absolute URL.
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute URL expected\n');
      return;
    }
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const destination = `${url.hostname}:${port}`;
    void resolveAllowed(opts.allow, url.hostname, port).then(({ address, why }) => {
      if (!address || url.protocol !== 'http:') {
        refuse(destination, why ?? 'only http:// URLs are proxied without CONNECT');
        res
          .writeHead(403, { 'content-type': 'text/plain' })
          .end(`numa-avatar sandbox: ${destination} refused (${why})\n`);
        return;
      }
      allowed.push(destination);
      // The Host the request is for is the URL's, whatever header came with it (no fronting of
      // another site behind an allowed one).
      const headers: http.OutgoingHttpHeaders = { ...req.headers, host: url.host };
      delete headers['proxy-connection'];
      delete headers['proxy-authorization'];
      const upstream = http.request(
        { host: address, port, method: req.method, path: url.pathname + url.search, headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.writeHead(502).end());
      req.pipe(upstream);
    });
  });

  server.on('connect', (req: http.IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    const target = splitHostPort(req.url ?? '');
    if (!target) {
      client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    const destination = `${target.host}:${target.port}`;
    void resolveAllowed(opts.allow, target.host, target.port).then(({ address, why }) => {
      if (!address) {
        refuse(destination, why!);
        client.end(
          `HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\n\r\nnuma-avatar sandbox: ${destination} refused (${why})\n`,
        );
        return;
      }
      allowed.push(destination);
      const upstream = connect({ host: address, port: target.port });
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      upstream.once('connect', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => {
        if (!client.destroyed) client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      });
    });
  });

  await rm(opts.socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.socketPath, () => resolve());
  });
  return {
    socketPath: opts.socketPath,
    refused,
    allowed,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await rm(opts.socketPath, { force: true });
    },
  };
}
