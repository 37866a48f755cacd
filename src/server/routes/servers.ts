/** /servers: the daemons sharing this database and their status. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { Id } from '../../api/schemas.ts';
import { notFound } from '../../core/errors.ts';
import type { AppDeps } from '../app.ts';
import { ok, serverWire } from '../wire.ts';

export async function serverRoutes(api: FastifyInstance, { store }: AppDeps): Promise<void> {
  api.get('/servers', async () => ok('Servers retrieved successfully', { servers: (await store.listServers()).map(serverWire) }));
  api.get('/servers/:id', { schema: { params: Type.Object({ id: Id }, { additionalProperties: false }) } }, async (request) => {
    const { id } = request.params as { id: string };
    const server = await store.getServer(id);
    if (!server) throw notFound('server', id);
    return ok('Server retrieved successfully', serverWire(server));
  });
}
