/**
 * A synthetic monorepo generated on the fly (never committed) for the first-request benchmark and
 * the context tests: TypeScript packages whose modules import each other, Python services,
 * docs, nested AGENTS.md files, style configs, a .gitignore'd folder and a node_modules folder
 * that the context must skip. Deterministic: the same options give the same tree.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface SyntheticRepoOptions {
  /** TypeScript packages × modules per package. */
  packages?: number;
  modulesPerPackage?: number;
  /** Python services × modules per service. */
  services?: number;
  modulesPerService?: number;
  /** Extra functions per module (file size). */
  functionsPerModule?: number;
  /** Markdown docs. */
  docs?: number;
}

export interface SyntheticRepo {
  dir: string;
  /** Files written (those the context should see and those it should skip). */
  files: number;
  /** A module the benchmark's task names, and a function defined only there. */
  target: { path: string; symbol: string };
}

const WORDS = [
  'order',
  'invoice',
  'customer',
  'payment',
  'shipment',
  'catalog',
  'report',
  'session',
  'token',
  'audit',
  'ledger',
  'quota',
];

function word(k: number): string {
  return WORDS[k % WORDS.length]!;
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function tsModule(p: number, m: number, opts: Required<SyntheticRepoOptions>): string {
  const noun = word(p + m);
  const lines: string[] = [];
  // Each module imports the previous one of its package and one of the first package (shared code).
  if (m > 0) lines.push(`import { ${word(p + m - 1)}Helper${p}_${m - 1} } from './module-${m - 1}.ts';`);
  if (p > 0) lines.push(`import { sharedUtil${m % 5} } from '../../pkg-0/src/module-${m % 5}.ts';`);
  lines.push('');
  lines.push(`/** ${cap(noun)} handling for package ${p}. */`);
  lines.push(
    `export interface ${cap(noun)}Record${p}_${m} {`,
    '  id: string;',
    '  amount: number;',
    '  createdAt: Date;',
    '}',
  );
  lines.push('');
  lines.push(`export class ${cap(noun)}Service${p}_${m} {`);
  lines.push(`  private readonly items = new Map<string, ${cap(noun)}Record${p}_${m}>();`);
  lines.push(
    `  add(record: ${cap(noun)}Record${p}_${m}): void {`,
    '    this.items.set(record.id, record);',
    '  }',
  );
  lines.push(
    `  total(): number {`,
    '    let sum = 0;',
    '    for (const r of this.items.values()) sum += r.amount;',
    '    return sum;',
    '  }',
  );
  lines.push('}');
  lines.push('');
  lines.push(`export function ${noun}Helper${p}_${m}(value: number): number {`);
  if (m > 0) lines.push(`  return ${word(p + m - 1)}Helper${p}_${m - 1}(value) + 1;`);
  else lines.push('  return value * 2;');
  lines.push('}');
  if (p === 0 && m < 5) {
    lines.push(
      '',
      `export function sharedUtil${m}(s: string): string {`,
      '  return s.trim().toLowerCase();',
      '}',
    );
  }
  for (let f = 0; f < opts.functionsPerModule; f++) {
    lines.push('');
    lines.push(`export function compute${cap(noun)}${f}(input: ${cap(noun)}Record${p}_${m}[]): number {`);
    lines.push('  const values = input.map((r) => r.amount).filter((a) => a > 0);');
    if (p > 0) lines.push(`  const label = sharedUtil${m % 5}('  ${noun}  ');`, '  void label;');
    lines.push('  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);');
    lines.push('}');
  }
  return lines.join('\n') + '\n';
}

function pyModule(s: number, m: number, opts: Required<SyntheticRepoOptions>): string {
  const noun = word(s * 3 + m);
  const lines: string[] = [
    '"""' + `${cap(noun)} service module ${m}.` + '"""',
    'from dataclasses import dataclass',
    '',
  ];
  if (m > 0) lines.push(`from .module_${m - 1} import ${word(s * 3 + m - 1)}_handler_${s}_${m - 1}`, '');
  lines.push('@dataclass', `class ${cap(noun)}Model${s}_${m}:`, '    id: str', '    amount: float', '');
  lines.push(`    def doubled(self) -> float:`, '        return self.amount * 2', '');
  lines.push('', `def ${noun}_handler_${s}_${m}(value: float) -> float:`);
  lines.push(
    m > 0 ? `    return ${word(s * 3 + m - 1)}_handler_${s}_${m - 1}(value) + 1` : '    return value',
  );
  for (let f = 0; f < opts.functionsPerModule; f++) {
    lines.push(
      '',
      '',
      `def summarize_${noun}_${f}(items: list) -> float:`,
      '    values = [i.amount for i in items if i.amount > 0]',
      '    return sum(values) / max(1, len(values))',
    );
  }
  return lines.join('\n') + '\n';
}

/** Writes the repository into `dir` (which must be empty or absent). */
export async function generateSyntheticRepo(
  dir: string,
  options: SyntheticRepoOptions = {},
): Promise<SyntheticRepo> {
  const opts: Required<SyntheticRepoOptions> = {
    packages: options.packages ?? 40,
    modulesPerPackage: options.modulesPerPackage ?? 50,
    services: options.services ?? 20,
    modulesPerService: options.modulesPerService ?? 48,
    functionsPerModule: options.functionsPerModule ?? 3,
    docs: options.docs ?? 60,
  };
  const out = new Map<string, string>();
  out.set(
    'package.json',
    JSON.stringify(
      {
        name: 'synthetic-monorepo',
        private: true,
        workspaces: ['packages/*'],
        scripts: { test: 'vitest run', lint: 'eslint .', format: 'prettier --write .' },
        devDependencies: { vitest: '^4.0.0', eslint: '^9.0.0', prettier: '^3.0.0' },
      },
      null,
      2,
    ) + '\n',
  );
  out.set('package-lock.json', '{"lockfileVersion": 3}\n');
  out.set(
    'pyproject.toml',
    '[project]\nname = "services"\n\n[tool.ruff]\nline-length = 100\nselect = ["E", "F", "I"]\n\n[tool.pytest.ini_options]\ntestpaths = ["services"]\n',
  );
  out.set('.gitignore', 'generated/\n*.log\n');
  out.set('.editorconfig', 'root = true\n\n[*]\nindent_style = space\nindent_size = 2\n');
  out.set('.prettierrc.json', '{ "singleQuote": true, "printWidth": 110 }\n');
  out.set('eslint.config.js', "export default [{ rules: { 'no-console': 'error' } }];\n");
  out.set(
    'AGENTS.md',
    '# Agents\n\nRun `npm test` before you finish. Use TypeScript strict mode. Never edit generated/.\n' +
      'Keep functions small and documented. '.repeat(60) +
      '\n',
  );
  out.set(
    'CONTRIBUTING.md',
    '# Contributing\n\nOpen a pull request against main.\n' +
      'Write tests for every change. '.repeat(100) +
      '\n',
  );
  out.set('README.md', '# Synthetic monorepo\n\nPackages under packages/, services under services/.\n');
  for (let p = 0; p < opts.packages; p++) {
    out.set(
      `packages/pkg-${p}/package.json`,
      JSON.stringify({ name: `@synthetic/pkg-${p}`, version: '1.0.0' }) + '\n',
    );
    if (p % 10 === 3)
      out.set(
        `packages/pkg-${p}/AGENTS.md`,
        `# pkg-${p}\n\nThis package talks to the billing API: mock it in tests.\n`,
      );
    for (let m = 0; m < opts.modulesPerPackage; m++) {
      out.set(`packages/pkg-${p}/src/module-${m}.ts`, tsModule(p, m, opts));
    }
  }
  for (let s = 0; s < opts.services; s++) {
    out.set(`services/svc-${s}/app/__init__.py`, '');
    for (let m = 0; m < opts.modulesPerService; m++) {
      out.set(`services/svc-${s}/app/module_${m}.py`, pyModule(s, m, opts));
    }
  }
  for (let d = 0; d < opts.docs; d++) {
    out.set(`docs/guide-${d}.md`, `# Guide ${d}\n\nHow to use the ${word(d)} features.\n`);
  }
  // What the context must skip: ignored, vendored, generated, binary.
  for (let g = 0; g < 50; g++) out.set(`generated/api-${g}.ts`, `export const generated${g} = ${g};\n`);
  for (let v = 0; v < 100; v++) out.set(`node_modules/dep-${v}/index.js`, `module.exports = ${v};\n`);
  out.set('packages/pkg-0/dist/bundle.min.js', 'var a=1;\n');
  out.set('docs/logo.png', '\x89PNG\r\n');

  const dirs = new Set<string>();
  for (const rel of out.keys()) dirs.add(path.dirname(path.join(dir, rel)));
  await Promise.all([...dirs].map((d) => mkdir(d, { recursive: true })));
  const entries = [...out.entries()];
  for (let k = 0; k < entries.length; k += 256) {
    await Promise.all(entries.slice(k, k + 256).map(([rel, text]) => writeFile(path.join(dir, rel), text)));
  }
  const tp = Math.min(7, opts.packages - 1);
  const tm = Math.min(12, opts.modulesPerPackage - 1);
  return {
    dir,
    files: out.size,
    target: { path: `packages/pkg-${tp}/src/module-${tm}.ts`, symbol: `${word(tp + tm)}Helper${tp}_${tm}` },
  };
}
