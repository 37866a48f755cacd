/** `client.api.servers` and `.images`: the daemons behind the API and what they can run. */
import { callOptions, segment, type CallOptions, type Transport } from './transport.ts';
import type { ApiResponse, Image, Server } from './types.ts';

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
}

export class ImagesApi {
  constructor(private readonly http: Transport) {}

  /** `GET /images`: the images this server can run (at least `busybox`). */
  list(options: CallOptions = {}): Promise<ApiResponse<{ images: Image[] }>> {
    return this.http.request('GET', '/images', callOptions(options));
  }
}
