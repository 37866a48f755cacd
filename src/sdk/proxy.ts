/** `client.api.proxyAliases`: names (`{alias}.{domain}`) served by one program instance of a container. */
import { callOptions, segment, type CallOptions, type Transport } from './transport.ts';
import type { ApiResponse, CreateProxyAliasBody, DeletedProxyAlias, ProxyAlias } from './types.ts';

export class ProxyAliasesApi {
  constructor(private readonly http: Transport) {}

  /**
   * `POST /proxy/aliases`: the alias is served from the moment this answers. Its container never
   * changes: to point the name elsewhere (blue-green), `delete` it and `create` it again.
   */
  create(body: CreateProxyAliasBody, options: CallOptions = {}): Promise<ApiResponse<ProxyAlias>> {
    return this.http.request('POST', '/proxy/aliases', { body, ...callOptions(options) });
  }

  /** `GET /proxy/aliases`: the aliases of the caller's containers, or of one (`container_id`). */
  list(query: { container_id?: string } = {}, options: CallOptions = {}): Promise<ApiResponse<{ aliases: ProxyAlias[] }>> {
    return this.http.request('GET', '/proxy/aliases', { query: { container_id: query.container_id }, ...callOptions(options) });
  }

  /** `GET /proxy/aliases/{id}`. */
  get(id: string, options: CallOptions = {}): Promise<ApiResponse<ProxyAlias>> {
    return this.http.request('GET', `/proxy/aliases/${segment(id)}`, callOptions(options));
  }

  /** `DELETE /proxy/aliases/{id}`: the name answers 503 for 30 s (then 404) until it is created again. */
  delete(id: string, options: CallOptions = {}): Promise<ApiResponse<DeletedProxyAlias>> {
    return this.http.request('DELETE', `/proxy/aliases/${segment(id)}`, callOptions(options));
  }
}
