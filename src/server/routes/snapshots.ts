/** /containers/{id}/snapshots and /containers/{id}/copy: snapshots of a container's files, their restore, copies of containers. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { CopyContainerBody, CreateSnapshotBody, Id, RestoreSnapshotBody, SnapshotParams, type Snapshot } from '../../api/schemas.ts';
import {
  AUTHENTICATED_ERRORS,
  BODY_ERRORS,
  IDEMPOTENCY_ERRORS,
  ContainerCreatedEnvelope,
  ContainerEnvelope,
  SnapshotCreatedEnvelope,
  SnapshotDeletedEnvelope,
  SnapshotEnvelope,
  SnapshotListEnvelope,
  errorResponses,
} from '../../api/responses.ts';
import type { SnapshotService } from '../../core/snapshot-service.ts';
import type { ContainerRecord, SnapshotRecord, SnapshotReplica } from '../../store/store.ts';
import type { ContainerMover } from './move.ts';
import type { SnapshotReplicator } from './replicas.ts';
import { operateAnywhere } from '../forwarding.ts';
import { invalidInput } from '../../core/errors.ts';
import type { AppDeps } from '../app.ts';
import { ok } from '../wire.ts';
import { containerView } from '../server-views.ts';

const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
const tags = ['snapshots'];

const SCHEMAS = {
  create: {
    tags,
    summary: 'Snapshot a container',
    description:
      'Cuts a snapshot of the container\'s own files (its writable layer over its image) and records its configuration. Allowed while it is `running` (frozen only while the files changed during a first pass are taken: `frozen_ms`), `stopped` or `failed`; refused while `paused` (400 `INVALID_TRANSITION`). Files no earlier snapshot holds are stored once; unchanged ones cost a link. The container is held (`current_operation.operation: "snapshot"`) until the snapshot is made.',
    params: IdParams,
    body: CreateSnapshotBody,
    response: {
      201: SnapshotCreatedEnvelope,
      ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, ...IDEMPOTENCY_ERRORS, 'NOT_FOUND', 'INVALID_TRANSITION', 'OPERATION_IN_PROGRESS', 'SNAPSHOT_ALIAS_TAKEN', 'QUOTA_EXCEEDED', 'RUNTIME_ERROR', 'WRONG_SERVER'),
    },
  },
  list: {
    tags,
    summary: 'List a container\'s snapshots',
    description: 'Oldest first.',
    params: IdParams,
    response: { 200: SnapshotListEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'INVALID_INPUT', 'NOT_FOUND') },
  },
  get: {
    tags,
    summary: 'Get a snapshot',
    description: 'By id or alias.',
    params: SnapshotParams,
    response: { 200: SnapshotEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'INVALID_INPUT', 'NOT_FOUND') },
  },
  remove: {
    tags,
    summary: 'Delete a snapshot',
    description: 'By id or alias; `reclaimed_bytes` is the disk freed (files no other snapshot holds). Deleting a container deletes its snapshots.',
    params: SnapshotParams,
    response: { 200: SnapshotDeletedEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'FORBIDDEN', 'INVALID_INPUT', 'NOT_FOUND', 'WRONG_SERVER') },
  },
  restore: {
    tags,
    summary: 'Restore a snapshot',
    description:
      'Only while the container is `stopped` or `failed` (else 400 `INVALID_STATE`). Its files and configuration (image, command, environment, resources, stop timeout, restart policy, autostart) go back to the snapshot\'s; its name, network, ports and programs stay. The status log records it (`metadata.operation: "restore"`, `metadata.snapshot`); an `autostart` container is then started (`triggered_by: "autostart"`). A restore that fails leaves the container as it was.',
    params: SnapshotParams,
    body: RestoreSnapshotBody,
    response: {
      200: ContainerEnvelope,
      ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, 'NOT_FOUND', 'INVALID_STATE', 'OPERATION_IN_PROGRESS', 'RUNTIME_ERROR', 'WRONG_SERVER'),
    },
  },
  copy: {
    tags: ['containers'],
    summary: 'Copy a container',
    description:
      'A new container with the source\'s image, configuration and files: its files as they are now (the source may run: it is frozen only while the last changes are taken) or those of one of its snapshots (`snapshot_id`, an id or alias). The new container is `copying` until its files are written (its log: `creating → copying → stopped`), then `stopped`, or started with `start: true`. It gets its own address and no published ports. With `server_id` or `server_name` the copy is made for another server: made on the source\'s, then moved there with its files checked (see `POST /containers/{id}/move`), then started when asked; a copy that cannot move is deleted again.',
    params: IdParams,
    body: CopyContainerBody,
    response: {
      201: ContainerCreatedEnvelope,
      ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, ...IDEMPOTENCY_ERRORS, 'NOT_FOUND', 'NAME_TAKEN', 'QUOTA_EXCEEDED', 'INVALID_TRANSITION', 'INVALID_STATE', 'OPERATION_IN_PROGRESS', 'IMAGE_NOT_FOUND', 'RUNTIME_ERROR', 'WRONG_SERVER', 'ADDRESS_POOL_EXHAUSTED', 'SERVICE_NAME_TAKEN', 'SERVER_OFFLINE', 'SERVER_IN_MAINTENANCE', 'FORWARD_FAILED'),
    },
  },
};

export async function snapshotRoutes(api: FastifyInstance, deps: AppDeps & { snapshots: SnapshotService; mover?: ContainerMover; replicator?: SnapshotReplicator }): Promise<void> {
  const { snapshots, store, replicator } = deps;
  /** Snapshots as the API shows them, with the servers keeping replicas of them. */
  const withReplicas = async (records: SnapshotRecord[], containerId: string): Promise<Snapshot[]> => {
    const replicas = records.length === 0 ? [] : await store.listSnapshotReplicas(records.length === 1 ? { snapshot_id: records[0]!.id } : { container_id: containerId });
    return records.map((r) => snapshotWire(r, replicas.filter((x) => x.snapshot_id === r.id)));
  };
  // a body is optional where every field is: curl -X POST and fetch without a body send none
  const optionalBody = async (request: { body: unknown }): Promise<void> => {
    if (request.body === undefined) request.body = {};
  };

  api.post('/containers/:id/snapshots', { schema: SCHEMAS.create, preValidation: optionalBody }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const made = await snapshots.create(request.actor, id, request.body as CreateSnapshotBody);
    // kept on other servers as well when asked (HOODY_SNAPSHOT_REPLICAS): a replica that fails leaves the snapshot as it is
    const replicas = (await replicator?.replicate(made, request.headers.authorization)) ?? [];
    return reply.status(201).send(ok('Snapshot created successfully', { snapshot: snapshotWire(made, replicas) }, 201));
  });

  api.get('/containers/:id/snapshots', { schema: SCHEMAS.list }, async (request) => {
    const { id } = request.params as { id: string };
    return ok('Snapshots retrieved successfully', { snapshots: await withReplicas(await snapshots.list(request.actor, id), id) });
  });

  api.get('/containers/:id/snapshots/:snapshot', { schema: SCHEMAS.get }, async (request) => {
    const { id, snapshot } = request.params as { id: string; snapshot: string };
    const [one] = await withReplicas([await snapshots.get(request.actor, id, snapshot)], id);
    return ok('Snapshot retrieved successfully', { snapshot: one! });
  });

  api.delete('/containers/:id/snapshots/:snapshot', { schema: SCHEMAS.remove }, async (request) => {
    const { id, snapshot } = request.params as { id: string; snapshot: string };
    const replicas = replicator ? await store.listSnapshotReplicas({ container_id: id }) : [];
    const removed = await snapshots.remove(request.actor, id, snapshot);
    await replicator?.dropAt(replicas.filter((r) => r.snapshot_id === removed.snapshot_id), request.headers.authorization);
    return ok('Snapshot deleted successfully', removed);
  });

  api.post('/containers/:id/snapshots/:snapshot/restore', { schema: SCHEMAS.restore, preValidation: optionalBody }, async (request) => {
    const { id, snapshot } = request.params as { id: string; snapshot: string };
    const restored = await snapshots.restore(request.actor, id, snapshot, (request.body as RestoreSnapshotBody).reason);
    return ok('Snapshot restored successfully', await containerView(deps, restored));
  });

  api.post('/containers/:id/copy', { schema: SCHEMAS.copy }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const { server_id, server_name, ...body } = request.body as CopyContainerBody;
    let copied: ContainerRecord;
    if (server_id === undefined && server_name === undefined) copied = await snapshots.copy(request.actor, id, body);
    else {
      // for another server: made here (stopped), then moved there, then started when asked; all of it or nothing
      const mover = deps.mover;
      if (!mover || !deps.cluster) throw invalidInput('a copy for another server needs a cluster: the same HOODY_CLUSTER_SECRET on every server');
      const source = await deps.containers.get(request.actor, id);
      const target = await mover.target({ server_id, server_name }, source);
      const made = await snapshots.copy(request.actor, id, { ...body, start: false });
      try {
        copied = await mover.moveTo(request.actor, request.headers.authorization, made.id, target, `copy of ${source.name}`);
      } catch (err) {
        await deps.containers.remove(request.actor, made.id).catch((e: unknown) => request.log.warn({ err: e }, 'removing a copy that could not move'));
        throw err;
      }
      if (body.start) {
        await operateAnywhere({ cluster: deps.cluster, containers: deps.containers, prefix: api.prefix }, request.headers.authorization)(request.actor, copied.id, 'start', {});
        copied = (await deps.store.getContainer(copied.id)) ?? copied;
      }
    }
    return reply.status(201).send(ok('Container copied successfully', await containerView(deps, copied), 201));
  });
}

/** A snapshot as the API shows it. */
export function snapshotWire(s: SnapshotRecord, replicas: readonly SnapshotReplica[]): Snapshot {
  return {
    id: s.id,
    container_id: s.container_id,
    server_id: s.server_id,
    replicas: replicas.map((r) => ({ server_id: r.server_id, created_at: r.created_at })),
    alias: s.alias,
    image_id: s.image_id,
    container_image: s.container_image,
    files: s.files,
    content_bytes: s.content_bytes,
    size_bytes: s.size_bytes,
    frozen_ms: s.frozen_ms,
    created_by: s.created_by,
    created_at: s.created_at,
    config: s.config,
  };
}
