import { describe, expect, it } from 'vitest';
import { TOOL_DEFINITIONS, argSchemas, parseToolCall } from '../../container/runner/agent/schemas.ts';
import type { ToolName } from '../../container/runner/agent/schemas.ts';

describe('tool schemas', () => {
  it('defines the 9 stable tools, and the JSON schemas and validators agree on the arguments', () => {
    expect(TOOL_DEFINITIONS.map((t) => t.function.name)).toEqual([
      'list_files',
      'read_file',
      'search_code',
      'write_file',
      'edit_file',
      'run_command',
      'run_tests',
      'ask_clarification',
      'finish',
    ]);
    for (const def of TOOL_DEFINITIONS) {
      const name = def.function.name as ToolName;
      const props = Object.keys((def.function.parameters as { properties: object }).properties).sort();
      expect(Object.keys(argSchemas[name].shape).sort(), name).toEqual(props);
    }
  });

  it('accepts valid calls, tolerating numeric strings, null optionals and empty arguments', () => {
    expect(parseToolCall('read_file', '{"path":"a.ts","start_line":"10","end_line":null}')).toEqual({
      ok: true,
      name: 'read_file',
      args: { path: 'a.ts', start_line: 10, end_line: undefined },
    });
    expect(parseToolCall('run_tests', '')).toEqual({ ok: true, name: 'run_tests', args: {} });
    expect(parseToolCall('run_command', '{"command":"ls","timeout_s":1.5}')).toMatchObject({
      ok: true,
      args: { timeout_s: 1.5 },
    });
  });

  it.each([
    ['read_file', '{"path": "a.ts"', /not valid JSON/],
    ['read_file', '[1,2]', /must be a JSON object, not an array/],
    ['read_file', '{}', /Invalid arguments for read_file: path: /],
    ['read_file', '{"path":"a","start_line":0}', /start_line: /],
    ['run_command', '{"command":"ls","timeout_s":-1}', /timeout_s: /],
    ['edit_file', '{"path":"a","old_text":"x"}', /new_text: /],
    ['rm_rf', '{}', /There is no tool named "rm_rf"/],
  ])('%s %s → corrective message', (name, args, why) => {
    const r = parseToolCall(name, args);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(why);
  });
});
