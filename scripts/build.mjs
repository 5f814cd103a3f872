// `npm run build` (and `prepare`, so `npm ci` runs it): bundles the CLI with esbuild into dist/
// and writes the stamp bin/numa-avatar.mjs checks.
//
// Why a bundle (README, "Development"): the runner's start is most of a task's pickup latency, and
// Node spends it resolving and compiling modules: a task run loaded about 200 files, 94 of them
// zod's alone (every locale, though only English is used). The bundle holds the sources and the
// small packages they use (everything package.json does not list in `dependencies`), in ESM
// chunks split at each `import()`, so a command still loads only what it runs. The packages in
// `dependencies` stay outside, loaded from node_modules: they are large and loaded late (the
// model's SDK, isomorphic-git, tree-sitter with its wasm files, the AWS SDK).
//
// Every output file is flat in dist/ (no folders): a module that finds a file beside itself
// (`new URL('./bridge.mjs', import.meta.url)`) finds the copy next to it, whichever chunk it is in.
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { sourcesStamp } from '../bin/build-stamp.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dist = path.join(root, 'dist');
/** Files the modules open beside themselves (copied flat into dist/). */
const ASSETS = ['container/runner/sandbox/bridge.mjs'];

const stamp = sourcesStamp(root);
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
rmSync(dist, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { cli: 'cli/main.ts' },
  outdir: dist,
  entryNames: '[name]',
  chunkNames: '[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: `node${pkg.engines.node.replace(/^>=\s*/, '')}`,
  external: Object.keys(pkg.dependencies),
  // Readable stack traces without source maps: names kept, nothing minified but whitespace.
  minifyWhitespace: true,
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
  // The bundled CommonJS packages (commander) call require(); ESM has none.
  banner: {
    js: "import { createRequire as __numaRequire } from 'node:module';const require=__numaRequire(import.meta.url);",
  },
});
for (const asset of ASSETS) copyFileSync(path.join(root, asset), path.join(dist, path.basename(asset)));
writeFileSync(path.join(dist, '.build-stamp'), stamp + '\n');
