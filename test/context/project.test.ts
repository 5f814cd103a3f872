import { afterEach, describe, expect, it } from 'vitest';
import { estimateTokens } from '../../container/runner/context/budget.ts';
import { listRepoFiles } from '../../container/runner/context/files.ts';
import {
  closestGoverning,
  detectLanguages,
  detectProject,
  iniSection,
} from '../../container/runner/context/project.ts';
import { cleanupRepos, makeRepo } from './helpers.ts';

afterEach(cleanupRepos);

async function project(files: Record<string, string>, pointedFiles: string[] = []) {
  const dir = await makeRepo(files);
  const listed = await listRepoFiles(dir);
  return detectProject(dir, listed.files, { pointedFiles });
}

describe('instruction files', () => {
  const tree = {
    'AGENTS.md': '# Root rules\nUse pnpm.\n',
    'packages/api/AGENTS.md': '# API rules\nEvery handler validates its input with zod.\n',
    'packages/api/src/handlers/AGENTS.md': '# Handler rules\nHandlers are async and never throw.\n',
    'packages/api/src/handlers/user.ts': 'export const x = 1;\n',
    'packages/api/src/db.ts': 'export const y = 1;\n',
    'packages/web/src/app.ts': 'export const z = 1;\n',
    'CLAUDE.md': 'Prefer small commits.\n',
    '.github/copilot-instructions.md': 'Write JSDoc for exported functions.\n',
    '.cursorrules': 'Use early returns.\n',
    'CONTRIBUTING.md': '# Contributing\n<!-- hidden -->\n![badge](x.svg)\nSign the CLA.\n',
  };

  it('finds every kind, and for nested AGENTS.md the closest one wins (plus the root one)', async () => {
    const p = await project(tree, [
      'packages/api/src/handlers/user.ts',
      'packages/api/src/db.ts',
      'packages/web/src/app.ts',
    ]);
    expect(p.instructions.map((f) => [f.path, f.kind, f.scope, f.governs])).toEqual([
      ['AGENTS.md', 'agents', '', []],
      ['packages/api/AGENTS.md', 'agents', 'packages/api', ['packages/api/src/db.ts']],
      [
        'packages/api/src/handlers/AGENTS.md',
        'agents',
        'packages/api/src/handlers',
        ['packages/api/src/handlers/user.ts'],
      ],
      ['CLAUDE.md', 'claude', '', []],
      ['.github/copilot-instructions.md', 'copilot', '', []],
      ['.cursorrules', 'cursor', '', []],
      ['CONTRIBUTING.md', 'contributing', '', []],
    ]);
    const contributing = p.instructions.find((f) => f.kind === 'contributing')!;
    expect(contributing.excerpt).toBe('# Contributing\n\nSign the CLA.');
  });

  it('includes only the root AGENTS.md when the brief points at nothing nested', async () => {
    const p = await project(tree, ['packages/web/src/app.ts']);
    expect(p.instructions.filter((f) => f.kind === 'agents').map((f) => f.path)).toEqual(['AGENTS.md']);
  });

  it('closestGoverning picks the deepest folder that contains the file', () => {
    const all = ['AGENTS.md', 'a/AGENTS.md', 'a/b/AGENTS.md', 'ab/AGENTS.md'];
    expect(closestGoverning('a/b/c/x.ts', all)).toBe('a/b/AGENTS.md');
    expect(closestGoverning('a/x.ts', all)).toBe('a/AGENTS.md');
    expect(closestGoverning('abc/x.ts', all)).toBe('AGENTS.md');
    expect(closestGoverning('x.ts', ['a/AGENTS.md'])).toBeUndefined();
  });

  it('caps each excerpt and says where the rest is', async () => {
    const long =
      '# Rules\n' +
      Array.from({ length: 400 }, (_, k) => `- rule ${k}: keep it tidy and 整洁`).join('\n') +
      '\n';
    const p = await project({ 'AGENTS.md': long, 'CONTRIBUTING.md': long });
    const agents = p.instructions.find((f) => f.kind === 'agents')!;
    expect(agents.truncated).toBe(true);
    expect(estimateTokens(agents.excerpt)).toBeLessThanOrEqual(1200);
    expect(agents.excerpt).toMatch(/\[… \d+ more lines of AGENTS\.md: read_file it for the rest …\]$/);
    expect(agents.excerpt.startsWith('# Rules\n- rule 0: keep it tidy and 整洁')).toBe(true);
    const contributing = p.instructions.find((f) => f.kind === 'contributing')!;
    expect(estimateTokens(contributing.excerpt)).toBeLessThanOrEqual(400);
  });
});

describe('project facts', () => {
  it('detects a JavaScript project: languages, package manager, test, ESLint, Prettier, style configs', async () => {
    const p = await project({
      'package.json': JSON.stringify({
        scripts: { test: 'vitest run', lint: 'eslint .' },
        devDependencies: { prettier: '3' },
      }),
      'pnpm-lock.yaml': 'lockfileVersion: 9\n',
      'eslint.config.mjs': "export default [{ rules: { semi: 'error' } }];\n",
      '.prettierrc.json': '{ "singleQuote": true }\n',
      '.editorconfig': '# top\nroot = true\n[*]\nindent_size = 2\n',
      'tsconfig.json':
        '{\n  "compilerOptions": {\n    "strict": true,\n    "target": "ES2022",\n    "outDir": "x"\n  }\n}\n',
      'src/a.ts': '',
      'src/b.ts': '',
      'src/c.js': '',
    });
    // eslint.config.mjs is JavaScript too; ties are alphabetical.
    expect(p.languages).toEqual([
      { name: 'JavaScript', files: 2 },
      { name: 'TypeScript', files: 2 },
    ]);
    expect(p.packageManagers).toEqual(['pnpm']);
    // Through corepack where this machine has no pnpm on PATH (testing/ecosystems/node.ts).
    expect(p.test?.command).toMatch(/^(corepack )?pnpm test$/);
    expect(p.lint).toEqual([{ tool: 'eslint', command: 'pnpm run lint', source: 'eslint.config.mjs' }]);
    expect(p.format).toEqual([
      { tool: 'prettier', command: 'npx prettier --write <files>', source: '.prettierrc.json' },
    ]);
    expect(p.styles.map((s) => s.path)).toEqual([
      '.editorconfig',
      'eslint.config.mjs',
      '.prettierrc.json',
      'tsconfig.json (compilerOptions)',
    ]);
    expect(p.styles[0]!.excerpt).toBe('root = true\n[*]\nindent_size = 2');
    expect(p.styles[3]!.excerpt).toBe('"strict": true,\n"target": "ES2022",');
  });

  it('detects Python (ruff, black, flake8), Go and Rust tooling', async () => {
    const py = await project({
      'pyproject.toml':
        '[tool.poetry]\nname = "x"\n\n[tool.ruff]\nline-length = 100\n# comment\n[tool.ruff.lint]\nselect = ["E"]\n\n[tool.black]\nline-length = 100\n\n[tool.other]\nx = 1\n',
      'setup.cfg': '[flake8]\nmax-line-length = 100\n',
      'app/main.py': '',
      'tests/test_main.py': '',
    });
    expect(py.packageManagers).toEqual(['poetry']);
    expect(py.lint.map((c) => c.tool)).toEqual(['ruff', 'flake8']);
    expect(py.format.map((c) => c.tool)).toEqual(['black']);
    // Neither configured nor imported: the standard library's runner, in the workspace's virtualenv.
    expect(py.test?.command).toMatch(/"\$PY" -m unittest discover -s tests$/);
    const ruff = py.styles.find((s) => s.tool === 'ruff')!;
    expect(ruff.excerpt).toBe('[tool.ruff]\nline-length = 100\n[tool.ruff.lint]\nselect = ["E"]');
    expect(py.styles.map((s) => s.path)).toEqual(
      expect.arrayContaining(['pyproject.toml [tool.black]', 'setup.cfg [flake8]']),
    );

    const go = await project({
      'go.mod': 'module x\n',
      '.golangci.yml': 'linters:\n  enable: [govet]\n',
      'main.go': '',
    });
    expect(go.lint).toEqual([
      { tool: 'golangci-lint', command: 'golangci-lint run', source: '.golangci.yml' },
    ]);
    expect(go.format.map((c) => c.command)).toEqual(['gofmt -w <files>']);
    expect(go.packageManagers).toEqual(['go modules']);

    const rust = await project({
      'Cargo.toml': '[package]\nname = "x"\n',
      'rustfmt.toml': 'max_width = 100\n',
      'src/lib.rs': '',
    });
    expect(rust.lint.map((c) => c.command)).toEqual(['cargo clippy']);
    expect(rust.format).toEqual([{ tool: 'rustfmt', command: 'cargo fmt', source: 'rustfmt.toml' }]);
    expect(rust.test?.command).toBe('cargo test --no-fail-fast');
  });

  it('reports nothing it did not find', async () => {
    const p = await project({ 'notes.txt': 'hello' });
    expect(p).toMatchObject({
      languages: [],
      packageManagers: [],
      lint: [],
      format: [],
      instructions: [],
      styles: [],
    });
    expect(p.test).toBeUndefined();
  });

  it('helpers: language counts and INI sections', () => {
    expect(
      detectLanguages([
        { rel: 'a.py', size: 1 },
        { rel: 'b.PY', size: 1 },
        { rel: 'Makefile', size: 1 },
      ]),
    ).toEqual([{ name: 'Python', files: 2 }]);
    expect(iniSection('[a]\nx=1\n[b]\ny=2\n', /^b$/)).toBe('[b]\ny=2\n');
    expect(iniSection('[a]\nx=1\n', /^c$/)).toBeUndefined();
  });
});
