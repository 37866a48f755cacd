/**
 * The OpenAPI document, generated from the route schemas by @fastify/swagger, and the Swagger UI
 * page that tries it out; both served from this machine, without a token (the API they describe
 * still needs one). Register before the routes: the document is collected as routes are added.
 */
import type { FastifyInstance } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import pkg from '../../package.json' with { type: 'json' };
import {
  Container,
  ContainerStatusSchema,
  CreateContainerBody,
  CurrentOperation,
  Image,
  ImageDetail,
  LifecycleBody,
  LifecycleResult,
  Pagination,
  ProcessInfo,
  Project,
  Resources,
  RestartPolicySchema,
  RuntimeInfo,
  Server,
  StatusLogEntry,
  Token,
  UpdateContainerBody,
  User,
} from '../api/schemas.ts';
import { CreatedToken, ErrorCodeSchema, ErrorEnvelope, errorResponses } from '../api/responses.ts';

export const DOCS_PATH = '/docs';
export const BEARER_AUTH = 'bearerAuth';

/** Schemas shown once under components.schemas and referenced wherever a route uses them. */
const COMPONENTS: Record<string, TSchema> = {
  Container,
  ContainerStatus: ContainerStatusSchema,
  RestartPolicy: RestartPolicySchema,
  Resources,
  CurrentOperation,
  RuntimeInfo,
  ProcessInfo,
  CreateContainerBody,
  UpdateContainerBody,
  LifecycleBody,
  LifecycleResult,
  StatusLogEntry,
  Pagination,
  Project,
  Server,
  Image,
  ImageDetail,
  User,
  Token,
  CreatedToken,
  Error: ErrorEnvelope,
  ErrorCode: ErrorCodeSchema,
};

const TAGS = [
  { name: 'containers', description: 'Containers, their lifecycle and their audit trail of status changes' },
  { name: 'projects', description: 'Projects group containers; a token sees only its user\'s projects' },
  { name: 'servers', description: 'The daemons sharing this database' },
  { name: 'images', description: 'Images this server can run' },
  { name: 'snapshots', description: 'Snapshots of containers\' files and configuration, and their restore' },
  { name: 'users', description: 'Users (admin tokens only)' },
  { name: 'tokens', description: 'Bearer tokens' },
  { name: 'meta', description: 'Health and this document; no token needed' },
];

const DESCRIPTION = `Containers on real runc processes, with a durable audit log of every status change.

Send \`Authorization: Bearer <token>\` on every \`/api/v1\` request: press **Authorize** and paste a token
(the admin token is \`HOODY_ADMIN_TOKEN\`, or the file \`<data-dir>/admin-token\` written at the first start).

Every success is \`{"statusCode": 200, "message": "…", "data": {…}}\` (201 for creation); every error is
\`{"statusCode", "error", "code", "message", "details"?}\` with \`code\` from the table in docs/errors.md.`;

/** Canonical JSON of a schema (TypeBox's symbol keys are left out), to recognise it wherever it is copied. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

const componentByShape = new Map<string, string>();
for (const [name, schema] of Object.entries(COMPONENTS)) {
  const shape = canonical(schema);
  const other = componentByShape.get(shape);
  if (other) throw new Error(`openapi: components "${other}" and "${name}" have the same shape; one would take the other's name`);
  componentByShape.set(shape, name);
}

const refTo = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** A copy of `schema` where every component (but `self`) is replaced by a reference to it. */
function withRefs(schema: unknown, self?: string): unknown {
  if (Array.isArray(schema)) return schema.map((s) => withRefs(s, self));
  if (!schema || typeof schema !== 'object') return schema;
  const name = componentByShape.get(canonical(schema));
  if (name && name !== self) return refTo(name);
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, withRefs(v, self)]));
}

/** A response's schema with references; a bare component keeps its own description as the response's. */
function responseWithRefs(schema: unknown): unknown {
  if (schema && typeof schema === 'object' && 'description' in schema) {
    const { description, ...rest } = schema as { description: unknown };
    const name = componentByShape.get(canonical(rest));
    if (name) return { ...refTo(name), description };
  }
  return withRefs(schema);
}

type Doc = {
  paths?: Record<string, Record<string, { requestBody?: { required?: boolean; content?: Record<string, { schema?: { $ref?: string }; example?: unknown }> } }> | undefined>;
};

/** The lifecycle routes default their body to {} (see routes/containers.ts): say it is optional. */
function markOptionalBodies(doc: Doc): void {
  for (const item of Object.values(doc.paths ?? {})) {
    for (const operation of Object.values(item ?? {})) {
      const media = operation?.requestBody?.content?.['application/json'];
      if (operation.requestBody && media?.schema?.$ref === refTo('LifecycleBody').$ref) {
        operation.requestBody.required = false;
        media.example = {};
      }
    }
  }
}

type LooseOperation = { requestBody?: unknown; responses?: Record<string, { description?: string; content?: Record<string, unknown> }> };

/** Routes that do not speak JSON alone: the archive upload takes a tarball, a pull may stream its progress. */
function describeRawBodies(doc: Doc, prefix: string): void {
  const paths = doc.paths as Record<string, Record<string, LooseOperation> | undefined> | undefined;
  const binary = { schema: { type: 'string', format: 'binary' } };
  const upload = paths?.[`${prefix}/images/import`]?.post;
  if (upload) upload.requestBody = { required: true, description: 'a `docker save`, `podman save` or `oci-archive` tarball', content: { 'application/x-tar': binary, 'application/octet-stream': binary } };
  const files = paths?.[`${prefix}/cluster/containers/{id}/files`]?.get;
  if (files?.responses) files.responses['200'] = { description: 'the container\'s own files (or its snapshots\'), a GNU tar (POSIX format, numeric owners, extended attributes)', content: { 'application/x-tar': binary } };
  const snapshotFiles = paths?.[`${prefix}/cluster/snapshots/{id}/files`]?.get;
  if (snapshotFiles?.responses) snapshotFiles.responses['200'] = { description: 'the snapshot\'s folder (its files, manifest and record), a GNU tar; its SHA-256 in `X-Hoody-Sha256`', content: { 'application/x-tar': binary } };
  const ok = paths?.[`${prefix}/images/pull`]?.post?.responses?.['200'];
  if (ok?.content) ok.content['application/x-ndjson'] = { schema: { type: 'string', description: 'with `Accept: application/x-ndjson`: one JSON object per line, progress events then `done` or `error`' } };
  // streams: their success is a stream of text, not an envelope (a client generator needs it named)
  const text = { schema: { type: 'string' } };
  const events = paths?.[`${prefix}/events`]?.get;
  if (events?.responses) events.responses['200'] = { description: 'Server-Sent Events until the client goes or its token is deleted', content: { 'text/event-stream': text } };
  const logs = paths?.[`${prefix}/containers/{id}/logs`]?.get;
  if (logs?.responses) logs.responses['200'] = { description: 'its lines, oldest first', content: { 'text/plain': text, 'application/x-ndjson': text } };
}

export interface OpenApiOptions {
  /** Where the authenticated API lives; the document is served at `<prefix>/openapi.json`. */
  prefix: string;
}

/** Registers the document generator, `GET <prefix>/openapi.json` and the Swagger UI at /docs. */
export async function registerOpenApi(app: FastifyInstance, { prefix }: OpenApiOptions): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Hoody API', version: pkg.version, description: DESCRIPTION, license: { name: 'Apache-2.0', identifier: 'Apache-2.0' } },
      servers: [{ url: '/' }],
      tags: TAGS,
      components: {
        securitySchemes: { [BEARER_AUTH]: { type: 'http', scheme: 'bearer', description: 'a Hoody token (admin: HOODY_ADMIN_TOKEN or <data-dir>/admin-token; others: POST /api/v1/tokens)' } },
        schemas: Object.fromEntries(Object.entries(COMPONENTS).map(([name, schema]) => [name, withRefs(schema, name)])) as never,
      },
      // every route needs the token unless it says `security: []`
      security: [{ [BEARER_AUTH]: [] }],
    },
    transform: ({ schema, url, route }) => {
      if (!schema) return { schema, url };
      const { body, response, ...rest } = schema as { body?: unknown; response?: Record<string, unknown>; operationId?: string };
      const method = Array.isArray(route.method) ? String(route.method[0]) : String(route.method);
      return {
        url,
        schema: {
          ...rest,
          operationId: rest.operationId ?? operationIdOf(method, url, prefix),
          ...(body === undefined ? {} : { body: withRefs(body) }),
          ...(response === undefined ? {} : { response: Object.fromEntries(Object.entries(response).map(([status, s]) => [status, responseWithRefs(s)])) }),
        },
      };
    },
    transformObject: (document) => {
      if (!('openapiObject' in document)) return document.swaggerObject;
      markOptionalBodies(document.openapiObject as Doc);
      describeRawBodies(document.openapiObject as Doc, prefix);
      return document.openapiObject;
    },
  });

  app.get(
    `${prefix}/openapi.json`,
    {
      schema: {
        tags: ['meta'],
        summary: 'This OpenAPI document',
        description: 'Generated from the schemas the server validates and serializes with. Needs no token.',
        security: [],
        response: {
          200: Type.Object({ openapi: Type.String() }, { additionalProperties: true, description: 'an OpenAPI 3.1 document' }),
          ...errorResponses('INTERNAL_ERROR', 'SERVICE_UNAVAILABLE'),
        },
      },
    },
    async () => app.swagger(),
  );

  await app.register(swaggerUi, {
    routePrefix: DOCS_PATH,
    logo: { type: 'image/svg+xml', content: Buffer.from(HOODY_LOGO), href: DOCS_PATH, target: '_self' },
    uiConfig: { docExpansion: 'list', deepLinking: true, displayRequestDuration: true, defaultModelsExpandDepth: 0, tryItOutEnabled: false },
    theme: { title: 'Hoody API', favicon: [{ filename: 'hoody.svg', rel: 'icon', sizes: 'any', type: 'image/svg+xml', content: Buffer.from(HOODY_LOGO) }] },
    // the page and everything it loads come from this daemon; the browser enforces it
    staticCSP: {
      'default-src': "'self'",
      'base-uri': "'self'",
      'connect-src': "'self'",
      'img-src': "'self' data:",
      'font-src': "'self' data:",
      'style-src': "'self' 'unsafe-inline'",
      'script-src': "'self'",
      'script-src-attr': "'none'",
      'object-src': "'none'",
      'frame-ancestors': "'self'",
    },
  });
}

/**
 * An operation's id when its route names none: its method and its path's words, parameters as
 * `By{Name}` (`POST /api/v1/containers/{id}/start` → `postContainersByIdStart`). Unique as the
 * routes are, stable as long as the path is, and safe in any client generator's identifiers.
 */
export function operationIdOf(method: string, url: string, prefix: string): string {
  const path = url.startsWith(prefix) ? url.slice(prefix.length) : url;
  const words = path
    .split('/')
    .filter(Boolean)
    .map((part) => (part.startsWith(':') ? `by-${part.slice(1)}` : part.startsWith('{') ? `by-${part.slice(1, -1)}` : part))
    .flatMap((part) => part.split(/[^A-Za-z0-9]+/))
    .filter(Boolean);
  const pascal = words.map((w) => w[0]?.toUpperCase() + w.slice(1)).join('');
  return `${method.toLowerCase()}${pascal}`;
}

const HOOD =
  '<path d="M20 3C10.6 3 4 10.5 4 20v15h32V20C36 10.5 29.4 3 20 3z" fill="#2f6fed"/>' +
  '<path d="M20 9c-6 0-10 4.8-10 11v11h20V20c0-6.2-4-11-10-11z" fill="#0b1f44"/>' +
  '<path d="M14 17l5 4-5 4" stroke="#7ee0a3" stroke-width="2.4" fill="none" stroke-linecap="round" stroke-linejoin="round"/>' +
  '<path d="M21 26h6" stroke="#7ee0a3" stroke-width="2.4" stroke-linecap="round"/>';

/** Hoody's mark: a hood over a terminal's prompt, with the name, in the top bar of /docs and as its icon. */
export const HOODY_LOGO =
  '<svg xmlns="http://www.w3.org/2000/svg" width="132" height="40" viewBox="0 0 132 40" role="img" aria-label="Hoody">' +
  HOOD +
  '<text x="44" y="28" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="22" font-weight="700" fill="#ffffff">Hoody</text>' +
  '</svg>';

/** The mark alone, square: the dashboard's icon. */
export const HOODY_MARK = `<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" viewBox="0 0 40 40" role="img" aria-label="Hoody">${HOOD}</svg>`;

