import { symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { estimateTokens } from '../../container/runner/context/budget.ts';
import { listRepoFiles } from '../../container/runner/context/files.ts';
import { indexRepository, rankFiles, renderRepoMap } from '../../container/runner/context/repo-map.ts';
import { extractSymbols } from '../../container/runner/context/symbols.ts';
import { cleanupRepos, makeRepo } from './helpers.ts';

afterEach(cleanupRepos);

/** A small app: many files use util.ts; checkout.ts is the one a task will name. */
function app(): Record<string, string> {
  const files: Record<string, string> = {
    '.gitignore': 'ignored/\n*.log\n',
    'src/util.ts':
      'export function formatMoney(n: number): string {\n  return n.toFixed(2);\n}\nexport class Money {}\n',
    'src/checkout.ts':
      "import { formatMoney } from './util.ts';\nexport function checkoutTotal(items: number[]): string {\n  return formatMoney(items.reduce((a, b) => a + b, 0));\n}\n",
    'src/deep/nested/rarely.ts': 'export function rarelyUsed(): void {}\n',
    'ignored/secret.ts': 'export function shouldNotAppear(): void {}\n',
    'debug.log': 'noise',
    'node_modules/lib/index.ts': 'export function vendored(): void {}\n',
    'dist/app.js': 'function built() {}\n',
    'src/app.min.js': 'function min(){}\n',
    'assets/logo.png': '\x89PNG',
    'package-lock.json': '{}',
  };
  for (let k = 0; k < 12; k++) {
    files[`src/pages/page${k}.ts`] =
      `import { formatMoney, Money } from '../util.ts';\nexport function renderPage${k}(): string {\n  return formatMoney(${k});\n}\n`;
  }
  return files;
}

describe('listRepoFiles', () => {
  it('respects .gitignore and skips vendored, generated and binary files and symlinks', async () => {
    const dir = await makeRepo(app());
    await symlink('/etc', path.join(dir, 'src', 'link')).catch(() => undefined);
    const { files, truncated, skipped } = await listRepoFiles(dir);
    const rels = files.map((f) => f.rel);
    expect(rels).toContain('src/checkout.ts');
    expect(rels).toContain('.gitignore');
    for (const gone of [
      'ignored/secret.ts',
      'debug.log',
      'node_modules/lib/index.ts',
      'dist/app.js',
      'src/app.min.js',
      'assets/logo.png',
      'package-lock.json',
      'src/link',
    ]) {
      expect(rels, gone).not.toContain(gone);
    }
    expect(truncated).toBe(false);
    expect(skipped).toBeGreaterThanOrEqual(3);
    expect(files.find((f) => f.rel === 'src/util.ts')).toMatchObject({ lang: 'typescript' });
  });

  it('stops at maxFiles and says so', async () => {
    const dir = await makeRepo(app());
    const { files, truncated } = await listRepoFiles(dir, { maxFiles: 5 });
    expect(files).toHaveLength(5);
    expect(truncated).toBe(true);
  });
});

describe('extractSymbols', () => {
  it('finds definitions, not locals, with exported flags and nesting', async () => {
    const syms = await extractSymbols(
      'a.ts',
      'export function outer(): void {\n  function local() {}\n}\nexport class K {\n  method(): void {}\n}\nconst notExported = () => 1;\n',
    );
    expect(syms!.map((s) => [s.name, s.kind, s.line, s.exported, s.depth])).toEqual([
      ['outer', 'function', 1, true, 0],
      ['K', 'class', 4, true, 0],
      ['method', 'method', 5, false, 1],
      ['notExported', 'function', 7, false, 0],
    ]);
    const py = await extractSymbols(
      'm.py',
      'class A:\n    def m(self):\n        def inner():\n            pass\n\ndef _private():\n    pass\n',
    );
    expect(py!.map((s) => [s.name, s.kind, s.exported])).toEqual([
      ['A', 'class', true],
      ['m', 'method', true],
      ['_private', 'function', false],
    ]);
    expect(await extractSymbols('README.md', '# x')).toBeUndefined();
  });
});

describe('repo map', () => {
  it('ranks the files the brief points at first, then by references', async () => {
    const dir = await makeRepo(app());
    const { files } = await listRepoFiles(dir);
    const index = await indexRepository({ root: dir, files });
    expect(index.stats.parsed).toBe(15);
    // Without a focus, the file everything uses ranks first.
    const plain = rankFiles(index, new Map());
    expect(plain[0]!.rel).toBe('src/util.ts');
    // With a focus, the focused file comes first, and what it uses right after.
    const focused = rankFiles(index, new Map([['src/deep/nested/rarely.ts', 10]]));
    expect(focused[0]!.rel).toBe('src/deep/nested/rarely.ts');
    const map = renderRepoMap(index, focused, 3000);
    const lines = map.text.split('\n');
    expect(lines[1]).toBe('src/deep/nested/rarely.ts');
    expect(lines[2]).toBe('  1: export function rarelyUsed(): void');
    expect(map.text).toContain('src/util.ts\n  1: export function formatMoney(n: number): string');
    expect(map.text).not.toContain('shouldNotAppear');
    expect(map.text).not.toContain('vendored');
  });

  it('stays within its budget, shrinking to paths and a count of the rest', async () => {
    const dir = await makeRepo(app());
    const { files } = await listRepoFiles(dir);
    const index = await indexRepository({ root: dir, files });
    const ranked = rankFiles(index, new Map([['src/checkout.ts', 5]]));
    for (const budget of [40, 80, 150, 400]) {
      const map = renderRepoMap(index, ranked, budget);
      expect(map.tokens, `budget ${budget}`).toBeLessThanOrEqual(budget);
      expect(estimateTokens(map.text)).toBe(map.tokens);
      if (map.text !== '') expect(map.text.split('\n')[1]).toBe('src/checkout.ts');
    }
    const tight = renderRepoMap(index, ranked, 80);
    expect(tight.text).toMatch(/… and \d+ more files \(list_files shows them\)$/);
    expect(renderRepoMap(index, ranked, 0).text).toBe('');
    const roomy = renderRepoMap(index, ranked, 5000);
    expect(roomy.text).not.toContain('more files');
    expect(roomy.filesWithSymbols + roomy.filesPathOnly).toBe(files.length);
  });

  it('parses the files it is told to first when it has a cap', async () => {
    const dir = await makeRepo(app());
    const { files } = await listRepoFiles(dir);
    const index = await indexRepository({
      root: dir,
      files,
      maxParseFiles: 1,
      first: ['src/deep/nested/rarely.ts'],
    });
    expect([...index.symbols.keys()]).toEqual(['src/deep/nested/rarely.ts']);
    expect(index.stats).toMatchObject({ parsed: 1, parseable: 15 });
  });

  it('keeps the text of symbols intact (Unicode)', async () => {
    const dir = await makeRepo({
      'src/i18n.ts': 'export function 挨拶(名前: string): string {\n  return `こんにちは ${名前} 👋`;\n}\n',
    });
    const { files } = await listRepoFiles(dir);
    const index = await indexRepository({ root: dir, files });
    const map = renderRepoMap(index, rankFiles(index, new Map()), 500);
    expect(map.text).toContain('1: export function 挨拶(名前: string): string');
  });
});
