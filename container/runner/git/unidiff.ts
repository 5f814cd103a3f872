/**
 * Line diffs in git's formats, for the engine that has no `git` binary: a Myers diff of two texts,
 * the unified patch of one file as `git diff` prints it (headers, modes, hunks with 3 lines of
 * context, "\ No newline at end of file", binary files), line counts for --numstat, and a
 * `git diff --stat`-shaped summary.
 */

/** One side of a file in a diff; the side is absent (undefined) for an added or deleted file. */
export interface DiffSide {
  oid: string;
  /** '100644', '100755', '120000' or '160000'. */
  mode: string;
  content: Uint8Array;
}

export interface FileChange {
  path: string;
  old?: DiffSide;
  new?: DiffSide;
}

export interface FileStat {
  path: string;
  insertions: number;
  deletions: number;
  binary: boolean;
  oldSize: number;
  newSize: number;
}

const CONTEXT = 3;
/** Beyond this many edits the middle of a file is shown as replaced whole (still a valid patch). */
const MAX_EDIT_DISTANCE = 2000;
const NULL_OID = '0000000';

type OpKind = ' ' | '-' | '+';
interface Op {
  kind: OpKind;
  /** Index of the line in the old text (for '+': the number of old lines before it). */
  a: number;
  /** Index of the line in the new text (for '-': the number of new lines before it). */
  b: number;
}

interface Lines {
  lines: string[];
  /** The last line has no newline. */
  noEol: boolean;
}

export function isBinary(content: Uint8Array): boolean {
  const n = Math.min(content.length, 8000);
  for (let i = 0; i < n; i++) if (content[i] === 0) return true;
  return false;
}

function splitLines(text: string): Lines {
  if (text.length === 0) return { lines: [], noEol: false };
  const lines = text.split('\n');
  const noEol = !text.endsWith('\n');
  if (!noEol) lines.pop();
  return { lines, noEol };
}

function sideText(side: DiffSide | undefined): string {
  if (!side) return '';
  if (side.mode === '160000') return `Subproject commit ${side.oid}\n`;
  return Buffer.from(side.content.buffer, side.content.byteOffset, side.content.byteLength).toString('utf8');
}

/** Myers' O(ND) diff over integer-coded lines; undefined when the distance exceeds `maxD`. */
function myers(a: Int32Array, b: Int32Array, maxD: number): Array<'=' | '-' | '+'> | undefined {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= Math.min(max, maxD); d++) {
    // v restricted to diagonals -d..d at the start of this round.
    trace.push(v.slice(offset - d, offset + d + 1));
    for (let k = -d; k <= d; k += 2) {
      let x: number;
      if (k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!)) x = v[offset + k + 1]!;
      else x = v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return backtrack(trace, n, m);
    }
  }
  return undefined;
}

function backtrack(trace: Int32Array[], n: number, m: number): Array<'=' | '-' | '+'> {
  const out: Array<'=' | '-' | '+'> = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const vd = trace[d]!;
    const at = (k: number) => vd[k + d]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const prevX = d === 0 ? 0 : at(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      out.push('=');
      x--;
      y--;
    }
    if (d > 0) {
      if (x === prevX) out.push('+');
      else out.push('-');
      x = prevX;
      y = prevY;
    }
  }
  return out.reverse();
}

function diffOps(oldLines: Lines, newLines: Lines): Op[] {
  // Lines are compared by content and by whether they end with a newline.
  const codes = new Map<string, number>();
  const code = (l: string) => {
    let c = codes.get(l);
    if (c === undefined) {
      c = codes.size;
      codes.set(l, c);
    }
    return c;
  };
  const encode = (ls: Lines) =>
    Int32Array.from(ls.lines, (l, i) => code(ls.noEol && i === ls.lines.length - 1 ? `${l}\u0000noeol` : l));
  const a = encode(oldLines);
  const b = encode(newLines);

  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf])
    suf++;

  const midA = a.subarray(pre, a.length - suf);
  const midB = b.subarray(pre, b.length - suf);
  const script = myers(midA, midB, MAX_EDIT_DISTANCE) ?? [
    ...new Array<'-'>(midA.length).fill('-'),
    ...new Array<'+'>(midB.length).fill('+'),
  ];

  const ops: Op[] = [];
  let x = 0;
  let y = 0;
  for (let i = 0; i < pre; i++) ops.push({ kind: ' ', a: x++, b: y++ });
  for (const s of script) {
    if (s === '=') ops.push({ kind: ' ', a: x++, b: y++ });
    else if (s === '-') ops.push({ kind: '-', a: x++, b: y });
    else ops.push({ kind: '+', a: x, b: y++ });
  }
  for (let i = 0; i < suf; i++) ops.push({ kind: ' ', a: x++, b: y++ });
  return ops;
}

function hunkRange(start: number, count: number): string {
  // git: the start is the line before the hunk when it is empty on that side.
  const first = count === 0 ? start : start + 1;
  return count === 1 ? `${first}` : `${first},${count}`;
}

/**
 * git's default hunk-header context: the nearest line at or before `from` in the old text that
 * starts with a letter, '_' or '$', cut to 80 bytes, trailing whitespace removed.
 */
function funcLine(lines: string[], from: number): string {
  for (let i = from; i >= 0; i--) {
    const line = lines[i]!;
    if (/^[A-Za-z_$]/.test(line)) {
      const bytes = Buffer.from(line, 'utf8');
      return (bytes.length > 80 ? bytes.subarray(0, 80).toString('utf8') : line).replace(/\s+$/, '');
    }
  }
  return '';
}

function formatHunks(oldLines: Lines, newLines: Lines, ops: Op[]): string {
  const changes: number[] = [];
  ops.forEach((op, i) => {
    if (op.kind !== ' ') changes.push(i);
  });
  let out = '';
  let i = 0;
  while (i < changes.length) {
    let j = i;
    while (j + 1 < changes.length && changes[j + 1]! - changes[j]! - 1 <= 2 * CONTEXT) j++;
    const start = Math.max(0, changes[i]! - CONTEXT);
    const end = Math.min(ops.length - 1, changes[j]! + CONTEXT);
    const slice = ops.slice(start, end + 1);
    const aCount = slice.filter((o) => o.kind !== '+').length;
    const bCount = slice.filter((o) => o.kind !== '-').length;
    const func = funcLine(oldLines.lines, slice[0]!.a - 1);
    out += `@@ -${hunkRange(slice[0]!.a, aCount)} +${hunkRange(slice[0]!.b, bCount)} @@${func ? ' ' + func : ''}\n`;
    for (const op of slice) {
      const text = op.kind === '+' ? newLines.lines[op.b]! : oldLines.lines[op.a]!;
      out += `${op.kind}${text}\n`;
      const lastOld = op.kind !== '+' && oldLines.noEol && op.a === oldLines.lines.length - 1;
      const lastNew = op.kind === '+' && newLines.noEol && op.b === newLines.lines.length - 1;
      if (lastOld || lastNew) out += '\\ No newline at end of file\n';
    }
    i = j + 1;
  }
  return out;
}

// Characters git C-quotes in paths even with core.quotePath=false.
// eslint-disable-next-line no-control-regex
const MUST_QUOTE = /["\\\u0000-\u001f\u007f]/g;
const C_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\u0007': '\\a',
  '\b': '\\b',
  '\t': '\\t',
  '\n': '\\n',
  '\v': '\\v',
  '\f': '\\f',
  '\r': '\\r',
};

/** Path as git prints it (core.quotePath=false): C-quoted only when it has quotes, backslashes or control characters. */
export function quotePath(p: string): string {
  MUST_QUOTE.lastIndex = 0;
  if (!MUST_QUOTE.test(p)) return p;
  const escaped = p.replace(
    MUST_QUOTE,
    (ch) => C_ESCAPES[ch] ?? `\\${ch.charCodeAt(0).toString(8).padStart(3, '0')}`,
  );
  return `"${escaped}"`;
}

function prefixed(prefix: string, p: string): string {
  const q = quotePath(p);
  return q.startsWith('"') ? `"${prefix}${q.slice(1)}` : `${prefix}${q}`;
}

const abbrev = (oid: string) => oid.slice(0, 7);

/** One file's section of a `git diff` patch (empty string when nothing differs). */
export function formatFilePatch(change: FileChange): string {
  const { path, old: o, new: n } = change;
  if (!o && !n) return '';
  if (o && n && o.oid === n.oid && o.mode === n.mode) return '';
  let out = `diff --git ${prefixed('a/', path)} ${prefixed('b/', path)}\n`;
  if (!o && n) out += `new file mode ${n.mode}\nindex ${NULL_OID}..${abbrev(n.oid)}\n`;
  else if (o && !n) out += `deleted file mode ${o.mode}\nindex ${abbrev(o.oid)}..${NULL_OID}\n`;
  else if (o && n) {
    if (o.mode !== n.mode) out += `old mode ${o.mode}\nnew mode ${n.mode}\n`;
    if (o.oid === n.oid) return out;
    out += `index ${abbrev(o.oid)}..${abbrev(n.oid)}${o.mode === n.mode ? ` ${o.mode}` : ''}\n`;
  }
  const aName = o ? prefixed('a/', path) : '/dev/null';
  const bName = n ? prefixed('b/', path) : '/dev/null';
  const textual = (s: DiffSide | undefined) => !s || s.mode === '160000' || !isBinary(s.content);
  if (!textual(o) || !textual(n)) return out + `Binary files ${aName} and ${bName} differ\n`;
  const oldLines = splitLines(sideText(o));
  const newLines = splitLines(sideText(n));
  const hunks = formatHunks(oldLines, newLines, diffOps(oldLines, newLines));
  if (!hunks) return out;
  // git ends a ---/+++ name that contains a space with a tab.
  const tab = (name: string) => (name !== '/dev/null' && name.includes(' ') ? `${name}\t` : name);
  return out + `--- ${tab(aName)}\n+++ ${tab(bName)}\n` + hunks;
}

export function fileStat(change: FileChange): FileStat {
  const { old: o, new: n } = change;
  const binary = [o, n].some((s) => s !== undefined && s.mode !== '160000' && isBinary(s.content));
  const base = {
    path: change.path,
    binary,
    oldSize: o?.content.length ?? 0,
    newSize: n?.content.length ?? 0,
  };
  if (binary) return { ...base, insertions: 0, deletions: 0 };
  const ops = diffOps(splitLines(sideText(o)), splitLines(sideText(n)));
  return {
    ...base,
    insertions: ops.filter((op) => op.kind === '+').length,
    deletions: ops.filter((op) => op.kind === '-').length,
  };
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** The summary `git diff --stat` prints (graph scaled to 80 columns). */
export function formatStat(stats: FileStat[]): string {
  if (stats.length === 0) return '';
  const names = stats.map((s) => quotePath(s.path));
  const nameWidth = Math.max(...names.map((n) => n.length));
  const counts = stats.map((s) => (s.binary ? 'Bin' : String(s.insertions + s.deletions)));
  const countWidth = Math.max(...counts.map((c) => c.length));
  const maxChange = Math.max(...stats.map((s) => s.insertions + s.deletions));
  const graphWidth = Math.max(10, 80 - nameWidth - countWidth - 6);
  const scale = (v: number) =>
    maxChange > graphWidth && v > 0 ? Math.max(1, Math.round((v * graphWidth) / maxChange)) : v;
  let text = '';
  stats.forEach((s, i) => {
    const name = names[i]!.padEnd(nameWidth);
    if (s.binary) {
      text += ` ${name} | Bin ${s.oldSize} -> ${s.newSize} bytes\n`;
      return;
    }
    const graph = '+'.repeat(scale(s.insertions)) + '-'.repeat(scale(s.deletions));
    text += ` ${name} | ${counts[i]!.padStart(countWidth)}${graph ? ' ' + graph : ''}\n`;
  });
  const ins = stats.reduce((sum, s) => sum + s.insertions, 0);
  const del = stats.reduce((sum, s) => sum + s.deletions, 0);
  let summary = ` ${plural(stats.length, 'file changed', 'files changed')}`;
  if (ins || !del) summary += `, ${plural(ins, 'insertion(+)', 'insertions(+)')}`;
  if (del || !ins) summary += `, ${plural(del, 'deletion(-)', 'deletions(-)')}`;
  return text + summary + '\n';
}
