/**
 * Reads a container's upper dir into manifest entries, as host root, without ever following a
 * symlink: every folder is opened through its parent's open descriptor (`/proc/self/fd/N/name`,
 * openat's effect) with O_NOFOLLOW and O_DIRECTORY, every other file is lstat'ed, and only
 * regular files are opened (O_NOFOLLOW, O_NONBLOCK, checked to be the inode lstat saw). A symlink
 * is read as its target text; a FIFO or device is never opened. Content of a file that changed
 * since `prior` is taken: a small file into memory, a larger one copied into the stage folder
 * (holes kept); its stat before and after must agree, or it is taken again.
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, readlink, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { BigIntStats } from 'node:fs';
import { copyData, fdPath, looksSparse } from './content.ts';
import { readXattrs, writeBack } from './file-calls.ts';
import { Limiter, mapLimit } from './limiter.ts';
import type { Entry, EntryType } from './manifest.ts';

/** Content taken from a changed file, to be hashed and stored once the container runs again. */
export type Taken = { kind: 'bytes'; data: Buffer } | { kind: 'staged'; path: string };

/** A manifest entry with, for a regular file, either its object (unchanged) or its taken content. */
export interface WalkEntry extends Entry {
  taken?: Taken;
  /** Left out (a first pass only): the file changed or vanished while read. */
  dropped?: boolean;
}

/** What a walk did. */
export interface WalkStats {
  entries: number;
  readFiles: number;
  readBytes: number;
  reusedFiles: number;
}

export interface WalkOptions {
  /** Regular files of an earlier walk or snapshot, by path: an unchanged one is reused unread. */
  prior: ReadonlyMap<string, WalkEntry>;
  /** Where larger changed files are copied (a private folder of the store). */
  stageDir: string;
  /** true: a file that changes or vanishes while read is left out (a first pass, the container running); false: it fails the walk. */
  tolerant: boolean;
  signal?: AbortSignal;
}

/** Deeper than this the walk stops (one open folder per level). */
export const MAX_DEPTH = 4096;
/** Files up to this size are read into memory, as long as the walk holds less than MEMORY_BUDGET. */
const SMALL_FILE = 256 * 1024;
const MEMORY_BUDGET = 256 * 1024 * 1024;
/** A file whose ctime was this close to the moment its stat was taken may change again within the same clock tick: never reused. */
const RACY_NS = 100_000_000n;
/** Names of staged copies: both passes of a capture stage into one folder. */
let stagedFiles = 0;
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const FILE_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Walks `upperDir` into entries (root first, depth-first pre-order, names sorted by their bytes). */
export async function walkTree(upperDir: string, opts: WalkOptions): Promise<{ entries: WalkEntry[]; stats: WalkStats }> {
  const w = new Walker(opts);
  const root = await open(upperDir, DIR_FLAGS);
  try {
    const st = await root.stat({ bigint: true });
    // the daemon's own mark of a restore not yet final (restore.ts) is not the container's: never captured
    const xattrs = readXattrs({ fd: root.fd }, upperDir).filter(([name]) => !name.toString('latin1').startsWith('trusted.hoody.'));
    w.entries.push({ depth: 0, name: Buffer.alloc(0), type: 'd', ...metaOf(st), xattrs });
    await w.dir(root, 1, '');
    await w.settle();
  } finally {
    await root.close();
  }
  const entries = compact(w.entries);
  w.stats.entries = entries.length;
  return { entries, stats: w.stats };
}

/** The entries without the dropped ones (and further names of a dropped file), links renumbered. */
function compact(entries: WalkEntry[]): WalkEntry[] {
  if (!entries.some((e) => e.dropped)) return entries;
  const index = new Map<number, number>();
  const out: WalkEntry[] = [];
  entries.forEach((e, i) => {
    const first = e.linkOf === undefined ? undefined : index.get(e.linkOf);
    if (e.dropped || (e.linkOf !== undefined && first === undefined)) return;
    index.set(i, out.length);
    out.push(first === undefined ? e : { ...e, linkOf: first });
  });
  return out;
}

class Walker {
  readonly entries: WalkEntry[] = [];
  readonly stats: WalkStats = { entries: 0, readFiles: 0, readBytes: 0, reusedFiles: 0 };
  private readonly inodes = new Map<bigint, number>();
  private memory = 0;
  // changed files are read a few at a time, each filling in the entry already placed in order
  private readonly reads = new Limiter(8);
  private readonly pending: Array<Promise<void>> = [];

  constructor(private readonly opts: WalkOptions) {}

  async dir(dir: FileHandle, depth: number, rel: string): Promise<void> {
    if (depth > MAX_DEPTH) throw new Error(`upper dir is deeper than ${MAX_DEPTH} folders at "${rel}"`);
    this.opts.signal?.throwIfAborted();
    const prefix = Buffer.from(`${fdPath(dir.fd)}/`);
    const names = (await readdir(fdPath(dir.fd), { encoding: 'buffer' })).sort(Buffer.compare);
    // the reads of this folder's files go through its descriptor: it stays open until they are done
    const reads: Array<Promise<void>> = [];
    const stats = await mapLimit(names, 16, (n) => lstat(Buffer.concat([prefix, n]), { bigint: true }).catch(gone));
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const st = stats[i];
      const path = Buffer.concat([prefix, name]);
      const childRel = rel === '' ? name.toString('latin1') : `${rel}/${name.toString('latin1')}`;
      if (!st) {
        this.changed(childRel);
        continue;
      }
      if (st.isDirectory()) {
        const child = await open(path, DIR_FLAGS).catch((err: NodeJS.ErrnoException) => (this.changed(childRel, err), undefined));
        if (!child) continue;
        try {
          const cst = await child.stat({ bigint: true });
          if (cst.ino !== st.ino) this.changed(childRel);
          this.entries.push({ depth, name, type: 'd', ...metaOf(cst), xattrs: readXattrs({ fd: child.fd }, childRel) });
          await this.dir(child, depth + 1, childRel);
        } finally {
          await child.close();
        }
        continue;
      }
      const type = typeOf(st);
      if (st.nlink > 1n) {
        const first = this.inodes.get(st.ino);
        if (first !== undefined && this.entries[first]?.type === type) {
          this.entries.push({ depth, name, type, ...metaOf(st), xattrs: [], linkOf: first });
          continue;
        }
        this.inodes.set(st.ino, this.entries.length);
      }
      if (type === 'f') {
        const read = this.file(path, st, childRel, { depth, name });
        if (read) reads.push(read);
      } else if (type === 'l') {
        const target = await readlink(path, { encoding: 'buffer' });
        this.entries.push({ depth, name, type, ...metaOf(st), xattrs: readXattrs({ path }, childRel), target });
      } else {
        this.entries.push({ depth, name, type, ...metaOf(st), xattrs: readXattrs({ path }, childRel), rdev: Number(st.rdev) });
      }
    }
    await Promise.allSettled(reads);
  }

  /** Waits for the files still being read; the first failure (a strict walk) throws. */
  async settle(): Promise<void> {
    const results = await Promise.allSettled(this.pending);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Places the file's entry: reused from `prior` at once, or filled in once its content is taken. */
  private file(path: Buffer, st: BigIntStats, rel: string, at: Pick<Entry, 'depth' | 'name'>): Promise<void> | undefined {
    const prior = this.opts.prior.get(rel);
    if (prior && unchanged(prior, st)) {
      this.stats.reusedFiles++;
      this.entries.push({ ...prior, ...at, linkOf: undefined, mtimeNs: st.mtimeNs });
      return undefined;
    }
    const entry: WalkEntry = { ...at, type: 'f', ...metaOf(st), xattrs: [] };
    this.entries.push(entry);
    const read = this.reads.run(async () => {
      this.opts.signal?.throwIfAborted();
      const got = await this.readFile(path, st, rel, at);
      if (got) Object.assign(entry, got);
      else entry.dropped = true;
    });
    read.catch(() => undefined); // seen by settle()
    this.pending.push(read);
    return read;
  }

  private async readFile(path: Buffer, st: BigIntStats, rel: string, at: Pick<Entry, 'depth' | 'name'>): Promise<WalkEntry | undefined> {
    const fh = await open(path, FILE_FLAGS).catch((err: NodeJS.ErrnoException) => (this.changed(rel, err), undefined));
    if (!fh) return undefined;
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        // written back first: a later write through a shared mapping then faults and moves mtime
        if (!(await writeBack(fh.fd))) await fh.datasync();
        const seenAtNs = BigInt(Date.now()) * 1_000_000n;
        const before = await fh.stat({ bigint: true });
        if (!before.isFile() || before.ino !== st.ino) return this.changed(rel);
        const xattrs = readXattrs({ fd: fh.fd }, rel);
        const taken = await this.take(fh, before);
        const after = await fh.stat({ bigint: true });
        if (sameStat(before, after)) {
          this.stats.readFiles++;
          this.stats.readBytes += Number(before.size);
          const size = Number(before.size);
          return { ...at, type: 'f', ...metaOf(before), xattrs, size, ino: before.ino, ctimeNs: before.ctimeNs, seenAtNs, taken };
        }
        await this.drop(taken);
      }
      return this.changed(rel);
    } finally {
      await fh.close();
    }
  }

  private async take(fh: FileHandle, st: BigIntStats): Promise<Taken> {
    const size = Number(st.size);
    if (size <= SMALL_FILE && this.memory + size <= MEMORY_BUDGET) {
      const data = Buffer.allocUnsafe(size);
      let got = 0;
      while (got < size) {
        const { bytesRead } = await fh.read(data, got, size - got, got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      this.memory += size;
      return { kind: 'bytes', data: data.subarray(0, got) };
    }
    const path = join(this.opts.stageDir, `s${stagedFiles++}`);
    const dst = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      await copyData(fh, dst, size, looksSparse(size, Number(st.blocks)), this.opts.signal);
    } finally {
      await dst.close();
    }
    return { kind: 'staged', path };
  }

  private async drop(taken: Taken): Promise<void> {
    if (taken.kind === 'staged') await unlink(taken.path);
    else this.memory -= taken.data.length;
  }

  /** A file that vanished, was swapped or changed while read: left out of a first pass, fatal in the one that counts. */
  private changed(rel: string, err?: NodeJS.ErrnoException): undefined {
    if (this.opts.tolerant) return undefined;
    throw new Error(`"${rel}" changed while the upper dir was read${err ? ` (${err.code ?? err.message})` : ''}: freeze the container around the capture`);
  }
}

/** True when the file is the one `prior` took, unchanged: same inode, size, mtime and ctime, and not changed within a clock tick of that stat. */
function unchanged(prior: WalkEntry, st: BigIntStats): boolean {
  if (prior.type !== 'f' || prior.ino === undefined || prior.ctimeNs === undefined || prior.seenAtNs === undefined) return false;
  if (prior.object === undefined && prior.taken === undefined) return false;
  return prior.ino === st.ino && BigInt(prior.size ?? -1) === st.size && prior.mtimeNs === st.mtimeNs && prior.ctimeNs === st.ctimeNs && prior.ctimeNs + RACY_NS < prior.seenAtNs;
}

const sameStat = (a: BigIntStats, b: BigIntStats): boolean => a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;

function metaOf(st: BigIntStats): { mode: number; uid: number; gid: number; mtimeNs: bigint } {
  return { mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs };
}

function typeOf(st: BigIntStats): EntryType {
  if (st.isFile()) return 'f';
  if (st.isDirectory()) return 'd';
  if (st.isSymbolicLink()) return 'l';
  if (st.isCharacterDevice()) return 'c';
  if (st.isBlockDevice()) return 'b';
  if (st.isFIFO()) return 'p';
  return 's';
}

function gone(err: NodeJS.ErrnoException): undefined {
  if (err.code === 'ENOENT') return undefined;
  throw err;
}
