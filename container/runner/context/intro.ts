/**
 * What the pipeline calls after the clone: builds the task's context, renders the agent's first
 * message within `context.budget_tokens`, and logs what it found to the task (the brief's
 * requirement count, languages, instruction files, repo map size, the first request's estimated
 * tokens). A failure here never fails the run: it is logged and the agent gets the plain brief.
 */
import { describeError } from '../../../core/errors.ts';
import type { NumaClient } from '../../../core/numa/client.ts';
import { renderIntroDetailed } from '../agent/prompt.ts';
import { buildTaskContext } from './index.ts';
import type { BuildContextOptions, TaskContext, TaskInfo } from './index.ts';
import type { TaskBrief } from './brief.ts';

export interface IntroOptions {
  repoDir: string;
  task: TaskInfo;
  client?: Pick<NumaClient, 'getOptional'>;
  /** config.context */
  budgetTokens: number;
  repoMapTokens: number;
  testCommand?: string;
  log: (line: string) => void;
  signal?: AbortSignal;
  /** Passed through (tests and the bench). */
  build?: Partial<Pick<BuildContextOptions, 'maxFiles' | 'maxParseFiles' | 'now'>>;
}

export interface PreparedIntro {
  intro: string;
  brief: TaskBrief;
  context: TaskContext;
  requestTokens: number;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The first message and what it was built from; undefined (logged) when the context could not be built. */
export async function prepareIntro(opts: IntroOptions): Promise<PreparedIntro | undefined> {
  try {
    const { brief, context } = await buildTaskContext({
      repoDir: opts.repoDir,
      task: opts.task,
      client: opts.client,
      repoMapTokens: opts.repoMapTokens,
      testCommand: opts.testCommand,
      log: opts.log,
      signal: opts.signal,
      ...opts.build,
    });
    const rendered = renderIntroDetailed(brief, context, opts.budgetTokens);
    const { project, repoMap, stats } = context;
    const log = opts.log;
    log(
      `brief: ${plural(brief.requirements.length, 'requirement')}, ${plural(brief.acceptance.length, 'acceptance criterion', 'acceptance criteria')}` +
        `${brief.acceptanceDerived ? ' (derived)' : ''}, ${plural(brief.likelyFiles.length, 'likely file')}` +
        `${
          brief.likelyFiles.length > 0
            ? ` (${brief.likelyFiles
                .slice(0, 3)
                .map((f) => f.path)
                .join(', ')}${brief.likelyFiles.length > 3 ? ', …' : ''})`
            : ''
        }` +
        `${brief.documents.length > 0 ? `, linked ${brief.documents.map((d) => `${d.kind} ${d.id}`).join(' and ')}` : ''}`,
    );
    log(
      `project: ${
        project.languages.length > 0
          ? project.languages
              .slice(0, 4)
              .map((l) => `${l.name} ${l.files}`)
              .join(', ')
          : 'no source files recognised'
      }` +
        `${project.packageManagers.length > 0 ? `; ${project.packageManagers.join(', ')}` : ''}` +
        `; instruction files: ${project.instructions.length > 0 ? project.instructions.map((f) => f.path).join(', ') : 'none'}` +
        `${project.styles.length > 0 ? `; style configs: ${project.styles.map((s) => s.path).join(', ')}` : ''}`,
    );
    const cut = rendered.sections.filter((s) => s.fate !== 'kept');
    log(
      `context: ${stats.files}${stats.filesTruncated ? '+' : ''} files, ${stats.parsed} of ${stats.parseable} source files parsed in ${stats.parseMs} ms; ` +
        `repo map ${repoMap.filesWithSymbols + repoMap.filesPathOnly} files (${repoMap.filesWithSymbols} with ${plural(repoMap.symbolsShown, 'symbol')}), ~${repoMap.tokens} tokens; ` +
        `first request ~${rendered.requestTokens} of ${opts.budgetTokens} tokens` +
        `${cut.length > 0 ? ` (${cut.map((s) => `${s.id} ${s.fate}`).join(', ')})` : ''}; built in ${stats.totalMs} ms`,
    );
    return { intro: rendered.text, brief, context, requestTokens: rendered.requestTokens };
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    opts.log(`could not build the task's context (the agent gets the plain task): ${describeError(err)}`);
    return undefined;
  }
}
