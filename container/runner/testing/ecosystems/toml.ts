/**
 * A small TOML reader for what the Python detector needs from pyproject.toml and tox.toml:
 * tables, arrays of tables, dotted and quoted keys, strings of the four kinds, arrays and inline
 * tables. Numbers, booleans and dates are kept as they are written (booleans as booleans), which is
 * all the detector compares them with. Redefining a key is not checked. Throws TomlError on what
 * it cannot read; the caller then treats the file as unreadable.
 */

export type TomlValue = string | number | boolean | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

export class TomlError extends Error {
  constructor(message: string, line: number) {
    super(`${message} (line ${line})`);
    this.name = 'TomlError';
  }
}

/** Tables without a prototype: a key named `__proto__` is a key like any other. */
function newTable(): TomlTable {
  return Object.create(null) as TomlTable;
}

export function parseToml(text: string): TomlTable {
  return new Reader(text).document();
}

/** The value at a dotted path of tables (`tool.pytest.ini_options`), or undefined. */
export function tomlGet(root: TomlTable, ...keys: string[]): TomlValue | undefined {
  let v: TomlValue | undefined = root;
  for (const k of keys) {
    if (!isTable(v) || !Object.hasOwn(v, k)) return undefined;
    v = v[k];
  }
  return v;
}

export function isTable(v: TomlValue | undefined): v is TomlTable {
  return v !== undefined && typeof v === 'object' && !Array.isArray(v);
}

const BARE_KEY = /[A-Za-z0-9_-]/;
const ESCAPES: Record<string, string> = {
  b: '\b',
  t: '\t',
  n: '\n',
  f: '\f',
  r: '\r',
  e: '\x1b',
  '"': '"',
  '\\': '\\',
};

class Reader {
  private i = 0;
  private line = 1;
  constructor(private readonly s: string) {}

  document(): TomlTable {
    const root = newTable();
    let current = root;
    for (;;) {
      this.skipBlankLines();
      if (this.i >= this.s.length) return root;
      if (this.s[this.i] === '[') {
        const arrayOfTables = this.s[this.i + 1] === '[';
        this.i += arrayOfTables ? 2 : 1;
        const keys = this.keyPath(arrayOfTables ? ']]' : ']');
        current = arrayOfTables ? this.appendTable(root, keys) : this.table(root, keys);
      } else {
        const keys = this.keyPath('=');
        this.skipSpaces();
        const value = this.value();
        this.assign(current, keys, value);
      }
      this.endOfLine();
    }
  }

  private fail(message: string): never {
    throw new TomlError(message, this.line);
  }

  private skipSpaces(): void {
    while (this.s[this.i] === ' ' || this.s[this.i] === '\t') this.i++;
  }

  private skipComment(): void {
    if (this.s[this.i] === '#') while (this.i < this.s.length && this.s[this.i] !== '\n') this.i++;
  }

  /** Spaces, comments and newlines (between statements and inside arrays). */
  private skipBlankLines(): void {
    for (;;) {
      this.skipSpaces();
      this.skipComment();
      if (this.s[this.i] === '\r' && this.s[this.i + 1] === '\n') this.i++;
      if (this.s[this.i] !== '\n') return;
      this.i++;
      this.line++;
    }
  }

  private endOfLine(): void {
    this.skipSpaces();
    this.skipComment();
    if (this.s[this.i] === '\r' && this.s[this.i + 1] === '\n') this.i++;
    if (this.i >= this.s.length) return;
    if (this.s[this.i] !== '\n') this.fail(`unexpected ${JSON.stringify(this.s[this.i])} after a value`);
    this.i++;
    this.line++;
  }

  /** `a."b c".d` up to (and consuming) `end`. */
  private keyPath(end: string): string[] {
    const keys: string[] = [];
    for (;;) {
      this.skipSpaces();
      const c = this.s[this.i];
      if (c === '"' || c === "'") keys.push(this.singleLineString(c));
      else {
        const start = this.i;
        while (this.i < this.s.length && BARE_KEY.test(this.s[this.i]!)) this.i++;
        if (this.i === start) this.fail('a key was expected');
        keys.push(this.s.slice(start, this.i));
      }
      this.skipSpaces();
      if (this.s[this.i] === '.') {
        this.i++;
        continue;
      }
      if (this.s.startsWith(end, this.i)) {
        this.i += end.length;
        return keys;
      }
      this.fail(`${JSON.stringify(end)} was expected after a key`);
    }
  }

  private table(root: TomlTable, keys: string[]): TomlTable {
    let t = root;
    for (const k of keys) {
      const next: TomlValue | undefined = t[k];
      if (next === undefined) t = t[k] = newTable();
      else if (Array.isArray(next)) {
        const last = next[next.length - 1];
        if (!isTable(last)) this.fail(`${k} is not a table`);
        t = last;
      } else if (isTable(next)) t = next;
      else this.fail(`${k} is not a table`);
    }
    return t;
  }

  private appendTable(root: TomlTable, keys: string[]): TomlTable {
    const parent = this.table(root, keys.slice(0, -1));
    const k = keys[keys.length - 1]!;
    const list = parent[k] ?? (parent[k] = []);
    if (!Array.isArray(list)) this.fail(`${k} is not an array of tables`);
    const t = newTable();
    list.push(t);
    return t;
  }

  private assign(into: TomlTable, keys: string[], value: TomlValue): void {
    const parent = this.table(into, keys.slice(0, -1));
    parent[keys[keys.length - 1]!] = value;
  }

  private value(): TomlValue {
    const c = this.s[this.i];
    if (c === '"' || c === "'") {
      if (this.s.startsWith(c.repeat(3), this.i)) return this.multiLineString(c);
      return this.singleLineString(c);
    }
    if (c === '[') return this.array();
    if (c === '{') return this.inlineTable();
    const m = /^[^\s,\]}#]+(?: [0-9:.+Z-]+)?/.exec(this.s.slice(this.i, this.i + 200));
    if (!m) this.fail('a value was expected');
    const raw = m[0];
    this.i += raw.length;
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    const n = Number(raw.replace(/_/g, ''));
    return /^[+-]?[0-9_]+(\.[0-9_]+)?([eE][+-]?[0-9_]+)?$/.test(raw) && Number.isFinite(n) ? n : raw;
  }

  private singleLineString(quote: string): string {
    this.i++;
    let out = '';
    for (;;) {
      const c = this.s[this.i];
      if (c === undefined || c === '\n') this.fail('unterminated string');
      this.i++;
      if (c === quote) return out;
      if (c === '\\' && quote === '"') out += this.escape();
      else out += c;
    }
  }

  private multiLineString(quote: string): string {
    this.i += 3;
    // A newline right after the opening quotes is not part of the string.
    if (this.s[this.i] === '\r' && this.s[this.i + 1] === '\n') this.i++;
    if (this.s[this.i] === '\n') {
      this.i++;
      this.line++;
    }
    let out = '';
    const close = quote.repeat(3);
    for (;;) {
      if (this.i >= this.s.length) this.fail('unterminated multi-line string');
      if (this.s.startsWith(close, this.i)) {
        // Up to two quotes may end the content right before the closing three.
        let extra = 0;
        while (extra < 2 && this.s[this.i + 3 + extra] === quote) extra++;
        out += quote.repeat(extra);
        this.i += 3 + extra;
        return out;
      }
      const c = this.s[this.i]!;
      this.i++;
      if (c === '\n') this.line++;
      if (c === '\\' && quote === '"') {
        // A backslash at the end of a line trims the newline and the whitespace after it.
        const rest = /^[ \t]*\r?\n/.exec(this.s.slice(this.i));
        if (rest) {
          while (/\s/.test(this.s[this.i] ?? '')) {
            if (this.s[this.i] === '\n') this.line++;
            this.i++;
          }
          continue;
        }
        out += this.escape();
      } else out += c;
    }
  }

  private escape(): string {
    const c = this.s[this.i];
    this.i++;
    if (c !== undefined && Object.hasOwn(ESCAPES, c)) return ESCAPES[c]!;
    const len = c === 'u' ? 4 : c === 'U' ? 8 : c === 'x' ? 2 : 0;
    if (len === 0) this.fail(`bad escape \\${c ?? ''}`);
    const hex = this.s.slice(this.i, this.i + len);
    if (!/^[0-9A-Fa-f]+$/.test(hex) || hex.length !== len) this.fail('bad unicode escape');
    this.i += len;
    const cp = parseInt(hex, 16);
    if (cp > 0x10ffff) this.fail('bad unicode escape');
    return String.fromCodePoint(cp);
  }

  private array(): TomlValue[] {
    this.i++;
    const out: TomlValue[] = [];
    for (;;) {
      this.skipBlankLines();
      if (this.s[this.i] === ']') {
        this.i++;
        return out;
      }
      out.push(this.value());
      this.skipBlankLines();
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== ']') this.fail('"," or "]" was expected in an array');
    }
  }

  private inlineTable(): TomlTable {
    this.i++;
    const out = newTable();
    this.skipSpaces();
    if (this.s[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      // TOML 1.1 allows newlines in inline tables; pyproject files written for 1.0 have none.
      this.skipBlankLines();
      const keys = this.keyPath('=');
      this.skipSpaces();
      this.assign(out, keys, this.value());
      this.skipBlankLines();
      if (this.s[this.i] === ',') {
        this.i++;
        this.skipBlankLines();
        if (this.s[this.i] === '}') {
          this.i++;
          return out;
        }
        continue;
      }
      if (this.s[this.i] === '}') {
        this.i++;
        return out;
      }
      this.fail('"," or "}" was expected in an inline table');
    }
  }
}
