/**
 * The HTTP API: a Fastify app built from its dependencies, without listen(), so tests and the
 * daemon build it the same way. Every route validates with the TypeBox schemas of src/api.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Actor } from '../core/actor.ts';
import type { AuthService } from '../core/auth-service.ts';
import type { ContainerService, ServerIdentity } from '../core/container-service.ts';
import type { ProjectService } from '../core/project-service.ts';
import type { Store } from '../store/store.ts';
import type { ImageStore } from '../runtime/image-store.ts';
import type { RuntimeDriver } from '../runtime/driver.ts';
import { HoodyError } from '../core/errors.ts';
import { installErrorHandling } from './errors.ts';
import { containerRoutes } from './routes/containers.ts';
import { projectRoutes } from './routes/projects.ts';
import { serverRoutes } from './routes/servers.ts';
import { imageRoutes } from './routes/images.ts';
import { userRoutes } from './routes/users.ts';
import { tokenRoutes } from './routes/tokens.ts';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor;
  }
}

export interface AppDeps {
  store: Store;
  auth: AuthService;
  containers: ContainerService;
  projects: ProjectService;
  images: ImageStore;
  driver: RuntimeDriver;
  server: ServerIdentity;
  /** Largest accepted request body, in bytes. */
  bodyLimit?: number;
  logger?: boolean;
}

export type App = FastifyInstance & { withTypeProvider(): FastifyInstance };
export const API_PREFIX = '/api/v1';

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: deps.bodyLimit ?? 1024 * 1024,
    // unknown fields are errors, not silently dropped; query strings are coerced to their types
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: true } },
    // closing is answered by the hook below, in the error envelope
    return503OnClosing: false,
    forceCloseConnections: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  installErrorHandling(app);
  app.decorateRequest('actor', null as unknown as Actor);
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async () => {
    if (closing) throw new HoodyError('SERVICE_UNAVAILABLE', 'the daemon is shutting down; try again shortly');
  });

  await app.register(
    async (api) => {
      api.addHook('onRequest', async (request) => {
        request.actor = await deps.auth.authenticate(request.headers.authorization);
        if (request.actor.readOnly && request.method !== 'GET' && request.method !== 'HEAD') {
          throw new HoodyError('FORBIDDEN', 'this token is read-only');
        }
      });
      await containerRoutes(api, deps);
      await projectRoutes(api, deps);
      await serverRoutes(api, deps);
      await imageRoutes(api, deps);
      await userRoutes(api, deps);
      await tokenRoutes(api, deps);
    },
    { prefix: API_PREFIX },
  );

  app.get('/healthz', async () => ({ statusCode: 200, message: 'ok', data: { server: deps.server.name } }));
  return app;
}
