/**
 * Response serialization: Fastify's own serializer (fast-json-stringify, the version Fastify
 * ships with), with each route's serializer built on its first answer instead of at start-up:
 * building all of them took about 0.1 s of every start, for routes an idle daemon may never answer.
 */
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import type { FastifyServerOptions } from 'fastify';

type SerializerFactory = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildSerializer']>;

// the compiler Fastify uses by default, imported (not required at run time) so that the daemon's bundle holds it
const defaultFactory = SerializerSelector() as unknown as SerializerFactory;

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
