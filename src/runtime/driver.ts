/**
 * The runtime boundary: a short interface that runs one container's processes, in the spirit
 * of containerd's Task. Everything above it speaks of containers by id; everything below it is
 * one runtime's business (runc + conmon today).
 */
import type { ChildProcess } from 'node:child_process';
import type { ContainerNetworkSpec } from '../network/types.ts';

/** What a runtime needs to run a container. */
export interface ContainerSpec {
  id: string;
  /** The image as the container names it (a reference, or `busybox`). */
  image: string;
  /** The image's id when the container was created: it keeps running that image when the name moves. */
  imageId?: string;
  /** argv of the main process; the image's default command when null. */
  command: string[] | null;
  env: Record<string, string>;
  hostname: string;
  /** The container's network on the server's bridge; absent: its own namespace with loopback only. */
  network?: ContainerNetworkSpec;
  /**
   * The kit's display: the host directory holding its X server's socket (seen at /tmp/.X11-unix)
   * and its cookie file (seen at /tmp/.Xauthority); the container gets DISPLAY=:0.
   */
  display?: { x11Dir: string; cookie: string };
  resources?: {
    /** CPU cores, fractions allowed. */
    cpu?: number;
    memoryMb?: number;
    pids?: number;
  };
}

/**
 * created: prepared, never run since; creating: a start has begun and not finished (the runtime
 * holds processes, such as an init waiting to be released, but the command has not run);
 * stopped: the main process has ended.
 */
export type RuntimeStatus = 'created' | 'creating' | 'running' | 'paused' | 'stopped';

export interface RuntimeState {
  id: string;
  status: RuntimeStatus;
  /** Host pid of the container's init while it runs. */
  pid: number | null;
  /** Exit code of the last run (128+signal when killed by a signal), when known. */
  exitCode: number | null;
}

export interface RuntimeProcess {
  pid: number;
  command: string;
  /** Scheduler state when known: R running, S sleeping, D uninterruptible, T stopped, Z zombie. */
  state?: string;
}

export interface RuntimeStats {
  memoryBytes: number;
  cpuUsageNs: number;
  /** The container's processes, at most MAX_LISTED_PROCESSES of them (the lowest pids). */
  processes: RuntimeProcess[];
  /** How many processes the container has in all. */
  processCount: number;
  /** TCP ports something listens on inside the container's network namespace. */
  listeningPorts: number[];
}

/** The most processes a driver's stats list; a container may have many more (its pids limit), they are counted. */
export const MAX_LISTED_PROCESSES = 500;

/** What a driver can do beyond the basics, so callers can say "not supported" honestly. */
export interface RuntimeCapabilities {
  pause: boolean;
  /** kill can signal every process of the container, not only its init. */
  killAll: boolean;
  stats: boolean;
  logs: boolean;
  /** A new driver instance over the same state finds containers started by an earlier one. */
  adopt: boolean;
  /** The driver reports exits as they happen (onExit). */
  exitEvents: boolean;
}

export interface ExitEvent {
  id: string;
  exitCode: number | null;
  at: Date;
}

export interface RuntimeHealth {
  ok: boolean;
  runtime: string;
  version: string;
  /** How the runtime is driven, when it has more than one way (runc: "direct" or "cli"). */
  mode?: string;
  problems: string[];
}

export interface KillOptions {
  /** Signal every process in the container's cgroup, not only init. */
  all?: boolean;
}

/** A command to run inside a running container. */
export interface ExecSpec {
  argv: string[];
  env: Record<string, string>;
  /** Working directory inside the container (its own when absent). */
  cwd?: string;
  /** Numeric ids (resolve names first with resolveUser). */
  user?: { uid: number; gid: number; additionalGids?: number[] };
  /**
   * Run on a terminal: the slave side of a pty the caller holds (its stdin, stdout and stderr), and
   * its size, which the command's terminal in the container has from its start.
   */
  tty?: { fd: number; cols?: number; rows?: number };
}

/** A command running inside a container. */
export interface ExecProcess {
  /** The runtime's process on the host (runc exec): its stdio are the command's (pipes, or the tty). */
  readonly child: ChildProcess;
  /** The command's host pid once it runs (undefined when it never started). */
  pid(): Promise<number | undefined>;
  /**
   * Signals every process of the command's session inside the container (what it started in the
   * background too), and the runtime's process.
   */
  killSession(sig: NodeJS.Signals): Promise<void>;
}

export interface RuntimeDriver {
  readonly name: string;
  readonly capabilities: RuntimeCapabilities;

  health(signal?: AbortSignal): Promise<RuntimeHealth>;
  /**
   * Prepares the container's bundle and root filesystem. Called again on a container that is
   * not running, it replaces the spec and keeps the container's files.
   */
  create(spec: ContainerSpec, signal?: AbortSignal): Promise<void>;
  /** Runs a created or stopped container; resolves once its init runs. */
  start(id: string, signal?: AbortSignal): Promise<RuntimeState>;
  kill(id: string, sig: NodeJS.Signals, opts?: KillOptions, signal?: AbortSignal): Promise<void>;
  pause(id: string, signal?: AbortSignal): Promise<void>;
  resume(id: string, signal?: AbortSignal): Promise<void>;
  /** Waits until the main process has ended; resolves its state, or undefined on timeout. */
  waitExit(id: string, timeoutMs: number, signal?: AbortSignal): Promise<RuntimeState | undefined>;
  /**
   * Ends a start that was begun and never finished (status "creating": its caller died on the
   * way): kills what it left and makes the runtime forget it, so the container is as it was
   * before the start. Only for a container no operation is carrying out. True when there was one.
   */
  abandonStart(id: string, signal?: AbortSignal): Promise<boolean>;
  /** Kills whatever still runs and removes every trace: runtime state, mounts, cgroups, files. */
  delete(id: string, signal?: AbortSignal): Promise<void>;
  state(id: string, signal?: AbortSignal): Promise<RuntimeState | undefined>;
  stats(id: string, signal?: AbortSignal): Promise<RuntimeStats>;
  /** The container's stdout and stderr, newest last, at most maxBytes. */
  logs(id: string, opts?: { maxBytes?: number }, signal?: AbortSignal): Promise<string>;
  /**
   * The files holding the container's stdout and stderr (conmon's k8s-file format), oldest first,
   * the one written now last; empty when it has none (yet). A rotation found on the way is kept.
   */
  logFiles(id: string): Promise<string[]>;
  list(signal?: AbortSignal): Promise<RuntimeState[]>;
  /**
   * The folder holding the container's own files (the writable layer over its image), made by
   * create: a snapshot reads it (the container frozen or stopped), a restore replaces it while the
   * container is stopped (after a create, which lets go of its last run's mount). Absent: the
   * runtime cannot snapshot.
   */
  filesDir?(id: string): string;
  /** Makes `dir` (a folder on the same file system as the runtime's state, its files as filesDir holds them) the stopped container's own files, in place of those it has. */
  takeFiles?(id: string, dir: string): Promise<void>;
  /** Starts a command in a running container. */
  exec(id: string, spec: ExecSpec): Promise<ExecProcess>;
  /** A user as the container's own /etc/passwd and /etc/group resolve it (`name`, `uid`, `name:group`, `uid:gid`). */
  resolveUser(id: string, user: string): Promise<{ uid: number; gid: number; additionalGids: number[] }>;
  /** Subscribes to exits of any container of this driver; returns the unsubscribe function. */
  onExit(listener: (event: ExitEvent) => void): () => void;
  /**
   * True when the runtime's own state did not survive since this state folder was last used
   * (the server rebooted, or the runtime state was wiped): no container of before still runs.
   */
  stateLost(): boolean;
  /** Stops watchers; leaves containers running. */
  close(): Promise<void>;
}

/** Categories of runtime failure, so the core can decide what is true afterwards. */
export type RuntimeErrorKind = 'not-found' | 'invalid-state' | 'failed' | 'unsupported';

export class RuntimeError extends Error {
  constructor(
    readonly kind: RuntimeErrorKind,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'RuntimeError';
  }
}
