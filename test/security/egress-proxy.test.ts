/**
 * The egress proxy of setup steps (container/runner/sandbox/egress-proxy.ts), spoken to directly
 * over its unix socket: what passes, and the tricks that must not.
 */
import http from 'node:http';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowsDestination,
  startEgressProxy,
  type EgressProxy,
} from '../../container/runner/sandbox/egress-proxy.ts';
import { startSink, type Sink } from './helpers.ts';

let dir: string;
let proxy: EgressProxy;
let listed: Sink;
let other: Sink;
const refusals: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'numa-proxy-'));
  listed = await startSink();
  other = await startSink();
  const port = new URL(listed.url).port;
  proxy = await startEgressProxy({
    socketPath: path.join(dir, 'proxy.sock'),
    // A listed address as it is, and a listed name that resolves to loopback.
    allow: [`127.0.0.1:${port}`, `localhost:${new URL(other.url).port}`],
    onRefused: (d, why) => refusals.push(`${d} ${why}`),
  });
});

afterAll(async () => {
  await proxy?.close();
  await Promise.all([listed?.close(), other?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A plain-HTTP proxy request (absolute URL) with the given headers; the status. */
function viaProxy(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: proxy.socketPath, method: 'GET', path: url, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A CONNECT through the proxy; its status line. */
function tunnel(target: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(proxy.socketPath, () =>
      s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`),
    );
    s.once('data', (d: Buffer) => {
      resolve(d.toString().split('\r\n')[0]!);
      s.destroy();
    });
    s.on('error', () => resolve('error'));
  });
}

describe('the egress proxy', () => {
  it('matches hosts by name and port: exact, *.domain for subdomains only, 443 and 80 by default', () => {
    expect(allowsDestination(['registry.npmjs.org'], 'registry.npmjs.org', 443)).toBe(true);
    expect(allowsDestination(['registry.npmjs.org'], 'REGISTRY.npmjs.org.', 443)).toBe(true);
    expect(allowsDestination(['registry.npmjs.org'], 'registry.npmjs.org', 8443)).toBe(false);
    expect(allowsDestination(['registry.npmjs.org'], 'registry.npmjs.org.evil.example', 443)).toBe(false);
    expect(allowsDestination(['*.pythonhosted.org'], 'files.pythonhosted.org', 443)).toBe(true);
    expect(allowsDestination(['*.pythonhosted.org'], 'pythonhosted.org', 443)).toBe(false);
    expect(allowsDestination(['*.example.org'], '93.184.216.34', 443)).toBe(false);
  });

  it('sends a plain request with the Host of its URL, whatever header came with it (no fronting)', async () => {
    const url = `${listed.url}/plain`;
    expect(await viaProxy(url, { host: 'evil.example' })).toBe(401); // the sink's answer: it got there
    const seen = listed.seen.find((r) => r.startsWith('GET /plain'))!;
    expect(seen).toContain(`"host":"${new URL(listed.url).host}"`);
    expect(seen).not.toContain('evil.example');
  });

  it('refuses what is not listed, and a listed name that resolves to an internal address', async () => {
    expect(await viaProxy(`http://127.0.0.1:1/x`)).toBe(403);
    expect(await tunnel(`localhost:${new URL(other.url).port}`)).toMatch(/^HTTP\/1.1 403/);
    expect(await tunnel('169.254.169.254:80')).toMatch(/^HTTP\/1.1 403/);
    expect(await tunnel(`127.0.0.1:${new URL(listed.url).port}`)).toMatch(/^HTTP\/1.1 200/);
    expect(other.seen).toEqual([]);
    expect(refusals.join('\n')).toMatch(/localhost:\d+ resolves to the internal address 127\.0\.0\.1/);
  });
});
