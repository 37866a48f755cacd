/** /servers: the daemons sharing this database, their status, and maintenance. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { Id, MaintenanceBody } from '../../api/schemas.ts';
import { forbidden, HoodyError, notFound } from '../../core/errors.ts';
import type { AppDeps } from '../app.ts';
import { newestLogRow, type ContainerRecord } from '../../store/store.ts';
import { ok, serverWire } from '../wire.ts';
import { AUTHENTICATED_ERRORS, BODY_ERRORS, MaintenanceEnvelope, ServerEnvelope, ServerListEnvelope, errorResponses } from '../../api/responses.ts';
import { serverViews } from '../server-views.ts';

const tags = ['servers'];
const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
const listSchema = {
  tags,
  summary: 'List servers',
  description: 'Every daemon sharing this database, with its status (`ready`, `maintenance`, `offline`: its heartbeat is older than the offline time), last heartbeat, version, capacity and usage.',
  response: { 200: ServerListEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS) },
};
const getSchema = {
  tags,
  summary: 'Get a server',
  params: IdParams,
  response: { 200: ServerEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'INVALID_INPUT', 'NOT_FOUND') },
};
const maintenanceSchema = {
  tags,
  summary: 'Enter or leave maintenance',
  description:
    'Admin only. Entering: the server takes no new containers, and its running (and paused) containers are stopped gracefully, each with a status log row giving the reason (unless `stop_containers` is false). Leaving: the `autostart` containers the maintenance stopped start again (not those that exited or were stopped since). Sent on to the server\'s own daemon; SERVER_OFFLINE while it is offline.',
  params: IdParams,
  body: MaintenanceBody,
  response: { 200: MaintenanceEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, 'NOT_FOUND', 'SERVER_OFFLINE', 'FORWARD_FAILED', 'WRONG_SERVER') },
};

export async function serverRoutes(api: FastifyInstance, deps: AppDeps): Promise<void> {
  const { store, server, containers } = deps;
  api.get('/servers', { schema: listSchema }, async () => ok('Servers retrieved successfully', { servers: (await serverViews(deps, { fresh: true })).map(serverWire) }));
  api.get('/servers/:id', { schema: getSchema }, async (request) => {
    const { id } = request.params as { id: string };
    const found = (await serverViews(deps, { fresh: true })).find((s) => s.id === id);
    if (!found) throw notFound('server', id);
    return ok('Server retrieved successfully', serverWire(found));
  });
  // another server's request is sent on to its daemon before this runs (see forwarding)
  api.post('/servers/:id/maintenance', { schema: maintenanceSchema }, async (request) => {
    const { id } = request.params as { id: string };
    if (!request.actor.isAdmin) throw forbidden('only an admin puts a server into maintenance');
    if (id !== server.id) {
      if (!(await store.getServer(id))) throw notFound('server', id);
      throw new HoodyError('WRONG_SERVER', 'this server\'s daemon cannot be reached from here (no cluster secret or advertised address): send the request to its own daemon', { server_id: id });
    }
    const body = request.body as MaintenanceBody;
    const why = body.reason ?? (body.enabled ? 'server maintenance' : 'server maintenance completes');
    let results;
    if (body.enabled) {
      await store.setServerStatus(server.id, 'maintenance');
      deps.cluster?.membership.invalidate();
      const live = (c: ContainerRecord): boolean => c.status === 'running' || c.status === 'paused';
      results = body.stop_containers === false ? [] : await containers.operateServerWide(request.actor, 'stop', live, { reason: why }, { maintenance: true });
    } else {
      await store.setServerStatus(server.id, 'ready');
      deps.cluster?.membership.invalidate();
      // the autostart containers maintenance stopped, and nothing changed since (a container that
      // exited by itself, or that its user stopped, stays as it is)
      const stoppedByMaintenance = async (c: ContainerRecord): Promise<boolean> => {
        if (!c.autostart || c.status !== 'stopped') return false;
        const last = await newestLogRow(store, c.id);
        return last?.metadata.maintenance === true && last.to_status === 'stopped';
      };
      results = await containers.operateServerWide(request.actor, 'start', stoppedByMaintenance, { reason: why }, { maintenance: false });
    }
    const now = (await serverViews(deps, { fresh: true })).find((s) => s.id === server.id);
    if (!now) throw notFound('server', server.id);
    const succeeded = results.filter((r) => r.ok).length;
    return ok(body.enabled ? 'Server entered maintenance' : 'Server left maintenance', { server: serverWire(now), results, summary: { total: results.length, succeeded, failed: results.length - succeeded } });
  });
}
