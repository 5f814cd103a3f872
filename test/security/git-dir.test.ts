/**
 * The runner's own git on a repository the sandboxed code had in its hands. Its `.git` is the
 * runner's (container/runner/sandbox/git-dir.ts): read-only to the sandbox, and checked before
 * every git call. Attacked under each sandbox adapter, through the whole pipeline, by an agent
 * that: links `.git/COMMIT_EDITMSG` and the reflog to a root-owned file (git as root would write
 * the commit message through them); swaps `.git` for a repository of its own; plants a nested
 * repository whose config runs a command in `git status`/`git add` (a filter driver).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validate } from '../../core/config/load.ts';
import { silentLogger } from '../../core/log.ts';
import { runTask } from '../../container/runner/entry.ts';
import type { SandboxMode } from '../../container/runner/sandbox/index.ts';
import { finishTurn, REWORD_README, runCommandTurn } from '../helpers/turns.ts';
import { createWorld, sandboxUnavailable, type World } from '../helpers/world.ts';

const REQUIRED = process.env.NUMA_REQUIRE_SANDBOXES === '1';

describe.each(['namespaces', 'user'] as SandboxMode[])(
  "sandbox.mode %s: the git dir stays the runner's",
  (mode) => {
    const skip = sandboxUnavailable(mode) !== undefined && !REQUIRED;
    let world: World;
    let victimDir: string;
    const victim = () => path.join(victimDir, 'victim.sh');

    beforeAll(async () => {
      if (skip) return;
      victimDir = await mkdtemp(path.join(os.tmpdir(), 'numa-git-victim-'));
      execFileSync('chmod', ['0755', victimDir]);
      world = await createWorld({
        model: {
          turns: [],
          sessions: [
            {
              match: 'LINKGIT',
              turns: [
                runCommandTurn(
                  `ln -sf ${victim()} .git/COMMIT_EDITMSG 2>&1; mkdir -p .git/logs 2>&1; ln -sf ${victim()} .git/logs/HEAD 2>&1; ` +
                    `printf '[gc]\\n\\tauto = 1\\n' >> .git/config 2>&1; echo tried`,
                ),
                REWORD_README,
                finishTurn('#!/bin/sh\nid > /tmp/numa-pwned-by-commit-message', 'wording'),
              ],
            },
            {
              match: 'SWAPGIT',
              turns: [
                // The deny list refuses `git config`; writing the file does the same (a guard-rail, not the boundary).
                runCommandTurn(
                  `mv .git .git-old 2>&1 && git init -q . 2>&1 && ` +
                    `printf '[core]\\n\\tfsmonitor = id > ${victim()}\\n' >> .git/config; echo tried`,
                ),
                REWORD_README,
                finishTurn('README: wording', 'wording'),
              ],
            },
            {
              match: 'NESTED',
              turns: [
                runCommandTurn(
                  `mkdir -p sub && cd sub && git init -q . && ` +
                    `printf '[filter "x"]\\n\\tclean = sh -c "id > ${victim()}; cat"\\n' >> .git/config && ` +
                    'mkdir -p .git/info && echo "* filter=x" > .git/info/attributes && echo a > f && git add f 2>&1; ' +
                    'c=commit; git -c user.name=a -c user.email=a@b $c -qm x 2>&1; echo b >> f; echo tried',
                ),
                REWORD_README,
                finishTurn('README: wording', 'wording'),
              ],
            },
          ],
        },
      });
    });

    afterAll(async () => {
      await world?.close();
      if (victimDir) await rm(victimDir, { recursive: true, force: true });
    });

    const run = async (title: string) => {
      await writeFile(victim(), 'original\n', { mode: 0o644 });
      const task = await world.createTask({ title });
      const config = validate(world.configValues({ sandbox: { mode } }), 'test');
      const result = await runTask({
        loaded: { config, workDir: config.work_dir, fileValues: {} },
        taskId: String(task.id),
        logger: silentLogger,
      });
      return { task, result };
    };

    it.skipIf(skip)(
      'links in .git to a root-owned file: not made, and the commit writes nothing through them',
      async () => {
        const { task, result } = await run('Reword the README LINKGIT');
        expect(result.status, result.reason).toBe('done');
        expect(await readFile(victim(), 'utf8')).toBe('original\n');
        expect(existsSync('/tmp/numa-pwned-by-commit-message')).toBe(false);
        expect(await world.remoteBranch(task.code_branch)).toBeDefined();
      },
    );

    it.skipIf(skip)(
      ".git swapped for a repository of the agent's: refused, or the run stops before any git on it",
      async () => {
        const { task, result } = await run('Reword the README SWAPGIT');
        expect(await readFile(victim(), 'utf8')).toBe('original\n');
        if (result.status === 'failed') {
          expect(result.errorCode).toBe('GIT_DIR_TAMPERED');
          expect(await world.remoteBranch(task.code_branch)).toBeUndefined();
        } else {
          // The swap itself was refused: namespaces, .git is a read-only mount point; user, the
          // repository folder is the runner's with the sticky bit, so root's .git cannot be renamed.
          expect(result.status, result.reason).toBe('done');
          const answers = JSON.stringify(world.model.requests().map((r) => r.body));
          expect(answers).toMatch(/mv: cannot move '\.git'/);
        }
      },
    );

    it.skipIf(skip)(
      'a nested repository with a filter driver: refused by name, its command never runs',
      async () => {
        const { task, result } = await run('Reword the README NESTED');
        expect(result.status, world.logs(task.id)).toBe('failed');
        expect(result.reason).toMatch(/another repository \(sub\/\.git\)/);
        expect(await readFile(victim(), 'utf8')).toBe('original\n');
        expect(await world.remoteBranch(task.code_branch)).toBeUndefined();
      },
    );
  },
);
