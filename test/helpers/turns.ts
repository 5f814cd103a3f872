/** Scripted-model turns the pipeline tests share (servers/scripted-model). */
import type { ScriptedTurn } from '../../servers/scripted-model/index.ts';

/** The agent runs one shell command. */
export const runCommandTurn = (command: string): ScriptedTurn => ({
  tool_calls: [{ name: 'run_command', arguments: { command } }],
});

/** The agent rewords the sample project's README (a change that keeps its tests green). */
export const REWORD_README: ScriptedTurn = {
  tool_calls: [
    {
      name: 'edit_file',
      arguments: { path: 'README.md', old_text: 'Run the tests', new_text: 'Always run the tests' },
    },
  ],
};

/** The agent finishes with this commit message (and summary). */
export const finishTurn = (commitMessage: string, summary = commitMessage): ScriptedTurn => ({
  tool_calls: [{ name: 'finish', arguments: { summary, commit_message: commitMessage } }],
});
