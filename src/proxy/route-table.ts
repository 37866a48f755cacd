/**
 * The router's routes, in memory: host name → program instance of a container, and per container
 * what the router needs to decide at once whether to serve it (its status, an operation that is
 * taking it down, its address, its owner). Kept in step with the daemon's transitions: an event
 * marks a container at once (synchronously, before the API answers the operation), then its record
 * is read again. A change is a Map write: requests and tunnels of other routes are never touched.
 */
import type { Socket } from 'node:net';
import type { ContainerStatus } from '../api/schemas.ts';
import type { HubEvent } from '../core/event-hub.ts';
import { aliasHost, allPrograms, isBuiltin, serviceHost, type ServiceUrls } from '../core/services.ts';
import type { ContainerRecord, ProgramRecord, ProxyAliasRecord } from '../store/store.ts';

/** One host the router serves. */
export interface HostRoute {
  containerId: string;
  program: string;
  index: number;
  /** Prepended to the request's path (`/` keeps it). */
  targetPath: string;
  public: boolean;
  /** The alias behind this host, when it is one. */
  alias?: string;
  /** A program the daemon serves itself (`terminal`), not the container. */
  builtin?: string;
}

/** What the router knows of one container. */
export interface RoutedContainer {
  id: string;
  ownerId: string;
  projectId: string;
  status: ContainerStatus;
  /** An operation in flight that takes it down (stop, pause, restart, delete): not served meanwhile. */
  leaving: string | undefined;
  /** Its address on the server's bridge; null with network `none`. */
  address: string | null;
  programs: readonly ProgramRecord[];
  /** The hosts routed to it (its programs' and its aliases'). */
  hosts: string[];
  /** Upgraded connections (WebSockets) through the router: closed when it stops. */
  tunnels: Set<Socket>;
}

/** Where the table reads what it routes. */
export interface RouteSource {
  /** The server's containers that have programs or aliases. */
  all(): Promise<{ containers: ContainerRecord[]; aliases: ProxyAliasRecord[] }>;
  /** One container (undefined when gone or on another server) and its aliases. */
  one(id: string): Promise<{ container: ContainerRecord | undefined; aliases: ProxyAliasRecord[] }>;
  /** The user owning a project. */
  ownerOf(projectId: string): Promise<string | undefined>;
}

/** Operations that take a container's services down from the moment they are accepted. */
const LEAVING = new Set(['stop', 'force-stop', 'restart', 'pause', 'delete']);
/** Operations whose acceptance also closes the container's tunnels (its programs are going away). */
const CLOSING = new Set(['stop', 'force-stop', 'restart', 'delete']);

/** How long a deleted alias answers 503 (not 404), so clients retry while it is pointed elsewhere (delete, then create). */
export const ALIAS_GRACE_MS = 30_000;

export class RouteTable {
  private readonly hosts = new Map<string, HostRoute>();
  /** Alias hosts deleted within ALIAS_GRACE_MS, with when. */
  private readonly removedAliases = new Map<string, number>();
  private readonly containers = new Map<string, RoutedContainer>();
  /**
   * Per container, the last operation announced finished: the daemon announces a failure before it
   * releases the claim in the record, so a read in between still shows it and must not mark it again.
   */
  private readonly finished = new Map<string, string>();
  /** The latest refresh begun per container: an older one finishing late applies nothing. */
  private readonly generation = new Map<string, number>();
  private syncGeneration = 0;
  private nextGeneration = 0;

  constructor(
    private readonly source: RouteSource,
    private readonly urls: ServiceUrls,
    private readonly warn: (message: string, err?: unknown) => void = () => undefined,
  ) {}

  /** The route of a host (lower case, no port), and its container. */
  lookup(host: string): { route: HostRoute; container: RoutedContainer } | undefined {
    const route = this.hosts.get(host);
    const container = route && this.containers.get(route.containerId);
    return route && container ? { route, container } : undefined;
  }

  /** Whether a host is one the router serves (for a TLS terminator's on-demand `ask`). */
  has(host: string): boolean {
    return this.hosts.has(host);
  }

  /** Whether a host is an alias deleted moments ago (it may be about to point elsewhere). */
  recentlyRemoved(host: string, now = performance.now()): boolean {
    const at = this.removedAliases.get(host);
    if (at === undefined) return false;
    if (now - at < ALIAS_GRACE_MS) return true;
    this.removedAliases.delete(host);
    return false;
  }

  /** Unroutes a host; an alias is remembered for a while. */
  private unroute(host: string, route: HostRoute | undefined): void {
    this.hosts.delete(host);
    if (route?.alias === undefined) return;
    const now = performance.now();
    if (this.removedAliases.size > 10_000) for (const [h, at] of this.removedAliases) if (now - at >= ALIAS_GRACE_MS) this.removedAliases.delete(h);
    this.removedAliases.set(host, now);
  }

  get size(): number {
    return this.hosts.size;
  }

  /** Reads every route again (at start, and now and then to pick up what other daemons changed). */
  async sync(): Promise<void> {
    const gen = ++this.nextGeneration;
    this.syncGeneration = gen;
    const { containers, aliases } = await this.source.all();
    if (this.syncGeneration !== gen) return;
    const byContainer = new Map<string, ProxyAliasRecord[]>();
    for (const a of aliases) {
      const list = byContainer.get(a.container_id) ?? [];
      list.push(a);
      byContainer.set(a.container_id, list);
    }
    const owners = new Map<string, string | undefined>();
    for (const c of containers) if (!owners.has(c.project_id)) owners.set(c.project_id, await this.source.ownerOf(c.project_id));
    const seen = new Set<string>();
    for (const c of containers) {
      seen.add(c.id);
      // a refresh begun after this sync read its own, newer record
      if ((this.generation.get(c.id) ?? 0) > gen) continue;
      this.apply(c, byContainer.get(c.id) ?? [], owners.get(c.project_id));
    }
    for (const id of [...this.containers.keys()]) if (!seen.has(id) && (this.generation.get(id) ?? 0) < gen) this.drop(id);
  }

  /** Reads one container's routes again. */
  async refresh(id: string): Promise<void> {
    const gen = ++this.nextGeneration;
    this.generation.set(id, gen);
    const { container, aliases } = await this.source.one(id);
    const owner = container ? await this.source.ownerOf(container.project_id) : undefined;
    if (this.generation.get(id) !== gen) return;
    if (!container) this.drop(id);
    else this.apply(container, aliases, owner);
  }

  /**
   * Takes the daemon's events: an operation that takes a container down marks it at once (and a
   * stop closes its tunnels); a transition sets its status at once; both then read it again.
   */
  onEvent(e: HubEvent): void {
    if (e.type === 'transition') {
      const c = this.containers.get(e.row.container_id);
      if (c) {
        c.status = e.row.to_status;
        if (e.row.to_status !== 'running') this.closeTunnels(c);
      }
      this.refreshSoon(e.row.container_id);
      return;
    }
    if (e.type !== 'operation') return;
    const { phase, operation, container_id: id } = e.event;
    const c = this.containers.get(id);
    if (phase === 'accepted') {
      if (c && LEAVING.has(operation)) {
        c.leaving = operation;
        if (CLOSING.has(operation)) this.closeTunnels(c);
        // a read begun before the claim must not clear the mark: this newer read supersedes it
        this.refreshSoon(id);
      }
      return;
    }
    // succeeded or failed: what it left is read again; a failed stop leaves it running and served
    if (c && c.leaving === operation) c.leaving = undefined;
    if (c) this.finished.set(id, e.event.operation_id);
    this.refreshSoon(id);
  }

  /** Forgets everything (the router stops). */
  clear(): void {
    for (const c of this.containers.values()) this.closeTunnels(c);
    this.containers.clear();
    this.hosts.clear();
  }

  private refreshSoon(id: string): void {
    this.refresh(id).catch((err: unknown) => this.warn(`router: reading container ${id}`, err));
  }

  private apply(c: ContainerRecord, aliases: readonly ProxyAliasRecord[], ownerId: string | undefined): void {
    const programs = allPrograms(c);
    const labels = c.service_labels ?? [];
    const hosts: [string, HostRoute][] = [];
    programs.forEach((p, i) => {
      const label = labels[i];
      if (label) hosts.push([serviceHost(this.urls, label), { containerId: c.id, program: p.name, index: p.index, targetPath: '/', public: p.public, ...(isBuiltin(p) ? { builtin: p.name } : {}) }]);
    });
    for (const a of aliases) {
      const target = programs.find((p) => p.name === a.program && p.index === a.index);
      hosts.push([aliasHost(this.urls, a.alias), { containerId: c.id, program: a.program, index: a.index, targetPath: a.target_path, public: a.public, alias: a.alias, ...(target && isBuiltin(target) ? { builtin: target.name } : {}) }]);
    }
    if (hosts.length === 0 || ownerId === undefined) {
      this.drop(c.id);
      return;
    }
    const known = this.containers.get(c.id);
    const entry: RoutedContainer = known ?? { id: c.id, ownerId, projectId: c.project_id, status: c.status, leaving: undefined, address: null, programs: [], hosts: [], tunnels: new Set() };
    entry.ownerId = ownerId;
    entry.status = c.status;
    entry.address = c.ipv4_address;
    entry.programs = programs;
    // an operation still in flight that takes it down keeps it marked; any other claim (or none) clears it
    const op = c.current_operation;
    entry.leaving = op && LEAVING.has(op.operation) && this.finished.get(c.id) !== op.id ? op.operation : undefined;
    if (c.status !== 'running') this.closeTunnels(entry);
    const next = new Set(hosts.map(([h]) => h));
    for (const h of entry.hosts) {
      const route = this.hosts.get(h);
      if (!next.has(h) && route?.containerId === c.id) this.unroute(h, route);
    }
    for (const [h, r] of hosts) {
      this.hosts.set(h, r);
      this.removedAliases.delete(h);
    }
    entry.hosts = [...next];
    this.containers.set(c.id, entry);
  }

  private drop(id: string): void {
    const c = this.containers.get(id);
    if (!c) return;
    this.closeTunnels(c);
    this.finished.delete(id);
    for (const h of c.hosts) {
      const route = this.hosts.get(h);
      if (route?.containerId === id) this.unroute(h, route);
    }
    this.containers.delete(id);
  }

  private closeTunnels(c: RoutedContainer): void {
    for (const s of c.tunnels) s.destroy();
    c.tunnels.clear();
  }
}

/** Whether the router serves a container now, or why not. */
export function servingState(c: RoutedContainer): { ok: true } | { ok: false; status: string } {
  if (c.status !== 'running') return { ok: false, status: c.status };
  if (c.leaving) return { ok: false, status: c.leaving === 'pause' ? 'pausing' : c.leaving === 'restart' ? 'restarting' : 'stopping' };
  return { ok: true };
}
