/**
 * Tree-level helpers over isomorphic-git's object store: look an entry up, list and compare trees
 * (skipping identical subtrees), and write a new tree from an old one plus a set of file changes,
 * writing only the trees along the changed paths. They let the isomorphic engine commit and
 * replay commits without isomorphic-git's whole-tree walks (design.md: its `commit` writes every
 * tree of the repository).
 */
import fs from 'node:fs';
import git from 'isomorphic-git';
import type { TreeEntry } from 'isomorphic-git';

export interface TreeCtx {
  dir: string;
  cache: object;
}

export interface BlobEntry {
  /** '100644', '100755', '120000' or '160000'. */
  mode: string;
  oid: string;
}

export interface TreeChange {
  path: string;
  old?: BlobEntry;
  new?: BlobEntry;
}

const TREE_MODE = '040000';

export async function readTreeEntries(ctx: TreeCtx, oid: string): Promise<TreeEntry[]> {
  const { tree } = await git.readTree({ fs, dir: ctx.dir, oid, cache: ctx.cache });
  return tree;
}

export async function commitTreeOid(ctx: TreeCtx, commitOid: string): Promise<string> {
  const { commit } = await git.readCommit({ fs, dir: ctx.dir, oid: commitOid, cache: ctx.cache });
  return commit.tree;
}

const normMode = (mode: string) => (mode === '40000' ? TREE_MODE : mode);
const isTree = (e: TreeEntry) => e.type === 'tree';

/** The entry at `filepath` in a tree (file, gitlink or folder), if any. */
export async function lookupEntry(
  ctx: TreeCtx,
  treeOid: string,
  filepath: string,
): Promise<(BlobEntry & { type: TreeEntry['type'] }) | undefined> {
  let current = treeOid;
  const parts = filepath.split('/');
  for (let i = 0; i < parts.length; i++) {
    const entry = (await readTreeEntries(ctx, current)).find((e) => e.path === parts[i]);
    if (!entry) return undefined;
    if (i === parts.length - 1) return { mode: normMode(entry.mode), oid: entry.oid, type: entry.type };
    if (!isTree(entry)) return undefined;
    current = entry.oid;
  }
  return undefined;
}

/** Every file (blob or gitlink) under a tree, with paths prefixed by `prefix`. */
export async function listTreeFiles(
  ctx: TreeCtx,
  treeOid: string,
  prefix = '',
): Promise<Array<{ path: string; entry: BlobEntry }>> {
  const out: Array<{ path: string; entry: BlobEntry }> = [];
  for (const e of await readTreeEntries(ctx, treeOid)) {
    const p = prefix ? `${prefix}/${e.path}` : e.path;
    if (isTree(e)) out.push(...(await listTreeFiles(ctx, e.oid, p)));
    else out.push({ path: p, entry: { mode: normMode(e.mode), oid: e.oid } });
  }
  return out;
}

/** File-level differences between two trees (either may be absent), sorted by path. */
export async function diffTrees(
  ctx: TreeCtx,
  a: string | undefined,
  b: string | undefined,
  prefix = '',
): Promise<TreeChange[]> {
  if (a === b) return [];
  const aEntries = a ? await readTreeEntries(ctx, a) : [];
  const bEntries = b ? await readTreeEntries(ctx, b) : [];
  const aMap = new Map(aEntries.map((e) => [e.path, e]));
  const bMap = new Map(bEntries.map((e) => [e.path, e]));
  const names = [...new Set([...aMap.keys(), ...bMap.keys()])];
  const out: TreeChange[] = [];
  for (const name of names) {
    const p = prefix ? `${prefix}/${name}` : name;
    const x = aMap.get(name);
    const y = bMap.get(name);
    if (x && y && x.oid === y.oid && normMode(x.mode) === normMode(y.mode)) continue;
    const xTree = x && isTree(x) ? x.oid : undefined;
    const yTree = y && isTree(y) ? y.oid : undefined;
    if (xTree || yTree) out.push(...(await diffTrees(ctx, xTree, yTree, p)));
    const xFile = x && !isTree(x) ? { mode: normMode(x.mode), oid: x.oid } : undefined;
    const yFile = y && !isTree(y) ? { mode: normMode(y.mode), oid: y.oid } : undefined;
    if (xFile || yFile)
      out.push({ path: p, ...(xFile ? { old: xFile } : {}), ...(yFile ? { new: yFile } : {}) });
  }
  return out.sort((m, n) => (m.path < n.path ? -1 : m.path > n.path ? 1 : 0));
}

/**
 * A new tree: `treeOid` (absent: empty) with each path in `changes` set to the given file entry
 * or removed (null). Folders left empty disappear. Returns undefined for an empty tree.
 */
export async function applyTreeChanges(
  ctx: TreeCtx,
  treeOid: string | undefined,
  changes: Map<string, BlobEntry | null>,
): Promise<string | undefined> {
  const entries = new Map<string, TreeEntry>();
  if (treeOid)
    for (const e of await readTreeEntries(ctx, treeOid))
      entries.set(e.path, { ...e, mode: normMode(e.mode) });

  const direct = new Map<string, BlobEntry | null>();
  const nested = new Map<string, Map<string, BlobEntry | null>>();
  for (const [p, change] of changes) {
    const slash = p.indexOf('/');
    if (slash < 0) {
      direct.set(p, change);
      continue;
    }
    const head = p.slice(0, slash);
    let sub = nested.get(head);
    if (!sub) nested.set(head, (sub = new Map()));
    sub.set(p.slice(slash + 1), change);
  }

  for (const name of new Set([...direct.keys(), ...nested.keys()])) {
    const existing = entries.get(name);
    const d = direct.get(name);
    const blob = (e: BlobEntry): TreeEntry => ({
      path: name,
      mode: e.mode,
      oid: e.oid,
      type: e.mode === '160000' ? 'commit' : 'blob',
    });
    let result: TreeEntry | undefined = d === undefined ? existing : d === null ? undefined : blob(d);
    const sub = nested.get(name);
    if (sub) {
      const base = existing && isTree(existing) ? existing.oid : undefined;
      const subOid = await applyTreeChanges(ctx, base, sub);
      if (subOid) result = { path: name, mode: TREE_MODE, oid: subOid, type: 'tree' };
      else if (result && isTree(result)) result = undefined;
    }
    if (result) entries.set(name, result);
    else entries.delete(name);
  }
  if (entries.size === 0) return undefined;
  return git.writeTree({ fs, dir: ctx.dir, tree: [...entries.values()] });
}

export const EMPTY_TREE_OID = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
