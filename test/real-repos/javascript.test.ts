/**
 * Real JavaScript repositories through the real pipeline (`runTask`): the reference backend, the
 * git server and the scripted model of test/helpers/world.ts, on snapshots of two public
 * repositories with different test runners (test/fixtures/repos/<name>/, their licenses and
 * numa-fixture.json beside them):
 *
 * - dequal (lukeed/dequal): uvu, no lockfile (`npm install --include=dev`), a `pretest` build
 *   (bundt), tests that load through the `esm` devDependency; uvu prints `Total: 44 Passed: 44`.
 * - webidl-conversions (jsdom/webidl-conversions): `node --test`, a package-lock.json
 *   (`npm ci --include=dev`), 6976 tests in 35 files.
 *
 * For each: an "add" task (a new function and its test: done, pushed, the count after the change
 * is the baseline's plus the new tests, as the runner itself counts them) and a "break" task (an
 * edit that breaks an existing function: failed, nothing pushed, the failing tests named). Plus
 * dequal with NODE_ENV=production in the runner's own environment (as the runner image sets it):
 * its devDependencies still install and the task ends done.
 *
 * The installs reach registry.npmjs.org (the only host in sandbox.network.allow); nothing else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileBlobStore } from '../../adapters/local/file-blob-store.ts';
import { BlobStoreCodeCache } from '../../container/runner/code-cache.ts';
import type { ScriptedSession } from '../../servers/scripted-model/index.ts';
import { finishTurn } from '../helpers/turns.ts';
import { SANDBOX_AVAILABLE, type World } from '../helpers/world.ts';
import {
  committedFiles,
  fromFixture,
  repoWorld,
  runOn as runTaskOn,
  tipOf,
  toolTurn as call,
  type RealRun,
} from './harness.ts';

const REPOS = ['dequal', 'webidl-conversions'] as const;
type Repo = (typeof REPOS)[number];

const finish = (summary: string) => finishTurn(summary);

// dequal: a deep `includes` built on dequal, with an uvu suite of two tests.
const dequalAdd = [
  call('edit_file', {
    path: 'src/index.js',
    old_text: 'export function dequal(foo, bar) {',
    new_text: [
      '/** Whether `list` has an element deeply equal to `value`. */',
      'export function includes(list, value) {',
      '\tfor (var i = 0; i < list.length; i++) {',
      '\t\tif (dequal(list[i], value)) return true;',
      '\t}',
      '\treturn false;',
      '}',
      '',
      'export function dequal(foo, bar) {',
    ].join('\n'),
  }),
  call('write_file', {
    path: 'test/includes.js',
    content: [
      "import { suite } from 'uvu';",
      "import * as assert from 'uvu/assert';",
      "import { includes } from '../src';",
      '',
      "const includesSuite = suite('includes');",
      '',
      "includesSuite('finds a deeply equal element', () => {",
      '\tassert.is(includes([1, { a: [2] }], { a: [2] }), true);',
      '});',
      '',
      "includesSuite('is false when no element is deeply equal', () => {",
      '\tassert.is(includes([1, { a: [2] }], { a: [3] }), false);',
      '\tassert.is(includes([], 1), false);',
      '});',
      '',
      'includesSuite.run();',
      '',
    ].join('\n'),
  }),
];

// webidl-conversions: EpochTimeStamp (the WebIDL typedef that replaced DOMTimeStamp), two tests.
const webidlAdd = [
  call('edit_file', {
    path: 'lib/index.js',
    old_text: 'exports.DOMTimeStamp = exports["unsigned long long"];',
    new_text:
      'exports.DOMTimeStamp = exports["unsigned long long"];\n\n' +
      '// https://w3c.github.io/hr-time/#the-epochtimestamp-typedef\n' +
      'exports.EpochTimeStamp = exports["unsigned long long"];',
  }),
  call('write_file', {
    path: 'test/epoch-time-stamp.js',
    content: [
      '"use strict";',
      'const { describe, it } = require("node:test");',
      'const assert = require("node:assert/strict");',
      '',
      'const conversions = require("..");',
      '',
      'describe("WebIDL EpochTimeStamp type", () => {',
      '  const sut = conversions.EpochTimeStamp;',
      '',
      '  it("should have the same conversion routine as unsigned long long type", () => {',
      '    assert.equal(sut, conversions["unsigned long long"]);',
      '  });',
      '',
      '  it("should truncate a time in milliseconds to an integer", () => {',
      '    assert.equal(sut(1700000000123.9), 1700000000123);',
      '  });',
      '});',
      '',
    ].join('\n'),
  }),
];

const sessions: ScriptedSession[] = [
  { match: 'REAL-JS-DEQUAL-ADD', turns: [...dequalAdd, finish('Add includes(list, value)')] },
  { match: 'REAL-JS-DEQUAL-PROD', turns: [...dequalAdd, finish('Add includes(list, value)')] },
  {
    match: 'REAL-JS-DEQUAL-BREAK',
    turns: [
      call('edit_file', {
        path: 'src/index.js',
        old_text: 'if (ctor === Date) return foo.getTime() === bar.getTime();',
        new_text: 'if (ctor === Date) return true;',
      }),
      finish('Compare dates faster'),
    ],
  },
  { match: 'REAL-JS-WEBIDL-ADD', turns: [...webidlAdd, finish('Add the EpochTimeStamp conversion')] },
  {
    match: 'REAL-JS-WEBIDL-BREAK',
    turns: [
      call('edit_file', {
        path: 'lib/index.js',
        old_text: '  return Boolean(value);',
        new_text: '  return value === true;',
      }),
      finish('Simplify the boolean conversion'),
    ],
  },
];

interface Ran extends RealRun {
  baseline: number;
  after?: number;
}

describe('real repositories: JavaScript', () => {
  let world: World;
  let apps: Record<string, number> = {};

  beforeAll(async () => {
    ({ world, apps } = await repoWorld(
      sessions,
      Object.fromEntries(REPOS.map((name) => [name, fromFixture(name)])),
    ));
  });

  afterAll(async () => {
    await world?.close();
  });

  const runOn = async (
    repo: Repo,
    title: string,
    extra: Record<string, unknown> = {},
    opts: { codeCache?: boolean } = {},
  ): Promise<Ran> => {
    // The code cache as the AWS runner wires it (local runs have none): the work dir's blobs.
    const blobs = new FileBlobStore({ root: String(world.configValues().work_dir) });
    const ran = await runTaskOn(
      world,
      apps,
      repo,
      title,
      { sandbox: { network: { allow: ['registry.npmjs.org'] } }, ...extra },
      opts.codeCache ? { blobs, codeCache: new BlobStoreCodeCache({ blobs }) } : {},
    );
    const count = (re: RegExp) => {
      const m = re.exec(ran.log);
      return m ? Number(m[1]) : undefined;
    };
    const baseline = count(/baseline \(tests before the change\): (\d+) passed, 0 failed/);
    expect(baseline, ran.log).toBeDefined();
    return { ...ran, baseline: baseline!, after: count(/tests after the change: (\d+) passed/) };
  };

  const expectAddPushed = async (ran: Ran, files: string[]) => {
    expect(ran.result, ran.log).toMatchObject({ status: 'done' });
    expect(await tipOf(ran.bare, ran.branch)).toMatch(/^[0-9a-f]{40}$/);
    // Only the change: no node_modules, no lockfile the install made, no build output.
    expect(await committedFiles(ran.bare, ran.branch)).toEqual(files);
    expect(world.statuses(ran.task.id).at(-1)).toBe('done');
  };

  describe('dequal (uvu, npm install, no lockfile)', () => {
    it('add: a new function and its uvu suite; done, pushed, 44 → 46 passed as uvu counts them', async () => {
      const ran = await runOn('dequal', 'REAL-JS-DEQUAL-ADD: add includes(list, value), with its tests');
      expect(ran.log).toMatch(/test command: npm test \(package\.json scripts\.test \(npm\)\)/);
      expect(ran.log).toMatch(/setup `npm install --include=dev`: exit 0 in \d+ ms/);
      // No lockfile, no dependency cache (nor one saved under the lockfile the install wrote).
      if (SANDBOX_AVAILABLE)
        expect(ran.log).toContain('dependency cache: not used (no lockfile pins what the install brings)');
      expect(ran.log).not.toMatch(/dependency cache: saved/);
      // uvu's own summary is `Total: 44 Passed: 44`.
      expect(ran.baseline).toBe(44);
      expect(ran.after).toBe(46);
      await expectAddPushed(ran, ['src/index.js', 'test/includes.js']);
    }, 180_000);

    it('break: a wrong Date comparison fails, is named, and nothing is pushed', async () => {
      const ran = await runOn('dequal', 'REAL-JS-DEQUAL-BREAK: compare dates faster', {
        limits: { repair_rounds: 0 },
      });
      expect(ran.result, ran.log).toMatchObject({ status: 'failed', errorCode: 'TESTS_FAILED' });
      expect(ran.baseline).toBe(44);
      // As uvu says: `FAIL  Date  "Dates"`, `Total: 44`, `Passed: 43` (src/lite.js is not touched).
      expect(ran.log).toMatch(
        /tests after the change: 43 passed, 1 failed; new failures: index\.js > Date > Dates;/,
      );
      expect(ran.result.reason).toMatch(/1 new test failure\(s\): index\.js > Date > Dates$/);
      expect(await tipOf(ran.bare, ran.branch)).toBeUndefined();
      expect(world.statuses(ran.task.id).at(-1)).toBe('failed');
    }, 180_000);

    it("NODE_ENV=production in the runner's environment: the devDependencies still install, done", async () => {
      const saved = process.env.NODE_ENV;
      process.env.NODE_ENV = 'production';
      let ran: Ran;
      try {
        ran = await runOn('dequal', 'REAL-JS-DEQUAL-PROD: add includes(list, value), with its tests');
      } finally {
        if (saved === undefined) delete process.env.NODE_ENV;
        else process.env.NODE_ENV = saved;
      }
      // uvu, esm and bundt are devDependencies: without them not one test runs.
      expect(ran.log).toMatch(/setup `npm install --include=dev`: exit 0/);
      expect(ran.log).toMatch(/\| added 16 packages/);
      expect(ran.baseline).toBe(44);
      expect(ran.after).toBe(46);
      await expectAddPushed(ran, ['src/index.js', 'test/includes.js']);
    }, 180_000);
  });

  describe('webidl-conversions (node --test, npm ci, package-lock.json; with the code cache)', () => {
    /** The add task ended done: it saved the code cache and the dependency cache. */
    let cachesFilled = false;

    it('add: a new conversion and its tests; done, pushed, 6976 → 6978 passed', async () => {
      const ran = await runOn(
        'webidl-conversions',
        'REAL-JS-WEBIDL-ADD: add the EpochTimeStamp conversion, with tests',
        {},
        { codeCache: true },
      );
      expect(ran.log).toMatch(
        /test command: npm test \(package\.json scripts\.test \(npm, package-lock\.json\)\)/,
      );
      expect(ran.log).toMatch(/setup `npm ci --include=dev`: exit 0 in \d+ ms/);
      // node --test's own summary: `# tests 6976`, `# pass 6976`.
      expect(ran.baseline).toBe(6976);
      expect(ran.after).toBe(6978);
      await expectAddPushed(ran, ['lib/index.js', 'test/epoch-time-stamp.js']);
      cachesFilled = true;
    }, 180_000);

    it('break: a wrong boolean conversion fails, the failing tests are named, nothing is pushed', async () => {
      const ran = await runOn(
        'webidl-conversions',
        'REAL-JS-WEBIDL-BREAK: simplify the boolean conversion',
        { limits: { repair_rounds: 0 } },
        { codeCache: true },
      );
      expect(ran.result, ran.log).toMatchObject({ status: 'failed', errorCode: 'TESTS_FAILED' });
      if (cachesFilled) {
        // From the caches: the .git restored is readable by the sandbox, as a clone's is (node
        // --test walks the whole tree), and the install comes from the dependency cache.
        expect(ran.log).toMatch(/restored the repository from the code cache and fetched main/);
        // (The dependency cache is the sandbox's home's: none without a sandbox.)
        if (SANDBOX_AVAILABLE)
          expect(ran.log).toMatch(/dependency cache: restored \d+\.\d MiB for package-lock\.json/);
      }
      expect(ran.baseline).toBe(6976);
      // As node --test says: `# pass 6972`, `# fail 4`, each `not ok` under "WebIDL boolean type".
      expect(ran.log).toMatch(/tests after the change: 6972 passed, 4 failed;/);
      const names = [
        'should return `false` for `+0`, `-0`, and `NaN`, but `true` other numbers',
        'should return `false` for empty strings, but `true` for other strings',
        'should return `true` for symbols',
        'should return `true` for objects',
      ].map((t) => `WebIDL boolean type > ${t}`);
      expect(ran.result.reason).toContain(`4 new test failure(s): ${names.join(', ')}`);
      expect(await tipOf(ran.bare, ran.branch)).toBeUndefined();
      expect(world.statuses(ran.task.id).at(-1)).toBe('failed');
    }, 180_000);
  });
});
