/**
 * The isomorphic engine's patches (container/runner/git/unidiff.ts) checked by the git binary:
 * `git apply` turns the old files into the new ones, and the line counts match `git diff --numstat`.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileStat, formatFilePatch, formatStat } from '../../container/runner/git/unidiff.ts';
import type { FileChange } from '../../container/runner/git/unidiff.ts';
import { gitCli, tempDir } from './helpers.ts';

/** Small deterministic PRNG (mulberry32). */
function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomText(rand: () => number, words: string[]): string {
  const n = Math.floor(rand() * 40);
  const lines = Array.from({ length: n }, () => words[Math.floor(rand() * words.length)]!);
  const text = lines.join('\n');
  return n > 0 && rand() < 0.8 ? text + '\n' : text;
}

function mutate(rand: () => number, text: string, words: string[]): string {
  const lines = text.split('\n');
  const edits = Math.floor(rand() * 6);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(rand() * (lines.length + 1));
    const r = rand();
    if (r < 0.4) lines.splice(at, 0, words[Math.floor(rand() * words.length)]!);
    else if (r < 0.7) lines.splice(at, 1);
    else lines[at] = `changed ${Math.floor(rand() * 100)}`;
  }
  return lines.join('\n');
}

/** `git diff --no-index --numstat -z old new` (exit code 1 means "differences found"). */
function gitNoIndexNumstat(cwd: string): Promise<Map<string, { insertions: number; deletions: number }>> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      ['diff', '--no-index', '--numstat', '-z', 'old', 'new'],
      { cwd, maxBuffer: 1 << 24 },
      (err, stdout) => {
        if (err && err.code !== 1) return reject(err);
        const out = new Map<string, { insertions: number; deletions: number }>();
        const t = stdout.split('\u0000');
        for (let i = 0; i + 2 < t.length; i += 3) {
          const [ins, del] = t[i]!.split('\t');
          out.set(path.basename(t[i + 2]!), { insertions: Number(ins), deletions: Number(del) });
        }
        resolve(out);
      },
    );
  });
}

const blob = (content: string) => ({ oid: '1'.repeat(40), mode: '100644', content: Buffer.from(content) });

describe('unified diffs', () => {
  let tmp: { path: string; remove: () => Promise<void> };
  beforeAll(async () => {
    tmp = await tempDir('numa-unidiff-');
  });
  afterAll(async () => {
    await tmp?.remove();
  });

  it('apply with git apply and count lines like git diff --numstat', async () => {
    const rand = rng(42);
    const words = ['{', '}', '', 'return x;', 'a', 'b', 'function f() {', 'c', 'd'];
    const oldDir = path.join(tmp.path, 'old');
    const newDir = path.join(tmp.path, 'new');
    await mkdir(oldDir);
    await mkdir(newDir);
    let patch = '';
    const ours = new Map<string, { insertions: number; deletions: number }>();
    for (let i = 0; i < 60; i++) {
      const name = `f${i}.txt`;
      const before = randomText(rand, words);
      const after = mutate(rand, before, words);
      await writeFile(path.join(oldDir, name), before);
      await writeFile(path.join(newDir, name), after);
      const change: FileChange = {
        path: name,
        old: { ...blob(before), oid: 'a'.repeat(40) },
        new: { ...blob(after), oid: 'b'.repeat(40) },
      };
      if (before === after) continue;
      patch += formatFilePatch(change);
      const st = fileStat(change);
      ours.set(name, { insertions: st.insertions, deletions: st.deletions });
    }
    // Same counts as git (diffs are minimal on inputs this small).
    const numstat = await gitNoIndexNumstat(tmp.path);
    expect(numstat.size).toBe(ours.size);
    for (const [name, counts] of ours) expect(counts, name).toEqual(numstat.get(name));

    // Applied to the old folder, the patch turns it into the new one.
    await gitCli(['apply', '--directory=old', '-'], tmp.path, patch);
    for (const name of ours.keys()) {
      expect(await readFile(path.join(oldDir, name), 'utf8'), name).toBe(
        await readFile(path.join(newDir, name), 'utf8'),
      );
    }
  });

  it('formats headers, hunks and stats like git', () => {
    const change: FileChange = {
      path: 'dir/file name.txt',
      old: { oid: 'a'.repeat(40), mode: '100644', content: Buffer.from('one\ntwo\nthree') },
      new: { oid: 'b'.repeat(40), mode: '100755', content: Buffer.from('one\n2\nthree\n') },
    };
    expect(formatFilePatch(change)).toBe(
      [
        'diff --git a/dir/file name.txt b/dir/file name.txt',
        'old mode 100644',
        'new mode 100755',
        'index aaaaaaa..bbbbbbb',
        '--- a/dir/file name.txt\t',
        '+++ b/dir/file name.txt\t',
        '@@ -1,3 +1,3 @@',
        ' one',
        '-two',
        '-three',
        '\\ No newline at end of file',
        '+2',
        '+three',
        '',
      ].join('\n'),
    );
    expect(
      formatFilePatch({
        path: 'e',
        new: { oid: 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391', mode: '100644', content: Buffer.alloc(0) },
      }),
    ).toBe('diff --git a/e b/e\nnew file mode 100644\nindex 0000000..e69de29\n');
    expect(
      formatFilePatch({
        path: 'x.bin',
        old: { oid: 'c'.repeat(40), mode: '100644', content: Buffer.from([0, 1, 2]) },
      }),
    ).toBe(
      'diff --git a/x.bin b/x.bin\ndeleted file mode 100644\nindex ccccccc..0000000\nBinary files a/x.bin and /dev/null differ\n',
    );
    const stat = fileStat(change);
    expect(stat).toMatchObject({ insertions: 2, deletions: 2, binary: false });
    expect(formatStat([stat])).toBe(
      ' dir/file name.txt | 4 ++--\n 1 file changed, 2 insertions(+), 2 deletions(-)\n',
    );
  });
});
