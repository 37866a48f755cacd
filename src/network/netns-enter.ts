/**
 * Work done inside a container's network namespace without starting a process: the calling
 * thread joins the namespace (setns), runs synchronous work, and joins the host's namespace
 * again before anything else can run on it. Used for the namespace's sysctls (/proc/sys/net is
 * the namespace of the thread that opens it) and its sysfs (tagged with the mounting thread's
 * namespace). When libc cannot be bound, `nsenter` and the tools do the same in a child process.
 */
import { closeSync, mkdirSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { libcFunctions, type LibcFunctions } from '../runtime/libc.ts';
import { MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC, MS_SHARED, umount2 } from '../runtime/mount-syscalls.ts';
import { RuntimeError } from '../runtime/driver.ts';
import { runTool } from './run-tool.ts';

const CLONE_NEWNET = 0x40000000;
const EINVAL = 22;

type Libc = LibcFunctions<{
  setns: (fd: number, nstype: number) => number;
  unshare: (flags: number) => number;
  mount: (source: string, target: string, fstype: string, flags: number, data: null) => number;
}>;

/** What is done in a container's namespace: sysctls and a sysfs mount. */
export interface NetnsEntry {
  /** Writes each `key=value` (dotted sysctl name) in the namespace at `netnsPath`. */
  sysctls(netnsPath: string, settings: readonly string[], signal?: AbortSignal): Promise<void>;
  /** Mounts a read-only sysfs of the namespace at `target`. */
  mountSysfs(netnsPath: string, target: string, signal?: AbortSignal): Promise<void>;
  /**
   * Makes a namespace bind-mounted at `netnsPath` (what `ip netns add` does), sets its sysctls,
   * mounts its sysfs at `sysfsTarget` and runs `work` in it (synchronous: to make a socket there),
   * all before returning `work`'s result; absent without setns (`ip netns add` then).
   */
  create?<T>(netnsPath: string, settings: readonly string[], sysfsTarget: string, work: () => T): Promise<T>;
  /** Removes a namespace made by create, as `ip netns del` does: its bind mount detached, its file removed; absent without setns. */
  remove?(netnsPath: string): Promise<void>;
  /** Unmounts what is mounted at `target` (a container's sysfs). */
  unmount(target: string, signal?: AbortSignal): Promise<void>;
  readonly mode: 'setns' | 'nsenter';
}

export async function openNetnsEntry(preferNsenter = false): Promise<NetnsEntry> {
  const libc = preferNsenter
    ? undefined
    : await libcFunctions<{ setns: Libc['setns']; unshare: Libc['unshare']; mount: Libc['mount'] }>({
        setns: 'int setns(int fd, int nstype)',
        unshare: 'int unshare(int flags)',
        mount: 'int mount(const char *source, const char *target, const char *filesystemtype, unsigned long mountflags, const void *data)',
      }).catch(() => undefined);
  if (!libc) return nsenterEntry();
  // this thread's own namespace, held open to come back to
  const home = openSync('/proc/thread-self/ns/net', 'r');
  const inside = <T>(netnsPath: string, work: () => T): T => {
    const fd = openSync(netnsPath, 'r');
    try {
      if (libc.setns(fd, CLONE_NEWNET) !== 0) throw new Error(`cannot enter the network namespace ${netnsPath}: errno ${libc.errno()}`);
      try {
        return work();
      } finally {
        // never left behind in a container's namespace: the daemon's sockets would be made there
        if (libc.setns(home, CLONE_NEWNET) !== 0) {
          process.emitWarning(`cannot return to the host's network namespace (errno ${libc.errno()})`);
          process.abort();
        }
      }
    } finally {
      closeSync(fd);
    }
  };
  const writeSysctls = (settings: readonly string[]): void => {
    for (const s of settings) {
      const eq = s.indexOf('=');
      writeFileSync(`/proc/sys/${s.slice(0, eq).replaceAll('.', '/')}`, s.slice(eq + 1));
    }
  };
  const mountSysfs = (target: string): void => {
    if (libc.mount('sysfs', target, 'sysfs', MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, null) !== 0) throw new Error(`cannot mount sysfs at ${target}: errno ${libc.errno()}`);
  };
  const prepared = new Set<string>();
  /** The folder of bind-mounted namespaces, a shared mount point as `ip netns add` makes it, so iproute2 and this agree. */
  const prepareRunDir = (dir: string): void => {
    if (prepared.has(dir)) return;
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    if (libc.mount('', dir, 'none', MS_SHARED | MS_REC, null) !== 0) {
      if (libc.errno() !== EINVAL) throw new Error(`cannot make ${dir} a shared mount: errno ${libc.errno()}`);
      if (libc.mount(dir, dir, 'none', MS_BIND | MS_REC, null) !== 0 || libc.mount('', dir, 'none', MS_SHARED | MS_REC, null) !== 0) {
        throw new Error(`cannot make ${dir} a shared mount: errno ${libc.errno()}`);
      }
    }
    prepared.add(dir);
  };
  return {
    mode: 'setns',
    sysctls: async (netnsPath, settings) => inside(netnsPath, () => writeSysctls(settings)),
    mountSysfs: async (netnsPath, target) => inside(netnsPath, () => mountSysfs(target)),
    // outside any namespace: the shared call, on libuv's thread pool
    unmount: (target) => umount2(target),
    remove: async (netnsPath) => {
      await umount2(netnsPath, MNT_DETACH).catch((err: unknown) => {
        // not mounted (EINVAL) or not there (ENOENT): nothing to unmount
        const errno = err instanceof RuntimeError ? err.details.errno : undefined;
        if (errno !== 'EINVAL' && errno !== 'ENOENT') throw err;
      });
      await rm(netnsPath, { force: true });
    },
    create: async <T>(netnsPath: string, settings: readonly string[], sysfsTarget: string, work: () => T): Promise<T> => {
      prepareRunDir(dirname(netnsPath));
      closeSync(openSync(netnsPath, 'wx', 0));
      let made = false;
      try {
        if (libc.unshare(CLONE_NEWNET) !== 0) throw new Error(`cannot make a network namespace: errno ${libc.errno()}`);
        try {
          if (libc.mount('/proc/thread-self/ns/net', netnsPath, 'none', MS_BIND, null) !== 0) throw new Error(`cannot bind the new namespace at ${netnsPath}: errno ${libc.errno()}`);
          made = true;
          writeSysctls(settings);
          mountSysfs(sysfsTarget);
          return work();
        } finally {
          if (libc.setns(home, CLONE_NEWNET) !== 0) {
            process.emitWarning(`cannot return to the host's network namespace (errno ${libc.errno()})`);
            process.abort();
          }
        }
      } catch (err) {
        // a half-made namespace: its mount (if any) and file go; the sysfs, if mounted, is the caller's teardown's
        if (!made) unlinkSync(netnsPath);
        throw err;
      }
    },
  };
}

function nsenterEntry(): NetnsEntry {
  return {
    mode: 'nsenter',
    sysctls: async (netnsPath, settings, signal) => {
      await runTool('nsenter', [`--net=${netnsPath}`, '--', 'sysctl', '-q', '-w', ...settings], { signal });
    },
    mountSysfs: async (netnsPath, target, signal) => {
      await runTool('nsenter', [`--net=${netnsPath}`, '--', 'mount', '-t', 'sysfs', '-o', 'ro,nosuid,nodev,noexec', 'sysfs', target], { signal });
    },
    unmount: async (target, signal) => {
      await runTool('umount', [target], { signal });
    },
  };
}
