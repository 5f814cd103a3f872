import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAvatarError } from '../../core/errors.ts';
import { RepoPaths, normalizeRepoPath } from '../../container/runner/agent/paths.ts';
import { makeRepo } from './helpers.ts';
import type { TempRepo } from './helpers.ts';

let repo: TempRepo;
let outside: string;
let paths: RepoPaths;

beforeAll(async () => {
  repo = await makeRepo({ 'src/a.ts': 'export {};\n', 'docs/readme.md': '# hi\n', '100%.txt': 'literal\n' });
  outside = await mkdtemp(path.join(os.tmpdir(), 'avatar-outside-'));
  await writeFile(path.join(outside, 'secret.txt'), 'outside\n');
  await symlink('/etc', path.join(repo.dir, 'etc-link'));
  await symlink('/etc/passwd', path.join(repo.dir, 'passwd-link'));
  await symlink(outside, path.join(repo.dir, 'out-dir'));
  await symlink(path.join(outside, 'not-yet'), path.join(repo.dir, 'dangling-out'));
  await symlink('src/a.ts', path.join(repo.dir, 'inside-link'));
  await symlink('src', path.join(repo.dir, 'src-link'));
  await mkdir(path.join(repo.dir, '.git'));
  await writeFile(path.join(repo.dir, '.git', 'config'), '[remote "origin"]\n');
  await symlink('.git', path.join(repo.dir, 'gitdir-link'));
  // A chain: inside → inside → outside.
  await symlink(outside, path.join(repo.dir, 'hop2'));
  await symlink('hop2', path.join(repo.dir, 'hop1'));
  await mkdir(path.join(repo.dir, 'deep/er'), { recursive: true });
  await symlink('../../..', path.join(repo.dir, 'deep/er/up'));
  paths = new RepoPaths(repo.dir);
});

afterAll(async () => {
  await repo.cleanup();
  await rm(outside, { recursive: true, force: true });
});

async function refusal(input: string): Promise<string> {
  try {
    await paths.resolve(input);
  } catch (err) {
    expect(isAvatarError(err, 'PATH_ESCAPE')).toBe(true);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be refused`);
}

describe('repository paths', () => {
  it.each([
    ['../x', /outside the repository/],
    ['/etc/passwd', /absolute/],
    ['a/../../x', /outside the repository/],
    ['src/../../x', /outside the repository/],
    ['%2e%2e/x', /URL-encoded/],
    ['%252e%252e%252fx', /URL-encoded/],
    ['..%2fx', /URL-encoded/],
    ['..\\x', /backslash/],
    ['src\\..\\..\\x', /backslash/],
    ['src/a.ts\0.png', /NUL byte/],
    ['~/x', /home directory/],
    ['~', /home directory/],
    ['~root/.ssh', /home directory/],
    ['C:/Windows', /absolute/],
    ['etc-link/passwd', /symbolic link/],
    ['passwd-link', /symbolic link/],
    ['out-dir/secret.txt', /symbolic link/],
    ['out-dir/new/file.txt', /symbolic link/],
    ['out-dir', /symbolic link/],
    ['dangling-out', /symbolic link/],
    ['.git/config', /\.git/],
    ['src/../.git/config', /\.git/],
    ['gitdir-link/config', /\.git/],
    // More encodings of "..", "/" and "\\".
    ['%2E%2E/x', /URL-encoded/],
    ['src/%2e%2e/%2e%2e/x', /URL-encoded/],
    ['%25252e%25252e/x', /URL-encoded/],
    ['%2fetc/passwd', /URL-encoded/],
    ['..%5cx', /URL-encoded/],
    ['src/a.ts%00.png', /URL-encoded/],
    ['%2egit/config', /URL-encoded/],
    ['/', /absolute/],
    ['//etc/passwd', /absolute/],
    ['\\\\server\\share', /backslash/],
    ['src\\a.ts', /backslash/],
    ['\0', /NUL byte/],
    // Unicode look-alikes of ".", "/" and "\\".
    ['\u2024\u2024/x', /Unicode characters that look like/], // one dot leader
    ['\uFF0E\uFF0E/x', /Unicode characters that look like/], // full-width full stop
    ['\u2025/x', /Unicode characters that look like/], // two dot leader (NFKC: "..")
    ['..\uFF0Fx', /Unicode characters that look like/], // full-width solidus
    ['src\u2215..\u2215..\u2215x', /Unicode characters that look like/], // division slash
    ['..\uFF3Cx', /Unicode characters that look like/], // full-width reverse solidus
    ['\uFF0Egit/config', /Unicode characters that look like/],
    // Dots-and-spaces and trailing-dot tricks (what other file systems fold into ".." or ".git").
    ['...', /only of dots and spaces/],
    ['.. /x', /only of dots and spaces/],
    ['src/. ./x', /only of dots and spaces/],
    ['src/....//x', /only of dots and spaces/],
    ['.git./config', /\.git/],
    ['.git /config', /\.git/],
    ['.GIT/config', /\.git/],
    ['.Git.../hooks/pre-commit', /\.git/],
    ['.git::$INDEX_ALLOCATION/config', /\.git/],
    ['GIT~1/config', /\.git/],
    // Symbolic links: chains, links to a parent, new files below a link.
    ['hop1/secret.txt', /symbolic link/],
    ['hop1', /symbolic link/],
    ['deep/er/up/etc/passwd', /symbolic link/],
    ['deep/er/up', /symbolic link/],
    ['etc-link/new-dir/new-file', /symbolic link/],
    ['out-dir/../out-dir/secret.txt', /symbolic link/],
  ])('refuses %j', async (input, why) => {
    const message = await refusal(input);
    expect(message).toMatch(why);
    expect(message).toContain('relative to the repository root');
  });

  it('refuses non-strings', async () => {
    await expect(paths.resolve(42)).rejects.toThrow(/must be a string/);
  });

  it('resolves ordinary paths, the root, new files and in-repo symlinks', async () => {
    expect(await paths.resolve('src/a.ts')).toEqual({
      abs: path.join(repo.dir, 'src/a.ts'),
      rel: 'src/a.ts',
    });
    expect((await paths.resolve('.')).rel).toBe('.');
    expect((await paths.resolve('')).rel).toBe('.');
    expect((await paths.resolve('./src//a.ts')).rel).toBe('src/a.ts');
    expect((await paths.resolve('src/../docs/readme.md')).rel).toBe('docs/readme.md');
    expect((await paths.resolve('src/new/deep/file.ts')).rel).toBe('src/new/deep/file.ts');
    expect((await paths.resolve('inside-link')).rel).toBe('inside-link');
    expect((await paths.resolve('src-link/new.ts')).rel).toBe('src-link/new.ts');
    // A '%' that does not decode into an escape is an ordinary character.
    expect((await paths.resolve('100%.txt')).rel).toBe('100%.txt');
    expect((await paths.resolve('a%20b.txt')).rel).toBe('a%20b.txt');
    // Names that merely contain dots, '%', '~' or look-alikes without escaping stay ordinary.
    expect((await paths.resolve('src/.eslintrc.json')).rel).toBe('src/.eslintrc.json');
    expect((await paths.resolve('a..b/c...d.ts')).rel).toBe('a..b/c...d.ts');
    expect((await paths.resolve('docs/x~1.md')).rel).toBe('docs/x~1.md');
    expect((await paths.resolve('.github/workflows/ci.yml')).rel).toBe('.github/workflows/ci.yml');
    expect((await paths.resolve('.gitignore')).rel).toBe('.gitignore');
    expect((await paths.resolve('名前/ファイル.ts')).rel).toBe('名前/ファイル.ts');
    expect((await paths.resolve('v1\u2024x.txt')).rel).toBe('v1\u2024x.txt');
    // Invalid percent-encoding (an overlong UTF-8 "/") decodes to nothing: a literal name inside.
    const overlong = await paths.resolve('..%c0%af..%c0%afx');
    expect(overlong.abs.startsWith(repo.dir + path.sep)).toBe(true);
  });

  it('normalizes lexically without touching the disk', () => {
    expect(normalizeRepoPath('a/b/../c/')).toBe('a/c');
    expect(normalizeRepoPath(' ./x ')).toBe('x');
    expect(() => normalizeRepoPath('a/../..')).toThrow(/outside/);
  });
});
