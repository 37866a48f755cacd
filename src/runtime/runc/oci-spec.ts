/** Builds the OCI runtime config (config.json) runc runs a Hoody container from. Pure. */
import type { ContainerSpec } from '../driver.ts';
import type { IdRange } from '../id-range.ts';
import type { ImageRun } from '../image-store.ts';
import { defaultSeccompProfile } from './seccomp-profile.ts';
import { RuntimeError } from '../driver.ts';
import type { NetworkFiles } from '../../network/types.ts';

/** Where catatonit appears inside the container; /dev is a tmpfs, so the image stays untouched. */
export const INIT_PATH = '/dev/.hoody-init';
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** This machine's hard limit without CAP_SYS_RESOURCE (see docs/runtime.md). */
export const MAX_NOFILE = 20_000;
const CPU_PERIOD_US = 100_000;
/**
 * The kernel's OOM killer picks tenants' processes before the daemon and conmon (both at 0, the
 * daemon's value, as measured with Debian's conmon 2.1.6): a container that exhausts the host's
 * memory goes first.
 */
export const CONTAINER_OOM_SCORE_ADJ = 500;
/** /tmp (a tmpfs, charged to the container's memory) holds at most half the memory limit, or this without one. */
export const DEFAULT_TMP_BYTES = 64 * 1024 * 1024;
const MIN_TMP_BYTES = 16 * 1024 * 1024;

/**
 * Capabilities granted to the container's processes: the set Podman grants by default, which is
 * Docker's without CAP_NET_RAW (raw sockets, packet spoofing), CAP_MKNOD and CAP_AUDIT_WRITE.
 * All of them act only inside the container's user namespace.
 */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_NET_BIND_SERVICE',
  'CAP_SETFCAP',
  'CAP_SETGID',
  'CAP_SETPCAP',
  'CAP_SETUID',
  'CAP_SYS_CHROOT',
] as const;

/** Docker's masked paths (bound over with /dev/null or an empty read-only tmpfs when present). */
export const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/devices/virtual/powercap',
  '/sys/firmware',
] as const;

/** Docker's read-only paths. */
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'] as const;

export interface OciSpecInput {
  spec: ContainerSpec;
  /** How the image says to run it: Entrypoint, Cmd, Env, WorkingDir, User. */
  run: ImageRun;
  /** Host path of the catatonit binary. */
  initBinary: string;
  cgroupsPath: string;
  /** Hard limit for open files, at most MAX_NOFILE. */
  nofile: number;
  /** The host ids container ids 0… map to (the container gets its own user namespace). */
  ids: IdRange;
  /** Whether the host accounts swap per cgroup, so that swap can be limited. */
  swapAccounting: boolean;
  /** Node's name of the host architecture, for the seccomp filter. */
  arch?: string;
  /** The root filesystem: relative to the bundle, or absolute. */
  rootPath?: string;
  /**
   * The container's network on the server's bridge: the files seen at /etc/hosts,
   * /etc/resolv.conf and /etc/hostname. The container then has no network namespace of runc's:
   * it stays in the one its runtime is started in, the namespace the daemon made (the driver
   * starts conmon, and runc exec, inside it). Named by path here, runc exec would enter the
   * container's user namespace first and then be refused that namespace, owned by the host's.
   * Absent: a new namespace of its own, loopback only.
   */
  network?: { files: NetworkFiles };
}

/** The config.json object for one container. */
export function buildOciSpec({ spec, run, initBinary, cgroupsPath, nofile, ids, swapAccounting, arch, rootPath = 'rootfs', network }: OciSpecInput): Record<string, unknown> {
  const { args: argv, env, cwd, user } = imageProcess(spec, run);
  const caps = [...DEFAULT_CAPABILITIES];
  const limit = Math.min(nofile, MAX_NOFILE);
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user,
      args: [INIT_PATH, '--', ...argv],
      env,
      cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps, ambient: [] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: limit, soft: Math.min(1024, limit) }],
      noNewPrivileges: true,
      oomScoreAdj: CONTAINER_OOM_SCORE_ADJ,
    },
    root: { path: rootPath, readonly: false },
    hostname: spec.hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      network?.files.sysfs
        ? { destination: '/sys', type: 'bind', source: network.files.sysfs, options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
        : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', `size=${tmpBytes(spec.resources)}`] },
      { destination: INIT_PATH, type: 'bind', source: initBinary, options: ['bind', 'ro', 'nosuid', 'nodev'] },
      ...(network ? networkFileMounts(network.files) : []),
      ...(spec.display ? displayMounts(spec.display) : []),
    ],
    linux: {
      cgroupsPath,
      resources: buildResources(spec.resources, swapAccounting),
      namespaces: [{ type: 'pid' }, ...(network ? [] : [{ type: 'network' }]), { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }, { type: 'user' }],
      uidMappings: [{ containerID: 0, hostID: ids.uid, size: ids.size }],
      gidMappings: [{ containerID: 0, hostID: ids.gid, size: ids.size }],
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
      seccomp: defaultSeccompProfile(arch),
    },
  };
}

/** Read-only binds of the network's files over the image's own /etc/hosts, /etc/resolv.conf and /etc/hostname. */
function networkFileMounts(files: NetworkFiles): Record<string, unknown>[] {
  const options = ['bind', 'ro', 'nosuid', 'nodev', 'noexec'];
  return [
    { destination: '/etc/hosts', type: 'bind', source: files.hosts, options },
    { destination: '/etc/resolv.conf', type: 'bind', source: files.resolv, options },
    { destination: '/etc/hostname', type: 'bind', source: files.hostname, options },
  ];
}

/**
 * The display's X socket directory over /tmp/.X11-unix (a directory, not the socket: a new X
 * server's socket shows through it without a new mount) and its cookie at /tmp/.Xauthority, both
 * read-only: a process of the container can connect, and cannot replace them.
 */
function displayMounts(display: NonNullable<ContainerSpec['display']>): Record<string, unknown>[] {
  const options = ['bind', 'ro', 'nosuid', 'nodev', 'noexec'];
  return [
    { destination: DISPLAY_SOCKETS, type: 'bind', source: display.x11Dir, options },
    { destination: DISPLAY_COOKIE, type: 'bind', source: display.cookie, options },
  ];
}

const DISPLAY_SOCKETS = '/tmp/.X11-unix';
const DISPLAY_COOKIE = '/tmp/.Xauthority';

/** The container's process as the image's config and the container's own settings make it. */
export interface ImageProcess {
  args: string[];
  /** `KEY=value`, each key once. */
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids?: number[] };
}

/**
 * Docker's rules: argv = Entrypoint + (the container's command ?? Cmd); Env = the image's, then
 * the container's over it (PATH from the image or DEFAULT_PATH, HOSTNAME, HOME the user's home
 * unless set); cwd = WorkingDir or `/`; the user resolved through the image's /etc/passwd.
 * Throws when nothing is left to run or the image's user cannot be resolved.
 */
export function imageProcess(spec: Pick<ContainerSpec, 'command' | 'env' | 'hostname' | 'image' | 'display'>, run: ImageRun): ImageProcess {
  const command = spec.command && spec.command.length > 0 ? spec.command : run.cmd;
  const args = [...run.entrypoint, ...command];
  if (args.length === 0) throw new RuntimeError('invalid-state', `image "${spec.image}" has no Entrypoint or Cmd: give the container a command`, { image: spec.image });
  if (run.userError !== undefined) throw new RuntimeError('invalid-state', run.userError, { image: spec.image });
  const user = run.user ?? { uid: 0, gid: 0, additionalGids: [], home: '/root' };
  const env = new Map<string, string>([
    ['PATH', DEFAULT_PATH],
    ['HOSTNAME', spec.hostname],
    ['HOME', user.home],
  ]);
  for (const entry of run.env) {
    const eq = entry.indexOf('=');
    // `KEY` alone in a Docker config means an empty value
    if (eq === -1) env.set(entry, '');
    else if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  // the kit's display, unless the container says otherwise
  if (spec.display) {
    env.set('DISPLAY', ':0');
    env.set('XAUTHORITY', DISPLAY_COOKIE);
  }
  for (const [k, v] of Object.entries(spec.env)) env.set(k, v);
  return {
    args,
    env: [...env].map(([k, v]) => `${k}=${v}`),
    cwd: run.workingDir || '/',
    user: user.additionalGids.length > 0 ? { uid: user.uid, gid: user.gid, additionalGids: [...user.additionalGids] } : { uid: user.uid, gid: user.gid },
  };
}

/** The size of /tmp: half the memory limit (at least 16 MiB), DEFAULT_TMP_BYTES without a limit. */
function tmpBytes(resources: ContainerSpec['resources']): number {
  if (resources?.memoryMb === undefined) return DEFAULT_TMP_BYTES;
  return Math.max(MIN_TMP_BYTES, Math.floor(memoryBytes(resources.memoryMb) / 2 / 4096) * 4096);
}

const memoryBytes = (mb: number): number => Math.round(mb * 1024 * 1024);

function buildResources(resources: ContainerSpec['resources'], swapAccounting: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {
    devices: [
      { allow: false, access: 'rwm' },
      // null, zero, full, random, urandom, tty, ptmx: what ordinary programs expect to open
      ...[3, 5, 7, 8, 9].map((minor) => ({ allow: true, type: 'c', major: 1, minor, access: 'rwm' })),
      { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
      { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
      { allow: true, type: 'c', major: 136, access: 'rwm' },
    ],
  };
  if (resources?.memoryMb !== undefined) {
    const bytes = memoryBytes(resources.memoryMb);
    // memory + swap = memory: no swap beyond the limit; runc cannot set it where the kernel does not count swap
    out.memory = swapAccounting ? { limit: bytes, swap: bytes } : { limit: bytes };
  }
  if (resources?.cpu !== undefined) out.cpu = { period: CPU_PERIOD_US, quota: Math.max(1000, Math.round(resources.cpu * CPU_PERIOD_US)) };
  if (resources?.pids !== undefined) out.pids = { limit: resources.pids };
  return out;
}
