/**
 * File tree fingerprints for comparing an unpacked image with an oracle (umoci's flattened
 * rootfs): one entry per path with type, mode, owners (optionally shifted back from a user
 * namespace's range), link count, symlink target, size and content hash.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** One file in a tree; `path` is relative to the tree's root, without a leading `./`. */
export interface TreeEntry {
  path: string;
  /** f file, d dir, l symlink, c char device, b block device, p FIFO, s socket. */
  type: 'f' | 'd' | 'l' | 'c' | 'b' | 'p' | 's';
  /** Permission bits with setuid, setgid and sticky (`mode & 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  /** Link count; 0 for directories, whose count overlayfs reports as 1. */
  nlink: number;
  /** A symlink's target. */
  target?: string;
  /** A regular file's size. */
  size?: number;
  /** sha256 of a regular file's content. */
  sha256?: string;
  /** `major:minor` of a device node (overlay whiteouts are `c 0:0`). */
  rdev?: string;
  /** Extended attributes as `name=hex` (when asked; `trusted.overlay.*` left out). */
  xattrs?: string[];
}

/** How to read a tree: owner offsets subtracted from uids/gids, and whether to read xattrs. */
export interface TreeSumOptions {
  uidOffset?: number;
  gidOffset?: number;
  xattrs?: boolean;
}

/** Every entry under `dir` (not `dir` itself), sorted by path. */
export async function treeSum(dir: string, opts: TreeSumOptions = {}): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(dir, rel))).sort();
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const full = join(dir, path);
      const st = await lstat(full);
      const type = st.isFile() ? 'f' : st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : 's';
      const e: TreeEntry = { path, type, mode: st.mode & 0o7777, uid: st.uid - (opts.uidOffset ?? 0), gid: st.gid - (opts.gidOffset ?? 0), nlink: type === 'd' ? 0 : st.nlink };
      if (type === 'l') e.target = await readlink(full);
      if (type === 'f') {
        e.size = st.size;
        e.sha256 = await hashFile(full);
      }
      if (type === 'c' || type === 'b') e.rdev = `${Math.floor(st.rdev / 256) & 0xfff}:${(st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)}`;
      out.push(e);
      if (type === 'd') await walk(path);
    }
  };
  await walk('');
  if (opts.xattrs) await addXattrs(dir, out);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The same entries keyed by path (the root never among them; `skipRoot` is accepted for callers that ask). */
export async function treeSummary(dir: string, opts: TreeSumOptions & { skipRoot?: boolean } = {}): Promise<Map<string, TreeEntry>> {
  return new Map((await treeSum(dir, opts)).map((e) => [e.path, e]));
}

/** Overlay whiteouts (`c 0:0`) in a tree: none may be left in a merged view. */
export function whiteouts(entries: readonly TreeEntry[]): string[] {
  return entries.filter((e) => e.type === 'c' && e.rdev === '0:0').map((e) => e.path);
}

/** Human-readable differences between two trees (`a` the one tested, `b` the expected); empty when equal. */
export function diffTrees(a: Iterable<TreeEntry> | ReadonlyMap<string, TreeEntry>, b: Iterable<TreeEntry> | ReadonlyMap<string, TreeEntry>, opts: { ignore?: (path: string) => boolean } = {}): string[] {
  const ignore = opts.ignore ?? (() => false);
  const entries = (t: Iterable<TreeEntry> | ReadonlyMap<string, TreeEntry>): TreeEntry[] => (t instanceof Map ? [...t.values()] : [...(t as Iterable<TreeEntry>)]);
  const byA = new Map(entries(a).filter((e) => !ignore(e.path)).map((e) => [e.path, e]));
  const byB = new Map(entries(b).filter((e) => !ignore(e.path)).map((e) => [e.path, e]));
  const diffs: string[] = [];
  for (const [path, eb] of byB) {
    const ea = byA.get(path);
    if (!ea) {
      diffs.push(`missing: ${path} (${describe(eb)})`);
      continue;
    }
    const fields: (keyof TreeEntry)[] = ['type', 'mode', 'uid', 'gid', 'nlink', 'target', 'size', 'sha256', 'rdev', 'xattrs'];
    for (const f of fields) {
      const va = show(f, ea[f]);
      const vb = show(f, eb[f]);
      if (va !== vb) diffs.push(`${f} differs: ${path}: ${va} (expected ${vb})`);
    }
  }
  for (const [path, ea] of byA) if (!byB.has(path)) diffs.push(`extra: ${path} (${describe(ea)})`);
  return diffs.sort();
}

/** Unpacks `<layout>:<tag>` with `umoci raw unpack` (rootfs only; as root) into `dest`, which must not exist. */
export async function oracleUnpack(layout: string, tag: string, dest: string, signal?: AbortSignal): Promise<string> {
  try {
    await execFileP('umoci', ['raw', 'unpack', '--image', `${layout}:${tag}`, dest], { signal });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`umoci raw unpack of "${layout}:${tag}" failed: ${e.stderr || e.message}`);
  }
  return dest;
}

function show(field: keyof TreeEntry, v: unknown): string {
  if (v === undefined) return '-';
  if (field === 'mode') return (v as number).toString(8).padStart(4, '0');
  if (field === 'xattrs') return (v as string[]).join(',') || '-';
  return String(v);
}

function describe(e: TreeEntry): string {
  return `${e.type} ${show('mode', e.mode)} ${e.uid}:${e.gid}${e.target !== undefined ? ` -> ${e.target}` : ''}${e.size !== undefined ? ` ${e.size} bytes` : ''}`;
}

function hashFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

// one getfattr for the whole tree: `# file: <path>` then `name=0x<hex>` lines
async function addXattrs(dir: string, entries: TreeEntry[]): Promise<void> {
  const { stdout } = await execFileP('getfattr', ['-R', '-P', '-d', '-m', '-', '-e', 'hex', '--absolute-names', dir], { maxBuffer: 256 << 20 }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  const found = new Map<string, string[]>();
  let current = '';
  for (const line of stdout.split('\n')) {
    if (line.startsWith('# file: ')) current = unescapeOctal(line.slice('# file: '.length)).slice(dir.length + 1);
    else if (line.includes('=') && !line.startsWith('trusted.overlay.')) found.set(current, [...(found.get(current) ?? []), line]);
  }
  for (const e of entries) {
    const x = found.get(e.path);
    if (x) e.xattrs = x.sort();
  }
}

// getfattr escapes unusual bytes in names as \ooo
function unescapeOctal(s: string): string {
  const bytes: number[] = [];
  const chars = Array.from(s);
  for (let i = 0; i < chars.length; i++) {
    const oct = chars.slice(i + 1, i + 4).join('');
    if (chars[i] === '\\' && /^[0-7]{3}$/.test(oct)) {
      bytes.push(parseInt(oct, 8));
      i += 3;
    } else bytes.push(...Buffer.from(chars[i]!));
  }
  return Buffer.from(bytes).toString();
}
