/**
 * The install step of a Python repository, as one /bin/sh script (the `setup` of its test command).
 *
 * A virtualenv outside the repository (the runner commits what changes in the repository, so a
 * .venv there would be committed): `$HOME/.numa-venvs/<id of the workspace>`, one per workspace
 * (HOME is the sandbox's private folder; where there is no sandbox it is the runner's own, which
 * several workspaces share), created with --system-site-packages so that what the system has
 * (Debian's python3-pytest, its setuptools, flit_core, wheel) is usable without a network.
 *
 * Then the project in it, by what the repository uses: uv / Poetry / PDM by lockfile when the tool
 * is there, otherwise pip, editable, with the test extras, dependency groups and requirements
 * files. Setup steps only reach the hosts of sandbox.network.allow, so each pip failure falls back
 * to what still works, and says so on a line of its own:
 *   1. pip install -e '.[test]' (+ requirements files, + group requirements)
 *   2. the same with --no-build-isolation (the build backend the system has)
 *   3. pip install --no-build-isolation --no-deps -e . (the project only)
 *   4. src/ (or the repository's folder) on the virtualenv's path, through a .pth file.
 * The runner the tests need (pytest) must be importable at the end, or the step fails saying why.
 * Every line the script prints starts with "python setup:".
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { PythonProject } from './python-project.ts';
import { shellQuoteWords } from './python-runner.ts';
import type { PythonRunner } from './python-runner.ts';
import { isTable } from './toml.ts';

/** The virtualenv of the workspace at `repoDir`, as a shell expression (HOME is the sandbox's). */
export function pythonVenvDir(repoDir: string): string {
  const id = createHash('sha256').update(path.resolve(repoDir)).digest('hex').slice(0, 12);
  return `$HOME/.numa-venvs/${id}`;
}

/** The runner's command line, with the virtualenv's interpreter (python3 where there is none). */
export function pythonTestCommand(venv: string, runner: PythonRunner): string {
  const args = [...runner.pythonArgs, '-m', runner.kind];
  // No bytecode and no pytest cache in the repository: the runner commits what changes there. A
  // module that cannot be imported is one named failure beside the tests that run, not the end
  // of the session.
  const runnerArgs =
    runner.kind === 'pytest'
      ? ['-p', 'no:cacheprovider', '--continue-on-collection-errors', ...runner.args]
      : runner.args;
  return (
    `PY="${venv}/bin/python"; [ -x "$PY" ] || PY=python3; ` +
    `PYTHONDONTWRITEBYTECODE=1 "$PY" ${shellQuoteWords([...args, ...runnerArgs])}`
  );
}

export function pythonSetupScript(venv: string, project: PythonProject, runner: PythonRunner): string {
  const lines: string[] = [
    '# Python setup: a virtualenv outside the repository, the project installed in it.',
    'set -u',
    `V="${venv}"`,
    'PY="$V/bin/python"',
    'say() { echo "python setup: $*"; }',
    'run() { say "\\$ $*"; "$@"; }',
    // No bytecode in the repository from what the install imports there (setup.py, an in-tree
    // backend). One retry: a registry off the allow-list is refused, and each retry costs seconds.
    'export PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_RETRIES="${PIP_RETRIES:-1}"',
    'if [ -x "$PY" ]; then',
    '  say "virtualenv $V (from an earlier setup)"',
    'elif python3 -m venv --system-site-packages "$V"; then',
    '  say "virtualenv $V created (--system-site-packages: the system\'s packages are usable in it)"',
    'elif rm -rf "$V" && python3 -m venv --system-site-packages --without-pip "$V"; then',
    '  say "virtualenv $V created without a pip of its own (python3 has no ensurepip): the system\'s pip, if any, installs into it"',
    'else',
    '  say "FAILED: python3 could not create a virtualenv at $V"',
    '  exit 1',
    'fi',
    'say "$("$PY" --version 2>&1)"',
    'if "$PY" -m pip --version >/dev/null 2>&1; then HAVE_PIP=1; else HAVE_PIP=; say "no pip in the virtualenv: nothing can be installed with pip"; fi',
    'installed=',
  ];

  lines.push(...managerBlock(project));
  if (project.installable) lines.push(...pipProjectBlock(project));
  else lines.push(...pipRequirementsBlock(project));
  lines.push(...pathFallbackBlock(project));
  if (runner.kind === 'pytest') lines.push(...pytestBlock());
  lines.push('say "ready: $installed; the tests run with $PY"');
  return lines.join('\n') + '\n';
}

/** uv / Poetry / PDM, when the repository has its lockfile and the tool is on the PATH. */
function managerBlock(p: PythonProject): string[] {
  let tool: string;
  let command: string;
  if (p.manager === 'uv') {
    tool = 'uv';
    // --frozen: the lockfile as it is, never rewritten; --inexact: keep the virtualenv's pip.
    const flags = [
      ...p.extras.flatMap((e) => ['--extra', e]),
      ...p.dependencyGroups.flatMap((g) => ['--group', g]),
    ];
    command = `run env UV_PROJECT_ENVIRONMENT="$V" uv sync --frozen --inexact${words(flags)}`;
  } else if (p.manager === 'poetry') {
    tool = 'poetry';
    // An active virtualenv (VIRTUAL_ENV) is the one Poetry installs into.
    const flags = [
      ...(p.poetryOptionalGroups.length > 0 ? ['--with', p.poetryOptionalGroups.join(',')] : []),
      ...(p.extras.length > 0 ? ['--extras', p.extras.join(' ')] : []),
    ];
    command = `run env VIRTUAL_ENV="$V" PATH="$V/bin:$PATH" poetry install --no-interaction${words(flags)}`;
  } else if (p.manager === 'pdm') {
    tool = 'pdm';
    const flags = [...p.extras, ...p.pdmDevGroups].flatMap((g) => ['-G', g]);
    command = `run env VIRTUAL_ENV="$V" PATH="$V/bin:$PATH" pdm sync${words(flags)}`;
  } else return [];
  const lock = p.lockfile!;
  const block = [
    `if command -v ${tool} >/dev/null 2>&1; then`,
    `  if ${command}; then`,
    `    installed="${tool} (${lock})"`,
    '  else',
    `    say "${tool} failed: installing with pip instead"`,
    '  fi',
    'else',
    `  say "${lock}, but no ${tool} on the PATH: installing with pip instead"`,
    'fi',
  ];
  if (tool === 'pdm') {
    // PDM may record the interpreter it used in .pdm-python, in the repository: not ours to commit.
    block.unshift('had_pdm_python=; [ -e .pdm-python ] && had_pdm_python=1');
    block.push('[ -n "$had_pdm_python" ] || rm -f .pdm-python');
  }
  return block;
}

function pipProjectBlock(p: PythonProject): string[] {
  const target = p.extras.length > 0 ? `.[${p.extras.join(',')}]` : '.';
  const with_ = [...p.requirementFiles.flatMap((f) => ['-r', f]), ...p.groupRequirements];
  const what = describeWants(p);
  const pip = (flags: string[]) => `run "$PY" -m pip install${words([...flags, '-e', target, ...with_])}`;
  const backend = buildBackend(p);
  const noIsolation = [
    `    say "the install failed (no network for the build backend or the requirements?): again without build isolation, with the system's ${backend?.module ?? 'build backend'}"`,
    `    if ${pip(['--no-build-isolation'])}; then`,
    `      installed="pip, editable, ${what}, with the system's build backend (no build isolation)"`,
    '    else',
    '      say "FALLBACK: installing the project alone, without its requirements (--no-deps)"',
    '      if run "$PY" -m pip install --no-build-isolation --no-deps -e .; then',
    '        installed="FALLBACK: the project only (pip install --no-build-isolation --no-deps -e .): its requirements and test requirements are NOT installed"',
    '      fi',
    '    fi',
  ];
  return [
    'if [ -z "$installed" ] && [ -n "$HAVE_PIP" ]; then',
    `  if ${pip([])}; then`,
    `    installed="pip, editable, ${what}"`,
    ...(backend
      ? [
          // Without build isolation the backend must be importable already: when it is not, both
          // of those attempts would fail the same way.
          `  elif ! "$PY" -c ${shellQuoteWords([backend.probe])} >/dev/null 2>&1; then`,
          `    say "the install failed, and the build backend ${backend.module} is not on the system: it cannot be built without build isolation"`,
          '  else',
        ]
      : ['  else']),
    ...noIsolation,
    '  fi',
    'fi',
  ];
}

/**
 * The module of [build-system] build-backend (setuptools' legacy backend when there is none) and
 * a Python line that imports it as pip would (backend-path first); undefined when its name or
 * path is not plain enough to put in a command.
 */
function buildBackend(p: PythonProject): { module: string; probe: string } | undefined {
  const bs = p.pyproject?.['build-system'];
  const table = isTable(bs) ? bs : {};
  const declared =
    typeof table['build-backend'] === 'string' ? table['build-backend'] : 'setuptools.build_meta';
  const module = declared.split(':')[0]!.trim();
  const paths = Array.isArray(table['backend-path']) ? table['backend-path'] : [];
  if (!/^[A-Za-z_][\w.]*$/.test(module)) return undefined;
  if (!paths.every((x): x is string => typeof x === 'string' && /^[\w./-]+$/.test(x) && !x.startsWith('/')))
    return undefined;
  const syspath = paths.length > 0 ? `import sys; sys.path[:0] = ${JSON.stringify(paths)}; ` : '';
  return { module, probe: `${syspath}import ${module}` };
}

/** No build configuration: only what its requirements files and groups list. */
function pipRequirementsBlock(p: PythonProject): string[] {
  const with_ = [...p.requirementFiles.flatMap((f) => ['-r', f]), ...p.groupRequirements];
  if (with_.length === 0)
    return [
      '[ -n "$installed" ] || installed="nothing to install (no build configuration, no requirements)"',
    ];
  return [
    'if [ -z "$installed" ] && [ -n "$HAVE_PIP" ]; then',
    `  if run "$PY" -m pip install${words(with_)}; then`,
    `    installed="pip, ${describeWants(p)} (the project itself has no build configuration)"`,
    '  else',
    '    installed="WARNING: the requirements could not be installed (no network?): tests that import them will fail"',
    '    say "$installed"',
    '  fi',
    'fi',
    '[ -n "$installed" ] || installed="nothing installed: no pip"',
  ];
}

/** What pip cannot do: the source folder on the virtualenv's path (as an editable install would). */
function pathFallbackBlock(p: PythonProject): string[] {
  const folder = p.srcLayout ? '$PWD/src' : '$PWD';
  const needed = p.installable ? '[ -z "$installed" ]' : p.srcLayout ? 'true' : 'false';
  if (needed === 'false') return [];
  const why = p.installable
    ? 'FALLBACK: the project could not be installed'
    : 'the project has no build configuration';
  return [
    `if ${needed}; then`,
    '  site=$("$PY" -c \'import sysconfig; print(sysconfig.get_paths()["purelib"])\') \\',
    `    && printf '%s\\n' "${folder}" > "$site/numa-avatar-src.pth" \\`,
    `    || { say "FAILED: could not put ${folder} on the virtualenv's path"; exit 1; }`,
    p.installable
      ? `  installed="${why}: ${folder} is on the virtualenv's path instead ($site/numa-avatar-src.pth); its requirements are NOT installed"`
      : `  installed="\${installed:+$installed; }${why}: ${folder} is on the virtualenv's path ($site/numa-avatar-src.pth)"`,
    '  say "$installed"',
    'fi',
  ];
}

function pytestBlock(): string[] {
  return [
    'if "$PY" -c "import pytest" >/dev/null 2>&1; then',
    '  say "pytest $("$PY" -c "import pytest; print(pytest.__version__)")"',
    'elif [ -n "$HAVE_PIP" ] && run "$PY" -m pip install pytest; then',
    '  say "pytest installed"',
    'else',
    '  say "FAILED: pytest is not installed and could not be installed (no network?): the tests cannot run"',
    '  exit 1',
    'fi',
  ];
}

function describeWants(p: PythonProject): string {
  const parts: string[] = [];
  if (p.extras.length > 0) parts.push(`extras ${p.extras.join(', ')}`);
  if (p.requirementFiles.length > 0) parts.push(p.requirementFiles.join(', '));
  if (p.groupRequirements.length > 0) {
    const groups = [...p.dependencyGroups, ...p.pdmDevGroups];
    parts.push(groups.length > 0 ? `dependency groups ${groups.join(', ')}` : 'the dev dependencies');
  }
  return parts.length > 0 ? `with ${parts.join(' and ')}` : 'no test requirements declared';
}

/** ` w1 w2` quoted for /bin/sh, or '' for none. */
function words(ws: string[]): string {
  return ws.length > 0 ? ' ' + shellQuoteWords(ws) : '';
}
