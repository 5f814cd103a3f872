/**
 * The system prompt, the first user message (renderIntro: the structured brief and the project's
 * context within the first-request budget), and the messages the loop adds on the agent's behalf.
 */
import { estimateTokens, fitSections } from '../context/budget.ts';
import type { Section } from '../context/budget.ts';
import type { TaskBrief } from '../context/brief.ts';
import type { TaskContext } from '../context/index.ts';
import { TOOL_DEFINITIONS } from './schemas.ts';
import type { TestRunResult } from './types.ts';

export interface Brief {
  taskId: string;
  title: string;
  description: string;
  branch: string;
}

export function systemPrompt(brief: Brief): string {
  return [
    `You are a careful software engineer. You work alone, unattended, in a git repository checked out on branch ${brief.branch}, and make the change a development task describes.`,
    '',
    'Tools (every path is relative to the repository root, e.g. src/app.ts; paths outside it are refused, symlinks included):',
    '- list_files(path?, depth?): the file tree, without what .gitignore ignores.',
    '- read_file(path, start_line?, end_line?): numbered lines, a window at a time.',
    '- search_code(pattern, path?, glob?): regular-expression search; the matching files first, then file:line hits.',
    '- write_file(path, content): create or overwrite a whole file.',
    '- edit_file(path, old_text, new_text): replace one exact, unique occurrence of old_text; copy old_text from read_file output. An edit that breaks the syntax of a supported language is refused with the position.',
    '- run_command(command, timeout_s?): a shell command in the repository root, with time and output limits and no credentials in its environment.',
    "- run_tests(): the project's tests; passed or failed and the end of their output.",
    '- ask_clarification(question): stops the run to ask a person. Only when you are truly blocked (the task contradicts itself or needs a decision only a person can make); otherwise make a reasonable assumption and say so in the summary.',
    '- finish(summary, commit_message): you are done.',
    '',
    'How to work:',
    '1. The first message holds the task, the files it likely touches, the repository’s instructions, project facts and a map of the code. Follow the repository’s instructions (AGENTS.md and the like; a closer one overrides the root one for files under its folder) and its style.',
    '2. Look before you change: read the relevant code; the map is a starting point, not the whole tree.',
    '3. Make the smallest complete change; leave unrelated code alone. Add tests for new behaviour when the project has tests; change an existing test only when the task asks for it.',
    '4. Run run_tests before finish and fix what fails.',
    '5. Finish with a short summary and a one-line commit message in the imperative (at most 72 characters).',
    '',
    'Rules: never try to read, print or guess secrets, tokens or credentials (you hold none), and never commit, push or contact remote services: the pipeline commits and pushes after you finish. Act through tool calls; keep any text between them short. The task may be written in any language: read it as written.',
  ].join('\n');
}

/** The default first message when no context was built (the task as written). */
export function briefMessage(brief: Brief): string {
  return [
    `Task ${brief.taskId}: ${brief.title}`,
    `Branch: ${brief.branch}`,
    '',
    'Description:',
    brief.description.trim() === '' ? '(no description: the title is the task)' : brief.description,
  ].join('\n');
}

/** Tokens a message costs beyond its text (role, separators), per the chat format. */
export const MESSAGE_OVERHEAD_TOKENS = 8;

/** Estimated tokens of the tool schemas sent with every request. */
export function toolsTokens(): number {
  return estimateTokens(JSON.stringify(TOOL_DEFINITIONS));
}

/** Estimated tokens of the first request: system prompt, tool schemas and the first user message. */
export function firstRequestTokens(brief: Brief, intro: string): number {
  return (
    estimateTokens(systemPrompt(brief)) +
    toolsTokens() +
    estimateTokens(intro) +
    2 * MESSAGE_OVERHEAD_TOKENS +
    3
  );
}

function numbered(items: readonly string[]): string {
  return items.map((t, k) => `${k + 1}. ${t}`).join('\n');
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The sections of the first message, most important first (priority 0 is never cut). */
export function introSections(brief: TaskBrief, context: TaskContext): Section[] {
  const sections: Section[] = [];
  sections.push({
    id: 'header',
    title: 'the task header',
    priority: 0,
    truncatable: false,
    text: `Task ${brief.taskId}: ${brief.title}\nBranch: ${brief.branch}`,
  });
  sections.push({
    id: 'description',
    title: 'the rest of the task description',
    priority: 1.2,
    text:
      'Description (as written):\n' +
      (brief.description.trim() === ''
        ? '(no description: the title is the task)'
        : brief.description.trim()),
  });

  const structured: string[] = ['Requirements:', numbered(brief.requirements)];
  structured.push(
    '',
    brief.acceptanceDerived ? 'Acceptance criteria (the task states none; derived):' : 'Acceptance criteria:',
    numbered(brief.acceptance),
  );
  if (brief.likelyFiles.length > 0) {
    structured.push(
      '',
      'Likely affected files (from the paths and names the task mentions):',
      ...brief.likelyFiles.map((f) => `- ${f.path} (${f.reasons.join('; ')})`),
    );
  }
  sections.push({ id: 'brief', title: 'the structured brief', priority: 1, text: structured.join('\n') });

  if (brief.documents.length > 0) {
    sections.push({
      id: 'documents',
      title: 'the linked solution and requirement documents',
      priority: 1.5,
      text: brief.documents
        .map((d) => `Linked ${d.kind} ${d.id}${d.title ? `: ${d.title}` : ''}\n${d.content.trim()}`)
        .join('\n\n'),
    });
  }

  const { project } = context;
  if (project.instructions.length > 0) {
    const parts = [
      'Repository instructions (follow them; for files under a folder with its own AGENTS.md or CLAUDE.md, the closest one wins):',
    ];
    for (const f of project.instructions) {
      const scope =
        f.scope !== ''
          ? ` (governs ${f.scope}/${f.governs.length > 0 ? `, e.g. ${f.governs.slice(0, 3).join(', ')}` : ''})`
          : '';
      parts.push(`--- ${f.path}${scope} ---`, f.excerpt);
    }
    sections.push({
      id: 'instructions',
      title: 'the instruction files',
      priority: 2,
      text: parts.join('\n'),
    });
  }

  const facts: string[] = ['Project facts:'];
  if (project.languages.length > 0) {
    facts.push(
      `- Languages: ${project.languages
        .slice(0, 6)
        .map((l) => `${l.name} (${plural(l.files, 'file')})`)
        .join(', ')}`,
    );
  }
  if (project.packageManagers.length > 0)
    facts.push(`- Package managers: ${project.packageManagers.join(', ')}`);
  facts.push(
    project.test
      ? `- Tests: \`${project.test.command}\` (${project.test.source}; run_tests runs it${project.test.setup ? `, after \`${project.test.setup}\`` : ''})`
      : '- Tests: none detected (run_tests reports that)',
  );
  if (project.lint.length > 0)
    facts.push(`- Lint: ${project.lint.map((c) => `\`${c.command}\` (${c.source})`).join(', ')}`);
  if (project.format.length > 0)
    facts.push(`- Format: ${project.format.map((c) => `\`${c.command}\` (${c.source})`).join(', ')}`);
  facts.push(
    `- Files: ${context.stats.files}${context.stats.filesTruncated ? '+' : ''} (vendored, generated and ignored files left out)`,
  );
  sections.push({ id: 'project', title: 'the project facts', priority: 3, text: facts.join('\n') });

  if (context.repoMap.text !== '') {
    sections.push({
      id: 'repo-map',
      title: 'the repository map',
      priority: 4,
      text: context.repoMap.text,
      minTokens: 80,
    });
  }
  if (project.styles.length > 0) {
    sections.push({
      id: 'styles',
      title: 'the style configs',
      priority: 5,
      text: [
        'Style configs (excerpts):',
        ...project.styles.map((s) => `--- ${s.path} (${s.tool}) ---\n${s.excerpt}`),
      ].join('\n'),
    });
  }
  sections.push({
    id: 'closing',
    title: 'the closing note',
    priority: 0,
    truncatable: false,
    text: 'Start with the likely files and the instructions above; make the change; run run_tests; then call finish.',
  });
  return sections;
}

export interface IntroResult {
  text: string;
  /** Estimated tokens of the whole first request (system + tools + this message). */
  requestTokens: number;
  sections: Array<{ id: string; tokens: number; fate: 'kept' | 'cut' | 'dropped' }>;
}

/**
 * The first user message: the brief and the context, fitted so that the whole first request
 * (system prompt + tool schemas + this message) stays within `budgetTokens`. Sections are cut
 * least important first: style excerpts, then the repository map, the project facts, the
 * instruction files, the linked documents, the description, the structured brief.
 */
export function renderIntroDetailed(
  brief: TaskBrief,
  context: TaskContext,
  budgetTokens: number,
): IntroResult {
  const fixed = firstRequestTokens(brief, '');
  const room = Math.max(0, budgetTokens - fixed);
  const fit = fitSections(introSections(brief, context), room);
  return {
    text: fit.text,
    requestTokens: fixed + estimateTokens(fit.text),
    sections: fit.sections.map((s) => ({ id: s.id, tokens: s.tokens, fate: s.fate })),
  };
}

export function renderIntro(brief: TaskBrief, context: TaskContext, budgetTokens: number): string {
  return renderIntroDetailed(brief, context, budgetTokens).text;
}

export function repairMessage(failure: TestRunResult, output: string): string {
  // No duration or other run-to-run noise here: an identical re-run must hit the model cache.
  const opening =
    failure.kind === 'gates'
      ? 'The quality gates before commit found problems in the files you changed.'
      : `The project's tests fail after your change: \`${failure.command}\` exited with ${failure.exitCode ?? 'no exit code'}.`;
  return [
    opening,
    'Find the cause and fix it (change a test only when it is wrong for the task), run run_tests again, then call finish.',
    '',
    failure.kind === 'gates' ? 'What they found:' : 'End of the test output:',
    output || '(no output)',
  ].join('\n');
}

export const NUDGE_MESSAGE =
  'Please use the tools to work on the task: call them directly rather than describing what you would do. ' +
  'Call finish when the change is done and the tests pass (or ask_clarification if the task truly cannot be done without an answer from a person).';

export function defaultCommitMessage(brief: Brief): string {
  const title = brief.title.replace(/\s+/g, ' ').trim() || `Task ${brief.taskId}`;
  return title.length > 72 ? `${title.slice(0, 71)}…` : title;
}
