/**
 * The status log is the event stream. The hub hands rows to every subscriber in cursor (seq)
 * order, one row after the other with no gap: a row this daemon's store commits is given to the
 * hub at once (`offer`) and goes out then when it is the next one; anything else (rows other
 * daemons wrote, a row whose predecessor has not been seen) is read from the store past the
 * cursor, on a short poll or as soon as a gap shows. A reader that starts from an older cursor
 * first replays its own rows from the store, page by page, then joins the live feed with no gap
 * and no repeat. Operation events (accepted, succeeded, failed) are live only: not in the log.
 *
 * Why rows are handed over and not read back: a read after every write ran on SQLite's one
 * connection ahead of the operation's next query. It cannot simply be put off either: `settled()`
 * and the order of an operation's "succeeded" after its transition rely on the cursor having
 * passed every row written before.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Store, StatusLogRecord, StatusLogScope } from '../store/store.ts';

export interface OperationEvent {
  phase: 'accepted' | 'succeeded' | 'failed';
  operation_id: string;
  container_id: string;
  project_id: string;
  operation: string;
  /** A user id or a system actor. */
  triggered_by: string;
  /** The automation token the user acted through. */
  token?: string;
  status?: string;
  error?: { code: string; message: string };
  at: string;
}

/** A client that attached to or detached from a container's shared terminal or display (live only, like operation events). */
export interface ClientEvent {
  action: 'attached' | 'detached';
  program: 'terminal' | 'display';
  index: number;
  container_id: string;
  project_id: string;
  client: { id: string; user_id: string; address: string | null; since: string; view_only?: boolean };
  /** How many clients the terminal or display has after the change. */
  clients: number;
  at: string;
}

export type HubEvent = { type: 'transition'; row: StatusLogRecord } | { type: 'operation'; event: OperationEvent } | { type: 'client'; event: ClientEvent };

export interface Subscription {
  close(): void;
}

/** Rows per read of the store. */
const PAGE = 500;

/** How many times a replay chases a log that grew meanwhile before it gives up (its reader resumes later). */
const MAX_REPLAY_ROUNDS = 100;

/** The most rows a reader is replayed; one that missed more is told to resync instead. */
export const MAX_REPLAY_ROWS = 10_000;

export class EventHub {
  private cursor = 0;
  private started = false;
  /** Rows offered ahead of a row not yet seen, by seq, until the gap is read from the store. */
  private readonly ahead = new Map<number, StatusLogRecord>();
  private readonly subscribers = new Set<(e: HubEvent) => void>();
  private pulling: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private operationChain: Promise<void> = Promise.resolve();
  /** Announcements waiting in operationChain. */
  private operationsQueued = 0;

  constructor(
    private readonly store: Store,
    private readonly pollMs = 500,
  ) {}

  /** Starts from the newest row (one query, whatever the log's length): readers replay what came before. */
  async start(): Promise<void> {
    this.cursor = await this.store.statusLogHead();
    this.started = true;
    // a row committed between the head's read and here is read with the next gap or poll
    this.store.onLogAppended((row) => this.offer(row));
    this.timer = setInterval(() => this.notify(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.store.onLogAppended(undefined);
    this.started = false;
    this.subscribers.clear();
    this.ahead.clear();
  }

  /** The cursor of the newest row handed out. */
  get position(): number {
    return this.cursor;
  }

  /** Reads what the store holds now (rows another daemon wrote included); the cursor of the newest row. */
  async head(): Promise<number> {
    await this.settled();
    return this.cursor;
  }

  /**
   * A row this daemon just committed: out at once when it is the next after the cursor (then any
   * offered rows that follow it); one further on waits for the rows before it, which are read from
   * the store now (committed before it: seq order is commit order). A row already out is ignored.
   */
  offer(row: StatusLogRecord): void {
    if (!this.started || row.seq <= this.cursor) return;
    if (row.seq !== this.cursor + 1) {
      this.ahead.set(row.seq, row);
      this.notify();
      return;
    }
    this.emit(row);
    this.drainAhead();
  }

  /** Something was written that was not offered: read it now (coalesced with a read already under way). */
  notify(): void {
    if (this.pulling) {
      this.again = true;
      return;
    }
    this.pulling = this.pull().finally(() => {
      this.pulling = undefined;
      if (this.again) {
        this.again = false;
        this.notify();
      }
    });
  }

  /** Waits until every row written before this call has been handed out. */
  async settled(): Promise<void> {
    this.notify();
    while (this.pulling) await this.pulling;
  }

  /**
   * Waits until every row this daemon offered has gone out (no read of the store when none waits
   * behind a gap): rows are offered before the write that made them resolves, so this covers
   * every row its callers wrote before the call.
   */
  private async caughtUp(): Promise<void> {
    if (this.ahead.size > 0) await this.settled();
  }

  /**
   * Announces an operation's phase after every row this daemon wrote before it has gone out, so a
   * subscriber sees a transition before the "succeeded" of the operation that made it. At once
   * when nothing waits (no row behind a gap, no earlier announcement queued), else in turn.
   */
  publishOperation(event: OperationEvent): void {
    const deliver = (): void => {
      for (const s of this.subscribers) s({ type: 'operation', event });
    };
    if (this.operationsQueued === 0 && this.ahead.size === 0) return deliver();
    this.operationsQueued++;
    this.operationChain = this.operationChain
      .then(() => this.caughtUp())
      .then(deliver)
      .catch(() => undefined)
      .finally(() => this.operationsQueued--);
  }

  /** Announces a client's attach or detach to every subscriber at once. */
  publishClient(event: ClientEvent): void {
    for (const s of this.subscribers) s({ type: 'client', event });
  }

  /** Delivers everything live from now on, in order. `deliver` is called synchronously per event; it must not throw. */
  subscribe(deliver: (e: HubEvent) => void): Subscription {
    this.subscribers.add(deliver);
    return { close: () => this.subscribers.delete(deliver) };
  }

  /**
   * Replays the rows of `scope` after `from`, page by page: `page` gets each page and answers
   * whether to go on (it waits for its reader, which paces the replay). Once every row up to the
   * tailer's cursor is out, `join(seen)` is called in the same synchronous step as the check, so
   * a reader that subscribes there and skips transitions up to `seen` misses nothing and gets
   * nothing twice. Yields to the event loop between pages and rounds, and gives up (false) after
   * a bounded number of rounds of a log that keeps growing.
   */
  async replay(from: number, scope: StatusLogScope, page: (rows: StatusLogRecord[]) => Promise<boolean>, join: (seen: number) => void): Promise<boolean> {
    for (let round = 0; round < MAX_REPLAY_ROUNDS; round++) {
      if (round > 0) await yieldToEventLoop();
      const target = this.cursor;
      while (from < target) {
        const rows = await this.store.statusLogsSince(from, PAGE, { ...scope, through: target });
        if (rows.length > 0 && !(await page(rows))) return false;
        // a short page is the last one up to the target
        from = rows.length < PAGE ? target : (rows.at(-1)?.seq ?? target);
        await yieldToEventLoop();
      }
      if (this.cursor === target) {
        join(target);
        return true;
      }
      from = Math.max(from, target);
    }
    return false;
  }

  private async pull(): Promise<void> {
    for (;;) {
      const rows = await this.store.statusLogsSince(this.cursor, PAGE).catch(() => []);
      // rows offered while the read ran went out already
      for (const row of rows) if (row.seq > this.cursor) this.emit(row);
      this.drainAhead();
      if (rows.length < PAGE) return;
    }
  }

  /** Moves the cursor to the row and hands it out, in one synchronous step (replay's join relies on it). */
  private emit(row: StatusLogRecord): void {
    this.cursor = row.seq;
    for (const s of this.subscribers) s({ type: 'transition', row });
  }

  /** Hands out offered rows that now follow the cursor; forgets those already out. */
  private drainAhead(): void {
    if (this.ahead.size === 0) return;
    for (const seq of this.ahead.keys()) if (seq <= this.cursor) this.ahead.delete(seq);
    for (let next = this.ahead.get(this.cursor + 1); next; next = this.ahead.get(this.cursor + 1)) {
      this.ahead.delete(next.seq);
      this.emit(next);
    }
  }
}
