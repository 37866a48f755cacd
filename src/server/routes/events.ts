/**
 * GET /events: Server-Sent Events of every transition (with the status log row's cursor as the
 * event id, so a client that reconnects with Last-Event-ID or ?since= gets exactly what it
 * missed, across daemon restarts) and every operation outcome the caller may see.
 */
import type { FastifyInstance } from 'fastify';
import { EventsQuery } from '../../api/schemas.ts';
import { AUTHENTICATED_ERRORS, errorResponses } from '../../api/responses.ts';
import type { HubEvent } from '../../core/event-hub.ts';
import { invalidInput } from '../../core/errors.ts';
import type { AppDeps } from '../app.ts';
import { statusLogWire } from '../wire.ts';

const schema = {
  tags: ['events'],
  summary: 'Follow transitions and operations (Server-Sent Events)',
  description:
    'A `text/event-stream`. `transition` events carry the status log row and its cursor as the SSE `id`; reconnect with `Last-Event-ID` (or `?since=`) to receive exactly the missed ones. `operation` events (accepted, succeeded, failed) are live only. A comment line is sent as a heartbeat.',
  querystring: EventsQuery,
  response: errorResponses(...AUTHENTICATED_ERRORS, 'INVALID_INPUT'),
};

export async function eventRoutes(api: FastifyInstance, deps: AppDeps): Promise<void> {
  const open = new Set<() => void>();
  // an event stream never ends by itself: end them all when the daemon closes
  api.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });

  api.get('/events', { schema }, async (request, reply) => {
    const q = request.query as { container_id?: string; project_id?: string; types?: string; since?: number };
    const lastEventId = request.headers['last-event-id'];
    let since = q.since;
    if (typeof lastEventId === 'string' && lastEventId !== '') {
      if (!/^\d+$/.test(lastEventId)) throw invalidInput('Last-Event-ID must be a cursor (a whole number)');
      since = Number(lastEventId);
    }
    if (q.project_id) await deps.projects.get(request.actor, q.project_id);
    if (q.container_id) await deps.containers.get(request.actor, q.container_id);
    const types = new Set((q.types ?? 'transition,operation').split(','));
    const actor = request.actor;

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(': connected\n\n');

    // events are checked for tenancy in order, one after the other
    const queue: HubEvent[] = [];
    let draining = false;
    let closed = false;
    const visible = async (projectId: string | undefined, containerId: string): Promise<boolean> => {
      if (q.container_id && containerId !== q.container_id) return false;
      if (q.project_id && projectId !== q.project_id) return false;
      const project = projectId ?? (await deps.store.getContainer(containerId))?.project_id;
      return project !== undefined && (await deps.projects.isOwner(actor, project));
    };
    const drain = async (): Promise<void> => {
      if (draining) return;
      draining = true;
      try {
        while (queue.length > 0 && !closed) {
          const e = queue.shift() as HubEvent;
          if (e.type === 'transition') {
            const projectId = typeof e.row.metadata.project_id === 'string' ? e.row.metadata.project_id : undefined;
            if (!types.has('transition') || !(await visible(projectId, e.row.container_id))) continue;
            const data = { type: 'transition', cursor: e.row.seq, container_id: e.row.container_id, log: statusLogWire(e.row) };
            res.write(`id: ${e.row.seq}\nevent: transition\ndata: ${JSON.stringify(data)}\n\n`);
          } else {
            if (!types.has('operation') || !(await visible(e.event.project_id, e.event.container_id))) continue;
            const { project_id: _project, ...event } = e.event;
            res.write(`event: operation\ndata: ${JSON.stringify({ type: 'operation', ...event })}\n\n`);
          }
        }
      } finally {
        draining = false;
      }
    };

    // listen for the client leaving before the catch-up, which may take a while on a long log
    const live: { subscription?: { close(): void }; heartbeat?: NodeJS.Timeout } = {};
    const end = (): void => {
      if (closed) return;
      closed = true;
      clearInterval(live.heartbeat);
      live.subscription?.close();
      open.delete(end);
      res.end();
    };
    open.add(end);
    request.raw.on('close', end);
    res.on('close', end);
    // the stream's starting cursor, so a client that drops before any event can still resume
    const start = since ?? deps.events.position;
    res.write(`id: ${start}\n\n`);
    live.subscription = await deps.events.subscribe(start, (e: HubEvent) => {
      queue.push(e);
      void drain();
    });
    if (closed) {
      live.subscription.close();
      return;
    }
    live.heartbeat = setInterval(() => res.write(': heartbeat\n\n'), deps.heartbeatMs ?? 15_000);
  });
}
