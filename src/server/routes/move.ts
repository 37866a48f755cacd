/**
 * Moving a stopped container to another server: `POST /containers/{id}/move` (sent on to the
 * container's own daemon like any operation of it), which packs the container's files and asks
 * the other server's daemon to take it (`POST /cluster/containers/{id}/move-in`, signed with the
 * cluster secret, naming the move's claim and the files' SHA-256). That daemon fetches the files
 * (`GET /cluster/containers/{id}/files`: a download has no deadline, an upload would have the
 * request timeout), unpacks and checks them, makes the container and writes the hand-over; only
 * then are the files here removed. A failure (or a daemon killed) before the hand-over leaves the
 * container where it was.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { Id, MoveContainerBody, RecoverServerBody } from '../../api/schemas.ts';
import { AUTHENTICATED_ERRORS, BODY_ERRORS, ContainerEnvelope, RecoverServerEnvelope, errorResponses } from '../../api/responses.ts';
import { runEach } from '../../core/bulk.ts';
import { HoodyError, invalidInput } from '../../core/errors.ts';
import { bodyOf, refusalOf, UnreachableError } from '../../cluster/client.ts';
import { offline, placeContainer } from '../../cluster/placement.ts';
import type { ServerView } from '../../cluster/membership.ts';
import type { Actor } from '../../core/actor.ts';
import type { ContainerRecord } from '../../store/store.ts';
import { DigestMismatchError, packFiles, unpackFiles, type Packed } from '../../cluster/transfer.ts';
import type { AppDeps } from '../app.ts';
import type { Cluster } from '../forwarding.ts';
import type { SnapshotReplicator } from './replicas.ts';
import type { SnapshotService } from '../../core/snapshot-service.ts';
import { containerView, serverViews } from '../server-views.ts';
import { ok, serverWire } from '../wire.ts';

const tags = ['containers'];
const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
/** What the sending daemon tells the receiving one of a move. */
const MoveInBody = Type.Object(
  {
    operation_id: Id,
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    bytes: Type.Integer({ minimum: 0 }),
    id_range: Type.Object({ uid: Type.Integer({ minimum: 0 }), gid: Type.Integer({ minimum: 0 }), size: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
    /** The files of the container's snapshots, packed apart (absent when it has none). */
    snapshots: Type.Optional(Type.Object({ sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }), bytes: Type.Integer({ minimum: 0 }), count: Type.Integer({ minimum: 1 }) }, { additionalProperties: false })),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
type MoveInBody = typeof MoveInBody.static;
/** What the daemon recovering a lost server's container is asked to do. */
const RecoverBody = Type.Object(
  {
    snapshot_id: Id,
    /** The lost server the container was on. */
    from_server: Type.String({ minLength: 1, maxLength: 64 }),
    /** A server that keeps the snapshot's files, when this one does not. */
    holder_id: Type.String({ minLength: 1, maxLength: 64 }),
    /** An admin recovering every container of the lost server (any user's). */
    server_wide: Type.Optional(Type.Boolean()),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
type RecoverBody = typeof RecoverBody.static;
/** Under the folder of files in transit: one empty file per container half made here by a move (see removeMovedAway). */
export const MADE_HERE = 'made-here';
const FilesQuery = Type.Object({ operation: Id, part: Type.Optional(Type.Union([Type.Literal('files'), Type.Literal('snapshots')])) }, { additionalProperties: false });

const SCHEMAS = {
  move: {
    tags,
    summary: 'Move a container to another server',
    description:
      'A stopped (or failed) container goes to another server of the cluster with its files, configuration, id, status logs and proxy aliases; its address is given anew there at its next start, its published ports and service names must be free there. The files travel between the daemons with their SHA-256 checked; until the other server has written the hand-over, the container stays here as it was. Its snapshots go with it (their files too, a file several of them hold sent once). A container of an offline server (lost, its daemon not answering) is recovered instead: from its newest snapshot (or `snapshot`) whose files a server that answers keeps (a replica: `HOODY_SNAPSHOT_REPLICAS`), `stopped`, with the snapshot\'s files and configuration. Needs `HOODY_CLUSTER_SECRET`.',
    params: IdParams,
    body: MoveContainerBody,
    response: {
      200: ContainerEnvelope,
      ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, 'FORBIDDEN', 'NOT_FOUND', 'INVALID_TRANSITION', 'INVALID_STATE', 'OPERATION_IN_PROGRESS', 'SERVER_OFFLINE', 'SERVER_IN_MAINTENANCE', 'FORWARD_FAILED', 'WRONG_SERVER', 'PORT_IN_USE', 'SERVICE_NAME_TAKEN', 'IMAGE_NOT_FOUND', 'IMAGE_PULL_FAILED', 'RUNTIME_ERROR'),
    },
  },
  moveIn: {
    tags: ['servers'],
    summary: 'Take a moved container (between daemons)',
    description: 'Sent by the daemon of the server a container leaves, signed with the cluster secret, with the caller\'s token: the move\'s claim, the SHA-256 and size of the container\'s files, and the id range they are owned in. This daemon fetches the files from the sender, checks them, makes the container and writes the hand-over. Refused from anyone else.',
    params: IdParams,
    body: MoveInBody,
    response: {
      200: ContainerEnvelope,
      ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, 'NOT_FOUND', 'INVALID_STATE', 'OPERATION_IN_PROGRESS', 'SERVER_OFFLINE', 'PORT_IN_USE', 'SERVICE_NAME_TAKEN', 'IMAGE_NOT_FOUND', 'IMAGE_PULL_FAILED', 'RUNTIME_ERROR'),
    },
  },
  recoverServer: {
    tags: ['servers'],
    summary: 'Recover the containers of a lost server',
    description:
      'Admin only, for a server that is `offline` and not coming back: each of its containers (any user\'s) is made again on another server (`server_id`/`server_name`, or where a new container would go) from its newest snapshot whose files a server that answers keeps (a replica: `HOODY_SNAPSHOT_REPLICAS`), `stopped`, with a `move` log row (`recovered: true`). One without such a snapshot stays, with its error in `results`. If the server comes back, its daemon kills and removes its own copies of the containers recovered elsewhere.',
    params: IdParams,
    body: RecoverServerBody,
    response: { 200: RecoverServerEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, 'FORBIDDEN', 'NOT_FOUND', 'INVALID_STATE', 'SERVER_OFFLINE', 'SERVER_IN_MAINTENANCE') },
  },
  recover: {
    tags: ['servers'],
    summary: 'Recover a lost server\'s container here (between daemons)',
    description: 'Sent by the daemon an admin asked to move a container of an offline server, signed with the cluster secret: this daemon takes the snapshot\'s files (fetched from the server keeping them when it does not), makes the container from them and writes the hand-over. Refused from anyone else.',
    params: IdParams,
    body: RecoverBody,
    response: {
      200: ContainerEnvelope,
      ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, 'FORBIDDEN', 'NOT_FOUND', 'INVALID_STATE', 'OPERATION_IN_PROGRESS', 'SERVER_OFFLINE', 'PORT_IN_USE', 'SERVICE_NAME_TAKEN', 'IMAGE_NOT_FOUND', 'IMAGE_PULL_FAILED', 'RUNTIME_ERROR'),
    },
  },
  files: {
    tags: ['servers'],
    summary: 'A moving container\'s files (between daemons)',
    description: 'The tar stream of a container being moved (`part=files`, the default) or of its snapshots (`part=snapshots`), for the daemon taking it (signed with the cluster secret), while the move that packed it runs. Refused from anyone else.',
    params: IdParams,
    querystring: FilesQuery,
    response: errorResponses(...AUTHENTICATED_ERRORS, 'FORBIDDEN', 'INVALID_INPUT', 'NOT_FOUND'),
  },
};

/** Moves containers of this server to others; shared by the move route, a copy made for another server, and the file downloads. */
export class ContainerMover {
  /** Files packed for moves in progress here, by the move's claim. */
  readonly outgoing = new Map<string, { id: string; packed: Packed; snapshots?: Packed }>();
  /** Containers being recovered here now: one at a time each (their runtime id and mark are the container's). */
  private readonly recovering = new Set<string>();

  constructor(
    private readonly deps: AppDeps & { cluster: Cluster; replicator?: SnapshotReplicator },
    private readonly prefix: string,
  ) {}

  /**
   * Recovers container `c` of a lost server (offline) on `target` from a snapshot whose files a
   * server that answers keeps: `ref` (id or alias), else its newest such. `serverWide`: an admin
   * recovering the lost server's containers, whoever owns them.
   */
  async recover(actor: Actor, authorization: string | undefined, c: ContainerRecord, target: ServerView, ref: string | undefined, reason: string | undefined, serverWide = false): Promise<ContainerRecord> {
    const { cluster, store } = this.deps;
    // whether its server is still lost is checked where it is recovered (recoverHere), and again in the hand-over
    const rows = await store.listSnapshots({ container_id: c.id });
    const candidates = ref === undefined ? rows.reverse() : rows.filter((r) => r.id === ref || r.alias === ref);
    if (ref !== undefined && candidates.length === 0) throw new HoodyError('NOT_FOUND', `container "${c.name}" has no snapshot "${ref}"`, { resource: 'snapshot' });
    const replicas = await store.listSnapshotReplicas({ container_id: c.id });
    const servers = await cluster.membership.servers({ fresh: true });
    for (const snap of candidates) {
      const holders = [snap.server_id, ...replicas.filter((r) => r.snapshot_id === snap.id).map((r) => r.server_id)]
        .map((id) => servers.find((s) => s.id === id))
        .filter((s): s is ServerView => s !== undefined && s.status !== 'offline' && Boolean(s.advertise_url));
      const holder = holders.find((s) => s.id === target.id) ?? holders[0];
      if (!holder) continue;
      const body: RecoverBody = { snapshot_id: snap.id, from_server: c.server_id, holder_id: holder.id, ...(serverWide ? { server_wide: true } : {}), ...(reason ? { reason } : {}) };
      if (target.id === cluster.membership.self.id) return this.recoverHere(actor, authorization, c.id, body);
      const client = cluster.client!;
      const answer = await client
        .send(target, { method: 'POST', url: `${this.prefix}/cluster/containers/${c.id}/recover`, headers: { ...(authorization ? { authorization } : {}), 'content-type': 'application/json' }, body: JSON.stringify(body) })
        .catch((err: unknown) => {
          throw err instanceof UnreachableError ? offline(target, 'could not be reached') : err;
        });
      const bytes = await bodyOf(answer);
      const now = await store.getContainer(c.id);
      if (answer.statusCode >= 200 && answer.statusCode < 300 && now) return now;
      if (now?.server_id === target.id) return now;
      throw refusalOf(answer, bytes, (message) => `server "${target.name}" did not recover container "${c.name}": ${message}`);
    }
    throw new HoodyError('INVALID_STATE', `no snapshot of container "${c.name}"${ref === undefined ? '' : ` named "${ref}"`} is kept on a server that answers: its files are on the lost server only (HOODY_SNAPSHOT_REPLICAS keeps copies elsewhere)`, {
      server_id: c.server_id,
      snapshots: rows.length,
    });
  }

  /** The recovering end: the snapshot's files here (fetched from `holder_id` when missing), the container made from them and handed over. */
  async recoverHere(actor: Actor, authorization: string | undefined, id: string, body: RecoverBody): Promise<ContainerRecord> {
    const { cluster, store, containers, snapshots } = this.deps;
    const replicator = this.deps.replicator;
    const work = cluster.workDir;
    if (!snapshots || !replicator || !work) throw new HoodyError('INVALID_STATE', 'this server keeps no snapshots: it cannot recover a container');
    if (body.server_wide && !actor.isAdmin) throw new HoodyError('FORBIDDEN', 'only an admin recovers every container of a lost server');
    const c = body.server_wide ? await store.getContainer(id) : await containers.get(actor, id);
    if (!c) throw new HoodyError('NOT_FOUND', `no container "${id}"`, { resource: 'container' });
    if (this.recovering.has(id)) throw new HoodyError('OPERATION_IN_PROGRESS', `container "${c.name}" is being recovered here already`, { current_operation: c.current_operation });
    this.recovering.add(id);
    try {
      return await this.recoverHereHeld(actor, authorization, c, body, { snapshots, replicator, work });
    } finally {
      this.recovering.delete(id);
    }
  }

  private async recoverHereHeld(
    actor: Actor,
    authorization: string | undefined,
    c: ContainerRecord,
    body: RecoverBody,
    { snapshots, replicator, work }: { snapshots: SnapshotService; replicator: SnapshotReplicator; work: string },
  ): Promise<ContainerRecord> {
    const { cluster, store, containers } = this.deps;
    const id = c.id;
    const lost = await cluster.membership.server(body.from_server, { fresh: true });
    if (lost && lost.status !== 'offline') throw new HoodyError('INVALID_STATE', `server "${lost.name}" answers again: move the container as usual`, { server_id: lost.id });
    let fetched = false;
    if (!(await snapshots.holds(body.snapshot_id))) {
      const holder = await cluster.membership.server(body.holder_id, { fresh: true });
      if (!holder || holder.status === 'offline') throw new HoodyError('SERVER_OFFLINE', 'the server keeping the snapshot cannot be reached', { server_id: body.holder_id });
      fetched = await replicator.fetchFrom(holder, body.snapshot_id, authorization);
    }
    let handedOver = false;
    const marker = join(work, MADE_HERE, id);
    try {
      const snap = await store.getSnapshot(body.snapshot_id);
      if (!snap || snap.container_id !== id) throw new HoodyError('NOT_FOUND', `no snapshot ${body.snapshot_id} of container ${id}`, { resource: 'snapshot' });
      // the snapshots whose files are here go with it: the one used, and replicas kept here
      const here: string[] = [];
      for (const r of await store.listSnapshots({ container_id: id })) if (await snapshots.holds(r.id)) here.push(r.id);
      await markHalfMade(marker, `recover ${snap.id}`);
      const config = { ...snap.config, container_image: snap.container_image, image_id: snap.image_id };
      const staleBefore = new Date(Date.now() - cluster.membership.offlineAfterMs).toISOString();
      const moved = await containers.recoverIn(actor, c, { from: body.from_server, snapshot: { id: snap.id, alias: snap.alias, config }, snapshotIds: here, staleBefore, reason: body.reason }, (c) => snapshots.restoreInto(snap.id, c));
      handedOver = true;
      return moved;
    } finally {
      await settleMark(marker, handedOver, id, store, cluster.membership.self.id);
      if (!handedOver && fetched) await snapshots.dropFiles([body.snapshot_id]);
    }
  }

  /** The server a container goes to: one of the cluster's, ready, not the one it is on (INVALID_INPUT, SERVER_OFFLINE, SERVER_IN_MAINTENANCE, NOT_FOUND). */
  async target(where: { server_id?: string | undefined; server_name?: string | undefined }, current: { name: string; server_id: string }): Promise<ServerView> {
    const cluster = this.deps.cluster;
    if (!cluster.client || !cluster.workDir || !cluster.files) throw invalidInput('moving a container needs a cluster: the same HOODY_CLUSTER_SECRET on every server');
    const target = placeContainer(await cluster.membership.servers({ fresh: true }), where, cluster.membership.self.id, true);
    if (target.id === current.server_id) throw invalidInput(`container "${current.name}" is on server "${target.name}" already`);
    return target;
  }

  /** Moves container `id` (of this server) to `target`, as `actor` whose Authorization goes with it; the container as it is there. */
  async moveTo(actor: Actor, authorization: string | undefined, id: string, target: ServerView, reason: string | undefined): Promise<ContainerRecord> {
    const { containers, store, driver, cluster } = this.deps;
    const client = cluster.client;
    const work = cluster.workDir;
    const idRange = cluster.files?.idRange;
    if (!client || !work || !idRange) throw invalidInput('moving a container needs a cluster: the same HOODY_CLUSTER_SECRET on every server');
    let snapshotIds: string[] = [];
    const moved = await containers.moveOut(actor, id, reason, async (c, held) => {
      const files = driver.filesDir?.(c.id);
      if (!files) throw new HoodyError('RUNTIME_ERROR', 'this runtime cannot give a container\'s files');
      const packed = await packFiles(files, join(work, 'out', `${c.id}-${held.operationId}.tar`), held.signal);
      let snapshots;
      try {
        snapshots = await this.deps.snapshots?.packFor(c.id, join(work, 'out', `${c.id}-${held.operationId}-snapshots.tar`), held.signal);
      } catch (err) {
        await packed.remove();
        throw err;
      }
      snapshotIds = snapshots?.ids ?? [];
      this.outgoing.set(held.operationId, { id: c.id, packed, ...(snapshots ? { snapshots: snapshots.packed } : {}) });
      const handedOver = async (): Promise<boolean> => (await store.getContainer(c.id))?.server_id === target.id;
      try {
        const moveIn: MoveInBody = {
          operation_id: held.operationId,
          sha256: packed.sha256,
          bytes: packed.bytes,
          id_range: idRange,
          ...(snapshots ? { snapshots: { sha256: snapshots.packed.sha256, bytes: snapshots.packed.bytes, count: snapshots.ids.length } } : {}),
          ...(reason ? { reason } : {}),
        };
        let answer;
        try {
          answer = await client.send(target, {
            method: 'POST',
            url: `${this.prefix}/cluster/containers/${c.id}/move-in`,
            headers: { ...(authorization ? { authorization } : {}), 'content-type': 'application/json' },
            body: JSON.stringify(moveIn),
            signal: held.signal,
          });
        } catch (err) {
          if (err instanceof UnreachableError) throw offline(target, `could not be reached: ${(err.cause as { code?: string })?.code ?? 'no answer'}`);
          // the connection broke: whether the other server took it is in the database
          if (await handedOver()) return;
          throw new HoodyError('FORWARD_FAILED', `server "${target.name}" did not finish taking container "${c.name}": it stays on this server`, { server_id: target.id });
        }
        const bytes = await bodyOf(answer);
        if (answer.statusCode >= 200 && answer.statusCode < 300) return;
        if (await handedOver()) return;
        throw refusalOf(answer, bytes, (message) => `server "${target.name}" refused container "${c.name}": ${message}`);
      } finally {
        this.outgoing.delete(held.operationId);
        await packed.remove();
        await snapshots?.packed.remove();
      }
    });
    // handed over: the snapshots' files here are the other server's now (a crash before this: swept at the next start)
    await this.deps.snapshots?.dropFiles(snapshotIds, moved.id);
    return moved;
  }
}

/** Marks a container as half made here by a move or recovery (`marker`: its file under MADE_HERE), until settleMark. */
async function markHalfMade(marker: string, note: string): Promise<void> {
  await mkdir(dirname(marker), { recursive: true, mode: 0o700 });
  await writeFile(marker, `${note}\n`);
}

/**
 * Removes the mark of a container half made here by a move or recovery once the outcome is known:
 * handed over, or the database says it is elsewhere. When the database cannot be read, the mark
 * stays, and the next start decides by the row (kept when it is here, removed when not).
 */
async function settleMark(marker: string, handedOver: boolean, id: string, store: AppDeps['store'], self: string): Promise<void> {
  const known = handedOver || (await store.getContainer(id).then((c) => c?.server_id !== self, () => false));
  if (known) await rm(marker, { force: true });
}

export async function moveRoutes(api: FastifyInstance, deps: AppDeps & { cluster: Cluster }, mover: ContainerMover): Promise<void> {
  const { containers, cluster } = deps;

  api.post('/containers/:id/move', { schema: SCHEMAS.move }, async (request) => {
    const { id } = request.params as { id: string };
    const body = request.body as MoveContainerBody;
    if (body.server_id === undefined && body.server_name === undefined) throw invalidInput('name the server to move it to: server_id or server_name');
    const visible = await containers.get(request.actor, id);
    const target = await mover.target(body, visible);
    // sent on to its own daemon unless its server is offline (see forwarding): then it is a recovery
    if (visible.server_id !== cluster.membership.self.id && cluster.client) {
      const recovered = await mover.recover(request.actor, request.headers.authorization, visible, target, body.snapshot, body.reason);
      return ok('Container recovered from a snapshot', await containerView(deps, recovered));
    }
    if (body.snapshot !== undefined) throw invalidInput('only a container of an offline server is moved from a snapshot: restore the snapshot, then move it', { field: 'snapshot' });
    const moved = await mover.moveTo(request.actor, request.headers.authorization, id, target, body.reason);
    return ok('Container moved successfully', await containerView(deps, moved));
  });

  api.post('/servers/:id/recover', { schema: SCHEMAS.recoverServer }, async (request) => {
    const { id } = request.params as { id: string };
    if (!request.actor.isAdmin) throw new HoodyError('FORBIDDEN', 'only an admin recovers the containers of a lost server');
    const body = request.body as RecoverServerBody;
    const lost = await cluster.membership.server(id, { fresh: true });
    if (!lost) throw new HoodyError('NOT_FOUND', `no server "${id}"`, { resource: 'server' });
    if (lost.status !== 'offline') throw new HoodyError('INVALID_STATE', `server "${lost.name}" is not offline: its daemon answers for its containers`, { server_id: lost.id, status: lost.status });
    const ids = (await deps.store.listContainers({ server_id: lost.id })).map((c) => c.id);
    // one at a time: each reads and writes a snapshot's files on its target
    const results = await runEach(
      ids,
      async (cid) => {
        const c = await deps.store.getContainer(cid);
        if (!c || c.server_id !== lost.id) throw new HoodyError('NOT_FOUND', `container "${cid}" is no longer on server "${lost.name}"`, { resource: 'container' });
        const target = await mover.target(body, c);
        return mover.recover(request.actor, request.headers.authorization, c, target, undefined, body.reason ?? `server "${lost.name}" lost`, true);
      },
      1,
    );
    const succeeded = results.filter((r) => r.ok).length;
    const view = (await serverViews(deps, { fresh: true })).find((s) => s.id === lost.id) ?? lost;
    return ok('Containers of the lost server recovered', { server: serverWire(view), results, summary: { total: results.length, succeeded, failed: results.length - succeeded } });
  });

  api.post('/cluster/containers/:id/recover', { schema: SCHEMAS.recover, config: { idempotency: false } }, async (request) => {
    if (request.forwardedBy === undefined) throw new HoodyError('FORBIDDEN', 'only another daemon of the cluster asks this one to recover a container');
    const { id } = request.params as { id: string };
    const recovered = await mover.recoverHere(request.actor, request.headers.authorization, id, request.body as RecoverBody);
    return ok('Container recovered here', await containerView(deps, recovered));
  });

  api.get('/cluster/containers/:id/files', { schema: SCHEMAS.files }, async (request, reply) => {
    if (request.forwardedBy === undefined) throw new HoodyError('FORBIDDEN', 'only the daemon taking a moving container fetches its files');
    const { id } = request.params as { id: string };
    const query = request.query as { operation: string; part?: 'files' | 'snapshots' };
    const transfer = mover.outgoing.get(query.operation);
    if (!transfer || transfer.id !== id) throw new HoodyError('NOT_FOUND', `no move of container "${id}" by that operation is in progress here`);
    const packed = query.part === 'snapshots' ? transfer.snapshots : transfer.packed;
    if (!packed) throw new HoodyError('NOT_FOUND', `container "${id}" moves without snapshots`);
    void reply.header('content-type', 'application/x-tar').header('content-length', String(packed.bytes));
    return reply.send(packed.open());
  });

  api.post('/cluster/containers/:id/move-in', { schema: SCHEMAS.moveIn, config: { idempotency: false } }, async (request) => {
    const { id } = request.params as { id: string };
    const from = request.forwardedBy;
    if (from === undefined) throw new HoodyError('FORBIDDEN', 'only the daemon of the server a container leaves asks another to take it');
    const body = request.body as MoveInBody;
    const client = cluster.client;
    const work = cluster.workDir;
    if (!client || !work) throw new HoodyError('RUNTIME_ERROR', 'this daemon is not part of a cluster');
    // the container must be visible to the caller before anything of it is fetched
    await containers.get(request.actor, id);
    const sender = await cluster.membership.server(from, { fresh: true });
    if (!sender?.advertise_url) throw new HoodyError('SERVER_OFFLINE', 'the server the container leaves cannot be reached from here', { server_id: from });
    await mkdir(join(work, 'in'), { recursive: true, mode: 0o700 });
    const staged = join(work, 'in', `${id}-${body.operation_id}-${randomBytes(4).toString('hex')}`);
    const fetchPart = async (part: 'files' | 'snapshots') => {
      const answer = await client
        .send(sender, { method: 'GET', url: `${api.prefix}/cluster/containers/${id}/files?operation=${body.operation_id}&part=${part}`, headers: request.headers.authorization ? { authorization: request.headers.authorization } : {} })
        .catch((err: unknown) => {
          throw err instanceof UnreachableError ? offline(sender, `could not be reached for the ${part}`) : err;
        });
      if (answer.statusCode !== 200) {
        answer.body.resume();
        throw new HoodyError('INVALID_STATE', `server "${sender.name}" has no ${part} of this move (answer ${answer.statusCode})`);
      }
      return answer.body;
    };
    const damaged = (what: string) => (err: unknown) => {
      if (err instanceof DigestMismatchError) throw invalidInput(`${what} arrived damaged: ${err.message}`);
      throw new HoodyError('RUNTIME_ERROR', `${what} could not be unpacked: ${(err as Error).message}`);
    };
    if (body.snapshots && !deps.snapshots) throw new HoodyError('INVALID_STATE', 'this server keeps no snapshots: the container\'s cannot move here');
    let received: string[] = [];
    let handedOver = false;
    try {
      await unpackFiles(await fetchPart('files'), staged, body.sha256).catch(damaged('the container\'s files'));
      if (body.snapshots && deps.snapshots) received = await deps.snapshots.receive(await fetchPart('snapshots'), body.snapshots.sha256).catch(damaged('the container\'s snapshots'));
      // owned in the sender's id range: moved into this server's when they differ
      const here = cluster.files?.idRange;
      if (here && (here.uid !== body.id_range.uid || here.gid !== body.id_range.gid || here.size !== body.id_range.size)) await cluster.files?.shiftIds(staged, body.id_range, here);
      // marked while it is half made here: a daemon killed before the hand-over removes it at its next start
      const marker = join(work, MADE_HERE, id);
      await markHalfMade(marker, body.operation_id);
      let moved;
      try {
        moved = await containers.moveIn(request.actor, id, { operationId: body.operation_id, from, reason: body.reason }, staged);
        handedOver = true;
        // a snapshot deleted while its files travelled has no row: its files are nobody's
        const gone: string[] = [];
        for (const sid of received) if (!(await deps.store.getSnapshot(sid))) gone.push(sid);
        await deps.snapshots?.dropFiles(gone);
      } finally {
        // handed over, or nothing of it left here: either way not half made
        await settleMark(marker, handedOver, id, deps.store, cluster.membership.self.id);
      }
      return ok('Container moved here', await containerView(deps, moved));
    } finally {
      await rm(staged, { recursive: true, force: true });
      // not handed over: the snapshots received for it are nobody's here
      if (!handedOver) await deps.snapshots?.dropFiles(received);
    }
  });
}
