/** Store records as the API shows them, and the success envelope. */
import type { Container, Image, ImageDetail, Project, ProxyAlias, Server, ServerStatus, StatusLogEntry, Token, User } from '../api/schemas.ts';
import type { ContainerRecord, ProjectRecord, ProxyAliasRecord, ServerRecord, StatusLogRecord, TokenRecord, UserRecord } from '../store/store.ts';
import { aliasHost, type ServiceUrls } from '../core/services.ts';
import type { ImageSummary } from '../runtime/image-store.ts';

export interface Envelope<T> {
  statusCode: number;
  message: string;
  data: T;
}

export const ok = <T>(message: string, data: T, statusCode = 200): Envelope<T> => ({ statusCode, message, data });

/** Its server as a container shows it: the name, and the status that says whether `status` is current. */
export interface ServerOfContainer {
  name: string;
  status: ServerStatus;
}

export function containerWire(c: ContainerRecord, server: ServerOfContainer): Container {
  return {
    id: c.id,
    name: c.name,
    project_id: c.project_id,
    server_id: c.server_id,
    server_name: server.name,
    server_status: server.status,
    status: c.status,
    container_image: c.container_image,
    image_id: c.image_id ?? null,
    command: c.command,
    environment_vars: c.environment_vars,
    autostart: c.autostart,
    hoody_kit: c.hoody_kit,
    resources: c.resources,
    stop_timeout: c.stop_timeout,
    restart_policy: c.restart_policy,
    current_operation: c.current_operation,
    exit_code: c.exit_code,
    created_at: c.created_at,
    updated_at: c.updated_at,
    desired_status: c.desired_status,
    network: c.network_mode,
    ip_address: c.ipv4_address,
    ports: c.ports,
    programs: c.programs ?? [],
  };
}

/** A proxy alias as shown, with its host and URL on this server's router. */
export function proxyAliasWire(a: ProxyAliasRecord, urls: ServiceUrls): ProxyAlias {
  const host = aliasHost(urls, a.alias);
  return {
    id: a.id,
    alias: a.alias,
    container_id: a.container_id,
    program: a.program,
    index: a.index,
    target_path: a.target_path,
    public: a.public,
    host,
    url: urls.url(host),
    created_at: a.created_at,
  };
}

/** A container's ETag: its version, which grows with every change. */
export const containerEtag = (c: ContainerRecord): string => `"${c.version}"`;

/** The version an If-Match header names, or undefined without one; an unparsable one matches nothing. */
export function ifMatchVersion(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*(?:W\/)?"(\d+)"\s*$/.exec(header);
  return m ? Number(m[1]) : -1;
}

export function statusLogWire(l: StatusLogRecord): StatusLogEntry {
  const { project_id: _project, ...metadata } = l.metadata;
  return {
    id: l.id,
    container_id: l.container_id,
    from_status: l.from_status,
    to_status: l.to_status,
    transition_time: l.transition_time,
    duration_ms: l.duration_ms,
    triggered_by: l.triggered_by,
    metadata: metadata as StatusLogEntry['metadata'],
  };
}

export const projectWire = (p: ProjectRecord): Project => ({ id: p.id, name: p.name, owner_id: p.owner_id, created_at: p.created_at });
export const serverWire = (s: ServerRecord): Server => ({
  id: s.id,
  name: s.name,
  status: s.status,
  runtime: s.runtime,
  last_seen_at: s.last_seen_at,
  created_at: s.created_at,
  advertise_url: s.advertise_url ?? null,
  proxy_url: s.proxy_url ?? null,
  version: s.version ?? null,
  capacity: s.capacity ?? null,
  usage: s.usage ?? null,
});
export const userWire = (u: UserRecord): User => ({ id: u.id, name: u.name, is_admin: u.is_admin, created_at: u.created_at });
export const tokenWire = (t: TokenRecord): Token => ({ id: t.id, name: t.name, user_id: t.user_id, read_only: t.read_only, automation: t.automation, created_at: t.created_at });
/** An image as listed; `usedBy`: the containers of this server created from it. */
export const imageWire = (i: ImageSummary, usedBy: string[] = []): Image => ({
  id: i.id,
  name: i.name,
  names: i.names,
  repo_digests: i.repoDigests,
  size_bytes: i.sizeBytes,
  layers: i.layers,
  created_at: i.createdAt,
  stored_at: i.storedAt,
  source: i.source,
  builtin: i.builtin,
  used_by: usedBy,
});

/** An image with its config and history. */
export const imageDetailWire = (i: ImageSummary, usedBy: string[] = []): ImageDetail => ({
  ...imageWire(i, usedBy),
  config: { entrypoint: i.config.entrypoint, cmd: i.config.cmd, env: i.config.env, working_dir: i.config.workingDir, user: i.config.user, exposed_ports: i.config.exposedPorts, labels: i.config.labels },
  history: i.history.map((h) => ({
    ...(h.created !== undefined ? { created: h.created } : {}),
    ...(h.createdBy !== undefined ? { created_by: h.createdBy } : {}),
    ...(h.comment !== undefined ? { comment: h.comment } : {}),
    ...(h.emptyLayer !== undefined ? { empty_layer: h.emptyLayer } : {}),
  })),
});
