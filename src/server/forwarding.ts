/**
 * Any daemon answers any request. A request about a container on another server (a lifecycle
 * operation, PATCH, DELETE, logs, exec, a snapshot, a copy, the container itself with what its
 * runtime shows, or its service URLs) and
 * a create placed on another server are sent on to that server's daemon and its answer is given
 * back as it comes: the same status, envelope, errors and ETag. The caller's own Authorization goes
 * with it, so the owning daemon authenticates the same token and the audit log names the same user;
 * Idempotency-Key goes with it too and is claimed there, in the one database. Reads of the database
 * (lists, status logs, snapshots, waits, events) are answered here, and so is a container while
 * its server is offline: with its last known status, `server_status: "offline"`, never in sync. A request a daemon signed (cluster secret) is never sent on again.
 */
import type { IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../core/actor.ts';
import type { IdRange } from '../runtime/id-range.ts';
import type { ContainerStatus } from '../api/schemas.ts';
import type { OperateOne } from '../core/bulk.ts';
import type { ContainerService } from '../core/container-service.ts';
import { HoodyError } from '../core/errors.ts';
import { bodyOf, parsed, refusalOf, UnreachableError, type ClusterClient, type ClusterTarget } from '../cluster/client.ts';
import type { Membership, ServerView } from '../cluster/membership.ts';
import { assertTakesContainers, offline, placeContainer } from '../cluster/placement.ts';
import { FORWARDED_BY, SIGNATURE, signForward, verifyForward } from '../cluster/signature.ts';
import { abortOnHangUp, ClientGoneError, sendStreamNow } from './streaming.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The server whose daemon sent this request on (verified by the cluster secret). */
    forwardedBy?: string;
  }
}

export interface Cluster {
  membership: Membership;
  /** Requests to other daemons; none without a cluster secret (containers elsewhere then answer WRONG_SERVER). */
  client?: ClusterClient;
  secret?: string;
  /** Where files in transit between servers are kept (a container's, while it moves): on the file system of the runtime's state. */
  workDir?: string;
  /** The id range this server's container files are owned in, and how a tree is moved from another range into it. */
  files?: { idRange: IdRange; shiftIds(dir: string, from: IdRange, to: IdRange): Promise<void> };
  /** How many other servers keep a copy of each new snapshot (HOODY_SNAPSHOT_REPLICAS, 0: none). */
  snapshotReplicas?: number;
}

/** Headers of the caller's request that go with it. */
const PASSED = ['authorization', 'accept', 'content-type', 'idempotency-key', 'if-match', 'last-event-id', 'user-agent'];
/** Headers of the answer that are not given back (this hop's own). */
const NOT_RETURNED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'date', 'x-request-id']);

/**
 * The server whose daemon sent this request on, its signature checked (UNAUTHORIZED when it does
 * not hold, or this daemon has no secret to check it with); undefined for a request not sent on.
 */
function forwardedBy(cluster: Cluster, req: IncomingMessage): string | undefined {
  const by = req.headers[FORWARDED_BY];
  if (by === undefined) return undefined;
  const signature = req.headers[SIGNATURE];
  if (!cluster.secret || typeof by !== 'string' || typeof signature !== 'string') {
    throw new HoodyError('UNAUTHORIZED', 'a forwarded request needs a cluster signature this daemon can check (HOODY_CLUSTER_SECRET)');
  }
  const check = verifyForward(cluster.secret, by, signature, req.method ?? 'GET', pathOf(req.url ?? '/'), req.headers.authorization);
  if (!check.ok) throw new HoodyError('UNAUTHORIZED', check.reason);
  return by;
}

/** The path and query of a request's target, whatever form its request line had. */
function pathOf(url: string): string {
  if (url.startsWith('/') && !url.startsWith('//')) return url;
  const u = new URL(url, 'http://localhost');
  return `${u.pathname}${u.search}`;
}

/** GETs of a container answered by its own daemon: what only its runtime knows (one container shows its observed status and `in_sync`). */
const RUNTIME_READS = new Set(['/containers/:id', '/containers/:id/logs', '/containers/:id/services']);

export function installForwarding(api: FastifyInstance, deps: { cluster: Cluster; containers: ContainerService; prefix: string }): void {
  const { cluster, containers, prefix } = deps;
  // read when a request comes, not while routes are registered
  const me = (): { id: string; name: string } => cluster.membership.self;

  // who sent it on, checked before anything else of the request is trusted
  api.addHook('onRequest', (request, _reply, done) => {
    try {
      const by = forwardedBy(cluster, request.raw);
      if (by !== undefined) request.forwardedBy = by;
      done();
    } catch (err) {
      done(err as Error);
    }
  });

  api.addHook('preHandler', async (request, reply) => {
    const route = request.routeOptions.url?.slice(prefix.length);
    if (!route || request.forwardedBy !== undefined) {
      // sent on once already: placed here, or refused here (WRONG_SERVER), never sent on again
      if (route === '/containers' && request.method === 'POST') await placeHere(request);
      return;
    }
    if (route === '/containers' && request.method === 'POST') return createWherePlaced(request, reply);
    if (route === '/servers/:id/maintenance') {
      const id = (request.params as { id: string }).id;
      if (id === me().id || !request.actor.isAdmin) return;
      const target = await cluster.membership.server(id);
      if (!target) return;
      const answered = await sendOn(request, reply, target);
      // its new status shows here at once
      cluster.membership.invalidate();
      return answered;
    }
    // a lone daemon (no cluster secret) sends nothing on: its routes answer WRONG_SERVER themselves, at no extra read
    if (!route.startsWith('/containers/:id') || !cluster.client) return;
    if ((request.method === 'GET' || request.method === 'HEAD') && !RUNTIME_READS.has(route)) return;
    const c = await containers.get(request.actor, (request.params as { id: string }).id);
    if (c.server_id === me().id) return;
    const target = await cluster.membership.server(c.server_id);
    // not forwardable (no secret, no address): the route answers WRONG_SERVER as a lone daemon does
    if (!target || !cluster.client || !target.advertise_url) return;
    if (target.status === 'offline') {
      // what the database knows is still answered (with server_status offline)
      if (request.method === 'GET' && route === '/containers/:id') return;
      // a move of a lost server's container is a recovery from a snapshot kept elsewhere: the route's own
      if (request.method === 'POST' && route === '/containers/:id/move') return;
      throw offline(target);
    }
    return sendOn(request, reply, target);
  });

  /** A create whose server is this one (asked for, or chosen by the daemon that sent it on): refused while it is in maintenance, read afresh. */
  async function placeHere(request: FastifyRequest): Promise<void> {
    const body = request.body as { server_id?: string; server_name?: string };
    if (body.server_id !== undefined && body.server_id !== me().id) throw new HoodyError('WRONG_SERVER', `this daemon runs server "${me().name}", not "${body.server_id}"`, { server_id: body.server_id });
    if (body.server_name !== undefined && body.server_name !== me().name) throw new HoodyError('WRONG_SERVER', `this daemon runs server "${me().name}", not "${body.server_name}"`, { server_name: body.server_name });
    const here = await cluster.membership.server(me().id, { fresh: true });
    if (here?.status === 'maintenance') assertTakesContainers(here);
  }

  async function createWherePlaced(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const body = request.body as { server_id?: string; server_name?: string };
    // read now: a server that entered maintenance (or went offline) a moment ago is not chosen
    const servers = await cluster.membership.servers({ fresh: true });
    // a lone daemon (no row of its own yet in the cache) places here
    if (!servers.some((s) => s.id === me().id)) return placeHere(request);
    const target = placeContainer(servers, body, me().id, cluster.client !== undefined);
    if (target.id === me().id) return placeHere(request);
    // the body goes as the caller sent it (an Idempotency-Key's retry, placed anew, is the same
    // request): the daemon it is sent to creates it on its own server
    return sendOn(request, reply, target);
  }

  async function sendOn(request: FastifyRequest, reply: FastifyReply, target: ServerView, body: unknown = request.body): Promise<FastifyReply> {
    // a request line in absolute form (`POST http://elsewhere/api/v1/…`) names no host the request goes to: only its path and query do
    const path = pathOf(request.url);
    const client = cluster.client;
    if (!client || !target.advertise_url) throw new HoodyError('WRONG_SERVER', `server "${target.name}" is not reachable from this daemon (no cluster secret or advertised address)`, { server_id: target.id });
    if (target.status === 'offline') throw offline(target);
    const headers: Record<string, string> = {};
    for (const name of PASSED) {
      const value = request.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    headers['x-forwarded-for'] = [request.headers['x-forwarded-for'], request.ip].filter((v) => typeof v === 'string' && v.length > 0).join(', ');
    headers['x-request-id'] = String(request.id);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) headers['content-type'] = 'application/json';
    let answer;
    try {
      answer = await client.send(target as ClusterTarget, { method: request.method, url: path, headers, body: payload, signal: abortOnHangUp(reply) });
    } catch (err) {
      // the caller left: nobody to answer (the operation goes on over there, as it would here)
      if (err instanceof ClientGoneError) throw err;
      if (err instanceof UnreachableError) {
        cluster.membership.invalidate();
        throw offline(target, `could not be reached: ${(err.cause as { code?: string })?.code ?? 'no answer'}`);
      }
      throw new HoodyError('FORWARD_FAILED', `server "${target.name}" did not answer: the request may or may not have been carried out there`, { server_id: target.id, server_name: target.name });
    }
    reply.status(answer.statusCode);
    for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !NOT_RETURNED.has(name)) void reply.header(name, value);
    const type = String(answer.headers['content-type'] ?? '');
    // a whole JSON answer is passed on as one body; a stream (logs, exec output) as it comes
    if (type.startsWith('application/json')) return reply.send(await bodyOf(answer));
    return sendStreamNow(reply, answer.body);
  }
}

/**
 * One container's lifecycle operation for a bulk request, wherever the container is: here, or sent
 * on to its server's daemon as POST /containers/{id}/{operation} with the caller's token.
 */
export function operateAnywhere(deps: { cluster: Cluster; containers: ContainerService; prefix: string }, authorization: string | undefined): OperateOne {
  const { cluster, containers, prefix } = deps;
  return async (actor, id, operation, body) => {
    const c = await containers.get(actor, id);
    const target = c.server_id === cluster.membership.self.id ? undefined : await cluster.membership.server(c.server_id);
    // here, or not reachable from here (answered WRONG_SERVER by the operation itself)
    if (!target || !cluster.client || !target.advertise_url) return containers.operate(actor, id, operation, body);
    if (target.status === 'offline') throw offline(target);
    let answer;
    try {
      answer = await cluster.client.send(target, {
        method: 'POST',
        url: `${prefix}/containers/${encodeURIComponent(id)}/${operation}`,
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: JSON.stringify(body),
      });
    } catch (err) {
      if (err instanceof UnreachableError) throw offline(target, 'could not be reached');
      throw new HoodyError('FORWARD_FAILED', `server "${target.name}" did not answer: the operation may or may not have been carried out there`, { server_id: target.id });
    }
    const bytes = await bodyOf(answer);
    const status = answer.statusCode >= 200 && answer.statusCode < 300 ? parsed<{ data?: { status?: ContainerStatus } }>(bytes)?.data?.status : undefined;
    if (status) return { status };
    throw refusalOf(answer, bytes);
  };
}

/**
 * A terminal's WebSocket for a container on another server: the upgrade request goes on to that
 * server's daemon as it came (its Host and Origin, the caller's token) with this daemon's
 * signature, then bytes flow both ways until either side closes. Answers whether it was sent on
 * (false: the container is here, or its server is not reachable from here and the caller is
 * answered as by a lone daemon). A request already sent on by a daemon must carry a good signature.
 */
export function terminalForwarder(cluster: Cluster, containers: ContainerService) {
  return async (req: IncomingMessage, socket: Socket, head: Buffer, actor: Actor, id: string): Promise<boolean> => {
    // sent on by a daemon already (its signature good): opened here, never sent on again
    if (forwardedBy(cluster, req) !== undefined) return false;
    const c = await containers.get(actor, id);
    if (c.server_id === cluster.membership.self.id || !cluster.client || !cluster.secret) return false;
    const target = await cluster.membership.server(c.server_id);
    if (!target?.advertise_url) return false;
    if (target.status === 'offline') throw offline(target);
    const url = new URL(target.advertise_url);
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const upstream = await new Promise<Socket>((resolve, reject) => {
      const host = url.hostname.replace(/^\[|\]$/g, '');
      const options = { host, port, timeout: 3000 };
      const s = url.protocol === 'https:' ? tlsConnect({ ...options, servername: host }, () => resolve(s)) : netConnect(options, () => resolve(s));
      s.once('error', (err) => reject(offline(target, `could not be reached: ${(err as { code?: string }).code ?? err.message}`)));
      s.once('timeout', () => {
        s.destroy();
        reject(offline(target, 'could not be reached: no answer to the connect'));
      });
    });
    upstream.setTimeout(0);
    const path = pathOf(req.url ?? '/');
    const lines = [`${req.method ?? 'GET'} ${path} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!.toLowerCase();
      if (name.startsWith('x-hoody-') || name === 'x-forwarded-for') continue;
      lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    }
    lines.push(`${FORWARDED_BY}: ${cluster.membership.self.id}`, `${SIGNATURE}: ${signForward(cluster.secret, cluster.membership.self.id, req.method ?? 'GET', path, req.headers.authorization)}`);
    lines.push(`x-forwarded-for: ${[req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ')}`);
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    const close = (): void => {
      upstream.destroy();
      socket.destroy();
    };
    upstream.on('error', close).on('close', close);
    socket.on('error', close).on('close', close);
    upstream.pipe(socket);
    socket.pipe(upstream);
    return true;
  };
}
