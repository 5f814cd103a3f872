/**
 * The task's branch name, checked before it goes into a refspec. It comes from the Numa backend
 * (`code_branch`), so a name git would read as more than one branch (`*`, `a:b`, `+x`, `^x`) or
 * as an option (`-x`) must never reach fetch or push: the rules are those of
 * `git check-ref-format --branch`.
 */
import { AvatarError } from '../../../core/errors.ts';
import { patternRedactor } from '../../../core/redact.ts';

/** Why `branch` is not a valid branch name, or undefined when it is one. */
export function branchNameProblem(branch: string): string | undefined {
  if (branch === '') return 'it is empty';
  if (branch === 'HEAD' || branch === '@') return `"${branch}" is reserved`;
  if (branch.startsWith('-')) return 'it starts with "-"';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f~^:?*[\\]/.test(branch))
    return 'it holds a space, a control character or one of ~ ^ : ? * [ \\';
  if (branch.includes('..')) return 'it holds ".."';
  if (branch.includes('@{')) return 'it holds "@{"';
  if (branch.startsWith('/') || branch.endsWith('/') || branch.includes('//'))
    return 'it has an empty path component';
  if (branch.endsWith('.')) return 'it ends with "."';
  for (const part of branch.split('/')) {
    if (part.startsWith('.')) return 'a path component starts with "."';
    if (part.endsWith('.lock')) return 'a path component ends with ".lock"';
  }
  return undefined;
}

/** Throws GIT_FAILED when `branch` is not a branch name git accepts as exactly one branch. */
export function assertBranchName(branch: string): void {
  const problem = branchNameProblem(branch);
  if (problem) {
    throw new AvatarError(
      'GIT_FAILED',
      `${JSON.stringify(patternRedactor.redact(branch.slice(0, 200)))} is not a valid branch name (${problem}); nothing is fetched or pushed`,
    );
  }
}
