/**
 * The Lambda bundle format works with the kinds of dependencies the handlers use: a fixture that
 * imports middy (ESM only), Powertools and an AWS SDK client (CommonJS requiring Node built-ins)
 * and zod is bundled with the stack's esbuild options, loaded in Node, and called.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ESM_REQUIRE_BANNER, esbuildOptions, esbuildTarget, lambdaBundling } from '../../infra/bundling.ts';
import { FIXTURES } from './helpers.ts';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'numa-bundle-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const entry = path.join(FIXTURES, 'esm-deps-handler.ts');

describe('Lambda bundling', () => {
  it('produces an ES module that loads and runs in Node (SDK bundled)', async () => {
    const outfile = path.join(dir, 'bundled', 'index.mjs');
    await build({
      entryPoints: [entry],
      outfile,
      logLevel: 'silent',
      ...esbuildOptions({ runtime: 'nodejs24.x', bundleAwsSdk: true }),
    });
    const mod = (await import(pathToFileURL(outfile).href)) as {
      handler: (event: unknown, context: unknown) => Promise<{ greeting: string; importMeta: string }>;
    };
    const result = await mod.handler(
      { name: 'numa' },
      { functionName: 'fixture', getRemainingTimeInMillis: () => 1000 },
    );
    expect(result).toMatchObject({
      greeting: 'hello numa',
      importMeta: 'string',
      platform: process.platform,
    });
    await expect(mod.handler({ name: 1 }, {})).rejects.toThrow();
  });

  it('leaves the runtime-provided AWS SDK out by default', async () => {
    const outfile = path.join(dir, 'external', 'index.mjs');
    await build({
      entryPoints: [entry],
      outfile,
      logLevel: 'silent',
      ...esbuildOptions({ runtime: 'nodejs24.x', bundleAwsSdk: false }),
    });
    const text = fs.readFileSync(outfile, 'utf8');
    expect(text.startsWith(ESM_REQUIRE_BANNER)).toBe(true);
    expect(text).toMatch(/from\s*"@aws-sdk\/client-sqs"/);
    const bundled = fs.statSync(path.join(dir, 'bundled', 'index.mjs')).size;
    expect(fs.statSync(outfile).size).toBeLessThan(bundled);
  });

  it('gives NodejsFunction the same choices', () => {
    const opts = lambdaBundling({ runtime: 'nodejs22.x', bundleAwsSdk: false });
    expect(opts).toMatchObject({
      format: 'esm',
      target: 'node22',
      minify: true,
      banner: ESM_REQUIRE_BANNER,
      externalModules: ['@aws-sdk/*', '@smithy/*'],
      mainFields: ['module', 'main'],
    });
    expect(lambdaBundling({ runtime: 'nodejs24.x', bundleAwsSdk: true }).externalModules).toEqual([]);
    expect(() => esbuildTarget('python3.12')).toThrow(/not a Node.js Lambda runtime/);
  });
});
