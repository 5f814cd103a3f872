/** The lines a unified diff (git format, as GitEngine.diffPatch returns it) adds, with their place. */

export interface AddedLine {
  /** Repository-relative path of the file in the new tree. */
  file: string;
  /** 1-based line number in the new file. */
  line: number;
  text: string;
}

/** Unquotes a path as git prints it ("b/a b.txt" or "\"b/caf\\303\\251.txt\""), without the a/ or b/ prefix. */
export function diffPath(raw: string): string | undefined {
  let p = raw.trim();
  if (p === '/dev/null') return undefined;
  if (p.startsWith('"') && p.endsWith('"')) {
    const bytes: number[] = [];
    const body = p.slice(1, -1);
    for (let i = 0; i < body.length; i++) {
      const ch = body[i]!;
      if (ch !== '\\') {
        bytes.push(...Buffer.from(ch, 'utf8'));
        continue;
      }
      const next = body[i + 1] ?? '';
      if (/[0-7]/.test(next)) {
        bytes.push(parseInt(body.slice(i + 1, i + 4), 8));
        i += 3;
      } else {
        const map: Record<string, string> = { n: '\n', t: '\t', '"': '"', '\\': '\\' };
        bytes.push(...Buffer.from(map[next] ?? next, 'utf8'));
        i += 1;
      }
    }
    p = Buffer.from(bytes).toString('utf8');
  }
  return p.replace(/^[ab]\//, '');
}

export function addedLines(patch: string): AddedLine[] {
  const out: AddedLine[] = [];
  const lines = patch.split('\n');
  let file: string | undefined;
  let oldLeft = 0;
  let newLeft = 0;
  let newLine = 0;
  for (const line of lines) {
    if (oldLeft > 0 || newLeft > 0) {
      // Inside a hunk: its header said how many lines each side has.
      if (line.startsWith('\\')) continue; // "\ No newline at end of file"
      const kind = line[0];
      if (kind === '+') {
        if (file !== undefined) out.push({ file, line: newLine, text: line.slice(1) });
        newLine++;
        newLeft--;
      } else if (kind === '-') {
        oldLeft--;
      } else {
        newLine++;
        newLeft--;
        oldLeft--;
      }
      continue;
    }
    if (line.startsWith('diff --git ')) {
      file = undefined;
      continue;
    }
    if (line.startsWith('+++ ')) {
      file = diffPath(line.slice(4));
      continue;
    }
    const hunk = /^@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(line);
    if (hunk) {
      oldLeft = hunk[1] === undefined ? 1 : Number(hunk[1]);
      newLine = Number(hunk[2]);
      newLeft = hunk[3] === undefined ? 1 : Number(hunk[3]);
      if (newLeft === 0 && newLine === 0) newLine = 1;
    }
  }
  return out;
}
