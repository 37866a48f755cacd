/** GET /metrics on the API's port: the Prometheus text format, for an admin token only. */
import type { FastifyInstance } from 'fastify';
import type { AuthService } from '../../core/auth-service.ts';
import { HoodyError } from '../../core/errors.ts';
import { errorResponses } from '../../api/responses.ts';
import type { Metrics } from '../metrics.ts';

const schema = {
  tags: ['meta'],
  summary: 'Prometheus metrics',
  description: 'The daemon\'s metrics in the Prometheus text format (see docs/operations.md). Needs an admin token; `HOODY_METRICS_LISTEN` serves them without one on a separate address.',
  security: [{ bearerAuth: [] }],
  response: {
    200: { description: 'The Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } },
    ...errorResponses('UNAUTHORIZED', 'FORBIDDEN', 'INTERNAL_ERROR', 'SERVICE_UNAVAILABLE'),
  },
};

export async function metricsRoute(app: FastifyInstance, auth: AuthService, metrics: Metrics): Promise<void> {
  app.get('/metrics', { schema }, async (request, reply) => {
    const actor = await auth.authenticate(request.headers.authorization);
    if (!actor.isAdmin) throw new HoodyError('FORBIDDEN', 'metrics need an admin token');
    const { contentType, body } = await metrics.scrape();
    return reply.type(contentType).send(body);
  });
}
