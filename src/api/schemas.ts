/**
 * Wire schemas: the one description of every resource and request body, shared by the
 * server (validation), the SDK (types) and the OpenAPI document.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

/** The statuses a container can be in (SPEC §3). */
export const CONTAINER_STATUSES = ['creating', 'running', 'stopped', 'paused', 'failed', 'copying'] as const;
export type ContainerStatus = (typeof CONTAINER_STATUSES)[number];
export const isContainerStatus = (v: unknown): v is ContainerStatus =>
  typeof v === 'string' && (CONTAINER_STATUSES as readonly string[]).includes(v);

/** Lifecycle operations exposed as POST /containers/{id}/{operation}. */
export const LIFECYCLE_OPERATIONS = ['start', 'stop', 'force-stop', 'restart', 'pause', 'resume'] as const;
export type LifecycleOperation = (typeof LIFECYCLE_OPERATIONS)[number];
export const isLifecycleOperation = (v: unknown): v is LifecycleOperation =>
  typeof v === 'string' && (LIFECYCLE_OPERATIONS as readonly string[]).includes(v);

/** Every operation that can appear in a status log or as a current operation. */
export const OPERATIONS = [...LIFECYCLE_OPERATIONS, 'create', 'delete', 'update', 'exit', 'reconcile', 'snapshot', 'restore', 'copy', 'move'] as const;
export type Operation = (typeof OPERATIONS)[number];

export const RESTART_POLICIES = ['no', 'on-failure', 'always'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

const literalUnion = <T extends readonly string[]>(values: T) =>
  Type.Union(values.map((v) => Type.Literal(v)) as never) as unknown as TSchema & { static: T[number] };

export const Id = Type.String({ pattern: '^[0-9a-f]{24}$', description: '24 lowercase hex characters' });
export const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601 UTC with milliseconds' });
export const ContainerStatusSchema = literalUnion(CONTAINER_STATUSES);
export const RestartPolicySchema = literalUnion(RESTART_POLICIES);

export const Resources = Type.Object(
  {
    cpu: Type.Number({ exclusiveMinimum: 0, maximum: 1024, description: 'CPU cores (fractions allowed)' }),
    memory_mb: Type.Integer({ minimum: 4, maximum: 4_194_304 }),
    pids: Type.Integer({ minimum: 1, maximum: 4_194_304 }),
  },
  { additionalProperties: false },
);
export type Resources = Static<typeof Resources>;

export const EnvironmentVars = Type.Record(Type.String(), Type.String({ maxLength: 65536 }), {
  maxProperties: 512,
  propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$', maxLength: 256 },
  description: 'variable names: letters, digits and underscores, not starting with a digit',
});

export const Command = Type.Array(Type.String({ minLength: 1, maxLength: 65536 }), { minItems: 1, maxItems: 1024 });

export const CurrentOperation = Type.Object({
  id: Id,
  operation: Type.String(),
  started_at: Timestamp,
});
export type CurrentOperation = Static<typeof CurrentOperation>;

export const ProcessInfo = Type.Object({ pid: Type.Integer(), command: Type.String({ description: 'the first 4 KiB of the command line, ending in "…" when there was more' }), state: Type.Optional(Type.String({ description: 'R running, S sleeping, D uninterruptible, T stopped, Z zombie' })) });

export const NETWORK_MODES = ['bridge', 'none'] as const;
export const NetworkModeSchema = Type.Unsafe<(typeof NETWORK_MODES)[number]>({
  type: 'string',
  enum: [...NETWORK_MODES],
  description: '`bridge`: an address on the server\'s bridge, outbound traffic, published ports and the names of the project\'s other containers; `none`: loopback only',
});
export const PORT_PROTOCOLS = ['tcp', 'udp'] as const;
export const PortProtocolSchema = Type.Unsafe<(typeof PORT_PROTOCOLS)[number]>({ type: 'string', enum: [...PORT_PROTOCOLS] });

/** A published port as shown: every field filled in. */
export const PublishedPortSchema = Type.Object({
  container_port: Type.Integer({ minimum: 1, maximum: 65535 }),
  host_port: Type.Integer({ minimum: 1, maximum: 65535 }),
  protocol: PortProtocolSchema,
  host_ip: Type.String({ description: 'the host address it is reached on; `0.0.0.0` for every address of the host' }),
});

/** A published port as a request asks for it. */
export const PortRequestSchema = Type.Object(
  {
    container_port: Type.Integer({ minimum: 1, maximum: 65535 }),
    host_port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'a free one from 20000-32767 is chosen when absent' })),
    protocol: Type.Optional(Type.Unsafe<(typeof PORT_PROTOCOLS)[number]>({ type: 'string', enum: [...PORT_PROTOCOLS], description: 'tcp (default) or udp' })),
    host_ip: Type.Optional(Type.String({ format: 'ipv4', description: 'an IPv4 address of the host; `0.0.0.0` (default) for every address' })),
  },
  { additionalProperties: false },
);
export type PortRequest = Static<typeof PortRequestSchema>;
export const PortRequests = Type.Array(PortRequestSchema, { maxItems: 100, description: 'only with network `bridge`' });

export const ContainerAddressSchema = Type.Object({
  family: Type.Union([Type.Literal('ipv4'), Type.Literal('ipv6')]),
  address: Type.String(),
  prefix_length: Type.Integer(),
  gateway: Type.String(),
});

/** A program a container serves: one instance of it, reachable at its service URL through the server's router. */
export const ProgramSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$', description: 'lowercase letters, digits and dashes, 1-32 characters, starting with a letter (`web`, `api`)' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, description: 'the TCP port it listens on inside the container' }),
    index: Type.Optional(Type.Integer({ minimum: 1, maximum: 99, description: 'which instance of the program this is (`web-1`, `web-2`); the next free one of its name, from 1, when absent' })),
    public: Type.Optional(Type.Boolean({ description: 'served to anyone without a token (default false: only the container\'s owner, with a token or an open link)' })),
  },
  { additionalProperties: false },
);
export type ProgramRequest = Static<typeof ProgramSchema>;
/** A program as stored and shown: every field filled in. */
export const ProgramView = Type.Object({ name: Type.String(), port: Type.Integer(), index: Type.Integer(), public: Type.Boolean() });
export const ProgramRequests = Type.Array(ProgramSchema, { maxItems: 100, description: 'the programs it serves; each name and index once' });

export const SERVICE_STATES = ['active', 'inactive', 'unavailable'] as const;
/** One program instance's service URL and what answers there now. */
export const ServiceView = Type.Object({
  program: Type.String(),
  index: Type.Integer(),
  port: Type.Integer(),
  public: Type.Boolean(),
  host: Type.String({ description: 'its host name: `{project}-{container}-{program}-{index}.{server}.{domain}`' }),
  url: Type.Union([Type.String(), Type.Null()], { description: 'its URL through the router (null when this server runs no router)' }),
  listening: Type.Boolean({ description: 'whether something listens on its port inside the container now' }),
  status: Type.Unsafe<(typeof SERVICE_STATES)[number]>({
    type: 'string',
    enum: [...SERVICE_STATES],
    description: '`active`: the container runs and the port listens; `inactive`: it runs but nothing listens yet; `unavailable`: the container is not running (the URL answers 503)',
  }),
  open_url: Type.Optional(
    Type.Union([Type.String(), Type.Null()], {
      description: 'GET /containers/{id}/services only: a link that opens the URL in a browser for the caller (a ticket that works for 5 minutes, traded for a session cookie of that host alone); null for a public program or without a router',
    }),
  ),
});
export type ServiceView = Static<typeof ServiceView>;

export const ConnectedClient = Type.Object({
  id: Type.String(),
  user_id: Type.String(),
  address: Type.Union([Type.String(), Type.Null()], { description: 'the address it connects from, as this server sees it' }),
  since: Timestamp,
});

export const RuntimeInfo = Type.Object({
  pid: Type.Union([Type.Integer(), Type.Null()]),
  processes: Type.Array(ProcessInfo, { description: 'at most 500, the lowest pids; `processes_total` counts them all' }),
  processes_total: Type.Integer({ description: 'how many processes the container has' }),
  memory_bytes: Type.Integer(),
  cpu_usage_ns: Type.Integer(),
  listening_ports: Type.Array(Type.Integer()),
  addresses: Type.Array(ContainerAddressSchema, { description: 'the container\'s addresses as its network namespace has them now (empty when it does not run, or with network `none`)' }),
  ports: Type.Array(PublishedPortSchema, { description: 'the ports it publishes' }),
  services: Type.Array(ServiceView, { description: 'its programs, with their URLs and whether each is really listening' }),
  terminals: Type.Array(
    Type.Object({
      id: Type.String(),
      index: Type.Union([Type.Integer(), Type.Null()], { description: 'the shared session\'s index (`terminal-1` is 1): it outlives its clients and ends when its shell exits or the container stops; null for a session of one client, which ends with it' }),
      user_id: Type.String({ description: 'who opened it' }),
      command: Type.Array(Type.String()),
      cols: Type.Integer(),
      rows: Type.Integer(),
      started_at: Timestamp,
      clients: Type.Array(ConnectedClient, { description: 'who is attached now' }),
    }),
    { description: 'its open terminal sessions: the kit\'s shared ones (terminal-N, or GET /containers/{id}/terminal?index=N) and one-client ones, with who is attached' },
  ),
  displays: Type.Object(
    {
      active: Type.Boolean({ description: 'whether its display (the kit\'s virtual desktop, `display-1`) is up and answering' }),
      memory_bytes: Type.Integer({ description: 'memory of the display\'s own processes (its X and VNC server), accounted apart from the container\'s' }),
      connected_clients: Type.Array(Type.Object({ ...ConnectedClient.properties, view_only: Type.Boolean({ description: 'whether it may only watch (its keys, pointer, clipboard and resizes are dropped)' }) }), { description: 'who is viewing the display now' }),
    },
    { description: 'the kit\'s display (hoody_kit: true)' },
  ),
});
export type RuntimeInfo = Static<typeof RuntimeInfo>;

export const SERVER_STATUSES = ['ready', 'maintenance', 'offline'] as const;
export type ServerStatus = (typeof SERVER_STATUSES)[number];

export const Container = Type.Object({
  id: Id,
  name: Type.String(),
  project_id: Id,
  server_id: Id,
  server_name: Type.String(),
  server_status: Type.Unsafe<ServerStatus>({ type: 'string', enum: [...SERVER_STATUSES], description: 'its server\'s status: while `offline`, `status` is the last one known and operations answer SERVER_OFFLINE' }),
  status: ContainerStatusSchema,
  container_image: Type.String(),
  image_id: Type.Union([Type.String(), Type.Null()], { description: 'the id of the image it was created from (it keeps running that image when its name is pulled again); null for containers older than image ids' }),
  command: Type.Union([Command, Type.Null()]),
  environment_vars: Type.Record(Type.String(), Type.String()),
  autostart: Type.Boolean(),
  hoody_kit: Type.Boolean(),
  resources: Resources,
  stop_timeout: Type.Integer(),
  restart_policy: RestartPolicySchema,
  current_operation: Type.Union([CurrentOperation, Type.Null()]),
  exit_code: Type.Union([Type.Integer(), Type.Null()]),
  created_at: Timestamp,
  updated_at: Timestamp,
  desired_status: Type.Union([Type.Literal('running'), Type.Literal('stopped'), Type.Literal('paused')], {
    description: 'what the user last asked for; the daemon drives `status` towards it and restarts or autostarts accordingly',
  }),
  network: NetworkModeSchema,
  ip_address: Type.Union([Type.String(), Type.Null()], { description: 'its IPv4 address on the server\'s bridge, kept across restarts; null with network `none`' }),
  ports: Type.Array(PublishedPortSchema),
  programs: Type.Array(ProgramView, { description: 'the programs it serves through the router' }),
  observed_status: Type.Optional(Type.Union([ContainerStatusSchema, Type.Null()], { description: 'GET one container only: what the runtime shows right now (null: it knows no such container)' })),
  in_sync: Type.Optional(Type.Boolean({ description: 'GET one container only: whether `status` is what the runtime shows' })),
  runtime_info: Type.Optional(RuntimeInfo),
});
export type Container = Static<typeof Container>;

/** Names are DNS-label-like so they can appear in URLs and hostnames. */
export const ContainerName = Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', description: 'lowercase letters, digits and dashes; 1-63 characters' });
/** An image reference as Docker writes it (`nginx:1.27`, `ghcr.io/acme/api@sha256:…`), or `busybox` (the built-in image). */
export const ImageReferenceText = Type.String({ minLength: 1, maxLength: 512, pattern: '^\\S+$', description: 'an image reference (`nginx:1.27`, `ghcr.io/acme/api@sha256:…`); the bare `busybox` is the built-in image' });
export const PULL_POLICIES = ['missing', 'always', 'never'] as const;
export const PullPolicySchema = Type.Unsafe<(typeof PULL_POLICIES)[number]>({ type: 'string', enum: [...PULL_POLICIES], description: 'when to pull the image: when it is not on this server (default), every time, or never (IMAGE_NOT_FOUND when missing)' });

export const CreateContainerBody = Type.Object(
  {
    name: ContainerName,
    project_id: Type.Optional(Id),
    server_id: Type.Optional(Type.String({ pattern: '^[0-9a-f]{24}$', description: 'the server to create it on (GET /servers); without it and `server_name`, the ready server with the most free memory' })),
    server_name: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'the server to create it on, by name' })),
    container_image: ImageReferenceText,
    pull: Type.Optional(PullPolicySchema),
    command: Type.Optional(Type.Union([Command, Type.Null()])),
    environment_vars: Type.Optional(EnvironmentVars),
    autostart: Type.Optional(Type.Boolean()),
    hoody_kit: Type.Optional(Type.Boolean()),
    resources: Type.Optional(Type.Partial(Resources)),
    stop_timeout: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 })),
    restart_policy: Type.Optional(RestartPolicySchema),
    network: Type.Optional(NetworkModeSchema),
    ports: Type.Optional(PortRequests),
    programs: Type.Optional(ProgramRequests),
  },
  { additionalProperties: false },
);
export type CreateContainerBody = Static<typeof CreateContainerBody>;

export const UpdateContainerBody = Type.Object(
  {
    name: Type.Optional(ContainerName),
    command: Type.Optional(Type.Union([Command, Type.Null()])),
    environment_vars: Type.Optional(EnvironmentVars),
    autostart: Type.Optional(Type.Boolean()),
    resources: Type.Optional(Type.Partial(Resources)),
    stop_timeout: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 })),
    restart_policy: Type.Optional(RestartPolicySchema),
    network: Type.Optional(NetworkModeSchema),
    ports: Type.Optional(Type.Array(PortRequestSchema, { maxItems: 100, description: 'replaces every published port; only with network `bridge`' })),
    programs: Type.Optional(Type.Array(ProgramSchema, { maxItems: 100, description: 'replaces every program' })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateContainerBody = Static<typeof UpdateContainerBody>;

export const LifecycleBody = Type.Object(
  {
    reason: Type.Optional(Type.String({ maxLength: 1024 })),
    timeout: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600, description: 'stop only: seconds to wait after SIGTERM before SIGKILL' })),
  },
  { additionalProperties: false },
);
export type LifecycleBody = Static<typeof LifecycleBody>;

/** A snapshot's alias: unique per container; a path may name a snapshot by it instead of its id. */
export const SnapshotAlias = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
  description: '1-128 letters, digits, `.`, `_` or `-`, starting with a letter or digit (`pre-deploy-2025-11-09`); unique per container',
});

export const CreateSnapshotBody = Type.Object(
  {
    alias: Type.Optional(SnapshotAlias),
    reason: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  { additionalProperties: false },
);
export type CreateSnapshotBody = Static<typeof CreateSnapshotBody>;

/** What a container's configuration was when the snapshot was cut; a restore puts it back. */
export const SnapshotConfig = Type.Object({
  container_image: Type.String(),
  image_id: Type.Union([Type.String(), Type.Null()]),
  command: Type.Union([Command, Type.Null()]),
  environment_vars: Type.Record(Type.String(), Type.String()),
  autostart: Type.Boolean(),
  hoody_kit: Type.Boolean(),
  resources: Resources,
  stop_timeout: Type.Integer(),
  restart_policy: RestartPolicySchema,
  programs: Type.Array(ProgramView),
});
export type SnapshotConfig = Static<typeof SnapshotConfig>;

export const Snapshot = Type.Object({
  id: Id,
  container_id: Id,
  server_id: Type.String({ description: 'the server whose snapshot store holds its files' }),
  replicas: Type.Array(Type.Object({ server_id: Type.String(), created_at: Timestamp }, { additionalProperties: false }), {
    description: 'other servers keeping a copy of its files (`HOODY_SNAPSHOT_REPLICAS`): a container whose server is lost can be recovered from it there',
  }),
  alias: Type.Union([Type.String(), Type.Null()]),
  image_id: Type.Union([Type.String(), Type.Null()], { description: 'the image its files sit on (kept on this server while a snapshot uses it)' }),
  container_image: Type.String(),
  files: Type.Integer({ description: 'regular files in the container\'s own layer' }),
  content_bytes: Type.Integer({ description: 'bytes of those files' }),
  size_bytes: Type.Integer({ description: 'disk this snapshot\'s files took in the store: the files no earlier snapshot held (an unchanged file costs a link)' }),
  frozen_ms: Type.Union([Type.Number(), Type.Null()], { description: 'how long the container was frozen while the snapshot was cut (null: it was not running)' }),
  created_by: Type.String({ description: 'who made it: a user id, or a system actor' }),
  created_at: Timestamp,
  config: SnapshotConfig,
});
export type Snapshot = Static<typeof Snapshot>;

export const SnapshotParams = Type.Object(
  { id: Id, snapshot: Type.String({ minLength: 1, maxLength: 128, description: 'the snapshot\'s id or alias' }) },
  { additionalProperties: false },
);

export const RestoreSnapshotBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1024 })) }, { additionalProperties: false });
export type RestoreSnapshotBody = Static<typeof RestoreSnapshotBody>;

export const CopyContainerBody = Type.Object(
  {
    name: ContainerName,
    project_id: Type.Optional(Id),
    snapshot_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'copy this snapshot (id or alias) of the source instead of its files as they are now' })),
    start: Type.Optional(Type.Boolean({ description: 'start the copy once it is made (default false: it is left stopped)' })),
    server_id: Type.Optional(Type.String({ pattern: '^[0-9a-f]{24}$', description: 'make the copy on this server (default: the source\'s): it is made on the source\'s server, then moved' })),
    server_name: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'make the copy on this server, by name' })),
  },
  { additionalProperties: false },
);
export type CopyContainerBody = Static<typeof CopyContainerBody>;

export const MoveContainerBody = Type.Object(
  {
    server_id: Type.Optional(Type.String({ pattern: '^[0-9a-f]{24}$', description: 'the server to move it to' })),
    server_name: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'the server to move it to, by name' })),
    snapshot: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description: 'a container of an offline server only: the snapshot (id or alias) to recover it from; by default its newest one whose files a server that answers keeps',
      }),
    ),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
export type MoveContainerBody = Static<typeof MoveContainerBody>;

export const SnapshotDeleted = Type.Object({ snapshot_id: Id, reclaimed_bytes: Type.Integer({ description: 'disk freed: the files no other snapshot holds' }) });
export type SnapshotDeleted = Static<typeof SnapshotDeleted>;

export const LifecycleResult = Type.Object({
  operation: Type.String(),
  container_id: Id,
  status: ContainerStatusSchema,
});
export type LifecycleResult = Static<typeof LifecycleResult>;

export const StatusLogEntry = Type.Object({
  id: Id,
  container_id: Id,
  from_status: ContainerStatusSchema,
  to_status: ContainerStatusSchema,
  transition_time: Timestamp,
  duration_ms: Type.Integer(),
  triggered_by: Type.String({ description: 'the user id (`user_…`), or a system actor: `system`, `autostart`, `restart-policy`' }),
  metadata: Type.Object(
    {
      operation: Type.String(),
      server_name: Type.String(),
      token: Type.Optional(Type.String({ description: 'the automation token the user acted through' })),
      reason: Type.Optional(Type.String()),
      error: Type.Optional(Type.String()),
      exit_code: Type.Optional(Type.Integer()),
    },
    { additionalProperties: true },
  ),
});
export type StatusLogEntry = Static<typeof StatusLogEntry>;

export const SORT_ORDERS = ['asc', 'desc'] as const;
export type SortOrder = (typeof SORT_ORDERS)[number];

export const StatusLogQuery = Type.Object(
  {
    page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10 })),
    sort_order: Type.Optional(literalUnion(SORT_ORDERS)),
  },
  { additionalProperties: false },
);
export type StatusLogQuery = Static<typeof StatusLogQuery>;

export const Pagination = Type.Object({
  total: Type.Integer(),
  page: Type.Integer(),
  limit: Type.Integer(),
  totalPages: Type.Integer(),
});

export const Project = Type.Object({ id: Id, name: Type.String(), owner_id: Type.String(), created_at: Timestamp });
export type Project = Static<typeof Project>;
export const CreateProjectBody = Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false });

export const Server = Type.Object({
  id: Id,
  name: Type.String(),
  status: Type.Unsafe<ServerStatus>({ type: 'string', enum: [...SERVER_STATUSES], description: '`offline` once its daemon shut down or missed its heartbeats for the cluster\'s offline time (15 s by default); `maintenance`: it takes no new containers' }),
  runtime: Type.String(),
  last_seen_at: Type.String({ format: 'date-time', description: 'its daemon\'s last heartbeat' }),
  created_at: Timestamp,
  advertise_url: Type.Union([Type.String(), Type.Null()], { description: 'where the other daemons reach its daemon; null: requests are not sent on to it' }),
  proxy_url: Type.Union([Type.String(), Type.Null()], { description: 'where the other servers\' routers send requests for its containers\' service URLs; null: no router, or not in a cluster' }),
  version: Type.Union([Type.String(), Type.Null()], { description: 'the Hoody version its daemon runs' }),
  capacity: Type.Union([Type.Object({ cpus: Type.Integer(), memory_mb: Type.Integer() }), Type.Null()], { description: 'what the server has for containers' }),
  usage: Type.Union([Type.Object({ containers: Type.Integer(), running: Type.Integer(), memory_mb: Type.Integer({ description: 'the memory limits of its running containers, summed' }) }), Type.Null()], { description: 'as of its last heartbeat' }),
});
export type Server = Static<typeof Server>;

export const MaintenanceBody = Type.Object(
  {
    enabled: Type.Boolean({ description: 'true: enter maintenance (no new containers; running ones stopped unless `stop_containers` is false); false: leave it (the `autostart` containers it stopped start again, unless they were started, stopped or exited since)' }),
    stop_containers: Type.Optional(Type.Boolean({ description: 'entering: stop its running containers gracefully (default true), or leave them running' })),
    reason: Type.Optional(Type.String({ maxLength: 500, description: 'written in the status logs of the containers it stops or starts' })),
  },
  { additionalProperties: false },
);
export type MaintenanceBody = Static<typeof MaintenanceBody>;

export const RecoverServerBody = Type.Object(
  {
    server_id: Type.Optional(Type.String({ pattern: '^[0-9a-f]{24}$', description: 'the server to recover its containers on; by default each goes where a new container would' })),
    server_name: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'the server to recover its containers on, by name' })),
    reason: Type.Optional(Type.String({ maxLength: 500, description: 'written in the status log of each container recovered' })),
  },
  { additionalProperties: false },
);
export type RecoverServerBody = Static<typeof RecoverServerBody>;

export const Image = Type.Object({
  id: Type.String({ description: 'the config digest (`sha256:…`); `builtin:busybox` for the built-in image' }),
  name: Type.String({ description: 'the first of `names` (the id when it has none)' }),
  names: Type.Array(Type.String(), { description: 'the normalised references it is known by (`docker.io/library/nginx:1.27`)' }),
  repo_digests: Type.Array(Type.String(), { description: '`domain/repository@sha256:…` of each manifest it was pulled by' }),
  size_bytes: Type.Integer({ description: 'the unpacked size of its layers' }),
  layers: Type.Integer(),
  created_at: Type.String({ description: 'when the image was built (its config\'s `created`), or stored when unknown' }),
  stored_at: Type.String({ description: 'when it was stored on this server' }),
  source: Type.String({ description: 'how it got here: `pull <reference>`, `import <file>`, `host busybox-static`' }),
  builtin: Type.Boolean({ description: 'the built-in busybox: it cannot be deleted or tagged' }),
  used_by: Type.Array(Id, { description: 'the containers of this server created from it' }),
});
export type Image = Static<typeof Image>;

export const ImageConfigView = Type.Object({
  entrypoint: Type.Array(Type.String()),
  cmd: Type.Array(Type.String()),
  env: Type.Array(Type.String()),
  working_dir: Type.String(),
  user: Type.String(),
  exposed_ports: Type.Array(Type.String(), { description: '`8080/tcp`…: recorded, not published' }),
  labels: Type.Record(Type.String(), Type.String()),
});

export const ImageDetail = Type.Composite([
  Image,
  Type.Object({
    config: ImageConfigView,
    history: Type.Array(Type.Object({ created: Type.Optional(Type.String()), created_by: Type.Optional(Type.String()), comment: Type.Optional(Type.String()), empty_layer: Type.Optional(Type.Boolean()) })),
  }),
]);
export type ImageDetail = Static<typeof ImageDetail>;

export const PullImageBody = Type.Object(
  {
    reference: Type.String({ minLength: 1, maxLength: 512, pattern: '^\\S+$', description: 'an image reference; here `busybox` means Docker Hub\'s `docker.io/library/busybox:latest`' }),
    platform: Type.Optional(Type.String({ minLength: 3, maxLength: 100, description: '`os/architecture[/variant]`, e.g. `linux/arm64/v8`; the host\'s by default' })),
  },
  { additionalProperties: false },
);
export type PullImageBody = Static<typeof PullImageBody>;

/** One line of `POST /images/pull` with `Accept: application/x-ndjson`: progress, then `done` or `error`. */
export type ImagePullEvent =
  | { kind: 'resolved'; reference: string; manifestDigest: string; layers: { digest: string; size: number }[] }
  | { kind: 'layer-exists'; digest: string; diffId: string }
  | { kind: 'download'; digest: string; downloaded: number; total: number }
  | { kind: 'downloaded'; digest: string }
  | { kind: 'extracting'; diffId: string; digest?: string }
  | { kind: 'extracted'; diffId: string; sizeBytes: number; digest?: string }
  | { kind: 'done'; image: ImageDetail }
  | { kind: 'error'; error: { code: string; message: string; details?: Record<string, unknown>; /** The HTTP status the code has elsewhere (the stream itself answered 200). */ statusCode?: number } };

export const TagImageBody = Type.Object({ name: Type.String({ minLength: 1, maxLength: 512, pattern: '^\\S+$', description: 'the new name, a reference (`registry.example.com/app:v2`)' }) }, { additionalProperties: false });
export const ImageParams = Type.Object({ image: Type.String({ minLength: 1, maxLength: 512, description: 'a name (URL-encoded) or id' }) }, { additionalProperties: false });
export const ImageDeleteQuery = Type.Object({ force: Type.Optional(Type.Boolean({ description: 'delete even while containers use it (they cannot start again)' })) }, { additionalProperties: false });
export const ImageRemoved = Type.Object({ removed: Type.Array(Type.String(), { description: 'ids of the images removed' }), untagged: Type.Array(Type.String(), { description: 'names removed' }) });
export const ImagesPruned = Type.Object({ removed: Type.Array(Type.String()), reclaimed_bytes: Type.Integer() });

export const User = Type.Object({ id: Type.String(), name: Type.String(), is_admin: Type.Boolean(), created_at: Timestamp });
export type User = Static<typeof User>;
export const CreateUserBody = Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false });

export const Token = Type.Object({
  id: Id,
  name: Type.String(),
  user_id: Type.String(),
  read_only: Type.Boolean(),
  automation: Type.Boolean(),
  created_at: Timestamp,
});
export type Token = Static<typeof Token>;
export const CreateTokenBody = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' }),
    user_id: Type.Optional(Type.String({ maxLength: 64 })),
    read_only: Type.Optional(Type.Boolean()),
    automation: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CreateTokenBody = Static<typeof CreateTokenBody>;

/** Page size of container lists when the request does not say, and the largest a request may ask for. */
export const CONTAINER_PAGE = { defaultLimit: 100, maxLimit: 1000 } as const;

/** `page` and `limit` of a container list. */
const containerPageFields = {
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: CONTAINER_PAGE.maxLimit, default: CONTAINER_PAGE.defaultLimit, description: `containers per page (default ${CONTAINER_PAGE.defaultLimit})` })),
};

export const ContainerListQuery = Type.Object(
  {
    status: Type.Optional(ContainerStatusSchema),
    project_id: Type.Optional(Id),
    name: Type.Optional(Type.String({ maxLength: 63 })),
    ...containerPageFields,
  },
  { additionalProperties: false },
);

export const ContainerPageQuery = Type.Object(containerPageFields, { additionalProperties: false });
export type ContainerListQuery = Static<typeof ContainerListQuery>;

/** Request headers of every POST: a retry with the same key answers the first answer and does nothing again. */
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'any unique string per intended operation; kept 24 h' })),
});

/** Request headers of PATCH /containers/{id}: the ETag from a GET, to refuse a change based on a stale read. */
export const IfMatchHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ maxLength: 64, description: 'the ETag a GET answered, e.g. "7"' })),
});

/** An operation run in the background (`?wait=false`), as GET /operations/{id} shows it. */
export const OperationInfo = Type.Object({
  id: Id,
  container_id: Id,
  operation: Type.String(),
  status: Type.Union([Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed')]),
  triggered_by: Type.String({ description: 'the user id, or a system actor' }),
  token: Type.Optional(Type.String({ description: 'the automation token the user acted through' })),
  started_at: Timestamp,
  finished_at: Type.Union([Timestamp, Type.Null()]),
  result_status: Type.Union([ContainerStatusSchema, Type.Null()], { description: 'the container status the operation left' }),
  error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
});
export type OperationInfo = Static<typeof OperationInfo>;

export const AsyncQuery = Type.Object(
  { wait: Type.Optional(Type.Boolean({ description: 'false: answer 202 with the operation at once; follow it with GET /operations/{id} or /events' })) },
  { additionalProperties: false },
);

export const WaitQuery = Type.Object(
  {
    status: ContainerStatusSchema,
    timeout: Type.Optional(Type.Number({ minimum: 0, maximum: 300, default: 30, description: 'seconds' })),
  },
  { additionalProperties: false },
);

export const BulkBody = Type.Object(
  {
    operation: literalUnion(LIFECYCLE_OPERATIONS),
    ids: Type.Optional(Type.Array(Id, { minItems: 1, maxItems: 1000, uniqueItems: true })),
    filter: Type.Optional(
      Type.Object(
        {
          status: Type.Optional(ContainerStatusSchema),
          project_id: Type.Optional(Id),
          name: Type.Optional(Type.String({ maxLength: 63 })),
        },
        { additionalProperties: false },
      ),
    ),
    reason: Type.Optional(Type.String({ maxLength: 1024 })),
    timeout: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 })),
  },
  { additionalProperties: false, description: 'exactly one of `ids` and `filter`' },
);
export type BulkBody = Static<typeof BulkBody>;

export const BulkItemResult = Type.Object({
  container_id: Type.String(),
  ok: Type.Boolean(),
  status: Type.Optional(ContainerStatusSchema),
  error: Type.Optional(Type.Object({ statusCode: Type.Integer(), code: Type.String(), message: Type.String() })),
});
export type BulkItemResult = Static<typeof BulkItemResult>;

export const BulkResult = Type.Object({
  operation: Type.String(),
  results: Type.Array(BulkItemResult),
  summary: Type.Object({ total: Type.Integer(), succeeded: Type.Integer(), failed: Type.Integer() }),
});

export const EVENT_TYPES = ['transition', 'operation'] as const;
export const EventsQuery = Type.Object(
  {
    container_id: Type.Optional(Id),
    project_id: Type.Optional(Id),
    types: Type.Optional(Type.String({ pattern: '^(transition|operation|client)(,(transition|operation|client))*$', description: 'comma-separated: transition, operation, client (default all three)' })),
    since: Type.Optional(
      Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'replay transitions after this cursor (the SSE id); Last-Event-ID does the same; a cursor above the newest row starts at the newest row' }),
    ),
  },
  { additionalProperties: false },
);

/** A proxy alias: `{alias}.{domain}` served by one program instance of one container. */
export const ProxyAlias = Type.Object({
  id: Id,
  alias: Type.String(),
  container_id: Id,
  program: Type.String(),
  index: Type.Integer(),
  target_path: Type.String({ description: 'the path prefix requests are sent to (`/` keeps the path as asked)' }),
  public: Type.Boolean(),
  host: Type.String({ description: '`{alias}.{domain}`' }),
  url: Type.Union([Type.String(), Type.Null()], { description: 'its URL through the router (null when this server runs no router)' }),
  created_at: Timestamp,
});
export type ProxyAlias = Static<typeof ProxyAlias>;

export const CreateProxyAliasBody = Type.Object(
  {
    container_id: Id,
    alias: Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', description: 'a DNS label: lowercase letters, digits and dashes, 1-63 characters; unique on the database' }),
    program: Type.String({ minLength: 1, maxLength: 32, description: 'the name of one of the container\'s programs' }),
    index: Type.Optional(Type.Integer({ minimum: 1, maximum: 99, description: 'which instance of the program (default 1)' })),
    target_path: Type.Optional(Type.String({ pattern: '^/[\\x21-\\x7e]{0,1023}$', description: 'the path prefix requests are sent to (default `/`)' })),
    public: Type.Optional(Type.Boolean({ description: 'served to anyone without a token (default: as the program is)' })),
  },
  { additionalProperties: false },
);
export type CreateProxyAliasBody = Static<typeof CreateProxyAliasBody>;
export const ProxyAliasListQuery = Type.Object({ container_id: Type.Optional(Id) }, { additionalProperties: false });

/** The most bytes an exec's stdin may hold, and the base64 length of that many. */
export const EXEC_STDIN_MAX_BYTES = 1024 * 1024;
const EXEC_STDIN_BASE64_CHARS = Math.ceil(EXEC_STDIN_MAX_BYTES / 3) * 4;

/** A command to run in a running container (`POST /containers/{id}/exec`). */
export const ExecBody = Type.Object(
  {
    command: Command,
    env: Type.Optional(EnvironmentVars),
    cwd: Type.Optional(Type.String({ pattern: '^/', maxLength: 4096, description: 'an absolute path inside the container (its working directory when absent)' })),
    user: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: '`name`, `uid`, `name:group` or `uid:gid`, as the container\'s /etc/passwd and /etc/group know them (its own user when absent)' })),
    timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, description: 'seconds (default 300); past it the command and everything of its session are killed' })),
    stdin: Type.Optional(Type.String({ maxLength: EXEC_STDIN_BASE64_CHARS, description: 'written to its stdin, which is then closed: at most 1 MiB (as UTF-8, or base64 with `encoding: "base64"`)' })),
    encoding: Type.Optional(
      Type.Union([Type.Literal('utf8'), Type.Literal('base64')], {
        description: '`base64`: `stdin` and every output `data`, `stdout` and `stderr` are base64, so any bytes pass unchanged (binary files, archives); `utf8` (the default): text, where bytes that are not UTF-8 become U+FFFD',
      }),
    ),
  },
  { additionalProperties: false },
);

export type ExecBody = Static<typeof ExecBody>;

export const ExecResultSchema = Type.Object({
  exit_code: Type.Union([Type.Integer(), Type.Null()], { description: 'null when a signal ended it (`signal`)' }),
  signal: Type.Union([Type.String(), Type.Null()]),
  stdout: Type.String({ description: 'the first MiB it wrote (as UTF-8, or base64 with `encoding: "base64"`)' }),
  stderr: Type.String(),
  stdout_bytes: Type.Integer({ description: 'how many bytes it wrote, kept or not' }),
  stderr_bytes: Type.Integer(),
  timed_out: Type.Boolean(),
  duration_ms: Type.Integer(),
});
export type ExecResult = Static<typeof ExecResultSchema>;
