/**
 * What confines a container, checked from the host on real runc containers: the seccomp filter,
 * the user namespace, capabilities, masked paths, the OOM score, memory+swap, the size of /tmp,
 * file modes of the bundle, and the shift of image and container files into the id range
 * (images and containers made before user namespaces included). Needs root, runc, conmon,
 * catatonit and busybox-static.
 */
import { describe, it, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { chown, lstat, mkdir, mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { RuncDriver } from '../src/runtime/runc/runc-driver.ts';
import { ImageStore } from '../src/runtime/image-store.ts';
import { CONTAINER_OOM_SCORE_ADJ } from '../src/runtime/runc/oci-spec.ts';
import type { IdRange } from '../src/runtime/id-range.ts';
import { eventually, newId, spec } from './runtime-contract.ts';
import { apiClient, startTestDaemon, type DaemonHandle } from './daemon-harness.ts';

/** A range of its own, so that the test sees its own ids and not a default it might share. */
const IDS: IdRange = { uid: 3_100_000, gid: 3_200_000, size: 65_536 };
const CAP_NET_RAW = 13;
const CAP_MKNOD = 27;
const CAP_AUDIT_WRITE = 29;

interface Harness {
  driver: RuncDriver;
  images: ImageStore;
  dir: string;
  bundle(id: string): string;
  cleanup(): Promise<void>;
}

const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.cleanup();
});

async function openDriver(): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'hoody-confine-'));
  const prefix = `hoody-test-${randomBytes(5).toString('hex')}`;
  const images = new ImageStore(join(dir, 'images'), IDS);
  const driver = await RuncDriver.open({ stateDir: join(dir, 'runtime'), images, cgroupPrefix: prefix });
  const h: Harness = {
    driver,
    images,
    dir,
    bundle: (id) => join(dir, 'runtime', 'containers', id),
    cleanup: async () => {
      for (const s of await driver.list()) await driver.delete(s.id);
      await driver.close();
      await driver.removeCgroupPrefix();
      await rm(dir, { recursive: true, force: true });
    },
  };
  open.push(h);
  return h;
}

/** A field of /proc/<pid>/status. */
async function statusField(pid: number, field: string): Promise<string> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(status);
  assert.ok(m, `${field} in /proc/${pid}/status`);
  return (m[1] ?? '').trim();
}

/** The pid of the container's app: init (catatonit) runs it as its only child. */
async function appPid(h: Harness, id: string, command: string): Promise<number> {
  const found = await eventually(`"${command}" to run`, async () => (await h.driver.stats(id)).processes, (ps) => ps.some((p) => p.command.startsWith(command)));
  return (found.find((p) => p.command.startsWith(command)) as { pid: number }).pid;
}

describe('confinement of a container, from the host', () => {
  it('the app runs under a seccomp filter with no new privileges, in a user namespace mapped to the range', async () => {
    const h = await openDriver();
    const id = newId();
    await h.driver.create(spec(id, ['sleep', '60']));
    const { pid } = await h.driver.start(id);
    assert.ok(pid);
    const app = await appPid(h, id, 'sleep 60');
    for (const p of [pid, app]) {
      assert.equal(await statusField(p, 'Seccomp'), '2', `pid ${p} is filtered (mode 2)`);
      assert.equal(await statusField(p, 'NoNewPrivs'), '1');
      assert.deepEqual((await readFile(`/proc/${p}/uid_map`, 'utf8')).trim().split(/\s+/).map(Number), [0, IDS.uid, IDS.size]);
      assert.deepEqual((await readFile(`/proc/${p}/gid_map`, 'utf8')).trim().split(/\s+/).map(Number), [0, IDS.gid, IDS.size]);
      // container root is an ordinary host user
      assert.equal((await statusField(p, 'Uid')).split(/\s+/)[0], String(IDS.uid));
    }
  });

  it('a probe inside cannot make a user namespace, nor a network or mount namespace', async () => {
    const h = await openDriver();
    const id = newId();
    const probe = [
      'unshare -U true && echo userns=allowed || echo userns=refused',
      'unshare -r true && echo userns-root=allowed || echo userns-root=refused',
      'unshare -n true && echo netns=allowed || echo netns=refused',
      'unshare -m true && echo mountns=allowed || echo mountns=refused',
      'echo probes-done',
      'exec sleep 60',
    ].join('; ');
    await h.driver.create(spec(id, ['sh', '-c', probe]));
    await h.driver.start(id);
    const logs = await eventually('the probes', () => h.driver.logs(id), (l) => l.includes('probes-done'));
    for (const ns of ['userns', 'userns-root', 'netns', 'mountns']) assert.match(logs, new RegExp(`^${ns}=refused$`, 'm'), logs);
    assert.match(logs, /Operation not permitted/);
  });

  it("holds podman's capabilities: no NET_RAW, MKNOD or AUDIT_WRITE", async () => {
    const h = await openDriver();
    const id = newId();
    await h.driver.create(spec(id, ['sleep', '60']));
    const { pid } = await h.driver.start(id);
    const capEff = BigInt(`0x${await statusField(pid as number, 'CapEff')}`);
    for (const [name, bit] of [['NET_RAW', CAP_NET_RAW], ['MKNOD', CAP_MKNOD], ['AUDIT_WRITE', CAP_AUDIT_WRITE]] as const) {
      assert.equal((capEff >> BigInt(bit)) & 1n, 0n, `CapEff ${capEff.toString(16)} lacks CAP_${name}`);
    }
    assert.equal(capEff, BigInt(`0x${await statusField(pid as number, 'CapBnd')}`), 'nothing beyond the bounding set');
    assert.equal(capEff.toString(16), '800405fb', 'exactly podman\'s 11 capabilities');
  });

  it('a setuid file the container writes is owned by its shifted root on the host, behind folders only root enters', async () => {
    const h = await openDriver();
    const id = newId();
    await h.driver.create(spec(id, ['sh', '-c', 'cp /bin/busybox /suidsh && chmod 4755 /suidsh && echo planted; exec sleep 60']));
    await h.driver.start(id);
    await eventually('the file', () => h.driver.logs(id), (l) => l.includes('planted'));
    const planted = await stat(join(h.bundle(id), 'upper', 'suidsh'));
    assert.equal(planted.mode & 0o4000, 0o4000, 'the setuid bit is there');
    assert.equal(planted.uid, IDS.uid, 'owned by container root, an unprivileged host uid');
    assert.notEqual(planted.uid, 0);
    // and no other local user reaches it: the bundle and the folders above it are root's alone
    for (const dir of [h.bundle(id), join(h.dir, 'runtime', 'containers'), join(h.dir, 'runtime'), h.dir]) {
      const s = await stat(dir);
      assert.equal(s.mode & 0o7777, 0o700, `${dir} is 0700`);
      assert.deepEqual([s.uid, s.gid], [0, 0], `${dir} is root's`);
    }
    // runc reaches the root filesystem, mounted under a folder that only the range's root group may pass
    const config = JSON.parse(await readFile(join(h.bundle(id), 'config.json'), 'utf8'));
    const aliasRoot = (await stat(join(config.root.path, '..')));
    assert.equal(aliasRoot.mode & 0o7777, 0o710);
    assert.deepEqual([aliasRoot.uid, aliasRoot.gid], [0, IDS.gid]);
    const mount = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.split(' ')[4] === config.root.path);
    assert.match(mount ?? '', /\bnosuid\b/, 'the root filesystem is mounted nosuid');
  });

  it('masks /proc/interrupts and /sys/devices/virtual/powercap (when the host has it), as Docker does', async () => {
    const h = await openDriver();
    const id = newId();
    await h.driver.create(spec(id, ['sh', '-c', 'echo "interrupts=$(wc -c < /proc/interrupts)"; echo "powercap=$(ls /sys/devices/virtual/powercap 2>/dev/null | wc -l)"; exec sleep 60']));
    const { pid } = await h.driver.start(id);
    const logs = await eventually('the checks', () => h.driver.logs(id), (l) => l.includes('powercap='));
    assert.ok((await readFile('/proc/interrupts', 'utf8')).length > 0, 'the host has interrupts to hide');
    assert.match(logs, /^interrupts=0$/m, 'empty inside');
    const mounts = await readFile(`/proc/${pid}/mountinfo`, 'utf8');
    if (existsSync('/sys/devices/virtual/powercap')) {
      assert.match(logs, /^powercap=0$/m);
      assert.match(mounts, / \/sys\/devices\/virtual\/powercap /);
    } else {
      // runc masks only paths that exist; the spec still lists it (unit test) for hosts that have it
      assert.ok(JSON.parse(await readFile(join(h.bundle(id), 'config.json'), 'utf8')).linux.maskedPaths.includes('/sys/devices/virtual/powercap'));
    }
  });

  it('makes the app the OOM killer first choice, limits memory+swap to the memory limit and sizes /tmp', async () => {
    const h = await openDriver();
    const id = newId();
    await h.driver.create(spec(id, ['sh', '-c', 'echo "tmp=$(df -k /tmp | tail -n 1)"; exec sleep 60'], { resources: { memoryMb: 64 } }));
    const { pid } = await h.driver.start(id);
    const app = await appPid(h, id, 'sleep 60');
    assert.equal((await readFile(`/proc/${app}/oom_score_adj`, 'utf8')).trim(), String(CONTAINER_OOM_SCORE_ADJ));
    assert.equal((await readFile(`/proc/${pid}/oom_score_adj`, 'utf8')).trim(), String(CONTAINER_OOM_SCORE_ADJ));
    const conmon = Number(await readFile(join(h.bundle(id), 'conmon.pid'), 'utf8'));
    assert.ok(Number((await readFile(`/proc/${conmon}/oom_score_adj`, 'utf8')).trim()) < CONTAINER_OOM_SCORE_ADJ, 'conmon goes after the app');
    assert.ok(Number((await readFile('/proc/self/oom_score_adj', 'utf8')).trim()) < CONTAINER_OOM_SCORE_ADJ, 'the daemon goes after the app');
    const cg = await h.driver.cgroup(id);
    const limit = String(64 * 1024 * 1024);
    if (cg.layout === 'v1') {
      assert.equal(await cg.readLimit('memory', 'memory.limit_in_bytes'), limit);
      if (existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes')) assert.equal(await cg.readLimit('memory', 'memory.memsw.limit_in_bytes'), limit);
    } else if (existsSync(join(cg.dir('memory'), 'memory.swap.max'))) {
      assert.equal(await cg.readLimit('memory', 'memory.swap.max'), '0');
    }
    const logs = await eventually('df', () => h.driver.logs(id), (l) => l.includes('tmp='));
    assert.match(logs, /^tmp=tmpfs\s+32768\s/m, 'half of 64 MiB');
  });

  it('writes the bundle for root alone: folder 0700, config.json and spec.json 0600, also when made by an older version', async () => {
    const h = await openDriver();
    const id = newId();
    await h.driver.create(spec(id, ['sleep', '60'], { env: { SECRET: 'hunter2' } }));
    const check = async (): Promise<void> => {
      for (const file of ['config.json', 'spec.json']) {
        const s = await stat(join(h.bundle(id), file));
        assert.equal(s.mode & 0o777, 0o600, `${file} is 0600`);
        assert.equal(s.uid, 0);
      }
      assert.equal((await stat(h.bundle(id))).mode & 0o777, 0o700);
    };
    await check();
    // an older version left world-readable files and folder: the next create fixes them
    await chmod(h.bundle(id), 0o755);
    for (const file of ['config.json', 'spec.json']) await chmod(join(h.bundle(id), file), 0o644);
    await h.driver.create(spec(id, ['sleep', '60'], { env: { SECRET: 'hunter2' } }));
    await check();
  });
});

describe('a data folder in a closed folder', () => {
  it("runs containers from a data folder in root's 0700 home, the overlay mounted where runc reaches it, removed with the container", async () => {
    // like /root/hoody/data: the folder above the data folder is the admin's, 0700, and stays so
    const home = await mkdtemp(join(tmpdir(), 'hoody-home-'));
    const aliasDir = join('/run', `hoody-test-${randomBytes(5).toString('hex')}`);
    const prefix = `hoody-test-${randomBytes(5).toString('hex')}`;
    const dataDir = join(home, 'data');
    const images = new ImageStore(join(dataDir, 'images'), IDS);
    const driver = await RuncDriver.open({ stateDir: join(dataDir, 'runtime'), images, cgroupPrefix: prefix, aliasDir });
    try {
      assert.equal((await stat(home)).mode & 0o777, 0o700, 'the home folder is left as it was');
      const id = newId();
      await driver.create(spec(id, ['sh', '-c', 'echo hello > /greeting; echo "wrote=$(cat /greeting)"; exec sleep 60']));
      const { pid } = await driver.start(id);
      const logs = await eventually('the greeting', () => driver.logs(id), (l) => l.includes('wrote='));
      assert.match(logs, /^wrote=hello$/m);
      assert.deepEqual((await readFile(`/proc/${pid}/uid_map`, 'utf8')).trim().split(/\s+/).map(Number), [0, IDS.uid, IDS.size]);
      const alias = join(aliasDir, prefix, id);
      assert.equal(JSON.parse(await readFile(join(dataDir, 'runtime', 'containers', id, 'config.json'), 'utf8')).root.path, alias);
      assert.equal((await stat(join(dataDir, 'runtime', 'containers', id, 'upper', 'greeting'))).uid, IDS.uid, 'the files are the bundle\'s own');
      await driver.delete(id);
      assert.equal(existsSync(alias), false, 'the alias goes with the container');
      assert.equal((await readFile('/proc/self/mountinfo', 'utf8')).includes(aliasDir), false, 'nothing stays mounted');
    } finally {
      for (const s of await driver.list()) await driver.delete(s.id);
      await driver.close();
      await driver.removeCgroupPrefix();
      await rm(aliasDir, { recursive: true, force: true });
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe('files shifted into the id range', () => {
  it('an image made before user namespaces is shifted once when next used, and runs', async () => {
    const h = await openDriver();
    await h.images.require('busybox');
    const rootfs = join(h.dir, 'images', 'busybox', 'rootfs');
    // what an older version left: files owned by host root, no range in image.json
    execFileSync('chown', ['-R', '-h', '0:0', rootfs]);
    const infoFile = join(h.dir, 'images', 'busybox', 'image.json');
    const { ids: _ids, ...old } = JSON.parse(await readFile(infoFile, 'utf8'));
    await writeFile(infoFile, JSON.stringify(old));
    const fresh = new ImageStore(join(h.dir, 'images'), IDS);
    const [a, b] = await Promise.all([fresh.folders.require('busybox'), fresh.folders.require('busybox')]);
    assert.deepEqual(a.ids, IDS);
    assert.deepEqual(b.ids, IDS);
    for (const path of ['.', 'bin', 'bin/busybox', 'etc/passwd']) {
      const s = await lstat(join(rootfs, path));
      assert.deepEqual([s.uid, s.gid], [IDS.uid, IDS.gid], `${path} shifted exactly once`);
    }
    assert.deepEqual(JSON.parse(await readFile(infoFile, 'utf8')).ids, IDS, 'image.json records the range');
  });

  for (const via of ['start', 'an update (create again), then start'] as const) {
    it(`a container made before user namespaces starts confined with its files, owned by its shifted root (${via})`, async () => {
      const h = await openDriver();
      const id = newId();
      const app = spec(id, ['sh', '-c', 'echo "kept=$(cat /data/kept)"; echo more >> /data/kept && echo appended; exec sleep 60']);
      await h.driver.create(app);
      const bundle = h.bundle(id);
      // what an older version left: a spec.json without the range, a config.json without a user namespace, root-owned files
      await mkdir(join(bundle, 'upper', 'data'), { recursive: true });
      await writeFile(join(bundle, 'upper', 'data', 'kept'), 'from-before\n');
      execFileSync('chown', ['-R', '0:0', join(bundle, 'upper')]);
      const stored = JSON.parse(await readFile(join(bundle, 'spec.json'), 'utf8'));
      await writeFile(join(bundle, 'spec.json'), JSON.stringify({ spec: stored.spec }), { mode: 0o644 });
      const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8'));
      delete config.linux.uidMappings;
      delete config.linux.gidMappings;
      config.linux.namespaces = config.linux.namespaces.filter((n: { type: string }) => n.type !== 'user');
      await writeFile(join(bundle, 'config.json'), JSON.stringify(config), { mode: 0o644 });

      if (via !== 'start') await h.driver.create({ ...app, env: { CHANGED: '1' } });
      const { pid } = await h.driver.start(id);
      const logs = await eventually('the old file', () => h.driver.logs(id), (l) => l.includes('appended'));
      assert.match(logs, /^kept=from-before$/m);
      assert.deepEqual((await readFile(`/proc/${pid}/uid_map`, 'utf8')).trim().split(/\s+/).map(Number), [0, IDS.uid, IDS.size]);
      assert.equal((await stat(join(bundle, 'upper', 'data', 'kept'))).uid, IDS.uid);
      assert.equal((await stat(join(bundle, 'spec.json'))).mode & 0o777, 0o600);
      assert.equal((await stat(join(bundle, 'config.json'))).mode & 0o777, 0o600);
    });
  }

  it("an imported tarball keeps its owners, shifted into the range, and runs as the image's user", async () => {
    const h = await openDriver();
    const busybox = await h.images.rootfs('busybox');
    const src = join(h.dir, 'src');
    await mkdir(join(src, 'bin'), { recursive: true });
    await mkdir(join(src, 'home', 'app'), { recursive: true });
    execFileSync('cp', [join(busybox, 'bin', 'busybox'), join(src, 'bin', 'busybox')]);
    await writeFile(join(src, 'home', 'app', 'note'), 'mine\n');
    await chown(join(src, 'home', 'app'), 1000, 1000);
    await chown(join(src, 'home', 'app', 'note'), 1000, 1000);
    const tarball = join(h.dir, 'app.tar');
    execFileSync('tar', ['-c', '-f', tarball, '--numeric-owner', '-C', src, '.']);
    await h.images.importTarball('owned', tarball, { defaultCommand: ['/bin/busybox', 'sleep', '60'] });
    const note = await stat(join(h.dir, 'images', 'owned', 'rootfs', 'home', 'app', 'note'));
    assert.deepEqual([note.uid, note.gid], [IDS.uid + 1000, IDS.gid + 1000]);
    assert.equal((await stat(join(h.dir, 'images'))).mode & 0o777, 0o700, "the image store is root's alone, also while an import is not yet shifted");

    const id = newId();
    await h.driver.create(spec(id, ['/bin/busybox', 'sh', '-c', '/bin/busybox stat -c "owner=%u:%g" /home/app/note; exec /bin/busybox sleep 60'], { image: 'owned' }));
    await h.driver.start(id);
    const logs = await eventually('owner', () => h.driver.logs(id), (l) => l.includes('owner='));
    assert.match(logs, /^owner=1000:1000$/m, 'inside, the file belongs to uid 1000 as in the tarball');
  });
});

describe('confinement through the API', () => {
  let d: DaemonHandle | undefined;
  after(async () => d?.cleanup());

  it("a tenant's container created through the API runs filtered, as an unprivileged host user", async () => {
    d = await startTestDaemon('sqlite', { HOODY_USERNS_RANGE: `${IDS.uid}:${IDS.size}` });
    const admin = apiClient(d.api, d.adminToken);
    const user = await admin('POST', '/users', { name: `tenant${randomBytes(3).toString('hex')}` });
    const tok = await admin('POST', '/tokens', { name: 'tenant-cli', user_id: user.body.data.id });
    const tenant = apiClient(d.api, tok.body.data.token);
    const created = await tenant('POST', '/containers', { name: 'probe', container_image: 'busybox', command: ['sh', '-c', 'unshare -U true; echo "unshare=$?"; exec sleep 60'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.data.id as string;
    const info = await eventually('the container to run', async () => (await tenant('GET', `/containers/${id}?runtime=true`)).body.data, (c) => c.status === 'running' && c.runtime_info?.pid > 0);
    const pid = info.runtime_info.pid as number;
    assert.equal(await statusField(pid, 'Seccomp'), '2');
    assert.equal(await statusField(pid, 'NoNewPrivs'), '1');
    assert.deepEqual((await readFile(`/proc/${pid}/uid_map`, 'utf8')).trim().split(/\s+/).map(Number), [0, IDS.uid, IDS.size]);
    const config = await stat(join(d.dataDir, 'runtime', 'containers', id, 'config.json'));
    assert.equal(config.mode & 0o777, 0o600);
  });
});
