/**
 * The context in a real run (runTask: reference backend, git server, scripted model): the first
 * request carries the structured brief, the linked solution, the project facts and the repo map
 * within context.budget_tokens, and the task's logs say what was found.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validate } from '../../core/config/load.ts';
import { silentLogger } from '../../core/log.ts';
import { runTask } from '../../container/runner/entry.ts';
import { createWorld, type World } from '../helpers/world.ts';

describe('pipeline: the agent’s first message', () => {
  let world: World;

  beforeAll(async () => {
    world = await createWorld({
      model: {
        turns: [],
        sessions: [
          {
            match: 'INTRO-CHECK',
            turns: [
              { tool_calls: [{ name: 'ask_clarification', arguments: { question: 'Which locale?' } }] },
            ],
          },
        ],
      },
    });
  });

  afterAll(async () => {
    await world?.close();
  });

  it('sends the brief and the context within the budget, and logs what it found', async () => {
    // The world's application, then a task that names a solution and a missing requirement (404: silent).
    const first = await world.createTask({ title: 'setup' });
    const appId = world.backend.store.getTask(first.id)!.application_id;
    const solution = world.backend.store.createSolution({
      title: '方案 A',
      content: 'Reuse slugify’s word splitting.',
    });
    const task = world.backend.store.createTask({
      title: 'INTRO-CHECK: add titleCase — 标题大小写',
      description: '- Add `titleCase` to src/strings.js\n- 导出它\n\n验收标准：\n- npm test 通过',
      application_id: appId,
      solution_id: solution.id,
      requirement_id: 4242,
    });
    const config = validate(
      world.configValues({ context: { budget_tokens: 6000, repo_map_tokens: 1500 } }),
      'test',
    );
    const lines: string[] = [];
    const result = await runTask({
      loaded: { config, workDir: config.work_dir, fileValues: {} },
      taskId: String(task.id),
      logger: silentLogger,
      onLine: (l) => lines.push(l),
    });
    expect(result.status).toBe('blocked');

    const body = world.model.requests()[0]!.body as { messages: Array<{ role: string; content: string }> };
    const intro = body.messages.find((m) => m.role === 'user')!.content;
    expect(intro).toContain('Task ' + task.id + ': INTRO-CHECK: add titleCase — 标题大小写');
    expect(intro).toContain('Acceptance criteria:\n1. npm test 通过');
    expect(intro).toContain('- src/strings.js (named in the task');
    expect(intro).toContain(`Linked solution ${solution.id}: 方案 A\nReuse slugify’s word splitting.`);
    expect(intro).toContain('Project facts:\n- Languages: JavaScript (2 files)');
    expect(intro).toContain('Repository map');
    expect(intro).toMatch(/src\/strings\.js\n {2}\d+: export function slugify/);

    const log = world.logs(task.id);
    expect(log).toMatch(
      /brief: 2 requirements, 1 acceptance criterion, 1 likely file \(src\/strings\.js\), linked solution \d+/,
    );
    expect(log).toMatch(/project: JavaScript 2; npm; instruction files: none/);
    const m = /first request ~(\d+) of 6000 tokens/.exec(log);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(6000);
    expect(log).not.toMatch(/could not read requirement/);
    expect(lines.join('\n')).toContain('blocked');
  });
});
