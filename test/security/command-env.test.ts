/**
 * The environment of what the agent makes run: run_command, and the project's setup steps and
 * test command. Each one dumps its whole environment, raw, to a file outside the repository (what
 * the command itself could use, not the redacted text the model reads); no planted secret is
 * there, by name (NUMA_API_TOKEN, GIT_TOKEN, OPENAI_API_KEY, AWS_*, GITHUB_TOKEN, ...) or by value
 * under an innocent name (the backend token copied into BACKEND_HINT, credentials in a
 * DATABASE_URL, a ghp_ token in RELEASE_BOT), nor the runner's other variables (NODE_ENV,
 * NODE_OPTIONS, npm_config_*), while the allow-listed ones (PATH, LANG, TZ) stay.
 * test/agent/run-command.test.ts checks the by-name scrub of run_command alone.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validate } from '../../core/config/load.ts';
import { silentLogger } from '../../core/log.ts';
import { Redactor } from '../../core/redact.ts';
import { runTask } from '../../container/runner/entry.ts';
import { parseToolCall } from '../../container/runner/agent/schemas.ts';
import { runTool } from '../../container/runner/agent/tools/index.ts';
import { makeRepo, toolContext, type TempRepo } from '../agent/helpers.ts';
import { API_TOKEN, createWorld, GIT_TOKEN, MODEL_KEY, type World } from '../helpers/world.ts';
import {
  expectCleanEnv,
  INNOCENT_SECRETS,
  NAMED_SECRETS,
  ORDINARY,
  PLANTED_VALUES,
  plantEnv,
  RUNNER_OWN,
} from './helpers.ts';

let dumps: string;
beforeAll(async () => {
  dumps = await mkdtemp(path.join(os.tmpdir(), 'numa-env-dumps-'));
});
afterAll(async () => {
  await rm(dumps, { recursive: true, force: true });
});

describe('run_command', () => {
  let repo: TempRepo;
  beforeAll(async () => {
    repo = await makeRepo({ 'a.txt': 'a\n' });
  });
  afterAll(async () => {
    await repo.cleanup();
  });

  it('gets no secret, by name or by value, in env, printenv or /proc/self/environ', async () => {
    const ctx = toolContext(repo.dir, {
      redactor: new Redactor([API_TOKEN, GIT_TOKEN, MODEL_KEY]),
      baseEnv: { ...process.env, ...NAMED_SECRETS, ...INNOCENT_SECRETS, ...RUNNER_OWN, ...ORDINARY },
    });
    const raw = path.join(dumps, 'run-command.txt');
    const proc = path.join(dumps, 'run-command-proc.txt');
    const command = `env > ${raw}; tr '\\0' '\\n' < /proc/self/environ > ${proc}; printenv; env | base64`;
    const parsed = parseToolCall('run_command', JSON.stringify({ command }));
    if (!parsed.ok) throw new Error(parsed.error);
    const res = await runTool(ctx, parsed);
    expect(res.output).toMatch(/^exit code: 0/);
    expectCleanEnv(await readFile(raw, 'utf8'), 'env');
    expectCleanEnv(await readFile(proc, 'utf8'), '/proc/self/environ');
    // What the model reads, base64 included (redaction alone would not catch an encoded value).
    const decoded = Buffer.from(
      res.output
        .split('\n')
        .filter((l) => /^[A-Za-z0-9+/=]+$/.test(l))
        .join(''),
      'base64',
    );
    for (const v of PLANTED_VALUES) {
      expect(res.output).not.toContain(v);
      expect(decoded.toString('utf8')).not.toContain(v);
    }
    expect(res.output).toContain('GIT_TERMINAL_PROMPT=0');
  });
});

describe('a whole run: the agent, the setup step and the test command', () => {
  let world: World;
  let restore: () => void;

  beforeAll(async () => {
    world = await createWorld({
      model: {
        turns: [
          { tool_calls: [{ name: 'run_command', arguments: { command: `env > ${dumps}/agent.txt; env` } }] },
          {
            tool_calls: [
              {
                name: 'edit_file',
                arguments: { path: 'README.md', old_text: 'Run the tests', new_text: 'Always run the tests' },
              },
            ],
          },
          {
            tool_calls: [
              { name: 'finish', arguments: { summary: 'wording', commit_message: 'README: wording' } },
            ],
          },
        ],
      },
    });
    // The runner's own process environment, as a service or ECS would hand it over.
    restore = plantEnv({ ...NAMED_SECRETS, ...INNOCENT_SECRETS, ...RUNNER_OWN, ...ORDINARY });
  });

  afterAll(async () => {
    restore?.();
    await world?.close();
  });

  it('reports done, and no command it ran saw a secret', async () => {
    const task = await world.createTask({ title: 'Reword the README' });
    const config = validate(
      world.configValues({
        setup: { commands: [`env > ${dumps}/setup.txt`] },
        tests: { command: `env > ${dumps}/tests.txt && node --test test/` },
        // The layer under test is the environment every mode hands a command; the dumps go to a
        // folder outside the repository, which a sandbox would (rightly) not let them write.
        // What the sandbox adds is attacked in sandbox.test.ts.
        sandbox: { mode: 'none', allow_unsandboxed: true },
      }),
      'test',
    );
    const result = await runTask({
      loaded: { config, workDir: config.work_dir, fileValues: {} },
      taskId: String(task.id),
      logger: silentLogger,
    });
    expect(result.status, result.reason).toBe('done');
    expectCleanEnv(await readFile(path.join(dumps, 'agent.txt'), 'utf8'), 'run_command in a run');
    expectCleanEnv(await readFile(path.join(dumps, 'setup.txt'), 'utf8'), 'setup step');
    expectCleanEnv(await readFile(path.join(dumps, 'tests.txt'), 'utf8'), 'test command');
    // The test command ran with CI=true, as before.
    expect(await readFile(path.join(dumps, 'tests.txt'), 'utf8')).toMatch(/^CI=true$/m);
  });
});
