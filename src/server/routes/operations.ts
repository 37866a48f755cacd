/** GET /operations/{id}: an operation started with `?wait=false`. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { Id, OperationInfo } from '../../api/schemas.ts';
import { AUTHENTICATED_ERRORS, envelope, errorResponses } from '../../api/responses.ts';
import { notFound } from '../../core/errors.ts';
import type { AppDeps } from '../app.ts';
import { ok } from '../wire.ts';

const schema = {
  tags: ['operations'],
  summary: 'An operation started in the background',
  description: 'Operations started with `?wait=false` since the daemon started (the newest 10,000).',
  params: Type.Object({ id: Id }, { additionalProperties: false }),
  response: { 200: envelope(OperationInfo), ...errorResponses(...AUTHENTICATED_ERRORS, 'INVALID_INPUT', 'NOT_FOUND') },
};

export async function operationRoutes(api: FastifyInstance, { operations, projects }: AppDeps): Promise<void> {
  api.get('/operations/:id', { schema }, async (request) => {
    const { id } = request.params as { id: string };
    const op = operations.get(id);
    if (!op || !(await projects.isOwner(request.actor, op.project_id))) throw notFound('operation', id);
    const { project_id: _project, ...info } = op;
    return ok('Operation retrieved successfully', info);
  });
}
