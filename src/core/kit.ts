/**
 * The kit's display: a virtual desktop per container with `hoody_kit`, an X server with a VNC
 * server in one process (Xvnc) run by the daemon on the host, in a cgroup of its own beside the
 * container's. It starts before the container's process (GUI programs find it through DISPLAY at
 * once) and ends when the container stops; the container sees its socket and cookie read-only.
 * A display outlives a daemon restart as the container does (the new daemon adopts it).
 *
 * Viewers connect through the daemon (the router's display host); who is connected is kept here,
 * for `runtime_info.displays` and the event stream.
 */
import type { ContainerRecord } from '../store/store.ts';
import type { EventHub, ClientEvent } from './event-hub.ts';
import { newId, nowIso } from './ids.ts';

/** What the kit needs of the display servers (src/runtime/display.ts). */
export interface DisplayHost {
  paths(id: string): { x11Dir: string; clientCookie: string; socket: string };
  prepare(id: string): Promise<unknown>;
  start(id: string): Promise<unknown>;
  pids(id: string): Promise<number[]>;
  stop(id: string): Promise<void>;
  remove(id: string): Promise<void>;
  memoryBytes(id: string): Promise<number>;
  ids(): Promise<string[]>;
}

export interface DisplayViewer {
  id: string;
  user_id: string;
  address: string | null;
  since: string;
  view_only: boolean;
}

export interface DisplaysView {
  active: boolean;
  memory_bytes: number;
  connected_clients: DisplayViewer[];
}

export interface KitDeps {
  host: DisplayHost;
  /** The container's status and server as the store has them now (undefined: no such container). */
  stateOf?: (id: string) => Promise<{ status: string; serverId: string } | undefined>;
  /** This server: a display is kept only for a container that runs here. */
  serverId?: string;
  /** How often every display is checked against its container (default 30 s; 0: never). */
  sweepMs?: number;
  events?: Pick<EventHub, 'subscribe' | 'publishClient'>;
  warn?: (message: string, err?: unknown) => void;
}

/** Statuses a container's display does not outlive. */
const ENDS_DISPLAY = new Set(['stopped', 'failed']);
/** A display started this recently is not swept: its container's start may not have recorded `running` yet. */
const SWEEP_GRACE_MS = 60_000;

export class KitDisplays {
  private readonly viewers = new Map<string, Map<string, { viewer: DisplayViewer; projectId: string; close: () => void }>>();
  private readonly feed: { close(): void } | undefined;
  /** When each display was last (re)started for its container's run: a stop older than that is not this run's. */
  private readonly runAt = new Map<string, number>();

  private readonly sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly deps: KitDeps) {
    // what an event cannot be trusted for (one missed, a clock stepped back, a container moved
    // away or recovered elsewhere) a regular look at every display catches
    const sweepMs = deps.sweepMs ?? 30_000;
    if (sweepMs > 0 && deps.stateOf) {
      this.sweeper = setInterval(() => void this.sweep().catch((err: unknown) => deps.warn?.('checking the displays', err)), sweepMs);
      this.sweeper.unref();
    }
    this.feed = deps.events?.subscribe((e) => {
      // a row can reach the hub late (behind a gap it reads from the store): a stop of an earlier run
      // must not end the display of the run that started since
      if (e.type === 'transition' && ENDS_DISPLAY.has(e.row.to_status) && !(Date.parse(e.row.transition_time) <= (this.runAt.get(e.row.container_id) ?? -Infinity))) {
        void this.stopQuietly(e.row.container_id);
      }
      if (e.type === 'operation' && e.event.phase === 'succeeded' && e.event.operation === 'delete') void this.deps.host.remove(e.event.container_id).catch((err: unknown) => this.deps.warn?.(`removing the display of ${e.event.container_id}`, err));
    });
  }

  /** The display's socket directory and cookie as the container's spec binds them; undefined without the kit. */
  specOf(c: Pick<ContainerRecord, 'id' | 'hoody_kit'>): { x11Dir: string; cookie: string } | undefined {
    if (!c.hoody_kit) return undefined;
    const p = this.deps.host.paths(c.id);
    return { x11Dir: p.x11Dir, cookie: p.clientCookie };
  }

  /**
   * Before the container's process starts: its display runs (kept when it runs already). A display
   * that fails to start is warned about, not fatal: the container runs, its display shows inactive.
   */
  async beforeRun(c: Pick<ContainerRecord, 'id' | 'hoody_kit'>): Promise<void> {
    if (!c.hoody_kit) return;
    this.runAt.set(c.id, Date.now());
    // the directories the container's binds name exist whatever happens next (runc refuses a missing source)
    await this.deps.host.prepare(c.id);
    try {
      await this.deps.host.start(c.id);
    } catch (err) {
      this.deps.warn?.(`the display of ${c.id} did not start`, err);
    }
  }

  /**
   * At daemon start: displays of running kit containers are adopted (or started anew); every other
   * one is removed (its container stopped, was deleted or moved away meanwhile: a start prepares
   * its folder again).
   */
  async reconcile(running: readonly Pick<ContainerRecord, 'id' | 'hoody_kit'>[]): Promise<void> {
    const began = Date.now();
    // the API answers meanwhile: each container's status is read again right before its display is touched
    const keep = new Set(running.filter((c) => c.hoody_kit).map((c) => c.id));
    for (const id of keep) {
      // one a start has handled since is left to it
      if ((this.runAt.get(id) ?? 0) < began && (await this.runsHere(id))) await this.beforeRun({ id, hoody_kit: true });
    }
    for (const id of await this.deps.host.ids().catch(() => [] as string[])) {
      if (keep.has(id) || (this.runAt.get(id) ?? 0) >= began || (await this.runsHere(id))) continue;
      await this.deps.host.remove(id).catch((err: unknown) => this.deps.warn?.(`removing the display of ${id}`, err));
    }
  }

  /** Whether the container runs (or is paused) on this server now; an unreadable store counts as yes (a display is kept rather than lost). */
  private async runsHere(id: string): Promise<boolean> {
    if (!this.deps.stateOf) return true;
    let state;
    try {
      state = await this.deps.stateOf(id);
    } catch {
      return true;
    }
    return state !== undefined && (this.deps.serverId === undefined || state.serverId === this.deps.serverId) && (state.status === 'running' || state.status === 'paused');
  }

  /** Stops every running display whose container does not run here (a display started in the last minute is left to its start). */
  async sweep(): Promise<void> {
    for (const id of await this.deps.host.ids()) {
      if (Date.now() - (this.runAt.get(id) ?? 0) < SWEEP_GRACE_MS) continue;
      if ((await this.deps.host.pids(id).catch(() => [] as number[])).length === 0) continue;
      if (!(await this.runsHere(id))) await this.stopQuietly(id);
    }
  }

  /** The display's socket, for a viewer's relay. */
  socketOf(id: string): string {
    return this.deps.host.paths(id).socket;
  }

  /**
   * Whether its display runs: processes in its cgroup (a start returns once Xvnc answers). Not a
   * connection to its socket: each would count against Xvnc's log and cost a round trip per read.
   */
  async isActive(id: string): Promise<boolean> {
    return (await this.deps.host.pids(id).catch(() => [] as number[])).length > 0;
  }

  async view(c: Pick<ContainerRecord, 'id' | 'hoody_kit'>): Promise<DisplaysView> {
    const connected = [...(this.viewers.get(c.id)?.values() ?? [])].map((v) => v.viewer);
    if (!c.hoody_kit) return { active: false, memory_bytes: 0, connected_clients: connected };
    const [active, memory] = await Promise.all([this.isActive(c.id), this.deps.host.memoryBytes(c.id).catch(() => 0)]);
    return { active, memory_bytes: memory, connected_clients: connected };
  }

  /** Records a viewer; `close` ends its connection (when the display stops). Returns its removal. */
  addViewer(c: Pick<ContainerRecord, 'id' | 'project_id'>, who: { userId: string; address: string | null; viewOnly: boolean }, close: () => void): () => void {
    const viewer: DisplayViewer = { id: newId(), user_id: who.userId, address: who.address, since: nowIso(), view_only: who.viewOnly };
    let set = this.viewers.get(c.id);
    if (!set) this.viewers.set(c.id, (set = new Map()));
    set.set(viewer.id, { viewer, projectId: c.project_id, close });
    this.announce('attached', c.id, c.project_id, viewer, set.size);
    return () => {
      const now = this.viewers.get(c.id);
      if (!now?.delete(viewer.id)) return;
      if (now.size === 0) this.viewers.delete(c.id);
      this.announce('detached', c.id, c.project_id, viewer, now.size);
    };
  }

  private announce(action: ClientEvent['action'], containerId: string, projectId: string, viewer: DisplayViewer, clients: number): void {
    this.deps.events?.publishClient({ action, program: 'display', index: 1, container_id: containerId, project_id: projectId, client: { ...viewer }, clients, at: nowIso() });
  }

  private async stopQuietly(id: string): Promise<void> {
    for (const v of [...(this.viewers.get(id)?.values() ?? [])]) v.close();
    await this.deps.host.stop(id).catch((err: unknown) => this.deps.warn?.(`stopping the display of ${id}`, err));
  }

  close(): void {
    this.feed?.close();
    clearInterval(this.sweeper);
    for (const set of this.viewers.values()) for (const v of [...set.values()]) v.close();
  }
}
