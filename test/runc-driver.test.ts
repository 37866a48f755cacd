/**
 * The runc + conmon driver against real containers: the shared contract, then what only this
 * driver promises (cgroup limits, overlay mounts, network namespace, image import, no leftovers).
 * Needs root, runc, conmon, catatonit and busybox-static.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readFile, readlink, access, mkdir, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { RuncDriver } from '../src/runtime/runc/runc-driver.ts';
import { ImageStore } from '../src/runtime/image-store.ts';
import { isMountPoint } from '../src/runtime/overlay.ts';
import { runtimeContract, newId, spec, eventually, type DriverHarness } from './runtime-contract.ts';

const made: { dir: string; prefix: string }[] = [];

/** A driver over a fresh state folder with its own cgroup prefix. */
async function openRunc(): Promise<DriverHarness & { driver: RuncDriver; dir: string; prefix: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'hoody-runc-'));
  const prefix = `hoody-test-${randomBytes(5).toString('hex')}`;
  made.push({ dir, prefix });
  const open = (): Promise<RuncDriver> => RuncDriver.open({ stateDir: join(dir, 'runtime'), images: new ImageStore(join(dir, 'images')), cgroupPrefix: prefix });
  const driver = await open();
  const opened: RuncDriver[] = [driver];
  return {
    driver,
    dir,
    prefix,
    reopen: async () => {
      const d = await open();
      opened.push(d);
      return d;
    },
    cleanup: async () => {
      for (const id of (await driver.list()).map((s) => s.id)) await driver.delete(id);
      for (const d of opened) await d.close();
      await driver.removeCgroupPrefix();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

runtimeContract('runc + conmon', openRunc);

describe('runc driver specifics', () => {
  it('applies CPU, memory and pids limits in the container cgroup', async () => {
    const h = await openRunc();
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sleep', '60'], { resources: { cpu: 0.5, memoryMb: 64, pids: 32 } }));
      await h.driver.start(id);
      const cg = await h.driver.cgroup(id);
      if (cg.layout === 'v1') {
        assert.equal(await cg.readLimit('memory', 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
        assert.equal(await cg.readLimit('cpu', 'cpu.cfs_quota_us'), '50000');
        assert.equal(await cg.readLimit('cpu', 'cpu.cfs_period_us'), '100000');
      } else {
        assert.equal(await cg.readLimit('memory', 'memory.max'), String(64 * 1024 * 1024));
        assert.equal(await cg.readLimit('cpu', 'cpu.max'), '50000 100000');
      }
      assert.equal(await cg.readLimit('pids', 'pids.max'), '32');
      const pid = (await h.driver.state(id))?.pid;
      const procCgroups = await readFile(`/proc/${pid}/cgroup`, 'utf8');
      assert.match(procCgroups, new RegExp(`/${h.prefix}/${id}$`, 'm'), 'the init process sits in the container cgroup');
    } finally {
      await h.cleanup();
    }
  });

  it('a pids limit stops a fork bomb from growing past it', async () => {
    const h = await openRunc();
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sh', '-c', 'sh -c "for i in \\$(seq 1 40); do sleep 60 & done"; echo spawned; exec sleep 60'], { resources: { pids: 10 } }));
      await h.driver.start(id);
      await eventually('the loop to finish', () => h.driver.logs(id), (l) => l.includes('spawned'));
      const logs = await h.driver.logs(id);
      assert.match(logs, /can't fork/, 'the kernel refused the eleventh process');
      const { processes } = await h.driver.stats(id);
      assert.ok(processes.length <= 10 && processes.length >= 5, `between 5 and 10 processes, saw ${processes.length}`);
    } finally {
      await h.cleanup();
    }
  });

  it('gives each container its own network namespace with loopback up', async () => {
    const h = await openRunc();
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sh', '-c', 'ip -o link show lo; exec sleep 60']));
      const { pid } = await h.driver.start(id);
      const logs = await eventually('ip output', () => h.driver.logs(id), (l) => l.includes('lo'));
      assert.match(logs, /<LOOPBACK,UP/);
      assert.notEqual(await readlink(`/proc/${pid}/ns/net`), await readlink('/proc/self/ns/net'));
    } finally {
      await h.cleanup();
    }
  });

  it('runs catatonit as PID 1 so that the app is its child', async () => {
    const h = await openRunc();
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sh', '-c', 'echo "parent=$(cat /proc/1/cmdline | tr "\\0" " ")"; exec sleep 60']));
      await h.driver.start(id);
      const logs = await eventually('parent line', () => h.driver.logs(id), (l) => l.includes('parent='));
      assert.match(logs, /parent=\/dev\/\.hoody-init -- sh/);
    } finally {
      await h.cleanup();
    }
  });

  it('delete leaves no runc state, mount, cgroup, conmon or files behind', async () => {
    const h = await openRunc();
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sleep', '600']));
      await h.driver.start(id);
      const bundle = join(h.dir, 'runtime', 'containers', id);
      const conmonPid = Number(await readFile(join(bundle, 'conmon.pid'), 'utf8'));
      assert.ok(await isMountPoint(join(bundle, 'rootfs')));
      const cg = await h.driver.cgroup(id);
      assert.ok((await cg.existingDirs()).length > 0);

      await h.driver.delete(id);
      assert.equal(await isMountPoint(join(bundle, 'rootfs')), false, 'overlay unmounted');
      await assert.rejects(access(bundle), 'bundle removed');
      assert.deepEqual(await cg.existingDirs(), [], 'cgroups removed');
      assert.equal(execFileSync('runc', ['--root', join(h.dir, 'runtime', 'runc'), 'list', '-q'], { encoding: 'utf8' }).trim(), '', 'runc holds nothing');
      assert.ok(!conmonAlive(conmonPid), 'conmon has exited');
    } finally {
      await h.cleanup();
    }
  });

  it('delete never kills a process that took over a stale conmon pid', async () => {
    const h = await openRunc();
    const bystander = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sh', '-c', 'exit 0']));
      await h.driver.start(id);
      await h.driver.waitExit(id, 3000);
      // the pid file outlives conmon; after a pid wrap another process may own that number
      await writeFile(join(h.dir, 'runtime', 'containers', id, 'conmon.pid'), String(bystander.pid));
      await h.driver.delete(id);
      assert.equal(bystander.exitCode, null, 'the bystander still runs');
      assert.equal(bystander.signalCode, null);
    } finally {
      bystander.kill('SIGKILL');
      await h.cleanup();
    }
  });

  it('builds the busybox image once and imports a rootfs tarball as a new image', async () => {
    const h = await openRunc();
    try {
      const images = new ImageStore(join(h.dir, 'images'));
      const busybox = await images.rootfs('busybox');
      const tarball = join(h.dir, 'mini.tar');
      const src = join(h.dir, 'mini');
      await mkdir(join(src, 'bin'), { recursive: true });
      execFileSync('cp', [join(busybox, 'bin', 'busybox'), join(src, 'bin', 'busybox')]);
      execFileSync('sh', ['-c', `echo from-tarball > ${join(src, 'marker')}`]);
      execFileSync('tar', ['-c', '-f', tarball, '-C', src, '.']);
      const imported = await images.importTarball('mini', tarball, { defaultCommand: ['/bin/busybox', 'sleep', '60'] });
      assert.equal(imported.name, 'mini');
      assert.deepEqual((await images.list()).map((i) => i.name).sort(), ['busybox', 'mini']);
      await assert.rejects(images.importTarball('mini', tarball), /already exists/);
      await assert.rejects(images.importTarball('Bad/Name', tarball), /not valid/);

      const id = newId();
      await h.driver.create(spec(id, ['/bin/busybox', 'sh', '-c', 'echo "marker=$(/bin/busybox cat /marker)"; exec /bin/busybox sleep 60'], { image: 'mini' }));
      await h.driver.start(id);
      const logs = await eventually('marker', () => h.driver.logs(id), (l) => l.includes('marker='));
      assert.match(logs, /marker=from-tarball/);
      await assert.rejects(h.driver.create(spec(newId(), null, { image: 'nope' })), /image "nope" does not exist/);
    } finally {
      await h.cleanup();
    }
  });

  it('logs returns the newest output, at most maxBytes', async () => {
    const h = await openRunc();
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sh', '-c', 'i=0; while [ $i -lt 3000 ]; do echo "line $i with some padding to make it longer"; i=$((i+1)); done; echo done; exec sleep 60']));
      await h.driver.start(id);
      const tail = await eventually('the last line', () => h.driver.logs(id, { maxBytes: 1000 }), (l) => l.includes('done'));
      assert.ok(tail.length <= 1000, `at most 1000 bytes, got ${tail.length}`);
      assert.match(tail, /line 2999 with some padding/);
    } finally {
      await h.cleanup();
    }
  });
});

after(async () => {
  // nothing any test made may remain: no mounts under its folders, no cgroups with its prefix
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  for (const { dir, prefix } of made) {
    assert.ok(!mounts.includes(dir), `no mount left under ${dir}`);
    for (const controller of await readdir('/sys/fs/cgroup')) {
      await assert.rejects(access(join('/sys/fs/cgroup', controller, prefix)), `no cgroup ${controller}/${prefix} left`);
    }
  }
});

function conmonAlive(pid: number): boolean {
  try {
    const stat = execFileSync('cat', [`/proc/${pid}/stat`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}
