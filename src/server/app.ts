/**
 * The HTTP API: a Fastify app built from its dependencies, without listen(), so tests and the
 * daemon build it the same way. Every route validates with the TypeBox schemas of src/api.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifySchema } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Actor } from '../core/actor.ts';
import type { AuthService } from '../core/auth-service.ts';
import type { ContainerService, ServerIdentity } from '../core/container-service.ts';
import type { ProjectService } from '../core/project-service.ts';
import type { Store } from '../store/store.ts';
import type { ImageStore } from '../runtime/image-store.ts';
import type { RuntimeDriver } from '../runtime/driver.ts';
import { HoodyError } from '../core/errors.ts';
import { PACKAGE_VERSION } from '../version.ts';
import { errorBody, installErrorHandling } from './errors.ts';
import { registerOpenApi } from './openapi.ts';
import { HealthEnvelope, errorResponses } from '../api/responses.ts';
import { installIdempotency } from './idempotency.ts';
import { installForwarding, terminalForwarder, type Cluster } from './forwarding.ts';
import { ContainerMover, moveRoutes } from './routes/move.ts';
import { validatorCompilerFor } from './validation.ts';
import { declaredQuery, loggedUrl } from './logged-url.ts';
import { serializerFactoryFor } from './serialization.ts';
import { containerRoutes } from './routes/containers.ts';
import { projectRoutes } from './routes/projects.ts';
import { serverRoutes } from './routes/servers.ts';
import { imageRoutes } from './routes/images.ts';
import { userRoutes } from './routes/users.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { eventRoutes } from './routes/events.ts';
import { operationRoutes } from './routes/operations.ts';
import { proxyRoutes, tlsAskRoute } from './routes/proxy.ts';
import { logRoutes } from './routes/logs.ts';
import { execRoutes } from './routes/exec.ts';
import { snapshotRoutes } from './routes/snapshots.ts';
import { replicaRoutes, SnapshotReplicator } from './routes/replicas.ts';
import type { SnapshotService } from '../core/snapshot-service.ts';
import type { ContainerExec } from '../core/container-exec.ts';
import type { TerminalSessions } from '../core/terminals.ts';
import { serveTerminals, terminalPageRoutes } from './terminal.ts';
import { dashboardRoutes } from './dashboard.ts';
import type { ContainerLogs } from '../core/container-logs.ts';
import type { ProxyAliasService } from '../core/proxy-alias-service.ts';
import type { ProxyAccess } from '../proxy/access.ts';
import type { EventHub } from '../core/event-hub.ts';
import type { EventStreams } from './sse/event-streams.ts';
import type { OperationRegistry } from '../core/operation-registry.ts';
import type { TokenSessions } from '../core/token-sessions.ts';
import type { Metrics } from './metrics.ts';
import { metricsRoute } from './routes/metrics.ts';
import { REQUEST_ID_HEADER, requestIdOf } from './request-id.ts';
import { lazyChildLogger } from './lazy-child-logger.ts';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor;
  }
}

export interface AppDeps {
  store: Store;
  auth: AuthService;
  containers: ContainerService;
  projects: ProjectService;
  images: ImageStore;
  driver: RuntimeDriver;
  server: ServerIdentity;
  events: EventHub;
  operations: OperationRegistry;
  aliases: ProxyAliasService;
  logs: ContainerLogs;
  exec: ContainerExec;
  /** The servers sharing the database, and requests sent on to their daemons; a lone server without it. */
  cluster?: Cluster;
  /** Snapshots, restores and copies of containers; their routes are absent without it. */
  snapshots?: SnapshotService;
  /** Interactive sessions (WebSocket on /api/v1/containers/{id}/terminal) and the terminal page; none without it. */
  terminals?: TerminalSessions;
  /** Signs open links of private service URLs; no open links without it (no router). */
  access?: ProxyAccess;
  /** Whether the router serves a host now (GET /api/v1/proxy/tls-ask); every host is refused without it. */
  servesHost?: (host: string) => boolean;
  /** Open event streams and waits: per-user caps, ended when their token is deleted. */
  sessions: TokenSessions;
  /** Who writes event streams; without it, a fan-out in this process is made on first use. */
  streams?: EventStreams;
  /** Interval of the event stream's heartbeat comments. */
  heartbeatMs?: number;
  /** Largest accepted request body, in bytes. */
  bodyLimit?: number;
  /** A request whose headers and body have not all arrived after this long is answered 408 and closed (none without it). */
  requestTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs?: number;
  /** Where the app logs (with each request's id); silent without it. */
  logger?: FastifyBaseLogger;
  /** Counts requests and serves GET /metrics (admin token) when given. */
  metrics?: Metrics;
  /** Compile every route's validators and response serializers while the app starts, not on first use (tests: a bad schema fails there). */
  eagerSchemas?: boolean;
}

export type App = FastifyInstance & { withTypeProvider(): FastifyInstance };
export const API_PREFIX = '/api/v1';

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger, childLoggerFactory: lazyChildLogger } : { logger: false }),
    // a line per request would cost throughput at thousands per second: 5xx are logged, the rest at debug
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: requestIdOf,
    bodyLimit: deps.bodyLimit ?? 1024 * 1024,
    ...receiveTimeouts(deps),
    // the router's own refusals (an overlong or badly encoded path) answer in the envelope too
    frameworkErrors: (err, _request, reply) => {
      const body = errorBody('INVALID_INPUT', err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path parameter is too long' : 'the request URL is not valid');
      void (reply as unknown as FastifyReply).status(body.statusCode).send(body);
    },
    // closing is answered by the hook below, in the error envelope
    return503OnClosing: false,
    // on close, idle keep-alive connections go at once; requests in flight are answered first
    forceCloseConnections: 'idle',
    // each route's response serializer is built on its first answer, not at start-up
    schemaController: { compilersFactory: { buildSerializer: serializerFactoryFor(deps.eagerSchemas === true) } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  installErrorHandling(app);
  app.setValidatorCompiler(validatorCompilerFor(deps.eagerSchemas === true));
  // an API route that takes no query parameters refuses unknown ones instead of ignoring them
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith(API_PREFIX) || route.schema?.querystring) return;
    route.schema = { ...route.schema, querystring: { type: 'object', properties: {}, additionalProperties: false } };
  });
  app.decorateRequest('actor', null as unknown as Actor);
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // callback hooks, not async ones, on every request: no promise each
  app.addHook('onRequest', (_request, _reply, done) => {
    done(closing ? new HoodyError('SERVICE_UNAVAILABLE', 'the daemon is shutting down; try again shortly') : undefined);
  });
  // while closing, each answer ends its keep-alive connection, so close() need not wait for idle timeouts
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  const metrics = deps.metrics;
  const debug = deps.logger?.level === 'debug' || deps.logger?.level === 'trace';
  if (metrics || debug) {
    // a callback hook, not an async one: no promise per request
    app.addHook('onResponse', (request, reply, done) => {
      metrics?.requestAnswered(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
      if (debug) request.log.debug({ method: request.method, url: loggedUrl(request.url, declaredQuery(request.routeOptions.schema)), statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100 }, 'request completed');
      done();
    });
  }

  // before the routes: the document is collected as they are added
  await registerOpenApi(app, { prefix: API_PREFIX });

  await app.register(
    async (api) => {
      api.addHook('onRequest', (request, _reply, done) => {
        const admit = (actor: Actor): void => {
          request.actor = actor;
          done(actor.readOnly && request.method !== 'GET' && request.method !== 'HEAD' ? new HoodyError('FORBIDDEN', 'this token is read-only') : undefined);
        };
        // a token that authenticated a moment ago is answered without a promise
        const known = deps.auth.rememberedActor(request.headers.authorization);
        if (known) admit(known);
        else deps.auth.authenticate(request.headers.authorization).then(admit, done);
      });
      // before idempotency: a request sent on claims its key on the daemon that carries it out
      if (deps.cluster) installForwarding(api, { cluster: deps.cluster, containers: deps.containers, prefix: API_PREFIX });
      installIdempotency(api, deps.store, deps.server);
      const replicator = deps.cluster && deps.snapshots ? new SnapshotReplicator({ ...deps, cluster: deps.cluster, snapshots: deps.snapshots }, API_PREFIX) : undefined;
      await containerRoutes(api, { ...deps, ...(replicator ? { replicator } : {}) });
      await projectRoutes(api, deps);
      await serverRoutes(api, deps);
      await imageRoutes(api, deps);
      await userRoutes(api, deps);
      await tokenRoutes(api, deps);
      await eventRoutes(api, deps);
      await operationRoutes(api, deps);
      await proxyRoutes(api, deps);
      await logRoutes(api, deps);
      await execRoutes(api, deps);
      const mover = deps.cluster ? new ContainerMover({ ...deps, cluster: deps.cluster, ...(replicator ? { replicator } : {}) }, API_PREFIX) : undefined;
      if (deps.snapshots) await snapshotRoutes(api, { ...deps, snapshots: deps.snapshots, ...(mover ? { mover } : {}), ...(replicator ? { replicator } : {}) });
      if (deps.cluster && mover) await moveRoutes(api, { ...deps, cluster: deps.cluster }, mover);
      if (deps.cluster && deps.snapshots && replicator) await replicaRoutes(api, { ...deps, cluster: deps.cluster, snapshots: deps.snapshots }, replicator);
    },
    { prefix: API_PREFIX },
  );

  const healthSchema: FastifySchema = { tags: ['meta'], summary: 'Liveness', security: [], response: { 200: HealthEnvelope, ...errorResponses('SERVICE_UNAVAILABLE') } };
  // a fixed small answer: JSON.stringify, so that the first /healthz does not wait for a serializer to be built
  app.get('/healthz', { schema: healthSchema, serializerCompiler: () => (data) => JSON.stringify(data) }, async () => ({ statusCode: 200, message: 'ok', data: { server: deps.server.name, version: PACKAGE_VERSION } }));
  await tlsAskRoute(app, deps.servesHost ?? (() => false));
  if (deps.terminals) {
    serveTerminals(app, {
      auth: deps.auth,
      terminals: deps.terminals,
      ...(deps.cluster ? { forward: terminalForwarder(deps.cluster, deps.containers) } : {}),
      warn: (message, err) => deps.logger?.warn({ err }, message),
    });
    await terminalPageRoutes(app);
  }
  await dashboardRoutes(app);
  if (metrics) await metricsRoute(app, deps.auth, metrics);
  return app;
}

/**
 * Bounds on receiving a request, so a client cannot hold a connection by trickling its headers or
 * body. Only receiving: once a request is in, its answer may take as long as the operation (a stop
 * waits out its timeout, /wait and /events stay open), so there is no idle limit on the socket.
 */
function receiveTimeouts(deps: AppDeps) {
  const requestTimeout = deps.requestTimeoutMs;
  if (requestTimeout === undefined) return { keepAliveTimeout: deps.keepAliveTimeoutMs };
  return {
    requestTimeout,
    keepAliveTimeout: deps.keepAliveTimeoutMs,
    // Node checks these deadlines on an interval (30 s by default): check often enough to keep them
    http: { headersTimeout: Math.min(60_000, requestTimeout), connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(requestTimeout / 4))) },
  };
}
