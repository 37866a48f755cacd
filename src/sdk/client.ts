/** HoodyClient: the typed entry point, `client.api.<resource>.<call>()`, over fetch only (browser or Node). */
import { ProjectsApi, TokensApi, UsersApi } from './accounts.ts';
import { ContainersApi } from './containers.ts';
import { EventsApi } from './events.ts';
import { OperationsApi } from './operations.ts';
import { ServersApi } from './servers.ts';
import { ImagesApi } from './images.ts';
import { ProxyAliasesApi } from './proxy.ts';
import { Transport, type FetchLike } from './transport.ts';

export interface HoodyClientOptions {
  /** Where the daemon listens, e.g. `http://127.0.0.1:8080`; `/api/v1` is appended. */
  baseUrl: string;
  /** Bearer token (HOODY_TOKEN). */
  token?: string;
  /** A fetch to use instead of the global one. */
  fetch?: FetchLike;
}

/** The API, one property per resource. */
export interface HoodyApi {
  readonly containers: ContainersApi;
  readonly operations: OperationsApi;
  readonly projects: ProjectsApi;
  readonly tokens: TokensApi;
  readonly users: UsersApi;
  readonly servers: ServersApi;
  readonly images: ImagesApi;
  readonly proxyAliases: ProxyAliasesApi;
}

/**
 * ```ts
 * const client = new HoodyClient({ baseUrl: 'http://127.0.0.1:8080', token });
 * await client.api.containers.manage(id, 'start');
 * ```
 * Every call answers the server's `{ statusCode, message, data }` and rejects with a HoodyApiError.
 * `client.events.subscribe()` follows the event stream.
 */
export class HoodyClient {
  readonly api: HoodyApi;
  /** `GET /events`: transitions and operations as they happen, resumed across reconnections. */
  readonly events: EventsApi;
  /** The API root every path is appended to, e.g. `http://127.0.0.1:8080/api/v1`. */
  readonly apiBase: string;

  constructor(options: HoodyClientOptions) {
    const http = new Transport(options.baseUrl, options.token, options.fetch);
    this.apiBase = http.apiBase;
    this.api = Object.freeze({
      containers: new ContainersApi(http),
      operations: new OperationsApi(http),
      projects: new ProjectsApi(http),
      tokens: new TokensApi(http),
      users: new UsersApi(http),
      servers: new ServersApi(http),
      images: new ImagesApi(http),
      proxyAliases: new ProxyAliasesApi(http),
    });
    this.events = new EventsApi(http);
  }
}
