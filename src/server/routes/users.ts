/** /users: admin only. */
import type { FastifyInstance } from 'fastify';
import { IdempotencyHeaders, CreateUserBody } from '../../api/schemas.ts';
import type { AppDeps } from '../app.ts';
import { ok, userWire } from '../wire.ts';
import { AUTHENTICATED_ERRORS, BODY_ERRORS, IDEMPOTENCY_ERRORS, UserCreatedEnvelope, UserListEnvelope, errorResponses } from '../../api/responses.ts';

const tags = ['users'];
const listSchema = { tags, summary: 'List users', description: 'Admin tokens only.', response: { 200: UserListEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, 'FORBIDDEN') } };
const createSchema = {
  tags,
  summary: 'Create a user',
  description: 'Admin tokens only. Names of system actors (`system`, `autostart`, `restart-policy`), `admin` and `user_…` are reserved (400 `RESERVED_NAME`).',
  body: CreateUserBody,
  headers: IdempotencyHeaders,
  response: { 201: UserCreatedEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, ...IDEMPOTENCY_ERRORS, 'RESERVED_NAME') },
};

export async function userRoutes(api: FastifyInstance, { auth }: AppDeps): Promise<void> {
  api.get('/users', { schema: listSchema }, async (request) => ok('Users retrieved successfully', { users: (await auth.listUsers(request.actor)).map(userWire) }));
  api.post('/users', { schema: createSchema }, async (request, reply) => {
    const user = await auth.createUser(request.actor, (request.body as { name: string }).name);
    return reply.status(201).send(ok('User created successfully', userWire(user), 201));
  });
}
