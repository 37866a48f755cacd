/** /projects: the caller's own projects. */
import type { FastifyInstance } from 'fastify';
import { IdempotencyHeaders, CreateProjectBody } from '../../api/schemas.ts';
import type { AppDeps } from '../app.ts';
import { ok, projectWire } from '../wire.ts';
import { AUTHENTICATED_ERRORS, BODY_ERRORS, IDEMPOTENCY_ERRORS, ProjectCreatedEnvelope, ProjectListEnvelope, errorResponses } from '../../api/responses.ts';

const tags = ['projects'];
const listSchema = { tags, summary: 'List projects', description: 'The projects of the token\'s user.', response: { 200: ProjectListEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS) } };
const createSchema = {
  tags,
  summary: 'Create a project',
  body: CreateProjectBody,
  headers: IdempotencyHeaders,
  response: { 201: ProjectCreatedEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, ...IDEMPOTENCY_ERRORS, 'QUOTA_EXCEEDED') },
};

export async function projectRoutes(api: FastifyInstance, { projects }: AppDeps): Promise<void> {
  api.get('/projects', { schema: listSchema }, async (request) => ok('Projects retrieved successfully', { projects: (await projects.list(request.actor)).map(projectWire) }));
  api.post('/projects', { schema: createSchema }, async (request, reply) => {
    const { name } = request.body as { name: string };
    const project = await projects.create(request.actor, name);
    return reply.status(201).send(ok('Project created successfully', projectWire(project), 201));
  });
}
