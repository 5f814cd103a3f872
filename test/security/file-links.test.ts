/**
 * Issue 3 of the security work: the runner's in-process file access (the file tools, the context
 * builder) cannot be turned against the runner by links, and nothing that leads outside the
 * repository, or is too large, is committed.
 *
 * - a hard link to a file outside: write_file, edit_file (and read_file) refuse it, naming it; the
 *   outside file keeps its content;
 * - a folder swapped for a symlink to an outside folder and back, in a tight loop by another
 *   process, while the tools write into it hundreds of times: no write lands outside (the figures
 *   are printed);
 * - a FIFO in the repository: the tools and the context builder refuse it at once, no hang;
 * - `.editorconfig -> /proc/self/environ`, `README.md -> /etc/passwd` (and other instruction and
 *   style files linked out): the context builder's output holds none of it, checked in a child
 *   process whose own environment holds a planted variable;
 * - before the commit: an absolute symlink, a `..` one and an 11 MB file are refused by name.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { link, lstat, mkdir, open, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../core/config/schema.ts';
import { isAvatarError } from '../../core/errors.ts';
import { writeRepoFile } from '../../container/runner/agent/safe-fs.ts';
import { parseToolCall } from '../../container/runner/agent/schemas.ts';
import { runTool } from '../../container/runner/agent/tools/index.ts';
import type { ToolContext } from '../../container/runner/agent/types.ts';
import { prepareIntro } from '../../container/runner/context/intro.ts';
import { createNativeGit } from '../../container/runner/git/index.ts';
import { DEFAULT_MAX_FILE_BYTES } from '../../container/runner/verify/gates/unsafe-files.ts';
import { Verifier, type VerifyConfig } from '../../container/runner/verify/verifier.ts';
import { makeRepo, toolContext, type TempRepo } from '../agent/helpers.ts';

const run = promisify(execFile);
const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

const temps: TempRepo[] = [];
afterEach(async () => {
  for (const t of temps.splice(0)) await t.cleanup();
});

async function temp(files: Record<string, string> = {}): Promise<TempRepo> {
  const t = await makeRepo(files);
  temps.push(t);
  return t;
}

async function callTool(ctx: ToolContext, name: string, args: Record<string, unknown>): Promise<unknown> {
  const parsed = parseToolCall(name, JSON.stringify(args));
  if (!parsed.ok) throw new Error(`arguments refused: ${parsed.error}`);
  return runTool(ctx, parsed).then(
    (result) => result,
    (err: unknown) => err,
  );
}

/** Every file (not folder) under `dir`, repository-relative. */
async function filesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** `p` or 'hung' when it takes longer than `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'hung'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<'hung'>((resolve) => {
      timer = setTimeout(() => resolve('hung'), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

describe('hard links', () => {
  it('write_file, edit_file and read_file refuse a hard link to a file outside, naming it; the outside file is unchanged', async () => {
    const outside = await temp({ 'target.txt': 'outside original\n' });
    const repo = await temp({ 'src/a.ts': 'export const a = 1;\n' });
    const outsideFile = path.join(outside.dir, 'target.txt');
    await link(outsideFile, path.join(repo.dir, 'hl.txt'));
    await mkdir(path.join(repo.dir, 'deep'));
    await link(outsideFile, path.join(repo.dir, 'deep/also.txt'));
    const ctx = toolContext(repo.dir);

    for (const rel of ['hl.txt', 'deep/also.txt']) {
      const calls: Array<[string, Record<string, unknown>]> = [
        ['write_file', { path: rel, content: 'planted\n' }],
        ['edit_file', { path: rel, old_text: 'outside original', new_text: 'planted' }],
        ['read_file', { path: rel }],
      ];
      for (const [tool, args] of calls) {
        const res = await callTool(ctx, tool, args);
        expect(isAvatarError(res, 'PATH_ESCAPE'), `${tool}(${rel}) answered ${JSON.stringify(res)}`).toBe(
          true,
        );
        const message = (res as Error).message;
        expect(message).toContain(rel);
        expect(message).toContain('hard link');
        expect(message).not.toContain('outside original');
      }
    }
    expect(await readFile(outsideFile, 'utf8')).toBe('outside original\n');
    expect(ctx.touched.size).toBe(0);
    // A file of its own in the repository is still written normally.
    const ok = await callTool(ctx, 'write_file', { path: 'src/b.ts', content: 'export const b = 2;\n' });
    expect((ok as { output: string }).output).toMatch(/^created src\/b\.ts/);
  });
});

/**
 * The other process: swaps `<repo>/swap` (a folder) for a symlink to the outside folder and back,
 * as fast as it can, until the stop file appears. A folder the tools create at `swap` in the gap
 * is moved aside (inside the repository) so that the swapping goes on.
 */
const SWAPPER = String.raw`
const fs = require('fs');
const path = require('path');
const [repo, outside, stop] = process.argv.slice(1);
const swap = path.join(repo, 'swap');
const real = path.join(repo, 'swap.real');
const step = (f) => { try { f(); return true; } catch { return false; } };
let swaps = 0;
let linked = 0;
process.stdout.write('ready\n');
for (let n = 0; ; n++) {
  step(() => fs.renameSync(swap, real));
  if (step(() => fs.symlinkSync(outside, swap))) linked++;
  step(() => fs.unlinkSync(swap));
  if (!step(() => fs.renameSync(real, swap))) {
    step(() => fs.renameSync(swap, path.join(repo, 'aside-' + n)));
    step(() => fs.renameSync(real, swap));
  }
  // A few calls' time as a folder again, so that writes meet the folder as well as the link.
  for (let k = 0; k < 16; k++) step(() => fs.statSync(swap));
  swaps++;
  if (n % 64 === 0 && fs.existsSync(stop)) break;
}
step(() => { if (fs.lstatSync(swap).isSymbolicLink()) fs.unlinkSync(swap); });
step(() => fs.renameSync(real, swap));
process.stdout.write(JSON.stringify({ swaps, linked }) + '\n');
`;

interface Swapper {
  stop(): Promise<{ swaps: number; linked: number }>;
}

async function startSwapper(repoDir: string, outsideDir: string): Promise<Swapper> {
  const stopFile = path.join(path.dirname(repoDir), `${path.basename(repoDir)}.stop`);
  const child = spawn(process.execPath, ['-e', SWAPPER, repoDir, outsideDir, stopFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('ready\n')) resolve();
    });
    child.on('error', reject);
  });
  return {
    async stop() {
      await writeFile(stopFile, '');
      const code = await exited;
      await rm(stopFile, { force: true });
      expect(code).toBe(0);
      const last = out.trim().split('\n').pop() ?? '{}';
      return JSON.parse(last) as { swaps: number; linked: number };
    },
  };
}

describe('names from the listing', () => {
  it('files whose names the agent could not type as a path (a backslash, %2e%2e) are still listed, searched and mapped', async () => {
    const repo = await temp({
      'odd\\name.ts': 'export const needleOne = 1;\n',
      '%2e%2e/inner.ts': 'export const needleTwo = 2;\n',
    });
    const ctx = toolContext(repo.dir);
    const search = (await callTool(ctx, 'search_code', { pattern: 'needle' })) as { output: string };
    expect(search.output).toContain('odd\\name.ts:1:');
    expect(search.output).toContain('%2e%2e/inner.ts:1:');
    const listing = (await callTool(ctx, 'list_files', { depth: 3 })) as { output: string };
    expect(listing.output).toMatch(/^\s*odd\\name\.ts$/m);
    expect(listing.output).toMatch(/^\s*inner\.ts$/m);
  });
});

describe('a folder swapped for a symlink to outside while the tools write into it', () => {
  it('no write lands outside: through the tools (≥ 300 writes and 100 edits) and straight through safe-fs (≥ 300 writes)', async () => {
    const DECOY = 'value = 0\n';
    const outside = await temp({ 'edit.txt': DECOY });
    const repo = await temp({ 'swap/edit.txt': DECOY, 'src/a.ts': 'export const a = 1;\n' });
    const ctx = toolContext(repo.dir);
    const swapper = await startSwapper(repo.dir, outside.dir);
    type Tally = {
      written: number;
      refused: number;
      absent: number;
      other: string[];
      why: Map<string, number>;
    };
    const tally = (): Tally => ({ written: 0, refused: 0, absent: 0, other: [], why: new Map() });
    const tools = tally();
    const direct = tally();
    const reason = (message: string) =>
      /symbolic link/.test(message)
        ? 'link out'
        : /changing|changed/.test(message)
          ? 'changed while opened'
          : /could not be resolved/.test(message)
            ? 'pre-check could not resolve'
            : message;
    const count = (tally: Tally, res: unknown) => {
      if (isAvatarError(res, 'PATH_ESCAPE')) {
        tally.refused++;
        const why = reason(res.message);
        tally.why.set(why, (tally.why.get(why) ?? 0) + 1);
      }
      // edit_file while the folder was neither there nor a link (between the swapper's two renames)
      else if (isAvatarError(res, 'TOOL_INVALID') && /no such file/.test(res.message)) tally.absent++;
      else if (res instanceof Error) tally.other.push(res.message);
      else tally.written++;
    };
    let toolWrites = 0;
    let toolEdits = 0;
    let directWrites = 0;
    const started = Date.now();
    let swaps: { swaps: number; linked: number };
    try {
      // At least 300 writes each; more (up to 3000) until both outcomes were seen, should the other
      // process have been descheduled in one state for a while.
      const more = (t: Tally, i: number) => i < 300 || ((t.written === 0 || t.refused === 0) && i < 3000);
      for (let i = 0; more(tools, i); i++) {
        count(
          tools,
          await callTool(ctx, 'write_file', { path: `swap/tool-${i}.txt`, content: `write ${i}\n` }),
        );
        toolWrites++;
        if (i % 3 === 0) {
          const edit = { path: 'swap/edit.txt', old_text: 'value = ', new_text: 'value = x' };
          count(tools, await callTool(ctx, 'edit_file', edit));
          toolEdits++;
        }
      }
      // Without the tools' lexical pre-check (RepoPaths.resolve): the descriptor walk alone.
      for (let i = 0; more(direct, i); i++) {
        directWrites++;
        const res = await writeRepoFile(repo.dir, `swap/direct-${i}.txt`, `direct ${i}\n`).then(
          (r) => r,
          (err: unknown) => err,
        );
        count(direct, res);
      }
    } finally {
      swaps = await swapper.stop();
    }
    const ms = Date.now() - started;
    const reasons = (t: Tally) => [...t.why].map(([k, n]) => `${n} ${k}`).join(', ');

    // Nothing outside but the decoy, which no edit changed.
    expect(await filesIn(outside.dir)).toEqual(['edit.txt']);
    expect(await readFile(path.join(outside.dir, 'edit.txt'), 'utf8')).toBe(DECOY);
    // Whatever was written is inside (in swap/, or a folder the swapper moved aside).
    const found = await filesIn(repo.dir);
    const toolFiles = found.filter((f) => /(^|\/)tool-\d+\.txt$/.test(f)).length;
    const directFiles = found.filter((f) => /(^|\/)direct-\d+\.txt$/.test(f)).length;
    const edits = (await readFile(path.join(repo.dir, 'swap/edit.txt'), 'utf8')).split('x').length - 1;
    expect([...tools.other, ...direct.other], 'errors other than a refusal').toEqual([]);
    expect(toolWrites).toBeGreaterThanOrEqual(300);
    expect(directWrites).toBeGreaterThanOrEqual(300);
    expect(tools.written + tools.refused + tools.absent).toBe(toolWrites + toolEdits);
    expect(direct.written + direct.refused).toBe(directWrites);
    expect(toolFiles + edits).toBe(tools.written);
    expect(directFiles).toBe(direct.written);
    // The race was really run: some calls met the link (refused), some the folder (written).
    for (const t of [tools, direct]) {
      expect(t.refused).toBeGreaterThan(0);
      expect(t.written).toBeGreaterThan(0);
    }
    expect(swaps.linked).toBeGreaterThan(0);
    console.log(
      `symlink-swap race: ${swaps.swaps} swaps (${swaps.linked} times a link) in ${ms} ms; ` +
        `tools: ${toolWrites} write_file + ${toolEdits} edit_file: ${tools.written} written inside (${toolFiles} files, ${edits} edits), ` +
        `${tools.refused} refused (${reasons(tools)}), ${tools.absent} edits found no folder; ` +
        `safe-fs alone: ${directWrites} writes: ${direct.written} written inside, ${direct.refused} refused (${reasons(direct)}); 0 outside`,
    );
  });
});

describe('FIFOs', () => {
  it('the file tools refuse a FIFO at once instead of hanging on it', async () => {
    const repo = await temp({ 'src/a.ts': 'export const a = 1;\n' });
    const fifo = path.join(repo.dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const ctx = toolContext(repo.dir);
    try {
      const calls: Array<[string, Record<string, unknown>]> = [
        ['read_file', { path: 'pipe' }],
        ['edit_file', { path: 'pipe', old_text: 'a', new_text: 'b' }],
        ['write_file', { path: 'pipe', content: 'x\n' }],
      ];
      for (const [tool, args] of calls) {
        const started = Date.now();
        const res = await within(callTool(ctx, tool, args), 3000);
        expect(res, `${tool} on a FIFO`).not.toBe('hung');
        expect(Date.now() - started).toBeLessThan(3000);
        expect(isAvatarError(res), `${tool} answered ${JSON.stringify(res)}`).toBe(true);
        expect((res as Error).message).toMatch(/pipe.*FIFO|refused.*pipe/);
      }
      const search = await within(callTool(ctx, 'search_code', { pattern: 'a' }), 3000);
      expect((search as { output: string }).output).toContain('src/a.ts');
      const listing = await within(callTool(ctx, 'list_files', {}), 3000);
      expect((listing as { output: string }).output).toContain('pipe');
      expect((await lstat(fifo)).isFIFO()).toBe(true);
    } finally {
      // Unblocks a reader or writer a broken implementation left hanging (the test then fails, not hangs).
      for (const flag of [constants.O_WRONLY, constants.O_RDONLY]) {
        const h = await open(fifo, flag | constants.O_NONBLOCK).catch(() => undefined);
        await h?.close();
      }
    }
  });

  it('the context builder skips FIFOs among the instruction and style files without hanging', async () => {
    const repo = await temp({
      'package.json': JSON.stringify({ name: 'fifo', scripts: { test: 'node --test' } }),
      'src/index.ts': 'export function hello(): string {\n  return "hi";\n}\n',
    });
    const fifos = ['.cursorrules', '.editorconfig', '.prettierrc', 'AGENTS.md'].map((n) =>
      path.join(repo.dir, n),
    );
    for (const f of fifos) execFileSync('mkfifo', [f]);
    try {
      const prepared = await within(
        prepareIntro({
          repoDir: repo.dir,
          task: {
            id: 1,
            title: 'Say hello',
            description: 'Change hello() in src/index.ts.',
            code_branch: 'b',
          },
          budgetTokens: 8000,
          repoMapTokens: 1000,
          log: () => undefined,
        }),
        10_000,
      );
      expect(prepared).not.toBe('hung');
      expect(prepared && prepared !== 'hung' ? prepared.intro : '').toContain('src/index.ts');
    } finally {
      for (const f of fifos) {
        for (const flag of [constants.O_WRONLY, constants.O_RDONLY]) {
          const h = await open(f, flag | constants.O_NONBLOCK).catch(() => undefined);
          await h?.close();
        }
      }
    }
  });
});

describe('the context builder and links out of the repository', () => {
  it('puts nothing of /proc/self/environ or /etc/passwd in the first message (a child process with a planted variable)', async () => {
    const canary = `numa-canary-${process.pid}-${Date.now().toString(36)}`;
    const repo = await temp({
      'package.json': JSON.stringify({ name: 'links', scripts: { test: 'node --test' } }),
      'src/index.ts': 'export function greet(name: string): string {\n  return `hi ${name}`;\n}\n',
      '.cursor/rules/style.md': 'Use two spaces.\n',
    });
    const links: Array<[string, string]> = [
      ['.editorconfig', '/proc/self/environ'],
      ['README.md', '/etc/passwd'],
      ['AGENTS.md', '/proc/self/environ'],
      ['CLAUDE.md', '../../../../../../../../proc/self/environ'],
      ['CONTRIBUTING.md', '/etc/passwd'],
      ['.cursorrules', '/proc/self/environ'],
      ['.prettierrc', '/proc/self/environ'],
      ['tsconfig.json', '/proc/self/environ'],
      ['pyproject.toml', '/proc/self/environ'],
      ['.github', '/proc/self'],
      ['src/leak.ts', '/proc/self/environ'],
      ['docs', '/etc'],
    ];
    for (const [name, to] of links) await symlink(to, path.join(repo.dir, name));
    // A folder that is a link to outside, with the instruction file names inside it.
    await symlink('/proc/self', path.join(repo.dir, '.cursor/rules/outside'));

    const script = `
      const { prepareIntro } = await import(${JSON.stringify(path.join(REPO_ROOT, 'container/runner/context/intro.ts'))});
      const fs = await import('node:fs');
      const prepared = await prepareIntro({
        repoDir: process.argv[1],
        task: { id: 1, title: 'Greet', description: 'Change greet() in src/index.ts; see README.md and .editorconfig.', code_branch: 'b' },
        budgetTokens: 12000,
        repoMapTokens: 2000,
        log: (l) => process.stderr.write(l + '\\n'),
      });
      const environ = fs.readFileSync('/proc/self/environ', 'latin1');
      process.stdout.write(JSON.stringify({ intro: prepared?.intro ?? null, planted: environ.includes(process.env.NUMA_LINK_CANARY) }));
    `;
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script, repo.dir],
      { cwd: REPO_ROOT, env: { ...process.env, NUMA_LINK_CANARY: canary }, maxBuffer: 16 * 1024 * 1024 },
    );
    const { intro, planted } = JSON.parse(stdout) as { intro: string | null; planted: boolean };
    // The variable really is in the child's /proc/self/environ: had a link been followed, it would show.
    expect(planted).toBe(true);
    expect(intro, stderr).not.toBeNull();
    expect(intro).toContain('src/index.ts');
    expect(intro).toContain('greet');
    for (const text of [intro!, stderr]) {
      expect(text).not.toContain(canary);
      expect(text).not.toContain('NUMA_LINK_CANARY');
      expect(text).not.toMatch(/root:x?:0:0/);
      expect(text).not.toMatch(/\bPATH=/);
    }
  });
});

describe('before the commit', () => {
  const CONFIG: VerifyConfig = {
    setup: { commands: [], timeout: 60 },
    gates: { lint: false, secrets: 'block', test_edits: 'flag', dangerous: 'off' },
    tests: { flaky_reruns: 0 },
    limits: { test_timeout: 60, command_timeout: 60 },
    // These repositories have no tests: what is checked here is the files gate.
    verify: { allow_unverified: true },
  };

  async function gitRepo(): Promise<TempRepo> {
    const repo = await temp({ 'README.md': '# app\n', 'src/a.txt': 'a\n' });
    await run('git', ['init', '-q', '-b', 'main', repo.dir]);
    await run('git', ['-C', repo.dir, 'add', '-A']);
    await run('git', ['-C', repo.dir, '-c', 'user.name=t', '-c', 'user.email=t@x', 'commit', '-qm', 'init']);
    return repo;
  }

  function verifier(dir: string, lines: string[], config: VerifyConfig = CONFIG): Verifier {
    return new Verifier({
      repoDir: dir,
      config,
      detected: undefined,
      task: { title: 't', description: 't' },
      git: createNativeGit(),
      secrets: [],
      checkSyntax: null,
      log: (l) => lines.push(l),
    });
  }

  it('limits.max_file_bytes: 10 MiB by default, validated', () => {
    expect(configSchema.parse({}).limits.max_file_bytes).toBe(10 * 1024 * 1024);
    expect(DEFAULT_MAX_FILE_BYTES).toBe(10 * 1024 * 1024);
    expect(configSchema.parse({ limits: { max_file_bytes: 4096 } }).limits.max_file_bytes).toBe(4096);
    for (const bad of [0, -1, 1.5, '10MB']) {
      expect(configSchema.safeParse({ limits: { max_file_bytes: bad } }).success, String(bad)).toBe(false);
    }
  });

  it('refuses an absolute symlink, a `..` symlink and an 11 MB file, naming each; links inside and small files pass', async () => {
    const repo = await gitRepo();
    const outside = await temp({ 'x.txt': 'outside\n' });
    const r = (p: string) => path.join(repo.dir, p);
    await symlink('/etc/passwd', r('abs-link'));
    await symlink(path.relative(path.join(repo.dir, 'src'), outside.dir), r('src/climb'));
    await writeFile(r('big.bin'), Buffer.alloc(11 * 1024 * 1024, 'a'));
    await symlink('a.txt', r('src/fine-link'));
    await writeFile(r('small.txt'), 'small\n');

    const lines: string[] = [];
    const v = verifier(repo.dir, lines);
    const problem = await v.verifyChange();
    expect(problem?.kind).toBe('gates');
    const request = problem!.request.output;
    expect(request).toMatch(/abs-link: a symbolic link to the absolute path "\/etc\/passwd"/);
    expect(request).toMatch(/src\/climb: a symbolic link to ".*", which climbs out of the repository/);
    expect(request).toMatch(/big\.bin: 11\.0 MiB \(11534336 bytes\), larger than limits\.max_file_bytes/);
    expect(request).not.toMatch(/fine-link|small\.txt/);
    expect(request).not.toContain('root:');
    expect(isAvatarError(problem!.error, 'GATE_BLOCKED')).toBe(true);
    expect(problem!.error.message).toMatch(/abs-link.*src\/climb|big\.bin.*abs-link/);
    for (const name of ['abs-link', 'big.bin', 'src/climb']) expect(problem!.error.message).toContain(name);
    expect(v.report.gates.files?.findings.map((f) => [f.file, f.kind])).toEqual([
      ['abs-link', 'symlink_outside'],
      ['big.bin', 'too_large'],
      ['src/climb', 'symlink_outside'],
    ]);
    expect(lines.join('\n')).toMatch(/gate files: refused: abs-link/);

    // The commit step refuses it too, whatever happened before.
    const err = await v.beforeCommit().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAvatarError(err, 'GATE_BLOCKED')).toBe(true);
    for (const name of ['abs-link', 'big.bin', 'src/climb']) expect((err as Error).message).toContain(name);
    expect(v.report.outcome).toBe('gate_blocked');
  });

  it('a link chain that ends outside, a hard link, odd names and a lower limit are refused; a clean change passes', async () => {
    const repo = await gitRepo();
    const outside = await temp({ 'x.txt': 'outside\n' });
    const r = (p: string) => path.join(repo.dir, p);
    // `hop` is already committed; the change adds `chain -> hop/x.txt`, which ends outside.
    await symlink(outside.dir, r('hop'));
    await run('git', ['-C', repo.dir, 'add', 'hop']);
    await run('git', ['-C', repo.dir, '-c', 'user.name=t', '-c', 'user.email=t@x', 'commit', '-qm', 'hop']);
    await symlink('hop/x.txt', r('chain'));
    await link(path.join(outside.dir, 'x.txt'), r('hard.txt'));
    await writeFile(r('medium.txt'), 'm'.repeat(5000));
    // Names the agent's paths may not use, but a file may have: the gate still sees them.
    await writeFile(r('odd\\name.bin'), 'o'.repeat(5000));
    await symlink('/etc/passwd', r('%2e%2e'));
    const lines: string[] = [];
    const v = verifier(repo.dir, lines, { ...CONFIG, limits: { ...CONFIG.limits, max_file_bytes: 4096 } });
    const problem = await v.verifyChange();
    expect(v.report.gates.files?.findings.map((f) => [f.file, f.kind])).toEqual([
      ['%2e%2e', 'symlink_outside'],
      ['chain', 'symlink_outside'],
      ['hard.txt', 'hard_link'],
      ['medium.txt', 'too_large'],
      ['odd\\name.bin', 'too_large'],
    ]);
    expect(problem?.request.output).toMatch(/chain: .*resolves outside the repository through another link/);

    const clean = await gitRepo();
    await symlink('src/a.txt', path.join(clean.dir, 'alias'));
    await writeFile(path.join(clean.dir, 'src/b.txt'), 'b\n');
    const cleanLines: string[] = [];
    const ok = verifier(clean.dir, cleanLines);
    expect(await ok.verifyChange()).toBeUndefined();
    await ok.beforeCommit();
    expect(ok.report.gates.files?.findings).toEqual([]);
    expect(cleanLines.join('\n')).toMatch(/gate files: ok/);
  });
});
