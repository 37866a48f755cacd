/**
 * The one event stream a signed-in page follows (`GET /events`, every kind): it feeds the live
 * container list and whoever else listens (the events page, a container's timeline), keeps the
 * last events for the events page, and says whether it is live.
 */
import type { EventSubscription, HoodyClient, HoodyEvent } from '../sdk/index.ts';
import type { LiveContainers } from './live-containers.ts';

export type StreamState = 'connecting' | 'live' | 'reconnecting';

/** An event as the feed keeps it: numbered in the order it came, for the events page's keys. */
export interface FedEvent {
  n: number;
  event: HoodyEvent;
}

const KEPT = 500;

export class EventFeed {
  readonly recent: FedEvent[] = [];
  private count = 0;
  state: StreamState = 'connecting';
  private sub: EventSubscription | undefined;
  private readonly listeners = new Set<(e: HoodyEvent | undefined) => void>();

  constructor(
    private readonly client: HoodyClient,
    private readonly live: LiveContainers,
    private readonly onFatal: (err: unknown) => void,
  ) {}

  start(): void {
    let opened = 0;
    this.sub = this.client.events.subscribe(
      {},
      (event) => {
        this.live.apply(event);
        this.recent.unshift({ n: this.count++, event });
        if (this.recent.length > KEPT) this.recent.length = KEPT;
        for (const l of this.listeners) l(event);
      },
      {
        onOpen: () => {
          this.setState('live');
          // what happened while it was away and is not replayed (creates, deletes): read the list anew
          if (opened++ > 0) this.live.load().catch(() => undefined);
        },
        onDisconnect: () => this.setState('reconnecting'),
        onError: (err) => this.onFatal(err),
        maxRetryMs: 3000,
      },
    );
  }

  stop(): void {
    this.sub?.close();
  }

  /** Tells `listener` each event (and `undefined` when only the state changed). */
  subscribe(listener: (e: HoodyEvent | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private setState(s: StreamState): void {
    this.state = s;
    for (const l of this.listeners) l(undefined);
  }
}
