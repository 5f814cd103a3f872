/**
 * Opens the sandbox of one run: picks the mode (index.ts), makes the run's private folders, and
 * for the user mode hands the repository and those folders to the agent's uid (the runner keeps
 * its own files, mode 0700, out of its reach).
 */
import { chmod, chown, lstat, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../../core/config/schema.ts';
import { chooseMode, createSandbox, systemProbe, type Probe, type SandboxSettings } from './index.ts';
import type { Sandbox } from './types.ts';

export interface SandboxProvider {
  /** The sandbox for commands in `repoDir`; `scratchDir` holds the run's private folders. */
  open(repoDir: string, scratchDir: string): Promise<Sandbox>;
}

export function sandboxSettings(config: Config): SandboxSettings {
  const s = config.sandbox;
  return {
    mode: s.mode,
    allowUnsandboxed: s.allow_unsandboxed,
    uid: s.uid,
    gid: s.uid,
    readOnlyPaths: s.read_only_paths,
    limits: {
      fileBytes: s.limits.file_bytes,
      processes: s.limits.processes,
      openFiles: s.limits.open_files,
      memoryBytes: s.limits.memory_bytes,
    },
  };
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(p, uid, gid);
    else {
      const st = await lstat(p);
      // lchown semantics: a link is handed over, never what it points to.
      if (st.isSymbolicLink()) continue;
      await chown(p, uid, gid);
    }
  }
}

export function sandboxProvider(settings: SandboxSettings, probe: Probe = systemProbe): SandboxProvider {
  return {
    async open(repoDir, scratchDir) {
      const { mode, why } = chooseMode(settings, probe);
      const homeDir = path.join(scratchDir, 'sandbox-home');
      const tmpDir = path.join(scratchDir, 'sandbox-tmp');
      await mkdir(homeDir, { recursive: true, mode: 0o700 });
      await mkdir(tmpDir, { recursive: true, mode: 0o700 });
      if (mode === 'user') {
        // The uid may pass through the scratch folder to the repository, not list it.
        await chmod(scratchDir, 0o711);
        for (const d of [repoDir, homeDir, tmpDir]) await chownTree(d, settings.uid, settings.gid);
      }
      return createSandbox(mode, why, settings, { repoDir, homeDir, tmpDir });
    },
  };
}
