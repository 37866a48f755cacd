/** What each call answers: the server's envelope around data typed from the wire schemas of src/api. */
import type { Static } from '@sinclair/typebox';
import type {
  Container as ContainerSchema,
  ContainerListQuery as ContainerListQuerySchema,
  CreateContainerBody as CreateContainerBodySchema,
  CreateTokenBody as CreateTokenBodySchema,
  Image as ImageSchema,
  LifecycleBody as LifecycleBodySchema,
  LifecycleResult as LifecycleResultSchema,
  Pagination as PaginationSchema,
  Project as ProjectSchema,
  RuntimeInfo as RuntimeInfoSchema,
  Server as ServerSchema,
  StatusLogEntry as StatusLogEntrySchema,
  StatusLogQuery as StatusLogQuerySchema,
  Token as TokenSchema,
  UpdateContainerBody as UpdateContainerBodySchema,
  User as UserSchema,
} from '../api/schemas.ts';

export type { ContainerStatus, LifecycleOperation, RestartPolicy, ServerStatus, SortOrder } from '../api/schemas.ts';
export type { ErrorBody, ErrorCode } from '../api/error-codes.ts';

/** Every success: `{ statusCode, message, data }`. */
export interface ApiResponse<T> {
  statusCode: number;
  message: string;
  data: T;
}

export type Container = Static<typeof ContainerSchema>;
export type RuntimeInfo = Static<typeof RuntimeInfoSchema>;
/** A container read with `?runtime=true`. */
export type ContainerWithRuntime = Container & { runtime_info: RuntimeInfo };
export type ContainerListQuery = Static<typeof ContainerListQuerySchema>;
export type CreateContainerBody = Static<typeof CreateContainerBodySchema>;
export type UpdateContainerBody = Static<typeof UpdateContainerBodySchema>;
export type LifecycleBody = Static<typeof LifecycleBodySchema>;
export type LifecycleResult = Static<typeof LifecycleResultSchema>;
export type StatusLogEntry = Static<typeof StatusLogEntrySchema>;
export type StatusLogQuery = Static<typeof StatusLogQuerySchema>;
export type Pagination = Static<typeof PaginationSchema>;
export type Project = Static<typeof ProjectSchema>;
export type Server = Static<typeof ServerSchema>;
export type Image = Static<typeof ImageSchema>;
export type User = Static<typeof UserSchema>;
export type Token = Static<typeof TokenSchema>;
export type CreateTokenBody = Static<typeof CreateTokenBodySchema>;

/** A new token: its record plus the secret, which is never shown again. */
export type CreatedToken = Token & { token: string };

export interface ContainerList {
  containers: Container[];
}
export interface StatusLogPage {
  logs: StatusLogEntry[];
  pagination: Pagination;
}
export interface DeletedContainer {
  container_id: string;
  deleted: true;
}
export interface DeletedToken {
  token_id: string;
  deleted: true;
}
