/**
 * Schemas are compiled on first use in the daemon; these tests compile every route's schemas at
 * once, so a bad schema fails here and not on a user's first request, and check the deferred
 * validator behaves as a compiled one for Fastify.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildApp, type AppDeps } from './app.ts';
import { validatorCompiler } from './validation.ts';

/** Deps that fail loudly if building the app used them: only the routes and their schemas are wanted. */
const routesOnly = (eagerSchemas: boolean): AppDeps =>
  new Proxy({} as AppDeps, {
    get: (_target, key) => {
      if (key === 'eagerSchemas') return eagerSchemas;
      if (key === 'bodyLimit' || key === 'logger' || key === 'requestTimeoutMs' || key === 'keepAliveTimeoutMs') return undefined;
      return new Proxy(
        {},
        {
          get: () => {
            throw new Error(`buildApp used deps.${String(key)} while only registering routes`);
          },
        },
      );
    },
  });

describe('route schemas', () => {
  it("compiles every route's validators and response serializers", async () => {
    const app = await buildApp(routesOnly(true));
    try {
      await app.ready();
      assert.ok(app.printRoutes().includes('containers'), 'the API routes were registered');
    } finally {
      await app.close();
    }
  });

  it('fails at start-up, when compiling eagerly, on a bad validation schema or a bad response schema', async () => {
    const bad = [
      { querystring: { type: 'object', properties: { a: { type: 'no-such-type' } } } },
      { response: { 200: { type: 'object', properties: { a: { $ref: '#/definitions/missing' } } } } },
    ];
    for (const schema of bad) {
      const app = await buildApp(routesOnly(true));
      app.get('/bad', { schema }, async () => ({ a: 1 }));
      await assert.rejects(
        async () => {
          await app.ready();
        },
        Error,
        JSON.stringify(schema),
      );
      await app.close().catch(() => undefined);
      // what this test guards against: the daemon's own start does not see it
      const lazy = await buildApp(routesOnly(false));
      lazy.get('/bad', { schema }, async () => ({ a: 1 }));
      await lazy.ready();
      await lazy.close();
    }
  });

  it('gives Fastify a deferred validator that takes the parent like a compiled one, so a root value can be replaced', () => {
    const validate = validatorCompiler({ schema: { type: 'array', items: { type: 'number' } }, method: 'GET', url: '/x', httpPart: 'querystring' }) as unknown as ((data: unknown, ctx?: object) => boolean) & { schemaEnv?: unknown };
    // Fastify passes the parent only to a validator that has a schemaEnv
    assert.ok(validate.schemaEnv, 'the validator has a schemaEnv');
    const request = { query: '5' as unknown };
    assert.equal(validate(request.query, { parentData: request, parentDataProperty: 'query' }), true);
    assert.deepEqual(request.query, [5], 'the coerced root value replaced the one in the request');
  });
});
