import { describe, expect, it } from 'vitest';
import { globToRegExpSource, parseGitignore } from '../../container/runner/agent/ignore.ts';

function matches(glob: string, subject: string): boolean {
  return new RegExp(`^${globToRegExpSource(glob)}$`).test(subject);
}

describe('gitignore globs', () => {
  it.each([
    ['*.log', 'a.log', true],
    ['*.log', 'a/b.log', false],
    ['a/**/b', 'a/b', true],
    ['a/**/b', 'a/x/y/b', true],
    ['**/foo', 'foo', true],
    ['**/foo', 'x/y/foo', true],
    ['abc/**', 'abc/x/y', true],
    ['abc/**', 'abc', false],
    ['file?.txt', 'file1.txt', true],
    ['file?.txt', 'file/.txt', false],
    ['[abc].txt', 'b.txt', true],
    ['[!abc].txt', 'b.txt', false],
    ['[!abc].txt', 'd.txt', true],
    ['\\*star', '*star', true],
    ['\\*star', 'xstar', false],
    ['a.b', 'aXb', false],
  ])('%s vs %s → %s', (glob, subject, expected) => {
    expect(matches(glob, subject)).toBe(expected);
  });

  it('parses comments, negation, escapes, anchoring, directory-only and trailing spaces', () => {
    const rules = parseGitignore(
      '# comment\n\n!keep\n\\#hash\n\\!bang\n/root-only\nbuild/\nsub/dir\ntrail   \r\n',
      '',
    );
    const summary = rules.map((r) => ({ negate: r.negate, dirOnly: r.dirOnly, matchName: r.matchName }));
    expect(summary).toEqual([
      { negate: true, dirOnly: false, matchName: true },
      { negate: false, dirOnly: false, matchName: true },
      { negate: false, dirOnly: false, matchName: true },
      { negate: false, dirOnly: false, matchName: false },
      { negate: false, dirOnly: true, matchName: true },
      { negate: false, dirOnly: false, matchName: false },
      { negate: false, dirOnly: false, matchName: true },
    ]);
    const subjects = ['keep', '#hash', '!bang', 'root-only', 'build', 'sub/dir', 'trail'];
    rules.forEach((r, i) => expect(r.regex.test(subjects[i] as string)).toBe(true));
    expect(rules[6]?.regex.test('trail   ')).toBe(false);
  });
});
