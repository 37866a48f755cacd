/**
 * Membership of the servers sharing one database. Each daemon keeps its server's row alive with a
 * heartbeat (when it was last seen, what its containers use); a server whose heartbeats stopped
 * for `offlineAfterMs` is offline, whatever its row still says, so a lost server is never shown
 * as ready and its containers never as simply running or stopped. Clocks are the daemons' own:
 * servers of one cluster keep them in step (NTP), as the docs say.
 */
import { availableParallelism, totalmem } from 'node:os';
import type { ServerStatus } from '../api/schemas.ts';
import type { ServerRecord, ServerUsage, Store } from '../store/store.ts';

/** A server missing its heartbeats this long is offline. */
export const DEFAULT_OFFLINE_AFTER_MS = 15_000;

/** A server as the cluster sees it now: its row, with `status` made true by the heartbeat's age. */
export interface ServerView extends ServerRecord {
  /** What its own daemon last wrote (`ready`, `maintenance`, `offline` when it shut down cleanly). */
  recorded_status: ServerRecord['status'];
}

/** The status a server has now: its recorded one, unless its heartbeat is older than `offlineAfterMs`. */
export function serverStatusOf(s: Pick<ServerRecord, 'status' | 'last_seen_at'>, nowMs: number, offlineAfterMs: number): ServerStatus {
  if (s.status === 'offline') return 'offline';
  const seen = Date.parse(s.last_seen_at);
  return Number.isFinite(seen) && nowMs - seen <= offlineAfterMs ? s.status : 'offline';
}

export const viewOf = (s: ServerRecord, nowMs: number, offlineAfterMs: number): ServerView => ({ ...s, recorded_status: s.status, status: serverStatusOf(s, nowMs, offlineAfterMs) });

/** This machine's capacity for containers. */
export const localCapacity = (): { cpus: number; memory_mb: number } => ({ cpus: availableParallelism(), memory_mb: Math.floor(totalmem() / (1024 * 1024)) });

export interface MembershipOptions {
  offlineAfterMs?: number;
  /** Between heartbeats; a fifth of offlineAfterMs by default, so four may be missed. */
  heartbeatMs?: number;
  /** How long a read of every server is reused (one query serves a burst of requests). */
  cacheMs?: number;
  usage: () => Promise<ServerUsage>;
  warn?: (message: string, err?: unknown) => void;
  /**
   * Called after a heartbeat written once the last one written is older than offlineAfterMs: the
   * others saw this server offline meanwhile, and may have recovered its containers elsewhere.
   */
  onRejoin?: () => Promise<void>;
}

export class Membership {
  readonly offlineAfterMs: number;
  private readonly heartbeatMs: number;
  private readonly cacheMs: number;
  private timer: NodeJS.Timeout | undefined;
  private cached: { at: number; views: Promise<ServerView[]> } | undefined;
  private beating: Promise<void> | undefined;
  /** The time the last heartbeat written carried (the start's, before the first). */
  private lastBeat = 0;
  /** The check after a return, while it runs. */
  private rejoining: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    readonly self: { id: string; name: string },
    private readonly opts: MembershipOptions,
  ) {
    this.offlineAfterMs = opts.offlineAfterMs ?? DEFAULT_OFFLINE_AFTER_MS;
    this.heartbeatMs = opts.heartbeatMs ?? Math.max(100, Math.floor(this.offlineAfterMs / 5));
    this.cacheMs = opts.cacheMs ?? 250;
  }

  /** Writes a heartbeat now and then every heartbeatMs. */
  async start(): Promise<void> {
    // counted from the start: heartbeats that fail from the first on for longer than the offline
    // time made this server offline for the others as surely as a gap between two written ones
    this.lastBeat = Date.now();
    await this.beat();
    this.timer = setInterval(() => {
      // one at a time: a slow database must not pile heartbeats up
      this.beating ??= this.beat().finally(() => (this.beating = undefined));
    }, this.heartbeatMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.beating;
    await this.rejoining;
  }

  private async beat(): Promise<void> {
    try {
      const usage = await this.opts.usage();
      const at = Date.now();
      await this.store.touchServer(this.self.id, new Date(at).toISOString(), usage);
      // compared with the time the heartbeat carries, not when its write returned
      const gone = at - this.lastBeat > this.offlineAfterMs;
      this.lastBeat = at;
      if (gone && !this.rejoining && this.opts.onRejoin) {
        this.opts.warn?.('this server was offline for the others (no heartbeat written): checking for its containers recovered elsewhere');
        // beside the heartbeats, not in their way: killing a copy may take seconds
        this.rejoining = this.opts
          .onRejoin()
          .catch((err: unknown) => this.opts.warn?.('after this server came back', err))
          .finally(() => (this.rejoining = undefined));
      }
    } catch (err) {
      this.opts.warn?.('writing this server\'s heartbeat', err);
    }
  }

  /** Every server, as seen now (read at most once per cacheMs). */
  async servers(opts: { fresh?: boolean } = {}): Promise<ServerView[]> {
    const now = Date.now();
    if (opts.fresh || !this.cached || now - this.cached.at > this.cacheMs) {
      const views = this.store.listServers().then((rows) => rows.map((r) => viewOf(r, Date.now(), this.offlineAfterMs)));
      // a failed read is not kept
      views.catch(() => (this.cached = undefined));
      this.cached = { at: now, views };
    }
    return this.cached.views;
  }

  async server(id: string, opts: { fresh?: boolean } = {}): Promise<ServerView | undefined> {
    return (await this.servers(opts)).find((s) => s.id === id);
  }

  /** Forgets the cached read: a change this daemon made (maintenance) shows at once. */
  invalidate(): void {
    this.cached = undefined;
  }

  isLocal(serverId: string): boolean {
    return serverId === this.self.id;
  }
}
