/**
 * Hands stream events to every connected subscriber that may see them. Subscribers are indexed
 * by the container they follow, or by their user when they follow everything theirs, so an event
 * touches only its candidates. Frames are built once per event (StreamEvent.frame); a
 * subscriber's frames are gathered and written in one chunk: in the same turn of the event loop
 * while few streams are open, and within `coalesceMs` once there are many (the accepted,
 * transition and succeeded events of one operation then go out in one write per subscriber
 * instead of three: fewer system calls here, fewer wake-ups for every client).
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
  pending: string;
}

export interface FanoutOptions {
  heartbeatMs: number;
  maxBufferedBytes?: number;
  /** With many subscribers, events that come within this many ms of the first pending one share a write. */
  coalesceMs?: number;
  /** "Many subscribers": at least this many streams open. */
  coalesceFrom?: number;
}

const HEARTBEAT = chunk(': heartbeat\n\n');

export class SseFanout {
  private readonly byContainer = new Map<string, Set<Subscriber>>();
  private readonly byUser = new Map<string, Set<Subscriber>>();
  private readonly dirty = new Set<Subscriber>();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushImmediate: NodeJS.Immediate | undefined;
  private readonly coalesceMs: number;
  private readonly coalesceFrom: number;
  private count = 0;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly maxBuffered: number;
  private closed = false;

  constructor(opts: FanoutOptions) {
    this.maxBuffered = opts.maxBufferedBytes ?? 8 * 1024 * 1024;
    this.coalesceMs = opts.coalesceMs ?? 50;
    this.coalesceFrom = opts.coalesceFrom ?? 64;
    this.heartbeat = setInterval(() => this.beat(), opts.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Open streams. */
  get size(): number {
    return this.count;
  }

  /** Takes over a connection whose response head (and any catch-up) has been written. */
  add(socket: Socket, spec: StreamSpec): void {
    if (this.closed || socket.destroyed) {
      socket.destroy();
      return;
    }
    const sub: Subscriber = { socket, spec, pending: '' };
    const index = spec.containerId !== undefined ? this.byContainer : this.byUser;
    const key = spec.containerId ?? spec.userId;
    let set = index.get(key);
    if (!set) index.set(key, (set = new Set()));
    set.add(sub);
    this.count++;
    const remove = (): void => {
      if (this.closed || !set.delete(sub)) return;
      this.count--;
      if (set.size === 0 && index.get(key) === set) index.delete(key);
      this.dirty.delete(sub);
    };
    socket.on('close', remove);
    socket.on('error', () => socket.destroy());
    // the client sends nothing more on this connection; reading keeps 'close' timely
    socket.resume();
  }

  publish(events: readonly StreamEvent[]): void {
    for (const e of events) {
      this.offer(this.byContainer.get(e.containerId), e);
      if (e.ownerId !== undefined) this.offer(this.byUser.get(e.ownerId), e);
    }
    if (this.dirty.size === 0 || this.flushTimer || this.flushImmediate) return;
    if (this.coalesceMs > 0 && this.count >= this.coalesceFrom) this.flushTimer = setTimeout(() => this.flush(), this.coalesceMs);
    else this.flushImmediate = setImmediate(() => this.flush());
  }

  /** Ends every stream properly (the zero-length chunk), e.g. when the daemon shuts down. */
  closeAll(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.flush();
    for (const index of [this.byContainer, this.byUser]) {
      for (const set of index.values()) for (const sub of set) sub.socket.end(LAST_CHUNK);
      index.clear();
    }
    this.count = 0;
  }

  private offer(set: Set<Subscriber> | undefined, e: StreamEvent): void {
    if (!set) return;
    for (const sub of set) {
      if (!visibleTo(sub.spec, e)) continue;
      sub.pending += e.frame;
      this.dirty.add(sub);
    }
  }

  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.flushImmediate) clearImmediate(this.flushImmediate);
    this.flushTimer = this.flushImmediate = undefined;
    for (const sub of this.dirty) {
      if (sub.socket.writableLength > this.maxBuffered) {
        sub.socket.destroy();
        continue;
      }
      sub.socket.write(chunk(sub.pending));
      sub.pending = '';
    }
    this.dirty.clear();
  }

  private beat(): void {
    for (const index of [this.byContainer, this.byUser]) {
      for (const set of index.values()) for (const sub of set) if (sub.socket.writableLength <= this.maxBuffered) sub.socket.write(HEARTBEAT);
    }
  }
}
