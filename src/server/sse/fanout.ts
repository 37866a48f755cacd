/**
 * Hands stream events to every connected subscriber that may see them. Subscribers are indexed
 * by the container they follow, or by their user when they follow everything theirs, so an event
 * touches only its candidates. Frames are built once per event (StreamEvent.frame); a
 * subscriber's frames are gathered and written in one chunk: in the same turn of the event loop
 * while few streams are open, and within `coalesceMs` once there are many (the accepted,
 * transition and succeeded events of one operation then go out in one write per subscriber
 * instead of three: fewer system calls here, fewer wake-ups for every client). Subscribers that
 * get the same events in a write (all the streams of one user without filters, say) share one
 * encoded chunk: the text is joined and turned into bytes once per distinct set, not per stream.
 *
 * Writing to a thousand sockets takes CPU that lifecycle operations on the same machine then
 * miss (on a small VM even an idle-priority process slows `runc create`), so with many streams
 * the writing is also paced: after a pass that took d ms of CPU, the next waits until
 * d·(1−s)/s ms have passed (s = writeShare, 0.05: at most about a twentieth of one CPU). CPU
 * time, not wall time, so that a pass the scheduler interrupted does not count the interruption.
 * The window grows with the number of streams, and so does the delivery lag; after a quiet
 * while, an event still goes out within coalesceMs. The window never passes maxWindowMs (1 s):
 * when the writing needs more than its share, it takes more, rather than the lag and the batch
 * held in memory growing without bound.
 *
 * A subscriber that does not read (more than maxBufferedBytes waiting in its socket) is
 * disconnected: it resumes with Last-Event-ID and catches up from the status log, instead of
 * making this process hold an unbounded backlog for it.
 */
import type { Socket } from 'node:net';
import { LAST_CHUNK, chunk, visibleTo, type StreamEvent, type StreamSpec } from './stream.ts';

interface Subscriber {
  socket: Socket;
  spec: StreamSpec;
  /** Called once when the stream is over, whatever ended it. */
  onGone: () => void;
  /** positions in SseFanout.batch of the events waiting for the next write */
  pending: number[];
}

export interface FanoutOptions {
  heartbeatMs: number;
  maxBufferedBytes?: number;
  /** With many subscribers, events that come within this many ms of the first pending one share a write. */
  coalesceMs?: number;
  /** "Many subscribers": at least this many streams open. */
  coalesceFrom?: number;
  /** With many subscribers, the largest share of the time spent writing (0.01 ≤ s ≤ 1). */
  writeShare?: number;
  /** The longest the pacing makes events wait, whatever the share. */
  maxWindowMs?: number;
  /** How long a stream that was ended may take to close before its socket is destroyed. */
  endGraceMs?: number;
}

const HEARTBEAT = chunk(': heartbeat\n\n');

/** A write share the pacing rule means something for: 0.01 to 1. */
export const isWriteShare = (share: number): boolean => share >= 0.01 && share <= 1;

/** Refuses a write share outside 0.01 to 1. */
export function checkWriteShare(share: number): number {
  if (!isWriteShare(share)) throw new RangeError(`writeShare must be between 0.01 and 1, not ${share}`);
  return share;
}

export class SseFanout {
  private readonly byContainer = new Map<string, Set<Subscriber>>();
  private readonly byUser = new Map<string, Set<Subscriber>>();
  private readonly byId = new Map<string, Subscriber>();
  private readonly dirty = new Set<Subscriber>();
  /** the events published since the last write */
  private batch: StreamEvent[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private flushImmediate: NodeJS.Immediate | undefined;
  private readonly coalesceMs: number;
  private readonly coalesceFrom: number;
  private readonly writeShare: number;
  private readonly maxWindowMs: number;
  /** when the last write pass ended (performance.now() ms) and the CPU time it took (ms) */
  private lastFlush = { end: 0, took: 0 };
  private count = 0;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly maxBuffered: number;
  private readonly endGraceMs: number;
  private closed = false;

  constructor(opts: FanoutOptions) {
    this.maxBuffered = opts.maxBufferedBytes ?? 8 * 1024 * 1024;
    this.coalesceMs = opts.coalesceMs ?? 50;
    this.coalesceFrom = opts.coalesceFrom ?? 64;
    this.writeShare = checkWriteShare(opts.writeShare ?? 0.05);
    this.maxWindowMs = Math.max(this.coalesceMs, opts.maxWindowMs ?? 1000);
    this.endGraceMs = opts.endGraceMs ?? 1000;
    this.heartbeat = setInterval(() => this.beat(), opts.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Open streams. */
  get size(): number {
    return this.count;
  }

  /** Takes over a connection whose response head (and any catch-up) has been written; `onGone` is called once when it ends. */
  add(socket: Socket, spec: StreamSpec, onGone: () => void = () => undefined): void {
    if (this.closed || socket.destroyed) {
      socket.destroy();
      onGone();
      return;
    }
    const sub: Subscriber = { socket, spec, onGone, pending: [] };
    const index = spec.containerId !== undefined ? this.byContainer : this.byUser;
    const key = spec.containerId ?? spec.userId;
    let set = index.get(key);
    if (!set) index.set(key, (set = new Set()));
    set.add(sub);
    this.byId.set(spec.streamId, sub);
    this.count++;
    const remove = (): void => {
      if (this.closed || !set.delete(sub)) return;
      this.count--;
      if (set.size === 0 && index.get(key) === set) index.delete(key);
      this.dirty.delete(sub);
      this.byId.delete(spec.streamId);
      sub.onGone();
    };
    socket.on('close', remove);
    socket.on('error', () => socket.destroy());
    // the client sends nothing more on this connection; reading keeps 'close' timely
    socket.resume();
  }

  /** Ends these streams properly (the zero-length chunk), e.g. when their token is deleted. */
  end(streamIds: readonly string[]): void {
    for (const id of streamIds) {
      const sub = this.byId.get(id);
      if (sub) this.endSocket(sub.socket);
    }
  }

  /** Sends the last chunk, and destroys the socket after endGraceMs if the client has not closed it by then. */
  private endSocket(socket: Socket): void {
    socket.end(LAST_CHUNK);
    // a client that does not read never sees the end and would hold the socket for good
    setTimeout(() => socket.destroy(), this.endGraceMs).unref();
  }

  publish(events: readonly StreamEvent[]): void {
    for (const e of events) {
      const at = this.batch.length;
      const taken = this.offer(this.byContainer.get(e.containerId), e, at) + (e.ownerId === undefined ? 0 : this.offer(this.byUser.get(e.ownerId), e, at));
      if (taken > 0) this.batch.push(e);
    }
    if (this.dirty.size === 0 || this.flushTimer || this.flushImmediate) return;
    if (this.coalesceMs > 0 && this.count >= this.coalesceFrom) this.flushTimer = setTimeout(() => this.flush(), this.nextWindow());
    else this.flushImmediate = setImmediate(() => this.flush());
  }

  /** Ends every stream properly (the zero-length chunk), e.g. when the daemon shuts down. */
  closeAll(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.flush();
    for (const index of [this.byContainer, this.byUser]) {
      for (const set of index.values()) for (const sub of set) this.endSocket(sub.socket);
      index.clear();
    }
    for (const sub of this.byId.values()) sub.onGone();
    this.byId.clear();
    this.count = 0;
  }

  /** Marks event `e`, at position `at` of the batch, for each subscriber of `set` that may see it; how many. */
  private offer(set: Set<Subscriber> | undefined, e: StreamEvent, at: number): number {
    if (!set) return 0;
    let taken = 0;
    for (const sub of set) {
      if (!visibleTo(sub.spec, e)) continue;
      sub.pending.push(at);
      this.dirty.add(sub);
      taken++;
    }
    return taken;
  }

  /** How long the events now pending wait: coalesceMs, or longer if the last pass was long (at most maxWindowMs). */
  private nextWindow(): number {
    const { end, took } = this.lastFlush;
    const rest = (took * (1 - this.writeShare)) / this.writeShare;
    return Math.min(this.maxWindowMs, Math.max(this.coalesceMs, end + rest - performance.now()));
  }

  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.flushImmediate) clearImmediate(this.flushImmediate);
    this.flushTimer = this.flushImmediate = undefined;
    // process.cpuUsage counts every thread of the process: in the fan-out child that is this pass
    // (and its garbage collection); inline, it also counts what the daemon's other threads did
    // meanwhile, which only makes the pacing more cautious
    const cpu = process.cpuUsage();
    const batch = this.batch;
    const chunks = new Map<string, Buffer>();
    for (const sub of this.dirty) {
      const pending = sub.pending;
      sub.pending = [];
      if (sub.socket.writableLength > this.maxBuffered) {
        sub.socket.destroy();
        continue;
      }
      const key = pending.join(',');
      let bytes = chunks.get(key);
      if (!bytes) {
        let text = '';
        for (const at of pending) text += (batch[at] as StreamEvent).frame;
        chunks.set(key, (bytes = Buffer.from(chunk(text))));
      }
      sub.socket.write(bytes);
    }
    this.dirty.clear();
    this.batch = [];
    const took = process.cpuUsage(cpu);
    this.lastFlush = { end: performance.now(), took: (took.user + took.system) / 1000 };
  }

  private beat(): void {
    for (const index of [this.byContainer, this.byUser]) {
      for (const set of index.values()) for (const sub of set) if (sub.socket.writableLength <= this.maxBuffered) sub.socket.write(HEARTBEAT);
    }
  }
}
