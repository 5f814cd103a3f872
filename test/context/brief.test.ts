import { afterEach, describe, expect, it } from 'vitest';
import { NumaClient } from '../../core/numa/client.ts';
import {
  analyzeText,
  buildBrief,
  extractMentions,
  fetchLinkedDocuments,
  rankLikelyFiles,
  splitSentences,
} from '../../container/runner/context/brief.ts';
import type { DefinitionIndex } from '../../container/runner/context/brief.ts';
import type { RepoFile } from '../../container/runner/context/files.ts';
import { startNumaBackend, type NumaBackend } from '../../servers/numa-backend/index.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function backend(): Promise<NumaBackend> {
  const b = await startNumaBackend({ port: 0 });
  cleanups.push(() => b.close());
  return b;
}

function client(url: string): NumaClient {
  return new NumaClient({ baseUrl: url, backoff: { baseMs: 1, capMs: 2 }, maxAttempts: 2 });
}

const files = (...rels: string[]): RepoFile[] => rels.map((rel) => ({ rel, size: 100 }));

function defs(entries: Array<[string, string, boolean?]>): DefinitionIndex {
  const m = new Map<string, Array<{ rel: string; name: string; exported: boolean }>>();
  for (const [name, rel, exported = true] of entries) {
    const list = m.get(name.toLowerCase()) ?? [];
    list.push({ rel, name, exported });
    m.set(name.toLowerCase(), list);
  }
  return m;
}

describe('analyzeText', () => {
  it('reads an English task with markdown sections', () => {
    const a = analyzeText(
      'Add login',
      [
        '## Requirements',
        '- Support email login via `AuthService.login()`',
        '* Support phone login',
        '',
        '## Acceptance Criteria',
        '- [ ] `npm test` passes',
        '- [x] login_handler returns 401 on a bad password',
        '',
        '## Background',
        '- We used sessions before.',
      ].join('\n'),
    );
    expect(a.requirements).toEqual(['Support email login via `AuthService.login()`', 'Support phone login']);
    expect(a.acceptance).toEqual(['`npm test` passes', 'login_handler returns 401 on a bad password']);
    expect(a.acceptanceDerived).toBe(false);
  });

  it('reads a Chinese task with 验收标准 and 1、 items, keeping the text intact', () => {
    const a = analyzeText(
      '实现用户登录',
      '需求描述：\n1、支持邮箱登录\n2、支持手机号登录，修改src/auth/login.ts中的validateUser函数\n\n验收标准：\n1. 所有测试通过\n2. 新增接口有单元测试覆盖',
    );
    expect(a.requirements).toEqual([
      '支持邮箱登录',
      '支持手机号登录，修改src/auth/login.ts中的validateUser函数',
    ]);
    expect(a.acceptance).toEqual(['所有测试通过', '新增接口有单元测试覆盖']);
    expect(a.acceptanceDerived).toBe(false);
  });

  it('reads a mixed-language task with an inline "AC:" line', () => {
    const a = analyzeText(
      'Fix bug',
      '修复 `parse_config` 在空文件时崩溃的问题。Also update README.md.\nAC: 空文件返回默认配置',
    );
    expect(a.requirements).toEqual(['修复 `parse_config` 在空文件时崩溃的问题。', 'Also update README.md.']);
    expect(a.acceptance).toEqual(['空文件返回默认配置']);
  });

  it('reads Japanese acceptance criteria (受け入れ基準) and a bold "Acceptance" heading', () => {
    const ja = analyzeText(
      'ログイン',
      'ユーザーのログイン機能を実装する。パスワードは8文字以上。\n\n受け入れ基準:\n- テストが通ること',
    );
    expect(ja.requirements).toEqual(['ユーザーのログイン機能を実装する。', 'パスワードは8文字以上。']);
    expect(ja.acceptance).toEqual(['テストが通ること']);
    const bold = analyzeText(
      'Colour',
      'Make the button blue.\n\n**Acceptance**\nThe button is blue. The label reads "OK".',
    );
    expect(bold.requirements).toEqual(['Make the button blue.']);
    expect(bold.acceptance).toEqual(['The button is blue.', 'The label reads "OK".']);
  });

  it('derives acceptance criteria when there are none, and falls back to sentences and the title', () => {
    const prose = analyzeText(
      'Add dark mode',
      'Users want a dark theme. Add a toggle in the settings page! It should persist, e.g. across reloads.',
    );
    expect(prose.requirements).toEqual([
      'Users want a dark theme.',
      'Add a toggle in the settings page!',
      'It should persist, e.g. across reloads.',
    ]);
    expect(prose.acceptanceDerived).toBe(true);
    expect(prose.acceptance[0]).toMatch(/tests pass/);
    expect(prose.acceptance[1]).toContain('Add dark mode');
    const titleOnly = analyzeText('Bump the version', '');
    expect(titleOnly.requirements).toEqual(['Bump the version']);
  });

  it('skips code blocks and keeps file names inside sentences', () => {
    expect(splitSentences('Edit src/a.ts. Then run it.')).toEqual(['Edit src/a.ts.', 'Then run it.']);
    const a = analyzeText('t', 'Change the parser.\n```\nfoo();\n- not an item\n```\n- real item');
    expect(a.requirements).toEqual(['real item']);
  });
});

describe('extractMentions', () => {
  it('finds paths and identifiers in any language, not URLs or e-mail addresses', () => {
    const m = extractMentions(
      '修改src/auth/login.ts中的validateUser函数, see `lib/util.py` and ./README.md; call parse_config() and `UserService#find`. ' +
        'Docs at https://example.com/x/y.ts, mail me@example.org, and/or I/O.',
    );
    expect(m.paths).toEqual(expect.arrayContaining(['src/auth/login.ts', 'lib/util.py', 'README.md']));
    expect(m.paths.some((p) => p.includes('example'))).toBe(false);
    expect(m.paths).not.toContain('and/or');
    expect(m.identifiers).toEqual(
      expect.arrayContaining(['validateUser', 'parse_config', 'UserService', 'find']),
    );
  });
});

describe('rankLikelyFiles', () => {
  const repo = files(
    'src/auth/login.ts',
    'src/auth/session.ts',
    'src/users/user-service.ts',
    'src/util/strings.ts',
    'test/auth/login.test.ts',
    'README.md',
    'lib/login.ts',
  );
  const index = defs([
    ['validateUser', 'src/auth/login.ts'],
    ['UserService', 'src/users/user-service.ts'],
    ['capitalize', 'src/util/strings.ts'],
    ['helper', 'test/auth/login.test.ts', false],
  ]);

  it('ranks named paths first, then definers and files named after identifiers', () => {
    const ranked = rankLikelyFiles(
      extractMentions(
        'Fix `validateUser` in src/auth/login.ts; UserService must call capitalize. Update README.md.',
      ),
      repo,
      index,
    );
    expect(ranked[0]).toMatchObject({ path: 'src/auth/login.ts' });
    expect(ranked[0]!.reasons).toEqual(expect.arrayContaining(['named in the task', 'defines validateUser']));
    const paths = ranked.map((r) => r.path);
    expect(paths).toEqual(
      expect.arrayContaining(['README.md', 'src/users/user-service.ts', 'src/util/strings.ts']),
    );
    expect(paths).not.toContain('src/auth/session.ts');
    expect(paths.indexOf('src/users/user-service.ts')).toBeLessThan(paths.indexOf('src/util/strings.ts'));
  });

  it('matches a base name, a path without extension, and a directory', () => {
    expect(rankLikelyFiles(extractMentions('look at session.ts'), repo, index)[0]!.path).toBe(
      'src/auth/session.ts',
    );
    expect(rankLikelyFiles(extractMentions('see `src/util/strings`'), repo, index)[0]!.path).toBe(
      'src/util/strings.ts',
    );
    const dir = rankLikelyFiles(extractMentions('everything in src/auth/'), repo, index).map((r) => r.path);
    expect(dir.sort()).toEqual(['src/auth/login.ts', 'src/auth/session.ts']);
  });

  it('finds nothing when nothing matches', () => {
    expect(rankLikelyFiles(extractMentions('Make it faster.'), repo, index)).toEqual([]);
  });
});

describe('buildBrief', () => {
  it('keeps the title and description exactly as written (Unicode intact)', () => {
    const title = 'Ajouter la connexion — 登录 🚀';
    const description = 'Étape 1：修改 src/auth/login.ts 😀\n\n验收标准：\n- 通过测试 ✅';
    const b = buildBrief(
      { taskId: '9', title, description, branch: 'feature/登录' },
      files('src/auth/login.ts'),
      defs([]),
    );
    expect(b.title).toBe(title);
    expect(b.description).toBe(description);
    expect(b.branch).toBe('feature/登录');
    expect(b.acceptance).toEqual(['通过测试 ✅']);
    expect(b.likelyFiles.map((f) => f.path)).toEqual(['src/auth/login.ts']);
  });

  it('counts mentions in linked documents', () => {
    const b = buildBrief(
      {
        taskId: '1',
        title: 'Do the thing',
        description: '',
        branch: 'b',
        documents: [{ kind: 'solution', id: '4', title: 'Plan', content: 'Change src/util/strings.ts.' }],
      },
      files('src/util/strings.ts', 'src/other.ts'),
      defs([]),
    );
    expect(b.likelyFiles[0]!.path).toBe('src/util/strings.ts');
    expect(b.documents).toHaveLength(1);
  });
});

describe('fetchLinkedDocuments (reference backend)', () => {
  it('fetches the solution and the requirement the task names', async () => {
    const b = await backend();
    const sol = b.store.createSolution({ title: '方案', content: 'Use a JWT in src/auth/token.ts' });
    const req = b.store.createRequirement({ title: 'Login', content: 'Users log in with e-mail.' });
    const lines: string[] = [];
    const docs = await fetchLinkedDocuments(
      client(b.url),
      { solution_id: sol.id, requirement_id: req.id },
      { log: (l) => lines.push(l) },
    );
    expect(docs).toEqual([
      { kind: 'solution', id: String(sol.id), title: '方案', content: 'Use a JWT in src/auth/token.ts' },
      { kind: 'requirement', id: String(req.id), title: 'Login', content: 'Users log in with e-mail.' },
    ]);
    expect(lines).toEqual([]);
  });

  it('is silent on a 404 and asks nothing when the task names no document', async () => {
    const b = await backend();
    const lines: string[] = [];
    const docs = await fetchLinkedDocuments(
      client(b.url),
      { solution_id: 999, requirement_id: 'nope' },
      { log: (l) => lines.push(l) },
    );
    expect(docs).toEqual([]);
    expect(lines).toEqual([]);
    expect(
      await fetchLinkedDocuments(client(b.url), { solution_id: null }, { log: (l) => lines.push(l) }),
    ).toEqual([]);
  });

  it('logs other errors and goes on', async () => {
    const b = await backend();
    const sol = b.store.createSolution({ title: 'Plan', content: 'text' });
    b.setFaults({ errorRate: 1, paths: ['/api/requirements'] });
    const lines: string[] = [];
    const docs = await fetchLinkedDocuments(
      client(b.url),
      { solution_id: sol.id, requirement_id: 5 },
      { log: (l) => lines.push(l) },
    );
    expect(docs.map((d) => d.kind)).toEqual(['solution']);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/could not read requirement 5 .*BACKEND_UNAVAILABLE/);
  });
});
