/**
 * The long-lived requests (event streams, waits, followed logs, running execs, terminal sessions,
 * the router's tunnels to private programs) open on this daemon, by the token that opened them. Each user may hold only so many of each
 * kind; a deleted token's ones end at once when it is deleted through this daemon, and within one
 * check interval when another daemon of the same database deleted it (the distinct token ids of
 * the open ones are checked in one query).
 */
import type { Store } from '../store/store.ts';
import type { Actor } from './actor.ts';
import { HoodyError } from './errors.ts';

/**
 * What a session is: an event stream (GET /events), a wait (GET /containers/{id}/wait), a followed
 * log (GET /containers/{id}/logs?follow=true), a running exec (POST /containers/{id}/exec), a
 * terminal session, or a tunnel (a WebSocket or other upgrade) to a private program through the
 * service-URL router.
 */
export type SessionKind = 'stream' | 'wait' | 'follow' | 'exec' | 'terminal' | 'tunnel';

const SESSION_KINDS: readonly SessionKind[] = ['stream', 'wait', 'follow', 'exec', 'terminal', 'tunnel'];

/** The most sessions of each kind one user may hold open on this daemon. */
export type SessionLimits = Record<SessionKind, number>;

/** One open long-lived request. */
export interface Session {
  /** Aborted when the session's token is deleted. */
  readonly signal: AbortSignal;
  /** Frees the session's place; calling it again does nothing. */
  close(): void;
}

interface Entry {
  userId: string;
  kind: SessionKind;
  abort: AbortController;
}

const NAMES: Record<SessionKind, string> = { stream: 'event streams', wait: 'waits', follow: 'followed logs', exec: 'running execs', terminal: 'terminal sessions', tunnel: 'connections upgraded through the router' };

const none = (): SessionLimits => Object.fromEntries(SESSION_KINDS.map((k) => [k, 0])) as SessionLimits;

export class TokenSessions {
  private readonly byToken = new Map<string, Set<Entry>>();
  private readonly counts = new Map<string, SessionLimits>();
  private readonly totals: SessionLimits = none();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(
    private readonly store: Store,
    private readonly opts: { limits: SessionLimits; recheckMs: number; warn?: (message: string, err: unknown) => void },
  ) {}

  /** Re-checks the tokens of open sessions every `recheckMs` (only while some are open). */
  start(): void {
    this.timer ??= setInterval(() => void this.check(), this.opts.recheckMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Opens a session for the actor's token, or throws TOO_MANY_REQUESTS when its user holds the most allowed. */
  open(actor: Pick<Actor, 'userId' | 'tokenId'>, kind: SessionKind): Session {
    const counts = this.counts.get(actor.userId) ?? none();
    const limit = this.opts.limits[kind];
    if (counts[kind] >= limit) {
      throw new HoodyError('TOO_MANY_REQUESTS', `user "${actor.userId}" already has ${limit} open ${NAMES[kind]}, the most this server allows: close one first`, { kind, limit });
    }
    counts[kind]++;
    this.totals[kind]++;
    this.counts.set(actor.userId, counts);
    const entry: Entry = { userId: actor.userId, kind, abort: new AbortController() };
    let set = this.byToken.get(actor.tokenId);
    if (!set) this.byToken.set(actor.tokenId, (set = new Set()));
    set.add(entry);
    let closed = false;
    return {
      signal: entry.abort.signal,
      close: () => {
        if (closed) return;
        closed = true;
        this.forget(actor.tokenId, entry);
      },
    };
  }

  /** Ends every open session of a deleted token; how many there were. */
  revoke(tokenId: string): number {
    const set = this.byToken.get(tokenId);
    if (!set) return 0;
    const entries = [...set];
    for (const e of entries) e.abort.abort();
    return entries.length;
  }

  /** Open sessions of every user, by kind. */
  openTotal(): SessionLimits {
    return { ...this.totals };
  }

  /** Open sessions of one user, by kind. */
  openBy(userId: string): SessionLimits {
    return { ...(this.counts.get(userId) ?? none()) };
  }

  private forget(tokenId: string, entry: Entry): void {
    const set = this.byToken.get(tokenId);
    if (set?.delete(entry) && set.size === 0) this.byToken.delete(tokenId);
    this.totals[entry.kind]--;
    const counts = this.counts.get(entry.userId);
    if (!counts) return;
    counts[entry.kind]--;
    if (SESSION_KINDS.every((k) => counts[k] === 0)) this.counts.delete(entry.userId);
  }

  /** Ends the sessions whose token no longer exists (deleted through another daemon). */
  private async check(): Promise<void> {
    if (this.checking || this.byToken.size === 0) return;
    this.checking = true;
    try {
      const ids = [...this.byToken.keys()];
      const existing = await this.store.existingTokenIds(ids);
      for (const id of ids) if (!existing.has(id)) this.revoke(id);
    } catch (err) {
      this.opts.warn?.('could not check the tokens of open event streams, waits, logs, execs, terminals and tunnels', err);
    } finally {
      this.checking = false;
    }
  }
}
