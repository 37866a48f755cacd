/**
 * mount(2) and umount2(2) called directly (through koffi, a C FFI), in place of a `mount` or
 * `umount` process per call: a mount costs a fraction of a millisecond, a process several. The
 * calls run on libuv's thread pool, so a slow mount never blocks the event loop.
 */
import { constants } from 'node:os';
import { RuntimeError } from './driver.ts';
import { libcFunctions, onThreadPool, type LibcFunctions, type NativeFn } from './libc.ts';

/** mount(2) flags (linux/mount.h). */
export const MS_RDONLY = 0x1;
/** mount(2) flags (linux/mount.h). */
export const MS_NOSUID = 0x2;
/** mount(2) flags (linux/mount.h). */
export const MS_NODEV = 0x4;
/** mount(2) flags (linux/mount.h). */
export const MS_NOEXEC = 0x8;
/** mount(2) flags (linux/mount.h). */
export const MS_BIND = 0x1000;
/** mount(2) flags (linux/mount.h). */
export const MS_REC = 0x4000;
/** mount(2) flags (linux/mount.h): propagation type shared. */
export const MS_SHARED = 0x100000;
/** umount2(2) flag: detach now, finish once nothing uses the mount any more (`umount -l`). */
export const MNT_DETACH = 0x2;

/** What a mount(2) call gets; `fstype` and `data` may be absent (a bind mount). */
export interface MountCall {
  source: string;
  target: string;
  fstype?: string;
  flags: number;
  /** The file system's own options, e.g. overlay's `lowerdir=…,upperdir=…,workdir=…`. */
  data?: string;
}

interface MountFns {
  mount: NativeFn<[string, string, string | null, number, string | null]>;
  umount2: NativeFn<[string, number]>;
  fsopen: NativeFn<[string, number]>;
  fsconfig: NativeFn<[number, number, string | null, string | null, number]>;
  fsmount: NativeFn<[number, number, number]>;
  move_mount: NativeFn<[number, string, number, string, number]>;
  close: NativeFn<[number]>;
}
type Libc = LibcFunctions<MountFns>;

let libc: Promise<Libc> | undefined;

/** libc's mount calls, loaded on the first mount. */
function loadLibc(): Promise<Libc> {
  libc ??= libcFunctions<MountFns>({
    mount: 'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
    umount2: 'int umount2(const char *target, int flags)',
    fsopen: 'int fsopen(const char *fsname, unsigned int flags)',
    fsconfig: 'int fsconfig(int fd, unsigned int cmd, const char *key, const char *value, int aux)',
    fsmount: 'int fsmount(int fd, unsigned int flags, unsigned int attr_flags)',
    move_mount: 'int move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path, unsigned int flags)',
    close: 'int close(int fd)',
  });
  return libc;
}

/** Mounts a file system; rejects with a RuntimeError naming the call, the target and the errno. */
export async function mount(call: MountCall): Promise<void> {
  const c = await loadLibc();
  const args: [string, string, string | null, number, string | null] = [call.source, call.target, call.fstype ?? null, call.flags, call.data ?? null];
  await invoke(c, c.mount, args, `mount "${call.target}"`, { source: call.source, fstype: call.fstype });
}

/** Unmounts the top mount on `target` (MNT_DETACH: lazily); rejects with a RuntimeError naming the errno. */
export async function umount2(target: string, flags = 0): Promise<void> {
  const c = await loadLibc();
  await invoke(c, c.umount2, [target, flags], `umount "${target}"`, { flags });
}

const FSCONFIG_SET_STRING = 1;
const FSCONFIG_CMD_CREATE = 6;
const FSMOUNT_CLOEXEC = 1;
const MOUNT_ATTR_NOSUID = 0x2;
const MOUNT_ATTR_NODEV = 0x4;
const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
const AT_FDCWD = -100;

/**
 * Mounts an overlay through the new mount API (fsopen, fsconfig, fsmount, move_mount; Linux 6.8+
 * for `lowerdir+`): one lower per call, so no page limit on the options. nosuid and nodev.
 * Synchronous calls (a few system calls, as fast as mount(2)); rejects naming the step and errno.
 */
export async function mountOverlayLayers(call: { lowers: readonly string[]; upper: string; work: string; target: string }): Promise<void> {
  const c = await loadLibc();
  const fail = (step: string): never => {
    const name = errnoName(c.errno());
    throw new RuntimeError('failed', `mount "${call.target}": ${step}: ${name}`, { errno: name, layers: call.lowers.length });
  };
  const fs = c.fsopen('overlay', 0);
  if (fs < 0) fail('fsopen');
  try {
    for (const lower of call.lowers) if (c.fsconfig(fs, FSCONFIG_SET_STRING, 'lowerdir+', lower, 0) !== 0) fail(`lowerdir+ "${lower}"`);
    if (c.fsconfig(fs, FSCONFIG_SET_STRING, 'upperdir', call.upper, 0) !== 0) fail('upperdir');
    if (c.fsconfig(fs, FSCONFIG_SET_STRING, 'workdir', call.work, 0) !== 0) fail('workdir');
    if (c.fsconfig(fs, FSCONFIG_CMD_CREATE, null, null, 0) !== 0) fail('create');
    const mnt = c.fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    if (mnt < 0) fail('fsmount');
    try {
      if (c.move_mount(mnt, '', AT_FDCWD, call.target, MOVE_MOUNT_F_EMPTY_PATH) !== 0) fail('move_mount');
    } finally {
      c.close(mnt);
    }
  } finally {
    c.close(fs);
  }
}

/**
 * One call on the thread pool. koffi's async calls do not carry errno back (it belongs to the
 * worker thread), so a failed call is made once more on this thread to learn it: the same call
 * succeeding then is a success, and a failing one costs what a sync call costs, on a rare path.
 */
async function invoke<A extends unknown[]>(c: Libc, fn: NativeFn<A>, args: A, what: string, details: Record<string, unknown>): Promise<void> {
  const result = await inTurn(() => onThreadPool(fn, ...args));
  if (result === 0) return;
  if (fn(...args) === 0) return;
  const errno = c.errno();
  const name = errnoName(errno);
  throw new RuntimeError('failed', `${what}: ${name}`, { ...details, errno: name });
}

/**
 * At most two calls on the thread pool at once, the rest wait here: libuv's pool has four threads
 * that every fs call and DNS lookup of the daemon shares, and an unmount syncs the upper file
 * system, seconds on a busy disk (koffi itself throws past 256 queued calls).
 */
const MAX_IN_FLIGHT = 2;
let inFlight = 0;
const waiting: (() => void)[] = [];

/** Runs `call` once fewer than MAX_IN_FLIGHT calls are on the thread pool, in the order asked. */
async function inTurn<T>(call: () => Promise<T>): Promise<T> {
  if (inFlight >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => waiting.push(resolve));
  else inFlight++;
  try {
    return await call();
  } finally {
    // the slot passes straight to the next in line, or is freed
    const next = waiting.shift();
    if (next) next();
    else inFlight--;
  }
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** The symbolic name of an errno value (ENOENT, EBUSY…), or `errno N` for one Node does not know. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}
