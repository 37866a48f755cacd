/**
 * Virtual displays against a real Xvnc: the RFB socket, an X client that connects the way a
 * container's does (the x11 folder and the cookie file bound into a mount namespace of its own),
 * the display's cgroup, adoption, failures and clean-up. Needs root, Xvnc (tigervnc-standalone-server),
 * xdpyinfo (x11-utils), unshare and setpriv.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DISPLAY_LIMITS, DISPLAY_UID_BASE, DisplayServers, displayUid, xauthorityEntry, type DisplayOptions, type DisplayPaths } from '../src/runtime/display.ts';
import { CgroupPaths, detectCgroupLayout, removeCgroupDirs, type CgroupLayout } from '../src/runtime/cgroups.ts';
import { pathExists } from '../src/runtime/fs.ts';
import { eventually } from './eventually.ts';

const TOOLS = ['Xvnc', 'xdpyinfo', 'unshare', 'setpriv'];
const missing = TOOLS.filter((tool) => {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', tool], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
});
const skip = process.getuid?.() !== 0 ? 'needs root' : missing.length > 0 ? `needs ${missing.join(', ')}` : false;

const newId = (): string => randomBytes(12).toString('hex');

interface Harness {
  displays: DisplayServers;
  root: string;
  prefix: string;
  layout: CgroupLayout;
  warnings: string[];
  /** Another instance over the same root and prefix, as a restarted daemon makes. */
  reopen(): DisplayServers;
}

const made: Harness[] = [];
/** Folders outside /tmp (which Xvnc's mount namespace hides) for stand-ins of Xvnc. */
const scratch: string[] = [];

async function open(extra: Partial<DisplayOptions> = {}): Promise<Harness> {
  const root = await mkdtemp(join(tmpdir(), 'hoody-test-display-'));
  const prefix = `hoody-test-display-${randomBytes(5).toString('hex')}`;
  const layout = await detectCgroupLayout();
  const warnings: string[] = [];
  const opts: DisplayOptions = { root, cgroupPrefix: prefix, layout, warn: (m) => warnings.push(m), ...extra };
  const h: Harness = { displays: new DisplayServers(opts), root, prefix, layout, warnings, reopen: () => new DisplayServers(opts) };
  made.push(h);
  return h;
}

/**
 * Runs an X client as a container's user sees the display: x11/ on /tmp/.X11-unix, `cookie` (a
 * path relative to the display folder, or absolute outside /tmp) on /tmp/.Xauthority.
 */
function xClient(p: DisplayPaths, cookie: string, command: string): Promise<{ ok: boolean; out: string }> {
  const script = [
    // the display folder may itself lie below /tmp, which the tmpfs hides: work from it, by relative paths
    'cd "$1"',
    'mount -t tmpfs -o mode=1777 tmpfs /tmp',
    'mkdir /tmp/.X11-unix',
    'mount --no-canonicalize --bind x11 /tmp/.X11-unix',
    'touch /tmp/.Xauthority',
    'mount --no-canonicalize --bind "$2" /tmp/.Xauthority',
    'mount -o remount,bind,ro /tmp/.Xauthority',
    // an unprivileged user, as the container's are
    `exec setpriv --reuid=65534 --regid=65534 --clear-groups env DISPLAY=:0 XAUTHORITY=/tmp/.Xauthority ${command}`,
  ].join(' && ');
  return new Promise((resolve) => {
    execFile('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', p.dir, cookie], { timeout: 10_000 }, (err, stdout, stderr) =>
      resolve({ ok: !err, out: `${stdout}${stderr}` }),
    );
  });
}

/** The first 12 bytes the RFB socket sends. */
function banner(socket: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let got = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      got += d;
      if (got.length >= 12) {
        s.destroy();
        resolve(got.slice(0, 12));
      }
    });
    s.on('error', reject);
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o7777;

describe('virtual displays (Xvnc per container)', { skip }, () => {
  after(async () => {
    for (const h of made) {
      for (const id of await h.displays.ids()) await h.displays.remove(id).catch(() => undefined);
      await removeCgroupDirs(`/${h.prefix}`);
      await rm(h.root, { recursive: true, force: true });
    }
    for (const dir of scratch) await rm(dir, { recursive: true, force: true });
  });

  it('serves RFB on its socket and X to a container user with the cookie, in a cgroup of its own; stops without leftovers; restarts with a new cookie in the same file', async () => {
    const h = await open();
    const { displays } = h;
    const id = newId();
    const p = displays.paths(id);
    const started = Date.now();
    const { pid } = await displays.start(id);
    const readyMs = Date.now() - started;
    const cgroup = new CgroupPaths(h.layout, displays.cgroupPath(id));
    try {
      assert.equal(await displays.isRunning(id), true);
      assert.equal(await banner(p.socket), 'RFB 003.008\n');
      assert.deepEqual(await displays.pids(id), [pid]);
      assert.deepEqual(await cgroup.pids(), [pid]);
      const memory = await displays.memoryBytes(id);
      assert.ok(memory > 0, `memory ${memory}`);
      assert.ok((await displays.cpuUsageNs(id)) > 0);
      assert.equal((await readFile(`/proc/${pid}/comm`, 'utf8')).trim(), 'Xvnc');
      // a session of its own: a restart of the daemon does not take it down
      const procStat = await readFile(`/proc/${pid}/stat`, 'utf8');
      assert.equal(Number(procStat.slice(procStat.lastIndexOf(')') + 2).split(' ')[3]), pid, 'session id');
      // not root, no capabilities, no network: what a client of the X server could make it do stays small
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const uid = displayUid(id);
      assert.ok(uid >= DISPLAY_UID_BASE);
      assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
      assert.match(status, new RegExp(`^Gid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
      assert.match(status, /^CapEff:\s+0+$/m);
      assert.match(status, /^CapBnd:\s+0+$/m);
      assert.match(status, /^NoNewPrivs:\s+1$/m);
      assert.notEqual(await readlink(`/proc/${pid}/ns/net`), await readlink('/proc/self/ns/net'));
      // and limits of its own
      if (h.layout === 'v1') {
        assert.equal(Number(await readFile(join(cgroup.dir('memory'), 'memory.limit_in_bytes'), 'utf8')), DISPLAY_LIMITS.memoryBytes);
        assert.equal(Number(await readFile(join(cgroup.dir('pids'), 'pids.max'), 'utf8')), DISPLAY_LIMITS.pids);
      } else {
        assert.equal(Number(await readFile(join(cgroup.dir('memory'), 'memory.max'), 'utf8')), DISPLAY_LIMITS.memoryBytes);
      }

      // root's folders: Xvnc goes through them, and cannot change what the daemon opens there
      assert.equal(await mode(p.dir), 0o711);
      for (const path of [p.dir, p.x11Dir, dirname(p.socket), p.serverCookie]) assert.equal((await stat(path)).uid, 0, path);
      assert.equal(await mode(p.x11Dir), 0o755);
      assert.equal((await stat(p.socket)).uid, uid);
      assert.equal(await mode(h.root), 0o700);
      assert.equal(await mode(p.clientCookie), 0o644);
      assert.equal(await mode(p.serverCookie), 0o640);
      assert.equal((await stat(p.serverCookie)).gid, uid);
      assert.equal(await mode(p.socket), 0o600);
      const cookie = await readFile(p.clientCookie);
      assert.deepEqual(await readFile(p.serverCookie), cookie);
      assert.equal(cookie.length, 45);
      assert.ok(await pathExists(join(p.x11Dir, 'X0')));

      const withCookie = await xClient(p, 'xauthority', 'xdpyinfo');
      assert.ok(withCookie.ok, withCookie.out);
      assert.match(withCookie.out, /dimensions: +1280x800 pixels/);
      assert.match(withCookie.out, /depth of root window: +24 planes/);
      assert.doesNotMatch(withCookie.out, /GLX/);
      const without = await xClient(p, '/dev/null', 'xdpyinfo');
      assert.equal(without.ok, false);
      assert.match(without.out, /Authorization required|unable to open display/);
      const wrongFile = join(h.root, 'wrong-cookie');
      await writeFile(wrongFile, xauthorityEntry(randomBytes(16)), { mode: 0o644 });
      const wrong = await xClient(p, '../wrong-cookie', 'xdpyinfo');
      assert.equal(wrong.ok, false);
      assert.match(wrong.out, /Invalid MIT-MAGIC-COOKIE-1 key|unable to open display/);
      // its last client gone, the server resets and goes on; probes that never authenticate do not get its socket blacklisted
      for (let i = 0; i < 10; i++) assert.equal(await displays.isRunning(id), true, `probe ${i}`);

      // a start of a running display changes nothing; neither does one by a restarted daemon
      assert.deepEqual(await displays.start(id), { pid });
      assert.deepEqual(await h.reopen().start(id), { pid });
      assert.deepEqual(await displays.pids(id), [pid]);
      assert.deepEqual(await readFile(p.clientCookie), cookie);
      console.log(`display ready in ${readyMs} ms, its cgroup holds ${(memory / 1048576).toFixed(1)} MiB`);

      const cgroupDirs = await cgroup.existingDirs();
      assert.ok(cgroupDirs.length > 0);
      await displays.stop(id);
      assert.deepEqual(await displays.pids(id), []);
      assert.deepEqual(await cgroup.existingDirs(), []);
      assert.equal(await pathExists(p.socket), false);
      assert.equal(await pathExists(join(p.x11Dir, 'X0')), false);
      assert.equal(await displays.isRunning(id), false);
      await eventually('Xvnc to be gone', async () => alive(pid), (a) => !a);
      // the bind sources stay for the container
      assert.ok(await pathExists(p.clientCookie));
      assert.ok(await pathExists(p.x11Dir));

      const inode = (await stat(p.clientCookie)).ino;
      const again = await displays.start(id);
      assert.notEqual(again.pid, pid);
      assert.equal((await stat(p.clientCookie)).ino, inode, 'the client cookie is rewritten in place');
      const newCookie = await readFile(p.clientCookie);
      assert.notDeepEqual(newCookie, cookie);
      assert.deepEqual(await readFile(p.serverCookie), newCookie);
      const later = await xClient(p, 'xauthority', 'xdpyinfo');
      assert.ok(later.ok, later.out);
    } finally {
      await displays.stop(id);
    }
    assert.deepEqual(h.warnings, []);
  });

  it('takes a size; concurrent starts of one display make one Xvnc', async () => {
    const h = await open();
    const { displays } = h;
    const id = newId();
    try {
      const starts = await Promise.all([1, 2, 3].map(() => displays.start(id, { width: 1024, height: 600 })));
      assert.equal(new Set(starts.map((s) => s.pid)).size, 1);
      assert.deepEqual(await displays.pids(id), [starts[0]!.pid]);
      const x = await xClient(displays.paths(id), 'xauthority', 'xdpyinfo');
      assert.ok(x.ok, x.out);
      assert.match(x.out, /dimensions: +1024x600 pixels/);
      await assert.rejects(displays.start(id, { width: 1024.5, height: 600 }), /display size 1024.5x600 is not valid/);
      await assert.rejects(displays.start(id, { width: 0, height: 600 }), /not valid/);
    } finally {
      await displays.stop(id);
    }
  });

  it('starts afresh a display whose processes run but whose socket no longer answers', async () => {
    const h = await open();
    const { displays } = h;
    const id = newId();
    try {
      const first = await displays.start(id);
      await rm(displays.paths(id).socket);
      assert.equal(await displays.isRunning(id), false);
      const second = await displays.start(id);
      assert.notEqual(second.pid, first.pid);
      assert.equal(await displays.isRunning(id), true);
      assert.deepEqual(await displays.pids(id), [second.pid]);
      await eventually('the first Xvnc to be gone', async () => alive(first.pid), (a) => !a);
    } finally {
      await displays.stop(id);
    }
    assert.equal(h.warnings.length, 1);
    assert.match(h.warnings[0]!, /does not answer; restarting it/);
  });

  it('a start whose Xvnc exits fails with a clear message and leaves nothing running', async () => {
    const { displays, layout } = await open({ xvnc: '/bin/false' });
    const id = newId();
    await assert.rejects(displays.start(id), (err: Error) => {
      assert.match(err.message, new RegExp(`the display of ${id} did not start: it exited with 1`));
      return true;
    });
    assert.deepEqual(await displays.pids(id), []);
    assert.deepEqual(await new CgroupPaths(layout, displays.cgroupPath(id)).existingDirs(), []);
    assert.equal(await displays.isRunning(id), false);
  });

  it('a start whose Xvnc never answers is ended, with what it forked, and tells what it logged', async () => {
    const dir = await mkdtemp('/var/tmp/hoody-test-display-');
    scratch.push(dir);
    // Xvnc runs as an unprivileged user: it must reach the binary
    await chmod(dir, 0o755);
    const fake = join(dir, 'fake-xvnc');
    // deaf to TERM, as its child is: only the KILL after the grace ends them
    await writeFile(fake, '#!/bin/sh\ntrap "" TERM\necho "fake server: listening nowhere" >&2\nsleep 60 &\nwait\n');
    await chmod(fake, 0o755);
    const { displays, layout } = await open({ xvnc: fake, readyTimeoutMs: 500 });
    const id = newId();
    const started = Date.now();
    await assert.rejects(displays.start(id), (err: Error) => {
      assert.match(err.message, /did not start: its socket did not answer within 500 ms; xvnc\.log ends with: .*fake server: listening nowhere/);
      return true;
    });
    assert.ok(Date.now() - started >= 2000, 'TERM, then KILL after the grace');
    assert.deepEqual(await displays.pids(id), []);
    assert.deepEqual(await new CgroupPaths(layout, displays.cgroupPath(id)).existingDirs(), []);
  });

  it('remove deletes the display folder; ids lists the folders', async () => {
    const h = await open();
    const { displays } = h;
    const [a, b] = [newId(), newId()];
    await displays.start(a);
    // before any start: the bind sources a container needs, the cookie file empty
    const pb = await displays.prepare(b);
    assert.equal((await stat(pb.clientCookie)).size, 0);
    assert.equal(await mode(pb.clientCookie), 0o644);
    assert.equal(await mode(pb.x11Dir), 0o755);
    assert.equal(await pathExists(pb.socket), false);
    assert.deepEqual((await displays.ids()).sort(), [a, b].sort());
    const p = displays.paths(a);
    await displays.remove(a);
    assert.equal(await pathExists(p.dir), false);
    assert.deepEqual(await displays.pids(a), []);
    assert.deepEqual(await new CgroupPaths(h.layout, displays.cgroupPath(a)).existingDirs(), []);
    assert.deepEqual(await displays.ids(), [b]);
    await displays.remove(b);
    assert.deepEqual(await displays.ids(), []);
  });
});

describe('virtual displays: input checks', () => {
  it('refuses an id that is not 24 lowercase hex before building any path', async () => {
    const root = join(tmpdir(), `hoody-test-display-${randomBytes(5).toString('hex')}`);
    const displays = new DisplayServers({ root, cgroupPrefix: 'hoody-test-display-none', layout: 'v1' });
    for (const id of ['../etc', '', 'ABCDEFABCDEFABCDEFABCDEF', 'a'.repeat(23), 'a'.repeat(25), `${'a'.repeat(23)}/`]) {
      assert.throws(() => displays.paths(id), /is not valid/);
      assert.throws(() => displays.cgroupPath(id), /is not valid/);
      await assert.rejects(displays.start(id), /is not valid/);
      await assert.rejects(displays.stop(id), /is not valid/);
      await assert.rejects(displays.remove(id), /is not valid/);
      await assert.rejects(displays.prepare(id), /is not valid/);
      await assert.rejects(displays.memoryBytes(id), /is not valid/);
      await assert.rejects(displays.pids(id), /is not valid/);
      await assert.rejects(displays.isRunning(id), /is not valid/);
    }
    assert.equal(await pathExists(root), false);
  });

  it('writes one FamilyWild MIT-MAGIC-COOKIE-1 entry for display 0', () => {
    const cookie = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const entry = xauthorityEntry(cookie);
    const expected = Buffer.concat([
      Buffer.from([0xff, 0xff, 0, 0, 0, 1]),
      Buffer.from('0'),
      Buffer.from([0, 18]),
      Buffer.from('MIT-MAGIC-COOKIE-1'),
      Buffer.from([0, 16]),
      cookie,
    ]);
    assert.deepEqual(entry, expected);
  });
});
