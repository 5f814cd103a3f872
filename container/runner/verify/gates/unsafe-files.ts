/**
 * The committable-files gate, run on the changed files before the commit: a symbolic link whose
 * target leaves the repository (an absolute target, `..` past the root, into `.git`, or a chain of
 * links that ends outside), a file over `limits.max_file_bytes`, and a hard link (a file with
 * more than one name: its content may be a file outside the repository) are refused, each named
 * with its reason. Entries are looked at through agent/safe-fs.ts (never followed out of the
 * repository); deleted files, directories and what git does not store (FIFOs, sockets) are
 * skipped.
 */
import path from 'node:path';
import { isGitDirName } from '../../agent/paths.ts';
import { isAvatarError } from '../../../../core/errors.ts';
import { readLinkInRepo, statInRepo } from '../../agent/safe-fs.ts';

/** limits.max_file_bytes when not configured. */
export const DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024;

export interface UnsafeFileFinding {
  file: string;
  kind: 'symlink_outside' | 'too_large' | 'hard_link';
  /** Says why, for the logs and the repair request. */
  reason: string;
}

function size(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
    : bytes >= 1024
      ? `${(bytes / 1024).toFixed(1)} KiB`
      : `${bytes} bytes`;
}

/** Why a symbolic link at `file` with `target` leaves the repository, or undefined when it stays inside. */
async function linkProblem(repoDir: string, file: string, target: string): Promise<string | undefined> {
  const shown = JSON.stringify(target);
  if (path.posix.isAbsolute(target) || /^[a-z]:[\\/]/i.test(target) || target.startsWith('\\')) {
    return `a symbolic link to the absolute path ${shown}, outside the repository (a clone anywhere else points elsewhere)`;
  }
  const dir = path.posix.dirname(file);
  const joined = path.posix.normalize(dir === '.' ? target : `${dir}/${target}`);
  if (joined === '..' || joined.startsWith('../')) {
    return `a symbolic link to ${shown}, which climbs out of the repository (..)`;
  }
  const segs = joined.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.some(isGitDirName)) return `a symbolic link to ${shown}, into git's internal .git directory`;
  if (segs.length === 0) return undefined; // the root itself
  // Through the links already there: where it ends (a missing target stays inside: dangling, harmless).
  try {
    await statInRepo(repoDir, segs.join('/'), { listedName: true });
  } catch (err) {
    if (isAvatarError(err, 'PATH_ESCAPE')) {
      return `a symbolic link to ${shown}, which resolves outside the repository through another link`;
    }
  }
  return undefined;
}

/** The changed files that must not be committed, in the order given. */
export async function findUnsafeFiles(
  repoDir: string,
  changed: readonly string[],
  opts: { maxFileBytes?: number } = {},
): Promise<UnsafeFileFinding[]> {
  const max = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const findings: UnsafeFileFinding[] = [];
  for (const file of changed) {
    let stats;
    try {
      ({ stats } = await statInRepo(repoDir, file, { follow: false, listedName: true }));
    } catch (err) {
      if (isAvatarError(err, 'PATH_ESCAPE')) {
        // git lists no path below a link; one that goes through a link out is refused all the same.
        findings.push({
          file,
          kind: 'symlink_outside',
          reason: 'its path goes through a symbolic link that leads outside the repository (or into .git)',
        });
      }
      continue; // deleted, or not there any more
    }
    if (stats.isSymbolicLink()) {
      let target: string;
      try {
        target = await readLinkInRepo(repoDir, file, { listedName: true });
      } catch {
        continue;
      }
      const problem = await linkProblem(repoDir, file, target);
      if (problem) findings.push({ file, kind: 'symlink_outside', reason: problem });
    } else if (stats.isFile()) {
      if (stats.size > max) {
        findings.push({
          file,
          kind: 'too_large',
          reason: `${size(stats.size)} (${stats.size} bytes), larger than limits.max_file_bytes (${size(max)}, ${max} bytes)`,
        });
      }
      if (stats.nlink > 1) {
        findings.push({
          file,
          kind: 'hard_link',
          reason: `a hard link (the file has ${stats.nlink} names): its content may be a file outside the repository`,
        });
      }
    }
  }
  return findings;
}

export function formatUnsafeFile(f: UnsafeFileFinding): string {
  return `${f.file}: ${f.reason}`;
}
