/** What each call answers: the server's envelope around data typed from the wire schemas of src/api. */
import type { Static } from '@sinclair/typebox';
import type {
  BulkBody as BulkBodySchema,
  BulkItemResult as BulkItemResultSchema,
  BulkResult as BulkResultSchema,
  Container as ContainerSchema,
  ContainerAddressSchema,
  ContainerListQuery as ContainerListQuerySchema,
  PortRequestSchema,
  PublishedPortSchema,
  CreateContainerBody as CreateContainerBodySchema,
  CopyContainerBody as CopyContainerBodySchema,
  CreateSnapshotBody as CreateSnapshotBodySchema,
  CreateTokenBody as CreateTokenBodySchema,
  Image as ImageSchema,
  ImageDetail as ImageDetailSchema,
  ImagesPruned as ImagesPrunedSchema,
  ImageRemoved as ImageRemovedSchema,
  LifecycleBody as LifecycleBodySchema,
  MaintenanceBody as MaintenanceBodySchema,
  MoveContainerBody as MoveContainerBodySchema,
  RecoverServerBody as RecoverServerBodySchema,
  LifecycleResult as LifecycleResultSchema,
  OperationInfo as OperationInfoSchema,
  Pagination as PaginationSchema,
  Project as ProjectSchema,
  ProgramSchema,
  ProgramView,
  ProxyAlias as ProxyAliasSchema,
  CreateProxyAliasBody as CreateProxyAliasBodySchema,
  ServiceView as ServiceViewSchema,
  ExecBody as ExecBodySchema,
  ExecResultSchema as ExecResultSchemaType,
  RuntimeInfo as RuntimeInfoSchema,
  ConnectedClient as ConnectedClientSchema,
  RestoreSnapshotBody as RestoreSnapshotBodySchema,
  Server as ServerSchema,
  Snapshot as SnapshotSchema,
  SnapshotConfig as SnapshotConfigSchema,
  SnapshotDeleted as SnapshotDeletedSchema,
  StatusLogEntry as StatusLogEntrySchema,
  StatusLogQuery as StatusLogQuerySchema,
  Token as TokenSchema,
  UpdateContainerBody as UpdateContainerBodySchema,
  User as UserSchema,
  ContainerStatus,
} from '../api/schemas.ts';

export type { ContainerStatus, ImagePullEvent, LifecycleOperation, RestartPolicy, ServerStatus, SortOrder } from '../api/schemas.ts';
export type { ErrorBody, ErrorCode } from '../api/error-codes.ts';

/** Every success: `{ statusCode, message, data }`. */
export interface ApiResponse<T> {
  statusCode: number;
  message: string;
  data: T;
}

export type Container = Static<typeof ContainerSchema>;
/** `bridge`: an address on the server's bridge, published ports, the project's names; `none`: loopback only. */
export type NetworkMode = Container['network'];
/** A published port as the server shows it: every field filled in. */
export type PublishedPort = Static<typeof PublishedPortSchema>;
/** A published port as create and update ask for it: `host_port` (chosen from 20000-32767 when absent), `protocol` (tcp) and `host_ip` (0.0.0.0) are optional. */
export type PortRequest = Static<typeof PortRequestSchema>;
/** One address of a running container, as `runtime_info.addresses` lists them. */
export type ContainerAddress = Static<typeof ContainerAddressSchema>;
export type RuntimeInfo = Static<typeof RuntimeInfoSchema>;
/** A client attached to a shared terminal or viewing the display, as `runtime_info` lists them. */
export type ConnectedClient = Static<typeof ConnectedClientSchema>;
/** A terminal session as `runtime_info.terminals` lists them. */
export type TerminalInfo = RuntimeInfo['terminals'][number];
/** A program as create and update ask for it: `index` (the next free one of its name) and `public` (false) are optional. */
export type ProgramRequest = Static<typeof ProgramSchema>;
/** A program as the server shows it. */
export type Program = Static<typeof ProgramView>;
/** One program instance's URL through the router and whether it answers now. */
export type Service = Static<typeof ServiceViewSchema>;
export type ProxyAlias = Static<typeof ProxyAliasSchema>;
/** A command to run in a running container (`exec`): `user` is `name`, `uid`, `name:group` or `uid:gid`; `timeout` in seconds (default 300). */
export type ExecBody = Static<typeof ExecBodySchema>;
/** How a command ended, with its output (each stream up to 1 MiB) and byte counts. */
export type ExecResult = Static<typeof ExecResultSchemaType>;
/** What `execStream` yields. */
export type ExecEvent =
  | { stream: 'stdout' | 'stderr'; data: string }
  | { exit: Omit<ExecResult, 'stdout' | 'stderr'> }
  | { error: { statusCode: number; code: string; message: string } };
/** One line a container wrote, as `logs()` yields it. */
export interface LogLine {
  /** When it was written (RFC 3339, nanoseconds). */
  time: string;
  stream: 'stdout' | 'stderr';
  line: string;
}
/** What `logs()` asks for: `since` and `until` take RFC 3339, Unix seconds or a duration before now (`10m`). */
export interface LogQuery {
  tail?: number;
  since?: string;
  until?: string;
  stream?: 'stdout' | 'stderr' | 'all';
  follow?: boolean;
  follow_restarts?: boolean;
}
export type CreateProxyAliasBody = Static<typeof CreateProxyAliasBodySchema>;
export interface DeletedProxyAlias {
  alias_id: string;
  deleted: true;
}
/** A container read with `?runtime=true`. */
export type ContainerWithRuntime = Container & { runtime_info: RuntimeInfo };
export type ContainerListQuery = Static<typeof ContainerListQuerySchema>;
export type CreateContainerBody = Static<typeof CreateContainerBodySchema>;
export type UpdateContainerBody = Static<typeof UpdateContainerBodySchema>;
export type LifecycleBody = Static<typeof LifecycleBodySchema>;
export type LifecycleResult = Static<typeof LifecycleResultSchema>;
/** An operation started in the background (`manageAsync`), as `GET /operations/{id}` shows it. */
export type OperationInfo = Static<typeof OperationInfoSchema>;
/** What `manageAsync` answers (HTTP 202): the operation, still `running` as a rule. */
export interface AcceptedOperation {
  operation: OperationInfo;
}
/** `POST /containers/bulk`: one operation, on `ids` or on every container matching `filter` (exactly one of them). */
export type BulkBody = Static<typeof BulkBodySchema>;
export type BulkItemResult = Static<typeof BulkItemResultSchema>;
export type BulkResult = Static<typeof BulkResultSchema>;
export type StatusLogEntry = Static<typeof StatusLogEntrySchema>;
export type StatusLogQuery = Static<typeof StatusLogQuerySchema>;
export type Pagination = Static<typeof PaginationSchema>;
export type Project = Static<typeof ProjectSchema>;
export type Server = Static<typeof ServerSchema>;
/** `servers.maintenance`: `enabled` true enters maintenance (stopping running containers unless `stop_containers` is false), false leaves it. */
export type MaintenanceBody = Static<typeof MaintenanceBodySchema>;
/** `servers.recover`: where a lost server's containers go (`server_id` or `server_name`; by default where a new container would), and a `reason`. */
export type RecoverServerBody = Static<typeof RecoverServerBodySchema>;
/** `containers.move`: the server to move a stopped container to (`server_id` or `server_name`), a `reason`, and for a container of an offline server the `snapshot` to recover it from. */
export type MoveContainerBody = Static<typeof MoveContainerBodySchema>;
/** What entering or leaving maintenance did: the server, and each container it stopped or started. */
export interface MaintenanceResult {
  server: Server;
  results: BulkItemResult[];
  summary: { total: number; succeeded: number; failed: number };
}
export type Image = Static<typeof ImageSchema>;
/** An image with its config (entrypoint, cmd, env, working dir, user, exposed ports, labels) and history. */
export type ImageDetail = Static<typeof ImageDetailSchema>;
export type ImagesPruned = Static<typeof ImagesPrunedSchema>;
export type ImageRemoved = Static<typeof ImageRemovedSchema>;
/** A container's own files and its configuration at one moment: `files` and `content_bytes` count its own layer, `size_bytes` the disk it added to the store, `frozen_ms` how long a running container was frozen for it (null when it was not running). */
export type Snapshot = Static<typeof SnapshotSchema>;
/** What a snapshot keeps of the container's configuration, and a restore puts back. */
export type SnapshotConfig = Static<typeof SnapshotConfigSchema>;
/** `createSnapshot`: an `alias` (unique per container; paths may name the snapshot by it) and a `reason`, both optional. */
export type CreateSnapshotBody = Static<typeof CreateSnapshotBodySchema>;
/** `restoreSnapshot`: a `reason`, kept in the status log. */
export type RestoreSnapshotBody = Static<typeof RestoreSnapshotBodySchema>;
/** `copy`: the new container's `name`, and optionally its `project_id`, a `snapshot_id` (id or alias) to copy instead of the files as they are now, and `start`. */
export type CopyContainerBody = Static<typeof CopyContainerBodySchema>;
/** A deleted snapshot's id and the disk it freed (the files no other snapshot holds). */
export type SnapshotDeleted = Static<typeof SnapshotDeletedSchema>;
export type User = Static<typeof UserSchema>;
export type Token = Static<typeof TokenSchema>;
export type CreateTokenBody = Static<typeof CreateTokenBodySchema>;

/** A new token: its record plus the secret, which is never shown again. */
export type CreatedToken = Token & { token: string };

export interface ContainerList {
  containers: Container[];
  pagination: Pagination;
}
export interface StatusLogPage {
  logs: StatusLogEntry[];
  pagination: Pagination;
}
/** `createSnapshot` (201) and `getSnapshot`. */
export interface SnapshotResult {
  snapshot: Snapshot;
}
/** `listSnapshots`: oldest first. */
export interface SnapshotList {
  snapshots: Snapshot[];
}
export interface DeletedContainer {
  container_id: string;
  deleted: true;
}
export interface DeletedToken {
  token_id: string;
  deleted: true;
}

/** The kinds of event `GET /events` sends. */
export type EventType = 'transition' | 'operation' | 'client';

/** A status change: its status log row, and the row's cursor (also the SSE id, used to resume). */
export interface TransitionEvent {
  type: 'transition';
  cursor: number;
  container_id: string;
  log: StatusLogEntry;
}

/** An operation's progress: `accepted`, then `succeeded` (with the status it left) or `failed` (with the error). Live only: not replayed on resume. */
export interface OperationEvent {
  type: 'operation';
  phase: 'accepted' | 'succeeded' | 'failed';
  operation_id: string;
  container_id: string;
  operation: string;
  /** The user id, or a system actor (`system`, `autostart`, `restart-policy`). */
  triggered_by: string;
  /** The name of the automation token the user acted through. */
  token?: string;
  status?: ContainerStatus;
  error?: { code: string; message: string };
  at: string;
}

/** A client attached to or detached from one of the kit's shared terminals or its display. Live only. */
export interface ClientEvent {
  type: 'client';
  action: 'attached' | 'detached';
  program: 'terminal' | 'display';
  index: number;
  container_id: string;
  client: ConnectedClient & { view_only?: boolean };
  /** How many clients the terminal or display has after the change. */
  clients: number;
  at: string;
}

export type HoodyEvent = TransitionEvent | OperationEvent | ClientEvent;

/** Which events to receive; every field is optional. */
export interface EventFilter {
  /** Only this container's events (404 NOT_FOUND if it is not visible). */
  container_id?: string;
  /** Only this project's events (404 NOT_FOUND if it is not yours). */
  project_id?: string;
  /** Only these kinds (default both). */
  types?: readonly EventType[];
  /** Replay the transitions after this cursor first (a `TransitionEvent.cursor` you kept). */
  since?: number;
}
