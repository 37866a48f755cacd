/**
 * Records to rows and back: booleans as 0/1, JSON columns as text, the current operation as
 * three nullable columns. Reading never trusts the driver's number type (pg's int8 is a string).
 */
import type { Insertable, Selectable, Updateable } from 'kysely';
import type { ContainerStatus } from '../api/schemas.ts';
import type { ContainerPatch, ContainerRecord, NewStatusLog, ProgramRecord, ProjectRecord, ProxyAliasRecord, ServerCapacity, ServerRecord, ServerUsage, SnapshotRecord, StatusLogRecord, TokenRecord, UserRecord } from './store.ts';
import type { PublishedPort } from '../network/types.ts';
import type { BoolInt, ContainersTable, ProjectsTable, ProxyAliasesTable, PublishedPortsTable, ServersTable, SnapshotsTable, StatusLogsTable, TokensTable, UsersTable } from './database.ts';

const bool = (b: boolean): BoolInt => (b ? 1 : 0);
const num = (v: number | string): number => (typeof v === 'number' ? v : Number(v));

/** A users row as a record. */
export function userFromRow(row: Selectable<UsersTable>): UserRecord {
  return { id: row.id, name: row.name, is_admin: row.is_admin === 1, created_at: row.created_at };
}

/** A user record as a users row. */
export function userToRow(user: UserRecord): Insertable<UsersTable> {
  return { id: user.id, name: user.name, is_admin: bool(user.is_admin), created_at: user.created_at };
}

/** A tokens row as a record. */
export function tokenFromRow(row: Selectable<TokensTable>): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    user_id: row.user_id,
    secret_hash: row.secret_hash,
    read_only: row.read_only === 1,
    automation: row.automation === 1,
    created_at: row.created_at,
  };
}

/** A token record as a tokens row. */
export function tokenToRow(token: TokenRecord): Insertable<TokensTable> {
  return { ...token, read_only: bool(token.read_only), automation: bool(token.automation) };
}

/** A projects row as a record (the columns are the record's fields). */
export const projectFromRow = (row: Selectable<ProjectsTable>): ProjectRecord => ({ id: row.id, name: row.name, owner_id: row.owner_id, created_at: row.created_at });

/** A servers row as a record. */
export function serverFromRow(row: Selectable<ServersTable>): ServerRecord {
  return {
    id: row.id,
    name: row.name,
    status: row.status as ServerRecord['status'],
    runtime: row.runtime,
    last_seen_at: row.last_seen_at,
    created_at: row.created_at,
    advertise_url: row.advertise_url ?? null,
    proxy_url: row.proxy_url ?? null,
    version: row.version ?? null,
    capacity: row.capacity ? (JSON.parse(row.capacity) as ServerCapacity) : null,
    usage: row.usage ? (JSON.parse(row.usage) as ServerUsage) : null,
  };
}

/** A containers row as a record, JSON decoded. */
export function containerFromRow(row: Selectable<ContainersTable>): ContainerRecord {
  const op =
    row.current_operation_id !== null && row.current_operation !== null && row.current_operation_started_at !== null
      ? { id: row.current_operation_id, operation: row.current_operation, started_at: row.current_operation_started_at }
      : null;
  return {
    id: row.id,
    name: row.name,
    project_id: row.project_id,
    server_id: row.server_id,
    status: row.status as ContainerStatus,
    desired_status: row.desired_status as ContainerRecord['desired_status'],
    container_image: row.container_image,
    // absent, not null, for containers older than image ids: a record reads back as it was written
    ...(row.image_id ? { image_id: row.image_id } : {}),
    command: row.command === null ? null : (JSON.parse(row.command) as string[]),
    environment_vars: JSON.parse(row.environment_vars) as Record<string, string>,
    autostart: row.autostart === 1,
    hoody_kit: row.hoody_kit === 1,
    resources: JSON.parse(row.resources) as ContainerRecord['resources'],
    stop_timeout: num(row.stop_timeout),
    restart_policy: row.restart_policy as ContainerRecord['restart_policy'],
    current_operation: op,
    exit_code: row.exit_code === null ? null : num(row.exit_code),
    created_at: row.created_at,
    updated_at: row.updated_at,
    version: num(row.version),
    network_mode: row.network_mode === 'bridge' ? 'bridge' : 'none',
    ipv4_address: row.ipv4_address,
    ports: JSON.parse(row.ports) as PublishedPort[],
    programs: JSON.parse(row.programs) as ProgramRecord[],
    service_labels: JSON.parse(row.service_labels) as string[],
  };
}

/** A container record as a containers row. */
export function containerToRow(c: ContainerRecord): Insertable<ContainersTable> {
  return {
    id: c.id,
    name: c.name,
    project_id: c.project_id,
    server_id: c.server_id,
    status: c.status,
    desired_status: c.desired_status,
    container_image: c.container_image,
    image_id: c.image_id ?? null,
    command: c.command === null ? null : JSON.stringify(c.command),
    environment_vars: JSON.stringify(c.environment_vars),
    autostart: bool(c.autostart),
    hoody_kit: bool(c.hoody_kit),
    resources: JSON.stringify(c.resources),
    stop_timeout: c.stop_timeout,
    restart_policy: c.restart_policy,
    current_operation_id: c.current_operation?.id ?? null,
    current_operation: c.current_operation?.operation ?? null,
    current_operation_started_at: c.current_operation?.started_at ?? null,
    exit_code: c.exit_code,
    created_at: c.created_at,
    updated_at: c.updated_at,
    network_mode: c.network_mode,
    ipv4_address: c.ipv4_address,
    ports: JSON.stringify(c.ports),
    programs: JSON.stringify(c.programs ?? []),
    service_labels: JSON.stringify(c.service_labels ?? []),
  };
}

/** The published_ports rows of a container's ports. */
export function portRows(c: Pick<ContainerRecord, 'id' | 'server_id'>, ports: readonly PublishedPort[]): Insertable<PublishedPortsTable>[] {
  return ports.map((p) => ({ server_id: c.server_id, protocol: p.protocol, host_port: p.host_port, host_ip: p.host_ip, container_id: c.id, container_port: p.container_port }));
}

/** A proxy_aliases row as a record. */
export function proxyAliasFromRow(row: Selectable<ProxyAliasesTable>): ProxyAliasRecord {
  return {
    id: row.id,
    alias: row.alias,
    container_id: row.container_id,
    server_id: row.server_id,
    program: row.program,
    index: num(row.program_index),
    target_path: row.target_path,
    public: row.public === 1,
    created_by: row.created_by,
    created_at: row.created_at,
  };
}

/** A proxy alias record as a proxy_aliases row. */
export function proxyAliasToRow(a: ProxyAliasRecord): Insertable<ProxyAliasesTable> {
  return {
    id: a.id,
    alias: a.alias,
    container_id: a.container_id,
    server_id: a.server_id,
    program: a.program,
    program_index: a.index,
    target_path: a.target_path,
    public: bool(a.public),
    created_by: a.created_by,
    created_at: a.created_at,
  };
}

/** A snapshots row as a record. */
export function snapshotFromRow(row: Selectable<SnapshotsTable>): SnapshotRecord {
  return {
    id: row.id,
    container_id: row.container_id,
    server_id: row.server_id,
    alias: row.alias,
    image_id: row.image_id,
    container_image: row.container_image,
    config: JSON.parse(row.config) as SnapshotRecord['config'],
    files: num(row.files),
    content_bytes: num(row.content_bytes),
    size_bytes: num(row.size_bytes),
    frozen_ms: row.frozen_ms === null ? null : num(row.frozen_ms),
    created_by: row.created_by,
    created_at: row.created_at,
  };
}

/** A snapshot record as a snapshots row. */
export function snapshotToRow(s: SnapshotRecord): Insertable<SnapshotsTable> {
  return {
    id: s.id,
    container_id: s.container_id,
    server_id: s.server_id,
    alias: s.alias,
    image_id: s.image_id,
    container_image: s.container_image,
    config: JSON.stringify(s.config),
    files: s.files,
    content_bytes: s.content_bytes,
    size_bytes: s.size_bytes,
    frozen_ms: s.frozen_ms,
    created_by: s.created_by,
    created_at: s.created_at,
  };
}

/** The columns a patch changes; fields left undefined are not touched. */
export function patchToRow(patch: ContainerPatch): Updateable<ContainersTable> {
  const row: Updateable<ContainersTable> = {};
  if (patch.name !== undefined) row.name = patch.name;
  if (patch.command !== undefined) row.command = patch.command === null ? null : JSON.stringify(patch.command);
  if (patch.environment_vars !== undefined) row.environment_vars = JSON.stringify(patch.environment_vars);
  if (patch.autostart !== undefined) row.autostart = bool(patch.autostart);
  if (patch.resources !== undefined) row.resources = JSON.stringify(patch.resources);
  if (patch.stop_timeout !== undefined) row.stop_timeout = patch.stop_timeout;
  if (patch.restart_policy !== undefined) row.restart_policy = patch.restart_policy;
  if (patch.desired_status !== undefined) row.desired_status = patch.desired_status;
  if (patch.network_mode !== undefined) row.network_mode = patch.network_mode;
  if (patch.ipv4_address !== undefined) row.ipv4_address = patch.ipv4_address;
  if (patch.ports !== undefined) row.ports = JSON.stringify(patch.ports);
  if (patch.programs !== undefined) row.programs = JSON.stringify(patch.programs);
  if (patch.service_labels !== undefined) row.service_labels = JSON.stringify(patch.service_labels);
  return row;
}

/** A status_logs row as a record, metadata decoded. */
export function statusLogFromRow(row: Selectable<StatusLogsTable>): StatusLogRecord {
  return {
    seq: num(row.seq),
    id: row.id,
    container_id: row.container_id,
    from_status: row.from_status as ContainerStatus,
    to_status: row.to_status as ContainerStatus,
    transition_time: row.transition_time,
    duration_ms: num(row.duration_ms),
    triggered_by: row.triggered_by,
    metadata: JSON.parse(row.metadata) as StatusLogRecord['metadata'],
    project_id: row.project_id,
  };
}

/** A new log entry of a container (in a project) as a status_logs row (seq is assigned by the database, ordinal by the insert). */
export function statusLogToRow(containerId: string, projectId: string, log: NewStatusLog): Omit<Insertable<StatusLogsTable>, 'ordinal'> {
  return {
    id: log.id,
    container_id: containerId,
    project_id: projectId,
    from_status: log.from_status,
    to_status: log.to_status,
    transition_time: log.transition_time,
    duration_ms: log.duration_ms,
    triggered_by: log.triggered_by,
    metadata: JSON.stringify(log.metadata),
  };
}
