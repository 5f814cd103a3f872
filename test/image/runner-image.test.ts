/**
 * The runner image for real: built from container/runner/Dockerfile (on a local stand-in for
 * `node:20-bookworm-slim` when the daemon does not have it: test/image/node-base-image.sh), then
 * one task run in a container started the way ECS starts it on Fargate: the dispatcher's
 * environment (the task, the settings, the secrets, a credentials URI like the one ECS gives the
 * task role), no user namespaces to rely on (`sandbox.mode: user`), and root's capabilities cut to
 * the six the task definition keeps. S3 is moto's server mode; the backend, the git server and
 * the scripted model run on 127.0.0.1 (`--network host`).
 *
 * The scripted agent first tries to read the runner's secrets (every /proc/<pid>/environ, its
 * parent's, its own environment, base64 to get past a filter), then does the demo's titleCase
 * change. The run must end `done` with the change pushed, and what the model received must show
 * the sandbox: uid 63000 (its own range), no effective capabilities, the runner's environment out of reach, and
 * no secret in any encoding.
 *
 * Skipped without a working Docker daemon (failed instead under NUMA_REQUIRE_DOCKER=1, as in CI);
 * needs moto like the other AWS tests (NUMA_REQUIRE_MOTO).
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { S3BlobStore } from '../../adapters/aws/s3-blob-store.ts';
import { findSecretForm } from '../../core/secret-forms.ts';
import { REDACTED } from '../../core/redact.ts';
import { createBareRepo } from '../../servers/git-http/index.ts';
import { loadRecordedSession, type ScriptedTurn } from '../../servers/scripted-model/index.ts';
import { describeWithDocker, execute, tail } from '../helpers/docker.ts';
import { describeWithMoto, motoClientConfig, MOTO_REGION, startMoto, type Moto } from '../helpers/moto.ts';
import { finishTurn, REWORD_README } from '../helpers/turns.ts';
import {
  API_TOKEN,
  createWorld,
  GIT_TOKEN,
  MODEL_KEY,
  RECORDED_SESSION,
  REPO_ROOT,
  type World,
} from '../helpers/world.ts';

const DOCKERFILE = 'container/runner/Dockerfile';
const BASE_IMAGE_SCRIPT = path.join(REPO_ROOT, 'test/image/node-base-image.sh');
const IMAGE = 'numa-avatar-runner:image-test';
const BUCKET = 'numa-avatar-image-test';
/**
 * The container shares this machine's kernel: a uid of the tests' own sandboxes would be the same
 * user in both, and each side's reaping (kill as that uid) would reach the other. So the image's
 * runs lease from another range than the host tests (61000 and up).
 */
const AGENT_UID = 63_000;
/** Root's capabilities the ECS task definition keeps (infra/). */
const CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'KILL', 'SETGID', 'SETPCAP', 'SETUID'];

/** What the agent runs before it does its task: each tries to get at the runner's secrets. */
const STEAL = {
  allEnvirons: 'cat /proc/1/environ /proc/*/environ | base64',
  env: 'env',
  parentEnviron: 'cat /proc/$PPID/environ',
  id: 'id',
  caps: 'grep Cap /proc/self/status',
  // Nothing listens on port 9: without the filter this is ECONNREFUSED, with it EACCES.
  net: `node -e "require('net').connect(9, '127.0.0.1').on('connect', () => console.log('reached')).on('error', (e) => console.log('blocked', e.code))"`,
} as const;

/** The base image of every stage (`FROM node:<major>-bookworm-slim`), from the Dockerfile itself. */
function baseImage(): { tag: string; major: string } {
  const text = readFileSync(path.join(REPO_ROOT, DOCKERFILE), 'utf8');
  const m = /^FROM\s+(node:(\d+)-bookworm-slim)\b/m.exec(text);
  if (!m) throw new Error(`${DOCKERFILE}: no FROM node:<major>-bookworm-slim`);
  return { tag: m[1]!, major: m[2]! };
}

/** The docker client's own environment: nothing of the developer's but what docker needs. */
function dockerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/' };
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('DOCKER_') && v) env[k] = v;
  return { ...env, ...extra };
}

const docker = (args: string[], timeoutMs: number, onTimeout?: () => void) =>
  execute('docker', args, { cwd: REPO_ROOT, env: dockerEnv(), timeoutMs, onTimeout });

interface ChatMessage {
  role?: string;
  content?: unknown;
  tool_call_id?: string;
  tool_calls?: Array<{ id?: string; function?: { name?: string; arguments?: string } }>;
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((p) => (typeof (p as { text?: unknown })?.text === 'string' ? p.text : '')).join('');
  }
  return '';
}

/** The result the model received for each command it ran (the first time it saw it). */
function commandResults(requests: Array<{ body: unknown }>): Map<string, string> {
  const out = new Map<string, string>();
  for (const { body } of requests) {
    const messages = ((body as { messages?: ChatMessage[] }).messages ?? []) as ChatMessage[];
    const commandOf = new Map<string, string>();
    for (const m of messages) {
      for (const call of m.tool_calls ?? []) {
        if (call.function?.name !== 'run_command' || !call.id) continue;
        try {
          commandOf.set(
            call.id,
            String((JSON.parse(call.function.arguments ?? '{}') as { command?: unknown }).command),
          );
        } catch {
          // not one of ours
        }
      }
    }
    for (const m of messages) {
      const command = m.role === 'tool' && m.tool_call_id ? commandOf.get(m.tool_call_id) : undefined;
      if (command !== undefined && !out.has(command)) out.set(command, contentText(m.content));
    }
  }
  return out;
}

describeWithDocker('runner image (docker)', () => {
  describeWithMoto('a task run in the runner image, sandbox.mode user, on moto S3', () => {
    let moto: Moto | undefined;
    let world: World | undefined;
    let s3: S3Client | undefined;
    const timings: Record<string, string> = {};
    const container = `numa-image-test-${randomUUID().slice(0, 8)}`;
    let started = false;

    beforeAll(async () => {
      const build = async () => {
        const base = baseImage();
        if ((await docker(['image', 'inspect', base.tag], 30_000)).code !== 0) {
          const r = await execute('bash', [BASE_IMAGE_SCRIPT, base.major], {
            cwd: REPO_ROOT,
            env: { ...process.env },
            timeoutMs: 15 * 60_000,
          });
          if (r.code !== 0) throw new Error(`${BASE_IMAGE_SCRIPT} ${base.major} failed:\n${tail(r)}`);
          timings.baseImage = `${(r.ms / 1000).toFixed(1)} s (stand-in for ${base.tag} built)`;
        } else {
          timings.baseImage = `${base.tag} already present`;
        }
        const r = await docker(
          ['build', '--network', 'host', '-f', DOCKERFILE, '-t', IMAGE, '.'],
          20 * 60_000,
        );
        if (r.code !== 0) throw new Error(`docker build failed:\n${tail(r)}`);
        timings.imageBuild = `${(r.ms / 1000).toFixed(1)} s`;
      };
      const servers = async () => {
        [moto, world] = await Promise.all([
          startMoto(),
          createWorld({
            model: {
              turns: [
                ...Object.values(STEAL).map((command): ScriptedTurn => ({
                  tool_calls: [{ name: 'run_command', arguments: { command } }],
                })),
                ...loadRecordedSession(RECORDED_SESSION),
              ],
              sessions: [
                {
                  // A change that breaks an existing function: the tests fail, no repair is allowed.
                  match: 'BREAK',
                  turns: [
                    {
                      tool_calls: [
                        {
                          name: 'edit_file',
                          arguments: {
                            path: 'src/strings.js',
                            old_text: '.toLowerCase()',
                            new_text: '.toUpperCase()',
                          },
                        },
                      ],
                    },
                    finishTurn('slugify: upper case'),
                  ],
                },
                {
                  match: 'AGAIN',
                  turns: [REWORD_README, finishTurn('README: wording')],
                },
                {
                  match: 'DEVDEPS',
                  turns: [
                    {
                      tool_calls: [
                        {
                          name: 'write_file',
                          arguments: { path: 'NOTES.md', content: '# Notes\n\nChecked with is-number.\n' },
                        },
                      ],
                    },
                    finishTurn('Notes'),
                  ],
                },
              ],
            },
          }),
        ]);
        s3 = new S3Client(motoClientConfig(moto, { s3: true }));
        await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
      };
      await Promise.all([build(), servers()]);
    }, 30 * 60_000);

    afterAll(async () => {
      // Only if it outlived the test (docker run --rm removes it otherwise); ours, by name.
      if (started) await docker(['rm', '--force', container], 60_000).catch(() => undefined);
      s3?.destroy();
      await Promise.allSettled([moto?.close(), world?.close()]);
      if (Object.keys(timings).length > 0) {
        console.log(
          `[runner image] ${Object.entries(timings)
            .map(([k, v]) => `${k}: ${v}`)
            .join('; ')}`,
        );
      }
    });

    it('the image runs as root with setpriv and prlimit, and sets no NODE_ENV', async () => {
      const inspected = await docker(['image', 'inspect', IMAGE], 30_000);
      expect(inspected.code, tail(inspected)).toBe(0);
      const [info] = JSON.parse(inspected.stdout) as Array<{
        Size: number;
        Config: { User?: string; Env?: string[] };
      }>;
      timings.imageSize = `${(info!.Size / 1e6).toFixed(0)} MB`;
      expect(['', 'root', '0', '0:0']).toContain(info!.Config.User ?? '');
      expect(info!.Config.Env?.filter((e) => e.startsWith('NODE_ENV='))).toEqual([]);
      const r = await docker(
        [
          'run',
          '--rm',
          '--name',
          `${container}-check`,
          '--network',
          'host',
          '--entrypoint',
          '/bin/sh',
          IMAGE,
          '-c',
          'id -u && /usr/bin/setpriv --version && /usr/bin/prlimit --version && ' +
            '(ls -d /app/node_modules/tsx /app/node_modules/typescript /app/node_modules/esbuild 2>/dev/null | wc -l) && ' +
            // .dockerignore: no repository history, tests or local configuration (secrets) in the image.
            'ls -A /app',
        ],
        60_000,
        () => execFile('docker', ['kill', `${container}-check`], () => undefined),
      );
      expect(r.code, tail(r)).toBe(0);
      const [uid, setpriv, prlimit, loaders, ...app] = r.stdout.trim().split('\n');
      expect(uid).toBe('0');
      expect(setpriv).toMatch(/^setpriv from util-linux/);
      expect(prlimit).toMatch(/^prlimit from util-linux/);
      // The compiled runner only: no TypeScript loader or compiler, no sources.
      expect(Number(loaders)).toBe(0);
      expect(app.sort()).toEqual(['.node-compile-cache', 'bin', 'dist', 'node_modules', 'package.json']);
    });

    /** Runs one task in the image as ECS would start it (the dispatcher's environment, the task definition's limits). */
    const runInImage = async (
      task: { id: number },
      runId: string,
      yaml: Record<string, unknown> = {},
      extraEnv: Record<string, string> = {},
    ) => {
      const w = world!;
      const credentialsUri = `/v2/credentials/planted-${randomUUID()}`;
      const awsKeyId = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
      const awsSecret = randomBytes(30).toString('base64url');
      // What the dispatcher (NUMA_TASK_ID, NUMA_RUN_ID, NUMA_MESSAGE), the task definition
      // (environment and Secrets Manager secrets) and ECS (the task role's credentials URI) set.
      const containerEnv: Record<string, string> = {
        NUMA_TASK_ID: String(task.id),
        NUMA_RUN_ID: runId,
        NUMA_MESSAGE: JSON.stringify({ task_id: task.id, message_id: 1, topic_id: 1, attempt: 1 }),
        BUCKET,
        NUMA_RUN_TIMEOUT_SECONDS: '600',
        // Plain configuration, as infra/ puts it in the task definition (no secret in it).
        NUMA_CONFIG_YAML: stringify({
          sandbox: { mode: 'user', uid: AGENT_UID },
          git: { username: 'avatar', allowed_hosts: [new URL(w.repoUrl).host] },
          logs: { flush_interval: 0.3 },
          backend: { timeout: 5 },
          ...yaml,
        }),
        NUMA_BACKEND_URL: w.backend.url,
        NUMA_API_TOKEN: API_TOKEN,
        GIT_TOKEN,
        OPENAI_API_KEY: MODEL_KEY,
        OPENAI_BASE_URL: w.model.baseURL,
        NUMA_MODEL: 'scripted',
        AWS_REGION: MOTO_REGION,
        AWS_ENDPOINT_URL: moto!.endpoint,
        AWS_ACCESS_KEY_ID: awsKeyId,
        AWS_SECRET_ACCESS_KEY: awsSecret,
        AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: credentialsUri,
        ...extraEnv,
      };
      const secrets = { API_TOKEN, GIT_TOKEN, MODEL_KEY, credentialsUri, awsKeyId, awsSecret };

      started = true;
      // `-e NAME` takes the value from the client's environment: no secret on a command line.
      const run = await execute(
        'docker',
        [
          'run',
          '--rm',
          '--name',
          container,
          '--network',
          'host',
          // As the task definition has it: a read-only root, task volumes (root's, 0755) where
          // the runner writes.
          '--read-only',
          '--tmpfs',
          '/work:rw,exec,mode=0755,size=1g',
          '--tmpfs',
          '/tmp:rw,exec,mode=0755,size=1g',
          '--tmpfs',
          '/run/numa-avatar:rw,mode=0755,size=16m',
          '--cap-drop',
          'ALL',
          ...CAPABILITIES.flatMap((c) => ['--cap-add', c]),
          ...Object.keys(containerEnv).flatMap((k) => ['-e', k]),
          IMAGE,
        ],
        {
          cwd: REPO_ROOT,
          env: dockerEnv(containerEnv),
          timeoutMs: 5 * 60_000,
          onTimeout: () => execFile('docker', ['kill', container], () => undefined),
        },
      );
      return { run, secrets };
    };

    it(
      'runs a task to done as ECS would start it; the agent gets none of the secrets',
      async () => {
        const w = world!;
        const task = await w.createTask({ title: 'Add titleCase (runner image)' });
        const runId = `image-${randomUUID().slice(0, 8)}`;
        const since = Math.floor(Date.now() / 1000) - 1;
        const { run, secrets } = await runInImage(task, runId);
        timings.taskRun = `${(run.ms / 1000).toFixed(1)} s`;
        // Container start (the daemon's `start` event) → `in_progress` at the backend: the start a
        // Fargate task adds to the pickup, with the image already on the machine.
        const events = await docker(
          [
            'events',
            '--since',
            String(since),
            '--until',
            String(Math.ceil(Date.now() / 1000) + 1),
            '--filter',
            `container=${container}`,
            '--filter',
            'event=start',
            '--format',
            '{{.TimeNano}}',
          ],
          30_000,
        );
        const startedNs = events.stdout.trim().split('\n').filter(Boolean).at(-1);
        const inProgressAt = w.backend.store
          .statusHistoryOf(task.id)
          .find((h) => h.status === 'in_progress')?.at;
        if (startedNs && inProgressAt) {
          timings.containerStartToInProgress = `${((Date.parse(inProgressAt) - Number(BigInt(startedNs) / 1_000_000n)) / 1000).toFixed(2)} s`;
        }
        const lastBody = w.model.requests().at(-1)?.body as { messages?: ChatMessage[] } | undefined;
        const lastResults = (lastBody?.messages ?? [])
          .filter((m) => m.role === 'tool')
          .slice(-2)
          .map((m) => contentText(m.content).slice(-3000));
        const why =
          `container output:\n${tail(run, 6000)}\n\ntask log:\n${w.logs(task.id)}\n\n` +
          `the model's last tool results:\n${lastResults.join('\n---\n')}`;

        expect(run.code, why).toBe(0);
        expect(w.statuses(task.id).at(-1), why).toBe('done');
        expect(w.backend.store.getTask(task.id)?.status).toBe('done');
        expect(await w.remoteBranch(task.code_branch), why).toBeDefined();
        expect(await w.showFile(task.code_branch, 'src/strings.js')).toContain('titleCase');
        expect(w.logs(task.id)).toMatch(/sandbox: user \(setpriv\).*network off \(seccomp\)/);
        // The project's tests ran, before and after (a red baseline would let anything through).
        expect(w.logs(task.id), why).toMatch(
          /baseline \(tests before the change\): [1-9]\d* passed, 0 failed/,
        );
        expect(w.model.errors()).toEqual([]);
        const keys = await new S3BlobStore({ client: s3!, bucket: BUCKET }).list(`runs/${task.id}/${runId}/`);
        expect(keys.length).toBeGreaterThan(0);

        // What the agent's commands saw, as the model received it.
        const requests = w.model.requests();
        const results = commandResults(requests);
        for (const command of Object.values(STEAL)) expect(results.has(command), command).toBe(true);
        const seen = (command: string) => results.get(command) ?? '';
        expect(seen(STEAL.id)).toMatch(new RegExp(`uid=${AGENT_UID}\\b.* gid=${AGENT_UID}\\b`));
        expect(seen(STEAL.id)).not.toMatch(/uid=0\b|groups=.*\b0\(root\)/);
        for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapAmb', 'CapBnd']) {
          expect(seen(STEAL.caps)).toMatch(new RegExp(`${set}:\\s+0{16}\\b`));
        }
        // The runner's processes (tini, node, git) are root's: another uid cannot read their environment.
        expect(seen(STEAL.parentEnviron)).toMatch(/Permission denied/);
        expect(seen(STEAL.allEnvirons)).toMatch(/\/proc\/1\/environ: Permission denied/);
        expect(seen(STEAL.env)).toMatch(/^HOME=/m);
        expect(seen(STEAL.net)).toContain('blocked EACCES');
        expect(seen(STEAL.env)).not.toMatch(/^(NUMA_|OPENAI_|AWS_|GIT_TOKEN|NODE_ENV)/m);

        // No secret in any encoding: not in what the model received, not in the container's log.
        const received = requests.map((q) => JSON.stringify(q.body)).join('\n');
        const outputs = [...results.values()].join('\n');
        for (const [name, value] of Object.entries(secrets)) {
          expect(findSecretForm(received, value), `${name} in the model's requests`).toBeUndefined();
          expect(findSecretForm(outputs, value), `${name} in the command results`).toBeUndefined();
          expect(
            findSecretForm(run.stdout + run.stderr, value),
            `${name} in the container's output`,
          ).toBeUndefined();
        }
        // And none reached the commands at all: the redactor had nothing to hide in their output.
        expect(outputs).not.toContain(REDACTED);
      },
      10 * 60_000,
    );

    it(
      'a second task on the repository starts from the code cache in S3, and ends done',
      async () => {
        const w = world!;
        const task = await w.createTask({ title: 'Reword the README (AGAIN, runner image)' });
        const { run } = await runInImage(task, `image-${randomUUID().slice(0, 8)}`);
        const why = `container output:\n${tail(run, 4000)}\n\ntask log:\n${w.logs(task.id)}`;
        expect(run.code, why).toBe(0);
        expect(w.statuses(task.id).at(-1), why).toBe('done');
        // The first task's run saved the repository's objects under cache/; this one restored them.
        expect(w.logs(task.id), why).toMatch(/restored the repository from the code cache/);
        expect(w.logs(task.id), why).toMatch(
          /baseline \(tests before the change\): [1-9]\d* passed, 0 failed/,
        );
        const cached = await new S3BlobStore({ client: s3!, bucket: BUCKET }).list('cache/');
        expect(cached.length).toBeGreaterThan(0);
      },
      10 * 60_000,
    );

    it(
      'a change that breaks the tests ends failed with the failure exit code, and nothing is pushed',
      async () => {
        const w = world!;
        const task = await w.createTask({ title: 'Shout the slugs (BREAK, runner image)' });
        const { run } = await runInImage(task, `image-${randomUUID().slice(0, 8)}`, {
          limits: { repair_rounds: 0 },
        });
        const why = `container output:\n${tail(run, 4000)}\n\ntask log:\n${w.logs(task.id)}`;
        // outcome.ts: 2 is "failed".
        expect(run.code, why).toBe(2);
        expect(w.statuses(task.id).at(-1), why).toBe('failed');
        expect(w.logs(task.id), why).toMatch(/new failures: .*slugify/s);
        expect(await w.remoteBranch(task.code_branch)).toBeUndefined();
      },
      10 * 60_000,
    );
    it(
      "NODE_ENV=production in the runner's environment: the repository's devDependencies still install and its tests run",
      async () => {
        const w = world!;
        const gitRoot = path.join(w.root, 'git');
        await createBareRepo(gitRoot, 'devdeps', {
          files: {
            'package.json': JSON.stringify({
              name: 'devdeps',
              type: 'module',
              scripts: { test: 'node --test test/*.test.js' },
              devDependencies: { 'is-number': '7.0.0' },
            }),
            '.gitignore': 'node_modules/\n',
            'README.md': '# devdeps\n',
            'test/num.test.js':
              "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport isNumber from 'is-number';\n\ntest('is-number is installed', () => assert.ok(isNumber(5)));\n",
          },
        });
        const app = w.backend.store.createApplication({
          name: 'devdeps',
          git_repo_url: w.git.repoUrl('devdeps'),
          owner: 'test',
        });
        const t = w.backend.store.createTask({ title: 'DEVDEPS: notes', application_id: app.id });
        const task = { id: Number(t.id), code_branch: String(t.code_branch) };
        const { run } = await runInImage(
          task,
          `image-${randomUUID().slice(0, 8)}`,
          {},
          { NODE_ENV: 'production' },
        );
        const log = w.logs(task.id);
        const why = `container output:\n${tail(run, 4000)}\n\ntask log:\n${log}`;
        expect(run.code, why).toBe(0);
        expect(w.statuses(task.id).at(-1), why).toBe('done');
        expect(log, why).toMatch(/setup `npm install --include=dev`: exit 0/);
        expect(log, why).toMatch(/baseline \(tests before the change\): 1 passed, 0 failed/);
        // The lockfile the install wrote is the setup's, not the change's.
        expect(log, why).toMatch(/they are not committed: package-lock.json/);
      },
      10 * 60_000,
    );
  });
});
