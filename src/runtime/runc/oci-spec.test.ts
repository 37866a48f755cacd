import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildOciSpec, CONTAINER_OOM_SCORE_ADJ, DEFAULT_PATH, DEFAULT_TMP_BYTES, imageProcess, INIT_PATH, MAX_NOFILE } from './oci-spec.ts';
import type { ImageRun } from '../image-store.ts';
import { CLONE_NAMESPACE_FLAGS, type SeccompProfile } from './seccomp-profile.ts';

const ids = { uid: 1_000_000, gid: 2_000_000, size: 65_536 };
const busyboxRun: ImageRun = { entrypoint: [], cmd: ['sleep', 'infinity'], env: [], workingDir: '/', user: { uid: 0, gid: 0, additionalGids: [], home: '/root' } };
const base = { run: busyboxRun, initBinary: '/usr/bin/catatonit', cgroupsPath: '/hoody-x/c1', nofile: 1_000_000, ids, swapAccounting: true, arch: 'x64' };
type Spec = {
  process: { args: string[]; env: string[]; rlimits: { hard: number; soft: number }[] };
  linux: { cgroupsPath: string; resources: Record<string, unknown>; namespaces: { type: string }[] };
  mounts: { destination: string; source: string }[];
};

describe('OCI spec builder', () => {
  it('runs the command under catatonit and falls back to the image default', () => {
    const withCmd = buildOciSpec({ ...base, spec: { id: 'c1', image: 'busybox', command: ['sh', '-c', 'echo hi'], env: {}, hostname: 'web' } }) as unknown as Spec;
    assert.deepEqual(withCmd.process.args, [INIT_PATH, '--', 'sh', '-c', 'echo hi']);
    const noCmd = buildOciSpec({ ...base, spec: { id: 'c1', image: 'busybox', command: null, env: {}, hostname: 'web' } }) as unknown as Spec;
    assert.deepEqual(noCmd.process.args, [INIT_PATH, '--', 'sleep', 'infinity']);
    assert.ok(noCmd.mounts.some((m) => m.destination === INIT_PATH && m.source === '/usr/bin/catatonit'));
  });

  it('lets user variables override the defaults and keeps the nofile limit within the host hard limit', () => {
    const s = buildOciSpec({ ...base, spec: { id: 'c1', image: 'busybox', command: null, env: { PATH: '/bin', A: 'b=c' }, hostname: 'web' } }) as unknown as Spec;
    assert.ok(s.process.env.includes('PATH=/bin'));
    assert.ok(s.process.env.includes('A=b=c'));
    assert.equal(s.process.env.filter((e) => e.startsWith('PATH=')).length, 1);
    assert.equal(s.process.rlimits[0]?.hard, MAX_NOFILE);
    assert.ok((s.process.rlimits[0]?.soft ?? Infinity) <= MAX_NOFILE);
  });

  it('turns cores, megabytes and pids into cgroup limits and sets the cgroups path', () => {
    const s = buildOciSpec({ ...base, spec: { id: 'c1', image: 'busybox', command: null, env: {}, hostname: 'web', resources: { cpu: 1.5, memoryMb: 256, pids: 100 } } }) as unknown as Spec;
    assert.deepEqual(s.linux.resources.cpu, { period: 100_000, quota: 150_000 });
    assert.deepEqual(s.linux.resources.memory, { limit: 256 * 1024 * 1024, swap: 256 * 1024 * 1024 });
    assert.deepEqual(s.linux.resources.pids, { limit: 100 });
    assert.equal(s.linux.cgroupsPath, '/hoody-x/c1');
    assert.ok(s.linux.namespaces.some((n) => n.type === 'network'), 'own network namespace');
    const none = buildOciSpec({ ...base, spec: { id: 'c1', image: 'busybox', command: null, env: {}, hostname: 'web' } }) as unknown as Spec;
    assert.equal(none.linux.resources.memory, undefined);
  });

  it('has no network namespace of runc\'s when it has a network (it stays in the one it is started in) and binds its name files read-only, only then', () => {
    const files = { hosts: '/run/n/c1/hosts', resolv: '/run/n/c1/resolv.conf', hostname: '/run/n/c1/hostname' };
    const s = buildOciSpec({ ...base, spec: { id: 'c1', image: 'busybox', command: null, env: {}, hostname: 'web' }, network: { files } }) as unknown as {
      mounts: { destination: string; source: string; type: string; options: string[] }[];
      linux: { namespaces: { type: string; path?: string }[] };
    };
    assert.equal(s.linux.namespaces.find((n) => n.type === 'network'), undefined);
    assert.deepEqual(s.linux.namespaces.map((n) => n.type).sort(), ['cgroup', 'ipc', 'mount', 'pid', 'user', 'uts']);
    for (const [destination, source] of [['/etc/hosts', files.hosts], ['/etc/resolv.conf', files.resolv], ['/etc/hostname', files.hostname]]) {
      const m = s.mounts.find((x) => x.destination === destination);
      assert.equal(m?.source, source, destination);
      assert.equal(m?.type, 'bind');
      assert.ok(m?.options.includes('ro'), `${destination} is read-only`);
    }
    const plain = buildOciSpec({ ...base, spec: { id: 'c1', image: 'busybox', command: null, env: {}, hostname: 'web' } }) as unknown as Spec & { linux: { namespaces: { type: string; path?: string }[] } };
    assert.deepEqual(plain.linux.namespaces.find((n) => n.type === 'network'), { type: 'network' });
    assert.ok(!plain.mounts.some((m) => m.destination.startsWith('/etc/')));
  });
});

type Secured = {
  process: { capabilities: Record<string, string[]>; noNewPrivileges?: boolean; oomScoreAdj?: number; user: { uid: number; gid: number } };
  linux: {
    namespaces: { type: string }[];
    uidMappings?: { containerID: number; hostID: number; size: number }[];
    gidMappings?: { containerID: number; hostID: number; size: number }[];
    maskedPaths: string[];
    readonlyPaths: string[];
    resources: { memory?: { limit: number; swap?: number } };
    seccomp?: SeccompProfile;
  };
  mounts: { destination: string; options?: string[] }[];
};
const secured = (extra: Partial<Parameters<typeof buildOciSpec>[0]> = {}, resources?: { memoryMb?: number }): Secured =>
  buildOciSpec({ ...base, ...extra, spec: { id: 'c1', image: 'busybox', command: null, env: {}, hostname: 'web', ...(resources ? { resources } : {}) } }) as unknown as Secured;
const allowedUnconditionally = (p: SeccompProfile): string[] => p.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names);

describe('OCI spec builder: confinement', () => {
  it('filters syscalls: everything not allowed fails with EPERM, on the host architecture and its compat ones', () => {
    const seccomp = secured().linux.seccomp;
    assert.ok(seccomp, 'a seccomp profile is set');
    assert.equal(seccomp.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(seccomp.defaultErrnoRet, 1, 'EPERM');
    assert.deepEqual(seccomp.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.deepEqual(secured({ arch: 'arm64' }).linux.seccomp?.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    const allowed = allowedUnconditionally(seccomp);
    for (const common of ['read', 'write', 'execve', 'openat', 'fork', 'wait4', 'chroot', 'arch_prctl']) assert.ok(allowed.includes(common), `${common} is allowed`);
  });

  it('refuses namespace creation, keyrings, bpf, io_uring, userfaultfd, perf, modules, kexec, mounts, swap and reboot', () => {
    const seccomp = secured().linux.seccomp as SeccompProfile;
    const anyAllow = seccomp.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names);
    const refused = [
      'unshare', 'setns', 'keyctl', 'add_key', 'request_key', 'bpf', 'userfaultfd', 'io_uring_setup', 'io_uring_enter',
      'io_uring_register', 'perf_event_open', 'init_module', 'finit_module', 'delete_module', 'kexec_load', 'kexec_file_load',
      'mount', 'umount2', 'pivot_root', 'swapon', 'swapoff', 'reboot', 'open_by_handle_at', 'fsopen', 'move_mount', 'clone3',
    ]; // prettier-ignore
    for (const name of refused) assert.ok(!anyAllow.includes(name), `${name} is not allowed`);
    // clone only without CLONE_NEW* flags; clone3 answers ENOSYS so that libc falls back to clone
    const clone = seccomp.syscalls.filter((r) => r.names.includes('clone'));
    assert.deepEqual(clone, [{ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] }]);
    assert.equal(CLONE_NAMESPACE_FLAGS, 0x10000000 | 0x20000000 | 0x40000000 | 0x08000000 | 0x04000000 | 0x02000000 | 0x00020000);
    assert.deepEqual(seccomp.syscalls.find((r) => r.names.includes('clone3')), { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    const socket = seccomp.syscalls.find((r) => r.names.includes('socket'));
    assert.deepEqual(socket?.args, [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }], 'AF_VSOCK sockets are refused');
  });

  it("grants exactly podman's capabilities (no NET_RAW, MKNOD or AUDIT_WRITE) and sets no new privileges", () => {
    const s = secured();
    const podman = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_CHROOT'];
    for (const set of ['bounding', 'effective', 'permitted']) assert.deepEqual([...(s.process.capabilities[set] ?? [])].sort(), podman.sort(), set);
    assert.deepEqual(s.process.capabilities.ambient, []);
    assert.equal(s.process.capabilities.inheritable, undefined);
    assert.equal(s.process.noNewPrivileges, true);
  });

  it("masks Docker's paths, powercap and interrupts included, and makes its read-only paths read-only", () => {
    const s = secured();
    const docker = ['/proc/acpi', '/proc/asound', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/sched_debug', '/proc/scsi', '/proc/timer_list', '/proc/timer_stats', '/sys/devices/virtual/powercap', '/sys/firmware'];
    assert.deepEqual([...s.linux.maskedPaths].sort(), docker.sort());
    assert.deepEqual([...s.linux.readonlyPaths].sort(), ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
  });

  it('runs container root as the first id of the range, in its own user namespace', () => {
    const s = secured();
    assert.deepEqual(s.linux.namespaces.map((n) => n.type).sort(), ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts']);
    assert.deepEqual(s.linux.uidMappings, [{ containerID: 0, hostID: 1_000_000, size: 65_536 }]);
    assert.deepEqual(s.linux.gidMappings, [{ containerID: 0, hostID: 2_000_000, size: 65_536 }]);
    assert.deepEqual(s.process.user, { uid: 0, gid: 0 });
  });

  it('makes tenants the OOM killer first choice, allows no swap beyond the memory limit and sizes /tmp', () => {
    assert.equal(secured().process.oomScoreAdj, CONTAINER_OOM_SCORE_ADJ);
    assert.ok(CONTAINER_OOM_SCORE_ADJ > 0);
    const limited = secured({}, { memoryMb: 256 });
    assert.deepEqual(limited.linux.resources.memory, { limit: 256 * 1024 * 1024, swap: 256 * 1024 * 1024 });
    assert.deepEqual(secured({ swapAccounting: false }, { memoryMb: 256 }).linux.resources.memory, { limit: 256 * 1024 * 1024 }, 'no swap limit where the kernel cannot take one');
    const tmp = (s: Secured): string[] => s.mounts.find((m) => m.destination === '/tmp')?.options ?? [];
    assert.ok(tmp(limited).includes(`size=${128 * 1024 * 1024}`), `half the memory limit: ${tmp(limited).join(',')}`);
    assert.ok(tmp(secured()).includes(`size=${DEFAULT_TMP_BYTES}`), 'the default without a memory limit');
    assert.ok(tmp(secured({}, { memoryMb: 4 })).includes(`size=${16 * 1024 * 1024}`), 'never below 16 MiB');
    assert.ok(tmp(limited).includes('nosuid') && tmp(limited).includes('nodev'));
  });
});

describe('the process from the image config', () => {
  const spec = { image: 'example.com/app:1', hostname: 'web', env: {} as Record<string, string>, command: null as string[] | null };
  const run: ImageRun = {
    entrypoint: ['/bin/sh', '-c'],
    cmd: ['echo hi'],
    env: ['PATH=/opt/bin:/bin', 'GREETING=hi', 'EMPTY'],
    workingDir: '/home/app',
    user: { uid: 1000, gid: 1000, additionalGids: [10, 20], home: '/home/app' },
  };

  it('runs Entrypoint + Cmd, and a container command replaces Cmd but keeps Entrypoint (Docker\'s rule)', () => {
    assert.deepEqual(imageProcess(spec, run).args, ['/bin/sh', '-c', 'echo hi']);
    assert.deepEqual(imageProcess({ ...spec, command: ['id'] }, run).args, ['/bin/sh', '-c', 'id']);
    assert.deepEqual(imageProcess({ ...spec, command: ['id'] }, { ...run, entrypoint: [] }).args, ['id']);
  });

  it('refuses an image with nothing to run, naming it', () => {
    assert.throws(() => imageProcess(spec, { ...run, entrypoint: [], cmd: [] }), /image "example.com\/app:1" has no Entrypoint or Cmd/);
    assert.deepEqual(imageProcess({ ...spec, command: ['sh'] }, { ...run, entrypoint: [], cmd: [] }).args, ['sh']);
  });

  it('merges Env: the image\'s, then the container\'s over it; PATH from the image; HOME the user\'s', () => {
    const env = imageProcess({ ...spec, env: { GREETING: 'hello', EXTRA: '1' } }, run).env;
    assert.ok(env.includes('PATH=/opt/bin:/bin'));
    assert.ok(env.includes('GREETING=hello'));
    assert.ok(env.includes('EXTRA=1'));
    assert.ok(env.includes('EMPTY='));
    assert.ok(env.includes('HOSTNAME=web'));
    assert.ok(env.includes('HOME=/home/app'));
    assert.equal(new Set(env.map((e) => e.split('=')[0])).size, env.length, 'each key once');
    const bare = imageProcess(spec, { ...run, env: [], user: undefined }).env;
    assert.ok(bare.includes(`PATH=${DEFAULT_PATH}`));
    assert.ok(bare.includes('HOME=/root'));
    assert.ok(imageProcess(spec, { ...run, env: ['HOME=/data'] }).env.includes('HOME=/data'));
  });

  it('takes the working dir and the resolved user; an unresolvable user fails', () => {
    const p = imageProcess(spec, run);
    assert.equal(p.cwd, '/home/app');
    assert.deepEqual(p.user, { uid: 1000, gid: 1000, additionalGids: [10, 20] });
    assert.equal(imageProcess(spec, { ...run, workingDir: '' }).cwd, '/');
    assert.throws(() => imageProcess(spec, { ...run, user: undefined, userError: 'user "app" is not in the image\'s /etc/passwd' }), /user "app" is not in/);
  });

  it('writes them into config.json', () => {
    const s = buildOciSpec({ ...base, run, spec: { id: 'c1', ...spec } }) as unknown as { process: { args: string[]; cwd: string; user: unknown } };
    assert.deepEqual(s.process.args, [INIT_PATH, '--', '/bin/sh', '-c', 'echo hi']);
    assert.equal(s.process.cwd, '/home/app');
    assert.deepEqual(s.process.user, { uid: 1000, gid: 1000, additionalGids: [10, 20] });
  });
});
