/**
 * Moving a stopped container to another server: `POST /containers/{id}/move` (sent on to the
 * container's own daemon like any operation of it), which packs the container's files and sends
 * them, with their SHA-256 and the move's claim, to the other server's daemon
 * (`POST /cluster/containers/{id}/move-in`, signed with the cluster secret). That daemon unpacks
 * and checks them, makes the container and writes the hand-over; only then are the files here
 * removed. A failure (or a daemon killed) before the hand-over leaves the container where it was.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { Id, MoveContainerBody } from '../../api/schemas.ts';
import { AUTHENTICATED_ERRORS, BODY_ERRORS, ContainerEnvelope, errorResponses } from '../../api/responses.ts';
import { ERROR_CODES, type ErrorCode } from '../../api/error-codes.ts';
import { HoodyError, invalidInput } from '../../core/errors.ts';
import { UnreachableError } from '../../cluster/client.ts';
import { offline, placeContainer } from '../../cluster/placement.ts';
import { DigestMismatchError, packFiles, unpackFiles } from '../../cluster/transfer.ts';
import type { AppDeps } from '../app.ts';
import type { Cluster } from '../forwarding.ts';
import { serversOf } from '../server-views.ts';
import { containerWire, ok } from '../wire.ts';

const tags = ['containers'];
const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
const OPERATION = 'x-hoody-move-operation';
const DIGEST = 'x-hoody-move-sha256';
const REASON = 'x-hoody-move-reason';

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
    summary: 'Receive a moved container (between daemons)',
    description: 'Sent by the daemon of the server a container leaves, signed with the cluster secret, with the caller\'s token: the container\'s files as a tar stream, their SHA-256 (`X-Hoody-Move-Sha256`) and the move\'s claim (`X-Hoody-Move-Operation`). Refused from anyone else.',
    params: IdParams,
    response: {
      200: ContainerEnvelope,
      ...errorResponses(...AUTHENTICATED_ERRORS, 'FORBIDDEN', 'INVALID_INPUT', 'UNSUPPORTED_MEDIA_TYPE', 'NOT_FOUND', 'INVALID_STATE', 'OPERATION_IN_PROGRESS', 'PORT_IN_USE', 'SERVICE_NAME_TAKEN', 'IMAGE_NOT_FOUND', 'IMAGE_PULL_FAILED', 'RUNTIME_ERROR'),
    },
  },
};

export async function moveRoutes(api: FastifyInstance, deps: AppDeps & { cluster: Cluster }): Promise<void> {
  const { containers, store, driver, cluster } = deps;

  api.post('/containers/:id/move', { schema: SCHEMAS.move }, async (request) => {
    const { id } = request.params as { id: string };
    const body = request.body as MoveContainerBody;
    const client = cluster.client;
    const work = cluster.workDir;
    if (!client || !work) throw invalidInput('moving a container needs a cluster: the same HOODY_CLUSTER_SECRET on every server');
    if (body.server_id === undefined && body.server_name === undefined) throw invalidInput('name the server to move it to: server_id or server_name');
    const self = cluster.membership.self;
    const visible = await containers.get(request.actor, id);
    const target = placeContainer(await cluster.membership.servers({ fresh: true }), body, self.id, true);
    if (target.id === visible.server_id) throw invalidInput(`container "${visible.name}" is on server "${target.name}" already`);
    const moved = await containers.moveOut(request.actor, id, body.reason, async (c, held) => {
      const files = driver.filesDir?.(c.id);
      if (!files) throw new HoodyError('RUNTIME_ERROR', 'this runtime cannot give a container\'s files');
      const packed = await packFiles(files, join(work, 'out', `${c.id}-${held.operationId}.tar`), held.signal);
      const handedOver = async (): Promise<boolean> => (await store.getContainer(c.id))?.server_id === target.id;
      try {
        let answer;
        try {
          answer = await client.send(target, {
            method: 'POST',
            url: `${api.prefix}/cluster/containers/${c.id}/move-in`,
            headers: {
              ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}),
              'content-type': 'application/x-tar',
              'content-length': String(packed.bytes),
              [OPERATION]: held.operationId,
              [DIGEST]: packed.sha256,
              ...(body.reason ? { [REASON]: encodeURIComponent(body.reason) } : {}),
            },
            body: packed.open(),
            signal: held.signal,
          });
        } catch (err) {
          if (err instanceof UnreachableError) throw offline(target, `could not be reached: ${(err.cause as { code?: string })?.code ?? 'no answer'}`);
          // the connection broke: whether the other server took it is in the database
          if (await handedOver()) return;
          throw new HoodyError('FORWARD_FAILED', `server "${target.name}" did not finish taking container "${c.name}": it stays on this server`, { server_id: target.id });
        }
        const chunks: Buffer[] = [];
        for await (const chunk of answer.body) chunks.push(chunk as Buffer);
        if (answer.statusCode >= 200 && answer.statusCode < 300) return;
        if (await handedOver()) return;
        let refusal: { code?: string; message?: string; details?: Record<string, unknown> } = {};
        try {
          refusal = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof refusal;
        } catch {
          /* not JSON: said below */
        }
        const code = refusal.code && refusal.code in ERROR_CODES ? (refusal.code as ErrorCode) : 'FORWARD_FAILED';
        throw new HoodyError(code, `server "${target.name}" refused container "${c.name}": ${refusal.message ?? `answer ${answer.statusCode}`}`, refusal.details);
      } finally {
        await packed.remove();
      }
    });
    return ok('Container moved successfully', containerWire(moved, (await serversOf(deps, [moved]))(moved)));
  });

  // its own context: the files come as a tar stream
  await api.register(async (tarRoutes) => {
    tarRoutes.addContentTypeParser('application/x-tar', (_request, payload, done) => done(null, payload));
    tarRoutes.post('/cluster/containers/:id/move-in', { schema: SCHEMAS.moveIn, config: { idempotency: false } }, async (request) => {
      const { id } = request.params as { id: string };
      const from = request.forwardedBy;
      if (from === undefined) throw new HoodyError('FORBIDDEN', 'only the daemon of the server a container leaves sends its files here');
      const operationId = String(request.headers[OPERATION] ?? '');
      const digest = String(request.headers[DIGEST] ?? '');
      if (!/^[0-9a-f]{24}$/.test(operationId) || !/^[0-9a-f]{64}$/.test(digest)) throw invalidInput(`${OPERATION} (an operation id) and ${DIGEST} (64 hex digits) are required`);
      const stream = request.body as Readable | undefined;
      if (!stream || typeof stream.pipe !== 'function') throw new HoodyError('UNSUPPORTED_MEDIA_TYPE', 'send the files as application/x-tar');
      const work = cluster.workDir;
      if (!work) throw new HoodyError('RUNTIME_ERROR', 'this daemon keeps no files in transit');
      let reason: string | undefined;
      try {
        reason = request.headers[REASON] === undefined ? undefined : decodeURIComponent(String(request.headers[REASON])).slice(0, 500);
      } catch {
        throw invalidInput(`${REASON} is not percent-encoded text`);
      }
      // the container must be visible to the caller before a byte of it is written here
      await containers.get(request.actor, id);
      await mkdir(join(work, 'in'), { recursive: true, mode: 0o700 });
      const staged = join(work, 'in', `${id}-${operationId}`);
      try {
        await unpackFiles(stream, staged, digest).catch((err: unknown) => {
          if (err instanceof DigestMismatchError) throw invalidInput(`the container's files arrived damaged: ${err.message}`);
          throw new HoodyError('RUNTIME_ERROR', `the container's files could not be unpacked: ${(err as Error).message}`);
        });
        const moved = await containers.moveIn(request.actor, id, { operationId, from, reason }, staged);
        return ok('Container moved here', containerWire(moved, (await serversOf(deps, [moved]))(moved)));
      } finally {
        await rm(staged, { recursive: true, force: true });
      }
    });
  });
}
