/**
 * A JSON syntax check that says where the first error is (Node 20's JSON.parse does not give a
 * position). `jsonc` also accepts // and /* *\/ comments and trailing commas (tsconfig.json and
 * friends: see isJsoncPath). Lines and columns count from 1; columns in UTF-16 code units.
 */
export type JsonCheck = { ok: true } | { ok: false; line: number; column: number; message: string };

export interface JsonCheckOptions {
  jsonc?: boolean;
}

class JsonSyntaxError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_DEPTH = 512;

export function checkJson(text: string, opts: JsonCheckOptions = {}): JsonCheck {
  const jsonc = opts.jsonc === true;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a byte-order mark is tolerated

  const fail = (offset: number, message: string): never => {
    throw new JsonSyntaxError(offset, message);
  };
  const describe = (at: number): string =>
    at >= text.length ? 'the end of the file' : `${JSON.stringify(text[at])}`;

  const skip = (): void => {
    for (;;) {
      const c = text[i];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
        i++;
      } else if (jsonc && c === '/' && text[i + 1] === '/') {
        while (i < text.length && text[i] !== '\n') i++;
      } else if (jsonc && c === '/' && text[i + 1] === '*') {
        const end = text.indexOf('*/', i + 2);
        if (end < 0) fail(i, 'unterminated /* comment');
        i = end + 2;
      } else {
        return;
      }
    }
  };

  const string = (): void => {
    const start = i;
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail(start, 'unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail(i, 'invalid \\u escape');
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          i += 2;
        } else {
          fail(i, `invalid escape \\${e ?? ''}`);
        }
        continue;
      }
      if (c < 0x20)
        fail(i, c === 0x0a ? 'unterminated string (newline inside)' : 'control character in string');
      i++;
    }
  };

  const number = (): void => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail(i, `invalid number`);
    i += m![0].length;
  };

  const value = (depth: number): void => {
    if (depth > MAX_DEPTH) fail(i, `nesting deeper than ${MAX_DEPTH}`);
    skip();
    const c = text[i];
    if (c === '{') return container(depth, '}');
    if (c === '[') return container(depth, ']');
    if (c === '"') return string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return number();
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    fail(i, `unexpected ${describe(i)}: expected a value`);
  };

  const container = (depth: number, close: '}' | ']'): void => {
    i++; // { or [
    skip();
    if (text[i] === close) {
      i++;
      return;
    }
    for (;;) {
      if (close === '}') {
        skip();
        if (text[i] !== '"') fail(i, `unexpected ${describe(i)}: expected a property name in double quotes`);
        string();
        skip();
        if (text[i] !== ':') fail(i, `unexpected ${describe(i)}: expected ':'`);
        i++;
      }
      value(depth + 1);
      skip();
      if (text[i] === ',') {
        const comma = i;
        i++;
        skip();
        if (text[i] === close) {
          if (!jsonc) fail(comma, 'trailing comma');
          i++;
          return;
        }
        continue;
      }
      if (text[i] === close) {
        i++;
        return;
      }
      fail(i, `unexpected ${describe(i)}: expected ',' or '${close}'`);
    }
  };

  try {
    value(0);
    skip();
    if (i < text.length) fail(i, `unexpected ${describe(i)} after the JSON value`);
    return { ok: true };
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
    const { line, column } = positionOf(text, err.offset);
    return { ok: false, line, column, message: err.message };
  }
}

function positionOf(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text.charCodeAt(k) === 0x0a) {
      line++;
      lineStart = k + 1;
    }
  }
  return { line, column: Math.min(offset, text.length) - lineStart + 1 };
}
