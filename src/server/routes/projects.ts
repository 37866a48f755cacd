/** /projects: the caller's own projects. */
import type { FastifyInstance } from 'fastify';
import { CreateProjectBody } from '../../api/schemas.ts';
import type { AppDeps } from '../app.ts';
import { ok, projectWire } from '../wire.ts';

export async function projectRoutes(api: FastifyInstance, { projects }: AppDeps): Promise<void> {
  api.get('/projects', async (request) => ok('Projects retrieved successfully', { projects: (await projects.list(request.actor)).map(projectWire) }));
  api.post('/projects', { schema: { body: CreateProjectBody } }, async (request, reply) => {
    const { name } = request.body as { name: string };
    const project = await projects.create(request.actor, name);
    return reply.status(201).send(ok('Project created successfully', projectWire(project), 201));
  });
}
