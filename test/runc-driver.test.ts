/**
 * The runc + conmon driver against real containers: the shared contract, then what only this
 * driver promises (cgroup limits, overlay mounts, network namespace, image import, no leftovers).
 * Needs root, runc, conmon, catatonit and busybox-static.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, rmdir, readFile, readlink, access, mkdir, readdir, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { RuncDriver } from '../src/runtime/runc/runc-driver.ts';
import { ImageStore } from '../src/runtime/image-store.ts';
import { bindMount, isMountPoint, mountOverlay } from '../src/runtime/overlay.ts';
import { makeGateDir } from '../src/runtime/runc/bundle-files.ts';
import { sessionKeyringId } from '../src/runtime/session-keyring.ts';
import { CgroupPaths, detectCgroupLayout, type CgroupLayout } from '../src/runtime/cgroups.ts';
import { runtimeContract, newId, spec, eventually, sleep, type DriverHarness } from './runtime-contract.ts';

const made: { dir: string; prefix: string }[] = [];
/** The session keyring this process was started in, before any driver spawned conmon. */
const startKeyring = await sessionKeyringId();
/** Starts each followed at once by TERM: without the wait for the init, about a third of such TERMs were lost. */
const TERM_RACE_ROUNDS = 20;
/** A TERM that arrives ends the container in ~15 ms; one that is lost never does. */
const TERM_RACE_WAIT_MS = 1500;

/**
 * A driver over a fresh state folder with its own cgroup prefix. `runcScript`, given that folder,
 * returns shell lines that run before runc itself: a wrapper that logs or disturbs runc's calls.
 */
async function openRunc(runcScript?: (dir: string) => string, initScript?: string): Promise<DriverHarness & { driver: RuncDriver; dir: string; prefix: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'hoody-runc-'));
  const prefix = `hoody-test-${randomBytes(5).toString('hex')}`;
  made.push({ dir, prefix });
  let runcBinary: string | undefined;
  if (runcScript) {
    runcBinary = join(dir, 'runc-wrapper');
    await writeFile(runcBinary, `#!/bin/sh\n${runcScript(dir)}\n`, { mode: 0o755 });
  }
  let initBinary: string | undefined;
  if (initScript) {
    // bind-mounted into the container, where container root (an unprivileged host id) runs it
    await chmod(dir, 0o755);
    initBinary = join(dir, 'init-script');
    await writeFile(initBinary, initScript, { mode: 0o755 });
  }
  const open = (): Promise<RuncDriver> =>
    RuncDriver.open({ stateDir: join(dir, 'runtime'), images: new ImageStore(join(dir, 'images')), cgroupPrefix: prefix, ...(runcBinary ? { runcBinary } : {}), ...(initBinary ? { initBinary } : {}) });
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

interface MountLine {
  point: string;
  fstype: string;
  options: string[];
  superOptions: string[];
}

/** This mount namespace's mounts, from /proc/self/mountinfo. */
function mountinfo(): MountLine[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '))
    .map((f) => {
      const dash = f.indexOf('-');
      return { point: f[4] ?? '', fstype: f[dash + 1] ?? '', options: (f[5] ?? '').split(','), superOptions: (f[dash + 3] ?? '').split(',') };
    });
}

/** Mount points at or below `dir`. */
const mountsUnder = (dir: string): string[] => mountinfo().map((m) => m.point).filter((p) => p === dir || p.startsWith(`${dir}/`));

runtimeContract('runc + conmon', () => openRunc());
runtimeContract('runc + conmon, through the runc CLI (a runc version the direct paths were not verified against)', () => openRunc(otherRuncVersion));

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

  it('makes no session keyring per container: the key quota of the id range\'s root does not limit how many run', async () => {
    const h = await openRunc();
    try {
      const ids = [newId(), newId(), newId()];
      const pids: number[] = [];
      for (const id of ids) {
        await h.driver.create(spec(id, ['sleep', '60']));
        const { pid } = await h.driver.start(id);
        assert.ok(pid, 'a started container has a pid');
        pids.push(pid);
      }
      // the host uid the containers' root runs as
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pids[0]}/status`, 'utf8'))?.[1]);
      assert.ok(uid > 0, 'the container root is an unprivileged host uid');
      // `<uid>: <usage> <nkeys>/<nikeys> <qnkeys>/<maxkeys> …`; runc's session keyrings would count here
      const line = readFileSync('/proc/key-users', 'utf8').split('\n').find((l) => l.trim().startsWith(`${uid}:`));
      const keys = line ? Number(/\s(\d+)\/\d+\s+\d+\/\d+\s/.exec(line)?.[1]) : 0;
      assert.ok(keys < ids.length, `uid ${uid} holds ${keys} keys with ${ids.length} containers running: ${line}`);
      // what they keep instead: the driver's process left the keyring it was started in for a new
      // one, which its children (conmon, runc, the container) inherit
      const own = await sessionKeyringId();
      assert.ok(own > 0 && own !== startKeyring, `session keyring ${own}, started in ${startKeyring}`);
      const script = `import koffi from 'koffi'; console.log(koffi.load('libc.so.6').func('long syscall(long, ...)')(${process.arch === 'arm64' ? 219 : 250}, 'int', 0, 'int', -3, 'int', 0))`;
      const child = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: join(import.meta.dirname, '..') }).toString().trim();
      assert.equal(Number(child), own, 'a child inherits the new keyring');
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
      const root = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')).root.path as string;
      assert.ok(await isMountPoint(root));
      const cg = await h.driver.cgroup(id);
      assert.ok((await cg.existingDirs()).length > 0);

      await h.driver.delete(id);
      assert.equal(await isMountPoint(root), false, 'overlay unmounted');
      assert.deepEqual(mountsUnder(bundle), [], 'nothing mounted in the bundle');
      await assert.rejects(access(root), 'the mount point removed');
      await assert.rejects(access(bundle), 'bundle removed');
      assert.deepEqual(await cg.existingDirs(), [], 'cgroups removed');
      assert.equal(execFileSync('runc', ['--root', join(h.dir, 'runtime', 'runc'), 'list', '-q'], { encoding: 'utf8' }).trim(), '', 'runc holds nothing');
      assert.ok(!conmonAlive(conmonPid), 'conmon has exited');
    } finally {
      await h.cleanup();
    }
  });

  it('mounts the overlay at start, nosuid and nodev, where config.json points runc: one mount, no bind of it', async () => {
    const h = await openRunc();
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sleep', '600']));
      const bundle = join(h.dir, 'runtime', 'containers', id);
      const root = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')).root.path as string;
      assert.equal(mountinfo().filter((m) => m.point === root).length, 0, 'create mounts nothing');
      const { pid } = await h.driver.start(id);
      assert.ok(pid && pid > 0);
      const atRoot = mountinfo().filter((m) => m.point === root);
      assert.equal(atRoot.length, 1, 'one mount at the root path');
      assert.equal(atRoot[0]?.fstype, 'overlay');
      for (const opt of ['rw', 'nosuid', 'nodev']) assert.ok(atRoot[0]?.options.includes(opt), `${opt} in ${atRoot[0]?.options.join(',')}`);
      assert.ok(atRoot[0]?.superOptions.includes(`upperdir=${join(bundle, 'upper')}`), 'the upper dir is the bundle\'s');
      assert.deepEqual(mountsUnder(bundle), [], 'nothing mounted in the bundle');
    } finally {
      await h.cleanup();
    }
  });

  it('starts and deletes a container whose overlay an earlier version mounted in the bundle, with or without its bind mount', async () => {
    const h = await openRunc();
    try {
      for (const withBind of [true, false]) {
        const id = newId();
        await h.driver.create(spec(id, ['sh', '-c', 'echo up; exec sleep 600']));
        const bundle = join(h.dir, 'runtime', 'containers', id);
        const root = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')).root.path as string;
        // the earlier layout, made at create: the overlay at the bundle's rootfs/, bound to the root path (the bind gone after /run was emptied)
        const merged = join(bundle, 'rootfs');
        const images = new ImageStore(join(h.dir, 'images'));
        await mkdir(dirname(dirname(root)), { recursive: true, mode: 0o711 });
        await makeGateDir(dirname(root), images.ids);
        await mkdir(root, { recursive: true, mode: 0o700 });
        const owner = { uid: images.ids.uid, gid: images.ids.gid };
        await mountOverlay({ lower: await images.rootfs('busybox'), upper: join(bundle, 'upper'), work: join(bundle, 'work'), merged, owner });
        if (withBind) await bindMount(merged, root);
        await h.driver.start(id);
        await eventually('the output', () => h.driver.logs(id), (l) => l.includes('up'));
        assert.ok(await isMountPoint(merged), 'the overlay in the bundle is used as it is');
        assert.equal(mountinfo().filter((m) => m.point === root).length, 1, 'one bind at the root path');
        await h.driver.delete(id);
        assert.equal(await isMountPoint(root), false, 'the bind unmounted');
        assert.equal(await isMountPoint(merged), false, 'the overlay unmounted');
        await assert.rejects(access(bundle), 'bundle removed');
      }
    } finally {
      await h.cleanup();
    }
  });

  it('a stopped container holds no mount: after a stop, and after its process exits by itself', async () => {
    const h = await openRunc();
    try {
      const stopped = newId();
      const exiting = newId();
      await h.driver.create(spec(stopped, ['sleep', '600']));
      await h.driver.create(spec(exiting, ['sh', '-c', 'echo kept-file > /kept; sleep 1; exit 3']));
      const rootOf = async (id: string): Promise<string> => JSON.parse(await readFile(join(h.dir, 'runtime', 'containers', id, 'config.json'), 'utf8')).root.path as string;
      await h.driver.start(stopped);
      await h.driver.start(exiting);
      for (const id of [stopped, exiting]) assert.ok(await isMountPoint(await rootOf(id)), `${id} mounted while it runs`);
      await h.driver.kill(stopped, 'SIGTERM');
      assert.equal((await h.driver.waitExit(stopped, 5000))?.status, 'stopped');
      // nobody waits for this one: the exit file alone tells the driver
      for (const id of [stopped, exiting]) {
        const root = await rootOf(id);
        await eventually(`no mount at ${root}`, async () => mountinfo().filter((m) => m.point === root).length, (n) => n === 0);
        assert.deepEqual(mountsUnder(join(h.dir, 'runtime', 'containers', id)), [], 'nothing mounted in the bundle');
      }
      assert.equal((await h.driver.state(exiting))?.exitCode, 3);
      // its files outlive the mount: the next start sees what the last run wrote
      await h.driver.create(spec(exiting, ['sh', '-c', 'cat /kept; exec sleep 600']));
      await h.driver.start(exiting);
      await eventually('the kept file', () => h.driver.logs(exiting), (l) => l.includes('kept-file'));
    } finally {
      await h.cleanup();
    }
  });

  it('a start right after a stop mounts again and runs, with the files of the runs before', async () => {
    const h = await openRunc();
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sh', '-c', 'echo run >> /runs; echo "runs=$(wc -l < /runs)"; exec sleep 600']));
      const root = JSON.parse(await readFile(join(h.dir, 'runtime', 'containers', id, 'config.json'), 'utf8')).root.path as string;
      const cycles = 12;
      for (let i = 1; i <= cycles; i++) {
        await h.driver.start(id);
        assert.equal(mountinfo().filter((m) => m.point === root).length, 1, `cycle ${i}: one mount while it runs`);
        await eventually(`cycle ${i}: its output`, () => h.driver.logs(id), (l) => l.includes(`runs=${i}`));
        assert.equal((await h.driver.state(id))?.status, 'running');
        await h.driver.kill(id, i % 2 ? 'SIGKILL' : 'SIGTERM');
        assert.equal((await h.driver.waitExit(id, 5000))?.status, 'stopped');
        // the next start at once, or while the unmount after the exit (due ~200 ms after it) runs, or after it
        await sleep((i - 1) * 25);
      }
      await eventually('no mount once stopped', async () => mountinfo().filter((m) => m.point === root).length, (n) => n === 0);
      await h.driver.delete(id);
      assert.equal(mountinfo().filter((m) => m.point === root).length, 0);
    } finally {
      await h.cleanup();
    }
  });

  it('a never-started container holds no mount and its delete unmounts nothing', async () => {
    const h = await openRunc();
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sleep', '600']));
      const bundle = join(h.dir, 'runtime', 'containers', id);
      const root = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')).root.path as string;
      const alias = dirname(root);
      const before = mountinfo().map((m) => m.point);
      assert.deepEqual(mountsUnder(alias), [], 'nothing mounted for the container');
      assert.deepEqual(mountsUnder(bundle), [], 'nothing mounted in the bundle');
      await access(join(bundle, 'upper'));
      await access(join(bundle, 'work'));
      assert.equal((await h.driver.state(id))?.status, 'created');
      await h.driver.delete(id);
      assert.deepEqual(mountinfo().map((m) => m.point), before, 'the mount table is as it was');
      await assert.rejects(access(bundle), 'bundle removed');
    } finally {
      await h.cleanup();
    }
  });

  it('a driver opened over a container that stopped while none ran unmounts its overlay', async () => {
    const h = await openRunc();
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sleep', '600']));
      const { pid } = await h.driver.start(id);
      const root = JSON.parse(await readFile(join(h.dir, 'runtime', 'containers', id, 'config.json'), 'utf8')).root.path as string;
      await h.driver.close();
      process.kill(pid as number, 'SIGKILL');
      await eventually('the exit file', () => readFile(join(h.dir, 'runtime', 'exits', id), 'utf8').catch(() => ''), (t) => t.trim() !== '');
      assert.ok(await isMountPoint(root), 'no driver watched: still mounted');
      const reopened = await h.reopen();
      await eventually(`no mount at ${root}`, async () => mountinfo().filter((m) => m.point === root).length, (n) => n === 0);
      assert.equal((await reopened.state(id))?.status, 'stopped');
      await reopened.start(id);
      assert.equal((await reopened.state(id))?.status, 'running');
      assert.ok(await isMountPoint(root), 'mounted again at start');
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

  it("reports an exit for containers only, not for conmon's temporary exit files or strangers", async () => {
    const h = await openRunc();
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sh', '-c', 'trap "exit 3" TERM; echo ready; while :; do sleep 0.05; done']));
      await h.driver.start(id);
      await eventually('the app to be ready', () => h.driver.logs(id), (l) => l.includes('ready'));
      const exits: string[] = [];
      h.driver.onExit((e) => exits.push(`${e.id}:${e.exitCode}`));
      const dir = join(h.dir, 'runtime', 'exits');
      // what conmon's write through a temporary file looks like if read before its rename, and a file no container owns
      await writeFile(join(dir, `${id}.Q7X2KZ`), '0');
      await writeFile(join(dir, newId()), '0');
      await sleep(300);
      assert.deepEqual(exits, []);
      await h.driver.kill(id, 'SIGTERM');
      await h.driver.waitExit(id, 3000);
      await eventually('the exit event', async () => exits.length, (n) => n >= 1);
      await sleep(200);
      assert.deepEqual(exits, [`${id}:3`]);
    } finally {
      await h.cleanup();
    }
  });
});

/** Logs each runc call to <dir>/runc-calls, then runs runc. */
const logRuncCalls = (dir: string): string => `echo "$*" >> ${join(dir, 'runc-calls')}\nexec /usr/sbin/runc "$@"`;

/** A runc that says it is another version (1.2.9) and logs each call to <dir>/runc-calls, then runs the real one. */
const otherRuncVersion = (dir: string): string =>
  `[ "$1" = --version ] && { echo "runc version 1.2.9"; echo "spec: 1.2.0"; exit 0; }\n${logRuncCalls(dir)}`;

/** The runc subcommands a logging wrapper saw (create comes from conmon), in order; `--version` (asked once at open) left out. */
async function runcCalls(dir: string): Promise<string[]> {
  const lines = (await readFile(join(dir, 'runc-calls'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  return lines
    .map((line) => {
      const args = line.split(' ');
      const at = args.findIndex((a, i) => !a.startsWith('-') && args[i - 1] !== '--root');
      return args[at] ?? '';
    })
    .filter(Boolean);
}

/** The containers runc's CLI lists under a harness's state folder (its own reading, not the driver's). */
function runcList(dir: string): string {
  return execFileSync('/usr/sbin/runc', ['--root', join(dir, 'runtime', 'runc'), 'list', '-q'], { encoding: 'utf8' }).trim();
}

/** Waits until runc's state folder for a container is gone. */
async function untilRuncForgot(dir: string, id: string): Promise<void> {
  await eventually('runc to forget the stopped container', async () => access(join(dir, 'runtime', 'runc', id)).then(() => true, () => false), (present) => !present);
}

/** runc's own answer (the CLI, an independent reader of the kernel's state). */
function runcStatus(dir: string, id: string): string {
  const out = execFileSync('/usr/sbin/runc', ['--root', join(dir, 'runtime', 'runc'), 'state', id], { encoding: 'utf8' });
  return (JSON.parse(out) as { status: string }).status;
}

describe('runc driver: the runc version decides between the direct paths and the CLI', () => {
  it('with a runc of another version every step goes through the CLI, and the lifecycle still holds', async () => {
    const h = await openRunc(otherRuncVersion);
    try {
      assert.equal(h.driver.mode, 'cli');
      assert.equal((await h.driver.health()).mode, 'cli');
      const id = newId();
      await h.driver.create(spec(id, ['sh', '-c', 'trap "exit 42" TERM; i=0; while :; do i=$((i+1)); echo "n=$i"; sleep 0.02; done']));
      const { pid } = await h.driver.start(id);
      assert.equal(runcStatus(h.dir, id), 'running');
      assert.equal((await h.driver.state(id))?.pid, pid);
      await eventually('a few counts', () => h.driver.logs(id), (l) => lastCount(l) >= 3);
      await h.driver.pause(id);
      assert.equal(runcStatus(h.dir, id), 'paused');
      assert.equal((await h.driver.state(id))?.status, 'paused');
      await h.driver.resume(id);
      assert.equal((await h.driver.state(id))?.status, 'running');
      await h.driver.kill(id, 'SIGTERM');
      assert.equal((await h.driver.waitExit(id, 5000))?.exitCode, 42);
      // the background clean-up after the exit is runc delete
      await untilRuncForgot(h.dir, id);
      assert.equal((await h.driver.state(id))?.status, 'stopped');
      await h.driver.delete(id);
      const calls = await runcCalls(h.dir);
      for (const op of ['create', 'start', 'state', 'pause', 'resume', 'kill', 'delete']) assert.ok(calls.includes(op), `runc ${op} ran: ${calls.join(' ')}`);
    } finally {
      await h.cleanup();
    }
  });

  it('with the verified runc (1.1.x) the direct paths are used: no runc start, pause, resume or kill', async () => {
    const h = await openRunc(logRuncCalls);
    try {
      assert.equal(h.driver.mode, 'direct');
      assert.equal((await h.driver.health()).mode, 'direct');
      const id = newId();
      await h.driver.create(spec(id, ['sleep', '60']));
      await h.driver.start(id);
      await h.driver.pause(id);
      await h.driver.resume(id);
      await h.driver.kill(id, 'SIGKILL');
      await h.driver.waitExit(id, 3000);
      assert.deepEqual(await runcCalls(h.dir), ['create']);
    } finally {
      await h.cleanup();
    }
  });
});

describe('runc driver: start, pause, resume and kill without the runc CLI', () => {
  it('start releases init through the exec fifo: the command runs, no fifo is left, runc says running', async () => {
    const h = await openRunc(logRuncCalls);
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sh', '-c', 'echo "started in $(cat /proc/1/comm)"; exec sleep 60']));
      const { pid } = await h.driver.start(id);
      await assert.rejects(access(join(h.dir, 'runtime', 'runc', id, 'exec.fifo')), 'exec.fifo removed');
      assert.equal(runcStatus(h.dir, id), 'running');
      assert.equal((await h.driver.state(id))?.status, 'running');
      const logs = await eventually('the first line', () => h.driver.logs(id), (l) => l.includes('started in'));
      assert.match(logs, /^started in \.hoody-init$/m, 'the command runs, under catatonit as pid 1');
      assert.ok(pid && (await readFile(`/proc/${pid}/cmdline`, 'utf8')).startsWith('/dev/.hoody-init'), 'init exec-ed catatonit');
      assert.deepEqual(await runcCalls(h.dir), ['create'], 'runc ran only for create (under conmon)');
    } finally {
      await h.cleanup();
    }
  });

  it('start of a container whose init died before it was started fails and leaves nothing running', async () => {
    // the wrapper ends the init right after `runc create`, before the driver releases it
    const h = await openRunc(
      () => `/usr/sbin/runc "$@" || exit $?
prev=; for a in "$@"; do [ "$prev" = --pid-file ] && kill -KILL "$(cat "$a")"; prev=$a; done; exit 0`,
    );
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sh', '-c', 'echo should-not-run; exec sleep 60']));
      await assert.rejects(h.driver.start(id), { name: 'RuntimeError', kind: 'failed', message: /cannot start a container that has stopped|container process is already dead/ });
      assert.equal(runcList(h.dir), '', 'runc holds nothing');
      assert.deepEqual(await (await h.driver.cgroup(id)).pids(), [], 'no process in the cgroup');
      assert.equal((await h.driver.state(id))?.status, 'stopped');
      assert.doesNotMatch(await h.driver.logs(id), /should-not-run/);
      const conmonPid = Number(await readFile(join(h.dir, 'runtime', 'containers', id, 'conmon.pid'), 'utf8'));
      await eventually('conmon to exit', async () => conmonAlive(conmonPid), (alive) => !alive);

      // the same container starts fine under a runc that leaves its init alone; the first driver is
      // closed first: its unmount of the failed start's root filesystem, still pending, must not
      // land while the second one mounts it again (one driver orders them; two do not know of each other)
      await h.driver.close();
      const plain = await RuncDriver.open({ stateDir: join(h.dir, 'runtime'), images: new ImageStore(join(h.dir, 'images')), cgroupPrefix: h.prefix });
      try {
        await plain.start(id);
        await eventually('the command', () => plain.logs(id), (l) => l.includes('should-not-run'));
        assert.equal(runcStatus(h.dir, id), 'running');
        await plain.delete(id);
      } finally {
        await plain.close();
      }
    } finally {
      await h.cleanup();
    }
  });

  it('pause freezes through the cgroup freezer and resume thaws; runc agrees and the count goes on', async () => {
    const h = await openRunc(logRuncCalls);
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo "n=$i"; sleep 0.02; done']));
      await h.driver.start(id);
      await eventually('a few counts', () => h.driver.logs(id), (l) => (l.match(/n=/g) ?? []).length >= 3);
      const cg = await h.driver.cgroup(id);
      const freezer = cg.layout === 'v2' ? 'cgroup.freeze' : 'freezer.state';
      const frozen = async (): Promise<string> => (await readFile(join(cg.dir('freezer'), freezer), 'utf8')).trim();

      await h.driver.pause(id);
      assert.equal(await frozen(), cg.layout === 'v2' ? '1' : 'FROZEN');
      assert.equal(runcStatus(h.dir, id), 'paused');
      assert.equal((await h.driver.state(id))?.status, 'paused');
      const atPause = lastCount(await h.driver.logs(id));
      await sleep(250);
      assert.equal(lastCount(await h.driver.logs(id)), atPause, 'no counting while paused');

      await h.driver.resume(id);
      assert.equal(await frozen(), cg.layout === 'v2' ? '0' : 'THAWED');
      assert.equal(runcStatus(h.dir, id), 'running');
      const logs = await eventually('counting to resume', () => h.driver.logs(id), (l) => lastCount(l) > atPause + 2);
      const counts = [...logs.matchAll(/n=(\d+)/g)].map((m) => Number(m[1]));
      assert.deepEqual(counts, counts.map((_, i) => i + 1), 'the count continues without a gap or restart');
      assert.deepEqual(await runcCalls(h.dir), ['create'], 'pause and resume did not run runc');
    } finally {
      await h.cleanup();
    }
  });

  it('kill signals init itself: TERM reaches the app (exit 42), KILL ends a paused container (137)', async () => {
    const h = await openRunc(logRuncCalls);
    try {
      const trapping = newId();
      await h.driver.create(spec(trapping, ['sh', '-c', 'trap "exit 42" TERM; echo ready; while :; do sleep 0.05; done']));
      await h.driver.start(trapping);
      await eventually('the app to be ready', () => h.driver.logs(trapping), (l) => l.includes('ready'));
      await h.driver.kill(trapping, 'SIGTERM');
      assert.equal((await h.driver.waitExit(trapping, 5000))?.exitCode, 42);

      const paused = newId();
      await h.driver.create(spec(paused, ['sleep', '600']));
      await h.driver.start(paused);
      await h.driver.pause(paused);
      assert.equal(runcStatus(h.dir, paused), 'paused');
      await h.driver.kill(paused, 'SIGKILL');
      const state = await h.driver.waitExit(paused, 3000);
      assert.equal(state?.status, 'stopped');
      assert.equal(state?.exitCode, 137);
      assert.equal(await (await h.driver.cgroup(paused)).isFrozen(), false, 'the cgroup was thawed so KILL could act');

      // an ended container has nothing left to signal; an unknown one does not exist
      await h.driver.kill(paused, 'SIGTERM');
      await assert.rejects(h.driver.kill('no-such-container', 'SIGTERM'), { kind: 'not-found' });
      assert.deepEqual(await runcCalls(h.dir), ['create', 'create'], 'kill did not run runc');
    } finally {
      await h.cleanup();
    }
  });

  it('TERM sent the moment start answers reaches the app: each of many starts ends with exit 143 well before a timeout', async () => {
    const h = await openRunc();
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sleep', '600']));
      const lost: number[] = [];
      for (let i = 0; i < TERM_RACE_ROUNDS; i++) {
        await h.driver.start(id);
        await h.driver.kill(id, 'SIGTERM');
        // catatonit passes TERM on at once; a TERM it never saw leaves the container running
        const ended = await h.driver.waitExit(id, TERM_RACE_WAIT_MS);
        if (ended?.exitCode !== 143) {
          lost.push(i);
          await h.driver.kill(id, 'SIGKILL', { all: true });
          await h.driver.waitExit(id, 5000);
        }
      }
      assert.deepEqual(lost, [], `TERM was lost in rounds ${lost.join(', ')} of ${TERM_RACE_ROUNDS}`);
    } finally {
      await h.cleanup();
    }
  });

  it('TERM waits for an init that takes long to get ready, then reaches it; one that never gets ready is signalled after the bound', async () => {
    // an init that, as PID 1, neither blocks nor catches TERM for 200 ms, then becomes the app
    const h = await openRunc(undefined, '#!/bin/sh\nsleep 0.2\nshift\nexec "$@"\n');
    try {
      const trapping = newId();
      await h.driver.create(spec(trapping, ['sh', '-c', 'trap "exit 42" TERM; while :; do sleep 0.05; done']));
      await h.driver.start(trapping);
      await h.driver.kill(trapping, 'SIGTERM');
      assert.equal((await h.driver.waitExit(trapping, 5000))?.exitCode, 42, 'the TERM reached the app once it trapped it');

      // sleep as PID 1 never acts on TERM: kill gives up waiting after its bound and the container runs on.
      // Sent once the init script has become sleep: the shell before it blocks signals for moments (around
      // its fork and exec), which kill rightly takes as ready
      const deaf = newId();
      await h.driver.create(spec(deaf, ['sleep', '600']));
      const pid = (await h.driver.start(deaf)).pid!;
      await eventually('the init to be sleep', async () => /^Name:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1], (name) => name === 'sleep', 10_000);
      const t0 = Date.now();
      await h.driver.kill(deaf, 'SIGTERM');
      const waited = Date.now() - t0;
      assert.ok(waited >= 900 && waited < 3000, `kill waited ${waited} ms, about its 1 s bound`);
      assert.equal((await h.driver.state(deaf))?.status, 'running');
      await h.driver.kill(deaf, 'SIGKILL', { all: true });
      assert.equal((await h.driver.waitExit(deaf, 5000))?.exitCode, 137);
    } finally {
      await h.cleanup();
    }
  });

  it('the freezer stops and restarts a busy process on cgroup v1 and v2 (v2 through the unified mount of a hybrid host)', async () => {
    const base = `hoody-test-${randomBytes(5).toString('hex')}`;
    const cases: [CgroupLayout, string][] = [];
    if ((await detectCgroupLayout()) === 'v2') cases.push(['v2', `/${base}/c`]);
    else {
      cases.push(['v1', `/${base}/c`]);
      if (await pathExists('/sys/fs/cgroup/unified/cgroup.procs')) cases.push(['v2', `/unified/${base}/c`]);
    }
    for (const [layout, path] of cases) {
      const cg = new CgroupPaths(layout, path);
      const dir = cg.dir('freezer');
      const stateFile = join(dir, layout === 'v2' ? 'cgroup.freeze' : 'freezer.state');
      await mkdir(dir, { recursive: true });
      const busy = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
      const exited = new Promise((r) => busy.on('exit', r));
      try {
        await writeFile(join(dir, 'cgroup.procs'), String(busy.pid));
        await cg.freeze();
        assert.equal((await readFile(stateFile, 'utf8')).trim(), layout === 'v2' ? '1' : 'FROZEN', layout);
        if (layout === 'v2') assert.match(await readFile(join(dir, 'cgroup.events'), 'utf8'), /^frozen 1$/m);
        assert.equal(await cg.isFrozen(), true);
        const frozenAt = cpuTicks(busy.pid as number);
        await sleep(300);
        assert.ok(cpuTicks(busy.pid as number) - frozenAt <= 1, `${layout}: no CPU time while frozen`);
        await cg.thaw();
        assert.equal(await cg.isFrozen(), false);
        const thawedAt = cpuTicks(busy.pid as number);
        await sleep(300);
        assert.ok(cpuTicks(busy.pid as number) - thawedAt >= 5, `${layout}: CPU time again after thaw`);
      } finally {
        await writeFile(stateFile, layout === 'v2' ? '0' : 'THAWED').catch(() => undefined);
        busy.kill('SIGKILL');
        await exited;
        await rmdir(dir);
        await rmdir(join(dir, '..'));
      }
    }
    assert.ok(cases.length > 0);
  });

  it("forgets a stopped container's runc state (cgroups, state folder) without runc delete, and starts it again", async () => {
    const h = await openRunc(logRuncCalls);
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sleep', '60']));
      await h.driver.start(id);
      const cgroup = await h.driver.cgroup(id);
      assert.ok((await cgroup.existingDirs()).length > 0, 'the running container has cgroups');
      await h.driver.kill(id, 'SIGKILL');
      assert.equal((await h.driver.waitExit(id, 3000))?.exitCode, 137);
      // at once, as a restart does: start forgets the previous run itself
      await h.driver.start(id);
      assert.equal(runcStatus(h.dir, id), 'running');
      await h.driver.kill(id, 'SIGKILL');
      await h.driver.waitExit(id, 3000);
      // later, as after any exit: the background clean-up
      await untilRuncForgot(h.dir, id);
      assert.deepEqual(await cgroup.existingDirs(), [], 'its cgroups are gone');
      assert.equal(runcList(h.dir), '', 'runc holds nothing');
      assert.equal((await h.driver.state(id))?.status, 'stopped');
      assert.equal((await h.driver.state(id))?.exitCode, 137);
      await h.driver.delete(id);
      assert.deepEqual(await runcCalls(h.dir), ['create', 'create'], 'runc ran only for the two creates (under conmon)');
    } finally {
      await h.cleanup();
    }
  });

  it('leaves a stopped container whose cgroup cannot simply be removed (a sub-cgroup in it) to runc delete', async () => {
    const h = await openRunc(logRuncCalls);
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sleep', '60']));
      await h.driver.start(id);
      const cgroup = await h.driver.cgroup(id);
      const sub = join(cgroup.dir('pids'), 'sub');
      await mkdir(sub);
      await h.driver.kill(id, 'SIGKILL');
      await h.driver.waitExit(id, 3000);
      await untilRuncForgot(h.dir, id);
      assert.ok((await runcCalls(h.dir)).includes('delete'), 'runc delete did the clean-up');
      await assert.rejects(access(sub), 'runc removed the sub-cgroup');
      assert.deepEqual(await cgroup.existingDirs(), [], 'and the cgroups');
      assert.equal((await h.driver.state(id))?.status, 'stopped');
    } finally {
      await h.cleanup();
    }
  });

  it('pause and resume refuse what runc refuses, with the same errors, and change nothing', async () => {
    const h = await openRunc();
    try {
      const id = newId();
      await h.driver.create(spec(id, ['sleep', '60']));
      const refused = (op: string, status: string) => ({ name: 'RuntimeError', kind: 'invalid-state', message: `cannot ${op} container "${id}": it is ${status}`, details: { status } });
      await assert.rejects(h.driver.pause(id), refused('pause', 'created'));
      await assert.rejects(h.driver.resume(id), refused('resume', 'created'));
      await h.driver.start(id);
      await assert.rejects(h.driver.resume(id), refused('resume', 'running'));
      await h.driver.pause(id);
      await assert.rejects(h.driver.pause(id), refused('pause', 'paused'));
      assert.equal(runcStatus(h.dir, id), 'paused');
      await h.driver.kill(id, 'SIGKILL');
      await h.driver.waitExit(id, 3000);
      await assert.rejects(h.driver.pause(id), refused('pause', 'stopped'));
      await assert.rejects(h.driver.resume(id), refused('resume', 'stopped'));
      await assert.rejects(h.driver.pause('no-such-container'), { kind: 'not-found' });
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

function lastCount(logs: string): number {
  const all = [...logs.matchAll(/n=(\d+)/g)];
  return Number(all.at(-1)?.[1] ?? 0);
}

/** User plus system CPU time of a process, in clock ticks (fields 14 and 15 of /proc/<pid>/stat). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

const pathExists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );
