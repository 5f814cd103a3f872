import { describe, expect, it } from 'vitest';
import {
  TREE_LANGS,
  checkJson,
  firstSyntaxError,
  getLanguage,
  getParser,
  isJsoncPath,
  languageForPath,
  loadFailures,
  parse,
} from '../../container/runner/treesitter/index.ts';

/** Per language: a file name, a valid file, and a broken one with where its first error is. */
const CASES: Array<{ file: string; valid: string; broken: string; line: number; column: number }> = [
  {
    file: 'src/a.js',
    valid:
      'export function add(a, b) {\n  return a + b;\n}\nconst el = <div className="x">{add(1, 2)}</div>;\n',
    broken: 'function add(a, b) {\n  return a + ;\n}\n',
    line: 2,
    column: 13, // the parser inserts a MISSING identifier before the ';'
  },
  {
    file: 'src/a.ts',
    valid: 'export interface P { x: number }\nexport const f = (p: P): number => p.x * 2;\n',
    broken: 'const x: number = 1;\nlet y: string = ;\n',
    line: 2,
    column: 15,
  },
  {
    file: 'src/A.tsx',
    valid: 'export function A(props: { n: number }) {\n  return <span>{props.n}</span>;\n}\n',
    broken: 'export function A() {\n  return <span>{1 +}</span>;\n}\n',
    line: 2,
    column: 0, // checked loosely below: somewhere on line 2
  },
  {
    file: 'pkg/mod.py',
    valid: 'class A:\n    def f(self, x):\n        return x * 2\n',
    broken: 'def f(x):\n    return x\n\ndef g(:\n    pass\n',
    line: 4,
    column: 0,
  },
  {
    file: 'main.go',
    valid: 'package main\n\nfunc main() {\n\tprintln("hi")\n}\n',
    broken: 'package main\n\nfunc main( {\n}\n',
    line: 3,
    column: 0,
  },
  {
    file: 'src/lib.rs',
    valid: 'pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n',
    broken: 'pub fn add(a: i32) -> i32 {\n    let x = ;\n    a\n}\n',
    line: 2,
    column: 0,
  },
  {
    file: 'src/Main.java',
    valid: 'public class Main {\n  public static void main(String[] args) { System.out.println(1); }\n}\n',
    broken: 'public class Main {\n  void f() { int x = ; }\n}\n',
    line: 2,
    column: 0,
  },
];

describe('treesitter loader', () => {
  it('maps file names to languages', () => {
    expect(languageForPath('a/b.ts')).toBe('typescript');
    expect(languageForPath('a/b.d.ts')).toBe('typescript');
    expect(languageForPath('a/B.TSX')).toBe('tsx');
    expect(languageForPath('x.mjs')).toBe('javascript');
    expect(languageForPath('x.jsx')).toBe('javascript');
    expect(languageForPath('x.pyi')).toBe('python');
    expect(languageForPath('tsconfig.json')).toBe('json');
    expect(languageForPath('Makefile')).toBeUndefined();
    expect(languageForPath('notes.txt')).toBeUndefined();
    expect(isJsoncPath('tsconfig.build.json')).toBe(true);
    expect(isJsoncPath('.vscode/settings.json')).toBe(true);
    expect(isJsoncPath('package.json')).toBe(false);
  });

  it('loads every grammar from the npm package, lazily and once per process', async () => {
    for (const lang of TREE_LANGS) {
      const language = await getLanguage(lang);
      expect(language, `${lang}: ${loadFailures().get(lang) ?? ''}`).toBeDefined();
    }
    const p1 = await getParser('python');
    const p2 = await getParser('python');
    expect(p1).toBeDefined();
    expect(p1).toBe(p2);
    expect(await getParser('json')).toBeUndefined();
    expect(await parse('x.json', '{}')).toBeUndefined();
    expect(await parse('README.md', '# hi')).toBeUndefined();
  });

  for (const c of CASES) {
    it(`parses valid and broken ${languageForPath(c.file)} and says where the error is`, async () => {
      const ok = await parse(c.file, c.valid);
      expect(ok).toBeDefined();
      expect(ok!.lang).toBe(languageForPath(c.file));
      expect(ok!.tree.rootNode.hasError).toBe(false);
      expect(firstSyntaxError(ok!.tree)).toBeUndefined();
      ok!.tree.delete();

      const bad = await parse(c.file, c.broken);
      const err = firstSyntaxError(bad!.tree);
      bad!.tree.delete();
      expect(err).toBeDefined();
      expect(err!.line).toBe(c.line);
      if (c.column > 0) expect(err!.column).toBe(c.column);
      expect(err!.message).toMatch(/^(unexpected|missing) /);
    });
  }

  it('counts error columns in characters, with non-ASCII text before the error', async () => {
    const src = 'const s = "héllo 你好";\nconst t = "你好" +;\n';
    const r = await parse('a.js', src);
    const err = firstSyntaxError(r!.tree);
    r!.tree.delete();
    expect(err).toMatchObject({ line: 2, column: src.split('\n')[1]!.indexOf('+') + 1 });
  });

  it('parses the other bundled languages', async () => {
    const files: Record<string, string> = {
      'a.c': 'int main(void) { return 0; }\n',
      'a.cpp': 'namespace n { class C { public: void m(); }; }\n',
      'A.cs': 'namespace N { public class C { public void M() {} } }\n',
      'a.rb': 'class C\n  def m; end\nend\n',
      'a.php': '<?php\nfunction f() { return 1; }\n',
    };
    for (const [file, text] of Object.entries(files)) {
      const r = await parse(file, text);
      expect(r, file).toBeDefined();
      expect(r!.tree.rootNode.hasError, file).toBe(false);
      r!.tree.delete();
    }
  });
});

describe('checkJson', () => {
  it('accepts valid JSON and rejects broken JSON with a position', () => {
    expect(checkJson('{"a": [1, 2.5e3, "x\\u00e9", true, null], "b": {}}')).toEqual({ ok: true });
    expect(checkJson('\ufeff{"名前": "値"}')).toEqual({ ok: true });
    expect(checkJson('{\n  "a": 1,\n  "b": \n}')).toMatchObject({ ok: false, line: 4, column: 1 });
    expect(checkJson('{"a": 1,}')).toMatchObject({
      ok: false,
      line: 1,
      column: 8,
      message: 'trailing comma',
    });
    expect(checkJson('{"a": 1} x')).toMatchObject({ ok: false, line: 1, column: 10 });
    expect(checkJson('{"a": "unterminated}')).toMatchObject({ ok: false, message: 'unterminated string' });
    expect(checkJson("{'a': 1}")).toMatchObject({ ok: false, line: 1, column: 2 });
    expect(checkJson('')).toMatchObject({ ok: false, line: 1, column: 1 });
  });

  it('accepts comments and trailing commas in JSONC only', () => {
    const text = '{\n  // the compiler\n  "strict": true, /* yes */\n  "paths": [1, 2,],\n}\n';
    expect(checkJson(text).ok).toBe(false);
    expect(checkJson(text, { jsonc: true })).toEqual({ ok: true });
    expect(checkJson('{ /* open', { jsonc: true })).toMatchObject({
      ok: false,
      message: 'unterminated /* comment',
    });
  });
});
