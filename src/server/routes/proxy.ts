/** /proxy/aliases and /containers/{id}/services: the names the router serves. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { CreateProxyAliasBody, Id, IdempotencyHeaders, ProxyAliasListQuery } from '../../api/schemas.ts';
import {
  AUTHENTICATED_ERRORS,
  BODY_ERRORS,
  IDEMPOTENCY_ERRORS,
  ProxyAliasCreatedEnvelope,
  ProxyAliasDeletedEnvelope,
  ProxyAliasEnvelope,
  ProxyAliasListEnvelope,
  ServiceListEnvelope,
  errorResponses,
} from '../../api/responses.ts';
import type { AppDeps } from '../app.ts';
import { HoodyError } from '../../core/errors.ts';
import { ok, proxyAliasWire } from '../wire.ts';

const tags = ['proxy'];
const IdParams = Type.Object({ id: Id }, { additionalProperties: false });

const SCHEMAS = {
  services: {
    tags: ['containers'],
    summary: 'A container\'s service URLs',
    description:
      'Its programs with their URLs through the router (`{project}-{container}-{program}-{index}.{server}.{domain}`), whether each port listens now, and for private ones an `open_url` that opens it in a browser for the caller.',
    params: IdParams,
    response: { 200: ServiceListEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'INVALID_INPUT', 'NOT_FOUND') },
  },
  create: {
    tags,
    summary: 'Create a proxy alias',
    description:
      '`{alias}.{domain}` is served by one program instance of the container from the moment this answers, and follows its status like its own URLs (503 while it is not running). Aliases are unique; the container of an alias never changes: to point a name elsewhere, delete it and create it again.',
    body: CreateProxyAliasBody,
    headers: IdempotencyHeaders,
    response: { 201: ProxyAliasCreatedEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, ...IDEMPOTENCY_ERRORS, 'NOT_FOUND', 'ALIAS_TAKEN') },
  },
  list: {
    tags,
    summary: 'List proxy aliases',
    description: 'The aliases of the caller\'s containers, oldest first; `container_id` narrows them to one container.',
    querystring: ProxyAliasListQuery,
    response: { 200: ProxyAliasListEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'INVALID_INPUT', 'NOT_FOUND') },
  },
  get: {
    tags,
    summary: 'Get a proxy alias',
    params: IdParams,
    response: { 200: ProxyAliasEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'INVALID_INPUT', 'NOT_FOUND') },
  },
  remove: {
    tags,
    summary: 'Delete a proxy alias',
    description: 'Its name answers 404 from the moment this answers.',
    params: IdParams,
    response: { 200: ProxyAliasDeletedEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'FORBIDDEN', 'INVALID_INPUT', 'NOT_FOUND') },
  },
};

export async function proxyRoutes(api: FastifyInstance, deps: AppDeps): Promise<void> {
  const { containers, aliases } = deps;

  api.get('/containers/:id/services', { schema: SCHEMAS.services }, async (request) => {
    const { id } = request.params as { id: string };
    const c = await containers.get(request.actor, id);
    const actor = request.actor;
    const services = (await containers.services(c)).map((s) => ({
      ...s,
      open_url: s.url && !s.public && deps.access ? `${new URL('/__hoody/open', s.url).href}?ticket=${deps.access.ticket(s.host, { user: actor.userId, token: actor.tokenId })}` : null,
    }));
    return ok('Services retrieved successfully', { services });
  });

  api.post('/proxy/aliases', { schema: SCHEMAS.create }, async (request, reply) => {
    const alias = await aliases.create(request.actor, request.body as typeof CreateProxyAliasBody.static);
    return reply.status(201).send(ok('Proxy alias created successfully', proxyAliasWire(alias, containers.serviceUrls), 201));
  });

  api.get('/proxy/aliases', { schema: SCHEMAS.list }, async (request) => {
    const list = await aliases.list(request.actor, request.query as typeof ProxyAliasListQuery.static);
    return ok('Proxy aliases retrieved successfully', { aliases: list.map((a) => proxyAliasWire(a, containers.serviceUrls)) });
  });

  api.get('/proxy/aliases/:id', { schema: SCHEMAS.get }, async (request) => {
    const { id } = request.params as { id: string };
    return ok('Proxy alias retrieved successfully', proxyAliasWire(await aliases.get(request.actor, id), containers.serviceUrls));
  });

  api.delete('/proxy/aliases/:id', { schema: SCHEMAS.remove }, async (request) => {
    const { id } = request.params as { id: string };
    await aliases.remove(request.actor, id);
    return ok('Proxy alias deleted successfully', { alias_id: id, deleted: true as const });
  });
}

/** GET /api/v1/proxy/tls-ask?domain=: 200 for a host the router serves, 404 otherwise (a TLS terminator's on-demand `ask`); needs no token. */
export async function tlsAskRoute(app: FastifyInstance, servesHost: (host: string) => boolean): Promise<void> {
  app.get(
    '/api/v1/proxy/tls-ask',
    {
      schema: {
        tags,
        summary: 'Whether the router serves a host (for on-demand TLS)',
        description: 'For a TLS terminator in front of the router (Caddy\'s `on_demand_tls { ask … }`): 200 when `domain` is a service host or an alias this server routes now, 404 otherwise. Needs no token.',
        security: [],
        querystring: Type.Object({ domain: Type.String({ minLength: 1, maxLength: 253 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ statusCode: Type.Literal(200), message: Type.String(), data: Type.Object({ domain: Type.String() }) }), ...errorResponses('INVALID_INPUT', 'NOT_FOUND') },
      },
    },
    async (request) => {
      const { domain } = request.query as { domain: string };
      const host = domain.toLowerCase().replace(/\.$/, '');
      if (!servesHost(host)) throw new HoodyError('NOT_FOUND', `no service is served at ${host}`);
      return { statusCode: 200 as const, message: 'Served here', data: { domain: host } };
    },
  );
}
