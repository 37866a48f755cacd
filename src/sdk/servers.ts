/** `client.api.servers`: the daemons behind the API. */
import { callOptions, segment, type CallOptions, type Transport } from './transport.ts';
import type { ApiResponse, MaintenanceBody, MaintenanceResult, RecoverServerBody, Server } from './types.ts';

export class ServersApi {
  constructor(private readonly http: Transport) {}

  /** `GET /servers`: every daemon sharing this database, with its status (ready, maintenance, offline). */
  list(options: CallOptions = {}): Promise<ApiResponse<{ servers: Server[] }>> {
    return this.http.request('GET', '/servers', callOptions(options));
  }

  /** `GET /servers/{id}`. */
  get(id: string, options: CallOptions = {}): Promise<ApiResponse<Server>> {
    return this.http.request('GET', `/servers/${segment(id)}`, callOptions(options));
  }

  /** `POST /servers/{id}/maintenance` (admin): enter maintenance (`{ enabled: true, reason }`) or leave it (`{ enabled: false }`). */
  maintenance(id: string, body: MaintenanceBody, options: CallOptions = {}): Promise<ApiResponse<MaintenanceResult>> {
    return this.http.request('POST', `/servers/${segment(id)}/maintenance`, { ...callOptions(options), body });
  }

  /**
   * `POST /servers/{id}/recover` (admin): a server that is offline for good has each of its
   * containers made again elsewhere from its newest snapshot kept on a server that answers
   * (`HOODY_SNAPSHOT_REPLICAS`); `results` says which were recovered and why others were not.
   */
  recover(id: string, body: RecoverServerBody = {}, options: CallOptions = {}): Promise<ApiResponse<MaintenanceResult>> {
    return this.http.request('POST', `/servers/${segment(id)}/recover`, { ...callOptions(options), body });
  }
}
