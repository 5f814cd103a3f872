/**
 * How the Lambda handlers are bundled: one place for the stack (NodejsFunction, local esbuild, no
 * Docker) and for anything that wants to measure the same bundles (bench/lambda-bundles.ts can pass
 * `esbuildOptions(...)` straight to esbuild's `build`).
 *
 * ESM output (`index.mjs`), because the handlers and some of their dependencies (middy 6) are
 * ES modules, and the handlers may use `import.meta`. The banner gives CommonJS dependencies that
 * call `require` for Node built-ins a real `require` (esbuild's shim throws "Dynamic require of ...
 * is not supported" without one).
 */
import { LogLevel, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';

export const ESM_REQUIRE_BANNER =
  "import { createRequire as __numaCreateRequire } from 'node:module'; const require = __numaCreateRequire(import.meta.url);";

/** The AWS SDK v3 the Lambda runtime provides (left out of the bundles unless bundleAwsSdk). */
export const RUNTIME_PROVIDED_MODULES = ['@aws-sdk/*', '@smithy/*'];

export interface LambdaBundlingChoice {
  /** Runtime name, e.g. nodejs24.x: sets esbuild's target (node24). */
  runtime: string;
  /** Bundle the AWS SDK instead of using the runtime's copy. */
  bundleAwsSdk: boolean;
}

export function esbuildTarget(runtime: string): string {
  const match = /^nodejs(\d+)/.exec(runtime);
  if (!match) throw new Error(`not a Node.js Lambda runtime: ${runtime}`);
  return `node${match[1]}`;
}

/** NodejsFunction bundling options (local esbuild: Docker is never needed). */
export function lambdaBundling(choice: LambdaBundlingChoice): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    target: esbuildTarget(choice.runtime),
    minify: true,
    sourceMap: false,
    mainFields: ['module', 'main'],
    banner: ESM_REQUIRE_BANNER,
    externalModules: choice.bundleAwsSdk ? [] : RUNTIME_PROVIDED_MODULES,
    forceDockerBundling: false,
    logLevel: LogLevel.WARNING,
  };
}

/** The same choices as options for esbuild's JavaScript API (`build({ entryPoints, outfile, ...this })`). */
export function esbuildOptions(choice: LambdaBundlingChoice): {
  bundle: true;
  platform: 'node';
  format: 'esm';
  target: string;
  minify: true;
  mainFields: string[];
  banner: { js: string };
  external: string[];
} {
  return {
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: esbuildTarget(choice.runtime),
    minify: true,
    mainFields: ['module', 'main'],
    banner: { js: ESM_REQUIRE_BANNER },
    external: choice.bundleAwsSdk ? [] : RUNTIME_PROVIDED_MODULES,
  };
}
