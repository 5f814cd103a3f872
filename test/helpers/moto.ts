/**
 * moto's server mode (`python3 -m moto.server`) for integration tests of the AWS adapters: the real
 * SQS, S3, ECS and EC2 protocols on 127.0.0.1, one server per test file.
 *
 *   describeWithMoto('S3 adapters', () => {
 *     let moto: Moto;
 *     beforeAll(async () => { moto = await startMoto(); });
 *     afterAll(() => moto?.close());
 *     ...new S3Client(motoClientConfig(moto, { s3: true }))
 *   });
 *
 * When moto is not installed the suite is skipped with the install command in its name, unless
 * NUMA_REQUIRE_MOTO=1 (CI), in which case it fails with that message.
 */
import { execFileSync, spawn } from 'node:child_process';
import { describe, it } from 'vitest';
import { awsClientConfig, s3ClientConfig } from '../../adapters/aws/clients.ts';
import type { S3ClientConfigShape } from '../../adapters/aws/clients.ts';

export const MOTO_MISSING = "moto not installed: python3 -m pip install 'moto[server]'";
export const MOTO_REGION = 'us-east-1';
/** Fake credentials: moto checks none, but the SDK must have some to sign. Never the real env. */
export const MOTO_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export interface Moto {
  endpoint: string;
  close(): Promise<void>;
}

let available: boolean | undefined;

/** Whether `python3 -c 'import moto'` works (checked once per process). */
export function motoAvailable(): boolean {
  if (available === undefined) {
    try {
      execFileSync('python3', ['-c', 'import moto, moto.server'], { stdio: 'ignore', timeout: 30_000 });
      available = true;
    } catch {
      available = false;
    }
  }
  return available;
}

/** `describe` when moto is there; otherwise skipped (or failed under NUMA_REQUIRE_MOTO=1). */
export function describeWithMoto(name: string, fn: () => void): void {
  if (motoAvailable()) {
    describe(name, fn);
  } else if (process.env.NUMA_REQUIRE_MOTO === '1') {
    describe(name, () => {
      it('needs moto', () => {
        throw new Error(`${MOTO_MISSING} (NUMA_REQUIRE_MOTO=1)`);
      });
    });
  } else {
    console.warn(`[${name}] skipped: ${MOTO_MISSING} (set NUMA_REQUIRE_MOTO=1 to make this a failure)`);
    describe.skip(`${name} — skipped: ${MOTO_MISSING}`, fn);
  }
}

/**
 * Starts `python3 -m moto.server -H 127.0.0.1 -p 0` (the OS picks the port; moto prints it) and
 * waits until it answers HTTP. close() stops it and waits for it to exit.
 */
export async function startMoto(opts: { timeoutMs?: number } = {}): Promise<Moto> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // No AWS variables from the developer's shell: moto needs none and must never see real ones.
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      PYTHONUNBUFFERED: '1',
    },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`moto.server did not start within ${timeoutMs} ms: ${output.slice(-500)}`)),
        timeoutMs,
      );
      const onData = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        const m = /Running on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`moto.server exited (${code ?? signal}) before it started: ${output.slice(-500)}`));
      });
    });
    // Keep draining its request log so the pipe never fills.
    child.stdout.removeAllListeners('data');
    child.stderr.removeAllListeners('data');
    child.stdout.resume();
    child.stderr.resume();
    const endpoint = `http://127.0.0.1:${port}`;
    await waitForHttp(`${endpoint}/moto-api/`, timeoutMs);
    return { endpoint, close };
  } catch (err) {
    await close();
    throw err;
  }
}

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`moto at ${url} does not answer: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Client config for a moto server: its endpoint, us-east-1, fake credentials (path-style for S3). */
export function motoClientConfig(moto: Moto, opts: { s3?: boolean } = {}): S3ClientConfigShape {
  const base = { endpoint: moto.endpoint, region: MOTO_REGION, credentials: MOTO_CREDENTIALS, env: {} };
  return opts.s3 ? s3ClientConfig(base) : awsClientConfig(base);
}

/**
 * The subnet ids of moto's default VPC (what its ECS RunTask needs for awsvpc), by EC2's query
 * API: moto does not check signatures, so a plain POST with a credential scope naming ec2 is
 * enough and the tests need no EC2 client. Test use only.
 */
export async function motoDefaultSubnets(moto: Moto): Promise<string[]> {
  const res = await fetch(`${moto.endpoint}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20240101/${MOTO_REGION}/ec2/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: 'Action=DescribeSubnets&Version=2016-11-15&Filter.1.Name=default-for-az&Filter.1.Value.1=true',
  });
  const xml = await res.text();
  if (!res.ok) throw new Error(`moto EC2 DescribeSubnets: HTTP ${res.status}: ${xml.slice(0, 300)}`);
  const ids = [...xml.matchAll(/<subnetId>(subnet-[0-9a-f]+)<\/subnetId>/g)].map((m) => m[1]!);
  if (ids.length === 0)
    throw new Error(`moto EC2 DescribeSubnets returned no default subnet: ${xml.slice(0, 300)}`);
  return [...new Set(ids)];
}
