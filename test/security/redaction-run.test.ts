/**
 * Redaction end to end: one whole run (runTask, the reference backend, the git server, the scripted
 * model) with tokens planted everywhere they can come from:
 *   - in a URL: the application's git_repo_url carries the git token as credentials
 *     (http://avatar:<token>@…), and git.token is not configured, so only the URL holds it;
 *   - in the environment: the runner's process has every credential variable and secret values
 *     under innocent names;
 *   - in tool output: a file of the repository holds the backend token, a URL with a password and a
 *     ghp_ token; the agent reads it, prints it with run_command, and the test command prints it;
 *   - in error messages: a failing command prints it on stderr, and an edit_file that misses shows
 *     the closest lines of that file in its error.
 * Afterwards every artifact under the work dir (result, meta, task log, transcript, test report,
 * model cache), the task's logs on the backend, the process log, and every request the model
 * received are searched for each planted value. test/core/redact.test.ts covers the Redactor's
 * patterns one by one.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { validate } from '../../core/config/load.ts';
import { runTask } from '../../container/runner/entry.ts';
import { API_TOKEN, createWorld, GIT_TOKEN, type World } from '../helpers/world.ts';
import {
  expectNoSecrets,
  filesUnder,
  INNOCENT_SECRETS,
  NAMED_SECRETS,
  PLANTED_VALUES,
  plantEnv,
} from './helpers.ts';

const run = promisify(execFile);

const FILE_URL_PASSWORD = 'planted-url-password-93';
const FILE_GHP = 'ghp_plantedinrepofile0123456789abcdefgh';
const DEPLOY_NOTES = [
  '# Deploy notes',
  `backend token: ${API_TOKEN}`,
  `mirror: https://ci:${FILE_URL_PASSWORD}@git.example.com/textkit.git`,
  `release bot: ${FILE_GHP}`,
  '',
].join('\n');

const SECRETS = [...PLANTED_VALUES, FILE_URL_PASSWORD, FILE_GHP];

describe('a run with tokens planted in a URL, the environment, tool output and error messages', () => {
  let world: World;
  let restore: () => void;
  let scratch: string;

  beforeAll(async () => {
    world = await createWorld({
      model: {
        turns: [
          { tool_calls: [{ name: 'read_file', arguments: { path: 'notes/deploy.md' } }] },
          {
            tool_calls: [
              {
                name: 'run_command',
                arguments: { command: 'cat notes/deploy.md; env; cat notes/deploy.md >&2; exit 3' },
              },
            ],
          },
          {
            tool_calls: [
              {
                name: 'edit_file',
                arguments: {
                  path: 'notes/deploy.md',
                  old_text: '# Deploy Notes\nbackend tokens',
                  new_text: 'x',
                },
              },
            ],
          },
          { tool_calls: [{ name: 'search_code', arguments: { pattern: 'token|bot|mirror' } }] },
          {
            tool_calls: [
              {
                name: 'edit_file',
                arguments: { path: 'README.md', old_text: 'Run the tests', new_text: 'Always run the tests' },
              },
            ],
          },
          { tool_calls: [{ name: 'run_tests', arguments: {} }] },
          {
            tool_calls: [
              { name: 'finish', arguments: { summary: 'wording', commit_message: 'README: wording' } },
            ],
          },
        ],
      },
    });
    // The repository itself holds secrets (a committed file), pushed from a separate clone.
    scratch = await mkdtemp(path.join(os.tmpdir(), 'numa-redaction-'));
    const clone = path.join(scratch, 'clone');
    await run('git', ['clone', '-q', world.bareRepo, clone]);
    await mkdir(path.join(clone, 'notes'));
    await writeFile(path.join(clone, 'notes/deploy.md'), DEPLOY_NOTES);
    await run('git', ['-C', clone, 'add', '-A']);
    await run('git', ['-C', clone, '-c', 'user.name=t', '-c', 'user.email=t@x', 'commit', '-qm', 'notes']);
    await run('git', ['-C', clone, 'push', '-q', 'origin', 'HEAD']);
    restore = plantEnv({ ...NAMED_SECRETS, ...INNOCENT_SECRETS });
  });

  afterAll(async () => {
    restore?.();
    await world?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('keeps every planted value out of every artifact, log and model request', async () => {
    const store = world.backend.store;
    const withCredentials = world.repoUrl.replace('http://', `http://avatar:${GIT_TOKEN}@`);
    const app = store.createApplication({ name: 'textkit-creds', git_repo_url: withCredentials });
    const task = store.createTask({
      title: 'Reword the README',
      description: 'Reword the README.',
      application_id: Number(app.id),
    });
    const values = world.configValues({
      git: { username: 'avatar', email: 'avatar@test.example' },
      tests: { command: 'cat notes/deploy.md && node --test test/' },
    });
    const config = validate(values, 'test');
    expect(config.git.token).toBeUndefined();

    const processLog: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      processLog.push(String(chunk));
      return true;
    });
    let result;
    try {
      result = await runTask({
        loaded: { config, workDir: config.work_dir, fileValues: {} },
        taskId: String(task.id),
      });
    } finally {
      spy.mockRestore();
    }
    expect(result.status, result.reason).toBe('done');
    expect(await world.showFile(String(task.code_branch), 'README.md')).toContain('Always run the tests');

    const logs = world.logs(Number(task.id));
    // The planted values did pass through the run (so the absence below means something).
    expect(logs).toContain('tests');
    expect(logs).toMatch(/\[REDACTED\]/);
    const artifacts = await filesUnder(config.work_dir);
    const names = artifacts.map((a) => a.file);
    for (const kind of ['result.json', 'meta.json', 'task.log', 'transcript.jsonl', 'tests.json']) {
      expect(
        names.some((n) => n.endsWith(kind)),
        kind,
      ).toBe(true);
    }
    expect(names.some((n) => n.startsWith('cache/model/'))).toBe(true);
    const transcript = artifacts.find((a) => a.file.endsWith('transcript.jsonl'))!.text;
    expect(transcript).toContain('Deploy notes');
    expect(transcript).toContain('closest');

    expectNoSecrets(
      [
        ...artifacts,
        { file: 'backend task logs', text: logs },
        { file: 'process log (stderr)', text: processLog.join('') },
        { file: 'task record', text: JSON.stringify(store.getTask(task.id)) },
      ],
      SECRETS,
    );
    // What the model reads: none of the run's own secrets (configured, in the repository URL, in the
    // environment), even where the repository's file holds one. Credential-shaped text that is the
    // repository's own content (the mirror URL's password, the ghp_ token committed there) is not
    // the avatar's to hide from a model that edits that file; it is redacted from every log and
    // artifact above.
    expectNoSecrets(
      [{ file: 'model requests', text: JSON.stringify(world.model.requests()) }],
      PLANTED_VALUES,
    );
    // Nothing else of the planted environment reached the model either.
    expect(JSON.stringify(world.model.requests())).not.toMatch(/BACKEND_HINT|DATABASE_URL|AWS_SECRET/);
  });
});
