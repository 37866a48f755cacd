/**
 * Row types of the tables as Kysely sees them: what is stored, before decoding. Booleans are
 * integers 0/1 and JSON columns are text on both backends, so one set of types fits both.
 */
import type { ColumnType, Generated } from 'kysely';

/** 0 or 1: booleans are stored as integers on SQLite and PostgreSQL alike. */
export type BoolInt = 0 | 1;

/** The `users` table. */
export interface UsersTable {
  id: string;
  name: string;
  is_admin: BoolInt;
  created_at: string;
}

/** The `tokens` table; `secret_hash` is unique. */
export interface TokensTable {
  id: string;
  name: string;
  user_id: string;
  secret_hash: string;
  read_only: BoolInt;
  automation: BoolInt;
  created_at: string;
}

/** The `projects` table. */
export interface ProjectsTable {
  id: string;
  name: string;
  owner_id: string;
  created_at: string;
}

/** The `servers` table. */
export interface ServersTable {
  id: string;
  name: string;
  status: string;
  runtime: string;
  last_seen_at: string;
  created_at: string;
  /** Where other daemons reach this one; null without one (a single server). */
  advertise_url: string | null;
  /** Where other daemons' routers reach this one's (service URLs of its containers); null without a router. */
  proxy_url: string | null;
  version: string | null;
  /** JSON: ServerCapacity. */
  capacity: string | null;
  /** JSON: ServerUsage, written with each heartbeat. */
  usage: string | null;
}

/** The `containers` table; (project_id, name) is unique; command/environment_vars/resources are JSON text. */
export interface ContainersTable {
  id: string;
  name: string;
  project_id: string;
  server_id: string;
  status: string;
  desired_status: string;
  container_image: string;
  /** The id of the image the container was created from; null for containers older than image ids. */
  image_id: string | null;
  command: string | null;
  environment_vars: string;
  autostart: BoolInt;
  hoody_kit: BoolInt;
  resources: string;
  stop_timeout: number;
  restart_policy: string;
  current_operation_id: string | null;
  current_operation: string | null;
  current_operation_started_at: string | null;
  exit_code: number | null;
  created_at: string;
  updated_at: string;
  version: Generated<number>;
  /** Restart-policy history, so a daemon restart keeps back-off and retry count: consecutive restarts made by the policy. */
  restart_attempts: Generated<number>;
  /** When the container's current (or last) run began. */
  last_started_at: string | null;
  /** When a restart the policy decided is due; null when none is pending. */
  restart_due_at: string | null;
  /** `bridge` or `none` (added by migration 0008; older rows are `none`). */
  network_mode: Generated<string>;
  /** The container's IPv4 address on the server's bridge; unique per server; null with network `none`. */
  ipv4_address: string | null;
  /** JSON PublishedPort[]; each host port also has its published_ports row. */
  ports: Generated<string>;
  /** JSON ProgramRecord[] (added by migration 0009). */
  programs: Generated<string>;
  /** JSON string[]: its programs' host labels; each also has its service_hosts row. */
  service_labels: Generated<string>;
}

/** The `service_hosts` table: one row per program host label a container holds; (server_id, label) is the primary key. */
export interface ServiceHostsTable {
  server_id: string;
  label: string;
  container_id: string;
}

/** The `proxy_aliases` table: `alias` is unique. */
export interface ProxyAliasesTable {
  id: string;
  alias: string;
  container_id: string;
  server_id: string;
  program: string;
  program_index: number;
  target_path: string;
  public: BoolInt;
  created_by: string;
  created_at: string;
}

/** The `snapshots` table: (container_id, alias) is unique; config is JSON text. */
export interface SnapshotsTable {
  id: string;
  container_id: string;
  server_id: string;
  alias: string | null;
  image_id: string | null;
  container_image: string;
  config: string;
  files: number;
  content_bytes: number | string;
  size_bytes: number | string;
  frozen_ms: number | null;
  created_by: string;
  created_at: string;
}

/** The `snapshot_replicas` table: a server that keeps a copy of a snapshot's files besides its own server; (snapshot_id, server_id) is the primary key. */
export interface SnapshotReplicasTable {
  snapshot_id: string;
  server_id: string;
  created_at: string;
}

/** The `published_ports` table: one row per host port a container holds; (server_id, protocol, host_port) is the primary key. */
export interface PublishedPortsTable {
  server_id: string;
  protocol: string;
  host_port: number;
  host_ip: string;
  container_id: string;
  container_port: number;
}

/** The `idempotency_keys` table: one answer per (caller, key). */
export interface IdempotencyKeysTable {
  scope: string;
  key: string;
  request_hash: string;
  status_code: number | null;
  response_body: string | null;
  /** The server answering the first request (added by migration 0004; NULL on older rows). */
  server_id: string | null;
  created_at: string;
}

/** The `status_logs` table: append-only, `seq` assigned by the database; metadata is JSON text. */
export interface StatusLogsTable {
  seq: ColumnType<number, never, never>;
  id: string;
  container_id: string;
  from_status: string;
  to_status: string;
  transition_time: string;
  duration_ms: number;
  triggered_by: string;
  metadata: string;
  /** The container's project when the row was written (NULL: older rows whose project is unknown). */
  project_id: string | null;
  /** The row's position in its container's log, 1..N without gaps (added by migration 0006). */
  ordinal: number;
}

/** Every table the store reads and writes. */
export interface Database {
  users: UsersTable;
  tokens: TokensTable;
  projects: ProjectsTable;
  servers: ServersTable;
  containers: ContainersTable;
  status_logs: StatusLogsTable;
  idempotency_keys: IdempotencyKeysTable;
  published_ports: PublishedPortsTable;
  service_hosts: ServiceHostsTable;
  proxy_aliases: ProxyAliasesTable;
  snapshots: SnapshotsTable;
  snapshot_replicas: SnapshotReplicasTable;
}

/** Which SQL backend a Kysely instance talks to; the store branches on it only where SQL differs. */
export type SqlDialect = 'sqlite' | 'postgres';
