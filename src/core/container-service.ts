/**
 * Containers as users see them: create, read, update, delete, and the lifecycle operations,
 * each claimed in the store (one operation per container, across daemons), carried out on the
 * runtime, and recorded with its status log row in one transaction.
 */
import type { BulkItemResult, ContainerStatus, CopyContainerBody, CreateContainerBody, LifecycleBody, LifecycleOperation, PortRequest as PortRequestBody, RuntimeInfo, ServiceView, UpdateContainerBody } from '../api/schemas.ts';
import type { ContainerFilter, ContainerRecord, NewStatusLog, RestorableConfig, Store, StatusLogRecord } from '../store/store.ts';
import { AddressTakenError, ContainerLimitError, NameTakenError, newestLogRow, PortTakenError, ServiceNameTakenError } from '../store/store.ts';
import { allPrograms, kitPrograms, normalizePrograms, serviceLabels, serviceViews, type ServiceUrls } from './services.ts';
import type { TerminalView } from './terminals.ts';
import type { KitDisplays } from './kit.ts';
import type { ContainerAddress, ContainerNetwork, ContainerNetworkSpec, HostEntry, NetworkMode, PublishedPort } from '../network/types.ts';
import { gatewayOf, ipv4InSubnet, parseIpv4Cidr, type Ipv4Subnet } from '../network/ipv4.ts';
import { isHostPortFree } from '../network/port-probe.ts';
import { checkPortRequests, chooseAddress, choosePorts, HOST_PORT_POOL, type CheckedPortRequest, type HostPortProbe } from './network-plan.ts';
import type { ContainerSpec, RuntimeDriver, RuntimeProcess, RuntimeState } from '../runtime/driver.ts';
import { RuntimeError } from '../runtime/driver.ts';
import { type Actor, type Principal, principalOf, principalMetadata, AUTOSTART, SYSTEM, RESTART_POLICY } from './actor.ts';
import type { RestartPolicySettings } from './restart-policy.ts';
import { RestartScheduler } from './restart-scheduler.ts';
import type { EventHub, OperationEvent } from './event-hub.ts';
import { HoodyError, invalidInput, notFound } from './errors.ts';
import { checkAction, type Action } from './transitions.ts';
import { assertWithinMaxima, containerCapReached, DEFAULT_RESOURCES, lowerToMaxima, resourcesFor, type Limits } from './limits.ts';
import { newId, nowIso } from './ids.ts';
import { runEach } from './bulk.ts';
import type { ProjectService } from './project-service.ts';
import { NO_OBSERVER, type CoreObserver } from './observer.ts';

export interface ServerIdentity {
  id: string;
  name: string;
}

/** When a new container's image is pulled: when missing here (the default), every time, or never. */
export type PullPolicy = 'missing' | 'always' | 'never';

/** The images containers run from, as the core needs them. */
export interface ImageCatalog {
  /**
   * Makes a new container's image available as the policy says (pulling it when missing) and
   * checks that a container with this command can run from it; answers the image's id, held
   * (no image delete or prune removes it) until `release`. Throws a HoodyError: IMAGE_NOT_FOUND,
   * IMAGE_PULL_FAILED, IMAGE_TOO_LARGE, IMAGE_AMBIGUOUS or INVALID_INPUT.
   */
  ensure(reference: string, opts: { pull: PullPolicy; command: string[] | null; signal?: AbortSignal }): Promise<ImageLease>;
}

/** An image held for a container until `release`. */
export interface ImageLease {
  id: string;
  release(): void;
}

/** The server's network as the control plane needs it (absent, or mode `none`: no bridge, every container `none`). */
export interface ContainerServiceNetwork {
  mode: NetworkMode;
  /** The bridge's IPv4 subnet in CIDR form; containers' addresses are allocated from it. */
  subnet: string;
  /** Whether nothing on the host binds a port; the default tries to bind it. */
  isHostPortFree?: HostPortProbe;
  /** The host-side layer: rewrites running containers' /etc/hosts, reads their addresses. */
  host?: Pick<ContainerNetwork, 'updateHosts' | 'addresses'>;
}

export interface ContainerServiceDeps {
  store: Store;
  driver: RuntimeDriver;
  projects: ProjectService;
  images: ImageCatalog;
  server: ServerIdentity;
  restartSettings?: RestartPolicySettings;
  /** Server maxima and the per-user container cap; none without it. */
  limits?: Limits;
  /** Where transitions and operation outcomes are announced. */
  events?: EventHub;
  /** How long to wait for the exit after SIGKILL before declaring the container failed. */
  killWaitMs?: number;
  /** Reports problems that have no caller to answer (exit handling). */
  warn?: (message: string, err?: unknown) => void;
  /** Told the outcome and duration of every claimed operation (metrics). */
  observer?: CoreObserver;
  /** The server's bridge network; without it (or with mode `none`) every container has loopback only. */
  network?: ContainerServiceNetwork;
  /** How service URLs are written (the router's domain); the `localhost` domain and no URLs without it. */
  serviceUrls?: ServiceUrls;
}

/** How often a create or update picks again after another container took the address or host port it picked. */
const NETWORK_PICK_ATTEMPTS = 8;

export const DEFAULT_STOP_TIMEOUT_S = 10;
/** After SIGKILL of every process, how long to wait for the exit before calling it failed. */
const KILL_WAIT_MS = 10_000;
/** Added to every operation's deadline for the runtime calls around the waits. */
const OPERATION_SLACK_MS = 30_000;
const noop = (): void => undefined;
/** A recovery's claim older than this is taken to be its daemon's, killed part-way: another recovery may take it over. */
const RECOVERY_CLAIM_STALE_MS = 10 * 60_000;
/** How often a recovery renews its claim's time. */
const RECOVERY_CLAIM_RENEW_MS = 60_000;
/** Operations on a container's files (snapshot, restore, copy): their time grows with the files, not with stop timeouts. */
const FILE_OPERATIONS: readonly Action[] = ['snapshot', 'restore', 'copy', 'move'];
/** Longest a snapshot, restore or copy may take before its work is aborted. */
const FILE_OPERATION_DEADLINE_MS = 6 * 3600_000;

/** A container's files replaced and the replaced ones kept until the change is recorded. */
export interface FilesSwap {
  /** The change is recorded: the replaced files go. */
  commit(): Promise<void>;
  /** The change could not be recorded: the replaced files come back. */
  undo(): Promise<void>;
}

/** What the holder of a container's claim (a snapshot, restore or copy of it) can do with it. */
export interface HeldContainer {
  readonly operationId: string;
  /** Aborted when the operation's deadline passes. */
  readonly signal: AbortSignal | undefined;
}

/** One claimed operation in progress. */
interface OperationContext {
  opId: string;
  operation: string;
  by: Principal;
  reason?: string;
  t0: number;
  /** Aborts the operation's runtime calls when its deadline passes. */
  signal?: AbortSignal;
  /** More metadata for the operation's log rows. */
  extra?: Record<string, unknown>;
  /** Set once a transition released the claim in its own transaction: nothing is left to release. */
  released?: boolean;
}

export class ContainerService {
  private readonly pendingExits = new Set<string>();
  /** Operations this process is carrying out, by container id. */
  private readonly inFlight = new Map<string, { opId: string; done: Promise<void>; ctx?: OperationContext }>();
  private closing = false;
  private readonly restarts: RestartScheduler;
  /** Exit events being recorded. */
  private readonly exitsInHand = new Set<Promise<unknown>>();
  private unsubscribe: (() => void) | undefined;
  private readonly observer: CoreObserver;
  /** The server's bridge subnet; undefined when the server has no bridge. */
  private readonly subnet: Ipv4Subnet | undefined;

  constructor(private readonly deps: ContainerServiceDeps) {
    this.observer = deps.observer ?? NO_OBSERVER;
    if (deps.network?.mode === 'bridge') {
      this.subnet = parseIpv4Cidr(deps.network.subnet);
      if (!this.subnet) throw new Error(`network subnet "${deps.network.subnet}" is not an IPv4 subnet in CIDR form`);
    }
    this.restarts = new RestartScheduler({
      store: deps.store,
      settings: deps.restartSettings,
      warn: deps.warn,
      start: (id, reason, extra) => this.operateAsSystem(id, 'start', RESTART_POLICY, reason, extra),
    });
  }

  /** Starts following the runtime's exit events. */
  watchExits(): void {
    this.unsubscribe ??= this.deps.driver.onExit((e) => {
      // tracked, so a shutdown lets an exit's row and its restart decision be written first
      const handled = this.reconcile(e.id, 'exit').catch((err) => this.deps.warn?.(`exit of ${e.id}`, err));
      this.exitsInHand.add(handled);
      void handled.finally(() => this.exitsInHand.delete(handled));
    });
  }

  /**
   * Stops taking new operations, lets those in flight finish (their deadlines bound the wait)
   * and cancels pending restarts. Containers keep running.
   */
  async close(): Promise<void> {
    this.closing = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.restarts.close();
    await Promise.all([...this.inFlight.values()].map((f) => f.done));
    await Promise.all([...this.exitsInHand]);
  }

  /** Schedules again the restarts the policy had decided before the daemon last stopped; answers how many. */
  resumeRestarts(): Promise<number> {
    return this.restarts.resume(this.deps.server.id);
  }

  /** Whether this process is carrying out the operation that holds a container. */
  isInFlight(containerId: string, opId: string): boolean {
    return this.inFlight.get(containerId)?.opId === opId;
  }

  /** Every container the actor may see (bounded by the per-user cap), for bulk operations. */
  async list(actor: Actor, filter: Omit<ContainerFilter, 'owner_id' | 'server_id'> = {}): Promise<ContainerRecord[]> {
    return this.deps.store.listContainers({ ...filter, owner_id: actor.userId });
  }

  /** One page of the containers the actor may see, and how many there are in all. */
  async listPage(actor: Actor, filter: Omit<ContainerFilter, 'owner_id' | 'server_id'>, page: { page: number; limit: number }): Promise<{ containers: ContainerRecord[]; total: number }> {
    const mine = { ...filter, owner_id: actor.userId };
    const [containers, total] = await Promise.all([this.deps.store.listContainers(mine, { limit: page.limit, offset: (page.page - 1) * page.limit }), this.deps.store.countContainers(mine)]);
    return { containers, total };
  }

  /** A container the actor may see; another user's container is not found, not forbidden. */
  async get(actor: Actor, id: string): Promise<ContainerRecord> {
    const c = await this.deps.store.getContainer(id);
    if (!c || !(await this.deps.projects.isOwner(actor, c.project_id))) throw notFound('container', id);
    return c;
  }

  /** What the runtime shows for a container now (null when it knows no such container). */
  async observedStatus(c: ContainerRecord): Promise<ContainerStatus | null> {
    if (c.server_id !== this.deps.server.id) return null;
    return observedStatus(await this.deps.driver.state(c.id).catch(() => undefined)) ?? null;
  }

  async runtimeInfo(c: ContainerRecord): Promise<RuntimeInfo> {
    const state = await this.deps.driver.state(c.id).catch(() => undefined);
    const stats = state && (state.status === 'running' || state.status === 'paused') ? await this.deps.driver.stats(c.id).catch(() => undefined) : undefined;
    const displays = (await this.kit?.view(c)) ?? { active: false, memory_bytes: 0, connected_clients: [] };
    return {
      pid: state?.pid ?? null,
      processes: stats?.processes ?? [],
      processes_total: stats?.processCount ?? 0,
      memory_bytes: stats?.memoryBytes ?? 0,
      cpu_usage_ns: stats?.cpuUsageNs ?? 0,
      listening_ports: stats?.listeningPorts ?? [],
      addresses: await this.addressesOf(c),
      ports: c.ports,
      services: serviceViews(c, this.serviceUrls, stats?.listeningPorts ?? [], state?.status === 'running' && c.status === 'running', displays.active),
      terminals: this.terminalsOf(c.id),
      displays,
    };
  }

  /** A container's services: its programs with their URLs, and whether each port listens now. */
  async services(c: ContainerRecord): Promise<ServiceView[]> {
    if (allPrograms(c).length === 0) return [];
    const running = c.status === 'running' && c.server_id === this.deps.server.id;
    const listening = running ? ((await this.deps.driver.stats(c.id).catch(() => undefined))?.listeningPorts ?? []) : [];
    const displayReady = running && c.hoody_kit && ((await this.kit?.view(c))?.active ?? false);
    return serviceViews(c, this.serviceUrls, listening, running, displayReady);
  }

  /** Removes what else a deleted container held (its snapshots' files); set once the snapshot store is open. */
  afterDelete: (id: string) => Promise<void> = () => Promise.resolve();

  /** The open terminal sessions of a container (runtime_info.terminals); set once the sessions exist. */
  terminalsOf: (id: string) => TerminalView[] = () => [];

  /** The kit's displays; set once they exist (without it, hoody_kit containers run without a display). */
  kit: Pick<KitDisplays, 'specOf' | 'beforeRun' | 'view'> | undefined;

  /** How service URLs are written on this server. */
  get serviceUrls(): ServiceUrls {
    return this.deps.serviceUrls ?? NO_ROUTER;
  }

  async create(actor: Actor, body: CreateContainerBody, opts: { signal?: AbortSignal } = {}): Promise<ContainerRecord> {
    const project = body.project_id ? await this.deps.projects.get(actor, body.project_id) : await this.deps.projects.defaultFor(actor);
    const programs = normalizePrograms(body.programs ?? []);
    const labels = serviceLabels(project.name, body.name, [...programs, ...kitPrograms({ hoody_kit: body.hoody_kit ?? false })]);
    const limits = this.deps.limits;
    if (limits && body.resources) assertWithinMaxima(body.resources, limits.maxResources);
    const networkMode = body.network ?? (this.subnet ? 'bridge' : 'none');
    const portRequests = this.checkNetworkRequest(networkMode, body.network !== undefined, body.ports);
    // pulled before the row is written: a failed pull creates nothing
    const image = await this.deps.images.ensure(body.container_image, { pull: body.pull ?? 'missing', command: body.command ?? null, ...(opts.signal ? { signal: opts.signal } : {}) });
    const imageId = image.id;
    const now = nowIso();
    const opId = newId();
    const autostart = body.autostart ?? true;
    const base: ContainerRecord = {
      id: newId(),
      name: body.name,
      project_id: project.id,
      server_id: this.deps.server.id,
      status: 'creating',
      desired_status: autostart ? 'running' : 'stopped',
      container_image: body.container_image,
      image_id: imageId,
      command: body.command ?? null,
      environment_vars: body.environment_vars ?? {},
      autostart,
      hoody_kit: body.hoody_kit ?? false,
      resources: limits ? resourcesFor(body.resources, limits.maxResources) : { ...DEFAULT_RESOURCES, ...body.resources },
      stop_timeout: body.stop_timeout ?? DEFAULT_STOP_TIMEOUT_S,
      restart_policy: body.restart_policy ?? 'no',
      current_operation: { id: opId, operation: 'create', started_at: now },
      exit_code: null,
      created_at: now,
      updated_at: now,
      version: 0,
      network_mode: networkMode,
      ipv4_address: null,
      ports: [],
      programs,
      service_labels: labels,
    };
    const ctx: OperationContext = { opId, operation: 'create', by: principalOf(actor), t0: performance.now() };
    return this.bringIntoBeing(actor, base, project, { ports: portRequests, image, ctx, start: autostart });
  }

  /**
   * The second half of a create or a copy: writes the new container's row (its address and host
   * ports picked again when another write took them; with `firstLog` as its first log row), makes
   * its runtime bundle, lets `fill` write its files (a copy's), records it `stopped` (`failed`, with
   * the error, when that fails), and starts it when asked. The image is held until the row exists.
   */
  private async bringIntoBeing(
    actor: Actor,
    base: ContainerRecord,
    project: { id: string; name: string; owner_id: string },
    opts: {
      ports: readonly CheckedPortRequest[];
      image: { release(): void };
      ctx: OperationContext;
      start: boolean;
      firstLog?: NewStatusLog;
      fill?: (target: ContainerRecord) => Promise<void>;
    },
  ): Promise<ContainerRecord> {
    const { ctx } = opts;
    const op = ctx.operation;
    const limits = this.deps.limits;
    let record = base;
    try {
      await this.pickingAgain(opts.ports, async () => {
        if (base.network_mode === 'bridge') record = { ...base, ...(await this.pickNetwork(opts.ports, { id: base.id })) };
        await this.deps.store.createContainer(record, opts.firstLog, limits ? { ownerLimit: { owner_id: project.owner_id, max: limits.maxContainersPerUser } } : {});
      });
    } catch (err) {
      if (err instanceof NameTakenError) throw await this.nameTaken(base.name, project);
      if (err instanceof ContainerLimitError) throw containerCapReached(err.count, err.max);
      throw networkClash(err);
    } finally {
      // the row (if written) now tells an image delete that the image is in use
      opts.image.release();
    }
    let made: ContainerRecord;
    // known to the watchdog as carried out here, however long building the image or writing the files takes
    let finished: () => void = noop;
    this.inFlight.set(record.id, { opId: ctx.opId, done: new Promise<void>((r) => (finished = r)) });
    try {
      await this.deps.driver.create(await this.specOf(record));
      await opts.fill?.(record);
      made = await this.record(record, 'stopped', ctx, { finish: true });
      this.observer.operationFinished(op, 'ok', (performance.now() - ctx.t0) / 1000);
    } catch (err) {
      this.observer.operationFinished(op, 'error', (performance.now() - ctx.t0) / 1000);
      await this.record(record, 'failed', ctx, { finish: true, error: errorText(err) }).catch((e: unknown) => this.deps.warn?.(`recording the failed ${op} of ${record.id}`, e));
      throw err instanceof HoodyError ? err : runtimeFailure(op, record, err);
    } finally {
      this.inFlight.delete(record.id);
      finished();
    }
    try {
      if (!opts.start) return made;
      try {
        return await this.operate(actor, made.id, 'start', {});
      } catch (err) {
        throw await this.startAfterCreateFailed(made, err);
      }
    } finally {
      // the project's running containers learn the new name, whether or not it started
      if (record.ipv4_address) await this.refreshProjectHosts(record.project_id);
    }
  }

  /**
   * Refuses what this server cannot give (NETWORK_DISABLED: a bridge, or ports, without one) and
   * ports without network `bridge` (INVALID_INPUT); answers the port requests checked, defaults filled in.
   */
  private checkNetworkRequest(mode: NetworkMode, modeAsked: boolean, ports: readonly PortRequestBody[] | undefined): CheckedPortRequest[] {
    if (!this.subnet && ((modeAsked && mode === 'bridge') || (ports && ports.length > 0))) {
      throw new HoodyError('NETWORK_DISABLED', 'this server runs without a bridge network (HOODY_NETWORK=none): containers have loopback only and publish no ports');
    }
    if (mode === 'none' && ports && ports.length > 0) throw invalidInput('published ports need network "bridge"; this container\'s network is "none"', { field: 'ports' });
    return checkPortRequests(ports ?? []);
  }

  /**
   * An address (the one it has, or the lowest free one) and host ports for a bridge container,
   * from what the store shows taken on this server now (the container's own ports excepted).
   */
  /**
   * A bridge container whose address is not of the server's subnet (the subnet changed since it
   * was given) gets a new one before it runs, and its project's names follow.
   */
  private async addressed(c: ContainerRecord): Promise<ContainerRecord> {
    const subnet = this.subnet;
    if (!subnet || c.network_mode !== 'bridge' || (c.ipv4_address && ipv4InSubnet(c.ipv4_address, subnet))) return c;
    const updated = await this.pickingAgain([], async () => this.deps.store.updateContainer(c.id, { ipv4_address: (await this.pickNetwork([], { id: c.id })).ipv4_address })).catch((err: unknown) => {
      throw networkClash(err);
    });
    if (!updated) return c;
    await this.refreshProjectHosts(c.project_id);
    return updated;
  }

  /**
   * Runs `pickAndWrite` (an address or host ports picked, then written) again when the write
   * finds what it picked taken by a create or update of the same moment (see pickAgain).
   */
  private async pickingAgain<T>(requests: readonly CheckedPortRequest[], pickAndWrite: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await pickAndWrite();
      } catch (err) {
        if (!this.pickAgain(err, requests, attempt)) throw err;
      }
    }
  }

  private async pickNetwork(requests: readonly CheckedPortRequest[], c: { id: string; ipv4_address?: string | null; ports?: readonly PublishedPort[] }): Promise<{ ipv4_address: string; ports: PublishedPort[] }> {
    const subnet = this.subnet;
    if (!subnet) throw new HoodyError('NETWORK_DISABLED', 'this server runs without a bridge network (HOODY_NETWORK=none): no address or port can be given');
    const serverId = this.deps.server.id;
    // an address of another subnet (the server's changed) is not kept
    let address = c.ipv4_address && ipv4InSubnet(c.ipv4_address, subnet) ? c.ipv4_address : undefined;
    if (!address) {
      address = chooseAddress(subnet, new Set(await this.deps.store.takenAddresses(serverId)));
      if (!address) throw new HoodyError('ADDRESS_POOL_EXHAUSTED', `every address of the subnet ${subnet.cidr} is given to a container`, { subnet: subnet.cidr });
    }
    if (requests.length === 0) return { ipv4_address: address, ports: [] };
    const held = await this.deps.store.takenHostPorts(serverId);
    const taken = new Set(held.filter((p) => p.container_id !== c.id).map((p) => `${p.protocol}/${p.host_port}`));
    const own = new Set((c.ports ?? []).map((p) => `${p.protocol}/${p.host_port}`));
    const start = HOST_PORT_POOL.first + Math.floor(Math.random() * (HOST_PORT_POOL.last - HOST_PORT_POOL.first + 1));
    const chosen = await choosePorts(requests, { taken, own, probe: this.deps.network?.isHostPortFree ?? isHostPortFree, start });
    if (chosen.ok) return { ipv4_address: address, ports: chosen.ports };
    const f = chosen.failure;
    if (f.kind === 'pool-exhausted') {
      throw new HoodyError('PORT_POOL_EXHAUSTED', `no free ${f.protocol} host port is left in ${HOST_PORT_POOL.first}-${HOST_PORT_POOL.last}`, { protocol: f.protocol });
    }
    throw portInUse(f.protocol, f.host_port, f.held_by);
  }

  /** After a clash at the write: whether to pick again (an address, or a host port that was chosen, not asked for). */
  private pickAgain(err: unknown, requests: readonly CheckedPortRequest[], attempt: number): boolean {
    if (attempt >= NETWORK_PICK_ATTEMPTS) return false;
    if (err instanceof AddressTakenError) return true;
    if (err instanceof PortTakenError) return !requests.some((r) => r.host_port === err.hostPort && r.protocol === err.protocol);
    return false;
  }

  /** The names a bridge container resolves: the other containers of its project on this server that have an address. */
  private static hostsOf(c: ContainerRecord, peers: readonly ContainerRecord[]): HostEntry[] {
    return peers.filter((p) => p.id !== c.id && p.network_mode === 'bridge' && p.ipv4_address).map((p) => ({ name: p.name, address: p.ipv4_address as string }));
  }

  /** The network a container is attached with, or undefined (loopback only). */
  private networkSpecOf(c: ContainerRecord, peers: readonly ContainerRecord[]): ContainerNetworkSpec | undefined {
    const subnet = this.subnet;
    if (!subnet || c.network_mode !== 'bridge' || !c.ipv4_address) return undefined;
    return {
      group: c.project_id,
      ipv4: { address: c.ipv4_address, prefixLength: subnet.prefixLength, gateway: gatewayOf(subnet) },
      ports: c.ports,
      hostname: c.name,
      hosts: ContainerService.hostsOf(c, peers),
    };
  }

  /** The containers of a project on this server. */
  private projectPeers(projectId: string): Promise<ContainerRecord[]> {
    return this.deps.store.listContainers({ project_id: projectId, server_id: this.deps.server.id });
  }

  /**
   * Rewrites /etc/hosts of the project's running bridge containers on this server (after a create,
   * rename, delete or network change); a failure is only warned: the next change or start repairs it.
   */
  private async refreshProjectHosts(projectId: string): Promise<void> {
    const host = this.deps.network?.host;
    if (!this.subnet || !host) return;
    try {
      const peers = await this.projectPeers(projectId);
      for (const c of peers) {
        if ((c.status !== 'running' && c.status !== 'paused') || c.network_mode !== 'bridge' || !c.ipv4_address) continue;
        await host.updateHosts(c.id, ContainerService.hostsOf(c, peers)).catch((err: unknown) => this.deps.warn?.(`names of ${c.id}`, err));
      }
    } catch (err) {
      this.deps.warn?.(`names of project ${projectId}`, err);
    }
  }

  /**
   * The network of every container of this server whose runtime state is running or paused, or
   * that is being created, started or restarted here, for the host layer's reconcile at start (it
   * removes what none of them owns, restores what they need).
   */
  async networkSpecs(): Promise<Map<string, ContainerNetworkSpec>> {
    const specs = new Map<string, ContainerNetworkSpec>();
    if (!this.subnet) return specs;
    const live = new Set((await this.deps.driver.list()).filter((s) => s.status === 'running' || s.status === 'paused').map((s) => s.id));
    const all = await this.deps.store.listContainers({ server_id: this.deps.server.id });
    const byProject = new Map<string, ContainerRecord[]>();
    for (const c of all) {
      const peers = byProject.get(c.project_id);
      if (peers) peers.push(c);
      else byProject.set(c.project_id, [c]);
    }
    for (const c of all) {
      // a container being created, started or restarted here is about to run: its network stays
      const starting = this.inFlight.has(c.id) || (c.current_operation !== null && ['create', 'start', 'restart'].includes(c.current_operation.operation));
      if (!live.has(c.id) && !starting) continue;
      const spec = this.networkSpecOf(c, byProject.get(c.project_id) ?? []);
      if (spec) specs.set(c.id, spec);
    }
    return specs;
  }

  /** The container's addresses as its namespace has them now ([] without a host layer, or with network none). */
  private async addressesOf(c: ContainerRecord): Promise<ContainerAddress[]> {
    const host = this.deps.network?.host;
    if (!host || c.network_mode !== 'bridge' || c.server_id !== this.deps.server.id) return [];
    return host.addresses(c.id).catch(() => []);
  }

  /** NAME_TAKEN, naming the container that has the name, so a retried create can find what the first one made. */
  private async nameTaken(name: string, project: { id: string; name: string }): Promise<HoodyError> {
    const [existing] = await this.deps.store.listContainers({ project_id: project.id, name });
    return new HoodyError('NAME_TAKEN', `container name "${name}" is already used in project "${project.name}"`, existing ? { container_id: existing.id, status: existing.status } : undefined);
  }

  /** The container exists even though its first start failed: the error says which one it is and how it was left. */
  private async startAfterCreateFailed(created: ContainerRecord, err: unknown): Promise<unknown> {
    if (!(err instanceof HoodyError) || err.code !== 'RUNTIME_ERROR') return err;
    const now = (await this.deps.store.getContainer(created.id)) ?? created;
    return new HoodyError('RUNTIME_ERROR', err.message, {
      ...err.details,
      container_id: created.id,
      status: now.status,
    });
  }

  async update(actor: Actor, id: string, patch: UpdateContainerBody, opts: { ifVersion?: number } = {}): Promise<ContainerRecord> {
    const visible = await this.get(actor, id);
    if (this.deps.limits && patch.resources) assertWithinMaxima(patch.resources, this.deps.limits.maxResources);
    const { resources, network, ports, programs: programRequests, ...rest } = patch;
    const programs = programRequests === undefined ? undefined : normalizePrograms(programRequests);
    // refused before the claim when the request alone is wrong; the container's own mode is checked on the claimed record
    this.checkNetworkRequest(network ?? visible.network_mode, network !== undefined, ports);
    let before: ContainerRecord | undefined;
    const updated = await this.withOperation(visible, 'update', {}, principalOf(actor), opts.ifVersion, async (c) => {
      before = c;
      const mode = network ?? c.network_mode;
      const requests = this.checkNetworkRequest(mode, network !== undefined, ports);
      const changes: Partial<ContainerRecord> = { ...rest, ...(resources ? { resources: { ...c.resources, ...resources } } : {}) };
      if (programs !== undefined || (rest.name !== undefined && rest.name !== c.name)) {
        const project = await this.deps.store.getProject(c.project_id);
        const next = programs ?? c.programs ?? [];
        changes.programs = next;
        changes.service_labels = serviceLabels(project?.name ?? '', rest.name ?? c.name, [...next, ...kitPrograms(c)]);
      }
      return this.pickingAgain(requests, async () => {
        let net: Partial<ContainerRecord> = {};
        if (mode === 'none' && (network !== undefined || ports !== undefined) && (c.network_mode !== 'none' || c.ports.length > 0)) {
          net = { network_mode: 'none', ipv4_address: null, ports: [] };
        } else if (mode === 'bridge' && (c.network_mode !== 'bridge' || !c.ipv4_address || ports !== undefined)) {
          const picked = await this.pickNetwork(ports !== undefined ? keepHostPorts(requests, c.ports) : [], c);
          net = { network_mode: 'bridge', ipv4_address: picked.ipv4_address, ...(ports !== undefined ? { ports: picked.ports } : {}) };
        }
        const updated = await this.deps.store.updateContainer(id, { ...changes, ...net });
        if (!updated) throw notFound('container', id);
        return updated;
      }).catch((err: unknown) => {
        if (err instanceof NameTakenError) throw new HoodyError('NAME_TAKEN', `container name "${patch.name}" is already used in this project`);
        throw networkClash(err);
      });
    });
    // a pending restart was decided under the old settings
    await this.restarts.cancel(id);
    // the names the project's running containers resolve changed
    if (before && (before.name !== updated.name || before.ipv4_address !== updated.ipv4_address)) await this.refreshProjectHosts(updated.project_id);
    // read again: the answer must not show the update's own claim, released after the write
    return (await this.deps.store.getContainer(id)) ?? updated;
  }

  /** Removes the container, its runtime state and files; its status logs stay readable. */
  async remove(actor: Actor, id: string): Promise<void> {
    const visible = await this.get(actor, id);
    await this.withOperation(visible, 'delete', {}, principalOf(actor), undefined, async (c, ctx) => {
      await this.deps.driver.delete(id).catch((err: unknown) => {
        if (!(err instanceof RuntimeError && err.kind === 'not-found')) throw runtimeFailure('delete', c, err);
      });
      await this.deps.store.deleteContainer(id, this.logRow(c, c.status, ctx));
      // the row and its claim are gone: nothing is left to release
      ctx.released = true;
    });
    // its snapshots' rows went with it; their files go now (what a failure leaves, the next start sweeps)
    await this.afterDelete(id).catch((err: unknown) => this.deps.warn?.(`files of the deleted container ${id}`, err));
    // its name is gone from the project's running containers
    if (visible.ipv4_address) await this.refreshProjectHosts(visible.project_id);
  }

  async statusLogs(actor: Actor, id: string, q: { page: number; limit: number; sort_order: 'asc' | 'desc' }): Promise<{ logs: StatusLogRecord[]; total: number }> {
    const c = await this.deps.store.getContainer(id);
    if (c) {
      if (!(await this.deps.projects.isOwner(actor, c.project_id))) throw notFound('container', id);
    } else {
      // a deleted container: its last row names the project it belonged to
      const last = await newestLogRow(this.deps.store, id);
      const projectId = last?.metadata.project_id;
      if (typeof projectId !== 'string' || !(await this.deps.projects.isOwner(actor, projectId))) throw notFound('container', id);
    }
    return this.deps.store.listStatusLogs(id, q);
  }

  /**
   * Holds the container while `work` reads its files (a snapshot, or the copy of it): refused while
   * another operation holds it or its status does not allow `action`, announced and timed as every
   * operation; its status does not change and no log row is written.
   */
  async holding<T>(actor: Actor, id: string, action: 'snapshot' | 'copy', reason: string | undefined, work: (c: ContainerRecord, held: HeldContainer) => Promise<T>): Promise<T> {
    const visible = await this.get(actor, id);
    return this.withOperation(visible, action, reason === undefined ? {} : { reason }, principalOf(actor), undefined, (c, ctx) => work(c, { operationId: ctx.opId, signal: ctx.signal }));
  }

  /**
   * Moves a stopped (or failed) container of this server to another server: under the move's claim,
   * `send` hands its files and the claim's id to that server's daemon, which makes it there and
   * writes the hand-over (the commit point: its row, ports, labels and aliases change server in
   * one transaction, with a `move` log row); then its runtime files here go. A move that fails
   * anywhere before that write leaves the container here as it was. The snapshots' rows change
   * server in the same write; their files are `send`'s to hand over and the caller's to remove.
   */
  async moveOut(actor: Actor, id: string, reason: string | undefined, send: (c: ContainerRecord, held: HeldContainer) => Promise<void>): Promise<ContainerRecord> {
    const visible = await this.get(actor, id);
    return this.withOperation(visible, 'move', reason === undefined ? {} : { reason }, principalOf(actor), undefined, async (c, ctx) => {
      // failed is not always dead: a stop SIGKILL could not finish leaves processes
      const state = await this.deps.driver.state(c.id).catch(() => undefined);
      if (state?.status === 'running' || state?.status === 'paused' || (state?.pid ?? 0) > 0) throw new HoodyError('INVALID_STATE', `container "${c.name}" still has processes (the runtime shows it ${state?.status}): force-stop it before moving it`);
      await send(c, { operationId: ctx.opId, signal: ctx.signal });
      const moved = await this.deps.store.getContainer(c.id);
      if (!moved || moved.server_id === this.deps.server.id) throw new HoodyError('INTERNAL_ERROR', `container "${c.name}": the other server answered, but the hand-over is not in the database`);
      // handed over: its bundle and files here are nobody's now (a crash before this: removed at the next start)
      await this.deps.driver.delete(c.id).catch((err: unknown) => this.deps.warn?.(`the files of ${c.id}, moved to another server`, err));
      await this.restarts.cancel(c.id);
      return moved;
    });
  }

  /**
   * The receiving end of a move: the container (still another server's, under the move's claim
   * `operationId`) is made here from `staged` (its files, received and checked) and its image, then
   * handed over in one write. Whatever fails leaves nothing of it here.
   */
  async moveIn(actor: Actor, id: string, m: { operationId: string; from: string; reason?: string | undefined }, staged: string): Promise<ContainerRecord> {
    const c = await this.get(actor, id);
    if (c.server_id !== m.from || c.current_operation?.id !== m.operationId || c.current_operation.operation !== 'move') {
      throw new HoodyError('INVALID_STATE', `container "${c.name}" is not being moved from that server (its current operation is ${c.current_operation?.operation ?? 'none'})`);
    }
    if (c.server_id === this.deps.server.id) throw new HoodyError('INVALID_INPUT', `container "${c.name}" is on this server already`);
    const image = await this.imageOfArrival(c.name, c);
    const t0 = performance.now();
    const here: ContainerRecord = { ...c, server_id: this.deps.server.id, ipv4_address: null, image_id: image.id };
    let made = false;
    try {
      const driver = this.deps.driver;
      if (!driver.takeFiles) throw new HoodyError('RUNTIME_ERROR', 'this runtime cannot take a container\'s files');
      made = true;
      await driver.create(await this.specOf(here));
      await driver.takeFiles(id, staged);
      const ctx: OperationContext = { opId: m.operationId, operation: 'move', by: principalOf(actor), ...(m.reason ? { reason: m.reason } : {}), t0 };
      const log = this.logRow(c, c.status, ctx, { from_server: m.from, to_server: this.deps.server.id });
      const moved = await this.deps.store.moveContainer(id, { operation_id: m.operationId, from_server: m.from, to_server: this.deps.server.id, log }).catch((err: unknown) => {
        throw networkClash(err);
      });
      if (!moved) throw new HoodyError('OPERATION_IN_PROGRESS', `container "${c.name}" is no longer being moved here (the move was given up)`);
      return moved;
    } catch (err) {
      const arrived = await this.arrivedAnyway(id, err);
      if (arrived) return arrived;
      if (made) await this.deps.driver.delete(id).catch((e: unknown) => this.deps.warn?.(`the half-made container ${id} of a move`, e));
      throw err;
    } finally {
      image.release();
    }
  }

  /**
   * The image of a container arriving from another server (a move or a recovery), held: by id
   * when this server has it, else its name pulled, which must be the same image when the id is
   * known (an image id is only known where it was pulled).
   */
  private async imageOfArrival(name: string, want: { image_id?: string | null; container_image: string; command: string[] | null }): Promise<ImageLease> {
    const image = await this.deps.images.ensure(want.image_id ?? want.container_image, { pull: 'missing', command: want.command }).catch(async (err: unknown) => {
      if (want.image_id && err instanceof HoodyError && err.code === 'IMAGE_NOT_FOUND') return this.deps.images.ensure(want.container_image, { pull: 'missing', command: want.command });
      throw err;
    });
    if (want.image_id && image.id !== want.image_id) {
      image.release();
      throw new HoodyError('IMAGE_NOT_FOUND', `the image of container "${name}" (${want.image_id}) is not on this server, and "${want.container_image}" is another image here (${image.id}): pull it by digest first`, { container_image: want.container_image });
    }
    return image;
  }

  /**
   * After an arrival failed with `err`: the container when its hand-over was written all the same
   * (its answer lost: the files stay, it is here), undefined when it is not here; `err` again when
   * the database cannot be read (nothing may be removed: the next start decides by the row).
   */
  private async arrivedAnyway(id: string, err: unknown): Promise<ContainerRecord | undefined> {
    const now = await this.deps.store.getContainer(id).then((c) => ({ c }), () => undefined);
    if (!now) throw err;
    return now.c?.server_id === this.deps.server.id ? now.c : undefined;
  }

  /**
   * Recovers here a container of a lost server (offline: its daemon cannot be asked) from one of
   * its snapshots (`c` as its caller may see it: its owner's, or any for an admin recovering a whole server): made here with the snapshot's configuration, `fill` writes the snapshot's files
   * into it, then one write hands it over (`stopped`, a `move` log row with `recovered`). The lost
   * server's claim, if it left one, is dropped with it. Whatever fails leaves nothing of it here.
   */
  async recoverIn(
    actor: Actor,
    c: ContainerRecord,
    m: { from: string; snapshot: { id: string; alias: string | null; config: RestorableConfig }; snapshotIds: string[]; staleBefore: string; reason?: string | undefined },
    fill: (c: ContainerRecord) => Promise<void>,
  ): Promise<ContainerRecord> {
    const id = c.id;
    if (c.server_id === this.deps.server.id) throw new HoodyError('INVALID_INPUT', `container "${c.name}" is on this server already`);
    const opId = newId();
    const startedAt = nowIso();
    // the claim the lost server left, given back if this recovery fails
    const previous = c.current_operation;
    // one recovery at a time, and only while its server stays lost: the claim says both
    const claimed = await this.deps.store.claimForRecovery(id, {
      from_server: m.from,
      operation_id: opId,
      started_at: startedAt,
      stale_before: m.staleBefore,
      claim_stale_before: new Date(Date.now() - RECOVERY_CLAIM_STALE_MS).toISOString(),
    });
    if (!claimed) {
      const now = await this.deps.store.getContainer(id);
      if (!now || now.server_id !== m.from) throw new HoodyError('INVALID_STATE', `container "${c.name}" is no longer on that server`, { server_id: now?.server_id });
      if (now.current_operation?.operation === 'recover') throw new HoodyError('OPERATION_IN_PROGRESS', `container "${c.name}" is being recovered already`, { current_operation: now.current_operation });
      throw new HoodyError('INVALID_STATE', `the server of container "${c.name}" answers again: move it as usual`, { server_id: m.from });
    }
    const config = { ...m.snapshot.config, resources: this.withinMaxima(m.snapshot.config.resources) };
    const t0 = performance.now();
    let image: ImageLease | undefined;
    let made = false;
    // renewed while the work runs: a long restore is not taken for one whose daemon died
    const renew = setInterval(() => void this.deps.store.swapClaim(id, opId, { id: opId, operation: 'recover', started_at: nowIso() }).catch(() => undefined), RECOVERY_CLAIM_RENEW_MS);
    renew.unref();
    try {
      image = await this.imageOfArrival(c.name, config);
      const here: ContainerRecord = { ...claimed, ...config, status: 'stopped', server_id: this.deps.server.id, ipv4_address: null, image_id: image.id };
      made = true;
      await this.deps.driver.create(await this.specOf(here));
      await fill(here);
      const ctx: OperationContext = { opId, operation: 'move', by: principalOf(actor), ...(m.reason ? { reason: m.reason } : {}), t0 };
      const log = this.logRow(claimed, 'stopped', ctx, { from_server: m.from, to_server: this.deps.server.id, recovered: true, snapshot: { id: m.snapshot.id, alias: m.snapshot.alias } });
      const moved = await this.deps.store
        .moveContainer(id, { operation_id: opId, from_server: m.from, to_server: this.deps.server.id, log, recovery: { config: { ...config, image_id: image.id }, snapshot_ids: m.snapshotIds, stale_before: m.staleBefore } })
        .catch((err: unknown) => {
          throw networkClash(err);
        });
      if (!moved) throw new HoodyError('INVALID_STATE', `the server of container "${c.name}" answered again during its recovery: it stays there, nothing was recovered`, { server_id: m.from });
      return moved;
    } catch (err) {
      const arrived = await this.arrivedAnyway(id, err);
      if (arrived) return arrived;
      if (made) await this.deps.driver.delete(id).catch((e: unknown) => this.deps.warn?.(`the half-recovered container ${id}`, e));
      await this.deps.store.swapClaim(id, opId, previous && { id: previous.id, operation: previous.operation, started_at: previous.started_at }).catch(() => undefined);
      throw err;
    } finally {
      clearInterval(renew);
      image?.release();
    }
  }

  /**
   * Puts a snapshot back onto a stopped (or failed) container: `fill` replaces its files, then its
   * configuration goes back to the snapshot's in the same write as the log row (`stopped`,
   * metadata.snapshot); an autostart container is then started (`autostart`, "restored from
   * snapshot"). `fill` keeps the files it replaced until the row is written (its `commit`), and
   * puts them back (`undo`) when the row cannot be: a restore that fails anywhere leaves the
   * container's files, configuration and status as they were (after a crash, recovery undoes it).
   */
  async restore(
    actor: Actor,
    id: string,
    snapshot: { id: string; alias: string | null; config: RestorableConfig },
    reason: string | undefined,
    fill: (c: ContainerRecord, held: HeldContainer) => Promise<FilesSwap>,
  ): Promise<ContainerRecord> {
    const visible = await this.get(actor, id);
    // the server's maxima may have been lowered since the snapshot: its resources come back within them
    snapshot = { ...snapshot, config: { ...snapshot.config, resources: this.withinMaxima(snapshot.config.resources) } };
    const restored = await this.withOperation(visible, 'restore', reason === undefined ? {} : { reason }, principalOf(actor), undefined, async (c, ctx) => {
      const next: ContainerRecord = { ...c, ...snapshot.config };
      // the runtime's spec goes back to the container's own when the restore does not happen
      const specBack = (): Promise<void> => this.specOf(c).then((spec) => this.deps.driver.create(spec)).catch((e: unknown) => this.deps.warn?.(`spec of ${c.id} after a failed restore`, e));
      let swap: FilesSwap;
      try {
        // the runtime's spec follows the configuration put back (and a mount left by the last run goes)
        await this.deps.driver.create(await this.specOf(next), ctx.signal);
        swap = await fill(c, { operationId: ctx.opId, signal: ctx.signal });
      } catch (err) {
        await specBack();
        throw err instanceof HoodyError ? err : runtimeFailure('restore', c, err);
      }
      // the row names the operation: recovery after a crash before the claim is released tells a recorded restore by it
      const log = this.logRow(c, 'stopped', ctx, { snapshot: { id: snapshot.id, alias: snapshot.alias }, operation_id: ctx.opId });
      let updated: ContainerRecord | undefined;
      try {
        updated = await this.deps.store.transition(c.id, { to_status: 'stopped', log, exit_code: null, desired_status: 'stopped', operation_id: ctx.opId, config: snapshot.config });
        if (!updated) throw new HoodyError('INTERNAL_ERROR', `container "${c.name}": the restore lost its claim`);
      } catch (err) {
        await swap.undo();
        await specBack();
        throw err;
      }
      // recorded: the replaced files go, still under the claim (nothing may start or read the container meanwhile)
      await swap.commit().catch((err: unknown) => this.deps.warn?.(`the files a restore of ${c.id} replaced`, err));
      return updated;
    });
    // a pending restart was decided for the files and settings that are gone
    await this.restarts.cancel(id);
    // read again: the answer must not show the restore's own claim, released after the write
    if (!restored.autostart) return (await this.deps.store.getContainer(id)) ?? restored;
    return (await this.operateAsSystem(id, 'start', AUTOSTART, 'restored from snapshot', { snapshot: { id: snapshot.id, alias: snapshot.alias } })) ?? restored;
  }

  /**
   * A new container made from another's files: `copying` (its log: `creating → copying`) while
   * `fill` writes its files, then `stopped` (started when asked). It gets the source's image and
   * configuration, a new name, its own address and no published ports. A failed fill leaves it
   * `failed`, with the error in its log.
   */
  async copy(actor: Actor, source: ContainerRecord, body: CopyContainerBody, extra: Record<string, unknown>, fill: (target: ContainerRecord, signal: AbortSignal | undefined) => Promise<void>): Promise<ContainerRecord> {
    const project = body.project_id ? await this.deps.projects.get(actor, body.project_id) : await this.deps.projects.get(actor, source.project_id);
    const programs = source.programs ?? [];
    const labels = serviceLabels(project.name, body.name, [...programs, ...kitPrograms(source)]);
    const networkMode = this.subnet ? source.network_mode : 'none';
    // the image stays while the copy is made (and after, through the new row)
    const image = await this.deps.images.ensure(source.image_id ?? source.container_image, { pull: 'never', command: source.command });
    const now = nowIso();
    const opId = newId();
    const base: ContainerRecord = {
      ...source,
      // within the server's maxima of today, which may be lower than when the source was made
      resources: this.withinMaxima(source.resources),
      id: newId(),
      name: body.name,
      project_id: project.id,
      server_id: this.deps.server.id,
      status: 'copying',
      desired_status: 'stopped',
      image_id: source.image_id ?? image.id,
      current_operation: { id: opId, operation: 'copy', started_at: now },
      exit_code: null,
      created_at: now,
      updated_at: now,
      version: 0,
      network_mode: networkMode,
      ipv4_address: null,
      ports: [],
      programs,
      service_labels: labels,
    };
    const ctx: OperationContext = { opId, operation: 'copy', by: principalOf(actor), t0: performance.now(), extra };
    // its log begins when the copy does: `creating → copying`
    const firstLog = { ...this.logRow({ ...base, status: 'creating' }, 'copying', ctx), duration_ms: 0 };
    return this.bringIntoBeing(actor, base, project, { ports: [], image, ctx, start: body.start ?? false, firstLog, fill: (target) => fill(target, undefined) });
  }

  /** Resources lowered to the server's maxima where they are above (unchanged without maxima). */
  private withinMaxima(r: ContainerRecord['resources']): ContainerRecord['resources'] {
    const max = this.deps.limits?.maxResources;
    return max ? lowerToMaxima(r, max) : r;
  }

  /** Runs one lifecycle operation to completion and answers the container as it then is. */
  async operate(actor: Actor, id: string, op: LifecycleOperation, body: LifecycleBody, opts: { ifVersion?: number } = {}): Promise<ContainerRecord> {
    const visible = await this.get(actor, id);
    if (op === 'force-stop' && visible.current_operation?.operation === 'stop') {
      const forced = await this.forceStopDuringStop(visible, principalOf(actor));
      if (forced) return forced;
    }
    return this.runLifecycle(visible, op, body, principalOf(actor), {}, opts.ifVersion);
  }

  /**
   * A force-stop sent while a graceful stop waits out its timeout: KILL every process now, so the
   * stop finishes at once; its log row says who forced it. Undefined when no such stop runs here.
   */
  private async forceStopDuringStop(c: ContainerRecord, by: Principal): Promise<ContainerRecord | undefined> {
    const running = this.inFlight.get(c.id);
    if (!running?.ctx || running.ctx.operation !== 'stop' || running.opId !== c.current_operation?.id) return undefined;
    running.ctx.extra = { ...running.ctx.extra, forced_by: by.triggeredBy, ...(by.token === undefined ? {} : { forced_by_token: by.token }) };
    await this.deps.driver.kill(c.id, 'SIGKILL', { all: true }).catch((err: unknown) => {
      throw runtimeFailure('force-stop', c, err);
    });
    await running.done;
    const after = await this.deps.store.getContainer(c.id);
    if (!after) throw notFound('container', c.id);
    if (after.status !== 'stopped') throw new HoodyError('RUNTIME_ERROR', `cannot force-stop container "${c.name}": it is ${after.status}`, { operation: 'force-stop', status: after.status });
    return after;
  }

  /**
   * Claims the container for the operation and answers at once (the claim's conflicts and refusals
   * still come back as errors); the operation then runs on and its outcome goes to `settled`.
   */
  async operateInBackground(
    actor: Actor,
    id: string,
    op: LifecycleOperation,
    body: LifecycleBody,
    settled: (outcome: { ok: true; container: ContainerRecord } | { ok: false; error: unknown }) => void,
  ): Promise<{ operationId: string; container: ContainerRecord }> {
    const visible = await this.get(actor, id);
    let onClaimed: (opId: string) => void = noop;
    const claimed = new Promise<string>((resolve) => (onClaimed = resolve));
    const run = this.runLifecycle(visible, op, body, principalOf(actor), {}, undefined, onClaimed);
    run.then(
      (container) => settled({ ok: true, container }),
      (error: unknown) => settled({ ok: false, error }),
    );
    // the claim comes before any work: either it is made, or run fails first (409, 400, 404)
    const operationId = await Promise.race([claimed, run.then(() => claimed)]);
    return { operationId, container: visible };
  }

  /**
   * An admin's operation on this server's own containers, whoever owns them (maintenance): `op` on
   * each one `select` picks, logged under the admin, with `extra` in each log row; each outcome.
   */
  async operateServerWide(actor: Actor, op: LifecycleOperation, select: (c: ContainerRecord) => boolean | Promise<boolean>, body: LifecycleBody, extra: Record<string, unknown> = {}): Promise<BulkItemResult[]> {
    if (!actor.isAdmin) throw new HoodyError('FORBIDDEN', 'only an admin operates every container of a server');
    const picked: string[] = [];
    for (const c of await this.deps.store.listContainers({ server_id: this.deps.server.id })) if (await select(c)) picked.push(c.id);
    return runEach(picked, async (id) => {
      const c = await this.deps.store.getContainer(id);
      if (!c) throw notFound('container', id);
      return this.runLifecycle(c, op, body, principalOf(actor), extra);
    });
  }

  /** A lifecycle operation the daemon itself decides (autostart, restart policy), logged under `by`. */
  async operateAsSystem(id: string, op: LifecycleOperation, by: string, reason: string, extra: Record<string, unknown> = {}): Promise<ContainerRecord | undefined> {
    const c = await this.deps.store.getContainer(id);
    if (!c) return undefined;
    return this.runLifecycle(c, op, { reason }, { triggeredBy: by }, extra);
  }

  private runLifecycle(
    c: ContainerRecord,
    op: LifecycleOperation,
    body: LifecycleBody,
    by: Principal,
    extra: Record<string, unknown>,
    ifVersion?: number,
    onClaimed?: (opId: string) => void,
  ): Promise<ContainerRecord> {
    return this.withOperation(c, op, body, by, ifVersion, async (claimed, ctx) => {
      ctx.extra = extra;
      try {
        return await this.execute(claimed, op, body, ctx);
      } catch (err) {
        await this.settleAfterFailure(claimed, op, ctx, err);
        throw err instanceof HoodyError ? err : runtimeFailure(op, claimed, err);
      }
    }, onClaimed);
  }

  /**
   * Brings one container's recorded status in line with the runtime (after an exit event, or
   * an exit seen while an operation held the container). Logged as `system`. Answers whether
   * it recorded a change.
   */
  async reconcile(id: string, operation: 'exit' | 'reconcile'): Promise<boolean> {
    const c = await this.deps.store.getContainer(id);
    if (!c || c.server_id !== this.deps.server.id) return false;
    if (c.current_operation) {
      this.pendingExits.add(id);
      return false;
    }
    if (c.status !== 'running' && c.status !== 'paused') return false;
    const opId = newId();
    const claim = await this.deps.store.beginOperation(id, { id: opId, operation, started_at: nowIso() });
    if (!claim) return false;
    if (!claim.claimed) {
      this.pendingExits.add(id);
      return false;
    }
    const ctx: OperationContext = { opId, operation, by: { triggeredBy: SYSTEM }, t0: performance.now() };
    const now = claim.container;
    const state = await this.deps.driver.state(id).catch(() => undefined);
    const truth = observedStatus(state);
    // a half-made start is not a status: the sweep ends it (removeHalfStart)
    if ((now.status === 'running' || now.status === 'paused') && truth !== now.status && truth !== undefined && truth !== 'creating') {
      const exit = state?.exitCode ?? null;
      // an exit conmon recorded is an exit, whether its event or a sweep noticed it first
      const exited = truth === 'stopped' && (operation === 'exit' || exit !== null);
      const reason = truth === 'stopped' ? (exited ? 'the main process ended' : 'the runtime shows no process') : `the runtime shows it ${truth}`;
      const after = await this.record(now, truth, exited ? { ...ctx, operation: 'exit' } : ctx, { finish: true, exit_code: truth === 'stopped' ? exit : undefined, extra: { reason, ...exitExtra(truth === 'stopped' ? exit : null) } });
      if (after.status === 'stopped') await this.restarts.exited(after);
      return true;
    }
    await this.deps.store.finishOperation(id, opId);
    return false;
  }

  private async withOperation<T>(
    visible: ContainerRecord,
    action: Action,
    body: LifecycleBody,
    by: Principal,
    ifVersion: number | undefined,
    work: (c: ContainerRecord, ctx: OperationContext) => Promise<T>,
    onClaimed?: (opId: string) => void,
  ): Promise<T> {
    const id = visible.id;
    if (visible.server_id !== this.deps.server.id) {
      throw new HoodyError('WRONG_SERVER', `container "${visible.name}" runs on another server; send the request to that server's daemon`, { server_id: visible.server_id });
    }
    assertAllowed(visible, action);
    if (this.closing) throw new HoodyError('SERVICE_UNAVAILABLE', 'the daemon is shutting down; try again shortly');
    const opId = newId();
    const claim = await this.deps.store.beginOperation(id, { id: opId, operation: action, started_at: nowIso() });
    if (!claim) throw notFound('container', id);
    if (!claim.claimed) throw inProgress(claim.container);
    const deadline = AbortSignal.timeout(FILE_OPERATIONS.includes(action) ? FILE_OPERATION_DEADLINE_MS : this.operationDeadlineMs(claim.container, body));
    const began = performance.now();
    const ctx: OperationContext = { opId, operation: action, by, reason: body.reason, t0: began, signal: deadline };
    const announce = (phase: OperationEvent['phase'], extra: Partial<OperationEvent> = {}): void =>
      this.deps.events?.publishOperation({
        phase,
        operation_id: opId,
        container_id: id,
        project_id: visible.project_id,
        operation: action,
        triggered_by: by.triggeredBy,
        ...principalMetadata(by),
        at: nowIso(),
        ...extra,
      });
    announce('accepted');
    onClaimed?.(opId);
    // in flight before the work begins: a check that throws at once still finds its entry to remove
    let settled: () => void = noop;
    const entry = { opId, done: new Promise<void>((r) => (settled = r)), ctx };
    this.inFlight.set(id, entry);
    const done = (async () => {
      try {
        // the status may have changed between the read and the claim (an exit, another daemon)
        assertStatusAllows(claim.container, action);
        if (ifVersion !== undefined && claim.container.version !== ifVersion) {
          throw new HoodyError('PRECONDITION_FAILED', `container "${claim.container.name}" changed since it was read (version ${claim.container.version}, If-Match ${ifVersion})`, {
            version: claim.container.version,
          });
        }
        const result = await work(claim.container, ctx);
        this.observer.operationFinished(action, 'ok', (performance.now() - began) / 1000);
        announce('succeeded', { status: (result as Partial<ContainerRecord> | undefined)?.status });
        return result;
      } catch (err) {
        this.observer.operationFinished(action, 'error', (performance.now() - began) / 1000);
        announce('failed', { error: err instanceof HoodyError ? { code: err.code, message: err.message } : { code: 'INTERNAL_ERROR', message: 'internal error' } });
        throw err;
      } finally {
        // a transition with finish already cleared it; this covers the paths that changed nothing
        // whatever happens to this write, the container must not stay marked as in flight here
        if (this.inFlight.get(id) === entry) this.inFlight.delete(id);
        if (!ctx.released) await this.deps.store.finishOperation(id, opId).catch((err) => this.deps.warn?.(`releasing ${action} of ${id}`, err));
        if (this.pendingExits.delete(id)) await this.reconcile(id, 'exit').catch((err) => this.deps.warn?.(`exit of ${id}`, err));
      }
    })();
    done.then(settled, settled);
    return done;
  }

  /** Longest an operation may take before its runtime calls are aborted. */
  private operationDeadlineMs(c: ContainerRecord, body: LifecycleBody): number {
    return ((body.timeout ?? c.stop_timeout) * 1000 + KILL_WAIT_MS) * 2 + OPERATION_SLACK_MS;
  }

  private async execute(c: ContainerRecord, op: LifecycleOperation, body: LifecycleBody, ctx: OperationContext): Promise<ContainerRecord> {
    const { driver } = this.deps;
    if ((op === 'stop' || op === 'force-stop') && c.status === 'stopped') return this.alreadyStopped(c);
    switch (op) {
      case 'start':
        await this.run(c, ctx.signal);
        return this.record(c, 'running', ctx, { finish: true, exit_code: null, desired: 'running' });
      case 'stop': {
        const exit = await this.stopGracefully(c, body.timeout ?? c.stop_timeout, ctx.signal);
        return this.record(c, 'stopped', ctx, { finish: true, exit_code: exit, desired: 'stopped', extra: exitExtra(exit) });
      }
      case 'force-stop': {
        const exit = await this.forceStop(c, ctx.signal);
        return this.record(c, 'stopped', ctx, { finish: true, exit_code: exit, desired: 'stopped', extra: exitExtra(exit) });
      }
      case 'restart': {
        let current = c;
        if (c.status !== 'stopped') {
          const exit = await this.stopGracefully(c, body.timeout ?? c.stop_timeout, ctx.signal);
          current = await this.record(c, 'stopped', ctx, { finish: false, exit_code: exit, extra: exitExtra(exit) });
          ctx.t0 = performance.now();
        }
        await this.run(current, ctx.signal);
        return this.record(current, 'running', ctx, { finish: true, exit_code: null, desired: 'running' });
      }
      case 'pause':
        await driver.pause(c.id, ctx.signal);
        return this.record(c, 'paused', ctx, { finish: true, desired: 'paused' });
      case 'resume':
        await driver.resume(c.id, ctx.signal);
        return this.record(c, 'running', ctx, { finish: true, desired: 'running' });
    }
  }

  /**
   * stop or force-stop of a container that is stopped already: nothing to do and no log row, but
   * the user's wish is kept, so a restart the policy had pending does not undo it.
   */
  private async alreadyStopped(c: ContainerRecord): Promise<ContainerRecord> {
    await this.restarts.cancel(c.id);
    const kept = c.desired_status === 'stopped' ? c : ((await this.deps.store.updateContainer(c.id, { desired_status: 'stopped' })) ?? c);
    return { ...kept, current_operation: null };
  }

  /** (Re)writes the runtime spec from the record, so updates made while stopped apply, and runs it. */
  private async run(c: ContainerRecord, signal?: AbortSignal): Promise<RuntimeState> {
    await this.deps.driver.create(await this.specOf(await this.addressed(c)), signal);
    await this.kit?.beforeRun(c);
    const state = await this.deps.driver.start(c.id, signal);
    // the container runs: a failed write of its history must not turn the start into a failure
    await this.restarts.runStarted(c.id).catch((err) => this.deps.warn?.(`restart history of ${c.id}`, err));
    return state;
  }

  /** TERM to init (thawing a paused container so it can act), KILL to every process after the timeout. */
  private async stopGracefully(c: ContainerRecord, timeoutS: number, signal?: AbortSignal): Promise<number | null> {
    const { driver } = this.deps;
    const before = await driver.state(c.id, signal);
    if (!before || before.status === 'stopped' || before.status === 'created') return before?.exitCode ?? null;
    await driver.kill(c.id, 'SIGTERM', {}, signal);
    if (before.status === 'paused') await driver.resume(c.id, signal).catch(ignoreIfNotPaused);
    const ended = timeoutS > 0 ? await driver.waitExit(c.id, timeoutS * 1000, signal) : undefined;
    if (ended) return ended.exitCode;
    return this.forceStop(c, signal);
  }

  /** KILL to every process of the container; when even that does not end it, fails with what remains. */
  private async forceStop(c: ContainerRecord, signal?: AbortSignal): Promise<number | null> {
    const { driver } = this.deps;
    await driver.kill(c.id, 'SIGKILL', { all: true }, signal);
    const ended = await driver.waitExit(c.id, this.deps.killWaitMs ?? KILL_WAIT_MS, signal);
    if (ended) return ended.exitCode;
    const stats = await driver.stats(c.id).catch(() => undefined);
    throw new StuckContainerError(`processes remain ${(this.deps.killWaitMs ?? KILL_WAIT_MS) / 1000} s after SIGKILL to the whole container`, stats?.processes ?? []);
  }

  /** After a failed operation, records what is true: the previous status if it still holds, else what runs. */
  private async settleAfterFailure(c: ContainerRecord, op: LifecycleOperation, ctx: OperationContext, err: unknown): Promise<void> {
    const current = (await this.deps.store.getContainer(c.id)) ?? c;
    if (current.current_operation?.id !== ctx.opId) return;
    const state = await this.deps.driver.state(c.id).catch(() => undefined);
    let truth = observedStatus(state) ?? 'failed';
    // a start that did not get the container running leaves nothing running: failed (a half-made one is the sweep's to end)
    if (((op === 'start' || op === 'restart') && truth === 'stopped') || truth === 'creating') truth = 'failed';
    // processes that survive a KILL of the whole cgroup: neither running as asked nor stopped
    const extra = err instanceof StuckContainerError ? { remaining_processes: err.processes } : {};
    if (err instanceof StuckContainerError) truth = 'failed';
    await this.record(current, truth, ctx, { finish: true, error: errorText(err), extra, exit_code: truth === 'running' || truth === 'paused' ? undefined : (state?.exitCode ?? null) });
  }

  private async record(
    c: ContainerRecord,
    to: ContainerStatus,
    ctx: OperationContext,
    opts: { finish: boolean; exit_code?: number | null; desired?: ContainerRecord['desired_status']; error?: string; extra?: Record<string, unknown> },
  ): Promise<ContainerRecord> {
    const log = this.logRow(c, to, ctx, { ...opts.extra, ...(opts.error ? { error: opts.error } : {}) });
    const updated = await this.deps.store.transition(c.id, {
      to_status: to,
      log,
      exit_code: opts.exit_code,
      desired_status: opts.desired,
      operation_id: ctx.opId,
      finish_operation: opts.finish,
    });
    if (!updated) throw new HoodyError('INTERNAL_ERROR', `container "${c.name}": the operation lost its claim`);
    if (opts.finish) ctx.released = true;
    return updated;
  }

  private logRow(c: ContainerRecord, to: ContainerStatus, ctx: OperationContext, extra: Record<string, unknown> = {}) {
    return {
      id: newId(),
      from_status: c.status,
      to_status: to,
      transition_time: nowIso(),
      duration_ms: Math.max(0, Math.round(performance.now() - ctx.t0)),
      triggered_by: ctx.by.triggeredBy,
      // project_id is kept for tenancy of events and of deleted containers' logs; the API does not show it
      // the token's name comes last: nothing else in the row may stand in for it
      metadata: { operation: ctx.operation, server_name: this.deps.server.name, project_id: c.project_id, ...(ctx.reason ? { reason: ctx.reason } : {}), ...ctx.extra, ...extra, ...principalMetadata(ctx.by) },
    };
  }

  /** What the runtime runs: the record, and for a bridge container its network with the names of its project's other containers. */
  private async specOf(c: ContainerRecord): Promise<ContainerSpec> {
    const network = this.subnet && c.network_mode === 'bridge' && c.ipv4_address ? this.networkSpecOf(c, await this.projectPeers(c.project_id)) : undefined;
    return {
      id: c.id,
      image: c.container_image,
      ...(c.image_id ? { imageId: c.image_id } : {}),
      command: c.command,
      env: c.environment_vars,
      hostname: c.name,
      ...(network ? { network } : {}),
      ...(this.kit?.specOf(c) ? { display: this.kit.specOf(c) } : {}),
      resources: { cpu: c.resources.cpu, memoryMb: c.resources.memory_mb, pids: c.resources.pids },
    };
  }
}

/** A stop that even SIGKILL of every process could not finish; carries what remains. */
export class StuckContainerError extends Error {
  constructor(
    message: string,
    readonly processes: RuntimeProcess[],
  ) {
    super(message);
    this.name = 'StuckContainerError';
  }
}

/**
 * What the runtime's state means as a container status (undefined: the runtime does not know it).
 * `creating` is a start begun and not finished: never a status to record, a half-made start to end.
 */
export function observedStatus(state: RuntimeState | undefined): ContainerStatus | undefined {
  if (!state) return undefined;
  if (state.status === 'running' || state.status === 'paused' || state.status === 'creating') return state.status;
  return 'stopped';
}

function assertAllowed(c: ContainerRecord, action: Action): void {
  if (c.current_operation) throw inProgress(c);
  assertStatusAllows(c, action);
}

function assertStatusAllows(c: ContainerRecord, action: Action): void {
  const check = checkAction(c.status, action);
  if (check.ok) return;
  if (check.reason === 'in-progress') throw inProgress(c);
  if (action === 'update' || action === 'delete' || action === 'restore') {
    throw new HoodyError('INVALID_STATE', `cannot ${action} container "${c.name}": it is ${c.status}; stop it first`, { status: c.status, allowed_operations: check.allowed });
  }
  throw new HoodyError('INVALID_TRANSITION', `cannot ${action} container "${c.name}": it is ${c.status}`, { status: c.status, operation: action, allowed_operations: check.allowed });
}

function inProgress(c: ContainerRecord): HoodyError {
  const what = c.current_operation ? `operation "${c.current_operation.operation}" is in progress` : `it is ${c.status}`;
  return new HoodyError('OPERATION_IN_PROGRESS', `container "${c.name}" is busy: ${what}`, { status: c.status, current_operation: c.current_operation });
}

/**
 * A port asked for again without a host port keeps the host port the container publishes it on now
 * (same container port, protocol and host address), unless another request names that host port.
 */
function keepHostPorts(requests: readonly CheckedPortRequest[], current: readonly PublishedPort[]): CheckedPortRequest[] {
  const named = new Set(requests.filter((r) => r.host_port !== undefined).map((r) => `${r.protocol}/${r.host_port}`));
  return requests.map((r) => {
    if (r.host_port !== undefined) return r;
    const kept = current.find((p) => p.container_port === r.container_port && p.protocol === r.protocol && p.host_ip === r.host_ip);
    if (!kept || named.has(`${kept.protocol}/${kept.host_port}`)) return r;
    named.add(`${kept.protocol}/${kept.host_port}`);
    return { ...r, host_port: kept.host_port };
  });
}

function portInUse(protocol: string, hostPort: number, heldBy: 'container' | 'host'): HoodyError {
  const who = heldBy === 'container' ? 'another container of this server publishes it' : 'a process of the host is bound to it';
  return new HoodyError('PORT_IN_USE', `host port ${hostPort}/${protocol} is in use: ${who}`, { host_port: hostPort, protocol, held_by: heldBy });
}

/** A clash of the store's network keys that picking again did not solve, as the API's error. */
function networkClash(err: unknown): unknown {
  if (err instanceof PortTakenError) return portInUse(err.protocol, err.hostPort, 'container');
  if (err instanceof ServiceNameTakenError) {
    return new HoodyError('SERVICE_NAME_TAKEN', `the service name "${err.label}" is already used by another container of this server (another project's container of the same name serves the same program): rename the container or the program`, {
      label: err.label,
    });
  }
  return err;
}

/** A server without a router: host names on `localhost`, no URLs. */
const NO_ROUTER: ServiceUrls = { serverLabel: 'local', domain: 'localhost', url: () => null };

function runtimeFailure(op: string, c: ContainerRecord, err: unknown): HoodyError {
  return new HoodyError('RUNTIME_ERROR', `cannot ${op} container "${c.name}": ${errorText(err)}`, { operation: op });
}

const exitExtra = (exit: number | null): Record<string, unknown> => (exit === null ? {} : { exit_code: exit });

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err)).slice(0, 2000);

function ignoreIfNotPaused(err: unknown): void {
  if (err instanceof RuntimeError && err.kind === 'invalid-state') return;
  throw err;
}
