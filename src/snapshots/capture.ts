/**
 * A snapshot of an upper dir, incremental like `rsync --link-dest`: a regular file unchanged
 * since the previous snapshot (same inode, size, mtime, ctime) reuses its object unread. With
 * freeze hooks (a running container), a first pass runs while the container does, taking every
 * changed file; then, frozen, a second pass takes only what changed since that first pass, so
 * the freeze lasts one stat walk plus the files written during the first pass. Hashing, storing
 * objects and building the tree come after the thaw. Everything is made in a temporary folder
 * of the store and renamed into place at the end: a capture cut short leaves no snapshot.
 */
import { constants } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, rename, unlink, writeFile } from 'node:fs/promises';
import { removeTree } from './remove-tree.ts';
import { join } from 'node:path';
import { buildTree } from './build-tree.ts';
import { hashBytes, hashData } from './content.ts';
import { entryPaths, writeManifest, type Entry } from './manifest.ts';
import { objectKey, type ObjectStore } from './objects.ts';
import { Limiter } from './limiter.ts';
import { walkTree, type Taken, type WalkEntry, type WalkStats } from './walk.ts';

/** Stops and restarts the container's processes (the cgroup freezer); called around the part that must see a still tree. */
export interface FreezeHooks {
  freeze(): Promise<void>;
  thaw(): Promise<void>;
}

export interface CaptureOptions {
  /** Manifest of the same container's previous snapshot: its unchanged files are not read again. */
  previousManifest?: readonly Entry[];
  /** Given for a running container: the second pass runs between freeze and thaw (always thawed, also on failure). */
  freeze?: FreezeHooks;
  signal?: AbortSignal;
  /** The snapshot's record, written as `snapshot.json` into the folder before it is renamed into place. */
  record?: (result: CaptureResult) => object;
  /** Called as each step starts (`prescan`, `frozen`, `store`, `tree`, `commit`). */
  onStep?: (step: CaptureStep) => void | Promise<void>;
}

export type CaptureStep = 'prescan' | 'frozen' | 'store' | 'tree' | 'commit';

/** What a capture made and what it cost. */
export interface CaptureResult {
  entries: number;
  files: number;
  /** Sum of the regular files' sizes (hard links counted once). */
  bytes: number;
  newObjects: number;
  /** Disk the new objects take (allocated blocks). */
  newBytes: number;
  /** Files whose content this capture read (both passes), and their bytes. */
  readFiles: number;
  readBytes: number;
  /** Regular files reused from the previous snapshot unread, in the final pass. */
  reusedFiles: number;
  /** Milliseconds: the first pass, the freeze call, the frozen pass (the container stopped), the thaw call, hashing and storing, building the tree, all. */
  timings: { prescanMs: number; freezeMs: number; frozenMs: number; thawMs: number; storeMs: number; treeMs: number; totalMs: number };
}

/** Captures `upperDir` into `dest` (a snapshot folder: `tree/`, `manifest.jsonl`), building it in `tmpRoot` first. */
export async function captureTree(upperDir: string, dest: string, objects: ObjectStore, tmpRoot: string, opts: CaptureOptions = {}): Promise<CaptureResult> {
  const started = performance.now();
  const timings = { prescanMs: 0, freezeMs: 0, frozenMs: 0, thawMs: 0, storeMs: 0, treeMs: 0, totalMs: 0 };
  if (await lstat(dest).then(() => true, () => false)) throw new Error(`snapshot "${dest}" exists already`);
  const tmp = await mkdtemp(join(tmpRoot, 'capture-'));
  const stageDir = join(tmp, 'stage');
  await mkdir(stageDir, { mode: 0o700 });
  try {
    const previous = priorIndex(opts.previousManifest ?? []);
    let prior: ReadonlyMap<string, WalkEntry> = previous;
    let read = { files: 0, bytes: 0 };
    if (opts.freeze) {
      await opts.onStep?.('prescan');
      const t = performance.now();
      const first = await walkTree(upperDir, { prior, stageDir, tolerant: true, signal: opts.signal });
      read = { files: first.stats.readFiles, bytes: first.stats.readBytes };
      prior = new Map([...previous, ...priorIndex(first.entries)]);
      timings.prescanMs = performance.now() - t;
    }
    await opts.onStep?.('frozen');
    let final: { entries: WalkEntry[]; stats: WalkStats };
    const t0 = performance.now();
    await opts.freeze?.freeze();
    const t1 = performance.now();
    try {
      final = await walkTree(upperDir, { prior, stageDir, tolerant: false, signal: opts.signal });
    } finally {
      const t2 = performance.now();
      await opts.freeze?.thaw();
      Object.assign(timings, { freezeMs: t1 - t0, frozenMs: t2 - t1, thawMs: performance.now() - t2 });
    }
    await opts.onStep?.('store');
    let t = performance.now();
    const stored = await storeTaken(final.entries, objects, tmp, opts.signal);
    timings.storeMs = performance.now() - t;
    await opts.onStep?.('tree');
    t = performance.now();
    await buildTree(join(tmp, 'tree'), final.entries, async (e, path) => {
      e.object = await objects.linkAt(e.object!, path, tmp);
    }, join(tmp, 'links'), opts.signal);
    timings.treeMs = performance.now() - t;
    await removeTree(stageDir);
    await writeManifest(join(tmp, 'manifest.jsonl'), final.entries.map(({ taken: _, ...e }) => e));
    const files = final.entries.filter((e) => e.type === 'f' && e.linkOf === undefined);
    timings.totalMs = performance.now() - started;
    const result: CaptureResult = {
      entries: final.entries.length,
      files: files.length,
      bytes: files.reduce((n, e) => n + (e.size ?? 0), 0),
      ...stored,
      readFiles: read.files + final.stats.readFiles,
      readBytes: read.bytes + final.stats.readBytes,
      reusedFiles: final.stats.reusedFiles,
      timings,
    };
    if (opts.record) await writeFile(join(tmp, 'snapshot.json'), JSON.stringify(opts.record(result), null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    await opts.onStep?.('commit');
    await rename(tmp, dest);
    return result;
  } catch (err) {
    await removeTree(tmp);
    throw err;
  }
}

/** Hashes each taken file and makes it an object (or finds the object it already is), a few at a time. */
async function storeTaken(entries: WalkEntry[], objects: ObjectStore, tmp: string, signal?: AbortSignal): Promise<{ newObjects: number; newBytes: number }> {
  const totals = { newObjects: 0, newBytes: 0 };
  let n = 0;
  // a file taken in the first pass may be reused by more than one path of the second
  const stored = new Map<Taken, Promise<string>>();
  const limiter = new Limiter(8);
  const storeOne = async (e: WalkEntry, taken: Taken): Promise<string> => {
    signal?.throwIfAborted();
    let path: string;
    let hash: string;
    if (taken.kind === 'bytes') {
      hash = hashBytes(taken.data);
      const key = objectKey(hash, e);
      if (await objects.has(key)) return key;
      path = join(tmp, `b${n++}`);
      await writeFile(path, taken.data, { mode: 0o600, flag: 'wx' });
    } else {
      path = taken.path;
      const fh = await open(path, constants.O_RDONLY);
      try {
        hash = await hashData(fh, e.size ?? 0, signal);
      } finally {
        await fh.close();
      }
    }
    const key = objectKey(hash, e);
    const bytes = await objects.adopt(path, key, e);
    if (bytes !== undefined) {
      totals.newObjects++;
      totals.newBytes += bytes;
    }
    await unlink(path);
    return key;
  };
  await Promise.all(
    entries.map(async (e) => {
      const taken = e.taken;
      if (!taken) return;
      let key = stored.get(taken);
      if (!key) stored.set(taken, (key = limiter.run(() => storeOne(e, taken))));
      e.object = await key;
      delete e.taken;
    }),
  );
  return totals;
}

/** Regular files by path, a hard link's second name resolved to its first's content. */
export function priorIndex(entries: readonly WalkEntry[]): Map<string, WalkEntry> {
  const paths = entryPaths(entries);
  const out = new Map<string, WalkEntry>();
  entries.forEach((e, i) => {
    const file = e.linkOf === undefined ? e : entries[e.linkOf];
    if (file?.type === 'f' && (file.object !== undefined || file.taken !== undefined)) out.set(paths[i]!, file);
  });
  return out;
}
