/**
 * Copies of snapshots on other servers (`HOODY_SNAPSHOT_REPLICAS`): right after a snapshot is
 * made, that many other ready servers are asked to keep its files (`POST
 * /cluster/snapshots/{id}/replica`, signed); each fetches them from the snapshot's server (`GET
 * /cluster/snapshots/{id}/files`: packed on demand, SHA-256 in a header and checked on arrival),
 * takes them into its own snapshot store and records the replica. A server that is lost for good
 * leaves its containers' snapshots on those servers, to recover the containers from. A deleted
 * snapshot's replicas are removed (`POST /cluster/snapshots/{id}/drop`), or swept by their
 * server's next start when it cannot be reached.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { Id } from '../../api/schemas.ts';
import { AUTHENTICATED_ERRORS, envelope, errorResponses } from '../../api/responses.ts';
import { HoodyError } from '../../core/errors.ts';
import { nowIso } from '../../core/ids.ts';
import type { SnapshotService } from '../../core/snapshot-service.ts';
import { bodyOf, refusalOf, UnreachableError } from '../../cluster/client.ts';
import { offline } from '../../cluster/placement.ts';
import { DigestMismatchError } from '../../cluster/transfer.ts';
import type { ServerView } from '../../cluster/membership.ts';
import type { SnapshotRecord, SnapshotReplica } from '../../store/store.ts';
import type { AppDeps } from '../app.ts';
import type { Cluster } from '../forwarding.ts';
import { ok } from '../wire.ts';

const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
const tags = ['servers'];
/** The header a snapshot's packed files carry their SHA-256 in. */
const DIGEST_HEADER = 'x-hoody-sha256';

const SCHEMAS = {
  files: {
    tags,
    summary: 'A snapshot\'s files (between daemons)',
    description: 'The tar stream of one snapshot this server holds (its own or a replica), its SHA-256 in `X-Hoody-Sha256`, for another daemon of the cluster (signed with the cluster secret). Refused from anyone else.',
    params: IdParams,
    response: errorResponses(...AUTHENTICATED_ERRORS, 'FORBIDDEN', 'INVALID_INPUT', 'NOT_FOUND'),
  },
  replica: {
    tags,
    summary: 'Keep a replica of a snapshot (between daemons)',
    description: 'Sent by the daemon of the snapshot\'s server, signed with the cluster secret: this daemon fetches the snapshot\'s files from it, keeps them and records the replica. Refused from anyone else.',
    params: IdParams,
    response: {
      200: envelope(Type.Object({ snapshot_id: Id, server_id: Type.String(), created_at: Type.String() })),
      ...errorResponses(...AUTHENTICATED_ERRORS, 'FORBIDDEN', 'INVALID_INPUT', 'NOT_FOUND', 'SERVER_OFFLINE', 'RUNTIME_ERROR'),
    },
  },
  drop: {
    tags,
    summary: 'Remove a deleted snapshot\'s replica (between daemons)',
    description: 'Sent by the daemon that deleted a snapshot, signed with the cluster secret: its files go from this server unless a row still says this server keeps them. Refused from anyone else.',
    params: IdParams,
    response: { 200: envelope(Type.Object({ snapshot_id: Id, removed: Type.Boolean() })), ...errorResponses(...AUTHENTICATED_ERRORS, 'FORBIDDEN', 'INVALID_INPUT', 'NOT_FOUND') },
  },
};

type Deps = AppDeps & { cluster: Cluster; snapshots: SnapshotService };

/** Makes, fetches and removes replicas of snapshots; one per daemon of a cluster. */
export class SnapshotReplicator {
  constructor(
    private readonly deps: Deps,
    private readonly prefix: string,
  ) {}

  /**
   * Asks HOODY_SNAPSHOT_REPLICAS other ready servers (those holding the fewest replicas first) to keep snapshot
   * `snap`'s files; answers the replicas made. One that fails is logged and left out: the snapshot
   * stands without it.
   */
  async replicate(snap: SnapshotRecord, authorization: string | undefined): Promise<SnapshotReplica[]> {
    const { cluster, store } = this.deps;
    const count = cluster.snapshotReplicas ?? 0;
    if (count === 0 || !cluster.client) return [];
    const me = cluster.membership.self.id;
    const held = new Map<string, number>();
    for (const r of await store.listSnapshotReplicas({})) held.set(r.server_id, (held.get(r.server_id) ?? 0) + 1);
    const targets = (await cluster.membership.servers({ fresh: true }))
      .filter((s) => s.id !== me && s.status === 'ready' && s.advertise_url)
      .sort((x, y) => (held.get(x.id) ?? 0) - (held.get(y.id) ?? 0) || x.name.localeCompare(y.name))
      .slice(0, count);
    const made: SnapshotReplica[] = [];
    for (const target of targets) {
      try {
        await this.call(target, 'replica', snap.id, authorization);
        made.push({ snapshot_id: snap.id, server_id: target.id, created_at: nowIso() });
      } catch (err) {
        this.deps.logger?.warn({ err, snapshot: snap.id, server: target.name }, 'a replica of the snapshot was not made');
      }
    }
    return made;
  }

  /** Tells the servers that kept replicas of a deleted snapshot to remove them; one that cannot be reached sweeps them at its next start. */
  async dropAt(replicas: readonly SnapshotReplica[], authorization: string | undefined): Promise<void> {
    const servers = await this.deps.cluster.membership.servers();
    for (const r of replicas) {
      const holder = servers.find((s) => s.id === r.server_id);
      if (!holder || holder.status === 'offline') continue;
      await this.call(holder, 'drop', r.snapshot_id, authorization).catch((err: unknown) => this.deps.logger?.warn({ err, snapshot: r.snapshot_id, server: holder.name }, 'a replica of a deleted snapshot is left until its server restarts'));
    }
  }

  /** Fetches snapshot `id`'s files from `holder` into this server's store (SHA-256 checked); answers whether they were new here. */
  async fetchFrom(holder: ServerView, id: string, authorization: string | undefined): Promise<boolean> {
    const client = this.deps.cluster.client;
    if (!client) throw new HoodyError('RUNTIME_ERROR', 'this daemon is not part of a cluster');
    const answer = await client.send(holder, { method: 'GET', url: `${this.prefix}/cluster/snapshots/${id}/files`, headers: authorization ? { authorization } : {} }).catch((err: unknown) => {
      throw err instanceof UnreachableError ? offline(holder, 'could not be reached for the snapshot\'s files') : err;
    });
    const digest = answer.headers[DIGEST_HEADER];
    if (answer.statusCode !== 200 || typeof digest !== 'string') throw refusalOf(answer, await bodyOf(answer), (m) => `server "${holder.name}" did not give the files of snapshot ${id}: ${m}`);
    const taken = await this.deps.snapshots.receive(answer.body, digest).catch((err: unknown) => {
      if (err instanceof DigestMismatchError) throw new HoodyError('INVALID_INPUT', `the files of snapshot ${id} from server "${holder.name}" arrived damaged: ${err.message}`);
      throw new HoodyError('RUNTIME_ERROR', `the files of snapshot ${id} from server "${holder.name}" could not be taken: ${(err as Error).message}`);
    });
    return taken.includes(id);
  }

  private async call(target: ServerView, what: 'replica' | 'drop', id: string, authorization: string | undefined): Promise<void> {
    const client = this.deps.cluster.client;
    if (!client) return;
    const answer = await client.send(target, { method: 'POST', url: `${this.prefix}/cluster/snapshots/${id}/${what}`, headers: authorization ? { authorization } : {} });
    const bytes = await bodyOf(answer);
    if (answer.statusCode < 200 || answer.statusCode >= 300) throw refusalOf(answer, bytes, (m) => `server "${target.name}": ${m}`);
  }
}

export async function replicaRoutes(api: FastifyInstance, deps: Deps, replicator: SnapshotReplicator): Promise<void> {
  const { store, cluster, snapshots } = deps;
  const fromDaemon = (forwardedBy: string | undefined, what: string): string => {
    if (forwardedBy === undefined) throw new HoodyError('FORBIDDEN', `only another daemon of the cluster ${what}`);
    return forwardedBy;
  };

  api.get('/cluster/snapshots/:id/files', { schema: SCHEMAS.files }, async (request, reply) => {
    fromDaemon(request.forwardedBy, 'fetches a snapshot\'s files');
    const { id } = request.params as { id: string };
    const row = await store.getSnapshot(id);
    if (!row) throw new HoodyError('NOT_FOUND', `no snapshot ${id}`);
    // the caller's token must see its container; an admin recovering a whole lost server reads any user's
    if (!request.actor.isAdmin) await deps.containers.get(request.actor, row.container_id);
    const work = cluster.workDir;
    if (!work || !(await snapshots.holds(id))) throw new HoodyError('NOT_FOUND', `this server keeps no files of snapshot ${id}`);
    const packed = await snapshots.pack([id], join(work, 'out', `snapshot-${id}-${randomBytes(4).toString('hex')}.tar`));
    const stream = packed.open();
    stream.once('close', () => void packed.remove());
    void reply.header('content-type', 'application/x-tar').header('content-length', String(packed.bytes)).header(DIGEST_HEADER, packed.sha256);
    return reply.send(stream);
  });

  api.post('/cluster/snapshots/:id/replica', { schema: SCHEMAS.replica, config: { idempotency: false } }, async (request) => {
    const from = fromDaemon(request.forwardedBy, 'asks for a replica of a snapshot');
    const { id } = request.params as { id: string };
    const row = await store.getSnapshot(id);
    if (!row) throw new HoodyError('NOT_FOUND', `no snapshot ${id}`);
    await deps.containers.get(request.actor, row.container_id);
    const sender = await cluster.membership.server(from, { fresh: true });
    if (!sender?.advertise_url) throw new HoodyError('SERVER_OFFLINE', 'the snapshot\'s server cannot be reached from here', { server_id: from });
    const me = cluster.membership.self.id;
    const fresh = await replicator.fetchFrom(sender, id, request.headers.authorization);
    const replica = { snapshot_id: id, server_id: me, created_at: nowIso() };
    // deleted meanwhile (its row gone): the files are nobody's
    if (!(await store.addSnapshotReplica(replica))) {
      if (fresh) await snapshots.dropFiles([id]);
      throw new HoodyError('NOT_FOUND', `snapshot ${id} was deleted while its files came`);
    }
    return ok('Replica kept', replica);
  });

  api.post('/cluster/snapshots/:id/drop', { schema: SCHEMAS.drop, config: { idempotency: false } }, async (request) => {
    fromDaemon(request.forwardedBy, 'removes a replica');
    const { id } = request.params as { id: string };
    const me = cluster.membership.self.id;
    const row = await store.getSnapshot(id);
    const kept = row !== undefined && (row.server_id === me || (await store.listSnapshotReplicas({ snapshot_id: id, server_id: me })).length > 0);
    if (!kept && (await snapshots.holds(id))) await snapshots.dropFiles([id]);
    return ok('Replica removed', { snapshot_id: id, removed: !kept });
  });
}
