/**
 * The containers the signed-in user sees, kept current from the event stream: a transition sets a
 * row's status, an operation marks it busy and then settles it, a delete removes it for good, and
 * a container first heard of in an event is read. A read that events overtook is read again, and
 * a reload does not undo what the stream told while it ran. Listeners are told at most once per
 * animation frame, with the ids that changed, so that a burst of a hundred events costs one render.
 */
import type { Container, HoodyEvent } from '../sdk/index.ts';

export interface ContainerSource {
  /** Every container the user sees. */
  all(): Promise<Container[]>;
  /** One container; undefined when it no longer exists (or is not visible). */
  one(id: string): Promise<Container | undefined>;
}

export type Listener = (changed: ReadonlySet<string>) => void;

export class LiveContainers {
  private readonly rows = new Map<string, Container>();
  private readonly listeners = new Set<Listener>();
  private readonly pending = new Set<string>();
  /** Ids being read; those in `stale` had an event while their read was under way. */
  private readonly fetching = new Set<string>();
  private readonly stale = new Set<string>();
  /** Ids deleted: ids are never reused, so nothing brings them back. */
  private readonly gone = new Set<string>();
  /** While a reload runs: the ids the stream told of meanwhile (the list may predate them). */
  private touchedDuringLoad: Set<string> | undefined;
  private flushScheduled = false;
  loaded = false;

  constructor(
    private readonly source: ContainerSource,
    private readonly schedule: (flush: () => void) => void = (f) => requestAnimationFrame(f),
  ) {}

  /** Reads every container anew (at sign-in, and after the event stream was reconnected). */
  async load(): Promise<void> {
    const touched = new Set<string>();
    this.touchedDuringLoad = touched;
    let list: Container[];
    try {
      list = await this.source.all();
    } finally {
      if (this.touchedDuringLoad === touched) this.touchedDuringLoad = undefined;
    }
    const listed = new Set(list.map((c) => c.id));
    // a row the list lacks is gone, unless the stream spoke of it meanwhile: then ask
    for (const id of [...this.rows.keys()]) {
      if (listed.has(id)) continue;
      if (touched.has(id)) this.fetch(id);
      else this.drop(id);
    }
    for (const c of list) {
      if (this.gone.has(c.id)) continue;
      if (touched.has(c.id)) this.fetch(c.id);
      else this.set(c);
    }
    this.loaded = true;
    // the whole list is news: told now, not a frame later
    this.pending.add('*');
    this.flush();
  }

  get(id: string): Container | undefined {
    return this.rows.get(id);
  }

  list(): Container[] {
    return [...this.rows.values()];
  }

  /** Puts a container as an answer gave it (after an action, a create, an edit). */
  put(c: Container): void {
    if (this.gone.has(c.id)) return;
    const before = this.rows.get(c.id);
    // an answer older than what the stream already told is not taken
    if (before && Date.parse(before.updated_at) > Date.parse(c.updated_at)) return;
    this.set(c);
  }

  remove(id: string): void {
    this.gone.add(id);
    this.drop(id);
  }

  /** Applies one event of the stream. */
  apply(event: HoodyEvent): void {
    if (event.type === 'client') return;
    const id = event.container_id;
    if (this.gone.has(id)) return;
    this.touchedDuringLoad?.add(id);
    if (this.fetching.has(id)) this.stale.add(id);
    if (event.type === 'operation' && event.operation === 'delete' && event.phase === 'succeeded') return this.remove(id);
    const row = this.rows.get(id);
    if (!row) return this.fetch(id);
    if (event.type === 'transition') {
      // a replayed transition older than the row's state is not taken
      if (Date.parse(event.log.transition_time) < Date.parse(row.updated_at)) return;
      this.rows.set(id, { ...row, status: event.log.to_status, updated_at: event.log.transition_time, exit_code: event.log.metadata.exit_code ?? (event.log.to_status === 'running' ? null : row.exit_code) });
      return this.changed(id);
    }
    if (event.phase === 'accepted') {
      this.rows.set(id, { ...row, current_operation: { id: event.operation_id, operation: event.operation, started_at: event.at } });
    } else {
      const settled = { ...row, current_operation: null };
      if (event.status) settled.status = event.status;
      this.rows.set(id, settled);
      // what else it changed (a restore's configuration, an update, a move): read it
      if (event.operation === 'update' || event.operation === 'restore' || event.operation === 'move') this.fetch(id);
    }
    this.changed(id);
  }

  /** Tells `listener` of each change; answers the function that stops it. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(c: Container): void {
    const before = this.rows.get(c.id);
    this.rows.set(c.id, before ? { ...before, ...c } : c);
    this.changed(c.id);
  }

  private drop(id: string): void {
    if (this.rows.delete(id)) this.changed(id);
  }

  /** Reads one container; again if an event came while the read was under way (its answer may predate it). */
  private fetch(id: string): void {
    if (this.fetching.has(id)) {
      this.stale.add(id);
      return;
    }
    this.fetching.add(id);
    void (async () => {
      try {
        // a container changing without pause (a restart loop) is taken as the third read found it
        for (let reads = 1; ; reads++) {
          this.stale.delete(id);
          const c = await this.source.one(id).then(
            (found) => ({ found }),
            () => undefined,
          );
          if (this.stale.has(id) && reads < 3) continue;
          if (!c || this.gone.has(id)) return;
          if (c.found) this.set(c.found);
          else this.remove(id);
          return;
        }
      } finally {
        this.fetching.delete(id);
        this.stale.delete(id);
      }
    })();
  }

  private changed(id: string): void {
    this.pending.add(id);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.schedule(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.pending.size === 0) return;
    const ids = new Set(this.pending);
    this.pending.clear();
    for (const l of this.listeners) l(ids);
  }
}
