/**
 * The backend client's HTTP transport: the part of `fetch` it uses (a method, headers, a JSON body,
 * an abort signal; the status, one header and the text of the answer), over node:http and
 * node:https. Why not the global fetch: Node loads its fetch (undici) on the first call, about
 * 40 ms, and the runner's first call is the `in_progress` report, so that load was a quarter of
 * every task's start (BENCHMARKS.md, issue 10). Redirects are not followed (the backend's API has
 * none; the Bearer token never goes to another address), and an answer over `maxBytes` is refused.
 */
import http from 'node:http';
import https from 'node:https';

export interface HttpRequestInit {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** What the client reads of an answer; the global `Response` has it too. */
export interface HttpResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/** The global `fetch` is one; so is {@link nodeHttpFetch}. */
export type HttpFetch = (url: string, init: HttpRequestInit) => Promise<HttpResponse>;

/** The longest answer read (the backend's pages are a few hundred kilobytes at most). */
export const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

export class HttpTransportError extends Error {
  readonly code: string;
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HttpTransportError';
    this.code = code;
  }
}

export function createNodeHttpFetch(opts: { maxBytes?: number } = {}): HttpFetch {
  const maxBytes = opts.maxBytes ?? MAX_RESPONSE_BYTES;
  return (url, init) =>
    new Promise<HttpResponse>((resolve, reject) => {
      const target = new URL(url);
      const lib = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : undefined;
      if (!lib) {
        reject(new HttpTransportError(`unsupported protocol ${target.protocol}`, 'ERR_INVALID_PROTOCOL'));
        return;
      }
      const headers: Record<string, string> = { ...init.headers };
      if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
      const req = lib.request(target, { method: init.method, headers, signal: init.signal }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) {
            res.destroy(
              new HttpTransportError(`the answer is larger than ${maxBytes} bytes`, 'ERR_RESPONSE_TOO_LARGE'),
            );
            return;
          }
          chunks.push(c);
        });
        res.on('error', reject);
        res.on('close', () => {
          if (!res.complete)
            reject(new HttpTransportError('the connection closed before the answer ended', 'ECONNRESET'));
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          resolve({
            status,
            ok: status >= 200 && status < 300,
            headers: {
              get: (name) => {
                const v = res.headers[name.toLowerCase()];
                return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
              },
            },
            text: () => Promise.resolve(body),
          });
        });
      });
      req.on('error', reject);
      req.end(init.body);
    });
}

export const nodeHttpFetch: HttpFetch = createNodeHttpFetch();
