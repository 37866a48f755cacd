/**
 * Response schemas: the success envelope around each resource and the one error envelope.
 * The server serializes with them (so they must describe every field a handler answers), the
 * OpenAPI document shows them, and the SDK can type its answers from them.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ERROR_CODES, type ErrorCode } from './error-codes.ts';
import { BulkItemResult, BulkResult, Container, Id, Image, ImageDetail, ImageRemoved, ImagesPruned, LifecycleResult, OperationInfo, Pagination, Project, ProxyAlias, Server, ServiceView, Snapshot, SnapshotDeleted, StatusLogEntry, Token, User } from './schemas.ts';

/** Every `code` an error can carry: the keys of the error table, as an enum. */
export const ErrorCodeSchema = Type.Unsafe<ErrorCode>({
  type: 'string',
  enum: Object.keys(ERROR_CODES),
  description: 'stable, for scripts to branch on; docs/errors.md says what each means',
});

/** The error envelope every failure is answered with (SPEC §2). */
export const ErrorEnvelope = Type.Object({
  statusCode: Type.Integer({ minimum: 400, maximum: 599 }),
  error: Type.String({ description: 'the HTTP reason phrase, e.g. "Bad Request"' }),
  code: ErrorCodeSchema,
  message: Type.String({ description: 'for people; may be reworded' }),
  details: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'more about this error; its fields depend on the code' })),
});
export type ErrorEnvelope = Static<typeof ErrorEnvelope>;

/** The success envelope around `data`; `statusCode` repeats the HTTP status (201 for creation). */
export const envelope = <T extends TSchema, S extends 200 | 201 | 202 = 200>(data: T, statusCode: S = 200 as S) =>
  Type.Object({ statusCode: Type.Literal(statusCode), message: Type.String(), data }, { description: { 200: 'OK', 201: 'Created', 202: 'Accepted' }[statusCode] });

export const ContainerEnvelope = envelope(Container);
export const ContainerCreatedEnvelope = envelope(Container, 201);
export const ContainerListEnvelope = envelope(Type.Object({ containers: Type.Array(Container), pagination: Pagination }));
export const ContainerDeletedEnvelope = envelope(Type.Object({ container_id: Id, deleted: Type.Literal(true) }));
export const LifecycleEnvelope = envelope(LifecycleResult);
export const OperationAcceptedEnvelope = envelope(Type.Object({ operation: OperationInfo }), 202);
export const BulkEnvelope = envelope(BulkResult);
export const SnapshotEnvelope = envelope(Type.Object({ snapshot: Snapshot }));
export const SnapshotCreatedEnvelope = envelope(Type.Object({ snapshot: Snapshot }), 201);
export const SnapshotListEnvelope = envelope(Type.Object({ snapshots: Type.Array(Snapshot) }));
export const SnapshotDeletedEnvelope = envelope(SnapshotDeleted);
export const StatusLogPageEnvelope = envelope(Type.Object({ logs: Type.Array(StatusLogEntry), pagination: Pagination }));
export const ProjectListEnvelope = envelope(Type.Object({ projects: Type.Array(Project) }));
export const ProjectCreatedEnvelope = envelope(Project, 201);
export const ServerListEnvelope = envelope(Type.Object({ servers: Type.Array(Server) }));
export const ServerEnvelope = envelope(Server);
export const MaintenanceEnvelope = envelope(
  Type.Object({
    server: Server,
    results: Type.Array(BulkItemResult, { description: 'each container stopped (entering) or started (leaving)' }),
    summary: Type.Object({ total: Type.Integer(), succeeded: Type.Integer(), failed: Type.Integer() }),
  }),
);
export const RecoverServerEnvelope = envelope(
  Type.Object({
    server: Server,
    results: Type.Array(BulkItemResult, { description: 'each container of the lost server: recovered (`stopped`) or why not' }),
    summary: Type.Object({ total: Type.Integer(), succeeded: Type.Integer(), failed: Type.Integer() }),
  }),
);
export const ImageListEnvelope = envelope(Type.Object({ images: Type.Array(Image) }));
export const ImageEnvelope = envelope(Type.Object({ image: ImageDetail }));
export const ImageRemovedEnvelope = envelope(ImageRemoved);
export const ImagesPrunedEnvelope = envelope(ImagesPruned);
export const UserListEnvelope = envelope(Type.Object({ users: Type.Array(User) }));
export const UserCreatedEnvelope = envelope(User, 201);
export const TokenListEnvelope = envelope(Type.Object({ tokens: Type.Array(Token) }));
/** The only answer that carries a token's secret. */
export const CreatedToken = Type.Composite([Token, Type.Object({ token: Type.String({ description: 'the secret: shown once, only its hash is stored' }) })]);
export const TokenCreatedEnvelope = envelope(CreatedToken, 201);
export const TokenDeletedEnvelope = envelope(Type.Object({ token_id: Id, deleted: Type.Literal(true) }));
export const ServiceListEnvelope = envelope(Type.Object({ services: Type.Array(ServiceView) }));
export const ProxyAliasEnvelope = envelope(ProxyAlias);
export const ProxyAliasCreatedEnvelope = envelope(ProxyAlias, 201);
export const ProxyAliasListEnvelope = envelope(Type.Object({ aliases: Type.Array(ProxyAlias) }));
export const ProxyAliasDeletedEnvelope = envelope(Type.Object({ alias_id: Id, deleted: Type.Literal(true) }));
export const HealthEnvelope = envelope(Type.Object({ server: Type.String({ description: 'this server\'s name' }), version: Type.String({ description: 'the daemon\'s version (package.json)' }) }));

export type ContainerEnvelope = Static<typeof ContainerEnvelope>;
export type ContainerListEnvelope = Static<typeof ContainerListEnvelope>;
export type LifecycleEnvelope = Static<typeof LifecycleEnvelope>;
export type StatusLogPageEnvelope = Static<typeof StatusLogPageEnvelope>;

/** Codes every authenticated route may answer. */
export const AUTHENTICATED_ERRORS = ['UNAUTHORIZED', 'INTERNAL_ERROR', 'SERVICE_UNAVAILABLE'] as const satisfies readonly ErrorCode[];
/** Codes every authenticated route with a JSON body may answer besides (read-only tokens are refused). */
export const BODY_ERRORS = ['FORBIDDEN', 'INVALID_INPUT', 'INVALID_JSON', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'] as const satisfies readonly ErrorCode[];

/** Codes a POST carrying an Idempotency-Key may answer besides. */
export const IDEMPOTENCY_ERRORS = ['INVALID_INPUT', 'IDEMPOTENCY_KEY_REUSED', 'IDEMPOTENCY_KEY_IN_PROGRESS'] as const satisfies readonly ErrorCode[];

/**
 * The error responses of a route, one per HTTP status, each the error envelope described by the
 * codes it may carry: `{ 400: …, 404: … }` to spread into `schema.response`.
 */
export function errorResponses(...codes: ErrorCode[]): Record<number, TSchema> {
  const byStatus = new Map<number, Set<ErrorCode>>();
  for (const code of codes) {
    const status = ERROR_CODES[code].status;
    byStatus.set(status, (byStatus.get(status) ?? new Set()).add(code));
  }
  const responses: Record<number, TSchema> = {};
  for (const [status, set] of [...byStatus].sort(([a], [b]) => a - b)) {
    const description = [...set].map((code) => `\`${code}\`: ${ERROR_CODES[code].description}`).join('\n\n');
    responses[status] = { ...ErrorEnvelope, description };
  }
  return responses;
}
