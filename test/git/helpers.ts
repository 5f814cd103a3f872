/** Shared helpers for the git tests: temp folders, a `git` CLI runner, reading every file under a folder. */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { path: dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs the git CLI (no credentials, no prompts); stdout. */
export async function gitCli(args: string[], cwd?: string, input?: string): Promise<string> {
  const env = { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' };
  if (input === undefined) {
    const { stdout } = await execFileAsync('git', args, { cwd, env, maxBuffer: 32 * 1024 * 1024 });
    return stdout;
  }
  return new Promise((resolve, reject) => {
    const child = execFile('git', args, { cwd, env, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`git ${args.join(' ')} failed: ${stderr}`));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

/** `git --git-dir=<bare> ...` */
export function bareGit(bare: string, args: string[]): Promise<string> {
  return gitCli([`--git-dir=${bare}`, ...args]);
}

/** Every regular file under `dir` (recursively) with its content. */
export async function readAllFiles(dir: string): Promise<Array<{ path: string; content: Buffer }>> {
  const out: Array<{ path: string; content: Buffer }> = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await readAllFiles(p)));
    else if (e.isFile()) out.push({ path: p, content: await readFile(p) });
  }
  return out;
}
