/** /tokens: bearer tokens; the secret is answered once, at creation. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { CreateTokenBody, Id } from '../../api/schemas.ts';
import type { AppDeps } from '../app.ts';
import { ok, tokenWire } from '../wire.ts';
import { AUTHENTICATED_ERRORS, BODY_ERRORS, TokenCreatedEnvelope, TokenDeletedEnvelope, TokenListEnvelope, errorResponses } from '../../api/responses.ts';

const tags = ['tokens'];
const listSchema = {
  tags,
  summary: 'List tokens',
  description: 'An admin token sees every token, others their own user\'s; never the secrets.',
  response: { 200: TokenListEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS) },
};
const createSchema = {
  tags,
  summary: 'Create a token',
  description:
    'Answers the secret once, in `data.token` (with `Cache-Control: no-store`); only its hash is stored. A non-admin token may create tokens for its own user only. ' +
    'Names of system actors (`system`, `autostart`, `restart-policy`), `admin` and `user_…` are reserved (400 `RESERVED_NAME`). ' +
    'An automation token\'s name is recorded as `metadata.token` in the status log rows of what it does; `triggered_by` is its user\'s id.',
  body: CreateTokenBody,
  response: { 201: TokenCreatedEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, 'NOT_FOUND', 'RESERVED_NAME', 'QUOTA_EXCEEDED') },
};
const deleteSchema = {
  tags,
  summary: 'Delete a token',
  description: 'The token stops working at once: its open event streams end and its waits answer 401.',
  params: Type.Object({ id: Id }, { additionalProperties: false }),
  response: { 200: TokenDeletedEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'FORBIDDEN', 'INVALID_INPUT', 'NOT_FOUND') },
};

export async function tokenRoutes(api: FastifyInstance, { auth, sessions }: AppDeps): Promise<void> {
  api.get('/tokens', { schema: listSchema }, async (request) => ok('Tokens retrieved successfully', { tokens: (await auth.listTokens(request.actor)).map(tokenWire) }));
  // the answer carries the secret: it is never kept for Idempotency-Key replays
  api.post('/tokens', { schema: createSchema, config: { idempotency: false } }, async (request, reply) => {
    const { token, secret } = await auth.createToken(request.actor, request.body as typeof CreateTokenBody.static);
    // no cache or proxy on the way may keep the secret
    return reply.status(201).header('cache-control', 'no-store').send(ok('Token created successfully', { ...tokenWire(token), token: secret }, 201));
  });
  api.delete('/tokens/:id', { schema: deleteSchema }, async (request) => {
    const { id } = request.params as { id: string };
    await auth.deleteToken(request.actor, id);
    // its open event streams and waits end now, not when their clients leave
    sessions.revoke(id);
    return ok('Token deleted successfully', { token_id: id, deleted: true });
  });
}
