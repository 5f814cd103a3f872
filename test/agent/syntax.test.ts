/**
 * The syntax check (container/runner/syntax/) with the real tree-sitter grammars, and the agent
 * rejecting an edit that breaks a file, through the scripted model server.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkSyntax, syntaxLanguage } from '../../container/runner/syntax/index.ts';
import { agentRun, call } from './helpers.ts';
import type { AgentRun } from './helpers.ts';

describe('checkSyntax', () => {
  it.each([
    ['src/a.ts', 'const x = { a: 1 } satisfies Record<string, number>;\nexport type T<const X> = X;\n'],
    ['src/a.tsx', 'export const C = () => <div className="x">{a ?? b}</div>;\n'],
    ['a.mjs', 'export default async function* g() { yield await 1; }\n'],
    ['a.py', 'def f[T](x: T) -> T:\n    match x:\n        case 1:\n            return x\n    return x\n'],
    ['main.go', 'package main\n\nfunc main() {\n\tfor i := range 10 {\n\t\t_ = i\n\t}\n}\n'],
    ['lib.rs', 'pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n'],
    ['A.java', 'public record P(int x) {}\n'],
    ['a.c', 'int main(void) { return 0; }\n'],
    ['a.h', 'class A { public: int x; };\n'],
    ['a.cs', 'public record R(int X);\n'],
    ['a.rb', 'def add(a, b)\n  a + b\nend\n'],
    ['a.php', '<?php\nfunction add($a, $b) { return $a + $b; }\n'],
    ['package.json', '{ "name": "x", "version": "1.0.0" }\n'],
    [
      'tsconfig.json',
      '{\n  // comments and trailing commas are fine here\n  "compilerOptions": { "strict": true, },\n}\n',
    ],
  ])('%s parses', async (file, text) => {
    expect(await checkSyntax(file, text)).toEqual({ ok: true });
  });

  it.each([
    ['src/a.ts', 'export function f(a: number {\n  return a;\n}\n', 1, /TypeScript syntax error/],
    ['a.js', 'const a = 1;\nconst b = a +;\n', 2, /JavaScript syntax error: unexpected "\+"/],
    ['a.py', 'def f(x):\n    return (x\n', 2, /Python syntax error/],
    ['lib.rs', 'fn main() { let x = 1 }\n', 1, /Rust syntax error: missing ";"/],
    ['package.json', '{\n  "a": 1,\n}\n', 2, /JSON syntax error: trailing comma/],
  ])('%s: a syntax error says where', async (file, text, line, message) => {
    const r = await checkSyntax(file, text);
    expect(r.ok).toBe(false);
    if (r.ok !== false) return;
    expect(r.line).toBe(line);
    expect(r.column).toBeGreaterThan(0);
    expect(r.message).toMatch(message);
  });

  it('files it has no grammar for are unsupported', async () => {
    expect(await checkSyntax('README.md', '# x (')).toEqual({ ok: 'unsupported' });
    expect(await checkSyntax('Makefile', 'all:\n\ttrue\n')).toEqual({ ok: 'unsupported' });
    expect(syntaxLanguage('x.tsx')).toBe('TSX');
    expect(syntaxLanguage('x.md')).toBeUndefined();
  });
});

describe('the agent and the syntax check', () => {
  const runs: AgentRun[] = [];
  afterEach(async () => {
    while (runs.length) await runs.pop()?.close();
  });

  it('an edit that breaks the file is rejected (file unchanged, the model told where); a good one goes through', async () => {
    const r = await agentRun({
      turns: [
        {
          tool_calls: [
            call('edit_file', { path: 'src/add.js', old_text: 'return a - b;', new_text: 'return a + ;' }),
          ],
        },
        {
          expect: {
            lastToolResultIncludes:
              'Error: edit rejected: src/add.js would not parse after this edit (line 2, column 13: JavaScript syntax error',
          },
          tool_calls: [call('read_file', { path: 'src/add.js' })],
        },
        {
          expect: { lastToolResultIncludes: '2\t  return a - b;' },
          tool_calls: [
            call('edit_file', { path: 'src/add.js', old_text: 'return a - b;', new_text: 'return a + b;' }),
          ],
        },
        {
          expect: { lastToolResultIncludes: 'edited src/add.js' },
          tool_calls: [call('write_file', { path: 'src/broken.py', content: 'def f(:\n    pass\n' })],
        },
        {
          expect: { lastToolResultIncludes: 'Error: write rejected: src/broken.py would not parse' },
          tool_calls: [call('finish', { summary: 's', commit_message: 'm' })],
        },
      ],
    });
    runs.push(r);
    expect((await r.session.develop()).kind).toBe('finished');
    expect(r.server.errors()).toEqual([]);
    expect(await readFile(path.join(r.repo.dir, 'src/add.js'), 'utf8')).toBe(
      'export function add(a, b) {\n  return a + b;\n}\n',
    );
    await expect(readFile(path.join(r.repo.dir, 'src/broken.py'), 'utf8')).rejects.toThrow();
    expect([...r.session.filesTouched]).toEqual(['src/add.js']);
  });

  it('checkSyntax: false turns the check off', async () => {
    const r = await agentRun({
      turns: [
        { tool_calls: [call('write_file', { path: 'src/broken.py', content: 'def f(:\n' })] },
        {
          expect: { lastToolResultIncludes: 'created src/broken.py' },
          tool_calls: [call('finish', { summary: 's', commit_message: 'm' })],
        },
      ],
      options: { checkSyntax: false },
    });
    runs.push(r);
    expect((await r.session.develop()).kind).toBe('finished');
    expect(r.server.errors()).toEqual([]);
  });
});
