/**
 * A snapshot's manifest: one entry per file of the captured tree, root first, in depth-first
 * pre-order (a folder before what it holds), so that the tree can be rebuilt by walking it once
 * with one open folder per level. Written as JSON lines; names and symlink targets are bytes
 * kept as latin1 text (each byte one character), so any name a container makes survives.
 */
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Xattr } from './file-calls.ts';

/** d folder, f regular file, l symlink, c/b character/block device, p FIFO, s socket. */
export type EntryType = 'd' | 'f' | 'l' | 'c' | 'b' | 'p' | 's';

/** One file of a snapshot, with what the inode carries. */
export interface Entry {
  /** Depth: 0 for the root, 1 for what it holds directly… */
  depth: number;
  /** The name in its folder (empty for the root). */
  name: Buffer;
  type: EntryType;
  /** `mode & 0o7777`: permission bits with setuid, setgid and sticky. */
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  xattrs: Xattr[];
  /** A symlink's target. */
  target?: Buffer;
  /** A device's number (dev_t as glibc encodes it; overlay whiteouts are 0). */
  rdev?: number;
  /** A second name of an inode met earlier in the tree: the index of that entry (a hard link). */
  linkOf?: number;
  /** A regular file: its size and the object that holds its content and inode metadata. */
  size?: number;
  object?: string;
  /** A regular file: the source's inode, ctime and when that stat was taken, for the next capture to tell it unchanged. */
  ino?: bigint;
  ctimeNs?: bigint;
  seenAtNs?: bigint;
}

/** Writes the entries as JSON lines. */
export async function writeManifest(path: string, entries: readonly Entry[]): Promise<void> {
  const lines = entries.map((e) => JSON.stringify(encode(e)));
  await writeFile(path, lines.join('\n') + '\n', { mode: 0o600, flag: 'wx' });
}

/** Reads a manifest written by writeManifest. */
export async function readManifest(path: string): Promise<Entry[]> {
  const out: Entry[] = [];
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) if (line !== '') out.push(decode(JSON.parse(line) as Encoded));
  return out;
}

/** Each entry's path relative to the root (`''` for the root), names joined by `/`, as latin1 text. */
export function entryPaths(entries: readonly Entry[]): string[] {
  const stack: string[] = [];
  return entries.map((e) => {
    stack.length = e.depth;
    const parent = e.depth <= 1 ? '' : `${stack[e.depth - 1]}/`;
    const path = e.depth === 0 ? '' : parent + e.name.toString('latin1');
    stack[e.depth] = path;
    return path;
  });
}

interface Encoded {
  d: number;
  n: string;
  t: EntryType;
  m: number;
  u: number;
  g: number;
  mt: string;
  x?: Array<[string, string]>;
  lt?: string;
  r?: number;
  h?: number;
  s?: number;
  o?: string;
  i?: string;
  ct?: string;
  at?: string;
}

function encode(e: Entry): Encoded {
  const out: Encoded = { d: e.depth, n: e.name.toString('latin1'), t: e.type, m: e.mode, u: e.uid, g: e.gid, mt: e.mtimeNs.toString() };
  if (e.xattrs.length > 0) out.x = e.xattrs.map(([n, v]) => [n.toString('latin1'), v.toString('base64')]);
  if (e.target) out.lt = e.target.toString('latin1');
  if (e.rdev !== undefined) out.r = e.rdev;
  if (e.linkOf !== undefined) out.h = e.linkOf;
  if (e.size !== undefined) out.s = e.size;
  if (e.object !== undefined) out.o = e.object;
  if (e.ino !== undefined) out.i = e.ino.toString();
  if (e.ctimeNs !== undefined) out.ct = e.ctimeNs.toString();
  if (e.seenAtNs !== undefined) out.at = e.seenAtNs.toString();
  return out;
}

function decode(o: Encoded): Entry {
  const e: Entry = { depth: o.d, name: Buffer.from(o.n, 'latin1'), type: o.t, mode: o.m, uid: o.u, gid: o.g, mtimeNs: BigInt(o.mt), xattrs: (o.x ?? []).map(([n, v]) => [Buffer.from(n, 'latin1'), Buffer.from(v, 'base64')]) };
  if (o.lt !== undefined) e.target = Buffer.from(o.lt, 'latin1');
  if (o.r !== undefined) e.rdev = o.r;
  if (o.h !== undefined) e.linkOf = o.h;
  if (o.s !== undefined) e.size = o.s;
  if (o.o !== undefined) e.object = o.o;
  if (o.i !== undefined) e.ino = BigInt(o.i);
  if (o.ct !== undefined) e.ctimeNs = BigInt(o.ct);
  if (o.at !== undefined) e.seenAtNs = BigInt(o.at);
  return e;
}
