/** /servers: the daemons sharing this database and their status. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { Id } from '../../api/schemas.ts';
import { notFound } from '../../core/errors.ts';
import type { AppDeps } from '../app.ts';
import { ok, serverWire } from '../wire.ts';
import { AUTHENTICATED_ERRORS, ServerEnvelope, ServerListEnvelope, errorResponses } from '../../api/responses.ts';

const tags = ['servers'];
const listSchema = {
  tags,
  summary: 'List servers',
  description: 'Every daemon sharing this database, with its status (`ready`, `maintenance`, `offline`).',
  response: { 200: ServerListEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS) },
};
const getSchema = {
  tags,
  summary: 'Get a server',
  params: Type.Object({ id: Id }, { additionalProperties: false }),
  response: { 200: ServerEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'INVALID_INPUT', 'NOT_FOUND') },
};

export async function serverRoutes(api: FastifyInstance, { store }: AppDeps): Promise<void> {
  api.get('/servers', { schema: listSchema }, async () => ok('Servers retrieved successfully', { servers: (await store.listServers()).map(serverWire) }));
  api.get('/servers/:id', { schema: getSchema }, async (request) => {
    const { id } = request.params as { id: string };
    const server = await store.getServer(id);
    if (!server) throw notFound('server', id);
    return ok('Server retrieved successfully', serverWire(server));
  });
}
