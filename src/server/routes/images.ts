/** /images: what this server can run. */
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../app.ts';
import { imageWire, ok } from '../wire.ts';
import { AUTHENTICATED_ERRORS, ImageListEnvelope, errorResponses } from '../../api/responses.ts';

const listSchema = {
  tags: ['images'],
  summary: 'List images',
  description: 'The images this server can run a container from (at least `busybox`).',
  response: { 200: ImageListEnvelope, ...errorResponses(...AUTHENTICATED_ERRORS) },
};

export async function imageRoutes(api: FastifyInstance, { images }: AppDeps): Promise<void> {
  api.get('/images', { schema: listSchema }, async () => ok('Images retrieved successfully', { images: (await images.list()).map(imageWire) }));
}
