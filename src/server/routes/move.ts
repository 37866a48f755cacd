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
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { Id, MoveContainerBody } from '../../api/schemas.ts';
import { AUTHENTICATED_ERRORS, BODY_ERRORS, ContainerEnvelope, errorResponses } from '../../api/responses.ts';
import { HoodyError, invalidInput } from '../../core/errors.ts';
import { bodyOf, refusalOf, UnreachableError } from '../../cluster/client.ts';
import { offline, placeContainer } from '../../cluster/placement.ts';
import type { ServerView } from '../../cluster/membership.ts';
import type { Actor } from '../../core/actor.ts';
import type { ContainerRecord } from '../../store/store.ts';
import { DigestMismatchError, packFiles, unpackFiles, type Packed } from '../../cluster/transfer.ts';
import type { AppDeps } from '../app.ts';
import type { Cluster } from '../forwarding.ts';
import { containerView } from '../server-views.ts';
import { ok } from '../wire.ts';

const tags = ['containers'];
const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
/** What the sending daemon tells the receiving one of a move. */
const MoveInBody = Type.Object(
  {
    operation_id: Id,
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    bytes: Type.Integer({ minimum: 0 }),
    id_range: Type.Object({ uid: Type.Integer({ minimum: 0 }), gid: Type.Integer({ minimum: 0 }), size: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
type MoveInBody = typeof MoveInBody.static;
/** Under the folder of files in transit: one empty file per container half made here by a move (see removeMovedAway). */
export const MADE_HERE = 'made-here';
const FilesQuery = Type.Object({ operation: Id }, { additionalProperties: false });

const SCHEMAS = {
  move: {
    tags,
    summary: 'Move a container to another server',
    description:
      'A stopped (or failed) container goes to another server of the cluster with its files, configuration, id, status logs and proxy aliases; its address is given anew there at its next start, its published ports and service names must be free there. The files travel between the daemons with their SHA-256 checked; until the other server has written the hand-over, the container stays here as it was. Refused while it has snapshots (they are files of this server). Needs `HOODY_CLUSTER_SECRET`.',
    params: IdParams,
    body: MoveContainerBody,
    response: {
      200: ContainerEnvelope,
      ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, 'NOT_FOUND', 'INVALID_TRANSITION', 'INVALID_STATE', 'OPERATION_IN_PROGRESS', 'SERVER_OFFLINE', 'SERVER_IN_MAINTENANCE', 'FORWARD_FAILED', 'WRONG_SERVER', 'PORT_IN_USE', 'SERVICE_NAME_TAKEN', 'IMAGE_NOT_FOUND', 'IMAGE_PULL_FAILED', 'RUNTIME_ERROR'),
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
  files: {
    tags: ['servers'],
    summary: 'A moving container\'s files (between daemons)',
    description: 'The tar stream of a container being moved, for the daemon taking it (signed with the cluster secret), while the move that packed it runs. Refused from anyone else.',
    params: IdParams,
    querystring: FilesQuery,
    response: errorResponses(...AUTHENTICATED_ERRORS, 'FORBIDDEN', 'INVALID_INPUT', 'NOT_FOUND'),
  },
};

/** Moves containers of this server to others; shared by the move route, a copy made for another server, and the file downloads. */
export class ContainerMover {
  /** Files packed for moves in progress here, by the move's claim. */
  readonly outgoing = new Map<string, { id: string; packed: Packed }>();

  constructor(
    private readonly deps: AppDeps & { cluster: Cluster },
    private readonly prefix: string,
  ) {}

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
    return containers.moveOut(actor, id, reason, async (c, held) => {
      const files = driver.filesDir?.(c.id);
      if (!files) throw new HoodyError('RUNTIME_ERROR', 'this runtime cannot give a container\'s files');
      const packed = await packFiles(files, join(work, 'out', `${c.id}-${held.operationId}.tar`), held.signal);
      this.outgoing.set(held.operationId, { id: c.id, packed });
      const handedOver = async (): Promise<boolean> => (await store.getContainer(c.id))?.server_id === target.id;
      try {
        const moveIn: MoveInBody = { operation_id: held.operationId, sha256: packed.sha256, bytes: packed.bytes, id_range: idRange, ...(reason ? { reason } : {}) };
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
      }
    });
  }
}

export async function moveRoutes(api: FastifyInstance, deps: AppDeps & { cluster: Cluster }, mover: ContainerMover): Promise<void> {
  const { containers, cluster } = deps;

  api.post('/containers/:id/move', { schema: SCHEMAS.move }, async (request) => {
    const { id } = request.params as { id: string };
    const body = request.body as MoveContainerBody;
    if (body.server_id === undefined && body.server_name === undefined) throw invalidInput('name the server to move it to: server_id or server_name');
    const visible = await containers.get(request.actor, id);
    const target = await mover.target(body, visible);
    const moved = await mover.moveTo(request.actor, request.headers.authorization, id, target, body.reason);
    return ok('Container moved successfully', await containerView(deps, moved));
  });

  api.get('/cluster/containers/:id/files', { schema: SCHEMAS.files }, async (request, reply) => {
    if (request.forwardedBy === undefined) throw new HoodyError('FORBIDDEN', 'only the daemon taking a moving container fetches its files');
    const { id } = request.params as { id: string };
    const transfer = mover.outgoing.get((request.query as { operation: string }).operation);
    if (!transfer || transfer.id !== id) throw new HoodyError('NOT_FOUND', `no move of container "${id}" by that operation is in progress here`);
    void reply.header('content-type', 'application/x-tar').header('content-length', String(transfer.packed.bytes));
    return reply.send(transfer.packed.open());
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
    try {
      const files = await client
        .send(sender, { method: 'GET', url: `${api.prefix}/cluster/containers/${id}/files?operation=${body.operation_id}`, headers: request.headers.authorization ? { authorization: request.headers.authorization } : {} })
        .catch((err: unknown) => {
          throw err instanceof UnreachableError ? offline(sender, 'could not be reached for the files') : err;
        });
      if (files.statusCode !== 200) {
        files.body.resume();
        throw new HoodyError('INVALID_STATE', `server "${sender.name}" has no files of this move (answer ${files.statusCode})`);
      }
      await unpackFiles(files.body, staged, body.sha256).catch((err: unknown) => {
        if (err instanceof DigestMismatchError) throw invalidInput(`the container's files arrived damaged: ${err.message}`);
        throw new HoodyError('RUNTIME_ERROR', `the container's files could not be unpacked: ${(err as Error).message}`);
      });
      // owned in the sender's id range: moved into this server's when they differ
      const here = cluster.files?.idRange;
      if (here && (here.uid !== body.id_range.uid || here.gid !== body.id_range.gid || here.size !== body.id_range.size)) await cluster.files?.shiftIds(staged, body.id_range, here);
      // marked while it is half made here: a daemon killed before the hand-over removes it at its next start
      const marker = join(work, MADE_HERE, id);
      await mkdir(join(work, MADE_HERE), { recursive: true, mode: 0o700 });
      await writeFile(marker, `${body.operation_id}\n`);
      let moved;
      try {
        moved = await containers.moveIn(request.actor, id, { operationId: body.operation_id, from, reason: body.reason }, staged);
      } finally {
        // handed over, or nothing of it left here: either way not half made
        await rm(marker, { force: true });
      }
      return ok('Container moved here', await containerView(deps, moved));
    } finally {
      await rm(staged, { recursive: true, force: true });
    }
  });
}
