/** /containers: CRUD, the lifecycle operations and the status logs. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import {
  ContainerListQuery,
  CreateContainerBody,
  Id,
  LifecycleBody,
  LIFECYCLE_OPERATIONS,
  StatusLogQuery,
  UpdateContainerBody,
  type LifecycleOperation,
} from '../../api/schemas.ts';
import type { ContainerRecord } from '../../store/store.ts';
import type { AppDeps } from '../app.ts';
import { containerWire, ok, statusLogWire } from '../wire.ts';

const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
const ProjectParams = Type.Object({ projectId: Id }, { additionalProperties: false });
const GetQuery = Type.Object({ runtime: Type.Optional(Type.Boolean()) }, { additionalProperties: false });

/** The seed page's words for each finished operation. */
export const OPERATION_MESSAGES: Record<LifecycleOperation, string> = {
  start: 'Container started successfully',
  stop: 'Container stopped successfully',
  'force-stop': 'Container force-stopped successfully',
  restart: 'Container restarted successfully',
  pause: 'Container paused successfully',
  resume: 'Container resumed successfully',
};

export async function containerRoutes(api: FastifyInstance, deps: AppDeps): Promise<void> {
  const { containers, store, server } = deps;

  /** Server names by id, read once per request that lists containers. */
  const serverNames = async (): Promise<Map<string, string>> => new Map((await store.listServers()).map((s) => [s.id, s.name]));
  const wire = async (cs: ContainerRecord[]) => {
    const names = cs.every((c) => c.server_id === server.id) ? new Map([[server.id, server.name]]) : await serverNames();
    return cs.map((c) => containerWire(c, names.get(c.server_id) ?? 'unknown'));
  };

  api.get('/containers', { schema: { querystring: ContainerListQuery } }, async (request) => {
    const q = request.query as typeof ContainerListQuery.static;
    const list = await containers.list(request.actor, q);
    return ok('Containers retrieved successfully', { containers: await wire(list) });
  });

  api.get('/projects/:projectId/containers', { schema: { params: ProjectParams } }, async (request) => {
    const { projectId } = request.params as { projectId: string };
    await deps.projects.get(request.actor, projectId);
    const list = await containers.list(request.actor, { project_id: projectId });
    return ok('Containers retrieved successfully', { containers: await wire(list) });
  });

  api.post('/containers', { schema: { body: CreateContainerBody } }, async (request, reply) => {
    const created = await containers.create(request.actor, request.body as typeof CreateContainerBody.static);
    const [data] = await wire([created]);
    return reply.status(201).send(ok('Container created successfully', data, 201));
  });

  api.get('/containers/:id', { schema: { params: IdParams, querystring: GetQuery } }, async (request) => {
    const { id } = request.params as { id: string };
    const c = await containers.get(request.actor, id);
    const [data] = await wire([c]);
    const runtime = (request.query as { runtime?: boolean }).runtime;
    return ok('Container retrieved successfully', runtime ? { ...data, runtime_info: await containers.runtimeInfo(c) } : data);
  });

  api.patch('/containers/:id', { schema: { params: IdParams, body: UpdateContainerBody } }, async (request) => {
    const { id } = request.params as { id: string };
    const updated = await containers.update(request.actor, id, request.body as typeof UpdateContainerBody.static);
    const [data] = await wire([updated]);
    return ok('Container updated successfully', data);
  });

  api.delete('/containers/:id', { schema: { params: IdParams } }, async (request) => {
    const { id } = request.params as { id: string };
    await containers.remove(request.actor, id);
    return ok('Container deleted successfully', { container_id: id, deleted: true });
  });

  for (const operation of LIFECYCLE_OPERATIONS) {
    const options = {
      schema: { params: IdParams, body: LifecycleBody },
      // the body is optional: curl -X POST and fetch without a body send none
      preValidation: async (request: { body: unknown }) => {
        request.body ??= {};
      },
    };
    api.post(`/containers/:id/${operation}`, options, async (request) => {
      const { id } = request.params as { id: string };
      const body = (request.body ?? {}) as typeof LifecycleBody.static;
      const c = await containers.operate(request.actor, id, operation, body);
      return ok(OPERATION_MESSAGES[operation], { operation, container_id: c.id, status: c.status });
    });
  }

  api.get('/containers/:id/status-logs', { schema: { params: IdParams, querystring: StatusLogQuery } }, async (request) => {
    const { id } = request.params as { id: string };
    const q = request.query as typeof StatusLogQuery.static;
    const page = q.page ?? 1;
    const limit = q.limit ?? 10;
    const { logs, total } = await containers.statusLogs(request.actor, id, { page, limit, sort_order: q.sort_order ?? 'desc' });
    return ok('Status logs retrieved successfully', {
      logs: logs.map(statusLogWire),
      pagination: { total, page, limit, totalPages: Math.ceil(total / limit) },
    });
  });
}
