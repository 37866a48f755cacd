/**
 * Work done inside a container's network namespace without starting a process: the calling
 * thread joins the namespace (setns), runs synchronous work, and joins the host's namespace
 * again before anything else can run on it. Used for the namespace's sysctls (/proc/sys/net is
 * the namespace of the thread that opens it) and its sysfs (tagged with the mounting thread's
 * namespace). When libc cannot be bound, `nsenter` and the tools do the same in a child process.
 */
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { libcFunctions, type LibcFunctions } from '../runtime/libc.ts';
import { runTool } from './run-tool.ts';

const CLONE_NEWNET = 0x40000000;
const MS_RDONLY = 1;
const MS_NOSUID = 2;
const MS_NODEV = 4;
const MS_NOEXEC = 8;

type Libc = LibcFunctions<{
  setns: (fd: number, nstype: number) => number;
  mount: (source: string, target: string, fstype: string, flags: number, data: null) => number;
}>;

/** What is done in a container's namespace: sysctls and a sysfs mount. */
export interface NetnsEntry {
  /** Writes each `key=value` (dotted sysctl name) in the namespace at `netnsPath`. */
  sysctls(netnsPath: string, settings: readonly string[], signal?: AbortSignal): Promise<void>;
  /** Mounts a read-only sysfs of the namespace at `target`. */
  mountSysfs(netnsPath: string, target: string, signal?: AbortSignal): Promise<void>;
  readonly mode: 'setns' | 'nsenter';
}

export async function openNetnsEntry(preferNsenter = false): Promise<NetnsEntry> {
  const libc = preferNsenter
    ? undefined
    : await libcFunctions<{ setns: Libc['setns']; mount: Libc['mount'] }>({
        setns: 'int setns(int fd, int nstype)',
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
  return {
    mode: 'setns',
    sysctls: async (netnsPath, settings) => {
      inside(netnsPath, () => {
        for (const s of settings) {
          const eq = s.indexOf('=');
          writeFileSync(`/proc/sys/${s.slice(0, eq).replaceAll('.', '/')}`, s.slice(eq + 1));
        }
      });
    },
    mountSysfs: async (netnsPath, target) => {
      inside(netnsPath, () => {
        if (libc.mount('sysfs', target, 'sysfs', MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, null) !== 0) throw new Error(`cannot mount sysfs at ${target}: errno ${libc.errno()}`);
      });
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
  };
}
