/**
 * mount(2) and umount2(2) called directly (through koffi, a C FFI), in place of a `mount` or
 * `umount` process per call: a mount costs a fraction of a millisecond, a process several. The
 * calls run on libuv's thread pool, so a slow mount never blocks the event loop.
 */
import { constants } from 'node:os';
import { RuntimeError } from './driver.ts';

/** mount(2) flags (linux/mount.h). */
export const MS_NOSUID = 0x2;
/** mount(2) flags (linux/mount.h). */
export const MS_NODEV = 0x4;
/** mount(2) flags (linux/mount.h). */
export const MS_BIND = 0x1000;
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

type Callback = (err: unknown, result: number) => void;
interface NativeFn<A extends unknown[]> {
  (...args: A): number;
  async: (...args: [...A, Callback]) => void;
}
interface Libc {
  mount: NativeFn<[string, string, string | null, number, string | null]>;
  umount2: NativeFn<[string, number]>;
  errno: () => number;
}

let libc: Promise<Libc> | undefined;

/** koffi and libc, loaded on the first mount (loading costs ~11 ms and ~5 MB, so not at start-up). */
function loadLibc(): Promise<Libc> {
  libc ??= import('koffi').then(({ default: koffi }) => {
    const lib = koffi.load('libc.so.6');
    return {
      mount: lib.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)') as unknown as Libc['mount'],
      umount2: lib.func('int umount2(const char *target, int flags)') as unknown as Libc['umount2'],
      errno: () => koffi.errno(),
    };
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

/**
 * One call on the thread pool. koffi's async calls do not carry errno back (it belongs to the
 * worker thread), so a failed call is made once more on this thread to learn it: the same call
 * succeeding then is a success, and a failing one costs what a sync call costs, on a rare path.
 */
async function invoke<A extends unknown[]>(c: Libc, fn: NativeFn<A>, args: A, what: string, details: Record<string, unknown>): Promise<void> {
  const result = await inTurn(() => new Promise<number>((resolve, reject) => fn.async(...args, (err: unknown, r: number) => (err ? reject(err) : resolve(r)))));
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
