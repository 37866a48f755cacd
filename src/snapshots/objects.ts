/**
 * The object store: each distinct regular file once, as a read-only inode named by the hash of
 * its content and of what its inode carries (owners, mode, xattrs), so a snapshot's file can be
 * a hard link to it with every bit right. An object no snapshot links any more has a link count
 * of 1 (the store's own name) and is garbage. `objects/<2 hex>/<62 hex>[.N]`: `.N` are copies of
 * an object made when one inode reached the file system's link limit (65000 on ext4).
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, lstat, mkdir, open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { applyMeta, type InodeMeta } from './inode-meta.ts';
import { readXattrs } from './file-calls.ts';
import { fdPath } from './content.ts';

const KEY_VERSION = 'hoody-snapshot-object-1';

/** The object key: sha256 over the content hash and the inode's metadata (mtime aside: the manifest has it). */
export function objectKey(contentHash: string, meta: Pick<InodeMeta, 'uid' | 'gid' | 'mode' | 'xattrs'>): string {
  const h = createHash('sha256').update(`${KEY_VERSION}\0${contentHash}\0${meta.uid}\0${meta.gid}\0${meta.mode}\0`);
  for (const [name, value] of meta.xattrs) {
    const len = Buffer.alloc(8);
    len.writeUInt32BE(name.length, 0);
    len.writeUInt32BE(value.length, 4);
    h.update(len).update(name).update(value);
  }
  return h.digest('hex');
}

/** What garbage collection found. */
export interface CollectResult {
  removed: number;
  bytes: number;
  kept: number;
}

/** The object folder of a snapshot store. */
export class ObjectStore {
  constructor(readonly dir: string) {}

  /** The object's path. */
  path(name: string): string {
    return join(this.dir, name.slice(0, 2), name.slice(2));
  }

  /** Makes the 256 folders objects go in (those missing). */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await Promise.all(Array.from({ length: 256 }, (_, i) => mkdir(join(this.dir, i.toString(16).padStart(2, '0')), { mode: 0o700 }).catch(exists)));
  }

  /**
   * Makes `staged` (a private file holding the content) the object `key`, its metadata set
   * first; answers the disk it takes when it is new, undefined when the object was there
   * already (the staged file is then left for the caller to drop).
   */
  async adopt(staged: string, key: string, meta: InodeMeta): Promise<number | undefined> {
    const fh = await open(staged, 'r+');
    let bytes: number;
    try {
      await applyMeta({ fh }, meta, staged);
      bytes = (await fh.stat()).blocks * 512;
    } finally {
      await fh.close();
    }
    return link(staged, this.path(key)).then(
      () => bytes,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'EEXIST') return undefined;
        throw err;
      },
    );
  }

  /** True when the object is stored. */
  has(name: string): Promise<boolean> {
    return lstat(this.path(name)).then(
      () => true,
      () => false,
    );
  }

  /**
   * Hard-links the object at `dst` (a path of a snapshot's tree); answers the object's name
   * used: another copy of it when its inode has reached the link limit.
   */
  async linkAt(name: string, dst: string | Buffer, tmpDir: string): Promise<string> {
    const base = name.split('.')[0]!;
    for (let n = 0; ; n++) {
      const candidate = n === 0 ? base : `${base}.${n}`;
      try {
        await link(this.path(candidate), dst);
        return candidate;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EMLINK') continue;
        if (code !== 'ENOENT' || n === 0) throw err;
        await this.copyObject(base, candidate, tmpDir);
        await link(this.path(candidate), dst);
        return candidate;
      }
    }
  }

  /** A second inode with the same content and metadata as `from`. */
  private async copyObject(from: string, to: string, tmpDir: string): Promise<void> {
    const src = await open(this.path(from), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const st = await src.stat({ bigint: true });
      const tmp = join(tmpDir, `copy-${to}`);
      await copyFile(fdPath(src.fd), tmp, constants.COPYFILE_FICLONE);
      const meta: InodeMeta = { uid: Number(st.uid), gid: Number(st.gid), mode: Number(st.mode) & 0o7777, xattrs: readXattrs({ fd: src.fd }, from), mtimeNs: st.mtimeNs };
      await this.adopt(tmp, to, meta);
      await unlink(tmp);
    } finally {
      await src.close();
    }
  }

  /** Removes every object nothing but the store links (link count 1). The caller makes sure no capture runs meanwhile. */
  async collect(signal?: AbortSignal): Promise<CollectResult> {
    const result: CollectResult = { removed: 0, bytes: 0, kept: 0 };
    const prefixes = await readdir(this.dir).catch(() => [] as string[]);
    for (const prefix of prefixes) {
      const dir = join(this.dir, prefix);
      for (const name of await readdir(dir)) {
        signal?.throwIfAborted();
        const path = join(dir, name);
        const st = await lstat(path);
        if (st.nlink > 1) {
          result.kept++;
          continue;
        }
        await unlink(path);
        result.removed++;
        result.bytes += st.blocks * 512;
      }
    }
    return result;
  }
}

function exists(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EEXIST') throw err;
}
