/** Python projects: pytest when the repository configures it or has tests/test_*.py. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { exists, readText, type DetectedTestCommand } from './common.ts';

const PYTEST = 'python3 -m pytest -q';

export async function detectPytest(dir: string): Promise<DetectedTestCommand | undefined> {
  if (await exists(path.join(dir, 'pytest.ini'))) return { command: PYTEST, source: 'pytest.ini' };
  const pyproject = await readText(dir, 'pyproject.toml');
  if (pyproject !== undefined && /^\s*\[tool\.pytest(\.ini_options)?\]/m.test(pyproject)) {
    return { command: PYTEST, source: 'pyproject.toml [tool.pytest]' };
  }
  const setupCfg = await readText(dir, 'setup.cfg');
  if (setupCfg !== undefined && /^\s*\[tool:pytest\]/m.test(setupCfg)) {
    return { command: PYTEST, source: 'setup.cfg [tool:pytest]' };
  }
  if (await exists(path.join(dir, 'tox.ini'))) return { command: PYTEST, source: 'tox.ini' };
  if (await exists(path.join(dir, 'conftest.py'))) return { command: PYTEST, source: 'conftest.py' };
  if (await hasPythonTests(path.join(dir, 'tests'), 3)) {
    return { command: PYTEST, source: 'tests/ with test_*.py files' };
  }
  return undefined;
}

async function hasPythonTests(dir: string, depth: number): Promise<boolean> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  if (entries.some((e) => e.isFile() && /^test_.*\.py$/.test(e.name))) return true;
  if (depth <= 1) return false;
  for (const e of entries) {
    if (e.isDirectory() && !e.name.startsWith('.') && e.name !== '__pycache__') {
      if (await hasPythonTests(path.join(dir, e.name), depth - 1)) return true;
    }
  }
  return false;
}
