/**
 * The dependency cache (verify/deps-cache.ts) through the Verifier, in this machine's real
 * sandbox: a first run's install (before the agent) fills the package manager's cache in the
 * sandbox's home and it is saved; a second run, in a fresh workspace, gets it back before its
 * install; a changed lockfile is another key; the archive the sandbox hands back is refused when
 * it is a link; unpacking happens as the sandbox's user.
 */
import { execFile } from 'node:child_process';
import { chmod, link, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileBlobStore } from '../../adapters/local/file-blob-store.ts';
import { validate } from '../../core/config/load.ts';
import { createNativeGit } from '../../container/runner/git/index.ts';
import { sandboxProvider, sandboxSettings } from '../../container/runner/sandbox/provider.ts';
import type { Sandbox } from '../../container/runner/sandbox/types.ts';
import {
  DEPS_CACHE_PREFIX,
  DepsCache,
  readSandboxArchive,
} from '../../container/runner/verify/deps-cache.ts';
import { Verifier, type VerifyConfig } from '../../container/runner/verify/verifier.ts';
import { sandboxUnavailable } from '../helpers/world.ts';

const MODES = (['namespaces', 'user'] as const).filter((m) => sandboxUnavailable(m) === undefined);

const run = promisify(execFile);

const CONFIG: VerifyConfig = {
  setup: { commands: [], timeout: 60 },
  gates: { lint: false, secrets: 'block', test_edits: 'revert', dangerous: 'off' },
  tests: { flaky_reruns: 0 },
  limits: { test_timeout: 60, command_timeout: 60 },
  verify: { allow_unverified: false },
};

/** An install that "downloads" into npm's cache unless it is there, and says which it was. */
const INSTALL = `if [ -f "$HOME/.npm/_cacache/blob" ]; then echo hit >> "$HOME/install.log"; else
  echo miss >> "$HOME/install.log"; mkdir -p "$HOME/.npm/_cacache"; echo "package bytes" > "$HOME/.npm/_cacache/blob"; fi
`;

const REPO_URL = 'https://git.example.com/team/cachekit.git';

describe.skipIf(MODES.length === 0).each(MODES.length ? MODES : (['namespaces'] as const))(
  'dependency cache in the %s sandbox',
  (mode) => {
    let root: string;
    let workDir: string;
    let blobs: FileBlobStore;
    const open: Sandbox[] = [];

    beforeAll(async () => {
      root = await mkdtemp(path.join(os.tmpdir(), 'numa-deps-'));
      // Others may pass: the user sandbox's uid must reach the workspace.
      await chmod(root, 0o711);
      workDir = path.join(root, 'work');
      await mkdir(workDir, { mode: 0o711 });
      blobs = new FileBlobStore({ root: path.join(root, 'store') });
    });

    afterAll(async () => {
      for (const s of open) await s.close().catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    });

    /** A fresh workspace with the project, its sandbox, and a Verifier whose baseline has run. */
    async function baselineIn(
      name: string,
      lock = '{"lockfileVersion":3}\n',
    ): Promise<{ sandbox: Sandbox; lines: string[] }> {
      const scratch = path.join(workDir, 'workspaces', name);
      const repoDir = path.join(scratch, 'repo');
      await mkdir(repoDir, { recursive: true });
      const files: Record<string, string> = {
        'package.json': JSON.stringify({ type: 'module' }),
        'package-lock.json': lock,
        'install.sh': INSTALL,
        'test/a.test.js': "import { test } from 'node:test';\ntest('ok', () => {});\n",
      };
      for (const [rel, content] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(repoDir, rel)), { recursive: true });
        await writeFile(path.join(repoDir, rel), content);
      }
      await run('git', ['init', '-q', '-b', 'main', repoDir]);
      const config = validate(
        { backend: { url: 'http://127.0.0.1:9' }, sandbox: { mode, network: { allow: [] } } },
        'test',
      );
      const sandbox = await sandboxProvider(sandboxSettings(config), { workDir }).open(repoDir, scratch);
      open.push(sandbox);
      const lines: string[] = [];
      const v = new Verifier({
        repoDir,
        config: CONFIG,
        detected: { command: 'node --test test/', source: 'test' },
        installCommand: 'sh install.sh',
        task: { title: 't', description: 't' },
        git: createNativeGit(),
        secrets: [],
        log: (l) => lines.push(l),
        sandbox,
        depsCache: { cache: new DepsCache({ blobs }), repoUrl: REPO_URL },
      });
      await v.prepare();
      await v.baseline();
      return { sandbox, lines };
    }

    it('the first install fills the cache and it is saved; the next workspace installs from it', async () => {
      const first = await baselineIn('task-1-run-1');
      expect(first.lines.join('\n')).toMatch(/dependency cache: none yet for package-lock.json/);
      expect(first.lines.join('\n')).toMatch(
        /dependency cache: saved \d+\.\d MiB for package-lock.json in \d+ ms/,
      );
      expect(await readFile(path.join(first.sandbox.homeDir!, 'install.log'), 'utf8')).toBe('miss\n');
      expect((await blobs.list(DEPS_CACHE_PREFIX)).length).toBe(1);

      const second = await baselineIn('task-2-run-1');
      expect(second.lines.join('\n')).toMatch(
        /dependency cache: restored \d+\.\d MiB for package-lock.json in \d+ ms/,
      );
      // Its install found npm's cache already there: it did not "download".
      expect(await readFile(path.join(second.sandbox.homeDir!, 'install.log'), 'utf8')).toBe('hit\n');
      // Restored, so not saved again; the archive itself is gone from the home.
      expect(second.lines.join('\n')).not.toMatch(/dependency cache: saved/);
      expect(second.lines.join('\n')).toMatch(/baseline \(tests before the change\): 1 passed, 0 failed/);
    });

    it('another lockfile is another key: that install downloads again', async () => {
      const other = await baselineIn('task-3-run-1', '{"lockfileVersion":3,"packages":{"":{}}}\n');
      expect(other.lines.join('\n')).toMatch(/dependency cache: none yet/);
      expect(await readFile(path.join(other.sandbox.homeDir!, 'install.log'), 'utf8')).toBe('miss\n');
      expect((await blobs.list(DEPS_CACHE_PREFIX)).length).toBe(2);
    });

    it('what the sandbox hands back is read only as a plain file of its own', async () => {
      const dir = path.join(root, 'hand-back');
      await mkdir(dir);
      const secret = path.join(root, 'runner-only.txt');
      await writeFile(secret, 'not for the cache', { mode: 0o600 });
      await symlink(secret, path.join(dir, 'linked.tar'));
      expect(await readSandboxArchive(path.join(dir, 'linked.tar'), 1e6)).toMatch(
        /cannot be opened \(ELOOP\)/,
      );
      await link(secret, path.join(dir, 'hard.tar'));
      expect(await readSandboxArchive(path.join(dir, 'hard.tar'), 1e6)).toBe(
        'the archive is not a plain file of its own',
      );
      await writeFile(path.join(dir, 'big.tar'), Buffer.alloc(2048));
      expect(await readSandboxArchive(path.join(dir, 'big.tar'), 1024)).toMatch(/over the limit/);
      expect(await readSandboxArchive(path.join(dir, 'big.tar'), 4096)).toEqual(Buffer.alloc(2048));
    });
  },
);

describe('the dependency cache key', () => {
  it("is the same for the same install in another workspace (a Python virtualenv's folder aside)", async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'numa-deps-key-'));
    try {
      await writeFile(path.join(root, 'requirements.txt'), 'pytest\n');
      const cache = new DepsCache({ blobs: new FileBlobStore({ root: path.join(root, 'store') }) });
      const sandbox = { homeDir: root } as Sandbox;
      const ctx = (venv: string) => ({
        repoUrl: REPO_URL,
        repoDir: root,
        installCommand: `V="$HOME/.numa-venvs/${venv}"; python3 -m venv "$V"`,
        sandbox,
        log: () => undefined,
      });
      const a = await cache.key(ctx('0123456789ab'));
      const b = await cache.key(ctx('ba9876543210'));
      expect(a?.key).toBeDefined();
      expect(a?.key).toBe(b?.key);
      expect(
        (await cache.key({ ...ctx('0123456789ab'), installCommand: 'pip install -r requirements.txt' }))?.key,
      ).not.toBe(a?.key);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
