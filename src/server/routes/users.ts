/** /users: admin only. */
import type { FastifyInstance } from 'fastify';
import { CreateUserBody } from '../../api/schemas.ts';
import type { AppDeps } from '../app.ts';
import { ok, userWire } from '../wire.ts';

export async function userRoutes(api: FastifyInstance, { auth }: AppDeps): Promise<void> {
  api.get('/users', async (request) => ok('Users retrieved successfully', { users: (await auth.listUsers(request.actor)).map(userWire) }));
  api.post('/users', { schema: { body: CreateUserBody } }, async (request, reply) => {
    const user = await auth.createUser(request.actor, (request.body as { name: string }).name);
    return reply.status(201).send(ok('User created successfully', userWire(user), 201));
  });
}
