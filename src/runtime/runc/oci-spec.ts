/** Builds the OCI runtime config (config.json) runc runs a Hoody container from. Pure. */
import type { ContainerSpec } from '../driver.ts';

/** Where catatonit appears inside the container; /dev is a tmpfs, so the image stays untouched. */
export const INIT_PATH = '/dev/.hoody-init';
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** This machine's hard limit without CAP_SYS_RESOURCE (see docs/runtime.md). */
export const MAX_NOFILE = 20_000;
const CPU_PERIOD_US = 100_000;

/** Capabilities granted to the container's processes: the set Docker and Podman grant by default. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
] as const;

export interface OciSpecInput {
  spec: ContainerSpec;
  /** argv to run when the spec has no command. */
  defaultCommand: string[];
  /** Host path of the catatonit binary. */
  initBinary: string;
  cgroupsPath: string;
  /** Hard limit for open files, at most MAX_NOFILE. */
  nofile: number;
}

/** The config.json object for one container. */
export function buildOciSpec({ spec, defaultCommand, initBinary, cgroupsPath, nofile }: OciSpecInput): Record<string, unknown> {
  const argv = spec.command && spec.command.length > 0 ? spec.command : defaultCommand;
  const env = { PATH: DEFAULT_PATH, HOSTNAME: spec.hostname, HOME: '/root', ...spec.env };
  const caps = [...DEFAULT_CAPABILITIES];
  const limit = Math.min(nofile, MAX_NOFILE);
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [INIT_PATH, '--', ...argv],
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, ambient: [] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: limit, soft: Math.min(1024, limit) }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: spec.hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
      { destination: INIT_PATH, type: 'bind', source: initBinary, options: ['bind', 'ro', 'nosuid', 'nodev'] },
    ],
    linux: {
      cgroupsPath,
      resources: buildResources(spec.resources),
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }],
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

function buildResources(resources: ContainerSpec['resources']): Record<string, unknown> {
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
    const bytes = Math.round(resources.memoryMb * 1024 * 1024);
    out.memory = { limit: bytes };
  }
  if (resources?.cpu !== undefined) out.cpu = { period: CPU_PERIOD_US, quota: Math.max(1000, Math.round(resources.cpu * CPU_PERIOD_US)) };
  if (resources?.pids !== undefined) out.pids = { limit: resources.pids };
  return out;
}
