/**
 * Response serialization: Fastify's own serializer (fast-json-stringify, the version Fastify
 * ships with), with each route's serializer built on its first answer instead of at start-up:
 * building all of them took about 0.1 s of every start, for routes an idle daemon may never answer.
 */
import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

type SerializerFactory = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildSerializer']>;

// resolved from Fastify's own folder: the compiler it would use by default, whatever the install layout
const fastifyRequire = createRequire(import.meta.resolve('fastify'));
const defaultFactory = (fastifyRequire('@fastify/fast-json-stringify-compiler') as { SerializerSelector: () => SerializerFactory }).SerializerSelector();

/** Fastify's `schemaController.compilersFactory.buildSerializer`, building each route's serializer when first used (or at once when `eager`, for tests). */
export const serializerFactoryFor =
  (eager: boolean): SerializerFactory =>
  (externalSchemas, serializerOpts) => {
    const compile = defaultFactory(externalSchemas, serializerOpts);
    return (route) => {
      if (eager) return compile(route);
      let serialize: ((data: unknown) => string) | undefined;
      return (data) => (serialize ??= compile(route))(data);
    };
  };
