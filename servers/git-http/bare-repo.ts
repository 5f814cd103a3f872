/**
 * Creation of bare repositories for the smart-HTTP server: an initial commit made from a folder
 * (copied without .git and node_modules) and/or a map of files.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gitChildEnv } from './git-env.ts';

const execFileAsync = promisify(execFile);

export interface CreateBareRepoOptions {
  sourceDir?: string;
  files?: Record<string, string>;
  defaultBranch?: string;
  message?: string;
  author?: { name: string; email: string };
}

export function bareRepoDirName(name: string): string {
  return name.endsWith('.git') ? name : `${name}.git`;
}

async function git(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await execFileAsync(
    'git',
    ['-c', 'commit.gpgsign=false', '-c', 'core.hooksPath=/dev/null', ...args],
    { cwd, env, maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout;
}

/** Returns the bare repository's path (`<root>/<name>.git`). Fails if it already exists. */
export async function createBareRepo(
  root: string,
  name: string,
  opts: CreateBareRepoOptions = {},
): Promise<string> {
  if (!/^[A-Za-z0-9._/-]+$/.test(name) || name.split('/').includes('..')) {
    throw new Error(`createBareRepo: invalid repository name "${name}"`);
  }
  const bare = path.join(root, bareRepoDirName(name));
  const exists = await stat(bare).then(
    () => true,
    () => false,
  );
  if (exists) throw new Error(`createBareRepo: ${bare} already exists`);
  const branch = opts.defaultBranch ?? 'main';
  const author = opts.author ?? { name: 'Seed', email: 'seed@example.invalid' };
  const env = gitChildEnv({
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: author.name,
    GIT_COMMITTER_EMAIL: author.email,
  });

  const work = await mkdtemp(path.join(os.tmpdir(), 'numa-git-seed-'));
  try {
    if (opts.sourceDir) {
      await cp(opts.sourceDir, work, {
        recursive: true,
        filter: (src) => {
          const base = path.basename(src);
          return base !== '.git' && base !== 'node_modules';
        },
      });
    }
    for (const [file, content] of Object.entries(opts.files ?? {})) {
      const target = path.join(work, file);
      if (!target.startsWith(work + path.sep)) throw new Error(`createBareRepo: file path escapes: ${file}`);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, content);
    }
    await git(['init', '-q', '-b', branch], work, env);
    await git(['add', '-A'], work, env);
    await git(['commit', '-q', '--allow-empty', '-m', opts.message ?? 'Initial commit'], work, env);

    await mkdir(path.dirname(bare), { recursive: true });
    await git(['init', '-q', '--bare', '-b', branch, bare], root, env);
    await git(['config', 'http.receivepack', 'true'], bare, env);
    await git(['push', '-q', bare, `${branch}:refs/heads/${branch}`], work, env);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return bare;
}
