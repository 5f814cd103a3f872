/** The system prompt, the brief, and the messages the loop adds on the agent's behalf. */
import type { TestRunResult } from './types.ts';

export interface Brief {
  taskId: string;
  title: string;
  description: string;
  branch: string;
}

export function systemPrompt(brief: Brief): string {
  return [
    `You are a careful software engineer. You work alone in a git repository checked out on branch ${brief.branch}, and make the change a development task describes.`,
    '',
    'Tools (every path is relative to the repository root; paths outside it are refused):',
    '- list_files(path?, depth?): the file tree, without what .gitignore ignores.',
    '- read_file(path, start_line?, end_line?): numbered lines, at most 200 per call.',
    '- search_code(pattern, path?, glob?): regular-expression search, file:line hits.',
    '- write_file(path, content): create or overwrite a whole file.',
    '- edit_file(path, old_text, new_text): replace one exact, unique occurrence of old_text.',
    '- run_command(command, timeout_s?): a shell command in the repository root (time and output limited, no credentials).',
    "- run_tests(): the project's tests; passed or failed and the end of their output.",
    "- ask_clarification(question): stops the run to ask a person. Only when the task truly cannot be done without a person's answer; make reasonable assumptions otherwise.",
    '- finish(summary, commit_message): you are done.',
    '',
    'How to work:',
    '1. Look before you change: list the files, read the relevant code, follow the project’s conventions.',
    '2. Make the smallest complete change; leave unrelated code alone; add or update tests when the project has them.',
    '3. Run run_tests before finish and fix what fails. Never commit or push: the pipeline does that after you finish.',
    '4. Finish with a short summary and a one-line commit message in the imperative (at most 72 characters).',
    'Act through tool calls; keep any text between them short. The task may be written in any language: read it as written.',
  ].join('\n');
}

export function briefMessage(brief: Brief): string {
  return [
    `Task ${brief.taskId}: ${brief.title}`,
    `Branch: ${brief.branch}`,
    '',
    'Description:',
    brief.description.trim() === '' ? '(no description: the title is the task)' : brief.description,
  ].join('\n');
}

export function repairMessage(failure: TestRunResult, output: string): string {
  return [
    `The project's tests fail after your change: \`${failure.command}\` exited with ${failure.exitCode ?? 'no exit code'} after ${(failure.durationMs / 1000).toFixed(1)} s.`,
    'Find the cause and fix it (change a test only when it is wrong for the task), run run_tests again, then call finish.',
    '',
    'End of the test output:',
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
