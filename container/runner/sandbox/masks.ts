/**
 * What an unprivileged user could not read under the system folders the namespaces sandbox shows
 * (read-only) to its commands. Inside the sandbox the runner's uid is mapped, so a file only its
 * owner may read (/etc/shadow, /etc/ssl/private) would be readable there: each such path is
 * covered (a file by /dev/null, a folder by an empty tmpfs). The rule follows the permission
 * bits, not a list of names: the sandbox sees what "others" may read, nothing more.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Mask {
  path: string;
  kind: 'file' | 'dir';
}

/** Walks each root (not following links), at most `maxEntries` entries in all. */
export function unreadableByOthers(roots: string[], maxEntries = 200_000): Mask[] {
  const masks: Mask[] = [];
  let seen = 0;
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (++seen > maxEntries) return;
      const path = join(dir, name);
      let st;
      try {
        st = lstatSync(path);
      } catch {
        continue;
      }
      if (st.isSymbolicLink()) continue;
      if (st.isDirectory()) {
        if ((st.mode & 0o005) !== 0o005) masks.push({ path, kind: 'dir' });
        else walk(path);
      } else if (st.isFile() && (st.mode & 0o004) === 0) {
        masks.push({ path, kind: 'file' });
      }
    }
  };
  for (const root of roots) walk(root);
  return masks;
}
