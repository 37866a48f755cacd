/**
 * The Hoody TypeScript SDK. Browser-safe: it uses only fetch, URL, AbortSignal, setTimeout, and for
 * the event stream ReadableStream and TextDecoder.
 *
 * ```ts
 * import { HoodyClient, HoodyApiError } from 'hoody/sdk';
 * const client = new HoodyClient({ baseUrl: 'http://127.0.0.1:8080', token: myToken });
 * const { data } = await client.api.containers.list({ status: 'running' });
 * ```
 */
export { HoodyClient, type HoodyApi, type HoodyClientOptions } from './client.ts';
export { HoodyApiError, isHoodyApiError, CLIENT_ERROR_CODES, type ClientErrorCode, type HoodyErrorCode, type HoodyApiErrorInit } from './errors.ts';
export { ContainersApi, LIFECYCLE_OPERATIONS, type GetContainerQuery, type WaitForStatusOptions, type WaitOptions } from './containers.ts';
export { EventsApi, SseParser, type EventHandler, type EventSubscription, type SseMessage, type SubscribeOptions } from './events.ts';
export { OperationsApi } from './operations.ts';
export { ProjectsApi, TokensApi, UsersApi } from './accounts.ts';
export { ServersApi } from './servers.ts';
export { ImagesApi, type PullOptions } from './images.ts';
export { ProxyAliasesApi } from './proxy.ts';
export { apiBaseOf, API_PATH, type CallOptions, type FetchLike } from './transport.ts';
export type * from './types.ts';
