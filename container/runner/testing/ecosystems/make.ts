/** A Makefile with a `test` target. */
import { readText, type DetectedTestCommand } from './common.ts';

export async function detectMake(dir: string): Promise<DetectedTestCommand | undefined> {
  for (const name of ['GNUmakefile', 'makefile', 'Makefile']) {
    const text = await readText(dir, name);
    if (text !== undefined && hasMakeTarget(text, 'test')) {
      return { command: 'make test', source: `${name} test target` };
    }
  }
  return undefined;
}

/** Whether a Makefile defines `target` as a rule (`test:`, `lint test:`, `test::`), not a variable (`test := x`). */
export function hasMakeTarget(makefile: string, target: string): boolean {
  for (const line of makefile.split(/\r?\n/)) {
    if (line.startsWith('\t') || line.startsWith('.') || line.trimStart().startsWith('#')) continue;
    const m = /^([^:=#]+?)\s*(?:::(?!=)|:(?![:=]))/.exec(line);
    if (m && m[1]!.trim().split(/\s+/).includes(target)) return true;
  }
  return false;
}
