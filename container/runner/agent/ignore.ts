/**
 * A small .gitignore matcher (the rules of gitignore(5): comments, negation, anchoring by a slash,
 * directory-only patterns, `*`, `?`, `[...]`, `**`), plus the glob-to-RegExp conversion that
 * search_code's `glob` filter shares. Rules come from every .gitignore on the way from the root
 * to an entry (deeper files win) and from .git/info/exclude (lowest precedence).
 */
import { open } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { readRepoText } from './safe-fs.ts';

export interface IgnoreRule {
  /** Directory of the .gitignore that holds the rule, repository-relative ('' for the root). */
  base: string;
  regex: RegExp;
  negate: boolean;
  dirOnly: boolean;
  /** A pattern without a slash matches the entry's name at any depth below `base`. */
  matchName: boolean;
  source: string;
}

export interface GlobOptions {
  /** Expands `{a,b}` alternatives (search globs; gitignore has none). */
  braces?: boolean;
}

/** Converts a glob to the source of an anchored RegExp over '/'-separated paths. */
export function globToRegExpSource(glob: string, opts: GlobOptions = {}): string {
  let out = '';
  let braceDepth = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        let j = i;
        while (glob[j] === '*') j++;
        const atStart = i === 0 || glob[i - 1] === '/';
        const atEnd = j === glob.length || glob[j] === '/';
        if (atStart && atEnd) {
          if (j === glob.length) {
            out += '.*';
            i = j - 1;
          } else {
            out += '(?:.*/)?'; // `**/`: zero or more directories
            i = j; // the slash is consumed
          }
          continue;
        }
        out += '[^/]*';
        i = j - 1;
        continue;
      }
      out += '[^/]*';
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      let j = i + 1;
      if (glob[j] === '!' || glob[j] === '^') j++;
      if (glob[j] === ']') j++;
      while (j < glob.length && glob[j] !== ']') j++;
      if (j >= glob.length) {
        out += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, j);
      let negate = false;
      if (body.startsWith('!') || body.startsWith('^')) {
        negate = true;
        body = body.slice(1);
      }
      body = body.replace(/\\/g, '\\\\').replace(/\[/g, '\\[').replace(/\]/g, '\\]');
      out += `[${negate ? '^' : ''}${body}]`;
      i = j;
    } else if (c === '\\' && i + 1 < glob.length) {
      out += escapeRegExp(glob[i + 1] as string);
      i++;
    } else if (opts.braces && c === '{') {
      braceDepth++;
      out += '(?:';
    } else if (opts.braces && c === '}' && braceDepth > 0) {
      braceDepth--;
      out += ')';
    } else if (opts.braces && c === ',' && braceDepth > 0) {
      out += '|';
    } else {
      out += escapeRegExp(c);
    }
  }
  while (braceDepth-- > 0) out += ')';
  return out;
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Parses the text of one .gitignore whose directory is `base` (repository-relative, '' for the root). */
export function parseGitignore(text: string, base: string, source = '.gitignore'): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (let line of text.split('\n')) {
    line = line.replace(/\r$/, '');
    if (line === '' || line.startsWith('#')) continue;
    // Trailing spaces are ignored unless escaped with a backslash.
    line = line.replace(/(?<!\\)\s+$/, '');
    if (line.endsWith('\\ ')) line = line.slice(0, -2) + ' ';
    if (line === '') continue;
    let negate = false;
    if (line.startsWith('!')) {
      negate = true;
      line = line.slice(1);
    } else if (line.startsWith('\\!') || line.startsWith('\\#')) {
      line = line.slice(1);
    }
    let dirOnly = false;
    if (line.endsWith('/')) {
      dirOnly = true;
      line = line.replace(/\/+$/, '');
    }
    if (line === '') continue;
    const matchName = !line.includes('/');
    if (line.startsWith('/')) line = line.slice(1);
    rules.push({
      base,
      regex: new RegExp(`^${globToRegExpSource(line)}$`),
      negate,
      dirOnly,
      matchName,
      source,
    });
  }
  return rules;
}

function ruleMatches(rule: IgnoreRule, rel: string, isDir: boolean): boolean {
  if (rule.dirOnly && !isDir) return false;
  let sub: string;
  if (rule.base === '') sub = rel;
  else if (rel.startsWith(rule.base + '/')) sub = rel.slice(rule.base.length + 1);
  else return false;
  const subject = rule.matchName ? sub.slice(sub.lastIndexOf('/') + 1) : sub;
  return rule.regex.test(subject);
}

/**
 * Decides whether one entry is ignored by the rules that apply to it. It does not look at the
 * entry's parents: a walker that skips ignored directories never reaches their contents (as in git,
 * where a file inside an excluded directory cannot be re-included).
 */
export class IgnoreMatcher {
  private readonly root: string;
  private readonly cache = new Map<string, Promise<IgnoreRule[]>>();

  constructor(root: string) {
    this.root = root;
  }

  private rulesOf(dirRel: string): Promise<IgnoreRule[]> {
    let p = this.cache.get(dirRel);
    if (!p) {
      const file = dirRel === '' ? '.gitignore' : `${dirRel}/.gitignore`;
      // Through safe-fs: a .gitignore that is a FIFO or a link out of the repository is no rule.
      p = readRepoText(this.root, file, 1024 * 1024).then(
        (text) => (text === undefined ? [] : parseGitignore(text, dirRel, file)),
        () => [],
      );
      this.cache.set(dirRel, p);
    }
    return p;
  }

  private excludeRules(): Promise<IgnoreRule[]> {
    const key = '\0info/exclude';
    let p = this.cache.get(key);
    if (!p) {
      p = readExclude(this.root).then(
        (text) => (text === undefined ? [] : parseGitignore(text, '', '.git/info/exclude')),
        () => [],
      );
      this.cache.set(key, p);
    }
    return p;
  }

  /** `rel`: repository-relative path with forward slashes. */
  async isIgnored(rel: string, isDir: boolean): Promise<boolean> {
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    if (name === '.git') return true;
    const dirs = [''];
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) dirs.push(parts.slice(0, i).join('/'));
    const ruleSets = [await this.excludeRules(), ...(await Promise.all(dirs.map((d) => this.rulesOf(d))))];
    let ignored = false;
    for (const rules of ruleSets) {
      for (const rule of rules) {
        if (ruleMatches(rule, rel, isDir)) ignored = !rule.negate;
      }
    }
    return ignored;
  }
}

/**
 * `.git/info/exclude` (which safe-fs does not open: it keeps out of .git), read without following
 * a link and only when it is a regular file, at most 1 MiB.
 */
async function readExclude(root: string): Promise<string | undefined> {
  const fh = await open(
    path.join(root, '.git', 'info', 'exclude'),
    constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
  );
  try {
    if (!(await fh.stat()).isFile()) return undefined;
    const buf = Buffer.alloc(1024 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}
