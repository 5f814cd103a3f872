/** The tool registry: a validated call → the module that runs it. */
import type { ParsedCall } from '../schemas.ts';
import type { ToolContext, ToolResult } from '../types.ts';
import { askClarification } from './ask-clarification.ts';
import { editFile } from './edit-file.ts';
import { finish } from './finish.ts';
import { listFiles } from './list-files.ts';
import { readFileTool } from './read-file.ts';
import { runCommand } from './run-command.ts';
import { runTestsTool } from './run-tests.ts';
import { searchCode } from './search-code.ts';
import { writeFileTool } from './write-file.ts';

export {
  askClarification,
  editFile,
  finish,
  listFiles,
  readFileTool,
  runCommand,
  runTestsTool,
  searchCode,
  writeFileTool,
};

export function runTool(ctx: ToolContext, call: ParsedCall): Promise<ToolResult> {
  switch (call.name) {
    case 'list_files':
      return listFiles(ctx, call.args);
    case 'read_file':
      return readFileTool(ctx, call.args);
    case 'search_code':
      return searchCode(ctx, call.args);
    case 'write_file':
      return writeFileTool(ctx, call.args);
    case 'edit_file':
      return editFile(ctx, call.args);
    case 'run_command':
      return runCommand(ctx, call.args);
    case 'run_tests':
      return runTestsTool(ctx);
    case 'ask_clarification':
      return askClarification(ctx, call.args);
    case 'finish':
      return finish(ctx, call.args);
  }
}
