/**
 * The agent's tools as OpenAI function definitions (names and arguments are stable: see
 * design.md, "The agent's tools"), and the zod schemas that validate what the model sends.
 */
import type { ChatCompletionFunctionTool } from 'openai/resources/chat/completions';
import { z } from 'zod';
import { describeIssues } from '../../../core/message.ts';

export const TOOL_NAMES = [
  'list_files',
  'read_file',
  'search_code',
  'write_file',
  'edit_file',
  'run_command',
  'run_tests',
  'ask_clarification',
  'finish',
] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

export function isToolName(name: string): name is ToolName {
  return (TOOL_NAMES as readonly string[]).includes(name);
}

type JsonSchema = Record<string, unknown>;

function fn(name: ToolName, description: string, properties: Record<string, JsonSchema>, required: string[]) {
  return {
    type: 'function',
    function: {
      name,
      description,
      parameters: { type: 'object', properties, required, additionalProperties: false },
    },
  } satisfies ChatCompletionFunctionTool;
}

const pathProp = (what: string): JsonSchema => ({
  type: 'string',
  description: `${what}, relative to the repository root (e.g. "src/index.ts")`,
});

export const TOOL_DEFINITIONS: ChatCompletionFunctionTool[] = [
  fn(
    'list_files',
    'List the files and directories below a directory as an indented tree. Entries that .gitignore ignores are left out.',
    {
      path: pathProp('Directory to list (default: the repository root)'),
      depth: { type: 'integer', minimum: 1, maximum: 8, description: 'Directory levels to show (default 2)' },
    },
    [],
  ),
  fn(
    'read_file',
    'Read a text file as numbered lines, at most 200 lines per call; the answer says the total line count and how to read further.',
    {
      path: pathProp('File to read'),
      start_line: { type: 'integer', minimum: 1, description: 'First line to show (1-based, default 1)' },
      end_line: { type: 'integer', minimum: 1, description: 'Last line to show (inclusive)' },
    },
    ['path'],
  ),
  fn(
    'search_code',
    'Search the text files for a JavaScript regular expression, line by line. Answers the matching files with their hit counts first, then file:line: text hits (at most 100). Ignored and binary files are skipped.',
    {
      pattern: {
        type: 'string',
        description: 'Regular expression (JavaScript syntax), e.g. "function\\s+login"',
      },
      path: pathProp('Directory or file to search (default: the whole repository)'),
      glob: {
        type: 'string',
        description: 'Only files matching this glob: "*.ts" matches names, "src/**/*.{js,ts}" matches paths',
      },
    },
    ['pattern'],
  ),
  fn(
    'write_file',
    'Create a file or overwrite it with the whole content given. Parent directories are created. Content that does not parse (in a language the tool checks) is refused and nothing is written.',
    { path: pathProp('File to write'), content: { type: 'string', description: 'The complete new content' } },
    ['path', 'content'],
  ),
  fn(
    'edit_file',
    "Replace one exact occurrence of old_text with new_text. old_text must match the file exactly (whitespace included) and only once; otherwise nothing changes and the answer shows the closest parts of the file or where the matches are. An edit that would break the file's syntax is refused.",
    {
      path: pathProp('File to edit'),
      old_text: { type: 'string', description: 'The exact text to replace (without line numbers)' },
      new_text: { type: 'string', description: 'The replacement text' },
    },
    ['path', 'old_text', 'new_text'],
  ),
  fn(
    'run_command',
    'Run a shell command (/bin/sh -c) in the repository root. No credentials in its environment; time limited (default 120 s); long output is cut to its head and tail. Background processes are stopped when the command ends. Committing, pushing, changing git remotes or configuration, sudo and network access to other hosts are refused.',
    {
      command: { type: 'string', description: 'The shell command, e.g. "npm ls" or "grep -rn foo src"' },
      timeout_s: { type: 'number', exclusiveMinimum: 0, description: 'Time limit in seconds (default 120)' },
    },
    ['command'],
  ),
  fn(
    'run_tests',
    "Run the project's tests. Answers passed or failed, the exit code and the end of the output.",
    {},
    [],
  ),
  fn(
    'ask_clarification',
    "Stop and ask a person a question. Only when the task truly cannot be done without a person's answer; the run ends here.",
    { question: { type: 'string', description: 'The question, self-contained' } },
    ['question'],
  ),
  fn(
    'finish',
    'Call when the change is complete and the tests pass. Ends your work on the task.',
    {
      summary: { type: 'string', description: 'What you changed and why, in a few sentences' },
      commit_message: {
        type: 'string',
        description: 'A one-line commit message in the imperative, at most 72 characters',
      },
    },
    ['summary', 'commit_message'],
  ),
];

// --- validation --------------------------------------------------------------------------------

/** Models sometimes send `null` for an omitted optional argument. */
const optional = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? undefined);

/** Numbers may arrive as numeric strings ("3"). */
const num = () =>
  z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : v),
    z.number(),
  );
const int = (min: number) => num().pipe(z.number().int().min(min));

export const argSchemas = {
  list_files: z.object({ path: optional(z.string()), depth: optional(int(1)) }),
  read_file: z.object({ path: z.string(), start_line: optional(int(1)), end_line: optional(int(1)) }),
  search_code: z.object({ pattern: z.string(), path: optional(z.string()), glob: optional(z.string()) }),
  write_file: z.object({ path: z.string(), content: z.string() }),
  edit_file: z.object({ path: z.string(), old_text: z.string(), new_text: z.string() }),
  run_command: z.object({
    command: z.string(),
    timeout_s: optional(num().pipe(z.number().positive())),
  }),
  run_tests: z.object({}),
  ask_clarification: z.object({ question: z.string() }),
  finish: z.object({ summary: optional(z.string()), commit_message: optional(z.string()) }),
} satisfies Record<ToolName, z.ZodType>;

export type ToolArgs = { [K in ToolName]: z.infer<(typeof argSchemas)[K]> };

export type ParsedCall = { [K in ToolName]: { ok: true; name: K; args: ToolArgs[K] } }[ToolName];

export type ParseResult = ParsedCall | { ok: false; error: string };

function schemaHint(name: ToolName): string {
  const def = TOOL_DEFINITIONS.find((d) => d.function.name === name);
  return JSON.stringify(def?.function.parameters ?? {});
}

/**
 * Validates one tool call. On failure, `error` is the corrective message the model reads: what
 * was wrong, and what a valid call looks like.
 */
export function parseToolCall(name: string, rawArgs: string): ParseResult {
  if (!isToolName(name)) {
    return {
      ok: false,
      error: `There is no tool named ${JSON.stringify(name)}. The tools are: ${TOOL_NAMES.join(', ')}.`,
    };
  }
  let value: unknown;
  const text = rawArgs.trim();
  if (text === '') {
    value = {};
  } else {
    try {
      value = JSON.parse(text);
    } catch (err) {
      return {
        ok: false,
        error: `The arguments of your ${name} call are not valid JSON (${err instanceof Error ? err.message : String(err)}). Call ${name} again with a JSON object matching: ${schemaHint(name)}`,
      };
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      ok: false,
      error: `The arguments of your ${name} call must be a JSON object, not ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}. Expected: ${schemaHint(name)}`,
    };
  }
  const parsed = argSchemas[name].safeParse(value);
  if (!parsed.success) {
    return {
      ok: false,
      error: `Invalid arguments for ${name}: ${describeIssues(parsed.error)}. Expected: ${schemaHint(name)}`,
    };
  }
  return { ok: true, name, args: parsed.data } as ParsedCall;
}
