/**
 * A file tree summed up per entry (type, mode, owner, link count, symlink target, size, sha256)
 * and two such summaries compared, for checking an unpacked image against an oracle's.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** One entry of a tree, path relative to its root (`.` is the root). */
export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'char' | 'block' | 'socket';
  /** Permission and setuid/setgid/sticky bits. */
  mode: number;
  uid: number;
  gid: number;
  /** Link count (hard links), files only; folders' counts depend on the file system. */
  nlink?: number;
  target?: string;
  size?: number;
  sha256?: string;
  rdev?: number;
}

/** How a tree is read: owners minus these offsets (a tree owned in an id range compares with a plain one). */
export interface TreeOptions {
  uidOffset?: number;
  gidOffset?: number;
  /** Leave out the root entry (its owner and mode come from the mount, not the image). */
  skipRoot?: boolean;
}

/** Every entry under `root` (symlinks not followed), keyed by relative path. */
export async function treeSummary(root: string, opts: TreeOptions = {}): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  const walk = async (rel: string): Promise<void> => {
    const path = rel === '.' ? root : join(root, rel);
    const s = await lstat(path);
    const entry: TreeEntry = { type: kindOf(s), mode: s.mode & 0o7777, uid: s.uid - (opts.uidOffset ?? 0), gid: s.gid - (opts.gidOffset ?? 0) };
    if (entry.type === 'file') {
      entry.nlink = s.nlink;
      entry.size = s.size;
      entry.sha256 = await sha256(path);
    } else if (entry.type === 'symlink') {
      entry.target = await readlink(path);
    } else if (entry.type === 'char' || entry.type === 'block') {
      entry.rdev = s.rdev;
    }
    if (!(rel === '.' && opts.skipRoot)) out.set(rel, entry);
    if (entry.type === 'dir') {
      for (const name of (await readdir(path)).sort()) await walk(rel === '.' ? name : join(rel, name));
    }
  };
  await walk('.');
  return out;
}

/** The differences between two summaries, one line each (empty when equal). */
export function diffTrees(actual: Map<string, TreeEntry>, expected: Map<string, TreeEntry>): string[] {
  const lines: string[] = [];
  for (const [path, want] of expected) {
    const got = actual.get(path);
    if (!got) lines.push(`missing: ${path}`);
    else if (JSON.stringify(got) !== JSON.stringify(want)) lines.push(`differs: ${path}: got ${show(got)}, want ${show(want)}`);
  }
  for (const path of actual.keys()) if (!expected.has(path)) lines.push(`extra: ${path}`);
  return lines;
}

const show = (e: TreeEntry): string => JSON.stringify({ ...e, mode: e.mode.toString(8) });

function kindOf(s: Awaited<ReturnType<typeof lstat>>): TreeEntry['type'] {
  if (s.isFile()) return 'file';
  if (s.isDirectory()) return 'dir';
  if (s.isSymbolicLink()) return 'symlink';
  if (s.isFIFO()) return 'fifo';
  if (s.isCharacterDevice()) return 'char';
  if (s.isBlockDevice()) return 'block';
  return 'socket';
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
