/**
 * What a Python repository says about how it is installed: its package manager (by lockfile), whether
 * it can be built at all (pyproject.toml, setup.py, setup.cfg), its test extras, its dependency
 * groups and its requirements files. Read from the files only; nothing here runs Python.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { exists, readText } from './common.ts';
import { isTable, parseToml, tomlGet, type TomlTable, type TomlValue } from './toml.ts';

export type PythonManager = 'uv' | 'poetry' | 'pdm' | 'pip';

export interface PythonProject {
  /** pyproject.toml, parsed; undefined when there is none or it cannot be read (then `pyprojectError`). */
  pyproject?: TomlTable;
  pyprojectError?: string;
  setupCfg?: string;
  /** pip can build it: pyproject.toml with [build-system] or [project], setup.py, or setup.cfg [metadata]. */
  installable: boolean;
  /** The manager whose lockfile the repository has (pip when none). */
  manager: PythonManager;
  lockfile?: string;
  /** Extras named like test requirements that the project declares (pyproject or setup.cfg). */
  extras: string[];
  /** PEP 735 [dependency-groups] named like test requirements (uv's `--group`). */
  dependencyGroups: string[];
  /** [tool.pdm.dev-dependencies] groups named like test requirements (PDM's `-G`). */
  pdmDevGroups: string[];
  /** Their requirements, include-group resolved: what pip installs where the manager is not used. */
  groupRequirements: string[];
  /** Poetry groups marked optional that need `--with` (test-like names only). */
  poetryOptionalGroups: string[];
  /** Requirements files, relative to the repository, in the order pip gets them. */
  requirementFiles: string[];
  /** The repository has a src/ folder with a package in it. */
  srcLayout: boolean;
}

/** Names of extras and groups that hold what the tests need, the test-only ones first. */
const TEST_NAMES = ['test', 'tests', 'testing'];
const DEV_NAMES = ['dev', 'develop', 'development'];

const TEST_REQUIREMENT_FILES = [
  'requirements-test.txt',
  'requirements-tests.txt',
  'requirements_test.txt',
  'requirements-testing.txt',
  'test-requirements.txt',
  'tests-requirements.txt',
  'test_requirements.txt',
  'requirements/test.txt',
  'requirements/tests.txt',
  'requirements/testing.txt',
  'tests/requirements.txt',
];
const DEV_REQUIREMENT_FILES = [
  'requirements-dev.txt',
  'requirements_dev.txt',
  'dev-requirements.txt',
  'requirements/dev.txt',
  'requirements/development.txt',
];

export async function readPythonProject(dir: string): Promise<PythonProject> {
  const text = await readText(dir, 'pyproject.toml');
  let pyproject: TomlTable | undefined;
  let pyprojectError: string | undefined;
  if (text !== undefined) {
    try {
      pyproject = parseToml(text);
    } catch (err) {
      pyprojectError = err instanceof Error ? err.message : String(err);
    }
  }
  const setupCfg = await readText(dir, 'setup.cfg');
  const hasSetupPy = await exists(path.join(dir, 'setup.py'));
  const installable =
    (text !== undefined &&
      (pyproject === undefined ||
        isTable(pyproject['build-system']) ||
        isTable(pyproject.project) ||
        isTable(tomlGet(pyproject, 'tool', 'poetry')))) ||
    hasSetupPy ||
    (setupCfg !== undefined && /^\s*\[metadata\]/m.test(setupCfg));

  const { manager, lockfile } = await chooseManager(dir);

  const declaredExtras = new Set<string>([
    ...Object.keys(tableAt(pyproject, 'project', 'optional-dependencies')),
    ...Object.keys(tableAt(pyproject, 'tool', 'poetry', 'extras')),
    ...(setupCfg !== undefined ? iniKeys(setupCfg, 'options.extras_require') : []),
  ]);
  const extras = pickNames(declaredExtras);

  // PEP 735 groups, PDM's and uv's older dev-dependency tables: all lists of PEP 508 requirements.
  const groupRequirements: string[] = [];
  const groupsOf = (table: TomlTable): string[] => {
    const names = pickNames(new Set(Object.keys(table)));
    for (const name of names) groupRequirements.push(...resolveGroup(table, name, new Set()));
    return names;
  };
  const dependencyGroups = groupsOf(tableAt(pyproject, 'dependency-groups'));
  const pdmDevGroups = groupsOf(tableAt(pyproject, 'tool', 'pdm', 'dev-dependencies'));
  const uvDev = tomlGet(pyproject ?? {}, 'tool', 'uv', 'dev-dependencies');
  if (Array.isArray(uvDev)) {
    groupRequirements.push(...uvDev.filter((v): v is string => typeof v === 'string'));
  }

  const poetryGroups = tableAt(pyproject, 'tool', 'poetry', 'group');
  const poetryOptionalGroups = pickNames(
    new Set(Object.keys(poetryGroups).filter((g) => tomlGet(poetryGroups, g, 'optional') === true)),
  );

  const requirementFiles: string[] = [];
  if (await exists(path.join(dir, 'requirements.txt'))) requirementFiles.push('requirements.txt');
  const testFiles = await existing(dir, TEST_REQUIREMENT_FILES);
  requirementFiles.push(...(testFiles.length > 0 ? testFiles : await existing(dir, DEV_REQUIREMENT_FILES)));

  const srcLayout = await hasSrcPackage(path.join(dir, 'src'));
  return {
    pyproject,
    pyprojectError,
    setupCfg,
    installable,
    manager,
    lockfile,
    extras,
    dependencyGroups,
    pdmDevGroups,
    groupRequirements: [...new Set(groupRequirements)],
    poetryOptionalGroups,
    requirementFiles,
    srcLayout,
  };
}

async function chooseManager(dir: string): Promise<{ manager: PythonManager; lockfile?: string }> {
  // Only with a lockfile: without one, these tools would write one into the repository.
  if (await exists(path.join(dir, 'uv.lock'))) return { manager: 'uv', lockfile: 'uv.lock' };
  if (await exists(path.join(dir, 'poetry.lock'))) return { manager: 'poetry', lockfile: 'poetry.lock' };
  if (await exists(path.join(dir, 'pdm.lock'))) return { manager: 'pdm', lockfile: 'pdm.lock' };
  return { manager: 'pip' };
}

/** The test-like names among `names`: the test ones, or the dev ones when there is no test one. */
function pickNames(names: Set<string>): string[] {
  const tests = TEST_NAMES.filter((n) => names.has(n));
  return tests.length > 0 ? tests : DEV_NAMES.filter((n) => names.has(n));
}

function tableAt(root: TomlTable | undefined, ...keys: string[]): TomlTable {
  const v = root && tomlGet(root, ...keys);
  return isTable(v) ? v : {};
}

/** A PEP 735 group's requirements, `{include-group = "…"}` followed (each group once). */
function resolveGroup(table: TomlTable, name: string, seen: Set<string>): string[] {
  if (seen.has(name)) return [];
  seen.add(name);
  const list: TomlValue | undefined = table[name];
  if (!Array.isArray(list)) return [];
  const out: string[] = [];
  for (const item of list) {
    if (typeof item === 'string') out.push(item);
    else if (isTable(item) && typeof item['include-group'] === 'string')
      out.push(...resolveGroup(table, item['include-group'], seen));
  }
  return out;
}

/** Keys of an INI section (`key = value` or `key =` with continuation lines). */
export function iniKeys(text: string, section: string): string[] {
  return Object.keys(iniSection(text, section) ?? {});
}

/**
 * One section of an INI file as configparser reads it: `key = value` (or `key: value`), a value
 * continued on indented lines, `#` and `;` comment lines. Undefined when the section is absent.
 */
export function iniSection(text: string, section: string): Record<string, string> | undefined {
  let inside = false;
  let found = false;
  let key: string | undefined;
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const header = /^\[([^\]]+)\]\s*$/.exec(raw);
    if (header) {
      inside = header[1]!.trim() === section;
      found ||= inside;
      key = undefined;
      continue;
    }
    if (!inside) continue;
    if (/^\s*[#;]/.test(raw) || raw.trim() === '') {
      // A blank line inside a value keeps the value going in configparser; here it ends nothing.
      continue;
    }
    if (/^\s/.test(raw) && key !== undefined) {
      out[key] += '\n' + raw.trim();
      continue;
    }
    const kv = /^([^=:\s][^=:]*?)\s*[=:]\s*(.*)$/.exec(raw);
    if (kv) {
      key = kv[1]!.trim();
      out[key] = kv[2]!.trim();
    }
  }
  return found ? out : undefined;
}

async function existing(dir: string, names: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const n of names) if (await exists(path.join(dir, n))) out.push(n);
  return out;
}

/** src/ holds a package or a module (a link is not followed: src/ must be the repository's own). */
async function hasSrcPackage(src: string): Promise<boolean> {
  try {
    if (!(await fs.lstat(src)).isDirectory()) return false;
    return (await fs.readdir(src, { withFileTypes: true })).some(
      (e) =>
        (e.isDirectory() &&
          !e.name.startsWith('.') &&
          !e.name.endsWith('.egg-info') &&
          e.name !== '__pycache__') ||
        (e.isFile() && e.name.endsWith('.py')),
    );
  } catch {
    return false;
  }
}
