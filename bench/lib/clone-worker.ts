/**
 * One measured git operation in a process of its own (run by bench/clone-compare.ts as
 * `node --import tsx bench/lib/clone-worker.ts '<json>'`), so that its peak memory is its own:
 *   {"op": "baseline"}                                   load the modules, do nothing
 *   {"op": "clone", "engine", "url", "dir"}              a cold clone (depth 1, single branch)
 *   {"op": "cache", "engine", "url", "dir", "cacheRoot"} the code cache: restore + adopt + fetch + checkout
 * Prints one JSON line: {"ms": wall time of the operation, "maxRssKB": this process's max RSS}.
 * `gitBinary` / `tarBinary` let the caller wrap the binaries (with /usr/bin/time).
 */
import { checkoutFromCodeCache, BlobStoreCodeCache } from '../../container/runner/code-cache.ts';
import { authForUrl, createNativeGit } from '../../container/runner/git/index.ts';
import { createIsomorphicGit } from '../../container/runner/git/isomorphic.ts';
import { FileBlobStore } from '../../adapters/local/file-blob-store.ts';
import { silentLogger } from '../../core/log.ts';

interface Job {
  op: 'baseline' | 'clone' | 'cache';
  engine?: 'native' | 'isomorphic';
  url?: string;
  dir?: string;
  cacheRoot?: string;
  token?: string;
  gitBinary?: string;
  tarBinary?: string;
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const auth = (url: string) => authForUrl(url, job.token, 'avatar');
const git =
  job.engine === 'native'
    ? createNativeGit({ auth, ...(job.gitBinary ? { gitBinary: job.gitBinary } : {}) })
    : createIsomorphicGit({ auth });

const t0 = performance.now();
if (job.op === 'clone') {
  await git.clone({ url: job.url!, dir: job.dir!, branch: 'main', depth: 1 });
} else if (job.op === 'cache') {
  const cache = new BlobStoreCodeCache({
    blobs: new FileBlobStore({ root: job.cacheRoot! }),
    ...(job.tarBinary ? { tarBinary: job.tarBinary } : {}),
  });
  const ok = await checkoutFromCodeCache({
    cache,
    git,
    url: job.url!,
    dir: job.dir!,
    branch: 'main',
    branchExists: true,
    defaultBranch: 'main',
    log: (line) => process.stderr.write(`${line}\n`),
    logger: silentLogger,
  });
  if (!ok) throw new Error('the code cache was not used');
}
const ms = performance.now() - t0;
process.stdout.write(`${JSON.stringify({ ms, maxRssKB: process.resourceUsage().maxRSS })}\n`);
