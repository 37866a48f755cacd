/** /containers: CRUD, the lifecycle operations and the status logs. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import {
  AsyncQuery,
  BulkBody,
  ContainerListQuery,
  ContainerPageQuery,
  CONTAINER_PAGE,
  CreateContainerBody,
  WaitQuery,
  type Container,
  type ContainerStatus,
  IdempotencyHeaders,
  IfMatchHeaders,
  Id,
  LifecycleBody,
  LIFECYCLE_OPERATIONS,
  StatusLogQuery,
  UpdateContainerBody,
  type LifecycleOperation,
} from '../../api/schemas.ts';
import {
  AUTHENTICATED_ERRORS,
  BODY_ERRORS,
  IDEMPOTENCY_ERRORS,
  ContainerCreatedEnvelope,
  ContainerDeletedEnvelope,
  ContainerEnvelope,
  ContainerListEnvelope,
  LifecycleEnvelope,
  OperationAcceptedEnvelope,
  BulkEnvelope,
  StatusLogPageEnvelope,
  errorResponses,
} from '../../api/responses.ts';
import type { ContainerRecord } from '../../store/store.ts';
import { principalMetadata, principalOf, type Actor } from '../../core/actor.ts';
import { nowIso } from '../../core/ids.ts';
import { waitForStatus } from '../../core/wait.ts';
import { HoodyError } from '../../core/errors.ts';
import { runBulk } from '../../core/bulk.ts';
import type { OperationRegistry } from '../../core/operation-registry.ts';

type Outcome = Parameters<OperationRegistry['settled']>[1];
import type { AppDeps } from '../app.ts';
import type { SnapshotReplicator } from './replicas.ts';
import { operateAnywhere } from '../forwarding.ts';
import { containerEtag, containerWire, ifMatchVersion, ok, statusLogWire } from '../wire.ts';
import { abortOnHangUp } from '../streaming.ts';
import { containerView, serversOf } from '../server-views.ts';

const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
const ProjectParams = Type.Object({ projectId: Id }, { additionalProperties: false });
const GetQuery = Type.Object({ runtime: Type.Optional(Type.Boolean()) }, { additionalProperties: false });

const tags = ['containers'];
/** What asking for a network or published ports can be refused with. */
const NETWORK_ERRORS = ['PORT_IN_USE', 'PORT_POOL_EXHAUSTED', 'ADDRESS_POOL_EXHAUSTED', 'NETWORK_DISABLED'] as const;

/** The routes' schemas: what they validate and serialize, and what the API document says of them. */
const SCHEMAS = {
  list: {
    tags,
    summary: 'List containers',
    description: 'The containers of the caller\'s projects, optionally filtered, oldest first, a page at a time (`page`, `limit`: 100 by default, at most 1000).',
    querystring: ContainerListQuery,
    response: { 200: ContainerListEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'INVALID_INPUT') },
  },
  listOfProject: {
    tags,
    summary: 'List the containers of a project',
    description: 'Oldest first, a page at a time (`page`, `limit`: 100 by default, at most 1000).',
    params: ProjectParams,
    querystring: ContainerPageQuery,
    response: { 200: ContainerListEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'INVALID_INPUT', 'NOT_FOUND') },
  },
  create: {
    tags,
    summary: 'Create a container',
    description:
      'Creates the container and answers 201 once it is `running` (or `stopped` with `autostart: false`); its log starts with `creating → stopped`. When its start fails it stays, `failed`, and the 500 `RUNTIME_ERROR` names it (`details.container_id`). With network `bridge` (the server\'s default when it has a bridge) it gets an address of the server\'s subnet, kept until it is deleted, and publishes `ports` (a free host port from 20000-32767 is chosen for each that names none).',
    body: CreateContainerBody,
    headers: IdempotencyHeaders,
    response: { 201: ContainerCreatedEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, ...IDEMPOTENCY_ERRORS, 'NOT_FOUND', 'NAME_TAKEN', 'QUOTA_EXCEEDED', 'RUNTIME_ERROR', ...NETWORK_ERRORS) },
  },
  get: {
    tags,
    summary: 'Get a container',
    description: 'With `runtime=true`, `runtime_info` says what really runs: processes, memory, CPU time, listening ports, the addresses its network namespace has and the ports it publishes.',
    params: IdParams,
    querystring: GetQuery,
    response: { 200: ContainerEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'INVALID_INPUT', 'NOT_FOUND') },
  },
  update: {
    tags,
    summary: 'Update a container',
    description: 'Only while it is `stopped` or `failed`. `ports` replaces every published port (a port it already publishes stays its own); `network: "none"` releases its address and ports, `network: "bridge"` gives it an address.',
    params: IdParams,
    body: UpdateContainerBody,
    headers: IfMatchHeaders,
    response: {
      200: ContainerEnvelope,
      ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, 'NOT_FOUND', 'INVALID_STATE', 'OPERATION_IN_PROGRESS', 'NAME_TAKEN', 'PRECONDITION_FAILED', 'QUOTA_EXCEEDED', 'WRONG_SERVER', ...NETWORK_ERRORS),
    },
  },
  remove: {
    tags,
    summary: 'Delete a container',
    description: 'Only while it is `stopped` or `failed`; its runtime state and files go, its status logs stay readable.',
    params: IdParams,
    response: {
      200: ContainerDeletedEnvelope,
      ...errorResponses(...AUTHENTICATED_ERRORS, 'FORBIDDEN', 'INVALID_INPUT', 'NOT_FOUND', 'INVALID_STATE', 'OPERATION_IN_PROGRESS', 'RUNTIME_ERROR', 'WRONG_SERVER'),
    },
  },
  wait: {
    tags,
    summary: 'Wait for a container to reach a status',
    description: 'Answers as soon as the container has the status (at once if it already has it), or 408 `WAIT_TIMEOUT` after `timeout` seconds, or 401 when its token is deleted meanwhile.',
    params: IdParams,
    querystring: WaitQuery,
    response: { 200: ContainerEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'INVALID_INPUT', 'NOT_FOUND', 'WAIT_TIMEOUT', 'TOO_MANY_REQUESTS') },
  },
  bulk: {
    tags,
    summary: 'Run one operation on many containers',
    description: 'On the given `ids`, or on every container matching `filter`, eight at a time. One failure does not stop the rest; each container has its result.',
    body: BulkBody,
    headers: IdempotencyHeaders,
    response: { 200: BulkEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, ...IDEMPOTENCY_ERRORS) },
  },
  statusLogs: {
    tags,
    summary: 'The status log of a container',
    description: 'Every status change, whatever caused it, newest first by default; readable after the container is deleted.',
    params: IdParams,
    querystring: StatusLogQuery,
    response: { 200: StatusLogPageEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'INVALID_INPUT', 'NOT_FOUND') },
  },
};

/** What each lifecycle operation does, for the API document. */
const OPERATION_DOCS: Record<LifecycleOperation, { summary: string; description: string }> = {
  start: { summary: 'Start a container', description: 'Creates and starts its runtime container; answers when it runs. Allowed while `stopped` or `failed`.' },
  stop: {
    summary: 'Stop a container',
    description: 'SIGTERM to its init, then after `timeout` seconds (default: its `stop_timeout`) SIGKILL to every process; answers when stopped. Allowed while `running` or `paused`; on a `stopped` container it changes nothing and answers `stopped` (no log row).',
  },
  'force-stop': { summary: 'Force-stop a container', description: 'SIGKILL to every process now. Allowed while `running` or `paused`; on a `stopped` container it changes nothing and answers `stopped` (no log row).' },
  restart: { summary: 'Restart a container', description: 'A graceful stop, then a start, in one call (two status-log entries). Allowed while `running` or `stopped`.' },
  pause: { summary: 'Pause a container', description: 'Freezes every process (cgroup freezer): no CPU, memory kept. Allowed while `running`.' },
  resume: { summary: 'Resume a container', description: 'Thaws its processes; they continue where they were. Allowed while `paused`.' },
};

const lifecycleSchema = (operation: LifecycleOperation) => ({
  tags,
  ...OPERATION_DOCS[operation],
  params: IdParams,
  body: LifecycleBody,
  headers: IdempotencyHeaders,
  querystring: AsyncQuery,
  response: {
    200: LifecycleEnvelope,
    202: OperationAcceptedEnvelope,
    ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, ...IDEMPOTENCY_ERRORS, 'NOT_FOUND', 'INVALID_TRANSITION', 'OPERATION_IN_PROGRESS', 'RUNTIME_ERROR', 'WRONG_SERVER'),
  },
});

/** The seed page's words for each finished operation. */
export const OPERATION_MESSAGES: Record<LifecycleOperation, string> = {
  start: 'Container started successfully',
  stop: 'Container stopped successfully',
  'force-stop': 'Container force-stopped successfully',
  restart: 'Container restarted successfully',
  pause: 'Container paused successfully',
  resume: 'Container resumed successfully',
};

export async function containerRoutes(api: FastifyInstance, deps: AppDeps & { replicator?: SnapshotReplicator }): Promise<void> {
  const { containers, store, server } = deps;

  const wire = async (cs: ContainerRecord[]) => {
    const serverOf = await serversOf(deps);
    return cs.map((c) => containerWire(c, serverOf(c)));
  };

  /** One page of a container list, with its pagination. */
  const listAnswer = async (actor: Actor, filter: { status?: ContainerStatus; project_id?: string; name?: string }, q: { page?: number; limit?: number }) => {
    const page = q.page ?? 1;
    const limit = q.limit ?? CONTAINER_PAGE.defaultLimit;
    const { containers: list, total } = await containers.listPage(actor, filter, { page, limit });
    return ok('Containers retrieved successfully', { containers: await wire(list), pagination: { total, page, limit, totalPages: Math.ceil(total / limit) } });
  };

  api.get('/containers', { schema: SCHEMAS.list }, async (request) => {
    const { page, limit, ...filter } = request.query as typeof ContainerListQuery.static;
    return listAnswer(request.actor, filter, { page, limit });
  });

  api.get('/projects/:projectId/containers', { schema: SCHEMAS.listOfProject }, async (request) => {
    const { projectId } = request.params as { projectId: string };
    await deps.projects.get(request.actor, projectId);
    return listAnswer(request.actor, { project_id: projectId }, request.query as typeof ContainerPageQuery.static);
  });

  api.post('/containers', { schema: SCHEMAS.create }, async (request, reply) => {
    // a pull the create waits for stops when its client hangs up (unless another request still wants it)
    const created = await containers.create(request.actor, request.body as typeof CreateContainerBody.static, { signal: abortOnHangUp(reply) });
    const [data] = await wire([created]);
    return reply.status(201).send(ok('Container created successfully', data, 201));
  });

  api.get('/containers/:id', { schema: SCHEMAS.get }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const c = await containers.get(request.actor, id);
    const observed = await containers.observedStatus(c);
    // one object, filled in place: the answer's field order is the schema's, whatever the order here
    const data: Container = await containerView(deps, c);
    data.observed_status = observed;
    // a container of an offline server is never said to be in sync: its status is only the last one known
    data.in_sync = data.server_status !== 'offline' && (observed === c.status || (c.status === 'failed' && observed !== 'running' && observed !== 'paused') || c.current_operation !== null);
    if ((request.query as { runtime?: boolean }).runtime && c.server_id === server.id) data.runtime_info = await containers.runtimeInfo(c);
    void reply.header('etag', containerEtag(c));
    return ok('Container retrieved successfully', data);
  });

  api.patch('/containers/:id', { schema: SCHEMAS.update }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const ifVersion = ifMatchVersion(request.headers['if-match']);
    const updated = await containers.update(request.actor, id, request.body as typeof UpdateContainerBody.static, { ifVersion });
    void reply.header('etag', containerEtag(updated));
    const [data] = await wire([updated]);
    return ok('Container updated successfully', data);
  });

  api.delete('/containers/:id', { schema: SCHEMAS.remove }, async (request) => {
    const { id } = request.params as { id: string };
    // its snapshots' replicas on other servers go with it (read before its rows are gone)
    const replicas = deps.replicator ? await deps.store.listSnapshotReplicas({ container_id: id }) : [];
    await containers.remove(request.actor, id);
    await deps.replicator?.dropAt(replicas, request.headers.authorization);
    return ok('Container deleted successfully', { container_id: id, deleted: true });
  });

  for (const operation of LIFECYCLE_OPERATIONS) {
    const options = {
      schema: lifecycleSchema(operation),
      // the body is optional: curl -X POST and fetch without a body send none
      preValidation: async (request: { body: unknown }) => {
        if (request.body === undefined) request.body = {};
      },
    };
    api.post(`/containers/:id/${operation}`, options, async (request, reply) => {
      const { id } = request.params as { id: string };
      const body = (request.body ?? {}) as typeof LifecycleBody.static;
      if ((request.query as { wait?: boolean }).wait === false) {
        const info = await startInBackground(request.actor, id, operation, body);
        return reply.status(202).send(ok('Operation accepted', { operation: info }, 202));
      }
      const c = await containers.operate(request.actor, id, operation, body);
      return ok(OPERATION_MESSAGES[operation], { operation, container_id: c.id, status: c.status });
    });
  }

  /** Claims the container now, answers the operation; it runs on and its outcome is kept. */
  async function startInBackground(actor: Actor, id: string, operation: LifecycleOperation, body: typeof LifecycleBody.static) {
    // the outcome may in principle arrive before the operation is registered: hold it until then
    const sink: { settle?: (o: Outcome) => void; early?: Outcome } = {};
    const { operationId, container } = await containers.operateInBackground(actor, id, operation, body, (o) => (sink.settle ? sink.settle(o) : (sink.early = o)));
    const tracked = deps.operations.started({
      id: operationId,
      container_id: id,
      project_id: container.project_id,
      operation,
      triggered_by: principalOf(actor).triggeredBy,
      ...principalMetadata(principalOf(actor)),
      started_at: nowIso(),
    });
    sink.settle = (o) => deps.operations.settled(operationId, o);
    if (sink.early) sink.settle(sink.early);
    const { project_id: _project, ...info } = deps.operations.get(operationId) ?? tracked;
    return info;
  }

  const waiting = new Set<() => void>();
  api.addHook('preClose', async () => {
    for (const stop of [...waiting]) stop();
  });

  api.get('/containers/:id/wait', { schema: SCHEMAS.wait }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const q = request.query as { status: ContainerStatus; timeout?: number };
    // a client that leaves, or the daemon closing, ends the wait
    const abort = new AbortController();
    const stop = (): void => abort.abort();
    // counted while it waits; ended when its token is deleted
    const session = deps.sessions.open(request.actor, 'wait');
    reply.raw.on('close', stop);
    waiting.add(stop);
    let c: ContainerRecord;
    try {
      c = await waitForStatus({ store, containers, events: deps.events }, request.actor, id, q.status, (q.timeout ?? 30) * 1000, AbortSignal.any([abort.signal, session.signal]));
    } catch (err) {
      if (session.signal.aborted) throw new HoodyError('UNAUTHORIZED', 'the token of this wait was deleted');
      throw err;
    } finally {
      session.close();
      reply.raw.off('close', stop);
      waiting.delete(stop);
    }
    if (session.signal.aborted) throw new HoodyError('UNAUTHORIZED', 'the token of this wait was deleted');
    const [data] = await wire([c]);
    return ok(`Container is ${q.status}`, data);
  });

  api.post('/containers/bulk', { schema: SCHEMAS.bulk }, async (request) => {
    const body = request.body as BulkBody;
    const operate = deps.cluster ? operateAnywhere({ cluster: deps.cluster, containers, prefix: api.prefix }, request.headers.authorization) : undefined;
    const results = await runBulk(containers, request.actor, body, operate ? { operate } : {});
    const succeeded = results.filter((r) => r.ok).length;
    return ok('Bulk operation finished', { operation: body.operation, results, summary: { total: results.length, succeeded, failed: results.length - succeeded } });
  });

  api.get('/containers/:id/status-logs', { schema: SCHEMAS.statusLogs }, async (request) => {
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
