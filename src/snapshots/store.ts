/**
 * Snapshots of containers' upper dirs under one folder (`<data-dir>/snapshots/`, root's, 0700):
 *
 * - `objects/`: every distinct regular file once (see objects.ts);
 * - `trees/<id>/`: one snapshot: `tree/` (the upper dir as it was, its regular files hard links
 *   to objects), `manifest.jsonl` (every entry, with what the next capture needs to tell a file
 *   unchanged) and `snapshot.json` (what the capture made and cost, and the caller's metadata);
 * - `hints/<key>/`: what a container's upper dir holds right after a restore (the snapshot's
 *   manifest with the restored files' inodes and ctimes, and the snapshot it came from), so that
 *   the next capture of it reads only what changed since, not every file again;
 * - `tmp/`: captures and deletes on their way; whatever is there at `open` is a leftover.
 *
 * A snapshot exists once its folder is renamed into `trees/`, whole. Captures and restores run
 * side by side; garbage collection runs alone (a capture links objects it has just made).
 */
import { link, lstat, mkdir, mkdtemp, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { removeTree } from './remove-tree.ts';
import { join } from 'node:path';
import { captureTree, type CaptureOptions, type CaptureResult } from './capture.ts';
import { loadFileCalls } from './file-calls.ts';
import { entryPaths, readManifest, writeManifest, type Entry } from './manifest.ts';
import { ObjectStore, type CollectResult } from './objects.ts';
import { restoreTree, type RestoreOptions, type RestoreResult } from './restore.ts';
import { SharedLock } from './shared-lock.ts';
import { packFiles, unpackFiles, type Packed } from '../cluster/transfer.ts';

/** A stored snapshot as `snapshot.json` records it. */
export interface SnapshotRecord extends CaptureResult {
  id: string;
  createdAt: string;
  /** The snapshot it was taken after (its unchanged files reused), if any. */
  previous?: string;
  /** The caller's own facts (container, image, author…), kept as given. */
  meta: Record<string, unknown>;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** How long recordRestored waits before its stats, so that files the restore wrote last pass the racy check. */
const RESTORED_SETTLE_MS = 120;

/** The snapshot store of one data folder. */
export class SnapshotStore {
  readonly objects: ObjectStore;
  private readonly lock = new SharedLock();

  private constructor(readonly root: string) {
    this.objects = new ObjectStore(join(root, 'objects'));
  }

  /** Opens (making it when needed) the store at `root` and sweeps what interrupted work left in `tmp/`. */
  static async open(root: string): Promise<SnapshotStore> {
    await mkdir(root, { recursive: true, mode: 0o700 });
    for (const d of ['objects', 'trees', 'hints', 'tmp']) await mkdir(join(root, d), { recursive: true, mode: 0o700 });
    await loadFileCalls();
    const store = new SnapshotStore(root);
    await store.objects.init();
    await store.sweep();
    return store;
  }

  /** Removes the leftovers of captures and deletes cut short (a daemon killed half-way); answers how many. */
  async sweep(): Promise<number> {
    return this.lock.shared(async () => {
      const left = await readdir(join(this.root, 'tmp'));
      for (const name of left) await removeTree(join(this.root, 'tmp', name));
      return left.length;
    });
  }

  /** The folder of snapshot `id`. */
  dir(id: string): string {
    if (!ID.test(id)) throw new Error(`snapshot id "${id}" must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit`);
    return join(this.root, 'trees', id);
  }

  /**
   * Captures `upperDir` as snapshot `id`. With `previous` (the same container's last snapshot),
   * files unchanged since it are not read; with `freeze`, only the second pass runs frozen.
   */
  async capture(
    upperDir: string,
    id: string,
    opts: Omit<CaptureOptions, 'previousManifest'> & { previous?: string; meta?: Record<string, unknown>; hint?: string } = {},
  ): Promise<SnapshotRecord> {
    const dest = this.dir(id);
    return this.lock.shared(async () => {
      // a hint (what a restore left) is only as good as the snapshot whose objects it names: gone with it
      const hinted = opts.hint === undefined ? undefined : await this.readHint(opts.hint);
      const previousManifest = hinted ? hinted.entries : opts.previous === undefined ? undefined : await readManifest(join(this.dir(opts.previous), 'manifest.jsonl'));
      const createdAt = new Date().toISOString();
      let record: SnapshotRecord | undefined;
      await captureTree(upperDir, dest, this.objects, join(this.root, 'tmp'), {
        ...opts,
        previousManifest,
        record: (result) => {
          const previous = hinted ? hinted.from : opts.previous;
          return (record = { id, createdAt, ...(previous === undefined ? {} : { previous }), meta: opts.meta ?? {}, ...result });
        },
      });
      return record!;
    });
  }

  /**
   * Records what `upperDir` holds right after snapshot `id` was restored into it (the container
   * still stopped) as hint `key`: each regular file whose owners, mode, size and mtime are the
   * manifest's gets its new inode and ctime, so the next capture given the hint reuses it unread
   * while it stays unchanged. Files changed within a clock tick are left to be read, as in a capture.
   */
  async recordRestored(id: string, upperDir: string, key: string): Promise<number> {
    const hintDir = this.hintDir(key);
    // a file is only trusted unchanged once its ctime is older than a clock tick (see walk.ts): the restore's own are not yet
    await new Promise((resolve) => setTimeout(resolve, RESTORED_SETTLE_MS));
    return this.lock.shared(async () => {
      const entries = await readManifest(join(this.dir(id), 'manifest.jsonl'));
      const paths = entryPaths(entries);
      let recorded = 0;
      const out: Entry[] = [];
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        const copy: Entry = { ...e };
        delete copy.ino;
        delete copy.ctimeNs;
        delete copy.seenAtNs;
        if (e.type === 'f' && e.linkOf === undefined && e.object !== undefined) {
          const seenAtNs = BigInt(Date.now()) * 1_000_000n;
          const st = await lstat(join(upperDir, paths[i]!), { bigint: true }).catch(() => undefined);
          const same = st?.isFile() && st.size === BigInt(e.size ?? -1) && st.mtimeNs === e.mtimeNs && Number(st.uid) === e.uid && Number(st.gid) === e.gid && (Number(st.mode) & 0o7777) === e.mode;
          if (st && same) {
            Object.assign(copy, { ino: st.ino, ctimeNs: st.ctimeNs, seenAtNs });
            recorded++;
          }
        }
        out.push(copy);
      }
      const tmp = await mkdtemp(join(this.root, 'tmp', 'hint-'));
      await writeManifest(join(tmp, 'manifest.jsonl'), out);
      await writeFile(join(tmp, 'from'), id, { mode: 0o600 });
      await removeTree(hintDir);
      await rename(tmp, hintDir);
      return recorded;
    });
  }

  /** Drops hint `key` (a capture after it made a snapshot that says more, or its container is gone). */
  async dropHint(key: string): Promise<void> {
    await removeTree(this.hintDir(key));
  }

  /** The keys of every hint kept. */
  async hints(): Promise<string[]> {
    return readdir(join(this.root, 'hints'));
  }

  /** Hint `key`'s entries and the snapshot they came from, while that snapshot exists. */
  private async readHint(key: string): Promise<{ from: string; entries: Entry[] } | undefined> {
    const dir = this.hintDir(key);
    const from = await readFile(join(dir, 'from'), 'utf8').catch(() => undefined);
    if (from === undefined || !(await lstat(join(this.dir(from), 'snapshot.json')).then(() => true, () => false))) return undefined;
    return { from, entries: await readManifest(join(dir, 'manifest.jsonl')) };
  }

  private hintDir(key: string): string {
    if (!ID.test(key)) throw new Error(`hint key "${key}" must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit`);
    return join(this.root, 'hints', key);
  }

  /** Every snapshot's record, oldest first. */
  async list(): Promise<SnapshotRecord[]> {
    const ids = await readdir(join(this.root, 'trees'));
    const records = await Promise.all(ids.map((id) => this.get(id).catch(() => undefined)));
    return records.filter((r): r is SnapshotRecord => r !== undefined).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** One snapshot's record; throws when it does not exist. */
  async get(id: string): Promise<SnapshotRecord> {
    return JSON.parse(await readFile(join(this.dir(id), 'snapshot.json'), 'utf8')) as SnapshotRecord;
  }

  /** Rebuilds `targetUpperDir` from snapshot `id` (the container stopped: its overlay unmounted). */
  async restore(id: string, targetUpperDir: string, opts: RestoreOptions = {}): Promise<RestoreResult> {
    const dir = this.dir(id);
    return this.lock.shared(async () => restoreTree(await readManifest(join(dir, 'manifest.jsonl')), this.objects, targetUpperDir, opts));
  }

  /** Deletes snapshot `id`: out of `trees/` in one rename, then removed; its objects stay until `collect`. */
  async delete(id: string): Promise<void> {
    const dir = this.dir(id);
    await this.lock.shared(async () => {
      const gone = await mkdtemp(join(this.root, 'tmp', 'delete-'));
      await rename(dir, join(gone, 'snapshot'));
      await removeTree(gone);
    });
  }

  /**
   * Packs snapshots `ids` (each one's folder: tree, manifest and record) into `file` for another
   * server's store: a file several of them hold goes once (tar keeps their hard links).
   */
  async pack(ids: readonly string[], file: string, signal?: AbortSignal): Promise<Packed> {
    for (const id of ids) this.dir(id); // each id checked before it reaches tar's command line
    return this.lock.shared(() => packFiles(join(this.root, 'trees'), file, signal, ids));
  }

  /**
   * Takes snapshots packed by another server's `pack` from `body` (its SHA-256 checked): unpacked
   * in `tmp/`, each regular file of their trees becomes an object here (or, when this store has
   * that object already, gives way to it), then each folder is renamed into `trees/` whole. A
   * snapshot this store has already is left as it is. Answers the ids taken now. What a daemon
   * killed half-way leaves is in `tmp/`, swept at the next open.
   */
  async receive(body: Readable, sha256: string): Promise<string[]> {
    return this.lock.shared(async () => {
      const staging = await mkdtemp(join(this.root, 'tmp', 'receive-'));
      const unpacked = join(staging, 'trees');
      try {
        await unpackFiles(body, unpacked, sha256);
        const taken: string[] = [];
        for (const id of await readdir(unpacked)) {
          const dest = this.dir(id);
          if (await lstat(dest).then(() => true, () => false)) continue;
          await this.adoptTree(join(unpacked, id), join(staging, 'swap'));
          await rename(join(unpacked, id), dest);
          taken.push(id);
        }
        return taken;
      } finally {
        await removeTree(staging);
      }
    });
  }

  /** Makes every regular file of the unpacked snapshot folder `dir` one of this store's objects (see receive). */
  private async adoptTree(dir: string, swap: string): Promise<void> {
    const entries = await readManifest(join(dir, 'manifest.jsonl'));
    const paths = entryPaths(entries);
    const tree = Buffer.from(join(dir, 'tree'));
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.type !== 'f') continue;
      const object = e.linkOf === undefined ? e.object : entries[e.linkOf]?.object;
      if (object === undefined) throw new Error(`snapshot ${dir}: file ${paths[i]} names no object`);
      const path = Buffer.concat([tree, Buffer.from('/'), Buffer.from(paths[i]!, 'latin1')]);
      const taken = await link(path, this.objects.path(object)).then(
        () => true,
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'EEXIST') return false;
          throw err;
        },
      );
      if (taken) continue;
      // the object is here already: the file becomes a name of it (its content and inode are the same by its key),
      // unless it is one already (another name of its inode was taken first)
      const [file, stored] = await Promise.all([lstat(path, { bigint: true }), lstat(this.objects.path(object), { bigint: true })]);
      if (file.ino === stored.ino && file.dev === stored.dev) continue;
      await link(this.objects.path(object), swap);
      await rename(swap, path);
    }
  }

  /**
   * collect() when no capture, restore or delete runs now; undefined (nothing done) otherwise, so
   * that the daemon never makes everyone's snapshot work wait behind one long capture and a collect.
   */
  async collectIfIdle(signal?: AbortSignal): Promise<CollectResult | undefined> {
    return this.lock.exclusiveIfIdle(() => this.objects.collect(signal));
  }

  /** Removes the objects no snapshot links any more; waits for running captures, and they for it. */
  async collect(signal?: AbortSignal): Promise<CollectResult> {
    return this.lock.exclusive(() => this.objects.collect(signal));
  }

  /** Disk the store takes (allocated blocks, each inode once), from `du`'s way of counting. */
  async diskBytes(): Promise<number> {
    const seen = new Set<bigint>();
    let total = 0;
    const walk = async (dir: string): Promise<void> => {
      for (const d of await readdir(dir, { withFileTypes: true })) {
        const p = join(dir, d.name);
        const st = await lstat(p, { bigint: true });
        if (!seen.has(st.ino)) {
          seen.add(st.ino);
          total += Number(st.blocks) * 512;
        }
        if (d.isDirectory()) await walk(p);
      }
    };
    await walk(this.root);
    return total;
  }
}
