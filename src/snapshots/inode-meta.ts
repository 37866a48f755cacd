/** What lives on an inode besides its content (owners, mode, xattrs, mtime), written back in the one order that keeps it all. */
import { chmodSync, fchmodSync, fchownSync, lchownSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
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
 * Each is one metadata syscall on an inode just made or opened (microseconds, no data I/O), made
 * on this thread: a thread-pool round trip would cost ten times the call.
 */
export function applyMeta(target: { fh: FileHandle } | { path: Buffer; symlink: boolean }, meta: InodeMeta, what: string): void {
  if ('fh' in target) {
    fchownSync(target.fh.fd, meta.uid, meta.gid);
    fchmodSync(target.fh.fd, meta.mode);
    writeXattrs({ fd: target.fh.fd }, meta.xattrs, what);
    setMtime({ fd: target.fh.fd }, meta.mtimeNs, what);
    return;
  }
  lchownSync(target.path, meta.uid, meta.gid);
  // a symlink's mode means nothing on Linux and cannot be changed; the others are never symlinks here
  if (!target.symlink) chmodSync(target.path, meta.mode);
  writeXattrs({ path: target.path }, meta.xattrs, what);
  setMtime({ path: target.path }, meta.mtimeNs, what);
}
