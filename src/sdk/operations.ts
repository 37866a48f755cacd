/** `client.api.operations`: operations started in the background with `containers.manageAsync`. */
import { callOptions, segment, type CallOptions, type Transport } from './transport.ts';
import type { ApiResponse, OperationInfo } from './types.ts';

export class OperationsApi {
  constructor(private readonly http: Transport) {}

  /**
   * `GET /operations/{id}`: `status` is `running`, then `succeeded` (with `result_status`) or
   * `failed` (with `error`). The daemon keeps the newest 10,000 since it started (404 after that,
   * or after a restart).
   */
  get(id: string, options: CallOptions = {}): Promise<ApiResponse<OperationInfo>> {
    return this.http.request('GET', `/operations/${segment(id)}`, callOptions(options));
  }
}
