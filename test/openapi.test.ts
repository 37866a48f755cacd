/**
 * The OpenAPI document: served by the real daemon without a token, and describing every route
 * the app really has (read from Fastify's router, not from the document's own generator), with
 * its parameters, body and answers, and the auth the daemon really enforces.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildApp, API_PREFIX, type AppDeps } from '../src/server/app.ts';
import { ERROR_CODES } from '../src/api/error-codes.ts';
import { startTestDaemon, type DaemonHandle } from './daemon-harness.ts';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const;
const ERROR_REF = '#/components/schemas/Error';

interface Operation {
  method: string;
  path: string;
  op: any;
}

/** Every (method, url) in the app's router, from Fastify's own print of it; each line must parse. */
function routerRoutes(app: FastifyInstance): { method: string; url: string }[] {
  const routes: { method: string; url: string }[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    if (line.trim() === '') continue;
    const start = line.search(/[^│├└─ ]/);
    assert.ok(start >= 4 && start % 4 === 0, `cannot read the route line ${JSON.stringify(line)}`);
    const m = /^(\S+)(?: \(([A-Z, ]+)\))?$/.exec(line.slice(start));
    assert.ok(m?.[1], `cannot read the route line ${JSON.stringify(line)}`);
    stack.length = start / 4 - 1;
    stack.push(m[1]);
    for (const method of m[2]?.split(', ') ?? []) routes.push({ method, url: stack.join('') });
  }
  return routes;
}

/** Deps that fail loudly if building the app used them: only the routes are wanted here. */
const unusedDeps = new Proxy({} as AppDeps, {
  get: (_target, key) =>
    key === 'bodyLimit' || key === 'logger' || key === 'requestTimeoutMs' || key === 'keepAliveTimeoutMs'
      ? undefined
      : new Proxy({}, {
          get: () => {
            throw new Error(`buildApp used deps.${String(key)} while only registering routes`);
          },
        }),
});

const toOpenApiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

describe('the OpenAPI document', () => {
  let d: DaemonHandle;
  let app: FastifyInstance;
  let doc: any;
  let operations: Operation[];

  const resolve = (schema: any): any => {
    const ref: unknown = schema?.$ref;
    if (typeof ref !== 'string') return schema;
    const name = ref.replace('#/components/schemas/', '');
    assert.ok(doc.components.schemas[name], `dangling reference ${ref}`);
    return resolve(doc.components.schemas[name]);
  };

  before(async () => {
    d = await startTestDaemon('sqlite');
    app = await buildApp(unusedDeps);
    await app.ready();
    const res = await fetch(`${d.api}/openapi.json`);
    assert.equal(res.status, 200, await res.clone().text());
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    doc = await res.json();
    operations = Object.entries(doc.paths as Record<string, any>).flatMap(([path, item]) =>
      METHODS.filter((m) => item[m]).map((method) => ({ method, path, op: item[method] })),
    );
  });
  after(async () => {
    await app?.close();
    await d?.cleanup();
  });

  it('is served without a token as OpenAPI 3, with bearer auth and a relative server', () => {
    assert.match(doc.openapi, /^3\.\d+\.\d+$/);
    assert.equal(doc.info.title, 'Hoody API');
    assert.deepEqual(doc.servers, [{ url: '/' }]);
    const scheme = doc.components.securitySchemes.bearerAuth;
    assert.equal(scheme.type, 'http');
    assert.equal(scheme.scheme, 'bearer');
    assert.deepEqual(doc.security, [{ bearerAuth: [] }]);
  });

  it('is the document of the app the daemon runs, also served to the /docs page', async () => {
    assert.deepEqual(doc, JSON.parse(JSON.stringify(app.swagger())));
    const page = await fetch(`${d.url}/docs/json`);
    assert.equal(page.status, 200);
    assert.deepEqual(await page.json(), doc);
  });

  it('gives every operation an operationId, unique and safe as an identifier in any client generator', () => {
    const ids = operations.map((o) => o.op.operationId as string);
    for (const [i, id] of ids.entries()) assert.match(id ?? '', /^[a-z][A-Za-z0-9]*$/, `${operations[i]?.method} ${operations[i]?.path}`);
    assert.equal(new Set(ids).size, ids.length, 'no two alike');
    const start = operations.find((o) => o.method === 'post' && o.path === '/api/v1/containers/{id}/start');
    assert.equal(start?.op.operationId, 'postContainersByIdStart');
  });

  it('lists every route the app has, and no other', () => {
    const all = routerRoutes(app);
    const gets = new Set(all.filter((r) => r.method === 'GET').map((r) => r.url));
    // Fastify answers HEAD for every GET by itself; the document lists the GET
    const routes = all.filter((r) => !(r.method === 'HEAD' && gets.has(r.url)));
    // the pages (the reference, the terminal, the dashboard and its files) are not operations
    const page = routes.filter((r) => r.url === '/docs' || r.url.startsWith('/docs/') || r.url.startsWith('/terminal/') || (r.method === 'GET' && (r.url === '/' || r.url === '/favicon.svg' || r.url.startsWith('/dashboard/'))));
    assert.ok(page.length > 0, 'the /docs page has routes');
    assert.equal(page.filter((r) => r.url === '/' || r.url === '/favicon.svg' || r.url.startsWith('/dashboard/')).length, 3, 'the dashboard, its icon and its files');
    const documented = routes.filter((r) => !page.includes(r)).map((r) => `${r.method} ${toOpenApiPath(r.url)}`);
    assert.ok(documented.length >= 25, `only ${documented.length} routes found: ${documented.join(', ')}`);
    assert.deepEqual(operations.map((o) => `${o.method.toUpperCase()} ${o.path}`).sort(), documented.sort());
    assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/docs')), 'the page itself is not an operation');
  });

  it('asks for the bearer token on every /api/v1 route, as the daemon really does', async () => {
    for (const { method, path, op } of operations) {
      const security = op.security ?? doc.security;
      // /metrics is outside the API's prefix and still needs a token (an admin's)
      // a TLS terminator asks whether the router serves a name before it has any token
      const isAsk = path === `${API_PREFIX}/proxy/tls-ask`;
      const isPublic = path === `${API_PREFIX}/openapi.json` || isAsk || (!path.startsWith(API_PREFIX) && path !== '/metrics');
      assert.deepEqual(security, isPublic ? [] : [{ bearerAuth: [] }], `${method} ${path}`);
      const url = d.url + path.replace(/\{[^}]+\}/g, '0123456789abcdef01234567') + (isAsk ? '?domain=nothing.example' : '');
      const res = await fetch(url, { method: method.toUpperCase() });
      const body = (await res.json()) as { code?: string };
      if (isAsk) assert.deepEqual([res.status, body.code], [404, 'NOT_FOUND'], `${method} ${path} answers without a token`);
      else if (isPublic) assert.equal(res.status, 200, `${method} ${path} answers without a token`);
      else assert.deepEqual([res.status, body.code], [401, 'UNAUTHORIZED'], `${method} ${path} without a token`);
    }
  });

  it('describes the path parameters of every route', () => {
    for (const { method, path, op } of operations) {
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      const declared = (op.parameters ?? []).filter((p: any) => p.in === 'path');
      assert.deepEqual(declared.map((p: any) => p.name).sort(), inPath.sort(), `${method} ${path}`);
      for (const p of declared) {
        assert.equal(p.required, true, `${method} ${path} ${p.name}`);
        assert.equal(p.schema.type, 'string', `${method} ${path} ${p.name}`);
      }
    }
  });

  it('describes the query parameters of the routes that take them', () => {
    const query = (method: string, path: string): string[] =>
      (operations.find((o) => o.method === method && o.path === path)?.op.parameters ?? []).filter((p: any) => p.in === 'query').map((p: any) => p.name).sort();
    assert.deepEqual(query('get', '/api/v1/containers'), ['limit', 'name', 'page', 'project_id', 'status']);
    assert.deepEqual(query('get', '/api/v1/projects/{projectId}/containers'), ['limit', 'page']);
    assert.deepEqual(query('get', '/api/v1/containers/{id}'), ['runtime']);
    assert.deepEqual(query('get', '/api/v1/containers/{id}/status-logs'), ['limit', 'page', 'sort_order']);
    const status = operations.find((o) => o.path === '/api/v1/containers' && o.method === 'get')?.op.parameters.find((p: any) => p.name === 'status');
    assert.deepEqual(resolve(status.schema).anyOf.flatMap((s: any) => s.enum).sort(), ['copying', 'creating', 'failed', 'paused', 'running', 'stopped']);
  });

  it('gives the JSON body schema of every route that takes a body, and none to the others', () => {
    for (const { method, path, op } of operations) {
      // asked between daemons with nothing but the snapshot's id
      const bodiless = path === `${API_PREFIX}/images/prune` || /\/cluster\/snapshots\/\{id\}\/(replica|drop)$/.test(path);
      if ((method !== 'post' && method !== 'patch' && method !== 'put') || bodiless) {
        assert.equal(op.requestBody, undefined, `${method} ${path}`);
        continue;
      }
      // an archive upload is a tarball, streamed
      if (path === `${API_PREFIX}/images/import`) {
        assert.deepEqual(Object.keys(op.requestBody.content).sort(), ['application/octet-stream', 'application/x-tar'], `${method} ${path}`);
        continue;
      }
      const body = resolve(op.requestBody?.content?.['application/json']?.schema);
      assert.equal(body?.type, 'object', `${method} ${path} has a JSON body schema`);
      assert.ok(Object.keys(body.properties).length > 0, `${method} ${path}`);
      assert.equal(body.additionalProperties, false, `${method} ${path}: unknown fields are refused`);
      const lifecycle = /\/containers\/\{id\}\/(start|stop|force-stop|restart|pause|resume)$/.test(path);
      assert.equal(op.requestBody.required, !lifecycle, `${method} ${path}: the lifecycle body is optional`);
    }
    const create = resolve(doc.paths['/api/v1/containers'].post.requestBody.content['application/json'].schema);
    assert.deepEqual(create.required.sort(), ['container_image', 'name']);
  });

  it('gives every route its success envelope and the error envelope for each failure', () => {
    for (const { method, path, op } of operations) {
      const where = `${method} ${path}`;
      const statuses = Object.keys(op.responses);
      const success = statuses.filter((s) => s.startsWith('2'));
      // creation (a snapshot and a copy too) answers 201; lifecycle operations 200, or 202 with ?wait=false; the event stream and logs are not JSON envelopes
      const streams = path === `${API_PREFIX}/events` || path === `${API_PREFIX}/containers/{id}/logs`;
      const expected =
        streams || path === `${API_PREFIX}/cluster/containers/{id}/files` || path === `${API_PREFIX}/cluster/snapshots/{id}/files`
            ? ['200']
          : /\/(start|stop|force-stop|restart|pause|resume)$/.test(path)
            ? ['200', '202']
            : method === 'post' && ((!path.includes('{') && !path.endsWith('/bulk') && !path.startsWith(`${API_PREFIX}/images/`) && path !== `${API_PREFIX}/openapi.json`) || /\/(snapshots|copy)$/.test(path))
              ? ['201']
              : ['200'];
      assert.deepEqual(success, expected, where);
      for (const code of expected) {
        // the event stream and the logs are text streams
        if (streams) {
          assert.deepEqual(Object.keys(op.responses[code].content), path.endsWith('/events') ? ['text/event-stream'] : ['text/plain', 'application/x-ndjson'], where);
          continue;
        }
        // a moving container's files are a tar stream between daemons
        if (path === `${API_PREFIX}/cluster/containers/{id}/files` || path === `${API_PREFIX}/cluster/snapshots/{id}/files`) {
          assert.deepEqual(Object.keys(op.responses[code].content), ['application/x-tar'], where);
          continue;
        }
        // the metrics are Prometheus text, not a JSON envelope
        if (path === '/metrics') {
          assert.deepEqual(Object.keys(op.responses[code].content), ['text/plain'], where);
          continue;
        }
        const ok = resolve(op.responses[code].content['application/json'].schema);
        if (path === `${API_PREFIX}/openapi.json`) continue;
        assert.deepEqual(ok.required, ['statusCode', 'message', 'data'], where);
        assert.deepEqual(ok.properties.statusCode.enum, [Number(code)], where);
        assert.ok(resolve(ok.properties.data).type === 'object', where);
      }
      for (const status of statuses.filter((s) => /^[45]/.test(s))) {
        assert.equal(op.responses[status].content['application/json'].schema.$ref, ERROR_REF, `${where} ${status}`);
        assert.match(op.responses[status].description, /`[A-Z_]+`/, `${where} ${status} names its codes`);
      }
      if (path === `${API_PREFIX}/openapi.json` || path === `${API_PREFIX}/proxy/tls-ask` || !path.startsWith(API_PREFIX)) continue;
      for (const status of ['401', '500', '503']) assert.ok(statuses.includes(status), `${where} documents ${status}`);
      if (op.parameters?.length || op.requestBody) assert.ok(statuses.includes('400'), `${where} documents 400`);
      // an archive upload has no size limit
      const bodyStatuses = path === `${API_PREFIX}/images/import` ? ['403', '415'] : ['403', '413', '415'];
      if (op.requestBody) for (const status of bodyStatuses) assert.ok(statuses.includes(status), `${where} documents ${status}`);
      if (path.includes('{')) assert.ok(statuses.includes('404'), `${where} documents 404`);
    }
  });

  it('documents the container with its optional runtime_info, and open metadata in the status log', () => {
    const container = doc.components.schemas.Container;
    assert.ok(container.properties.runtime_info, 'runtime_info is described');
    assert.ok(!container.required.includes('runtime_info'), 'runtime_info is optional');
    assert.ok(resolve(container.properties.runtime_info).properties.processes);
    const metadata = doc.components.schemas.StatusLogEntry.properties.metadata;
    assert.equal(metadata.additionalProperties, true);
    const get = doc.paths['/api/v1/containers/{id}'].get.responses['200'].content['application/json'].schema;
    assert.equal(get.properties.data.$ref, '#/components/schemas/Container');
  });

  it('enumerates exactly the codes of the error table in the error envelope', () => {
    const error = doc.components.schemas.Error;
    assert.deepEqual(error.required, ['statusCode', 'error', 'code', 'message']);
    assert.equal(error.properties.code.$ref, '#/components/schemas/ErrorCode');
    assert.deepEqual([...doc.components.schemas.ErrorCode.enum].sort(), Object.keys(ERROR_CODES).sort());
    assert.equal(error.properties.details.type, 'object');
    assert.equal(error.properties.details.additionalProperties, true);
  });

  it('has no reference that does not resolve', () => {
    const refs: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k === '$ref') refs.push(x as string);
          else walk(x);
        }
      }
    };
    walk(doc);
    assert.ok(refs.length > 0);
    for (const ref of refs) {
      assert.match(ref, /^#\/components\/schemas\/[A-Za-z]+$/);
      assert.ok(doc.components.schemas[ref.split('/').pop()!], `dangling ${ref}`);
    }
  });

  it('serves the Swagger UI page and its assets from the daemon, without a token', async () => {
    const page = await fetch(`${d.url}/docs`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(assets.length >= 4, html);
    for (const asset of assets) {
      assert.doesNotMatch(asset, /^(https?:)?\/\//, 'no asset from elsewhere');
      const res = await fetch(new URL(asset, `${d.url}/docs`));
      assert.equal(res.status, 200, asset);
      await res.arrayBuffer();
    }
  });
});
