/**
 * The review of edits to existing tests at submit time. An agent that cannot make a test pass is
 * tempted to change the test; unless the task asks for test changes (its text mentions tests or
 * that file), an edit to a test file that existed before the run is reverted (`revert`: the
 * original content is restored, and the tests run again) or kept and reported (`flag`). New test
 * files are always welcome. The originals are read right after the clone, before anything ran.
 */
import { lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

const TEST_DIRS = new Set([
  'test',
  'tests',
  '__tests__',
  'spec',
  'specs',
  'testing',
  'e2e',
  'integration_tests',
]);

/** Whether a repository-relative path is a test file by the usual conventions of the common languages. */
export function isTestFile(file: string): boolean {
  const parts = file.split('/');
  const base = parts.at(-1) ?? '';
  if (/\.(?:md|txt|rst|json|lock|ya?ml|toml|snap)$/i.test(base) && !/\.(?:test|spec)\./i.test(base)) {
    return false; // data and docs next to tests are not tests
  }
  if (/\.(?:test|spec|e2e-spec|e2e)\.[cm]?[jt]sx?$/i.test(base)) return true;
  if (/^test_.+\.py$|^.+_test\.py$|^conftest\.py$/.test(base)) return true;
  if (/_test\.go$/.test(base)) return true;
  if (/_(?:spec|test)\.rb$/.test(base)) return true;
  if (/(?:Test|Tests|IT|Spec)\.(?:java|kt|scala|cs|swift)$/.test(base)) return true;
  if (/^test_.+\.(?:c|cc|cpp|rs)$|^.+_test\.(?:c|cc|cpp|rs|exs)$/.test(base)) return true;
  if (/\.(?:bats|t)$/.test(base)) return true;
  return (
    parts.slice(0, -1).some((d) => TEST_DIRS.has(d.toLowerCase())) ||
    (parts[0] === 'src' && parts[1] === 'test')
  );
}

/** Words that ask for test work, in a few languages (the task's text may be in any). */
const TEST_WORDS =
  /(?:^|[^\p{L}\p{N}_])(?:tests?|testing|tested|specs?|unit[- ]?tests?|test[- ]?suite|test[- ]?cases?|fixtures?|pruebas?|testes?|essais?|testen|testy?|tesztek?|тест\p{L}*|тести\p{L}*)(?=$|[^\p{L}\p{N}_])/iu;
const TEST_WORDS_CJK = /测试|測試|テスト|테스트|单元测试/;

/** Whether the task's text asks for changes to tests in general or to this file. */
export function taskAllowsTestEdit(taskText: string, file: string): boolean {
  if (TEST_WORDS.test(taskText) || TEST_WORDS_CJK.test(taskText)) return true;
  const lower = taskText.toLowerCase();
  const base = path.posix.basename(file).toLowerCase();
  const stem = base.replace(/\.[^.]+$/, '');
  return (
    lower.includes(file.toLowerCase()) || lower.includes(base) || (stem.length >= 4 && lower.includes(stem))
  );
}

const SKIP_DIRS = new Set([
  '.git',
  'node_modules',
  'vendor',
  'target',
  'dist',
  'build',
  '.venv',
  'venv',
  '__pycache__',
  '.tox',
  '.next',
  'coverage',
  '.gradle',
  '.mypy_cache',
  '.pytest_cache',
]);

export interface OriginalsLimits {
  maxFiles: number;
  maxBytes: number;
  maxFileBytes: number;
}

export const DEFAULT_ORIGINALS_LIMITS: OriginalsLimits = {
  maxFiles: 5000,
  maxBytes: 64 * 1024 * 1024,
  maxFileBytes: 2 * 1024 * 1024,
};

/** The test files of the untouched checkout, by repository-relative path. */
export class TestFileOriginals {
  private constructor(
    private readonly files: Map<string, Buffer>,
    /** Test files seen but not kept (over the limits): they can be flagged, not reverted. */
    readonly notKept: Set<string>,
  ) {}

  static async capture(
    repoDir: string,
    limits: OriginalsLimits = DEFAULT_ORIGINALS_LIMITS,
  ): Promise<TestFileOriginals> {
    const files = new Map<string, Buffer>();
    const notKept = new Set<string>();
    let bytes = 0;
    const walk = async (rel: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(path.join(repoDir, rel), { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const child = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          if (!SKIP_DIRS.has(e.name)) await walk(child);
        } else if (e.isFile() && isTestFile(child)) {
          const st = await lstat(path.join(repoDir, child));
          if (
            files.size >= limits.maxFiles ||
            st.size > limits.maxFileBytes ||
            bytes + st.size > limits.maxBytes
          ) {
            notKept.add(child);
            continue;
          }
          files.set(child, await readFile(path.join(repoDir, child)));
          bytes += st.size;
        }
      }
    };
    await walk('');
    return new TestFileOriginals(files, notKept);
  }

  /** Whether the file existed (as a test file) before the run. */
  has(file: string): boolean {
    return this.files.has(file) || this.notKept.has(file);
  }

  get(file: string): Buffer | undefined {
    return this.files.get(file);
  }

  get size(): number {
    return this.files.size + this.notKept.size;
  }
}

export interface TestEdit {
  file: string;
  change: 'modified' | 'deleted';
  /** reverted: restored; flagged: kept and reported (mode flag, or the original was not kept); allowed: the task asks for it. */
  action: 'reverted' | 'flagged' | 'allowed';
}

export interface ReviewOptions {
  repoDir: string;
  /** Changed files (GitEngine.changedFiles). */
  changed: readonly string[];
  originals: TestFileOriginals;
  taskText: string;
  mode: 'revert' | 'flag';
}

export async function reviewTestEdits(opts: ReviewOptions): Promise<TestEdit[]> {
  const edits: TestEdit[] = [];
  for (const file of opts.changed) {
    if (!opts.originals.has(file)) continue; // a new file, or not a test
    const abs = path.join(opts.repoDir, file);
    const original = opts.originals.get(file);
    let current: Buffer | undefined;
    let isLink = false;
    try {
      const st = await lstat(abs);
      isLink = st.isSymbolicLink();
      current = st.isFile() ? await readFile(abs) : undefined;
    } catch {
      current = undefined;
    }
    if (original && current && !isLink && current.equals(original)) continue; // e.g. a mode change only
    const change: TestEdit['change'] = current === undefined && !isLink ? 'deleted' : 'modified';
    if (taskAllowsTestEdit(opts.taskText, file)) {
      edits.push({ file, change, action: 'allowed' });
      continue;
    }
    if (opts.mode === 'flag' || !original || (await hasLinkedParent(opts.repoDir, file))) {
      edits.push({ file, change, action: 'flagged' });
      continue;
    }
    await rm(abs, { recursive: true, force: true });
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, original);
    edits.push({ file, change, action: 'reverted' });
  }
  return edits;
}

/** Whether a folder on the way to `file` is a symbolic link (writing through it could leave the repository). */
async function hasLinkedParent(repoDir: string, file: string): Promise<boolean> {
  const parts = file.split('/').slice(0, -1);
  for (let i = 1; i <= parts.length; i++) {
    try {
      if ((await lstat(path.join(repoDir, ...parts.slice(0, i)))).isSymbolicLink()) return true;
    } catch {
      return false; // missing: mkdir creates real folders
    }
  }
  return false;
}
