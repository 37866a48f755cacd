/**
 * OCI whiteouts turned into overlayfs form in an unpacked layer folder, as host root:
 * `.wh..wh..opq` makes its folder opaque (xattr `trusted.overlay.opaque=y`), `.wh.NAME` becomes
 * a character device 0:0 named NAME. Other `.wh..wh.*` markers (aufs bookkeeping) are dropped.
 */
import { lchown, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { runCommand } from '../runtime/run-command.ts';
import { errnoName } from '../runtime/mount-syscalls.ts';
import type { IdRange } from '../runtime/id-range.ts';
import { libcFunctions, type LibcFunctions } from '../runtime/libc.ts';

const PREFIX = '.wh.';
const OPAQUE = '.wh..wh..opq';
const S_IFCHR = 0o020000;

interface XattrFns {
  mknod: (path: string, mode: number, dev: number) => number;
  lsetxattr: (path: string, name: string, value: string, size: number, flags: number) => number;
  lgetxattr: (path: string, name: string, value: Buffer, size: number) => number;
}
type Libc = LibcFunctions<XattrFns>;
let libc: Promise<Libc> | undefined;

/** libc's mknod and xattr calls, loaded on first use. */
function loadLibc(): Promise<Libc> {
  libc ??= libcFunctions<XattrFns>({
    mknod: 'int mknod(const char *path, uint32_t mode, uint64_t dev)',
    lsetxattr: 'int lsetxattr(const char *path, const char *name, const char *value, size_t size, int flags)',
    lgetxattr: 'long lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)',
  });
  return libc;
}

/** Converts every whiteout under `dir`; returns how many there were. Paths come from find, which never follows symlinks. */
export async function convertWhiteouts(dir: string, ids: IdRange, signal?: AbortSignal): Promise<number> {
  const { stdout } = await runCommand('find', [dir, '-name', `${PREFIX}*`, '-print0'], signal, 600_000);
  // deepest first: a whiteout inside a folder that another whiteout replaces is done before the folder goes
  const found = stdout
    .split('\0')
    .filter((p) => p !== '')
    .sort((a, b) => b.split('/').length - a.split('/').length);
  if (found.length === 0) return 0;
  const c = await loadLibc();
  for (const path of found) {
    const name = basename(path);
    const parent = dirname(path);
    const hidden = name.slice(PREFIX.length);
    await rm(path, { recursive: true, force: true });
    if (name === OPAQUE) {
      // the folder hides whatever lower layers hold under the same path
      check(c, c.lsetxattr(parent, 'trusted.overlay.opaque', 'y', 1, 0), `setxattr "${parent}"`);
    } else if (!name.startsWith(`${PREFIX}${PREFIX}`) && hidden !== '' && hidden !== '.' && hidden !== '..') {
      // `.wh..` and `.wh...` would name the folder itself or its parent: they are only removed
      const target = join(parent, hidden);
      // the layer may also carry the name itself; the whiteout wins, as in containers/storage
      await rm(target, { recursive: true, force: true });
      check(c, c.mknod(target, S_IFCHR | 0o000, 0), `mknod "${target}"`);
      await lchown(target, ids.uid, ids.gid);
    }
  }
  return found.length;
}

function check(c: Libc, result: number, what: string): void {
  if (result !== 0) throw new Error(`${what}: ${errnoName(c.errno())}`);
}

/** An xattr's value as text (symlinks not followed), or undefined when the file has none by that name. */
export async function lgetxattr(path: string, name: string): Promise<string | undefined> {
  const c = await loadLibc();
  const buf = Buffer.alloc(256);
  const n = c.lgetxattr(path, name, buf, buf.length);
  return n < 0 ? undefined : buf.subarray(0, n).toString('utf8');
}
