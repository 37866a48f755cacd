/**
 * The file system calls Node has no binding for, through koffi: extended attributes, mknod,
 * nanosecond timestamps and SEEK_DATA. Paths and xattr names are bytes (Buffers), as the kernel
 * takes them: a container may name its files and attributes with any byte but `/` and NUL.
 * Each call is one quick syscall made on this thread, so errno is ours to read.
 */
import { errnoName } from '../runtime/mount-syscalls.ts';
import { libcFunctions, onThreadPool, type LibcFunctions, type NativeFn } from '../runtime/libc.ts';

type Bytes = Uint8Array;
interface Fns {
  llistxattr: (path: Bytes, list: Bytes | null, size: number) => number;
  flistxattr: (fd: number, list: Bytes | null, size: number) => number;
  lgetxattr: (path: Bytes, name: Bytes, value: Bytes | null, size: number) => number;
  fgetxattr: (fd: number, name: Bytes, value: Bytes | null, size: number) => number;
  lsetxattr: NativeFn<[path: Bytes, name: Bytes, value: Bytes, size: number, flags: number]>;
  fsetxattr: NativeFn<[fd: number, name: Bytes, value: Bytes, size: number, flags: number]>;
  lremovexattr: (path: Bytes, name: Bytes) => number;
  mknod: (path: Bytes, mode: number, dev: bigint | number) => number;
  utimensat: NativeFn<[dirFd: number, path: Bytes, times: BigInt64Array, flags: number]>;
  futimens: NativeFn<[fd: number, times: BigInt64Array]>;
  lseek: (fd: number, offset: bigint | number, whence: number) => bigint | number;
  sync_file_range: NativeFn<[fd: number, offset: number, nbytes: number, flags: number]>;
}
let loaded: LibcFunctions<Fns> | undefined;

/** Loads libc's functions once (koffi is imported on first use). */
export async function loadFileCalls(): Promise<void> {
  loaded ??= await libcFunctions<Fns>({
    llistxattr: 'long llistxattr(const uint8_t *path, uint8_t *list, size_t size)',
    flistxattr: 'long flistxattr(int fd, uint8_t *list, size_t size)',
    lgetxattr: 'long lgetxattr(const uint8_t *path, const uint8_t *name, uint8_t *value, size_t size)',
    fgetxattr: 'long fgetxattr(int fd, const uint8_t *name, uint8_t *value, size_t size)',
    lsetxattr: 'int lsetxattr(const uint8_t *path, const uint8_t *name, const uint8_t *value, size_t size, int flags)',
    fsetxattr: 'int fsetxattr(int fd, const uint8_t *name, const uint8_t *value, size_t size, int flags)',
    lremovexattr: 'int lremovexattr(const uint8_t *path, const uint8_t *name)',
    mknod: 'int mknod(const uint8_t *path, uint32_t mode, uint64_t dev)',
    utimensat: 'int utimensat(int dirfd, const uint8_t *path, const int64_t *times, int flags)',
    futimens: 'int futimens(int fd, const int64_t *times)',
    lseek: 'int64_t lseek(int fd, int64_t offset, int whence)',
    sync_file_range: 'int sync_file_range(int fd, int64_t offset, int64_t nbytes, unsigned int flags)',
  });
}

function fns(): LibcFunctions<Fns> {
  if (!loaded) throw new Error('file calls used before loadFileCalls()');
  return loaded;
}

/** A C string: the bytes and a NUL. */
export const cString = (b: Bytes | string): Buffer => Buffer.concat([typeof b === 'string' ? Buffer.from(b, 'latin1') : b, Buffer.alloc(1)]);

const ENODATA = 61;
const ENOTSUP = 95;
const ERANGE = 34;

/** One extended attribute: name and value as bytes. */
export type Xattr = [name: Buffer, value: Buffer];

/** Where an xattr call goes: an open file, or a path whose last component is not followed. */
export type XattrTarget = { fd: number } | { path: Buffer };

/** Every extended attribute of the target (all namespaces host root reads: user, trusted, security, system), sorted by name. */
export function readXattrs(target: XattrTarget, what: string): Xattr[] {
  const c = fns();
  const list = (buf: Bytes | null, size: number): number => ('fd' in target ? c.flistxattr(target.fd, buf, size) : c.llistxattr(cString(target.path), buf, size));
  const get = (name: Buffer, buf: Bytes | null, size: number): number => ('fd' in target ? c.fgetxattr(target.fd, cString(name), buf, size) : c.lgetxattr(cString(target.path), cString(name), buf, size));
  for (let attempt = 0; attempt < 5; attempt++) {
    const size = Number(list(null, 0));
    if (size < 0) return c.errno() === ENOTSUP ? [] : fail(c, `listxattr "${what}"`);
    if (size === 0) return [];
    const names = Buffer.alloc(size);
    const n = Number(list(names, size));
    if (n < 0 && c.errno() === ERANGE) continue; // the list grew meanwhile
    if (n < 0) return fail(c, `listxattr "${what}"`);
    const out: Xattr[] = [];
    for (const name of splitNul(names.subarray(0, n))) {
      const value = readOne(c, get, name, what);
      if (value) out.push([name, value]);
    }
    return out.sort((a, b) => Buffer.compare(a[0], b[0]));
  }
  throw new Error(`listxattr "${what}": the list kept changing`);
}

function readOne(c: LibcFunctions<Fns>, get: (name: Buffer, buf: Bytes | null, size: number) => number, name: Buffer, what: string): Buffer | undefined {
  for (let attempt = 0; attempt < 5; attempt++) {
    const size = Number(get(name, null, 0));
    if (size < 0) return c.errno() === ENODATA ? undefined : fail(c, `getxattr "${what}" "${name.toString('latin1')}"`);
    const value = Buffer.alloc(size);
    const n = size === 0 ? 0 : Number(get(name, value, size));
    if (n < 0 && c.errno() === ERANGE) continue;
    if (n < 0) return c.errno() === ENODATA ? undefined : fail(c, `getxattr "${what}" "${name.toString('latin1')}"`);
    return value.subarray(0, n);
  }
  throw new Error(`getxattr "${what}": the value kept changing`);
}

/**
 * Sets every attribute given (in order; `security.capability` after an owner change, which the
 * kernel clears it on), on the thread pool: under heavy writeback a metadata change can wait for
 * the journal. koffi brings no errno back from the pool, so a failed call is made once more here.
 */
export async function writeXattrs(target: XattrTarget, xattrs: readonly Xattr[], what: string): Promise<void> {
  const c = fns();
  for (const [name, value] of xattrs) {
    const call = (): Promise<number> => ('fd' in target ? onThreadPool(c.fsetxattr, target.fd, cString(name), value, value.length, 0) : onThreadPool(c.lsetxattr, cString(target.path), cString(name), value, value.length, 0));
    if ((await call()) === 0) continue;
    const again = 'fd' in target ? c.fsetxattr(target.fd, cString(name), value, value.length, 0) : c.lsetxattr(cString(target.path), cString(name), value, value.length, 0);
    if (again !== 0) fail(c, `setxattr "${what}" "${name.toString('latin1')}"`);
  }
}

/** Removes one attribute of `path` (its last component not followed); one that is not there is no error. */
export function removeXattr(path: Buffer, name: Buffer, what: string): void {
  const c = fns();
  if (c.lremovexattr(cString(path), cString(name)) !== 0 && c.errno() !== ENODATA) fail(c, `removexattr "${what}" "${name.toString('latin1')}"`);
}

/** mknod(2): a device node, FIFO or socket at `path` with the type bits in `mode`. */
export function makeNode(path: Buffer, mode: number, rdev: number, what: string): void {
  const c = fns();
  if (c.mknod(cString(path), mode, BigInt(rdev)) !== 0) fail(c, `mknod "${what}"`);
}

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const UTIME_OMIT = (1n << 30n) - 2n;
const timesOf = (mtimeNs: bigint): BigInt64Array => new BigInt64Array([0n, UTIME_OMIT, mtimeNs / 1_000_000_000n, mtimeNs % 1_000_000_000n]);

/** Sets the modification time to the nanosecond (access time left as it is); never follows a symlink. On the thread pool, as writeXattrs. */
export async function setMtime(target: XattrTarget, mtimeNs: bigint, what: string): Promise<void> {
  const c = fns();
  const times = timesOf(mtimeNs);
  const path = 'fd' in target ? undefined : cString(target.path);
  const call = (): Promise<number> => (path ? onThreadPool(c.utimensat, AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) : onThreadPool(c.futimens, (target as { fd: number }).fd, times));
  if ((await call()) === 0) return;
  const again = path ? c.utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) : c.futimens((target as { fd: number }).fd, times);
  if (again !== 0) fail(c, `utimensat "${what}"`);
}

const SEEK_DATA = 3;
const SEEK_HOLE = 4;
const ENXIO = 6;

/** The data extents of an open file, from SEEK_DATA/SEEK_HOLE: `[start, end)` pairs; one extent of the whole file where holes are not reported. */
export function dataExtents(fd: number, size: number): Array<[number, number]> {
  const c = fns();
  const out: Array<[number, number]> = [];
  for (let at = 0; at < size; ) {
    const start = Number(c.lseek(fd, at, SEEK_DATA));
    if (start < 0) {
      if (c.errno() === ENXIO) break; // only a hole follows
      return [[0, size]];
    }
    const end = Math.min(size, Number(c.lseek(fd, start, SEEK_HOLE)));
    if (end <= start) return [[0, size]];
    out.push([start, end]);
    at = end;
  }
  return out;
}

const SYNC_ALL = 1 | 2 | 4; // SYNC_FILE_RANGE_WAIT_BEFORE | WRITE | WAIT_AFTER

/**
 * Writes the file's dirty pages out and waits (no journal commit, so a clean file costs nothing),
 * on the thread pool. Writeback write-protects pages mapped shared, so a later write through a
 * mapping faults and moves mtime and ctime: a stat taken after this tells every later change.
 * Answers false when the call failed (the caller then uses fdatasync).
 */
export async function writeBack(fd: number): Promise<boolean> {
  return (await onThreadPool(fns().sync_file_range, fd, 0, 0, SYNC_ALL)) === 0;
}

function splitNul(list: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let start = 0, i = list.indexOf(0); i >= 0; start = i + 1, i = list.indexOf(0, start)) if (i > start) out.push(Buffer.from(list.subarray(start, i)));
  return out;
}

function fail(c: LibcFunctions<Fns>, what: string): never {
  throw new Error(`${what}: ${errnoName(c.errno())}`);
}
