/** Helpers the ecosystem detectors share. */
import { promises as fs } from 'node:fs';
import { readRepoText } from '../../agent/safe-fs.ts';

export interface DetectedTestCommand {
  command: string;
  /** Run before `command` when present (e.g. `npm ci` when node_modules is missing). */
  setup?: string;
  /** Why this command, for logs and the agent (e.g. "package.json scripts.test (npm)"). */
  source: string;
}

export type Detector = (dir: string) => Promise<DetectedTestCommand | undefined>;

export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * A file of the repository, read without following a link out of it and never a FIFO or device
 * (the repository is untrusted: a `package.json` FIFO would hang the runner).
 */
export function readText(dir: string, name: string): Promise<string | undefined> {
  return readRepoText(dir, name, 4 * 1024 * 1024);
}

export async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

export async function isDir(file: string): Promise<boolean> {
  try {
    return (await fs.stat(file)).isDirectory();
  } catch {
    return false;
  }
}
