/**
 * The scripted model's sessions for a soak: one per task kind, matched by the marker in the task's
 * title, and stateless (the turn is picked by the conversation's progress), so any number of runs
 * can be under way at once and a runner killed and run again gets its script from the start.
 */
import {
  loadRecordedSession,
  type ScriptedSession,
  type ScriptedTurn,
} from '../../servers/scripted-model/index.ts';
import { SESSION_MARKERS } from './plan.ts';

/** Writes a test that fails, then finishes twice (develop, then the one repair round): ends `failed`. */
export const FAILING_TURNS: ScriptedTurn[] = [
  {
    tool_calls: [
      {
        name: 'write_file',
        arguments: {
          path: 'test/broken.test.js',
          content:
            "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\ntest('broken', () => assert.equal(1, 2));\n",
        },
      },
    ],
  },
  { tool_calls: [{ name: 'finish', arguments: { summary: 'added a test', commit_message: 'Add a test' } }] },
  { tool_calls: [{ name: 'finish', arguments: { summary: 'still broken', commit_message: 'Add a test' } }] },
];

/** Reads a file, then asks a question: ends `blocked`. */
export const CLARIFY_TURNS: ScriptedTurn[] = [
  { tool_calls: [{ name: 'read_file', arguments: { path: 'src/strings.js' } }] },
  {
    tool_calls: [
      {
        name: 'ask_clarification',
        arguments: { question: 'Should titleCase keep acronyms such as "NASA" in capitals?' },
      },
    ],
  },
];

export function soakSessions(recordedSessionFile: string): ScriptedSession[] {
  return [
    { match: SESSION_MARKERS.failed, turns: FAILING_TURNS, stateless: true },
    { match: SESSION_MARKERS.blocked, turns: CLARIFY_TURNS, stateless: true },
    { match: SESSION_MARKERS.done, turns: loadRecordedSession(recordedSessionFile), stateless: true },
  ];
}
