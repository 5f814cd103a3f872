/**
 * A small world for integration and end-to-end tests, all on 127.0.0.1: the reference Numa
 * backend, a smart-HTTP git server over a bare copy of the demo's sample project (token auth), and
 * a scripted OpenAI-compatible model. Everything is stopped and removed by `close()`.
 */
import { chooseMode, systemProbe, type SandboxMode } from '../../container/runner/sandbox/index.ts';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { createBareRepo, startGitServer, type GitServer } from '../../servers/git-http/index.ts';
import {
  startNumaBackend,
  type NumaBackend,
  type NumaBackendOptions,
} from '../../servers/numa-backend/index.ts';
import {
  startScriptedModel,
  type ScriptedModelOptions,
  type ScriptedModelServer,
} from '../../servers/scripted-model/index.ts';

const run = promisify(execFile);
export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const SAMPLE_PROJECT = path.join(REPO_ROOT, 'demo/sample-project');
export const RECORDED_SESSION = path.join(REPO_ROOT, 'demo/recorded-session.json');

export const GIT_TOKEN = 'gtok_e2e_5f3c1a9b7d2e4f60';
export const API_TOKEN = 'numa_e2e_token_8d1f2a3b4c';
export const MODEL_KEY = 'sk-e2etestkey0123456789abcdef';

export interface World {
  root: string;
  backend: NumaBackend;
  git: GitServer;
  model: ScriptedModelServer;
  repoUrl: string;
  bareRepo: string;
  close(): Promise<void>;
  /** Creates the application (once) and a task; returns the task. */
  createTask(t: {
    title: string;
    description?: string;
    code_branch?: string;
  }): Promise<{ id: number; code_branch: string }>;
  publish(data: unknown): void;
  statuses(taskId: number): string[];
  logs(taskId: number): string;
  /** The branch's tip in the bare repository, or undefined. */
  remoteBranch(branch: string): Promise<string | undefined>;
  showFile(branch: string, file: string): Promise<string>;
  configValues(extra?: Record<string, unknown>): Record<string, unknown>;
  writeConfig(extra?: Record<string, unknown>): Promise<string>;
  waitForStatus(taskId: number, wanted: string[], timeoutMs?: number): Promise<string>;
}

/** Why `mode` cannot run here (chooseMode's message), or undefined when it can. */
export function sandboxUnavailable(mode: 'auto' | SandboxMode): string | undefined {
  try {
    chooseMode({ mode, allowUnsandboxed: false }, systemProbe);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Whether this machine can run any sandbox (sandbox.mode auto without allow_unsandboxed). */
export const SANDBOX_AVAILABLE = sandboxUnavailable('auto') === undefined;

export async function createWorld(
  opts: { model: ScriptedModelOptions; backend?: NumaBackendOptions } = { model: { turns: [] } },
): Promise<World> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'numa-world-'));
  // Others may pass (not list): as root, the sandbox runs its commands as a leased uid, which
  // must reach the run's repository below the work dir (container/runner/sandbox/provider.ts).
  await chmod(root, 0o711);
  const backend = await startNumaBackend({ port: 0, apiToken: API_TOKEN, ...opts.backend });
  const gitRoot = path.join(root, 'git');
  const bareRepo = await createBareRepo(gitRoot, 'textkit', { sourceDir: SAMPLE_PROJECT });
  const git = await startGitServer({ root: gitRoot, auth: { username: 'avatar', password: GIT_TOKEN } });
  const model = await startScriptedModel({ apiKey: MODEL_KEY, ...opts.model });
  const repoUrl = git.repoUrl('textkit');
  let appId: number | undefined;
  const store = backend.store;

  const world: World = {
    root,
    backend,
    git,
    model,
    repoUrl,
    bareRepo,
    async close() {
      await Promise.allSettled([backend.close(), git.close(), model.close()]);
      await rm(root, { recursive: true, force: true });
    },
    async createTask(t) {
      if (appId === undefined) {
        appId = Number(store.createApplication({ name: 'textkit', git_repo_url: repoUrl, owner: 'test' }).id);
      }
      const task = store.createTask({
        title: t.title,
        description: t.description ?? t.title,
        application_id: appId,
        code_branch: t.code_branch,
      });
      return { id: Number(task.id), code_branch: String(task.code_branch) };
    },
    publish(data) {
      store.publish(1, data);
    },
    statuses(taskId) {
      return store.statusHistoryOf(taskId).map((h) => h.status);
    },
    logs(taskId) {
      return store
        .logsOf(taskId)
        .map((l) => l.logs)
        .join('\n');
    },
    async remoteBranch(branch) {
      try {
        const { stdout } = await run('git', [
          '--git-dir',
          bareRepo,
          'rev-parse',
          '--verify',
          `refs/heads/${branch}`,
        ]);
        return stdout.trim();
      } catch {
        return undefined;
      }
    },
    async showFile(branch, file) {
      const { stdout } = await run('git', ['--git-dir', bareRepo, 'show', `${branch}:${file}`]);
      return stdout;
    },
    configValues(extra = {}) {
      return {
        backend: { url: backend.url, api_token: API_TOKEN, timeout: 5, max_attempts: 3 },
        // The token goes only to the listed hosts (git.allowed_hosts): here the world's git server.
        git: {
          username: 'avatar',
          email: 'avatar@test.example',
          token: GIT_TOKEN,
          allowed_hosts: [new URL(git.url).host],
        },
        model: { base_url: model.baseURL, api_key: MODEL_KEY, name: 'scripted', max_retries: 2, timeout: 30 },
        work_dir: path.join(root, 'work'),
        concurrency: 2,
        status_port: 0,
        polling: { wait: 2, interval: 1 },
        logs: { flush_interval: 0.3, level: 'debug' },
        limits: { repair_rounds: 1, shutdown_grace: 10, max_attempts: 2 },
        // A machine with no sandbox at all (no bubblewrap, not root) still runs the pipeline's
        // tests; what the sandbox adds is attacked in test/security (required in CI).
        sandbox: { allow_unsandboxed: !SANDBOX_AVAILABLE },
        ...extra,
      };
    },
    async writeConfig(extra = {}) {
      const file = path.join(root, 'config.yaml');
      await writeFile(file, stringify(world.configValues(extra)));
      return file;
    },
    async waitForStatus(taskId, wanted, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const last = world.statuses(taskId).at(-1);
        if (last && wanted.includes(last)) return last;
        if (Date.now() > deadline) {
          throw new Error(
            `task ${taskId}: status ${last} after ${timeoutMs} ms, wanted ${wanted.join('|')}; history ${world.statuses(taskId).join(' → ')}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
  return world;
}

/** A TCP port free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
