/**
 * The status log is the event stream. One tailer reads rows past its cursor from the store, once,
 * whenever a transition is recorded here (at once) or on a short poll (rows other daemons wrote),
 * and hands them to every subscriber in cursor order. A subscriber that starts from an older
 * cursor first catches up from the store, then joins the live feed with no gap and no repeat.
 * Operation events (accepted, succeeded, failed) are live only: they are not in the log.
 */
import type { Store, StatusLogRecord } from '../store/store.ts';

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

export type HubEvent = { type: 'transition'; row: StatusLogRecord } | { type: 'operation'; event: OperationEvent };

export interface Subscription {
  close(): void;
}

const PAGE = 500;

export class EventHub {
  private cursor = 0;
  private readonly subscribers = new Set<(e: HubEvent) => void>();
  private pulling: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private operationChain: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly pollMs = 500,
  ) {}

  /** Starts from the newest row: what came before is read by subscribers that ask for it. */
  async start(): Promise<void> {
    for (;;) {
      const rows = await this.store.statusLogsSince(this.cursor, PAGE);
      if (rows.length === 0) break;
      this.cursor = rows.at(-1)?.seq ?? this.cursor;
    }
    this.timer = setInterval(() => this.notify(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.subscribers.clear();
  }

  /** The cursor of the newest row handed out. */
  get position(): number {
    return this.cursor;
  }

  /** Something was written: read it now (coalesced with a read already under way). */
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
   * Announces an operation's phase after every row written before it has gone out, so a
   * subscriber sees a transition before the "succeeded" of the operation that made it.
   */
  publishOperation(event: OperationEvent): void {
    this.operationChain = this.operationChain
      .then(() => this.settled())
      .then(() => {
        for (const s of this.subscribers) s({ type: 'operation', event });
      })
      .catch(() => undefined);
  }

  /**
   * Delivers every row after `since` (undefined: only new ones), then everything live, in order.
   * `deliver` is called synchronously per event; it must not throw.
   */
  async subscribe(since: number | undefined, deliver: (e: HubEvent) => void): Promise<Subscription> {
    const seen = await this.catchUp(since, deliver);
    const listener = (e: HubEvent): void => {
      if (e.type === 'transition' && e.row.seq <= seen) return;
      deliver(e);
    };
    this.subscribers.add(listener);
    return { close: () => this.subscribers.delete(listener) };
  }

  /**
   * Delivers every row after `since` from the store up to the tailer's cursor and returns that
   * cursor. The caller joins the live feed in the same synchronous step (no await in between),
   * skipping transitions at or below the returned cursor: no gap, no repeat.
   */
  async catchUp(since: number | undefined, deliver: (e: HubEvent) => void): Promise<number> {
    let from = since ?? this.cursor;
    for (;;) {
      const target = this.cursor;
      while (from < target) {
        const rows = await this.store.statusLogsSince(from, Math.min(PAGE, target - from));
        if (rows.length === 0) break;
        for (const row of rows) if (row.seq <= target) deliver({ type: 'transition', row });
        from = Math.min(target, rows.at(-1)?.seq ?? target);
      }
      if (this.cursor === target) return from;
    }
  }

  private async pull(): Promise<void> {
    for (;;) {
      const rows = await this.store.statusLogsSince(this.cursor, PAGE).catch(() => []);
      if (rows.length === 0) return;
      for (const row of rows) {
        this.cursor = row.seq;
        for (const s of this.subscribers) s({ type: 'transition', row });
      }
      if (rows.length < PAGE) return;
    }
  }
}
