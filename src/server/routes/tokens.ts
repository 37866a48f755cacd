/** /tokens: bearer tokens; the secret is answered once, at creation. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { CreateTokenBody, Id } from '../../api/schemas.ts';
import type { AppDeps } from '../app.ts';
import { ok, tokenWire } from '../wire.ts';

export async function tokenRoutes(api: FastifyInstance, { auth }: AppDeps): Promise<void> {
  api.get('/tokens', async (request) => ok('Tokens retrieved successfully', { tokens: (await auth.listTokens(request.actor)).map(tokenWire) }));
  api.post('/tokens', { schema: { body: CreateTokenBody } }, async (request, reply) => {
    const { token, secret } = await auth.createToken(request.actor, request.body as typeof CreateTokenBody.static);
    return reply.status(201).send(ok('Token created successfully', { ...tokenWire(token), token: secret }, 201));
  });
  api.delete('/tokens/:id', { schema: { params: Type.Object({ id: Id }, { additionalProperties: false }) } }, async (request) => {
    const { id } = request.params as { id: string };
    await auth.deleteToken(request.actor, id);
    return ok('Token deleted successfully', { token_id: id, deleted: true });
  });
}
