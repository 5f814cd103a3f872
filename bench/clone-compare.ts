/**
 * Clone time and peak memory: isomorphic-git against the `git` binary, on a generated repository
 * of 3,000+ files served by servers/git-http (real smart HTTP on 127.0.0.1, token auth), cold (a
 * depth-1 single-branch clone, as the runner does) and with the code cache warm
 * (container/runner/code-cache.ts BlobStoreCodeCache over a FileBlobStore: restore the archived
 * .git, then fetch the one commit pushed since and check it out), in the same run.
 *
 *   npx tsx bench/clone-compare.ts [rounds, default 3]
 *
 * Every operation runs in a fresh Node process of its own (bench/lib/clone-worker.ts), the four
 * variants in a rotating order each round; medians are reported. Memory:
 *   - isomorphic-git: the worker's max RSS (getrusage), and the same for a worker that loads the
 *     same modules and does nothing (the Node baseline);
 *   - native git: the largest git (or tar) process, exactly (`/usr/bin/time -f %M` wraps the
 *     binaries), and the peak sum of RSS over the worker's child processes (git, git-remote-http,
 *     index-pack, tar running at once), sampled from /proc every 10 ms; the worker itself (Node,
 *     which holds the cache archive in memory on the warm path) is reported too.
 */
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { FileBlobStore } from '../adapters/local/file-blob-store.ts';
import { BlobStoreCodeCache } from '../container/runner/code-cache.ts';
import { authForUrl, createNativeGit } from '../container/runner/git/index.ts';
import { createBareRepo, startGitServer } from '../servers/git-http/index.ts';
import { median, ratio, secs, seeded, sleep } from './lib/stats.ts';
import { generateSyntheticRepo } from './synthetic-repo.ts';

const run = promisify(execFile);
const ROUNDS = Number(process.argv[2] ?? 3);
const ROOT = path.resolve(import.meta.dirname, '..');
const WORKER = path.join(ROOT, 'bench/lib/clone-worker.ts');
const USER = 'avatar';
const TOKEN = 'bench-git-token-0123456789';

type Variant = 'native cold' | 'isomorphic cold' | 'native warm cache' | 'isomorphic warm cache';
interface Measured {
  ms: number;
  workerKB: number;
  /** Largest single git/tar process (native only), KB. */
  largestKB: number;
  /** Peak sum of the worker's children, KB (sampled). */
  treeKB: number;
}

/** Children (recursively) of `pid`, from /proc/<pid>/task/<pid>/children. */
async function descendants(pid: number): Promise<number[]> {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    const text = await readFile(`/proc/${p}/task/${p}/children`, 'utf8').catch(() => '');
    for (const c of text.trim().split(/\s+/).filter(Boolean).map(Number)) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

async function rssKB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
}

async function runWorker(job: Record<string, unknown>, timeFile?: string): Promise<Measured> {
  if (timeFile) await writeFile(timeFile, '');
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(job)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  let treeKB = 0;
  let done = false;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      done = true;
      resolve(code);
    }),
  );
  const sampler = (async () => {
    while (!done) {
      // /usr/bin/time wrappers are not what is measured: only their children (git, tar, helpers).
      const kids = await descendants(child.pid!);
      let sum = 0;
      for (const k of kids) {
        const comm = (await readFile(`/proc/${k}/comm`, 'utf8').catch(() => '')).trim();
        if (comm !== 'time' && comm !== 'sh') sum += await rssKB(k);
      }
      treeKB = Math.max(treeKB, sum);
      await sleep(10);
    }
  })();
  const code = await exited;
  await sampler;
  if (code !== 0) throw new Error(`worker ${JSON.stringify(job)} exited ${code}:\n${err}`);
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as { ms: number; maxRssKB: number };
  let largestKB = 0;
  if (timeFile) {
    for (const line of (await readFile(timeFile, 'utf8')).split('\n')) {
      const m = /^(\d+) /.exec(line);
      if (m) largestKB = Math.max(largestKB, Number(m[1]));
    }
  }
  return { ms: r.ms, workerKB: r.maxRssKB, largestKB, treeKB };
}

const tmp = await mkdtemp(path.join(os.tmpdir(), 'numa-bench-clone-'));
try {
  // The repository: the synthetic monorepo (3,000+ files), one commit, served over smart HTTP.
  const src = path.join(tmp, 'src');
  // Source files of a realistic size (about 4 KB of TypeScript or Python each).
  const generated = await generateSyntheticRepo(src, { functionsPerModule: 20 });
  // The generator's modules differ in a few names only, which compresses far better than real code
  // (20 MB into a 0.6 MB pack): each source file gets a block of seeded random text (fixtures,
  // tables, comments), so the pack is a few MB, as for a real repository of this many files.
  const random = seeded(42);
  const words = (n: number) =>
    Array.from({ length: n }, () => Math.floor(random() * 36 ** 6).toString(36)).join(' ');
  for (const e of await readdir(src, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || !/\.(ts|py)$/.test(e.name) || e.parentPath.includes('node_modules')) continue;
    const file = path.join(e.parentPath, e.name);
    const marker = e.name.endsWith('.py') ? '#' : '//';
    const block = Array.from({ length: 12 }, () => `${marker} ${words(12)}`).join('\n');
    await writeFile(file, `${await readFile(file, 'utf8')}\n${block}\n`);
  }
  const gitRoot = path.join(tmp, 'git');
  const bare = await createBareRepo(gitRoot, 'synthetic', { sourceDir: src });
  const files = (
    await run('git', ['--git-dir', bare, 'ls-tree', '-r', '--name-only', 'main'], { maxBuffer: 64 << 20 })
  ).stdout
    .trim()
    .split('\n').length;
  const objectsKB = Number((await run('du', ['-sk', path.join(bare, 'objects')])).stdout.split('\t')[0]);
  const repoKB = Number(
    (await run('du', ['-sk', '--exclude=node_modules', '--exclude=generated', src])).stdout.split('\t')[0],
  );
  const server = await startGitServer({ root: gitRoot, auth: { username: USER, password: TOKEN } });
  const url = server.repoUrl('synthetic');

  // /usr/bin/time around git and tar: the exact peak RSS of each process.
  const timeFile = path.join(tmp, 'time.txt');
  const wrap = async (name: string, binary: string) => {
    const file = path.join(tmp, `${name}-timed`);
    await writeFile(file, `#!/bin/sh\nexec /usr/bin/time -a -o ${timeFile} -f '%M %C' ${binary} "$@"\n`);
    await chmod(file, 0o755);
    return file;
  };
  const gitBinary = await wrap('git', (await run('sh', ['-c', 'command -v git'])).stdout.trim());
  const tarBinary = await wrap('tar', (await run('sh', ['-c', 'command -v tar'])).stdout.trim());

  // The code cache: filled from a clone, then the remote moves one commit (3 files) ahead.
  const cacheRoot = path.join(tmp, 'blobs');
  const native = createNativeGit({ auth: (u) => authForUrl(u, TOKEN, USER) });
  const seed = path.join(tmp, 'seed');
  await native.clone({ url, dir: seed, branch: 'main', depth: 1 });
  await new BlobStoreCodeCache({ blobs: new FileBlobStore({ root: cacheRoot }) }).save(url, seed);
  const archiveKB = Math.round(
    (
      await readFile(
        path.join(cacheRoot, 'cache/git', (await readdir(path.join(cacheRoot, 'cache/git')))[0]!),
      )
    ).length / 1024,
  );
  for (const f of ['README.md', 'docs/guide-1.md', generated.target.path]) {
    await writeFile(path.join(seed, f), `${await readFile(path.join(seed, f), 'utf8')}\n// changed\n`);
  }
  await native.commit(seed, { message: 'one more commit', author: { name: 'b', email: 'b@x' } });
  const pushed = await native.push(seed, 'main');
  if (!pushed.ok) throw new Error('could not move the remote');

  const baselines: number[] = [];
  for (let i = 0; i < 3; i++) baselines.push((await runWorker({ op: 'baseline' })).workerKB);
  const baselineKB = median(baselines);

  const variants: Variant[] = [
    'native cold',
    'isomorphic cold',
    'native warm cache',
    'isomorphic warm cache',
  ];
  const results = new Map<Variant, Measured[]>(variants.map((v) => [v, []]));
  let n = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length]!);
    for (const v of order) {
      const dir = path.join(tmp, 'clones', `${n++}`);
      await mkdir(path.dirname(dir), { recursive: true });
      const engine = v.startsWith('native') ? 'native' : 'isomorphic';
      const job = {
        op: v.endsWith('cold') ? 'clone' : 'cache',
        engine,
        url,
        dir,
        cacheRoot,
        token: TOKEN,
        ...(engine === 'native' ? { gitBinary, tarBinary } : { tarBinary }),
      };
      const m = await runWorker(job, timeFile);
      results.get(v)!.push(m);
      process.stderr.write(
        `${v}: ${secs(m.ms)}, worker ${Math.round(m.workerKB / 1024)} MB, children ${Math.round(m.treeKB / 1024)} MB\n`,
      );
      await rm(dir, { recursive: true, force: true });
    }
  }
  await server.close();

  const med = (v: Variant, k: keyof Measured) => median(results.get(v)!.map((m) => m[k]));
  const mb = (kb: number) => `${(kb / 1024).toFixed(kb < 10 * 1024 ? 1 : 0)} MB`;
  console.log(
    `repository: ${files} files (${generated.files} generated, node_modules/ and ignored files not committed), ${mb(repoKB)} on disk, git objects ${mb(objectsKB)}, ` +
      `code cache archive ${mb(archiveKB)}; ${ROUNDS} rounds, medians; node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}`,
  );
  console.log(`Node worker baseline (modules loaded, nothing done): ${mb(baselineKB)}`);
  console.log(
    '| variant | time | Node process max RSS | largest git/tar process | git/tar processes at once (peak sum) |',
  );
  console.log('| --- | --- | --- | --- | --- |');
  for (const v of variants) {
    const nativeRow = v.startsWith('native');
    console.log(
      `| ${v} | ${secs(med(v, 'ms'))} | ${mb(med(v, 'workerKB'))} | ${med(v, 'largestKB') ? mb(med(v, 'largestKB')) : '–'} | ${nativeRow || med(v, 'treeKB') ? mb(med(v, 'treeKB')) : '–'} |`,
    );
  }
  // The memory of "the process doing it": git's process tree for native, the Node process for isomorphic-git.
  const nativeMem = (v: Variant) => Math.max(med(v, 'treeKB'), med(v, 'largestKB'));
  const isoMem = (v: Variant) => med(v, 'workerKB') + med(v, 'treeKB');
  for (const [iso, nat, label] of [
    ['isomorphic cold', 'native cold', 'cold'],
    ['isomorphic warm cache', 'native warm cache', 'warm cache'],
  ] as const) {
    console.log(
      `${label}: isomorphic-git / git time ${ratio(med(iso, 'ms'), med(nat, 'ms'))}; memory ${ratio(isoMem(iso), nativeMem(nat))} ` +
        `(${mb(isoMem(iso))} Node process vs ${mb(nativeMem(nat))} git processes); ` +
        `over the Node baseline ${ratio(isoMem(iso) - baselineKB, nativeMem(nat))}`,
    );
  }
  console.log(
    `warm cache / cold: native ${ratio(med('native warm cache', 'ms'), med('native cold', 'ms'))}, isomorphic ${ratio(med('isomorphic warm cache', 'ms'), med('isomorphic cold', 'ms'))}`,
  );
} finally {
  await rm(tmp, { recursive: true, force: true });
}
