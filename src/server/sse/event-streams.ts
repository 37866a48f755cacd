/**
 * The daemon's side of GET /events. It follows the event hub once for all streams, turns each
 * event into its frame once (with the project owner that decides who sees it), and gives it to
 * the fan-out, which writes it to every subscriber.
 *
 * The fan-out runs in its own process by default (`fanout-process.ts`): an open stream's
 * connection is handed over to it after the head and the catch-up are written, so the daemon's
 * event loop serves operations whatever the number of subscribers, and the fan-out runs at a
 * lower CPU priority than the daemon. That process runs only while streams are open (from the
 * first, until the last has been gone for a while): an idle daemon is one process. `inline` keeps the fan-out in this process (one daemon
 * without child processes; also what a test app built without the daemon uses).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { MAX_REPLAY_ROWS, type EventHub, type HubEvent, type Subscription } from '../../core/event-hub.ts';
import type { ProjectService } from '../../core/project-service.ts';
import type { StatusLogRecord, Store } from '../../store/store.ts';
import { childEnv } from '../../runtime/child-env.ts';
import { SseFanout, checkWriteShare, type FanoutOptions } from './fanout.ts';
import type { FanoutMessage, FanoutReport } from './fanout-process.ts';
import { FANOUT_PROTOCOL } from './fanout-protocol.ts';
import { PACKAGE_VERSION } from '../../version.ts';
import { LAST_CHUNK, chunk, projectOf, resyncFrame, streamHead, toStreamEvent, type StreamEvent, type StreamSpec } from './stream.ts';

export type FanoutMode = 'process' | 'inline';

/** Niceness of the fan-out process (0 = the daemon's; 19 = the lowest). */
const FANOUT_NICENESS = 10;

/** How long an idle fan-out process stays: a client that reconnects at once finds it running. */
export const FANOUT_IDLE_MS = 30_000;

/** How long a starting fan-out process has to say it is ready before it is killed and its streams refused. */
export const FANOUT_START_MS = 10_000;

export interface EventStreamsOptions {
  hub: EventHub;
  projects: ProjectService;
  store: Store;
  heartbeatMs: number;
  mode: FanoutMode;
  /** With many streams, the largest share of one CPU their writing may take (see SseFanout). */
  writeShare?: number;
  /** How long the fan-out process stays once its last stream is gone (process mode). */
  idleMs?: number;
  /** How long the fan-out process may take to start (process mode; FANOUT_START_MS by default). */
  startMs?: number;
  /** The fan-out process's module (tests start stand-ins); the one beside this module by default. */
  childFile?: string;
  warn?: (message: string, err?: unknown) => void;
}

/** How a stream being opened is ended from outside, and told to its owner when it is over. */
export interface StreamControl {
  /** Aborted when the stream must end (its token was deleted). */
  signal: AbortSignal;
  /** Called once when the stream is over, whatever ended it. */
  onGone: () => void;
}

interface Sink {
  publish(events: StreamEvent[]): void;
  /** Takes over a stream; `onGone` is called once when it ends. */
  add(socket: Socket, spec: StreamSpec, onGone: () => void): void;
  /** Ends streams it holds. */
  end(streamIds: string[]): void;
  close(): Promise<void>;
}

export class EventStreams {
  private readonly incoming: HubEvent[] = [];
  private converting = false;
  private outgoing: StreamEvent[] = [];
  private sending: NodeJS.Immediate | undefined;
  private subscription: Subscription | undefined;
  private closed = false;
  /** Streams from the start of their opening until they are gone: with none, no event is owed to anybody. */
  private streams = 0;

  private constructor(
    private readonly opts: EventStreamsOptions,
    private readonly sink: Sink,
  ) {}

  static async start(opts: EventStreamsOptions): Promise<EventStreams> {
    // checked here too: a child process that refuses its settings would fail at every restart
    if (opts.writeShare !== undefined) checkWriteShare(opts.writeShare);
    const sink = opts.mode === 'process' ? new ProcessSink({ ...opts, idleMs: opts.idleMs ?? FANOUT_IDLE_MS, startMs: opts.startMs ?? FANOUT_START_MS }) : inlineSink({ heartbeatMs: opts.heartbeatMs, writeShare: opts.writeShare });
    const streams = new EventStreams(opts, sink);
    streams.subscription = opts.hub.subscribe((e) => streams.receive(e));
    return streams;
  }

  /**
   * Opens a stream on a connection whose request was validated: writes the head, replays the
   * caller's transitions after `since` page by page (each page written before the next is read)
   * and hands the connection to the fan-out with nothing missed or repeated.
   *
   * A cursor above the newest row the tailer has read is first checked against the store (a
   * daemon whose tailer is a little behind another's must not lose rows), then clamped to the
   * head. A replay deeper than MAX_REPLAY_ROWS is replaced by a `resync` event at the head.
   */
  async open(socket: Socket, spec: Omit<StreamSpec, 'seen'>, since: number | undefined, control: StreamControl): Promise<void> {
    let over = false;
    this.streams++;
    const gone = (): void => {
      if (over) return;
      over = true;
      this.streams--;
      control.onGone();
    };
    const stopped = (): boolean => over || socket.destroyed || this.closed || control.signal.aborted;
    // ended while opening: the connection is cut (a write may be waiting for a reader that does not read)
    const abort = (): void => void socket.destroy();
    control.signal.addEventListener('abort', abort, { once: true });
    const write = (data: string): Promise<boolean> => new Promise((resolve) => socket.write(data, (err) => resolve(!err && !stopped())));
    let handed = false;
    try {
      const hub = this.opts.hub;
      let from = since === undefined || since <= hub.position ? (since ?? hub.position) : Math.min(since, await hub.head());
      let head = chunk(`: connected\n\nid: ${from}\n\n`);
      const scope = { owner_id: spec.userId, container_id: spec.containerId, project_id: spec.projectId };
      if (spec.transitions && from < hub.position) {
        const through = hub.position;
        const depth = await this.opts.store.countStatusLogsSince(from, { ...scope, through }, MAX_REPLAY_ROWS + 1);
        if (depth > MAX_REPLAY_ROWS) {
          from = through;
          head = chunk(`: connected\n\n${resyncFrame(from, MAX_REPLAY_ROWS)}`);
        }
      }
      // the starting cursor, so a client that drops before any event can still resume
      if (!(await write(streamHead() + head))) return;
      const join = (seen: number): void => {
        // no await from the hub's check to here: live events after `seen` all reach the sink after it
        if (stopped()) return;
        control.signal.removeEventListener('abort', abort);
        this.sink.add(socket, { ...spec, seen }, gone);
        control.signal.addEventListener('abort', () => this.sink.end([spec.streamId]), { once: true });
        handed = true;
      };
      if (!spec.transitions) return join(hub.position);
      const page = (rows: StatusLogRecord[]): Promise<boolean> => {
        if (stopped()) return Promise.resolve(false);
        let frames = '';
        for (const row of rows) frames += toStreamEvent({ type: 'transition', row }, row.project_id ?? undefined, spec.userId).frame;
        return write(chunk(frames));
      };
      // a replay that could not catch up with a log that keeps growing ends properly: the client resumes from its last id
      if (!(await hub.replay(from, scope, page, join)) && !stopped()) socket.end(LAST_CHUNK);
    } finally {
      if (!handed) {
        control.signal.removeEventListener('abort', abort);
        if (!socket.writableEnded) socket.destroy();
        gone();
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscription?.close();
    this.send();
    await this.sink.close();
  }

  private receive(e: HubEvent): void {
    // a stream that opens later starts after this event (its replay reads the log): not worth a frame
    if (this.streams === 0) return;
    // the common case, owner known: converted at once; otherwise in order, behind the lookups
    if (!this.converting && this.incoming.length === 0) {
      const projectId = projectOf(e);
      const owner = projectId === undefined ? undefined : this.opts.projects.knownOwnerOf(projectId);
      if (owner !== undefined) return this.queue(toStreamEvent(e, projectId, owner));
    }
    this.incoming.push(e);
    void this.drainIncoming();
  }

  private async drainIncoming(): Promise<void> {
    if (this.converting) return;
    this.converting = true;
    try {
      while (this.incoming.length > 0) this.queue(await this.convert(this.incoming.shift() as HubEvent));
    } finally {
      this.converting = false;
    }
  }

  private async convert(e: HubEvent): Promise<StreamEvent> {
    const containerId = e.type === 'transition' ? e.row.container_id : e.event.container_id;
    const projectId = projectOf(e) ?? (await this.opts.store.getContainer(containerId).catch(() => undefined))?.project_id;
    const owner = projectId === undefined ? undefined : await this.opts.projects.ownerOf(projectId).catch(() => undefined);
    return toStreamEvent(e, projectId, owner);
  }

  /** Events go to the fan-out in batches, one per turn of the event loop. */
  private queue(e: StreamEvent): void {
    this.outgoing.push(e);
    this.sending ??= setImmediate(() => this.send());
  }

  private send(): void {
    if (this.sending) clearImmediate(this.sending);
    this.sending = undefined;
    if (this.outgoing.length === 0) return;
    const batch = this.outgoing;
    this.outgoing = [];
    this.sink.publish(batch);
  }
}

function inlineSink(opts: FanoutOptions): Sink {
  const fanout = new SseFanout(opts);
  return {
    publish: (events) => fanout.publish(events),
    add: (socket, spec, onGone) => fanout.add(socket, spec, onGone),
    end: (streamIds) => fanout.end(streamIds),
    close: async () => fanout.closeAll(),
  };
}

/**
 * The fan-out in a child process, started with the first stream and ended once the last one has
 * been gone for `idleMs` (an idle daemon keeps no second Node process), started again if it dies
 * while it holds streams (their clients reconnect).
 */
class ProcessSink implements Sink {
  private child: ChildProcess | undefined;
  /** Set while a child starts: what must reach it, in order, once it is ready. */
  private backlog: Array<() => void> | undefined;
  private starting: Promise<void> | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private closing = false;
  /** The streams children hold, by id: which child, and what to call when it says one is gone. */
  private readonly held = new Map<string, { onGone: () => void; child?: ChildProcess }>();

  constructor(private readonly opts: EventStreamsOptions & { idleMs: number; startMs: number }) {}

  publish(events: StreamEvent[]): void {
    // no child and none starting: no stream is open, so nobody is owed these events
    if (this.backlog) this.backlog.push(() => this.publish(events));
    else if (this.child?.connected) this.post({ t: 'events', events });
  }

  add(socket: Socket, spec: StreamSpec, onGone: () => void): void {
    this.cancelIdle();
    if (this.closing) {
      socket.destroy();
      onGone();
      return;
    }
    this.held.set(spec.streamId, { onGone });
    if (!this.child?.connected && !this.backlog) this.startChild();
    if (this.backlog) this.backlog.push(() => this.hand(socket, spec));
    else this.hand(socket, spec);
  }

  end(streamIds: string[]): void {
    if (this.backlog) this.backlog.push(() => this.end(streamIds));
    else if (this.child?.connected) this.post({ t: 'end', streamIds });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.cancelIdle();
    await this.starting;
    await this.retire();
  }

  private hand(socket: Socket, spec: StreamSpec): void {
    const child = this.child;
    if (!child?.connected) {
      socket.destroy();
      this.release(spec.streamId);
      return;
    }
    // The child gets its own descriptor of the connection; this process then closes its copy
    // (keepOpen, then destroy: the HTTP server counts the connection gone exactly once). Without
    // `server`, Node does not register the child as one of the server's workers: a server with
    // workers waits for their answer when it closes, and one whose worker has exited (the child
    // is restarted after a crash, and exits at shutdown) never finishes closing on Node 20.
    Reflect.set(socket, 'server', null);
    const entry = this.held.get(spec.streamId);
    if (entry) entry.child = child;
    child.send({ t: 'add', spec } satisfies FanoutMessage, socket, { keepOpen: true }, (err) => {
      if (err) {
        this.opts.warn?.('could not hand an event stream to the fan-out process', err);
        this.release(spec.streamId);
      }
      socket.destroy();
    });
  }

  /** A stream the child held is over. */
  private release(streamId: string): void {
    const entry = this.held.get(streamId);
    this.held.delete(streamId);
    entry?.onGone();
    this.idleCheck();
  }

  /** Starts a child; what arrives meanwhile waits in the backlog and goes to it once it is ready. */
  private startChild(): void {
    const backlog: Array<() => void> = [];
    this.backlog = backlog;
    this.starting = this.spawn().then(
      () => undefined,
      (err: unknown) => {
        // the reason in the line itself: "restart the daemon" must be read, not found in a field
        this.opts.warn?.(`could not start the event fan-out process: ${err instanceof Error ? err.message : String(err)}`);
        this.child = undefined;
      },
    ).finally(() => {
      this.backlog = undefined;
      this.starting = undefined;
      // without a child, each handing ends its stream at once
      for (const step of backlog) step();
      this.idleCheck();
    });
  }

  private idleCheck(): void {
    if (this.held.size > 0 || this.backlog || this.closing || !this.child || this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.held.size === 0 && !this.backlog && !this.closing) void this.retire();
    }, this.opts.idleMs);
    // an idle fan-out is no reason for the daemon to stay up
    this.idleTimer.unref();
  }

  private cancelIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** Asks the child to end every stream and exit, and waits for it (killed if it takes over 2 s). */
  private async retire(): Promise<void> {
    const child = this.child;
    // from here on the child is not ours: its exit is not a crash, and a new stream starts another
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (child.connected) this.post({ t: 'close' }, child);
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }

  /** Sends a message to the current child, or to `to` (a child being retired is no longer current). */
  private post(m: FanoutMessage, to: ChildProcess | undefined = this.child): void {
    to?.send(m, (err: Error | null) => {
      if (err && !this.closing) this.opts.warn?.('the fan-out process did not take a message', err);
    });
  }

  private spawn(): Promise<void> {
    // the child's module sits beside this one: `.js` when built, `.ts` under tsx (which the child then needs too)
    const fromSources = import.meta.url.endsWith('.ts');
    const file = this.opts.childFile ?? fileURLToPath(new URL(`./fanout-process.${fromSources ? 'ts' : 'js'}`, import.meta.url));
    const child = fork(file, [], {
      execArgv: fromSources ? ['--import', import.meta.resolve('tsx')] : [],
      // only its settings: the daemon's environment holds secrets the child has no use for
      env: childEnv({ HOODY_EVENTS_HEARTBEAT_MS: String(this.opts.heartbeatMs), HOODY_EVENTS_WRITE_SHARE: this.opts.writeShare === undefined ? '' : String(this.opts.writeShare) }),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    try {
      if (child.pid !== undefined) setPriority(child.pid, FANOUT_NICENESS);
    } catch (err) {
      this.opts.warn?.('could not lower the fan-out process priority', err);
    }
    let ready = false;
    child.on('message', (m: FanoutReport) => {
      if (m.t === 'ready') ready = !mismatch(m);
      else if (m.t === 'gone' && this.held.get(m.streamId)?.child === child) this.release(m.streamId);
    });
    child.on('exit', (code, signal) => {
      // every stream the child held ended with it
      const cut = [...this.held].filter(([, e]) => e.child === child).map(([id]) => id);
      for (const id of cut) this.release(id);
      if (this.child !== child) return;
      this.child = undefined;
      // a child that never got ready would fail the same way again: its start reports it instead
      if (this.closing || !ready) return;
      this.opts.warn?.(`the event fan-out process ended (${code ?? signal}); starting it again`);
      // ready for the clients it held, which reconnect at once; it ends after the idle time if they do not
      if (cut.length > 0 && !this.backlog) this.startChild();
    });
    return new Promise((resolve, reject) => {
      // a child that hangs while loading would hold new streams and a growing backlog for ever
      const deadline = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the event fan-out process did not start within ${this.opts.startMs} ms`));
      }, this.opts.startMs);
      const settle = (err?: Error): void => {
        clearTimeout(deadline);
        if (err) reject(err);
        else resolve();
      };
      child.once('message', (m: FanoutReport) => {
        const wrong = m.t === 'ready' ? mismatch(m) : `its first message was "${m.t}", not "ready"`;
        if (!wrong) return settle();
        // never run mixed: a child from other files may read or send messages differently
        child.kill('SIGKILL');
        settle(new Error(`the event fan-out process ${wrong}: restart the daemon: its files changed on disk`));
      });
      child.once('error', settle);
      child.once('exit', (code, signal) => settle(new Error(`the event fan-out process exited with ${code ?? signal} while starting`)));
    });
  }
}

/** Why a child's `ready` does not match this daemon, or undefined when it does. */
function mismatch(m: { version?: unknown; protocol?: unknown }): string | undefined {
  if (m.version === PACKAGE_VERSION && m.protocol === FANOUT_PROTOCOL) return undefined;
  return `is version "${String(m.version)}" (protocol ${String(m.protocol)}) where this daemon is "${PACKAGE_VERSION}" (protocol ${FANOUT_PROTOCOL})`;
}
