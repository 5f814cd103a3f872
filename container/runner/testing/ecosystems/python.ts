/**
 * Python projects: the runner the repository really uses (python-runner.ts) run with the
 * interpreter of a virtualenv of the workspace's own, and the install step that makes that
 * virtualenv and installs the project in it (python-setup.ts). A repository is Python's here when
 * it configures pytest, its tox or nox configuration runs pytest or unittest, or it has test files.
 */
import { readPythonProject, type PythonProject } from './python-project.ts';
import { choosePythonRunner } from './python-runner.ts';
import { pythonSetupScript, pythonTestCommand, pythonVenvDir } from './python-setup.ts';
import type { DetectedTestCommand } from './common.ts';

export async function detectPython(dir: string): Promise<DetectedTestCommand | undefined> {
  const project = await readPythonProject(dir);
  const runner = await choosePythonRunner(dir, project);
  if (!runner) return undefined;
  const venv = pythonVenvDir(dir);
  return {
    command: pythonTestCommand(venv, runner),
    setup: pythonSetupScript(venv, project, runner),
    source: `${runner.source}; install: ${describeInstall(project)}`,
  };
}

function describeInstall(p: PythonProject): string {
  const how =
    p.manager === 'pip'
      ? 'pip'
      : `${p.manager} (${p.lockfile ?? ''}), pip where ${p.manager === 'uv' ? 'uv' : p.manager === 'poetry' ? 'Poetry' : 'PDM'} is missing or fails`;
  const what = p.installable
    ? p.srcLayout
      ? 'the project (src layout), editable'
      : 'the project, editable'
    : 'its requirements only';
  const extras = [
    ...p.extras.map((e) => `extra ${e}`),
    ...[...p.dependencyGroups, ...p.pdmDevGroups].map((g) => `group ${g}`),
    ...p.requirementFiles,
  ];
  const unreadable = p.pyprojectError ? ` (pyproject.toml could not be read: ${p.pyprojectError})` : '';
  return `${how}, ${what}${extras.length > 0 ? ` with ${extras.join(', ')}` : ''}, in a virtualenv under $HOME${unreadable}`;
}
