/** What lives on an inode besides its content (owners, mode, xattrs, mtime), written back in the one order that keeps it all. */
import { chmod, lchown, type FileHandle } from 'node:fs/promises';
import { setMtime, writeXattrs, type Xattr } from './file-calls.ts';

/** Owners, permission bits (`& 0o7777`), extended attributes and modification time. */
export interface InodeMeta {
  uid: number;
  gid: number;
  mode: number;
  xattrs: Xattr[];
  mtimeNs: bigint;
}

/**
 * Owner first (chown clears setuid, setgid and file capabilities), then the mode, then the
 * xattrs (`security.capability` among them), the mtime last (each of the others changes ctime
 * only). `fh` an open file or folder; `path` a symlink, device, FIFO or socket, never followed.
 * All on the thread pool: under heavy writeback a metadata change can wait for the journal.
 */
export async function applyMeta(target: { fh: FileHandle } | { path: Buffer; symlink: boolean }, meta: InodeMeta, what: string): Promise<void> {
  if ('fh' in target) {
    await target.fh.chown(meta.uid, meta.gid);
    await target.fh.chmod(meta.mode);
    await writeXattrs({ fd: target.fh.fd }, meta.xattrs, what);
    await setMtime({ fd: target.fh.fd }, meta.mtimeNs, what);
    return;
  }
  await lchown(target.path, meta.uid, meta.gid);
  // a symlink's mode means nothing on Linux and cannot be changed; the others are never symlinks here
  if (!target.symlink) await chmod(target.path, meta.mode);
  await writeXattrs({ path: target.path }, meta.xattrs, what);
  await setMtime({ path: target.path }, meta.mtimeNs, what);
}
