/**
 * Virtual displays: one TigerVNC Xvnc per container, run on the host for that container. Xvnc is
 * the X server the container's programs draw on and the VNC server a viewer reads, in one process.
 *
 * Layout under the root (0700, as is each container's folder), per container:
 *   <id>/x11/          Xvnc's X socket X0 appears here; bound read-only onto the container's /tmp/.X11-unix
 *   <id>/xauthority    the client cookie (0644), bound read-only onto the container's /tmp/.Xauthority
 *   <id>/server.auth   the same cookie for Xvnc (-auth, 0600)
 *   <id>/vnc.sock      Xvnc's RFB socket (0600): only the daemon connects
 *   <id>/xvnc.log      Xvnc's output, truncated at each start
 *
 * Every display is :0. Xvnc runs in a mount namespace of its own with a private tmpfs on /tmp, so its
 * lock file is its own and its socket folder /tmp/.X11-unix is the container's x11/ folder. It
 * listens on no TCP port and on no abstract socket (`-nolisten local`, which would reach every
 * process of the host's network namespace): the bound folder plus the cookie are the only way in.
 *
 * Xvnc runs in a session of its own (it outlives a restart of the daemon, which adopts it: see
 * start) and in a cgroup of its own, `/<cgroupPrefix>/<id>-display`, beside the container's, so its
 * memory and CPU are counted and stop finds every process it left.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { chmod, lchown, mkdir, open, readFile, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { childEnv } from './child-env.ts';
import { CgroupPaths, type CgroupLayout } from './cgroups.ts';
import { RuntimeError } from './driver.ts';
import { makePrivateDir, pathExists } from './fs.ts';
import { KeyedQueue } from './keyed-queue.ts';

export interface DisplayPaths {
  /** The container's display folder. */
  dir: string;
  /** Where Xvnc's socket X0 appears: the source of the container's /tmp/.X11-unix. */
  x11Dir: string;
  /** The client's Xauthority file: the source of the container's /tmp/.Xauthority. */
  clientCookie: string;
  /** Xvnc's own copy of the cookie (-auth). */
  serverCookie: string;
  /** Xvnc's RFB unix socket. */
  socket: string;
  /** Xvnc's stdout and stderr. */
  log: string;
}

export interface DisplayOptions {
  /** The folder of every display, e.g. /run/hoody/<cgroupPrefix>/displays. */
  root: string;
  /** First component of every container's cgroupsPath, e.g. "hoody-1a2b3c4d". */
  cgroupPrefix: string;
  layout: CgroupLayout;
  /** The Xvnc binary (default: Xvnc, found on PATH). Not below /tmp, which Xvnc's namespace hides. */
  xvnc?: string;
  /** How long a start waits for Xvnc's RFB banner (default 10 s). */
  readyTimeoutMs?: number;
  /** Where a failure of clean-up work is told; silent when absent. */
  warn?: (message: string, err?: unknown) => void;
}

export interface DisplaySize {
  width: number;
  height: number;
}

/** Container ids, as the API makes them. */
const ID_PATTERN = /^[0-9a-f]{24}$/;
const DEFAULT_SIZE: DisplaySize = { width: 1280, height: 800 };
const MIN_SIDE = 32;
const MAX_SIDE = 8192;
/** What an RFB 3.8 server sends first. */
const RFB_BANNER = Buffer.from('RFB 003.008\n', 'latin1');
const DEFAULT_READY_TIMEOUT_MS = 10_000;
/** A probe of a socket that accepts: the banner follows the accept at once. */
const PROBE_TIMEOUT_MS = 1000;
const READY_POLL_MS = 20;
/** Between SIGTERM and SIGKILL. */
const TERM_GRACE_MS = 2000;
/** How long a stop waits for the cgroup to empty. */
const STOP_TIMEOUT_MS = 10_000;
const LOG_TAIL_BYTES = 2048;
/** v1 hierarchies the display's cgroup is made in: what memoryBytes and the CPU accounting read, and pids. */
const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids'] as const;
/** v2 controllers enabled for the display's cgroup. */
const V2_CONTROLLERS = ['memory', 'cpu', 'pids'];
const CGROUP_ROOT = '/sys/fs/cgroup';

/**
 * Whom a display's Xvnc runs as: never root, and a user of its own (one Xvnc cannot read another's
 * cookie, reach its socket, signal or trace it): uid = gid from DISPLAY_UID_BASE up, from a hash of
 * the container's id, in a range no account or container id range of a host uses. The display
 * folder stays root's: Xvnc may make its sockets in x11/ and sock/ only while it starts; once it
 * answers, both are root's again, so nothing it does later can swap the paths the daemon uses.
 */
export const DISPLAY_UID_BASE = 3_000_000_000;
const DISPLAY_UIDS = 1_000_000_000;
export function displayUid(id: string): number {
  assertId(id);
  return DISPLAY_UID_BASE + (createHash('sha256').update(id).digest().readUInt32BE(0) % DISPLAY_UIDS);
}
/** The log's limit, in the 512-byte blocks of `ulimit -f`: 1 MiB. */
const LOG_LIMIT_BLOCKS = 2048;
/** What one display may use: its X server cannot take more memory, processes or CPU than this. */
export const DISPLAY_LIMITS = { memoryBytes: 512 * 1024 * 1024, pids: 64, cpuQuotaUs: 100_000, cpuPeriodUs: 100_000 };

/**
 * Run by `sh -c`, with $1 the display folder, $2 Xvnc, $3 WxH, $4 the script below, then the
 * cgroup.procs files: the shell joins the display's cgroup(s) itself, so Xvnc is counted from its
 * first page, then becomes Xvnc (unshare and the inner shell exec: the pid stays the same).
 */
const JOIN_AND_EXEC = [
  'd=$1 x=$2 g=$3 ns=$4 u=$5',
  'shift 5',
  'for f in "$@"; do echo $$ > "$f" || exit 1; done',
  'cd "$d" || exit 1',
  // its log may not grow past 1 MiB (writes past it fail, SIGXFSZ ignored: Xvnc goes on)
  `ulimit -f ${LOG_LIMIT_BLOCKS} && trap '' XFSZ || exit 1`,
  // a network namespace of its own: nothing to reach (VNC-EXTENSION's connect), no abstract socket
  'exec unshare -m -n --propagation private sh -c "$ns" xvnc "$x" "$g" "$u"',
].join('\n');

/**
 * In the private mount namespace, from the display folder. The paths are relative on purpose: the
 * tmpfs hides whatever lay below /tmp, the display folder too when the root is there, while the
 * working directory keeps pointing at it (`--no-canonicalize`: mount would resolve x11 into a path
 * the tmpfs hides). Xvnc keeps that working directory, where it reads the cookie again at a reset.
 * `-BlacklistTimeout 0`: Xvnc counts every connection that ends before it authenticates (each probe
 * of readsBanner) against its peer, and all peers of a unix socket are one; after 5 it would refuse
 * every viewer ("Too many security failures") for 10 s, then 20, 40… Only root reaches the socket.
 */
const XVNC_IN_NAMESPACE = [
  'mount -t tmpfs -o mode=1777,size=1m tmpfs /tmp',
  'mkdir /tmp/.X11-unix',
  'mount --no-canonicalize --bind x11 /tmp/.X11-unix',
  // not root: the display's own user, with no capabilities, which cannot gain any
  'exec setpriv --reuid "$3" --regid "$3" --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs' +
    ' "$1" :0 -nolisten tcp -nolisten local -auth server.auth -SecurityTypes None' +
    ' -rfbport -1 -rfbunixpath sock/vnc.sock -rfbunixmode 0600 -AlwaysShared' +
    // errors only in its log (a line per viewer would fill it), which is capped anyway
    ' -geometry "$2" -depth 24 -extension GLX -FrameRate 30 -BlacklistTimeout 0 -Log "*:stderr:10"',
].join(' && ');

/** Starts, adopts and stops the containers' Xvnc servers. */
export class DisplayServers {
  private readonly xvnc: string;
  private readonly readyTimeoutMs: number;
  /** Work under way per display: prepare, start, stop and remove of one id run one after another. */
  private readonly queue = new KeyedQueue();

  constructor(private readonly opts: DisplayOptions) {
    this.xvnc = opts.xvnc ?? 'Xvnc';
    this.readyTimeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  }

  /** Where a container's display lives; nothing is touched. */
  paths(id: string): DisplayPaths {
    assertId(id);
    const dir = join(this.opts.root, id);
    return {
      dir,
      x11Dir: join(dir, 'x11'),
      clientCookie: join(dir, 'xauthority'),
      serverCookie: join(dir, 'server.auth'),
      socket: join(dir, 'sock', 'vnc.sock'),
      log: join(dir, 'xvnc.log'),
    };
  }

  /**
   * Makes the display folder, its x11/ folder and a client cookie file (empty until the first
   * start): the sources the container's bind mounts need when runc creates it. Keeps a running
   * display's cookie.
   */
  async prepare(id: string): Promise<DisplayPaths> {
    assertId(id);
    return this.serially(id, () => this.prepareNow(id));
  }

  /**
   * Starts the container's Xvnc and resolves once its RFB socket answers, with Xvnc's pid. A
   * display that already runs and answers is kept as it is, its size too (how a restarted daemon
   * adopts one); one whose processes no longer answer is stopped first. A new start gets a new
   * cookie.
   */
  async start(id: string, size: DisplaySize = DEFAULT_SIZE): Promise<{ pid: number }> {
    assertId(id);
    assertSize(size);
    return this.serially(id, () => this.startNow(id, size));
  }

  private async prepareNow(id: string): Promise<DisplayPaths> {
    const p = this.paths(id);
    await makePrivateDir(this.opts.root);
    await makePrivateDir(p.dir);
    // Xvnc's user may go through it (to its sockets' folders and its cookie), not list or change it
    await chmod(p.dir, 0o711);
    for (const dir of [p.x11Dir, dirname(p.socket)]) {
      await mkdir(dir, { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    }
    await lockSocketFolders(p);
    const file = await open(p.clientCookie, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW, 0o644);
    try {
      // every user of the container reads it (through the bind mount); the umask must not narrow it
      await file.chmod(0o644);
    } finally {
      await file.close();
    }
    return p;
  }

  /** True when processes run in the display's cgroup and its socket sends the RFB banner. */
  async isRunning(id: string): Promise<boolean> {
    const p = this.paths(id);
    if ((await this.pids(id)).length === 0) return false;
    return readsBanner(p.socket, PROBE_TIMEOUT_MS);
  }

  /** Ends every process of the display (TERM, then KILL), removes its cgroup and its sockets. */
  async stop(id: string): Promise<void> {
    assertId(id);
    return this.serially(id, () => this.stopNow(id));
  }

  /** Stops the display and deletes its folder. */
  async remove(id: string): Promise<void> {
    const p = this.paths(id);
    return this.serially(id, async () => {
      await this.stopNow(id);
      await rm(p.dir, { recursive: true, force: true });
    });
  }

  /** Bytes of memory the display's cgroup holds (0 when it has none). */
  async memoryBytes(id: string): Promise<number> {
    return this.cgroup(id).memoryBytes();
  }

  /** CPU time the display's processes have used, in nanoseconds. */
  async cpuUsageNs(id: string): Promise<number> {
    return this.cgroup(id).cpuUsageNs();
  }

  /** Pids of every process in the display's cgroup, in any of its hierarchies. */
  async pids(id: string): Promise<number[]> {
    const dirs = this.cgroupDirs(id);
    const texts = await Promise.all(dirs.map((dir) => readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '')));
    const pids = new Set<number>();
    for (const text of texts) for (const line of text.split('\n')) if (line) pids.add(Number(line));
    return [...pids].sort((a, b) => a - b);
  }

  /** The containers that have a display folder (for a sweep at the daemon's start). */
  async ids(): Promise<string[]> {
    const entries = await readdir(this.opts.root, { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isDirectory() && ID_PATTERN.test(e.name)).map((e) => e.name);
  }

  /** The display's cgroupsPath: a sibling of the container's. */
  cgroupPath(id: string): string {
    assertId(id);
    return `/${this.opts.cgroupPrefix}/${id}-display`;
  }

  private cgroup(id: string): CgroupPaths {
    return new CgroupPaths(this.opts.layout, this.cgroupPath(id));
  }

  /** The display cgroup's folders: one per v1 hierarchy it is made in, the one of v2. */
  private cgroupDirs(id: string): string[] {
    const cg = this.cgroup(id);
    if (this.opts.layout === 'v2') return [cg.dir('memory')];
    // with cpu and cpuacct mounted together, both names lead to one folder
    return [...new Set(V1_CONTROLLERS.map((c) => cg.dir(c)))];
  }

  private async startNow(id: string, size: DisplaySize): Promise<{ pid: number }> {
    const p = await this.prepareNow(id);
    const running = await this.pids(id);
    if (running.length > 0) {
      if (await readsBanner(p.socket, PROBE_TIMEOUT_MS)) return { pid: await mainPid(running) };
      this.opts.warn?.(`display of ${id}: processes ${running.join(', ')} run but its socket does not answer; restarting it`);
      await this.stopNow(id);
    }
    const procs = await this.makeCgroup(id);
    // a socket left by an Xvnc that was killed would be in the new one's way
    await rm(p.socket, { force: true });
    await rm(join(p.x11Dir, 'X0'), { force: true });
    const uid = displayUid(id);
    await writeCookies(p, uid);
    // its user makes its sockets there while it starts (locked again once it answers)
    for (const dir of [p.x11Dir, dirname(p.socket)]) await lchown(dir, uid, uid);

    const log = await open(p.log, 'w', 0o600);
    let child;
    try {
      const geometry = `${size.width}x${size.height}`;
      child = spawn('/bin/sh', ['-c', JOIN_AND_EXEC, 'xvnc', p.dir, this.xvnc, geometry, XVNC_IN_NAMESPACE, String(uid), ...procs], {
        detached: true,
        stdio: ['ignore', log.fd, log.fd],
        env: childEnv(),
        cwd: '/',
      });
    } finally {
      await log.close();
    }
    let exit: string | undefined;
    child.on('error', (err) => (exit ??= `it could not be started (${err.message})`));
    child.on('exit', (code, signal) => (exit ??= `it exited with ${code ?? signal}`));
    child.unref();
    const pid = child.pid;

    const deadline = Date.now() + this.readyTimeoutMs;
    for (;;) {
      if (exit === undefined && pid !== undefined && (await readsBanner(p.socket, Math.min(PROBE_TIMEOUT_MS, Math.max(1, deadline - Date.now()))))) {
        await lockSocketFolders(p);
        return { pid };
      }
      const reason = exit ?? (Date.now() >= deadline ? `its socket did not answer within ${this.readyTimeoutMs} ms` : undefined);
      if (reason !== undefined) {
        // not once it has exited: the daemon reaped it, its pid may be another process's by now
        if (exit === undefined && pid !== undefined) signalPid(pid, 'SIGKILL');
        await this.stopNow(id).catch((err: unknown) => this.opts.warn?.(`cannot clean up the display of ${id}`, err));
        const tail = await logTail(p.log);
        throw new RuntimeError('failed', `the display of ${id} did not start: ${reason}${tail ? `; xvnc.log ends with: ${tail}` : ' (xvnc.log is empty)'}`, {
          log: tail,
        });
      }
      await sleep(READY_POLL_MS);
    }
  }

  /** Makes the display's cgroup and returns the cgroup.procs files its process joins. */
  private async makeCgroup(id: string): Promise<string[]> {
    let dirs = this.cgroupDirs(id);
    if (this.opts.layout === 'v2') {
      await enableV2Controllers(this.cgroupPath(id), this.opts.warn);
    } else {
      // a v1 hierarchy this host does not mount is left out (what it would count then reads 0)
      const cg = this.cgroup(id);
      const mounted = await Promise.all(V1_CONTROLLERS.map(async (c) => ((await pathExists(join(CGROUP_ROOT, c))) ? cg.dir(c) : undefined)));
      dirs = dirs.filter((dir) => mounted.includes(dir));
    }
    if (dirs.length === 0) throw new RuntimeError('failed', `no cgroup hierarchy to run the display of ${id} in`);
    for (const dir of dirs) await mkdir(dir, { recursive: true });
    await this.limitCgroup(id);
    return dirs.map((dir) => join(dir, 'cgroup.procs'));
  }

  /** Writes DISPLAY_LIMITS into the display's cgroup (a limit a hierarchy does not have is warned about, not fatal). */
  private async limitCgroup(id: string): Promise<void> {
    const cg = this.cgroup(id);
    const { memoryBytes, pids, cpuQuotaUs, cpuPeriodUs } = DISPLAY_LIMITS;
    const files: [string, string][] =
      this.opts.layout === 'v2'
        ? [
            [join(cg.dir('memory'), 'memory.max'), String(memoryBytes)],
            [join(cg.dir('pids'), 'pids.max'), String(pids)],
            [join(cg.dir('cpu'), 'cpu.max'), `${cpuQuotaUs} ${cpuPeriodUs}`],
          ]
        : [
            [join(cg.dir('memory'), 'memory.limit_in_bytes'), String(memoryBytes)],
            [join(cg.dir('pids'), 'pids.max'), String(pids)],
            [join(cg.dir('cpu'), 'cpu.cfs_period_us'), String(cpuPeriodUs)],
            [join(cg.dir('cpu'), 'cpu.cfs_quota_us'), String(cpuQuotaUs)],
          ];
    for (const [file, value] of files) {
      if (!(await pathExists(dirname(file)))) continue;
      await writeFile(file, value).catch((err: unknown) => this.opts.warn?.(`display of ${id}: cannot set ${file}`, err));
    }
  }

  private async stopNow(id: string): Promise<void> {
    const p = this.paths(id);
    const started = Date.now();
    let pids = await this.pids(id);
    let sig: NodeJS.Signals = 'SIGTERM';
    for (const pid of pids) signalPid(pid, sig);
    while (pids.length > 0) {
      const waited = Date.now() - started;
      if (waited >= STOP_TIMEOUT_MS) throw new RuntimeError('failed', `the display of ${id} still has processes ${pids.join(', ')} after ${STOP_TIMEOUT_MS} ms`);
      if (sig === 'SIGTERM' && waited >= TERM_GRACE_MS) {
        sig = 'SIGKILL';
        for (const pid of pids) signalPid(pid, sig);
      }
      await sleep(waited < 100 ? 5 : 20);
      pids = await this.pids(id);
      // a process that forked after the TERM gets the KILL as well
      if (sig === 'SIGKILL') for (const pid of pids) signalPid(pid, sig);
    }
    for (const dir of this.cgroupDirs(id)) {
      await rmdir(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') this.opts.warn?.(`cannot remove the cgroup ${dir}`, err);
      });
    }
    await rm(p.socket, { force: true });
    await rm(join(p.x11Dir, 'X0'), { force: true });
  }

  /** Runs `work` after every earlier prepare, start, stop or remove of the display has finished. */
  private serially<T>(id: string, work: () => Promise<T>): Promise<T> {
    return this.queue.run(id, work);
  }
}

/**
 * One Xauthority entry (the format libXau reads): family FamilyWild (any host, so the container's
 * own hostname does not matter), no address, display "0", MIT-MAGIC-COOKIE-1 and the cookie.
 */
export function xauthorityEntry(cookie: Buffer): Buffer {
  const field = (b: Buffer): Buffer => {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(b.length);
    return Buffer.concat([len, b]);
  };
  const family = Buffer.alloc(2);
  family.writeUInt16BE(0xffff);
  return Buffer.concat([family, field(Buffer.alloc(0)), field(Buffer.from('0')), field(Buffer.from('MIT-MAGIC-COOKIE-1')), field(cookie)]);
}

/**
 * A new cookie in both files. The client's is rewritten in place: a bind mount of a single file
 * holds its inode, so a file renamed over it would never reach a running container.
 */
async function writeCookies(p: DisplayPaths, uid: number): Promise<void> {
  const entry = xauthorityEntry(randomBytes(16));
  // Xvnc's copy: a new file renamed into place, root's, readable by the display's group only
  const tmp = `${p.serverCookie}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, entry, { mode: 0o600, flag: 'wx' });
  await lchown(tmp, 0, uid);
  await chmod(tmp, 0o640);
  await rename(tmp, p.serverCookie);
  const file = await open(p.clientCookie, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_NOFOLLOW, 0o644);
  try {
    await file.write(entry, 0, entry.length, 0);
    await file.chmod(0o644);
  } finally {
    await file.close();
  }
}

/**
 * The sockets' folders root's again (0755: the container's X clients go through x11/ to X0): the
 * sockets Xvnc made stay, and it can no longer put anything there, such as a link the daemon would
 * follow to another display's socket.
 */
async function lockSocketFolders(p: DisplayPaths): Promise<void> {
  for (const dir of [p.x11Dir, dirname(p.socket)]) {
    await lchown(dir, 0, 0);
    await chmod(dir, 0o755);
  }
}

/** v2 only hands a controller to a child cgroup that its parent enables: enable them down to the prefix. */
async function enableV2Controllers(path: string, warn: DisplayOptions['warn']): Promise<void> {
  const parts = path.split('/').filter(Boolean).slice(0, -1);
  let dir = CGROUP_ROOT;
  for (const part of [undefined, ...parts]) {
    if (part !== undefined) {
      dir = join(dir, part);
      await mkdir(dir, { recursive: true });
    }
    const available = (await readFile(join(dir, 'cgroup.controllers'), 'utf8').catch(() => '')).split(/\s+/);
    const enabled = (await readFile(join(dir, 'cgroup.subtree_control'), 'utf8').catch(() => '')).split(/\s+/);
    for (const c of V2_CONTROLLERS) {
      if (!available.includes(c) || enabled.includes(c)) continue;
      await writeFile(join(dir, 'cgroup.subtree_control'), `+${c}`).catch((err: unknown) => warn?.(`cannot enable the ${c} controller in ${dir}`, err));
    }
  }
}

/**
 * Whether the socket sends the RFB 3.8 banner within timeoutMs. The probe then just goes away:
 * Xvnc logs the connection and forgets it.
 */
function readsBanner(path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    let got = Buffer.alloc(0);
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= RFB_BANNER.length) done(got.subarray(0, RFB_BANNER.length).equals(RFB_BANNER));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

/** The process the others of the cgroup descend from (Xvnc; xkbcomp runs as its child for a moment). */
async function mainPid(pids: number[]): Promise<number> {
  const inside = new Set(pids);
  for (const pid of pids) {
    const ppid = await parentPid(pid);
    if (ppid !== undefined && !inside.has(ppid)) return pid;
  }
  return pids[0] ?? 0;
}

async function parentPid(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // the name in parentheses may hold spaces and parentheses: the fields follow the last ")"
  const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(fields?.[1]);
  return Number.isInteger(ppid) ? ppid : undefined;
}

/** The last lines of Xvnc's log, on one line. */
async function logTail(path: string): Promise<string> {
  const file = await open(path, 'r').catch(() => undefined);
  if (!file) return '';
  try {
    const { size } = await file.stat();
    const length = Math.min(size, LOG_TAIL_BYTES);
    const buf = Buffer.alloc(length);
    await file.read(buf, 0, length, size - length);
    return buf
      .toString('utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .slice(-8)
      .join(' | ');
  } finally {
    await file.close();
  }
}

function signalPid(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

function assertId(id: string): void {
  if (!ID_PATTERN.test(id)) throw new RuntimeError('not-found', `container id "${id}" is not valid`);
}

function assertSize(size: DisplaySize): void {
  const ok = (n: number): boolean => Number.isInteger(n) && n >= MIN_SIDE && n <= MAX_SIDE;
  if (!ok(size.width) || !ok(size.height)) {
    throw new RuntimeError('failed', `display size ${size.width}x${size.height} is not valid: each side is a whole number from ${MIN_SIDE} to ${MAX_SIDE}`);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
