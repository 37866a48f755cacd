/**
 * The built-in runtime: runc runs the container, conmon (one small process per container)
 * holds its stdio, writes its log and records its exit code. The daemon is never the parent a
 * container depends on, so containers outlive it and a new driver adopts them from disk.
 *
 * Layout under stateDir:
 *   runc/                runc's own state (--root)
 *   exits/<id>           conmon's exit files
 *   containers/<id>/     bundle: config.json, spec.json, upper/ work/, ctr.log, pidfile (rootfs/: the overlay, in bundles of earlier versions)
 * and /run/hoody/<cgroupPrefix>/<id>, the container's overlay, where runc reaches it from the user namespace.
 * A container with a network (spec.network) runs in the namespace the network layer (RuncDriverOptions.network)
 * makes for it at each start, before runc runs, and gives back once its init has exited: conmon,
 * and so runc create, and every runc exec are started inside it (see buildOciSpec's network).
 *
 * Containers run in a user namespace: container ids 0… are the image store's id range on the host.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants, existsSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, rmdir, stat, writeFile, open, readdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { dirname, join } from 'node:path';
import {
  RuntimeError,
  type ContainerSpec,
  type ExecProcess,
  type ExecSpec,
  type ExitEvent,
  type KillOptions,
  type RuntimeCapabilities,
  type RuntimeDriver,
  type RuntimeHealth,
  type RuntimeState,
  type RuntimeStats,
  MAX_LISTED_PROCESSES,
} from '../driver.ts';
import { runCommand } from '../run-command.ts';
import { childEnv } from '../child-env.ts';
import { CgroupPaths, detectCgroupLayout, detectSwapAccounting, removeCgroupDirs, type CgroupLayout } from '../cgroups.ts';
import { bindMount, makeOverlayDirs, mountOverlay, mountPoints, unmountAll, unmountOverlay, type OverlayDirs } from '../overlay.ts';
import { ExitWatcher } from '../exit-watcher.ts';
import { joinOwnSessionKeyring } from '../session-keyring.ts';
import type { ImageStore } from '../image-store.ts';
import { buildOciSpec, MAX_NOFILE } from './oci-spec.ts';
import { parseK8sLog } from './k8s-log.ts';
import { keepRotated, logFiles } from '../log-files.ts';
import { isRunning, listeningPorts, listProcesses, processArgs, receivesSignal } from './proc.ts';
import { releaseInit } from './exec-fifo.ts';
import { execProcess, type OciProcess } from './exec-process.ts';
import { parseRuncVersion, runcMode, type RuncMode, type RuncVersion } from './runc-version.ts';
import { makePrivateDir, pathExists, readStatusFile, readStatusFileIfAny, writePrivateFile } from '../fs.ts';
import { sameIdRange, type IdRange } from '../id-range.ts';
import { shiftTree } from '../id-shift.ts';
import { makeGateDir } from './bundle-files.ts';
import { InitProbes, parseProcStat } from './init-probes.ts';
import { resolveUser } from '../../images/image-user.ts';
import type { ContainerNetwork } from '../../network/types.ts';
import { KeyedQueue } from '../keyed-queue.ts';

export interface RuncDriverOptions {
  stateDir: string;
  images: ImageStore;
  /** First component of every container's cgroupsPath, e.g. "hoody-1a2b3c4d". */
  cgroupPrefix: string;
  runcBinary?: string;
  conmonBinary?: string;
  initBinary?: string;
  /** Size at which conmon starts a new log file; the one before is kept, so a container's logs take up to twice this. */
  logSizeMax?: number;
  /**
   * Where each container's overlay is mounted, for runc to find it:
   * `<aliasDir>/<cgroupPrefix>/<id>` (default /run/hoody).
   */
  aliasDir?: string;
  /** Where a failure of background work (an unmount after an exit) is told; silent when absent. */
  warn?: (message: string, err?: unknown) => void;
  /**
   * The server's bridge network. A container whose spec has a network joins the namespace made
   * for it here before its process runs, and gives it back when its init exits; without this,
   * such a container is refused.
   */
  network?: ContainerNetwork;
}

interface StoredSpec {
  spec: ContainerSpec;
  /** The id range the bundle was made for; absent in bundles made before user namespaces. */
  ids?: IdRange;
  /** config.json's root path: where the overlay is mounted, outside the data folder (`rootfs` in bundles made before it). */
  rootPath?: string;
}

interface RuncStateJson {
  id: string;
  pid: number;
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
}

/** The init process runc recorded in state.json, and the status runc would derive from it. */
interface SavedInit {
  pid: number;
  status: RuncStateJson['status'];
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const DEFAULT_LOG_SIZE_MAX = 8 * 1024 * 1024;
/** The largest /etc/passwd or /etc/group of a running container the daemon reads. */
const MAX_ETC_FILE = 1024 * 1024;

/**
 * A file of a running container's /etc, read as the container cannot steer: /etc and the file are
 * opened without following symlinks (the file through the folder's descriptor, so neither can be
 * swapped on the way), the file must be a regular one of at most MAX_ETC_FILE bytes (not a FIFO, a
 * device or a sparse giant), and no more than that is read. Undefined when it is absent or refused.
 */
async function readContainerEtcFile(root: string, name: string): Promise<string | undefined> {
  const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = fsConstants;
  const dir = await open(join(root, 'etc'), O_RDONLY | O_DIRECTORY | O_NOFOLLOW).catch(() => undefined);
  if (!dir) return undefined;
  try {
    const file = await open(`/proc/self/fd/${dir.fd}/${name}`, O_RDONLY | O_NOFOLLOW | O_NONBLOCK).catch(() => undefined);
    if (!file) return undefined;
    try {
      const st = await file.stat();
      if (!st.isFile() || st.size > MAX_ETC_FILE) return undefined;
      const buf = Buffer.alloc(Math.min(st.size, MAX_ETC_FILE));
      const { bytesRead } = await file.read(buf, 0, buf.length, 0);
      return buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await file.close();
    }
  } finally {
    await dir.close();
  }
}

/** How often every container's log is checked for a rotation to keep (see log-files.ts). */
const LOG_CHECK_MS = 2000;
/** Cleanup after an exit waits this long, so it does not compete with the caller's next step. */
const FORGET_DELAY_MS = 200;
/**
 * The overlay of a stopped container is unmounted this long after its exit: a restart's start comes
 * sooner and keeps the mount (an unmount syncs the upper file system, 1.5–34 ms, and start would mount again).
 */
const UNMOUNT_DELAY_MS = 200;
/** start gives up on an init that never comes after this long (the old `runc start` call's timeout). */
const START_TIMEOUT_MS = 60_000;
/** The longest a signal to a just-started init waits for the init to act on it (catatonit took at most 10 ms at load 19). */
const SIGNAL_READY_WAIT_MS = 1000;
/** Polls of the init's readiness that follow each other at once before the wait sleeps 1 ms between polls. */
const FAST_POLLS = 20;
/** How long the removal of a half-made start waits for the processes it killed to go. */
const HALF_START_KILL_WAIT_MS = 5000;
/** On a tmpfs that root owns and anyone may pass through: a place container root always reaches. */
const DEFAULT_ALIAS_DIR = '/run/hoody';
/** Enough of conmon's argv to reach its bundle (the 14th argument; each path at most PATH_MAX, 4096). */
const CONMON_ARGV_BYTES = 16 * 4096;

/** A cgroup prefix unique to a data folder, so two daemons never share cgroups. */
export function cgroupPrefixFor(dataDir: string): string {
  return `hoody-${createHash('sha256').update(dataDir).digest('hex').slice(0, 10)}`;
}

export class RuncDriver implements RuntimeDriver {
  readonly name = 'runc';
  readonly capabilities: RuntimeCapabilities = { pause: true, killAll: true, stats: true, logs: true, adopt: true, exitEvents: true };

  private readonly runc: string;
  private readonly conmon: string;
  private readonly init: string;
  private readonly runcRoot: string;
  private readonly exits: ExitWatcher;
  private layout: CgroupLayout | undefined;
  private swapAccounting = false;
  /** Where runc finds root filesystems (see RuncDriverOptions.aliasDir). */
  private readonly aliasRoot: string;
  private readonly forgetting = new Map<string, Promise<void>>();
  /** Per container, the mount work (start's mount, the unmount after an exit, delete's unmount), one after the other. */
  private readonly rootfsQueue = new KeyedQueue();
  /** Containers whose unmount after an exit is queued and has not begun: one is enough. */
  private readonly unmountQueued = new Set<string>();
  /** Starts under way, by container: an unmount queued behind a start's mount must not undo it. */
  private readonly starting = new Map<string, number>();
  /** Unmounts due after an exit (see UNMOUNT_DELAY_MS), by container. */
  private readonly unmountTimers = new Map<string, NodeJS.Timeout>();
  /** The init of each state.json read, by container, with the file's identity: runc rewrites it by rename, a new file is read again. */
  private readonly savedInits = new Map<string, { file: string; pid: number; start: number }>();
  /** Started inits read through open files (see InitProbes): every GET of a running container reads its state. */
  private readonly probes = new InitProbes();
  private lost = false;
  private runcVersion: RuncVersion = { text: 'unknown' };
  /** direct: the steps after create as runc 1.1 does them, without spawning it; cli: runc's CLI for each. */
  private runcMode: RuncMode = 'cli';
  private logTimer: NodeJS.Timeout | undefined;
  private execCount = 0;

  private constructor(private readonly opts: RuncDriverOptions) {
    this.runc = opts.runcBinary ?? '/usr/sbin/runc';
    this.conmon = opts.conmonBinary ?? '/usr/bin/conmon';
    this.init = opts.initBinary ?? '/usr/bin/catatonit';
    this.runcRoot = join(opts.stateDir, 'runc');
    this.aliasRoot = join(opts.aliasDir ?? DEFAULT_ALIAS_DIR, opts.cgroupPrefix);
    this.exits = new ExitWatcher(join(opts.stateDir, 'exits'), (name) => ID_PATTERN.test(name) && pathExists(this.bundle(name)));
  }

  /** Opens a driver over a state folder, adopting whatever containers it already holds. */
  static async open(opts: RuncDriverOptions): Promise<RuncDriver> {
    const driver = new RuncDriver(opts);
    // once: the direct paths are for the runc they were verified against; any other gets its CLI
    const out = await runCommand(driver.runc, ['--version']).catch(() => undefined);
    driver.runcVersion = parseRuncVersion(out?.stdout ?? '');
    driver.runcMode = runcMode(driver.runcVersion);
    await makePrivateDir(opts.stateDir);
    await makePrivateDir(join(opts.stateDir, 'containers'));
    driver.lost = await driver.detectLostState();
    await mkdir(driver.runcRoot, { recursive: true });
    await driver.exits.open();
    driver.layout = await detectCgroupLayout();
    driver.swapAccounting = await detectSwapAccounting(driver.layout);
    // clean runc's state (and the cgroup) as soon as a container ends, off the next start's path
    driver.exits.onExit((e) => {
      // as with podman, a stopped container holds no mount: its delete has nothing to unmount
      driver.unmountSoon(e.id);
      const timer = setTimeout(() => void driver.forgetFinished(e.id, { onlyStopped: true }).catch(() => undefined), FORGET_DELAY_MS);
      timer.unref();
    });
    // containers that stopped while no daemon ran (or mounted at create by an earlier version) let go of their overlay
    void driver.unmountStoppedOnOpen().catch((err: unknown) => driver.opts.warn?.('cannot look for the mounts of stopped containers', err));
    // rotations that happened while no daemon ran are kept now, later ones within LOG_CHECK_MS
    let checking = false;
    const check = (): void => {
      if (checking) return;
      checking = true;
      void driver.keepLogs().finally(() => (checking = false));
    };
    check();
    driver.logTimer = setInterval(check, LOG_CHECK_MS).unref();
    return driver;
  }

  async health(signal?: AbortSignal): Promise<RuntimeHealth> {
    const problems: string[] = [];
    let version = 'unknown';
    try {
      version = (await runCommand(this.runc, ['--version'], signal)).stdout.split('\n')[0] ?? version;
    } catch (err) {
      problems.push(`runc: ${(err as Error).message}`);
    }
    for (const [what, path] of [
      ['conmon', this.conmon],
      ['catatonit', this.init],
    ] as const) {
      await runCommand(path, ['--version'], signal).catch((err: Error) => problems.push(`${what}: ${err.message}`));
    }
    return { ok: problems.length === 0, runtime: 'runc+conmon', version, mode: this.mode, problems };
  }

  /** Whether start, kill, pause, resume, state and forgetting run directly or through runc's CLI. */
  get mode(): RuncMode {
    return this.runcMode;
  }

  async create(spec: ContainerSpec, signal?: AbortSignal): Promise<void> {
    assertId(spec.id);
    const current = await this.runcState(spec.id, signal);
    if (current && (current.status === 'running' || current.status === 'paused')) {
      throw new RuntimeError('invalid-state', `container "${spec.id}" is ${current.status}; stop it before changing it`);
    }
    // a bundle an older version made (or made for another range) keeps its files, moved into the range
    const before = await this.readSpec(spec.id).catch(() => undefined);
    if (before) {
      // a stopped container changed: its next start mounts the overlay of the new spec
      await this.serially(spec.id, () => this.unmountRootfs(spec.id, signal));
      await this.shiftUpper(before);
    }
    await this.writeBundle(spec, signal);
    // the upper and work dirs now, the mount at start: a container that does not run holds no mount
    const { upper, work, owner } = this.overlayDirs(spec.id, '');
    await makeOverlayDirs({ upper, work, owner });
  }

  async start(id: string, signal?: AbortSignal): Promise<RuntimeState> {
    assertId(id);
    this.starting.set(id, (this.starting.get(id) ?? 0) + 1);
    this.cancelUnmount(id);
    try {
      return await this.startOnce(id, signal);
    } catch (err) {
      // a start that failed runs nothing: its mount goes as after an exit
      this.unmountSoon(id);
      throw err;
    } finally {
      const left = (this.starting.get(id) ?? 1) - 1;
      if (left > 0) this.starting.set(id, left);
      else this.starting.delete(id);
    }
  }

  private async startOnce(id: string, signal?: AbortSignal): Promise<RuntimeState> {
    const [stored] = await Promise.all([this.readSpec(id), this.forgetFinished(id, { onlyStopped: false }, signal)]);
    await rm(this.exits.path(id), { force: true });
    this.exits.rearm(id);
    const network = stored.spec.network;
    // after an unmount (and the network's removal) under way, the previous run's, never at the same time;
    // the namespace must exist before runc joins it: made while the root filesystem is mounted. The
    // interfaces and the table are set up while runc creates the container (see ContainerNetwork.attach)
    let attached: Promise<void> | undefined;
    try {
      await this.serially(id, () =>
        Promise.all([
          this.prepareRootfs(stored, signal),
          network &&
            new Promise<void>((namespaceMade, failed) => {
              attached = this.attachNetwork(id, network, signal, namespaceMade);
              attached.catch(failed);
            }),
        ]),
      );
      const [spawned, networked] = await Promise.allSettled([this.spawnConmon(id, network ? this.requireNetwork(id).netnsPath(id) : undefined, signal), attached]);
      if (networked.status === 'rejected') {
        // its network failed while runc created it (or failed to, its namespace removed under it): its
        // process never runs, and no exit is recorded for a run that never was
        await this.removeHalfStart(id).catch((err: unknown) => this.opts.warn?.(`cannot remove the created container "${id}" whose network failed`, err));
        this.unmountSoon(id);
        throw networked.reason;
      }
      if (spawned.status === 'rejected') throw spawned.reason;
      const pid = spawned.value;
      // conmon has opened the log: what it writes from now on survives its next rotation
      await keepRotated(this.bundle(id)).catch((err: unknown) => this.opts.warn?.(`keeping the log of container "${id}"`, err));
      try {
        // what `runc start` does, through the exec fifo; runc itself when the fifo is not as expected
        const released = this.runcMode === 'direct' && (await releaseInit(join(this.runcRoot, id, 'exec.fifo'), pid, { timeoutMs: START_TIMEOUT_MS, signal }));
        if (!released) await runCommand(this.runc, ['--root', this.runcRoot, 'start', id], signal);
      } catch (err) {
        await runCommand(this.runc, ['--root', this.runcRoot, 'delete', '--force', id]).catch(() => undefined);
        throw err;
      }
      return { id, status: 'running', pid, exitCode: null };
    } catch (err) {
      // a start that failed runs nothing: its network goes at once (after an attach still under way)
      if (network) {
        await attached?.catch(() => undefined);
        await this.serially(id, () => this.detachNetwork(id));
      }
      throw err;
    }
  }

  async kill(id: string, sig: NodeJS.Signals, opts: KillOptions = {}, signal?: AbortSignal): Promise<void> {
    assertId(id);
    // runc's kill of init is kill(2) after its status check; --all (freeze, signal each pid, thaw) stays with runc
    let known = opts.all ? 'unknown' : await this.savedInit(id);
    // through runc's CLI too: `runc kill` of init is the same kill(2), with the same gap after a start
    if (sig !== 'SIGKILL' && typeof known === 'object' && (await this.untilInitReceives(known, sig, signal))) known = await this.savedInit(id);
    const init = this.runcMode === 'cli' ? 'unknown' : known;
    if (init !== 'unknown') return this.signalInit(id, init, sig, signal);
    const args = ['--root', this.runcRoot, 'kill', ...(opts.all ? ['--all'] : []), id, sig.replace(/^SIG/, '')];
    try {
      await runCommand(this.runc, args, signal);
    } catch (err) {
      // a container that has already ended (or never ran) has nothing left to signal
      const state = await this.requireState(id, signal);
      if (state.status === 'stopped' || state.status === 'created') return;
      throw err;
    }
    // A frozen container cannot act on KILL until thawed; runc 1.1 thaws on KILL, others may not.
    if (sig !== 'SIGKILL') return;
    if (this.runcMode === 'cli') {
      if ((await this.runcState(id, signal))?.status === 'paused') await runCommand(this.runc, ['--root', this.runcRoot, 'resume', id], signal).catch(() => undefined);
      return;
    }
    const cgroup = await this.cgroup(id);
    if (await cgroup.isFrozen()) await cgroup.thaw().catch(() => undefined);
  }

  async pause(id: string, signal?: AbortSignal): Promise<void> {
    await this.freezeOrThaw(id, 'pause', signal);
  }

  async resume(id: string, signal?: AbortSignal): Promise<void> {
    await this.freezeOrThaw(id, 'resume', signal);
  }

  async waitExit(id: string, timeoutMs: number, signal?: AbortSignal): Promise<RuntimeState | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await this.state(id, signal);
      if (!state) throw new RuntimeError('not-found', `container "${id}" does not exist`);
      // runc may see the process gone a moment before conmon has written its exit code
      const codePending = state.status === 'stopped' && state.exitCode === null && (await this.conmonAlive(id));
      if (state.status === 'stopped' && !codePending) {
        // the exit file's event asks for this too; should that event be lost, this one counts
        this.unmountSoon(id);
        // conmon writes the exit file before it exits: it may have done both since the state was read
        return state.exitCode === null ? { ...state, exitCode: (await this.exits.read(id)) ?? null } : state;
      }
      if (state.status === 'created') return state;
      const left = deadline - Date.now();
      if (left <= 0 && codePending) return state;
      if (left <= 0 || signal?.aborted) return undefined;
      // the exit file's inotify event wakes us at once; the short poll covers a lost event
      await this.exits.nextChange(id, Math.min(left, 250), signal);
    }
  }

  async delete(id: string, signal?: AbortSignal): Promise<void> {
    assertId(id);
    const current = await this.runcState(id, signal);
    if (current && current.status !== 'stopped') {
      await this.kill(id, 'SIGKILL', { all: true }, signal).catch(() => undefined);
      // KILL is delivered at once but the process takes a moment to go; runc refuses to delete it before
      await this.waitExit(id, 5000, signal).catch(() => undefined);
    }
    await this.forgetFinished(id, { onlyStopped: false }, signal);
    const bundle = this.bundle(id);
    await this.waitForConmon(bundle);
    this.cancelUnmount(id);
    // after an unmount under way, if any: then nothing is left to unmount here
    await this.serially(id, async () => {
      await this.detachNetwork(id);
      await this.unmountRootfs(id, signal);
    });
    // independent of each other once nothing runs and nothing is mounted
    await Promise.all([rm(bundle, { recursive: true, force: true }), rm(this.exits.path(id), { force: true }), this.removeCgroup(id)]);
    this.savedInits.delete(id);
    this.probes.close(id);
    this.exits.rearm(id);
  }

  async state(id: string, signal?: AbortSignal): Promise<RuntimeState | undefined> {
    assertId(id);
    // the init runc started still alive: running or paused, as the freezer says (two reads; see
    // InitProbes). Its bundle goes only once it is dead (delete closes the probe with it).
    const probed = this.runcMode === 'direct' ? this.probes.status(id) : undefined;
    if (probed) return { id, status: probed, pid: this.probes.pid(id) ?? null, exitCode: null };
    // every GET of a container reads its state: the status files are read synchronously (see readStatusFile)
    if (!existsSync(join(this.bundle(id), 'spec.json'))) return undefined;
    const runc = await this.runcState(id, signal);
    if (runc && runc.status !== 'stopped') {
      // runc's created: an init waits on the exec fifo for a start that has not finished
      const status = runc.status === 'creating' || runc.status === 'created' ? 'creating' : runc.status;
      return { id, status, pid: runc.pid || null, exitCode: null };
    }
    const exitCode = await this.exits.read(id);
    if (runc || exitCode !== undefined) return { id, status: 'stopped', pid: null, exitCode: exitCode ?? null };
    // no record runc can read, yet its folder or the bundle's conmon is there: a create under way or cut short
    if ((await pathExists(join(this.runcRoot, id))) || (await this.conmonPid(this.bundle(id))) > 0) return { id, status: 'creating', pid: null, exitCode: null };
    return { id, status: 'created', pid: null, exitCode: null };
  }

  async abandonStart(id: string, signal?: AbortSignal): Promise<boolean> {
    assertId(id);
    if ((await this.state(id, signal))?.status !== 'creating') return false;
    await this.removeHalfStart(id, signal);
    await this.serially(id, () => this.detachNetwork(id));
    // what that start mounted goes too, as after an exit
    this.unmountSoon(id);
    return true;
  }

  async stats(id: string, signal?: AbortSignal): Promise<RuntimeStats> {
    const state = await this.requireState(id, signal);
    const cgroup = await this.cgroup(id);
    const [memoryBytes, cpuUsageNs, pids, ports] = await Promise.all([
      cgroup.memoryBytes(),
      cgroup.cpuUsageNs(),
      cgroup.pids(),
      state.pid ? listeningPorts(state.pid) : Promise.resolve([]),
    ]);
    const { processes, total } = await listProcesses(pids, MAX_LISTED_PROCESSES);
    return { memoryBytes, cpuUsageNs, processes, processCount: total, listeningPorts: ports };
  }

  async logs(id: string, opts: { maxBytes?: number } = {}, signal?: AbortSignal): Promise<string> {
    await this.requireState(id, signal);
    const maxBytes = opts.maxBytes ?? 64 * 1024;
    const file = join(this.bundle(id), 'ctr.log');
    const handle = await open(file, 'r').catch(() => undefined);
    if (!handle) return '';
    try {
      const { size } = await handle.stat();
      // read more than asked: the k8s-file prefix of each line is dropped after parsing
      const want = Math.min(size, maxBytes * 2 + 4096);
      const buf = Buffer.alloc(want);
      await handle.read(buf, 0, want, size - want);
      const text = parseK8sLog(buf.toString('utf8'), want < size);
      return text.length > maxBytes ? text.slice(text.length - maxBytes) : text;
    } finally {
      await handle.close();
    }
  }

  async exec(id: string, spec: ExecSpec): Promise<ExecProcess> {
    assertId(id);
    if (spec.argv.length === 0) throw new RuntimeError('failed', 'exec needs a command');
    const dir = join(this.bundle(id), 'exec');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const name = `${process.pid}-${++this.execCount}`;
    const pidFile = join(dir, `${name}.pid`);
    // the command as a process file (root only, like config.json): its environment stays off
    // runc's command line, and its terminal has its size from the start
    const processFile = join(dir, `${name}.json`);
    const text = await readFile(join(this.bundle(id), 'config.json'), 'utf8').catch(() => {
      throw new RuntimeError('not-found', `container "${id}" does not exist`);
    });
    const config = JSON.parse(text) as { process: OciProcess; linux?: { namespaces?: { type: string; path?: string }[] } };
    const netns = config.linux?.namespaces?.find((n) => n.type === 'network');
    if (netns?.path) {
      // started by an earlier version, joined to its namespace by runc, which exec cannot enter
      // after the user namespace (see buildOciSpec's network): a restart starts it the current way
      throw new RuntimeError('unsupported', `container "${id}" was started by an earlier version of Hoody whose containers with a network cannot be entered: restart it to exec in it`, { restart: true });
    }
    await writePrivateFile(processFile, JSON.stringify(execProcess(config.process, spec)));
    const args = ['--root', this.runcRoot, 'exec', '--pid-file', pidFile, '--process', processFile];
    if (spec.tty) args.push('--tty');
    args.push(id);
    // no network namespace of runc's: the container has a network and is in the daemon's namespace
    // without runc knowing (see buildOciSpec's network), so runc exec is run in it too
    const [file, argv] = inNetns(netns ? undefined : this.requireNetwork(id).netnsPath(id), this.runc, args);
    const child = spawn(file, argv, {
      stdio: spec.tty ? [spec.tty.fd, spec.tty.fd, spec.tty.fd] : ['pipe', 'pipe', 'pipe'],
      // its own process group (and session): signals to the daemon's group never reach it
      detached: true,
      env: childEnv(),
    });
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    let known: number | undefined;
    const pid = async (): Promise<number | undefined> => {
      if (known) return known;
      for (let i = 0; i < 400; i++) {
        const text = await readFile(pidFile, 'utf8').catch(() => '');
        if (/^\d+$/.test(text.trim())) return (known = Number(text.trim()));
        if (child.exitCode !== null || child.signalCode !== null) return undefined;
        await Promise.race([new Promise((r) => setTimeout(r, 5)), exited]);
      }
      return undefined;
    };
    void exited.then(() => Promise.all([rm(pidFile, { force: true }), rm(processFile, { force: true })]));
    const cgroup = await this.cgroup(id);
    const killSession = async (sig: NodeJS.Signals): Promise<void> => {
      const leader = await pid();
      if (leader) {
        // every process of the container whose session is the command's (its background jobs too)
        for (const p of await cgroup.pids()) {
          const stat = readStatusFileIfAny(`/proc/${p}/stat`);
          const session = stat ? parseProcStat(stat).session : undefined;
          if (p === leader || session === leader) {
            try {
              process.kill(p, sig);
            } catch {
              /* gone already */
            }
          }
        }
      }
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    };
    return { child, pid, killSession };
  }

  async resolveUser(id: string, user: string): Promise<{ uid: number; gid: number; additionalGids: number[] }> {
    assertId(id);
    // the container's own files, as its running root filesystem shows them (symlinks not followed)
    const root = this.rootPath(id);
    const [passwd, group] = await Promise.all([readContainerEtcFile(root, 'passwd'), readContainerEtcFile(root, 'group')]);
    try {
      const { uid, gid, additionalGids } = resolveUser(user, passwd, group);
      return { uid, gid, additionalGids };
    } catch (err) {
      throw new RuntimeError('invalid-state', (err as Error).message.replaceAll("the image's", "the container's").replace('the image has', 'the container has'));
    }
  }

  async logFiles(id: string): Promise<string[]> {
    assertId(id);
    return logFiles(this.bundle(id));
  }

  /** Keeps every container's rotated log (see log-files.ts): a rotation is found within LOG_CHECK_MS. */
  private async keepLogs(): Promise<void> {
    const ids = (await readdir(join(this.opts.stateDir, 'containers')).catch(() => [] as string[])).filter((id) => ID_PATTERN.test(id));
    for (const id of ids) await keepRotated(this.bundle(id)).catch((err: unknown) => this.opts.warn?.(`keeping the rotated log of container "${id}"`, err));
  }

  async list(signal?: AbortSignal): Promise<RuntimeState[]> {
    const ids = (await readdir(join(this.opts.stateDir, 'containers')).catch(() => [] as string[])).filter((id) => ID_PATTERN.test(id));
    const states = await Promise.all(ids.map((id) => this.state(id, signal)));
    return states.filter((s): s is RuntimeState => s !== undefined);
  }

  stateLost(): boolean {
    return this.lost;
  }

  /** A new boot id, or containers without runc's state folder, mean the runtime state is gone. */
  private async detectLostState(): Promise<boolean> {
    const bootFile = join(this.opts.stateDir, 'boot-id');
    const current = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
    const previous = (await readFile(bootFile, 'utf8').catch(() => '')).trim();
    if (current) await writeFile(bootFile, `${current}\n`);
    const hasContainers = (await readdir(join(this.opts.stateDir, 'containers'))).length > 0;
    const runcStateMissing = !(await pathExists(this.runcRoot));
    return hasContainers && ((previous !== '' && previous !== current) || runcStateMissing);
  }

  onExit(listener: (event: ExitEvent) => void): () => void {
    return this.exits.onExit(listener);
  }

  async close(): Promise<void> {
    clearInterval(this.logTimer);
    for (const id of [...this.unmountTimers.keys()]) this.cancelUnmount(id);
    this.exits.close();
    this.probes.closeAll();
  }

  /** The cgroup of one container, for callers (and tests) that read limits or usage. */
  async cgroup(id: string): Promise<CgroupPaths> {
    this.layout ??= await detectCgroupLayout();
    return new CgroupPaths(this.layout, this.cgroupsPath(id));
  }

  /** Removes the cgroup prefix directories once no container uses them (daemon shutdown, tests). */
  async removeCgroupPrefix(): Promise<void> {
    await removeCgroupDirs(`/${this.opts.cgroupPrefix}`);
    // and the (empty) folder of its containers' mount points
    await rmdir(this.aliasRoot).catch(() => undefined);
  }

  /**
   * kill of init as runc does it (libcontainer Signal with all=false): signal the recorded init when
   * it is created, running or paused, and thaw a paused container on KILL, which a frozen process
   * cannot act on. A container whose init has ended has nothing left to signal.
   */
  private async signalInit(id: string, init: SavedInit | 'absent', sig: NodeJS.Signals, signal?: AbortSignal): Promise<void> {
    if (init === 'absent' || init.status === 'stopped') {
      await this.requireState(id, signal);
      return;
    }
    try {
      process.kill(init.pid, sig);
    } catch (err) {
      // init ended since its status was read: nothing to signal
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
      throw new RuntimeError('failed', `cannot signal container "${id}": ${(err as Error).message}`);
    }
    if (init.status === 'paused' && sig === 'SIGKILL') await (await this.cgroup(id)).thaw().catch(() => undefined);
  }

  /**
   * Waits (at most SIGNAL_READY_WAIT_MS) until a running container's init would act on `sig`: a
   * start answers once runc's init has exec'd, a moment before catatonit blocks the
   * signals it forwards, and PID 1 of a PID namespace drops a signal it neither blocks nor
   * catches, so a TERM sent in that gap would be lost and the stop would wait out its timeout.
   * True when it had to wait (the caller reads the init's state again); false at once when the
   * init already receives the signal, is gone, or is not running (a frozen init cannot get ready).
   */
  private async untilInitReceives(init: SavedInit, sig: NodeJS.Signals, signal?: AbortSignal): Promise<boolean> {
    const signo = osConstants.signals[sig];
    if (init.status !== 'running' || receivesSignal(init.pid, signo) !== false) return false;
    const deadline = Date.now() + SIGNAL_READY_WAIT_MS;
    for (let poll = 0; receivesSignal(init.pid, signo) === false; poll++) {
      // past the bound the signal goes as it would have: a stop still ends with KILL at its timeout
      if (Date.now() >= deadline || signal?.aborted) break;
      if (poll < FAST_POLLS) await nextTurn();
      else await new Promise((r) => setTimeout(r, 1));
    }
    return true;
  }

  /**
   * pause and resume as runc does them: the same status check (runc pauses a running or created
   * container and resumes a paused one), then the cgroup freezer. runc's CLI decides whenever
   * state.json or the freezer file is not there to read.
   */
  private async freezeOrThaw(id: string, op: 'pause' | 'resume', signal?: AbortSignal): Promise<void> {
    assertId(id);
    const wanted = op === 'pause' ? 'running' : 'paused';
    if (this.runcMode === 'cli') return this.runOrExplain(id, op, signal);
    const init = await this.savedInit(id);
    if (init === 'unknown') return this.runOrExplain(id, op, signal);
    const status = init === 'absent' ? 'stopped' : init.status;
    if (op === 'pause' ? status !== 'running' && status !== 'created' : status !== 'paused') {
      // refused, as runc would refuse; should the state have changed meanwhile, runc decides
      await this.requireStatus(id, wanted, op, signal);
      return this.runOrExplain(id, op, signal);
    }
    const cgroup = await this.cgroup(id);
    if (!(await cgroup.hasFreezer())) return this.runOrExplain(id, op, signal);
    try {
      await (op === 'pause' ? cgroup.freeze() : cgroup.thaw());
    } catch (err) {
      await this.requireStatus(id, wanted, op, signal);
      throw new RuntimeError('failed', `cannot ${op} container "${id}": ${(err as Error).message}`);
    }
  }

  /** Runs `runc <op>`; when runc refuses, says why in terms of the container's state. */
  private async runOrExplain(id: string, op: 'pause' | 'resume', signal?: AbortSignal): Promise<void> {
    assertId(id);
    try {
      await runCommand(this.runc, ['--root', this.runcRoot, op, id], signal);
    } catch (err) {
      await this.requireStatus(id, op === 'pause' ? 'running' : 'paused', op, signal);
      throw err;
    }
  }

  /**
   * Removes runc's record of a container whose process has ended (runc keeps no exit code; conmon's
   * exit file does). `onlyStopped` is the background clean-up after an exit: it never touches a
   * container that is being created again. Calls for one container run one after the other.
   */
  private forgetFinished(id: string, opts: { onlyStopped: boolean }, signal?: AbortSignal): Promise<void> {
    const before = this.forgetting.get(id) ?? Promise.resolve();
    const work = before
      .catch(() => undefined)
      .then(async () => {
        // runc keeps one folder (with its state.json) per container it knows; none, nothing to forget (and no spawn)
        const dir = join(this.runcRoot, id);
        if (!(await pathExists(this.runcMode === 'direct' ? join(dir, 'state.json') : dir))) {
          // a folder without state.json is a runc create that was cut short (the caller holds the container)
          if (!opts.onlyStopped && (await pathExists(dir))) await this.removeHalfStart(id, signal);
          return;
        }
        const current = await this.runcState(id, signal);
        if (!current) {
          if (!opts.onlyStopped) await this.removeHalfStart(id, signal);
          return;
        }
        if (current.status === 'running' || current.status === 'paused') {
          throw new RuntimeError('invalid-state', `container "${id}" is already ${current.status}`, { status: current.status });
        }
        if (opts.onlyStopped && current.status !== 'stopped') return;
        if (current.status !== 'stopped') {
          await this.removeHalfStart(id, signal);
          return;
        }
        // With its init gone, a container in its own PID namespace has no process left, and what
        // `runc delete` then does (libcontainer's destroy: no hooks here) is remove its cgroups and
        // its state folder, in that order: done here without starting a Go process. A cgroup that
        // cannot go (a sub-cgroup in it, say) leaves the work to runc, which removes sub-cgroups
        // first and retries while the kernel says busy.
        if (this.runcMode === 'direct' && (await this.removeCgroup(id))) {
          await rm(join(this.runcRoot, id), { recursive: true, force: true });
          return;
        }
        await runCommand(this.runc, ['--root', this.runcRoot, 'delete', '--force', id], signal).catch(async (err: unknown) => {
          if (await this.runcState(id)) throw err;
        });
      });
    const tracked = work.finally(() => {
      if (this.forgetting.get(id) === tracked) this.forgetting.delete(id);
    });
    this.forgetting.set(id, tracked);
    return tracked;
  }

  /**
   * Kills and forgets what a start that never finished left behind: the bundle's conmon, an init
   * waiting in runc's "created" state (`runc delete --force`), or the folder and processes of a
   * `runc create` that was itself killed before it wrote state.json (runc no longer knows that
   * container, so its cgroup's processes are killed and the folder removed here).
   */
  private async removeHalfStart(id: string, signal?: AbortSignal): Promise<void> {
    const bundle = this.bundle(id);
    // conmon first: gone, it writes no exit code for a run that never happened
    const conmon = await this.conmonPid(bundle);
    if (conmon) {
      process.kill(conmon, 'SIGKILL');
      await until(() => !isRunning(conmon), HALF_START_KILL_WAIT_MS);
    }
    const dir = join(this.runcRoot, id);
    const runc = await this.runcState(id, signal).catch(() => undefined);
    if (runc) {
      await runCommand(this.runc, ['--root', this.runcRoot, 'delete', '--force', id], signal);
    } else if (await pathExists(dir)) {
      const cgroup = await this.cgroup(id);
      for (const pid of await cgroup.pids()) process.kill(pid, 'SIGKILL');
      if (!(await until(async () => (await cgroup.pids()).length === 0, HALF_START_KILL_WAIT_MS))) {
        throw new RuntimeError('failed', `container "${id}": processes of a cut-short create remain after SIGKILL`);
      }
      await this.removeCgroup(id);
      await rm(dir, { recursive: true, force: true });
    }
    await rm(this.exits.path(id), { force: true });
    this.exits.rearm(id);
  }

  /**
   * The bundle folder (root only, passable by container root), config.json and spec.json (root
   * only: they hold the environment), written with those modes from the start.
   */
  private async writeBundle(spec: ContainerSpec, signal?: AbortSignal): Promise<void> {
    // pinned by id: a re-pulled name does not change what an existing container runs
    const image = await this.opts.images.require(spec.imageId ?? spec.image, signal);
    const bundle = this.bundle(spec.id);
    await makePrivateDir(bundle);
    const config = buildOciSpec({
      spec,
      run: image.run,
      initBinary: this.init,
      cgroupsPath: this.cgroupsPath(spec.id),
      nofile: MAX_NOFILE,
      ids: this.ids,
      swapAccounting: this.swapAccounting,
      rootPath: this.rootPath(spec.id),
      ...(spec.network ? { network: { files: this.requireNetwork(spec.id).files(spec.id) } } : {}),
    });
    await writePrivateFile(join(bundle, 'config.json'), JSON.stringify(config));
    await writePrivateFile(join(bundle, 'spec.json'), JSON.stringify({ spec, ids: this.ids, rootPath: this.rootPath(spec.id) } satisfies StoredSpec));
  }

  /**
   * Mounts the root filesystem for a start. A bundle made before user namespaces (or for another
   * id range) is brought up to date first: new config.json, the container's own files shifted
   * into the range, so that it starts confined with the files it had.
   */
  private async prepareRootfs(stored: StoredSpec, signal?: AbortSignal): Promise<void> {
    if (!sameIdRange(stored.ids, this.ids) || (stored.rootPath ?? 'rootfs') !== this.rootPath(stored.spec.id)) {
      await this.shiftUpper(stored);
      await this.writeBundle(stored.spec, signal);
    }
    await this.mountRootfs(stored.spec, signal);
  }

  /** Moves the owners of the container's own files into the range, when its bundle was made for another. */
  private async shiftUpper(stored: StoredSpec): Promise<void> {
    if (sameIdRange(stored.ids, this.ids)) return;
    const upper = join(this.bundle(stored.spec.id), 'upper');
    if (await pathExists(upper)) await shiftTree(upper, stored.ids, this.ids);
  }

  /** The server's network, for a container that has one; refused when the server has none. */
  private requireNetwork(id: string): ContainerNetwork {
    if (!this.opts.network) throw new RuntimeError('invalid-state', `container "${id}" has a bridge network, but this server's network is off`);
    return this.opts.network;
  }

  private async attachNetwork(id: string, network: NonNullable<ContainerSpec['network']>, signal?: AbortSignal, onNamespace?: () => void): Promise<void> {
    try {
      await this.requireNetwork(id).attach(id, network, signal, onNamespace);
    } catch (err) {
      if (err instanceof RuntimeError) throw err;
      throw new RuntimeError('failed', `cannot set up the network of container "${id}": ${(err as Error).message}`);
    }
  }

  /** Removes the container's network, if the server has one; a failure is told, and reconcile removes what is left. */
  private async detachNetwork(id: string): Promise<void> {
    await this.opts.network?.detach(id).catch((err: unknown) => this.opts.warn?.(`cannot remove the network of container "${id}"`, err));
  }

  private async mountRootfs(spec: ContainerSpec, signal?: AbortSignal): Promise<void> {
    const bundle = this.bundle(spec.id);
    // runc 1.1 resolves the root filesystem's path inside the user namespace, where host root's
    // 0700 folders (the bundle, the data folder, root's home) are closed: the overlay is mounted
    // where it reaches, under /run (the overlay reads its layers with the mounter's rights)
    const root = this.rootPath(spec.id);
    const merged = join(bundle, 'rootfs');
    const mounted = await mountPoints();
    // still mounted (a start right after a stop, a failed unmount): no image lookup then
    if (mounted.has(root)) return;
    await mkdir(dirname(this.aliasRoot), { recursive: true, mode: 0o711 });
    await makeGateDir(this.aliasRoot, this.ids);
    if (mounted.has(merged)) {
      // an earlier version mounted the overlay in the bundle: it stays, reached through a bind mount
      await mkdir(root, { recursive: true, mode: 0o700 });
      return bindMount(merged, root, signal);
    }
    // held while its layers are mounted: an image delete waits, then sees the start (and refuses)
    await this.opts.images.using(spec.imageId ?? spec.image, (image) => mountOverlay(this.overlayDirs(spec.id, image.lowers), signal), signal);
  }

  /** config.json's root path: where the overlay is mounted, outside the data folder. */
  private rootPath(id: string): string {
    return join(this.aliasRoot, id);
  }

  /**
   * Unmounts the container's root filesystem: the overlay at its root path, or (mounted by an
   * earlier version) the bind there and the overlay in the bundle; then removes the folder.
   */
  private async unmountRootfs(id: string, signal?: AbortSignal): Promise<void> {
    const stored = await this.readSpec(id).catch(() => undefined);
    // an unreadable spec says nothing: both places are tried (unmountAll skips what is not mounted)
    const root = stored ? stored.rootPath : this.rootPath(id);
    const merged = join(this.bundle(id), 'rootfs');
    if (!root || root === 'rootfs') return unmountOverlay(merged, signal);
    // a bind of the overlay goes before the overlay; unmountAll skips what is not mounted
    await unmountAll([root, merged], signal);
    await rmdir(root).catch(() => undefined);
    // the folder of all mount points (/run/hoody/<prefix>) stays, even empty: another container's
    // start may be between making it and mounting in it (removeCgroupPrefix takes it away)
  }

  /** Runs `work` after every earlier mount or unmount of the container has finished. */
  private serially<T>(id: string, work: () => Promise<T>): Promise<T> {
    return this.rootfsQueue.run(id, work);
  }

  /** Asks for unmountWhenStopped after UNMOUNT_DELAY_MS, unless a start or delete comes first. */
  private unmountSoon(id: string): void {
    if (this.unmountTimers.has(id)) return;
    const timer = setTimeout(() => {
      this.unmountTimers.delete(id);
      this.unmountWhenStopped(id);
    }, UNMOUNT_DELAY_MS);
    timer.unref();
    this.unmountTimers.set(id, timer);
  }

  /** Drops an unmount asked for by unmountSoon that has not begun. */
  private cancelUnmount(id: string): void {
    clearTimeout(this.unmountTimers.get(id));
    this.unmountTimers.delete(id);
  }

  /**
   * Unmounts the overlay of a container whose init has ended, in the background, in turn with its
   * start and delete. Nothing is lost when it fails: the next start uses the mount, delete unmounts it.
   */
  private unmountWhenStopped(id: string): void {
    if (this.unmountQueued.has(id)) return;
    this.unmountQueued.add(id);
    this.serially(id, async () => {
      this.unmountQueued.delete(id);
      // a start under way has mounted, or will: its container is about to run
      if (this.starting.has(id)) return;
      const state = await this.state(id).catch(() => undefined);
      // created: never started (or its start failed); creating: a start cut short, delete cleans it
      if (!state || (state.status !== 'stopped' && state.status !== 'created')) return;
      // a start (a restart's, say) that came while the state was read keeps the mount it would make again
      if (this.starting.has(id)) return;
      // an exit's event can come after the next start: the exit file says when this run ended
      const ended = await stat(this.exits.path(id)).then((st) => st.mtimeMs, () => 0);
      if (Date.now() - ended < UNMOUNT_DELAY_MS) return this.unmountSoon(id);
      // nothing runs in the namespace any more: its ports, veth and files go with it
      await this.detachNetwork(id);
      await this.unmountRootfs(id, undefined);
    }).catch((err: unknown) => this.opts.warn?.(`cannot unmount the root filesystem of stopped container "${id}"; its next start or delete tries again`, err));
  }

  /** Queues the unmount of every mounted root filesystem whose container may not run (see unmountWhenStopped). */
  private async unmountStoppedOnOpen(): Promise<void> {
    const ids = (await readdir(join(this.opts.stateDir, 'containers')).catch(() => [] as string[])).filter((id) => ID_PATTERN.test(id));
    if (ids.length === 0) return;
    const mounted = await mountPoints();
    for (const id of ids) if (mounted.has(this.rootPath(id)) || mounted.has(join(this.bundle(id), 'rootfs'))) this.unmountWhenStopped(id);
  }

  filesDir(id: string): string {
    return join(this.bundle(id), 'upper');
  }

  async takeFiles(id: string, dir: string): Promise<void> {
    assertId(id);
    const state = await this.runcState(id);
    if (state && (state.status === 'running' || state.status === 'paused')) throw new RuntimeError('invalid-state', `container "${id}" is ${state.status}; its files are replaced only while it is stopped`);
    const upper = this.filesDir(id);
    await rm(upper, { recursive: true, force: true });
    await rename(dir, upper);
  }

  /** The overlay's folders for a container (`merged`: its mount point). */
  private overlayDirs(id: string, lower: string | string[]): OverlayDirs {
    const bundle = this.bundle(id);
    return { lower, upper: join(bundle, 'upper'), work: join(bundle, 'work'), merged: this.rootPath(id), owner: { uid: this.ids.uid, gid: this.ids.gid } };
  }

  /** The host id range container ids map to: the image store's, whose files are owned in it. */
  private get ids(): IdRange {
    return this.opts.images.ids;
  }

  private cgroupsPath(id: string): string {
    return `/${this.opts.cgroupPrefix}/${id}`;
  }

  private bundle(id: string): string {
    assertId(id);
    return join(this.opts.stateDir, 'containers', id);
  }

  private async readSpec(id: string): Promise<StoredSpec> {
    try {
      return JSON.parse(await readFile(join(this.bundle(id), 'spec.json'), 'utf8')) as StoredSpec;
    } catch {
      throw new RuntimeError('not-found', `container "${id}" does not exist`);
    }
  }

  private async requireState(id: string, signal?: AbortSignal): Promise<RuntimeState> {
    const state = await this.state(id, signal);
    if (!state) throw new RuntimeError('not-found', `container "${id}" does not exist`);
    return state;
  }

  /** Throws the invalid-state error unless the container is in `status`. */
  private async requireStatus(id: string, status: RuntimeState['status'], op: string, signal?: AbortSignal): Promise<void> {
    const state = await this.requireState(id, signal);
    if (state.status !== status) throw new RuntimeError('invalid-state', `cannot ${op} container "${id}": it is ${state.status}`, { status: state.status });
  }

  /** runc's view of the container, or undefined when runc holds no such container. */
  private async runcState(id: string, signal?: AbortSignal): Promise<RuncStateJson | undefined> {
    if (this.runcMode === 'cli') {
      // runc keeps one folder per container under its root: none, no container (and no spawn)
      return (await pathExists(join(this.runcRoot, id))) ? this.runcStateViaCli(id, signal) : undefined;
    }
    const init = await this.savedInit(id);
    if (init === 'absent') return undefined;
    if (init === 'unknown') return this.runcStateViaCli(id, signal);
    return { id, pid: init.status === 'stopped' ? 0 : init.pid, status: init.status };
  }

  /**
   * runc's record of the container's init from state.json alone: 'absent' when runc holds no such
   * container, 'unknown' when there is no readable state.json (runc is creating it; ask runc's CLI).
   */
  private async savedInit(id: string): Promise<SavedInit | 'absent' | 'unknown'> {
    const dir = join(this.runcRoot, id);
    const path = join(dir, 'state.json');
    let saved: { pid: number; start: number };
    try {
      // runc replaces state.json by rename (a new inode), so a read never sees half a file, and
      // the same inode, size and time are the same content: its ~30 KB are parsed once per write
      const st = statSync(path);
      const file = `${st.ino}:${st.size}:${st.mtimeMs}`;
      const known = this.savedInits.get(id);
      if (known?.file === file) saved = known;
      else {
        const json = JSON.parse(readStatusFile(path)) as { init_process_pid?: number; init_process_start?: number | string };
        saved = { pid: Number(json.init_process_pid ?? 0), start: Number(json.init_process_start ?? -1) };
        this.savedInits.set(id, { file, ...saved });
      }
    } catch (err) {
      this.savedInits.delete(id);
      this.probes.close(id);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !existsSync(dir)) return 'absent';
      return 'unknown';
    }
    return { pid: saved.pid, status: await this.statusFromSavedState(id, saved.pid, saved.start) };
  }

  /**
   * What `runc state` would say, without spawning it (this is on every status read, the
   * reconciler's sweep included): the init process must still be the one runc started (same
   * start time, not a zombie); runc's exec fifo means created-not-started; the freezer means paused.
   */
  private async statusFromSavedState(id: string, pid: number, startTicks: number): Promise<RuncStateJson['status']> {
    if (!pid) return 'stopped';
    const stat = readStatusFileIfAny(`/proc/${pid}/stat`);
    if (stat === undefined) return 'stopped';
    const { state, startTicks: started } = parseProcStat(stat);
    if (state === 'Z' || state === 'X' || started !== startTicks) return 'stopped';
    if (existsSync(join(this.runcRoot, id, 'exec.fifo'))) return 'created';
    const cgroup = await this.cgroup(id);
    const frozen = await cgroup.isFrozen();
    // a started init: from now on its state is two reads through open files, until it is gone
    if (this.runcMode === 'direct') this.probes.open(id, pid, startTicks, cgroup.freezerFile(), cgroup.layout);
    return frozen ? 'paused' : 'running';
  }

  private async runcStateViaCli(id: string, signal?: AbortSignal): Promise<RuncStateJson | undefined> {
    try {
      const { stdout } = await runCommand(this.runc, ['--root', this.runcRoot, 'state', id], signal);
      return JSON.parse(stdout) as RuncStateJson;
    } catch (err) {
      if (err instanceof RuntimeError && /does not exist|not exist/i.test(String(err.details.stderr ?? err.message))) return undefined;
      throw err;
    }
  }

  /**
   * Starts conmon, which runs `runc create` and stays as the container's monitor. conmon reports
   * the container's pid (or runc's error) on the sync pipe, fd 3. Inside the network namespace at
   * `netnsPath` when given: the container stays in it.
   */
  private async spawnConmon(id: string, netnsPath: string | undefined, signal?: AbortSignal): Promise<number> {
    // no session keyring per container: each would count against the kernel's per-uid key quota
    // of the id range's root (200 by default: a server could run no more than ~200 containers).
    // Containers then keep the daemon's own keyring, new and empty (joinOwnSessionKeyring), and
    // cannot use it anyway (keyctl, add_key and request_key are refused by the seccomp profile,
    // /proc/keys is masked). Should the daemon fail to get its own, runc makes one per container.
    const ownKeyring = await joinOwnSessionKeyring().then(
      () => true,
      () => false,
    );
    const bundle = this.bundle(id);
    const args = [
      '--api-version', '1',
      '-c', id,
      '-u', id,
      '-n', id,
      '-r', this.runc,
      '--runtime-arg', `--root=${this.runcRoot}`,
      ...(ownKeyring ? ['--no-new-keyring'] : []),
      '-b', bundle,
      '-p', join(bundle, 'pidfile'),
      '-P', join(bundle, 'conmon.pid'),
      '-l', `k8s-file:${join(bundle, 'ctr.log')}`,
      '--log-size-max', String(this.opts.logSizeMax ?? DEFAULT_LOG_SIZE_MAX),
      '--exit-dir', this.exits.dir,
      '--socket-dir-path', bundle,
    ]; // prettier-ignore
    return new Promise((resolve, reject) => {
      const [file, argv] = inNetns(netnsPath, this.conmon, args);
      const child = spawn(file, argv, {
        stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
        // conmon and the runc it runs live as long as the container: none of the daemon's secrets
        env: childEnv({ _OCI_SYNCPIPE: '3' }),
        signal,
      });
      const sync = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
      let text = '';
      let stderr = '';
      let settled = false;
      const finish = (err: Error | undefined, pid?: number): void => {
        if (settled) return;
        settled = true;
        sync.destroy();
        child.stderr?.destroy();
        if (err) reject(err);
        else resolve(pid as number);
      };
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      sync.on('data', (d: Buffer) => {
        text += d.toString();
        const line = text.split('\n').find((l) => l.trim().startsWith('{'));
        if (!line) return;
        try {
          const msg = JSON.parse(line) as { data?: number; message?: string };
          if (typeof msg.data === 'number' && msg.data > 0) finish(undefined, msg.data);
          else finish(new RuntimeError('failed', `runc create failed for container "${id}": ${(msg.message ?? 'unknown error').trim()}`));
        } catch {
          /* partial line; wait for more */
        }
      });
      sync.on('close', () => finish(new RuntimeError('failed', `conmon exited before container "${id}" was created: ${stderr.trim() || 'no message'}`)));
      child.on('error', (err) => finish(new RuntimeError('failed', `cannot run conmon: ${err.message}`)));
    });
  }

  private async conmonAlive(id: string): Promise<boolean> {
    const pid = await this.conmonPid(this.bundle(id));
    return pid > 0 && isRunning(pid);
  }

  /** Waits briefly for the container's conmon to exit after its container is gone. */
  private async waitForConmon(bundle: string): Promise<void> {
    const pid = await this.conmonPid(bundle);
    if (!pid) return;
    for (let i = 0; i < 100 && isRunning(pid); i++) await new Promise((r) => setTimeout(r, 10));
    // the pid file outlives conmon: kill only a process that is still this bundle's conmon
    if (isRunning(pid) && (await this.conmonPid(bundle)) === pid) process.kill(pid, 'SIGKILL');
  }

  /** The pid of this bundle's conmon while it runs; 0 when the pid file is absent or names another process. */
  private async conmonPid(bundle: string): Promise<number> {
    const pid = Number((await readFile(join(bundle, 'conmon.pid'), 'utf8').catch(() => '')).trim());
    if (!pid) return 0;
    const { args } = await processArgs(pid, CONMON_ARGV_BYTES);
    return args[0]?.endsWith('conmon') && args.includes(bundle) ? pid : 0;
  }

  /** Removes the container's cgroup in every hierarchy; false when some of it could not go. */
  private async removeCgroup(id: string): Promise<boolean> {
    const cgroup = await this.cgroup(id);
    // one folder per hierarchy, none inside another: removed all at once
    const results = await Promise.all((await cgroup.existingDirs()).map((dir) => rmdir(dir).then(() => true, (err: NodeJS.ErrnoException) => err.code === 'ENOENT')));
    return results.every(Boolean);
  }
}

/** Polls `done` every 10 ms for up to `timeoutMs`; true once it holds. */
async function until(done: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await done()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}

function assertId(id: string): void {
  if (!ID_PATTERN.test(id)) throw new RuntimeError('not-found', `container id "${id}" is not valid`);
}

/** nsenter(1), which runs a program inside a network namespace (it execs it: the pid is the program's). */
const NSENTER = '/usr/bin/nsenter';

/** The program and arguments that run `file args` inside the network namespace at `netnsPath` (as they are without one). */
function inNetns(netnsPath: string | undefined, file: string, args: string[]): [string, string[]] {
  return netnsPath ? [NSENTER, [`--net=${netnsPath}`, '--', file, ...args]] : [file, args];
}
