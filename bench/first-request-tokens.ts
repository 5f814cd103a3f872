/**
 * Prompt tokens of the agent's first request (system prompt + tool schemas + the first message),
 * and the time to build the task's context, on:
 *   - small: demo/sample-project (4 files);
 *   - synthetic: a TypeScript/Python monorepo generated in a temp dir (bench/synthetic-repo.ts);
 *   - real: the sources of the openai, @aws-sdk/* and @smithy/* packages copied from node_modules
 *     into a temp dir as one tree (7,000+ files of real code; never committed).
 * Tokens are the project's estimate (context/budget.ts) and OpenAI's o200k_base and cl100k_base
 * tokenizers (gpt-tokenizer), per budget. Times are the median of `runs` builds (default 3).
 *   npx tsx bench/first-request-tokens.ts [runs]
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { encode as encodeCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode as encodeO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { briefMessage, renderIntroDetailed, systemPrompt } from '../container/runner/agent/prompt.ts';
import { TOOL_DEFINITIONS } from '../container/runner/agent/schemas.ts';
import { listRepoFiles } from '../container/runner/context/files.ts';
import { buildTaskContext } from '../container/runner/context/index.ts';
import type { TaskInfo } from '../container/runner/context/index.ts';
import { extractSymbols } from '../container/runner/context/symbols.ts';
import { generateSyntheticRepo } from './synthetic-repo.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const runs = Number(process.argv[2] ?? 3);
const BUDGETS = [8000, 4000];

interface Case {
  name: string;
  dir: string;
  task: TaskInfo;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A task that names one file of the tree and a symbol it defines. */
async function taskFor(dir: string, pick: (rel: string) => boolean, title: string): Promise<TaskInfo> {
  const { files } = await listRepoFiles(dir);
  const candidates = files.filter((f) => pick(f.rel));
  for (const f of candidates.slice(Math.floor(candidates.length / 2))) {
    const text = await import('node:fs/promises').then((fs) => fs.readFile(path.join(dir, f.rel), 'utf8'));
    const sym = (await extractSymbols(f.rel, text))?.find((s) => s.exported && s.depth === 0);
    if (sym) {
      return {
        id: 1,
        title,
        description: `\`${sym.name}\` in ${f.rel} mishandles an empty input: return an empty result instead of throwing.\n\nAcceptance criteria:\n- a test covers the empty input\n- the project's tests pass`,
        code_branch: 'fix/empty-input',
      };
    }
  }
  throw new Error(`no file with an exported symbol in ${dir}`);
}

const cleanup: string[] = [];
// A build runs in a fresh process for the first figure: the grammars load on first use.
const cases: Case[] = [];

cases.push({
  name: 'small (demo/sample-project)',
  dir: path.join(ROOT, 'demo/sample-project'),
  task: {
    id: 1,
    title: 'Add titleCase',
    description:
      'Add `titleCase(text)` to src/strings.js: capitalise the first letter of every word.\n\n验收标准：\n- 新函数有测试\n- npm test 通过',
    code_branch: 'feature/title-case',
  },
});

const synthDir = await mkdtemp(path.join(os.tmpdir(), 'numa-bench-synth-'));
cleanup.push(synthDir);
const synth = await generateSyntheticRepo(synthDir);
cases.push({
  name: `synthetic monorepo (${synth.files} files written)`,
  dir: synthDir,
  task: {
    id: 2,
    title: 'Fix the off-by-one in the session helper',
    description: `\`${synth.target.symbol}\` in ${synth.target.path} adds one too many.\n\n验收标准：测试通过`,
    code_branch: 'fix/off-by-one',
  },
});

const realDir = await mkdtemp(path.join(os.tmpdir(), 'numa-bench-real-'));
cleanup.push(realDir);
for (const pkg of ['openai', '@aws-sdk', '@smithy']) {
  await cp(path.join(ROOT, 'node_modules', pkg), path.join(realDir, 'packages', pkg), {
    recursive: true,
    filter: (src) => !src.split(path.sep).slice(-1)[0]!.startsWith('node_modules'),
  });
}
cases.push({
  name: 'real tree (openai + @aws-sdk + @smithy sources)',
  dir: realDir,
  task: await taskFor(
    realDir,
    (rel) => rel.startsWith('packages/openai/src/resources/') && rel.endsWith('.ts'),
    'Handle empty input',
  ),
});

interface Row {
  name: string;
  files: number;
  parsed: string;
  coldMs: number;
  buildMs: number;
  parseMs: number;
  plainTokens: number;
  perBudget: Array<{ budget: number; est: number; o200k: number; cl100k: number; cut: string }>;
}

const rows: Row[] = [];
const shown = new Map<string, string>();
const toolsJson = JSON.stringify(TOOL_DEFINITIONS);
const realTokens = (system: string, intro: string) => ({
  o200k: encodeO200k(system).length + encodeO200k(toolsJson).length + encodeO200k(intro).length,
  cl100k: encodeCl100k(system).length + encodeCl100k(toolsJson).length + encodeCl100k(intro).length,
});

for (const c of cases) {
  const times: number[] = [];
  const parseTimes: number[] = [];
  let built: Awaited<ReturnType<typeof buildTaskContext>> | undefined;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    built = await buildTaskContext({
      repoDir: c.dir,
      task: c.task,
      repoMapTokens: 3000,
      log: () => undefined,
    });
    times.push(performance.now() - t0);
    parseTimes.push(built.context.stats.parseMs);
  }
  const { brief, context } = built!;
  const system = systemPrompt(brief);
  const plain = realTokens(system, briefMessage(brief));
  const perBudget = BUDGETS.map((budget) => {
    const r = renderIntroDetailed(brief, context, budget);
    if (budget === BUDGETS[0]) shown.set(c.name, r.text);
    const real = realTokens(system, r.text);
    const cut = r.sections.filter((s) => s.fate !== 'kept').map((s) => `${s.id} ${s.fate}`);
    return { budget, est: r.requestTokens, ...real, cut: cut.join(', ') || 'none' };
  });
  rows.push({
    name: c.name,
    files: context.stats.files,
    parsed: `${context.stats.parsed} / ${context.stats.parseable}`,
    coldMs: times[0]!,
    buildMs: median(times),
    parseMs: median(parseTimes),
    plainTokens: plain.o200k,
    perBudget,
  });
}

console.log(
  `first-request tokens (node ${process.version}, ${os.cpus().length} cores; builds: median of ${runs})\n`,
);
console.log(
  '| repository | files seen | parsed | build context (first) | build context (median) | of which parsing | no-context request (o200k) |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- |');
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
for (const r of rows) {
  console.log(
    `| ${r.name} | ${r.files} | ${r.parsed} | ${s(r.coldMs)} | ${s(r.buildMs)} | ${s(r.parseMs)} | ${r.plainTokens} |`,
  );
}
if (process.env.BENCH_SHOW_INTRO) {
  for (const c of cases) console.log(`\n----- ${c.name}\n${shown.get(c.name) ?? ''}`);
}
console.log('\n| repository | budget | estimate | o200k | cl100k | holds | sections cut |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
let allHold = true;
for (const r of rows) {
  for (const b of r.perBudget) {
    const holds = b.est <= b.budget && b.o200k <= b.budget && b.cl100k <= b.budget;
    allHold &&= holds;
    console.log(
      `| ${r.name} | ${b.budget} | ${b.est} | ${b.o200k} | ${b.cl100k} | ${holds ? 'yes' : 'NO'} | ${b.cut} |`,
    );
  }
}
console.log(`\nbudget holds everywhere: ${allHold ? 'yes' : 'NO'}`);
await Promise.all(cleanup.map((d) => rm(d, { recursive: true, force: true })));
if (!allHold) process.exitCode = 1;
