/** /images: what this server can run. */
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../app.ts';
import { imageWire, ok } from '../wire.ts';

export async function imageRoutes(api: FastifyInstance, { images }: AppDeps): Promise<void> {
  api.get('/images', async () => ok('Images retrieved successfully', { images: (await images.list()).map(imageWire) }));
}
