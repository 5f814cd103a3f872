/**
 * Finds the project's test command (the `run_tests` tool and the pipeline's test step). A
 * configured command wins; otherwise the repository's files decide, first match in this order:
 * package.json scripts.test (npm / yarn / pnpm by lockfile), pytest, go, cargo, maven, gradle,
 * a Makefile `test` target. `setup` is the install step the command needs first, when there is one.
 * Each ecosystem is a module of its own under ecosystems/.
 */
import type { Detector, DetectedTestCommand } from './ecosystems/common.ts';
import { detectGo } from './ecosystems/go.ts';
import { detectGradle, detectMaven } from './ecosystems/jvm.ts';
import { detectMake } from './ecosystems/make.ts';
import { detectNode } from './ecosystems/node.ts';
import { detectPython } from './ecosystems/python.ts';
import { detectCargo } from './ecosystems/rust.ts';

export type { DetectedTestCommand } from './ecosystems/common.ts';
export { isNpmDefaultTestScript } from './ecosystems/node.ts';
export { hasMakeTarget } from './ecosystems/make.ts';

const DETECTORS: Detector[] = [
  detectNode,
  detectPython,
  detectGo,
  detectCargo,
  detectMaven,
  detectGradle,
  detectMake,
];

export async function detectTestCommand(
  repoDir: string,
  override?: string,
): Promise<DetectedTestCommand | undefined> {
  if (override !== undefined && override.trim() !== '') {
    return { command: override.trim(), source: 'configured test command' };
  }
  for (const detect of DETECTORS) {
    const found = await detect(repoDir);
    if (found) return found;
  }
  return undefined;
}
