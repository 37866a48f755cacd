/**
 * The Store: everything the control plane keeps, behind one interface with one Kysely
 * implementation and a dialect per backend (SQLite embedded, PostgreSQL for scale-out).
 *
 * Invariants every implementation keeps:
 * - a container's status never changes without its status log row, in the same transaction;
 * - status log rows are never updated or deleted (also not when their container is deleted);
 * - at most one operation per container is in flight: `beginOperation` is an atomic
 *   compare-and-set on `current_operation_id IS NULL`, so it holds across daemons sharing a database.
 */
import type { ContainerStatus, Resources, RestartPolicy, SnapshotConfig, SortOrder } from '../api/schemas.ts';
import type { NetworkMode, PortProtocol, PublishedPort } from '../network/types.ts';

/** A container as stored (times as ISO strings, JSON columns decoded). */
export interface ContainerRecord {
  id: string;
  name: string;
  project_id: string;
  server_id: string;
  status: ContainerStatus;
  /** What the user last asked for; the reconciler drives `status` towards it. */
  desired_status: 'running' | 'stopped' | 'paused';
  container_image: string;
  /** The id of the image it was created from (it keeps running that one); null or absent for containers older than image ids. */
  image_id?: string | null;
  command: string[] | null;
  environment_vars: Record<string, string>;
  autostart: boolean;
  hoody_kit: boolean;
  resources: Resources;
  stop_timeout: number;
  restart_policy: RestartPolicy;
  current_operation: { id: string; operation: string; started_at: string } | null;
  exit_code: number | null;
  created_at: string;
  updated_at: string;
  /** Grows with every change of the record (transition or update): the container's ETag. */
  version: number;
  /** `bridge`: an address on the server's bridge and published ports; `none`: loopback only. */
  network_mode: NetworkMode;
  /** Its IPv4 address on the server's bridge (unique per server); null with network `none`. */
  ipv4_address: string | null;
  /** The host ports it publishes (each held by this container alone on its server). */
  ports: PublishedPort[];
  /** The programs it serves through the router (absent: none, as for containers older than programs). */
  programs?: ProgramRecord[];
  /**
   * The host labels of its programs (`{project}-{container}-{program}-{index}`), each held by this
   * container alone on its server; kept in step with `programs` and its name by whoever writes them.
   */
  service_labels?: string[];
}

/** One program instance a container serves. */
export interface ProgramRecord {
  name: string;
  port: number;
  index: number;
  public: boolean;
}

/** A proxy alias: `{alias}.{domain}` served by one program instance of one container. */
export interface ProxyAliasRecord {
  id: string;
  /** Unique on the database. */
  alias: string;
  container_id: string;
  /** The container's server (its router serves the alias). */
  server_id: string;
  program: string;
  index: number;
  target_path: string;
  public: boolean;
  /** The user who made it. */
  created_by: string;
  created_at: string;
}

/** A snapshot of a container's files, as its row says (its files are in the server's snapshot store). */
export interface SnapshotRecord {
  id: string;
  container_id: string;
  server_id: string;
  alias: string | null;
  image_id: string | null;
  container_image: string;
  /** The container's configuration when the snapshot was cut (what a restore puts back). */
  config: SnapshotConfig;
  files: number;
  content_bytes: number;
  size_bytes: number;
  frozen_ms: number | null;
  created_by: string;
  created_at: string;
}

/** A copy of a snapshot's files kept on another server than the snapshot's own. */
export interface SnapshotReplica {
  snapshot_id: string;
  server_id: string;
  created_at: string;
}

export interface SnapshotReplicaFilter {
  snapshot_id?: string;
  server_id?: string;
  /** Replicas of this container's snapshots. */
  container_id?: string;
}

export interface SnapshotFilter {
  container_id?: string;
  server_id?: string;
}

export interface ProxyAliasFilter {
  /** Aliases of containers in projects owned by this user. */
  owner_id?: string;
  container_id?: string;
  server_id?: string;
  /** The alias of this name. */
  alias?: string;
}

/** The answer kept for one Idempotency-Key. */
export interface IdempotencyRecord {
  scope: string;
  key: string;
  request_hash: string;
  /** null while the first request with this key is still in flight. */
  status_code: number | null;
  response_body: string | null;
  /** The server whose daemon answers (or answered) the first request; null for keys older than this column. */
  server_id: string | null;
  created_at: string;
}

/** A status log row as stored; `seq` is a monotonic cursor (insertion order across all containers). */
export interface StatusLogRecord {
  seq: number;
  id: string;
  container_id: string;
  from_status: ContainerStatus;
  to_status: ContainerStatus;
  transition_time: string;
  duration_ms: number;
  triggered_by: string;
  metadata: { operation: string; server_name: string; [key: string]: unknown };
  /** The container's project when the row was written; null for older rows whose project is unknown. */
  project_id: string | null;
}

/** Which status log rows a reader may see and asks for (every field narrows). */
export interface StatusLogScope {
  /** Rows of projects owned by this user. */
  owner_id?: string;
  project_id?: string;
  container_id?: string;
  /** Rows up to this cursor (inclusive). */
  through?: number;
}

export interface NewStatusLog {
  id: string;
  from_status: ContainerStatus;
  to_status: ContainerStatus;
  transition_time: string;
  duration_ms: number;
  triggered_by: string;
  metadata: { operation: string; server_name: string; [key: string]: unknown };
}

export interface UserRecord {
  id: string;
  name: string;
  is_admin: boolean;
  created_at: string;
}

export interface TokenRecord {
  id: string;
  name: string;
  user_id: string;
  /** sha256 hex of the secret; the secret itself is never stored. */
  secret_hash: string;
  read_only: boolean;
  automation: boolean;
  created_at: string;
}

export interface ProjectRecord {
  id: string;
  name: string;
  owner_id: string;
  created_at: string;
}

export interface ServerRecord {
  id: string;
  name: string;
  /** As its daemon last wrote it: `offline` once it shut down. A daemon that stops writing heartbeats is offline too (see cluster/membership). */
  status: 'ready' | 'maintenance' | 'offline';
  runtime: string;
  last_seen_at: string;
  created_at: string;
  /** Where other daemons reach this one (`HOODY_ADVERTISE_URL`); null: requests are not forwarded to it. */
  advertise_url?: string | null;
  /** Where the other daemons' routers send requests for the service URLs of its containers. */
  proxy_url?: string | null;
  version?: string | null;
  capacity?: ServerCapacity | null;
  usage?: ServerUsage | null;
}

/** What a server has for containers. */
export interface ServerCapacity {
  cpus: number;
  memory_mb: number;
}

/** What its containers use, as of its last heartbeat. */
export interface ServerUsage {
  containers: number;
  running: number;
  /** The memory limits of its running containers, summed. */
  memory_mb: number;
}

export interface ContainerFilter {
  /** Only containers in projects owned by this user. */
  owner_id?: string;
  project_id?: string;
  server_id?: string;
  status?: ContainerStatus;
  name?: string;
}

/** Fields a caller may change on a container outside of a transition. */
export type ContainerPatch = Partial<
  Pick<
    ContainerRecord,
    'name' | 'command' | 'environment_vars' | 'autostart' | 'resources' | 'stop_timeout' | 'restart_policy' | 'desired_status' | 'network_mode' | 'ipv4_address' | 'ports' | 'programs' | 'service_labels'
  >
>;

/** What a transition writes: the new status, its log row, and what else changes with it. */
export interface Transition {
  to_status: ContainerStatus;
  log: NewStatusLog;
  /** Set exit_code (null clears it); leave undefined to keep the stored value. */
  exit_code?: number | null;
  desired_status?: ContainerRecord['desired_status'];
  /** When set, the transition only applies while this operation id is the current one. */
  operation_id?: string;
  /** When set, the transition only applies while the container still has this status. */
  expect_status?: ContainerStatus;
  /** Clear current_operation in the same write (the operation is finished). */
  finish_operation?: boolean;
  /** Configuration written in the same write (a restore puts a snapshot's back). */
  config?: RestorableConfig;
}

/** The configuration a snapshot keeps and a restore writes back with its log row (columns of the container row only). */
export type RestorableConfig = Pick<ContainerRecord, 'command' | 'environment_vars' | 'autostart' | 'hoody_kit' | 'resources' | 'stop_timeout' | 'restart_policy' | 'container_image' | 'image_id'>;

/** A container handed to another server (see Store.moveContainer). */
export interface ContainerMove {
  /** The move's claim; absent for a recovery, which takes the container whatever claim its lost server left. */
  operation_id?: string;
  from_server: string;
  to_server: string;
  log: NewStatusLog;
  /**
   * A container of a lost server recovered from a snapshot: the snapshot's configuration, the
   * snapshots `to_server` holds the files of, and the time `from_server`'s last heartbeat must
   * still be older than (it came back: nothing is written).
   */
  recovery?: { config: RestorableConfig; snapshot_ids: string[]; stale_before: string };
}

/** A container's newest status log row (undefined with none): what last happened to it, for checks that read the log. */
export async function newestLogRow(store: Pick<Store, 'listStatusLogs'>, containerId: string): Promise<StatusLogRecord | undefined> {
  return (await store.listStatusLogs(containerId, { page: 1, limit: 1, sort_order: 'desc' })).logs[0];
}

export interface Store {
  /** Runs pending numbered migrations; safe when two daemons start at once. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  createUser(user: UserRecord): Promise<void>;
  getUser(id: string): Promise<UserRecord | undefined>;
  listUsers(): Promise<UserRecord[]>;

  /**
   * Inserts the token. With `maxPerUser`, throws OwnerLimitError when its user already has that
   * many (counted in the same transaction, so two creates at once cannot both pass).
   */
  createToken(token: TokenRecord, maxPerUser?: number): Promise<void>;
  findTokenByHash(secretHash: string): Promise<TokenRecord | undefined>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  /** All tokens, or those of one user. */
  listTokens(userId?: string): Promise<TokenRecord[]>;
  /** Returns false when no such token existed. */
  deleteToken(id: string): Promise<boolean>;
  /** Which of these token ids still exist (one query). */
  existingTokenIds(ids: readonly string[]): Promise<Set<string>>;

  /**
   * Inserts the project. With `maxPerOwner`, throws OwnerLimitError when its owner already has
   * that many (counted in the same transaction, so two creates at once cannot both pass).
   */
  createProject(project: ProjectRecord, maxPerOwner?: number): Promise<void>;
  getProject(id: string): Promise<ProjectRecord | undefined>;
  listProjects(ownerId?: string): Promise<ProjectRecord[]>;

  /** Inserts the server or updates name/status/runtime/last_seen_at of an existing one (by id). */
  upsertServer(server: ServerRecord): Promise<void>;
  /** A heartbeat: when the server was last seen and what it uses; its status is left as it is (maintenance is an admin's). False when there is no such server. */
  touchServer(id: string, lastSeenAt: string, usage: ServerUsage): Promise<boolean>;
  setServerStatus(id: string, status: ServerRecord['status']): Promise<boolean>;
  getServer(id: string): Promise<ServerRecord | undefined>;
  listServers(): Promise<ServerRecord[]>;

  /**
   * Inserts the container, its published ports rows (and a first status log row, when given) in
   * one transaction. A container inserted as `creating` gets its first row from the transition
   * that ends its creation. Throws NameTakenError when (project_id, name) exists,
   * ContainerLimitError when the owner already has `opts.ownerLimit.max` containers (counted in the
   * same transaction, so two creates at once cannot both pass), AddressTakenError when another
   * container of the server has its address, and PortTakenError when another container of the
   * server holds one of its host ports (the same protocol), and ServiceNameTakenError when another
   * container of the server holds one of its service labels.
   */
  createContainer(container: ContainerRecord, firstLog?: NewStatusLog, opts?: CreateContainerOptions): Promise<void>;
  getContainer(id: string): Promise<ContainerRecord | undefined>;
  /** Oldest first (created_at, then id); one page of them when `page` is given. */
  listContainers(filter: ContainerFilter, page?: { limit: number; offset: number }): Promise<ContainerRecord[]>;
  countContainers(filter: ContainerFilter): Promise<number>;
  /** How many containers of one server are in each status (one grouped count; absent statuses have none). */
  countContainersByStatus(serverId: string): Promise<Partial<Record<ContainerStatus, number>>>;
  /**
   * Changes spec fields; returns the updated record, or undefined when it no longer exists. Throws
   * NameTakenError on a duplicate name. A patch with `ports` replaces the container's published
   * ports rows in the same transaction (PortTakenError, AddressTakenError as on create); one with
   * `service_labels` replaces its service host rows (ServiceNameTakenError as on create).
   */
  updateContainer(id: string, patch: ContainerPatch): Promise<ContainerRecord | undefined>;
  /** Removes the container row, its published ports, service labels, proxy aliases and snapshot rows (with a last log row, when given, in the same transaction); its status log rows stay readable by container id. */
  deleteContainer(id: string, finalLog?: NewStatusLog): Promise<boolean>;
  /**
   * Inserts the alias. Throws AliasTakenError when the alias exists, and NotFoundError-free
   * undefined handling is the caller's: the container must exist (checked by the caller).
   */
  createProxyAlias(alias: ProxyAliasRecord): Promise<void>;
  getProxyAlias(id: string): Promise<ProxyAliasRecord | undefined>;
  /** Oldest first. */
  listProxyAliases(filter: ProxyAliasFilter): Promise<ProxyAliasRecord[]>;
  /** Returns false when no such alias existed. */
  deleteProxyAlias(id: string): Promise<boolean>;
  /** Inserts the row; throws SnapshotAliasTakenError when the container has a snapshot of this alias. */
  createSnapshot(snapshot: SnapshotRecord): Promise<void>;
  getSnapshot(id: string): Promise<SnapshotRecord | undefined>;
  /** Oldest first. */
  listSnapshots(filter: SnapshotFilter): Promise<SnapshotRecord[]>;
  /** Returns false when no such snapshot existed; its replicas' rows go with it. */
  deleteSnapshot(id: string): Promise<boolean>;
  /** Records that `server_id` keeps a copy of the snapshot's files (nothing when it is recorded); false when the snapshot is gone. */
  addSnapshotReplica(replica: SnapshotReplica): Promise<boolean>;
  /** Replicas, oldest first. */
  listSnapshotReplicas(filter: SnapshotReplicaFilter): Promise<SnapshotReplica[]>;
  /** Returns false when no such replica was recorded. */
  deleteSnapshotReplica(snapshotId: string, serverId: string): Promise<boolean>;
  /** The IPv4 addresses the containers of a server hold. */
  takenAddresses(serverId: string): Promise<string[]>;
  /** The host ports the containers of a server hold, with the container holding each. */
  takenHostPorts(serverId: string): Promise<{ protocol: PortProtocol; host_port: number; container_id: string }[]>;

  /**
   * Atomically claims the container for one operation: succeeds only while no operation is in
   * flight. Returns the record after the claim, or the record as it is (with its
   * current_operation) when someone else holds it, or undefined when it does not exist.
   */
  beginOperation(
    id: string,
    op: { id: string; operation: string; started_at: string },
  ): Promise<{ claimed: true; container: ContainerRecord } | { claimed: false; container: ContainerRecord } | undefined>;
  /** Clears current_operation without a transition (the operation changed nothing). */
  finishOperation(id: string, operationId: string): Promise<void>;
  /**
   * Writes the new status and its log row in one transaction. Returns the record after the
   * write, or undefined when the container is gone or `operation_id` is no longer current.
   */
  transition(id: string, t: Transition): Promise<ContainerRecord | undefined>;
  /**
   * Hands a container to another server in one transaction, under the move's claim: its row, host
   * ports, service labels, proxy aliases and the snapshots `from_server` held go to `to_server`, its address is cleared (given anew
   * on that server at its next start), the claim is released and `log` written. Undefined when the
   * container is gone, not on `from_server` or the claim is no longer current; PortTakenError or
   * ServiceNameTakenError when the other server holds one of its ports or labels (nothing written).
   * A `recovery` (its server lost) needs no claim: the container becomes `stopped` with the
   * snapshot's configuration, and only the snapshots named go to `to_server`.
   */
  moveContainer(id: string, m: ContainerMove): Promise<ContainerRecord | undefined>;
  /**
   * Claims a container of a lost server for its recovery elsewhere (`operation_id`, operation
   * `recover`), whatever claim that server left: only while it is on `from_server`, that server's
   * last heartbeat is older than `stale_before`, and no other recovery holds it (one whose claim is
   * older than `claim_stale_before` is taken over). Undefined when any of these does not hold.
   */
  /**
   * Replaces claim `operation_id` of the container with `next` (null: released), only while that
   * claim holds it; false when it no longer does. A long operation renews its claim's time with it,
   * and one that failed gives back the claim it took over.
   */
  swapClaim(id: string, operationId: string, next: { id: string; operation: string; started_at: string } | null): Promise<boolean>;
  claimForRecovery(id: string, c: { from_server: string; operation_id: string; started_at: string; stale_before: string; claim_stale_before: string }): Promise<ContainerRecord | undefined>;

  /** The container's restart-policy history, or undefined when it does not exist. */
  getRestartHistory(id: string): Promise<RestartHistoryRecord | undefined>;
  /** Changes the given fields of the history (no version bump, no log row). */
  saveRestartHistory(id: string, history: Partial<RestartHistoryRecord>): Promise<void>;
  /** Containers of a server with a restart pending, soonest first. */
  listPendingRestarts(serverId: string): Promise<{ id: string; attempts: number; restart_due_at: string }[]>;

  /** Records a key as in flight; when it exists already, answers the existing record instead. */
  claimIdempotencyKey(rec: IdempotencyRecord): Promise<{ claimed: true } | { claimed: false; existing: IdempotencyRecord }>;
  completeIdempotencyKey(scope: string, key: string, statusCode: number, responseBody: string): Promise<void>;
  /** Forgets a key whose request produced no answer worth replaying. */
  releaseIdempotencyKey(scope: string, key: string): Promise<void>;
  /**
   * Forgets the keys still in flight on one server (their requests were cut when its daemon
   * stopped), so that a retry runs; keys of other servers are kept. Returns how many.
   */
  releaseInFlightIdempotencyKeys(serverId: string): Promise<number>;
  /** Removes keys created before the given time; returns how many. */
  purgeIdempotencyKeys(createdBefore: string): Promise<number>;

  listStatusLogs(
    containerId: string,
    q: { page: number; limit: number; sort_order: SortOrder },
  ): Promise<{ logs: StatusLogRecord[]; total: number }>;
  /** Rows after a cursor, oldest first (for event streams and recovery); `scope` narrows them in SQL. */
  statusLogsSince(seq: number, limit: number, scope?: StatusLogScope): Promise<StatusLogRecord[]>;
  /** How many rows after a cursor are in `scope`, counting no further than `atMost`. */
  countStatusLogsSince(seq: number, scope: StatusLogScope, atMost: number): Promise<number>;
  /** The newest row's cursor (0 when the log is empty). */
  statusLogHead(): Promise<number>;
  /**
   * Hands each status log row this store writes to `listener` once its transaction has committed
   * (before the write's promise resolves), as statusLogsSince would read it, seq included: a reader
   * of the log need not read back what this process wrote. One listener; undefined removes it.
   */
  onLogAppended(listener: ((row: StatusLogRecord) => void) | undefined): void;
}

/** A container's restart-policy history, kept apart from its record: it changes no version and no log. */
export interface RestartHistoryRecord {
  /** Consecutive restarts made by the policy since the last run that lasted long enough. */
  attempts: number;
  /** When the current (or last) run began. */
  last_started_at: string | null;
  /** When a restart the policy decided is due; null when none is pending. */
  restart_due_at: string | null;
}

/** Options of createContainer. */
export interface CreateContainerOptions {
  /** Refuse the insert when the owner of projects already has this many containers. */
  ownerLimit?: { owner_id: string; max: number };
}

/** Thrown when the owner already has as many containers as allowed. */
export class ContainerLimitError extends Error {
  constructor(
    readonly count: number,
    readonly max: number,
  ) {
    super(`the owner has ${count} containers, the most allowed is ${max}`);
    this.name = 'ContainerLimitError';
  }
}

/** Thrown when a user already has as many projects or tokens as allowed. */
export class OwnerLimitError extends Error {
  constructor(
    readonly resource: 'projects' | 'tokens',
    readonly count: number,
    readonly max: number,
  ) {
    super(`the owner has ${count} ${resource}, the most allowed is ${max}`);
    this.name = 'OwnerLimitError';
  }
}

/** Thrown when a container name is already used in the project. */
export class NameTakenError extends Error {
  constructor(readonly containerName: string) {
    super(`container name "${containerName}" is already used in this project`);
    this.name = 'NameTakenError';
  }
}

/** Thrown when another container of the server already has this IPv4 address. */
export class AddressTakenError extends Error {
  constructor(readonly address: string) {
    super(`address ${address} is already given to another container of this server`);
    this.name = 'AddressTakenError';
  }
}

/** Thrown when another container of the server already holds this host port (and protocol). */
export class PortTakenError extends Error {
  constructor(
    readonly protocol: PortProtocol,
    readonly hostPort: number,
  ) {
    super(`host port ${hostPort}/${protocol} is already published by another container of this server`);
    this.name = 'PortTakenError';
  }
}

/** Thrown when another container of the server already serves a program under this host label. */
export class ServiceNameTakenError extends Error {
  constructor(readonly label: string) {
    super(`service name "${label}" is already used by another container of this server`);
    this.name = 'ServiceNameTakenError';
  }
}

/** Thrown when a container has a snapshot of this alias already. */
export class SnapshotAliasTakenError extends Error {
  constructor(readonly alias: string) {
    super(`snapshot alias "${alias}" already exists`);
    this.name = 'SnapshotAliasTakenError';
  }
}

/** Thrown when a proxy alias of this name exists. */
export class AliasTakenError extends Error {
  constructor(readonly alias: string) {
    super(`proxy alias "${alias}" already exists`);
    this.name = 'AliasTakenError';
  }
}
