/**
 * The task's context, built once after the clone: the structured brief (brief.ts), the project's
 * facts and instruction files (project.ts) and the ranked repository map (repo-map.ts). The
 * agent's first message is rendered from it by renderIntro() in agent/prompt.ts, within the
 * first-request budget (budget.ts).
 */
import type { NumaClient } from '../../../core/numa/client.ts';
import { buildBrief, fetchLinkedDocuments } from './brief.ts';
import type { TaskBrief, TaskDocumentIds } from './brief.ts';
import { listRepoFiles } from './files.ts';
import { detectProject } from './project.ts';
import type { ProjectFacts } from './project.ts';
import { indexRepository, rankFiles, renderRepoMap } from './repo-map.ts';
import type { RepoMap } from './repo-map.ts';

export type { LikelyFile, LinkedDocument, Mentions, TaskBrief } from './brief.ts';
export type { ProjectFacts, InstructionFile, StyleConfig, Command } from './project.ts';
export type { RepoMap } from './repo-map.ts';
export { estimateTokens, fitSections, truncateToTokens } from './budget.ts';

export interface TaskContext {
  project: ProjectFacts;
  repoMap: RepoMap;
  stats: {
    /** Files the context saw (after .gitignore, vendored, generated and binary files). */
    files: number;
    filesTruncated: boolean;
    /** Source files parsed with tree-sitter, and how many could have been. */
    parsed: number;
    parseable: number;
    parseMs: number;
    totalMs: number;
  };
}

export interface TaskInfo extends TaskDocumentIds {
  id: string | number;
  title: string;
  description: string;
  code_branch: string;
}

export interface BuildContextOptions {
  repoDir: string;
  task: TaskInfo;
  /** For the task's solution and requirement documents; without it they are not fetched. */
  client?: Pick<NumaClient, 'getOptional'>;
  /** Token budget of the repository map (config context.repo_map_tokens). */
  repoMapTokens: number;
  /** A configured test command (config tests.command). */
  testCommand?: string;
  log: (line: string) => void;
  signal?: AbortSignal;
  /** Caps (defaults: 20 000 files listed, 2 500 parsed). */
  maxFiles?: number;
  maxParseFiles?: number;
  now?: () => number;
}

export async function buildTaskContext(
  opts: BuildContextOptions,
): Promise<{ brief: TaskBrief; context: TaskContext }> {
  const now = opts.now ?? (() => performance.now());
  const started = now();
  const { task } = opts;
  const documentsP = opts.client
    ? fetchLinkedDocuments(opts.client, task, { log: opts.log, signal: opts.signal })
    : Promise.resolve([]);
  const listed = await listRepoFiles(opts.repoDir, { maxFiles: opts.maxFiles, signal: opts.signal });
  const documents = await documentsP;
  const input = {
    taskId: String(task.id),
    title: task.title,
    description: task.description,
    branch: task.code_branch,
    documents,
  };
  // Files the text names are parsed first; identifiers are matched once symbols are known.
  const preliminary = buildBrief(input, listed.files, new Map());
  const index = await indexRepository({
    root: opts.repoDir,
    files: listed.files,
    first: preliminary.likelyFiles.map((f) => f.path),
    maxParseFiles: opts.maxParseFiles,
    signal: opts.signal,
  });
  const brief = buildBrief(input, listed.files, index.defs);
  const focus = new Map(brief.likelyFiles.map((f) => [f.path, f.score] as const));
  const ranked = rankFiles(index, focus);
  const repoMap = renderRepoMap(index, ranked, opts.repoMapTokens, { mentioned: brief.mentions.identifiers });
  const project = await detectProject(opts.repoDir, listed.files, {
    pointedFiles: brief.likelyFiles.map((f) => f.path),
    testCommand: opts.testCommand,
  });
  return {
    brief,
    context: {
      project,
      repoMap,
      stats: {
        files: listed.files.length,
        filesTruncated: listed.truncated,
        parsed: index.stats.parsed,
        parseable: index.stats.parseable,
        parseMs: index.stats.ms,
        totalMs: Math.round(now() - started),
      },
    },
  };
}
