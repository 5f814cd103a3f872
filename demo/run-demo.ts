/**
 * `npm run demo`: the whole pipeline on one machine with nothing to set up. It starts the
 * reference Numa backend, a smart-HTTP git server over a bare copy of demo/sample-project, and
 * (unless OPENAI_API_KEY is set) an offline scripted model replaying demo/recorded-session.json;
 * publishes a task; runs the avatar service until the task ends; prints the timeline, the task's
 * logs and the pushed commit. Exit 0 when the task is done.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { validate } from '../core/config/load.ts';
import { PACKAGE_ROOT } from '../core/package-root.ts';
import { chooseMode, systemProbe, HOW_TO_SANDBOX } from '../container/runner/sandbox/index.ts';
import { createLogger } from '../core/log.ts';
import { Redactor } from '../core/redact.ts';
import { AvatarService } from '../local/service.ts';
import { createBareRepo, startGitServer } from '../servers/git-http/index.ts';
import { startNumaBackend } from '../servers/numa-backend/index.ts';
import { loadRecordedSession, startScriptedModel } from '../servers/scripted-model/index.ts';

const run = promisify(execFile);
/** demo/ in the package (also when this module runs from the build in dist/). */
const HERE = path.join(PACKAGE_ROOT, 'demo');

export const DEMO_TASK = {
  title: 'Add titleCase(text) to textkit, with tests',
  description:
    '在 src/strings.js 中添加 titleCase(text) 函数：把每个单词的首字母大写，其余字母小写（单词以空格或连字符分隔，带重音的字母也要处理）。\n' +
    'Add titleCase(text) to src/strings.js: capitalise the first letter of every word and lower-case the rest ' +
    '(words are separated by spaces or hyphens; accented letters count). Add tests for it in test/title-case.test.js.',
};

/** Which sandbox the demo's task runs in, and the line that says so. */
function demoSandbox(): { mode: string; line: string } {
  try {
    const { mode, why } = chooseMode({ mode: 'auto', allowUnsandboxed: false }, systemProbe);
    return { mode, line: `${mode} (${why})` };
  } catch {
    return {
      mode: 'none',
      line:
        'NONE: this machine can run no sandbox, so the demo runs its own scripted task unsandboxed. ' +
        `To sandbox: ${HOW_TO_SANDBOX.replace(/; or set .*$/, '')}`,
    };
  }
}

export interface DemoOptions {
  keep: boolean;
  env: NodeJS.ProcessEnv;
  out: (line: string) => void;
  /** Longest the demo waits for the task to end. */
  timeoutMs?: number;
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const out = opts.out;
  const t0 = Date.now();
  const root = await mkdtemp(path.join(os.tmpdir(), 'numa-avatar-demo-'));
  const cleanups: Array<() => Promise<unknown>> = [];
  const gitPassword = randomBytes(12).toString('hex');
  const redactor = new Redactor([gitPassword, opts.env.OPENAI_API_KEY]);
  try {
    out('numa-avatar demo: the whole pipeline on this machine, on 127.0.0.1 only.');

    const backend = await startNumaBackend({ port: 0 });
    cleanups.push(() => backend.close());
    out(`  reference Numa backend   ${backend.url}`);

    const gitRoot = path.join(root, 'git');
    await createBareRepo(gitRoot, 'textkit', {
      sourceDir: path.join(HERE, 'sample-project'),
      message: 'textkit: slugify and truncate',
    });
    const git = await startGitServer({ root: gitRoot, auth: { username: 'avatar', password: gitPassword } });
    cleanups.push(() => git.close());
    const repoUrl = git.repoUrl('textkit');
    out(`  git server (smart HTTP)  ${repoUrl} (token auth)`);

    let modelEnv: { base_url?: string; api_key?: string; name?: string };
    if (opts.env.OPENAI_API_KEY) {
      modelEnv = {
        api_key: opts.env.OPENAI_API_KEY,
        ...(opts.env.OPENAI_BASE_URL ? { base_url: opts.env.OPENAI_BASE_URL } : {}),
        ...(opts.env.NUMA_MODEL ? { name: opts.env.NUMA_MODEL } : {}),
      };
      out(
        `  model                    ${modelEnv.name ?? 'gpt-4o-mini'} at ${modelEnv.base_url ?? 'api.openai.com'} (OPENAI_API_KEY is set: a real model)`,
      );
    } else {
      const model = await startScriptedModel({
        turns: loadRecordedSession(path.join(HERE, 'recorded-session.json')),
      });
      cleanups.push(() => model.close());
      modelEnv = { base_url: model.baseURL, api_key: 'offline-demo', name: 'recorded-session' };
      out(`  model                    OFFLINE: replaying a recorded session (demo/recorded-session.json);`);
      out(`                           no model is called. Set OPENAI_API_KEY to use a real model.`);
    }

    const api = async <T>(method: string, p: string, body?: unknown): Promise<T> => {
      const res = await fetch(backend.url + p, {
        method,
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${method} ${p}: HTTP ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };

    const app = await api<{ id: number }>('POST', '/api/applications', {
      name: 'textkit',
      description: 'Small string helpers',
      git_repo_url: repoUrl,
      owner: 'demo',
    });
    const task = await api<{ id: number; code_branch: string }>('POST', '/api/tasks', {
      ...DEMO_TASK,
      application_id: app.id,
      code_branch: 'dev-1-title-case',
    });

    const workDir = path.join(root, 'work');
    // The demo's model and repository are its own, so it may run without a sandbox where none can
    // run here; it says so. Anything else (`numa-avatar run`) refuses to.
    const sandbox = demoSandbox();
    out(`  sandbox                  ${sandbox.line}`);
    // The user mode's agent uid must be able to pass through to the work dir.
    await chmod(root, 0o711);
    const config = validate(
      {
        backend: { url: backend.url },
        git: {
          username: 'avatar',
          email: 'avatar@numa.example',
          token: gitPassword,
          // The token goes only to listed hosts: the demo's git server is not one of the defaults.
          allowed_hosts: [new URL(git.url).host],
        },
        model: modelEnv,
        work_dir: workDir,
        concurrency: 1,
        status_port: 0,
        polling: { wait: 10, interval: 1 },
        logs: { flush_interval: 0.5 },
        limits: { shutdown_grace: 10 },
        sandbox: { allow_unsandboxed: sandbox.mode === 'none' },
      },
      'demo configuration',
    );
    const service = new AvatarService({
      loaded: { config, workDir, fileValues: {} },
      logger: createLogger({
        level: 'warn',
        redactor,
        write: (line) => out(`  avatar | ${line}`),
      }),
    });
    await service.start();
    cleanups.push(() => service.stop());
    out(`  avatar service           running (work dir ${workDir}), status API ${service.statusUrl ?? 'off'}`);
    out('');

    const published = Date.now();
    await api('POST', '/api/topics/1/messages', { data: { task_id: task.id } });
    out(`${clock(published, published)}  published task ${task.id} on the task topic: ${DEMO_TASK.title}`);

    const final = new Set([config.statuses.done, config.statuses.failed, config.statuses.blocked]);
    const seen = new Set<string>();
    let finalStatus: string | undefined;
    const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
    while (!finalStatus && Date.now() < deadline) {
      const history = await api<{ data: Array<{ status: string; at: string }> }>(
        'GET',
        `/api/tasks/${task.id}/status-history`,
      );
      for (const h of history.data) {
        const key = `${h.status}@${h.at}`;
        if (seen.has(key)) continue;
        seen.add(key);
        if (Date.parse(h.at) < published) continue; // the status the task was created with
        out(`${clock(published, Date.parse(h.at))}  status → ${h.status}`);
        if (final.has(h.status)) finalStatus = h.status;
      }
      if (!finalStatus) await new Promise((r) => setTimeout(r, 150));
    }
    await service.stop();

    out('');
    out('Task logs (POST /api/tasks/{id}/logs, as the backend received them):');
    const logs = await api<{ data: Array<{ logs: string }> }>('GET', `/api/tasks/${task.id}/logs`);
    for (const entry of logs.data) for (const line of entry.logs.split('\n')) out(`  ${line}`);

    out('');
    if (finalStatus === config.statuses.done) {
      const bare = path.join(gitRoot, 'textkit.git');
      const { stdout } = await run('git', [
        '--git-dir',
        bare,
        'log',
        '-1',
        '--stat',
        '--format=commit %H%nAuthor: %an <%ae>%nDate:   %aI%n%n    %s%n',
        task.code_branch,
      ]);
      out(`Pushed to ${task.code_branch} on the git server:`);
      for (const line of stdout.trimEnd().split('\n')) out(`  ${line}`);
    }
    out('');
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    if (finalStatus === config.statuses.done) {
      out(`Demo finished: task ${task.id} is ${finalStatus}, in ${secs} s in all.`);
      return 0;
    }
    out(
      `Demo finished: task ${task.id} ended ${finalStatus ?? 'without a final status (timed out)'} after ${secs} s.`,
    );
    return 2;
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    if (opts.keep) out(`(kept the demo's files in ${root})`);
    else await rm(root, { recursive: true, force: true });
  }
}

function clock(origin: number, at: number): string {
  const d = new Date(at);
  const rel = ((at - origin) / 1000).toFixed(2).padStart(6);
  return `${d.toISOString().slice(11, 23)} (+${rel}s)`;
}
