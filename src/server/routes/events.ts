/**
 * GET /events: Server-Sent Events of every transition (with the status log row's cursor as the
 * event id, so a client that reconnects with Last-Event-ID or ?since= gets exactly what it
 * missed, across daemon restarts) and every operation outcome the caller may see.
 */
import type { FastifyInstance } from 'fastify';
import { EventsQuery } from '../../api/schemas.ts';
import { AUTHENTICATED_ERRORS, errorResponses } from '../../api/responses.ts';
import type { Socket } from 'node:net';
import { invalidInput } from '../../core/errors.ts';
import { MAX_REPLAY_ROWS } from '../../core/event-hub.ts';
import { newId } from '../../core/ids.ts';
import type { AppDeps } from '../app.ts';
import { EventStreams } from '../sse/event-streams.ts';

const schema = {
  tags: ['events'],
  summary: 'Follow transitions and operations (Server-Sent Events)',
  description: `A \`text/event-stream\`. \`transition\` events carry the status log row and its cursor as the SSE \`id\`; reconnect with \`Last-Event-ID\` (or \`?since=\`) to receive exactly the missed ones (a cursor above the newest row starts at the newest row). Past ${MAX_REPLAY_ROWS.toLocaleString('en-US')} missed transitions a \`resync\` event with the newest cursor comes instead of them. \`operation\` events (accepted, succeeded, failed) and \`client\` events (a client attached to or detached from one of the kit's shared terminals or its display) are live only. A comment line is sent as a heartbeat. The stream ends when its token is deleted.`,
  querystring: EventsQuery,
  response: errorResponses(...AUTHENTICATED_ERRORS, 'INVALID_INPUT', 'NOT_FOUND', 'TOO_MANY_REQUESTS'),
};

export async function eventRoutes(api: FastifyInstance, deps: AppDeps): Promise<void> {
  // a test app built without the daemon's streams gets in-process ones, made on first use
  let own: Promise<EventStreams> | undefined;
  const streams = (): Promise<EventStreams> =>
    deps.streams ? Promise.resolve(deps.streams) : (own ??= EventStreams.start({ hub: deps.events, projects: deps.projects, store: deps.store, heartbeatMs: deps.heartbeatMs ?? 15_000, mode: 'inline' }));
  const opening = new Set<Socket>();
  // an event stream never ends by itself: end them all when the daemon closes
  api.addHook('preClose', async () => {
    for (const socket of opening) socket.destroy();
    // the daemon closes the streams it made; the ones made here are closed here
    if (own) await (await own).close();
  });

  api.get('/events', { schema }, async (request, reply) => {
    const q = request.query as { container_id?: string; project_id?: string; types?: string; since?: number };
    const lastEventId = request.headers['last-event-id'];
    let since = q.since;
    if (typeof lastEventId === 'string' && lastEventId !== '') {
      if (!/^\d+$/.test(lastEventId) || !Number.isSafeInteger(Number(lastEventId))) throw invalidInput(`Last-Event-ID "${lastEventId.slice(0, 40)}" must be a cursor (a whole number up to ${Number.MAX_SAFE_INTEGER})`);
      since = Number(lastEventId);
    }
    if (q.project_id) await deps.projects.get(request.actor, q.project_id);
    if (q.container_id) await deps.containers.get(request.actor, q.container_id);
    const types = new Set((q.types ?? 'transition,operation,client').split(','));
    const target = await streams();
    // counted from here until the stream ends, wherever it is held; ended when its token is deleted
    const session = deps.sessions.open(request.actor, 'stream');

    reply.hijack();
    const socket = request.raw.socket;
    opening.add(socket);
    try {
      const spec = { streamId: newId(), userId: request.actor.userId, containerId: q.container_id, projectId: q.project_id, transitions: types.has('transition'), operations: types.has('operation'), clients: types.has('client') };
      await target.open(socket, spec, since, { signal: session.signal, onGone: () => session.close() });
    } catch (err) {
      request.log.error(err);
      socket.destroy();
    } finally {
      opening.delete(socket);
    }
  });
}
