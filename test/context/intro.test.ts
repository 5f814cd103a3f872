import { encode as encodeO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSyntheticRepo } from '../../bench/synthetic-repo.ts';
import type { SyntheticRepo } from '../../bench/synthetic-repo.ts';
import {
  firstRequestTokens,
  renderIntroDetailed,
  systemPrompt,
} from '../../container/runner/agent/prompt.ts';
import { TOOL_DEFINITIONS } from '../../container/runner/agent/schemas.ts';
import { buildTaskContext } from '../../container/runner/context/index.ts';
import { prepareIntro } from '../../container/runner/context/intro.ts';
import { cleanupRepos, makeRepo, tempDir } from './helpers.ts';

/** A 3,000+ file monorepo with tiny files (fast to write and parse). */
let repo: SyntheticRepo;

beforeAll(async () => {
  repo = await generateSyntheticRepo(await tempDir(), {
    packages: 40,
    modulesPerPackage: 50,
    services: 20,
    modulesPerService: 48,
    functionsPerModule: 0,
    docs: 60,
  });
}, 60_000);

afterAll(cleanupRepos);

const realTokens = (
  brief: { taskId: string; title: string; description: string; branch: string },
  intro: string,
) =>
  encodeO200k(systemPrompt(brief)).length +
  encodeO200k(JSON.stringify(TOOL_DEFINITIONS)).length +
  encodeO200k(intro).length;

describe('first request on a generated 3,000-file repository', () => {
  it('stays within the budget, with the named file first in the map and Unicode intact', async () => {
    expect(repo.files).toBeGreaterThanOrEqual(3000);
    const description = `\`${repo.target.symbol}\` in ${repo.target.path} adds one too many — 修复它。\n\n验收标准：\n- 测试通过 ✅`;
    const { brief, context } = await buildTaskContext({
      repoDir: repo.dir,
      task: { id: 42, title: 'Fix the off-by-one — 修复', description, code_branch: 'fix/登录' },
      repoMapTokens: 3000,
      log: () => undefined,
      maxParseFiles: 800,
    });
    expect(context.stats.files).toBeGreaterThanOrEqual(3000);
    expect(context.stats.parsed).toBe(800);
    expect(brief.likelyFiles[0]!.path).toBe(repo.target.path);
    expect(brief.acceptance).toEqual(['测试通过 ✅']);
    // packages/pkg-7 has no AGENTS.md of its own: the root one governs it.
    expect(context.project.instructions.map((f) => f.path)).toEqual(['AGENTS.md', 'CONTRIBUTING.md']);
    expect(context.repoMap.text.split('\n')[1]).toBe(repo.target.path);
    expect(context.repoMap.text).not.toMatch(/node_modules|generated\/|dist\//);

    for (const budget of [8000, 5000, 3000]) {
      const r = renderIntroDetailed(brief, context, budget);
      expect(r.requestTokens, `budget ${budget}`).toBeLessThanOrEqual(budget);
      expect(firstRequestTokens(brief, r.text)).toBe(r.requestTokens);
      // Measured with a real tokenizer too.
      expect(realTokens(brief, r.text), `budget ${budget}`).toBeLessThanOrEqual(budget);
      expect(r.text).toContain(description);
      expect(r.text).toContain('Task 42: Fix the off-by-one — 修复\nBranch: fix/登录');
    }
    // At 8,000 tokens nothing important is cut; at 3,000 the map and the styles go first.
    const roomy = renderIntroDetailed(brief, context, 8000);
    expect(roomy.sections.filter((s) => s.fate !== 'kept').map((s) => s.id)).toEqual([]);
    const tight = renderIntroDetailed(brief, context, 3000);
    const fate = Object.fromEntries(tight.sections.map((s) => [s.id, s.fate]));
    expect(fate).toMatchObject({ header: 'kept', brief: 'kept', description: 'kept', styles: 'dropped' });
    expect(['cut', 'dropped']).toContain(fate['repo-map']);
  });

  it('stays within the budget with a huge description', async () => {
    const dir = await makeRepo({
      'src/a.ts': 'export function a(): void {}\n',
      'AGENTS.md': 'Be careful.\n',
    });
    const description = '这是一个非常长的描述。'.repeat(4000) + '\nThe end.';
    const { brief, context } = await buildTaskContext({
      repoDir: dir,
      task: { id: 1, title: 'Huge', description, code_branch: 'b' },
      repoMapTokens: 3000,
      log: () => undefined,
    });
    const r = renderIntroDetailed(brief, context, 8000);
    expect(r.requestTokens).toBeLessThanOrEqual(8000);
    expect(realTokens(brief, r.text)).toBeLessThanOrEqual(8000);
    expect(r.text).toContain('cut here to stay within the token budget');
    expect(r.text.startsWith('Task 1: Huge')).toBe(true);
  });
});

describe('prepareIntro', () => {
  it('logs the brief, the project and the first-request estimate', async () => {
    const dir = await makeRepo({
      'package.json': JSON.stringify({ scripts: { test: 'node --test' } }),
      'src/strings.js': 'export function slugify(s) { return s; }\n',
      'AGENTS.md': 'Keep it simple.\n',
    });
    const lines: string[] = [];
    const prepared = await prepareIntro({
      repoDir: dir,
      task: {
        id: 3,
        title: 'Add capitalize',
        description: '- Add `capitalize` to src/strings.js\n- Export it',
        code_branch: 'b',
      },
      budgetTokens: 8000,
      repoMapTokens: 3000,
      log: (l) => lines.push(l),
    });
    expect(prepared).toBeDefined();
    expect(prepared!.intro).toContain('Likely affected files');
    expect(prepared!.requestTokens).toBeLessThanOrEqual(8000);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      /^brief: 2 requirements, 2 acceptance criteria \(derived\), 1 likely file \(src\/strings\.js\)$/,
    );
    expect(lines[1]).toMatch(/^project: JavaScript 1; npm; instruction files: AGENTS\.md$/);
    expect(lines[2]).toMatch(
      /^context: \d+ files, 1 of 1 source files parsed in \d+ ms; repo map \d+ files .*first request ~\d+ of 8000 tokens; built in \d+ ms$/,
    );
  });

  it('logs a failure and returns undefined instead of failing the run', async () => {
    const lines: string[] = [];
    const prepared = await prepareIntro({
      repoDir: '/nonexistent/numa-context-test',
      task: { id: 3, title: 'x', description: 'y', code_branch: 'b' },
      budgetTokens: 8000,
      repoMapTokens: 3000,
      log: (l) => lines.push(l),
      // A clock that throws stands in for any unexpected failure inside the build.
      build: {
        now: () => {
          throw new Error('clock broke');
        },
      },
    });
    expect(prepared).toBeUndefined();
    expect(lines).toEqual([
      "could not build the task's context (the agent gets the plain task): clock broke",
    ]);
  });
});
