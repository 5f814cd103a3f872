/** Verification of a run's change: setup steps, test baseline and classification, quality gates. */
export { Verifier } from './verifier.ts';
export type { TestCheck, VerificationProblem, VerifierOptions, VerifyConfig } from './verifier.ts';
export type { VerificationReport } from './report.ts';
export { reportLines } from './report.ts';
export { runSetupSteps, REPO_SETUP_SCRIPT } from './setup.ts';
export type { SetupStepReport } from './setup.ts';
export {
  classifyAgainstBaseline,
  passedOnRerun,
  settleWithReruns,
  summarizeRun,
  WHOLE_COMMAND,
} from './classify.ts';
export type { Classification, RawTestRun, TestRunSummary } from './classify.ts';
export { parseTestOutput } from './results/index.ts';
export type { ParsedTests, TestCase, TestCounts, TestStatus } from './results/index.ts';
export { scanPatchForSecrets, secretKindsInLine } from './gates/secrets.ts';
export { scanPatchForDangerousPatterns, dangerousKindsInLine } from './gates/dangerous.ts';
export { checkChangedFilesSyntax } from './gates/syntax.ts';
export type { SyntaxChecker, SyntaxResult } from './gates/syntax.ts';
export { detectLinters, runLintGate } from './gates/lint.ts';
export { isTestFile, reviewTestEdits, taskAllowsTestEdit, TestFileOriginals } from './gates/test-edits.ts';
export { addedLines } from './gates/diff.ts';
