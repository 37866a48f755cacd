/** `client.api.containers`: CRUD, the lifecycle operations (waited for, in the background, in bulk), status logs, waiting for a status, snapshots (create, list, restore) and copies. */
import type { ContainerStatus, LifecycleOperation } from '../api/schemas.ts';
import { HoodyApiError } from './errors.ts';
import { callOptions, ndjson, segment, type CallOptions, type Transport } from './transport.ts';
import type {
  AcceptedOperation,
  ApiResponse,
  RuntimeInfo,
  ExecBody,
  ExecEvent,
  ExecResult,
  LogLine,
  LogQuery,
  Service,
  BulkBody,
  BulkResult,
  Container,
  ContainerList,
  ContainerListQuery,
  ContainerWithRuntime,
  CopyContainerBody,
  MoveContainerBody,
  CreateContainerBody,
  CreateSnapshotBody,
  DeletedContainer,
  LifecycleBody,
  LifecycleResult,
  RestoreSnapshotBody,
  SnapshotDeleted,
  SnapshotList,
  SnapshotResult,
  StatusLogPage,
  StatusLogQuery,
  UpdateContainerBody,
} from './types.ts';

/** The lifecycle operations, in the order the API lists them (kept equal to src/api by a test). */
export const LIFECYCLE_OPERATIONS = ['start', 'stop', 'force-stop', 'restart', 'pause', 'resume'] as const satisfies readonly LifecycleOperation[];

export interface GetContainerQuery extends CallOptions {
  /** `'true'` (or `true`) adds `runtime_info`: pid, processes, memory, CPU, listening ports. */
  runtime?: 'true' | 'false' | boolean;
}

export interface WaitForStatusOptions extends CallOptions {
  /** Give up after this long (default 60 000 ms); the call then rejects with code `TIMEOUT`. */
  timeoutMs?: number;
  /** Time between two reads of the container (default 500 ms). */
  intervalMs?: number;
}

export interface WaitOptions extends CallOptions {
  /** Seconds the server waits (0 to 300, default 30) before answering 408 `WAIT_TIMEOUT`; fractions allowed. */
  timeout?: number;
}

export class ContainersApi {
  constructor(private readonly http: Transport) {}

  /**
   * `GET /containers`: the containers the token may see; filter by status, project or name.
   * With `page`, that one page (`limit` per page, 100 by default); without it, every page, read in
   * turn and answered as one (`data.pagination` then counts them all on one page).
   */
  list(query: ContainerListQuery = {}, options: CallOptions = {}): Promise<ApiResponse<ContainerList>> {
    const get = (q: ContainerListQuery) => this.http.request<ContainerList>('GET', '/containers', { query: { ...q }, ...callOptions(options) });
    return query.page !== undefined ? get(query) : everyPage((page) => get({ ...query, page, limit: query.limit ?? PAGE_WHEN_FOLLOWING }));
  }

  /** `GET /projects/{projectId}/containers`: one project's containers (404 if the project is not visible); pages as `list`. */
  listByProject(projectId: string, options: CallOptions & { page?: number; limit?: number } = {}): Promise<ApiResponse<ContainerList>> {
    const { page, limit, ...call } = options;
    const get = (q: { page?: number; limit?: number }) => this.http.request<ContainerList>('GET', `/projects/${segment(projectId)}/containers`, { query: { ...q }, ...callOptions(call) });
    return page !== undefined ? get({ page, limit }) : everyPage((p) => get({ page: p, limit: limit ?? PAGE_WHEN_FOLLOWING }));
  }

  /** `GET /containers/{id}`; with `{ runtime: 'true' }` the answer carries `runtime_info`. */
  get(id: string, query: GetContainerQuery & { runtime: 'true' | true }): Promise<ApiResponse<ContainerWithRuntime>>;
  get(id: string, query?: GetContainerQuery): Promise<ApiResponse<Container>>;
  get(id: string, query: GetContainerQuery = {}): Promise<ApiResponse<Container>> {
    const runtime = query.runtime === undefined ? undefined : String(query.runtime);
    return this.http.request('GET', `/containers/${segment(id)}`, { query: { runtime }, ...callOptions(query) });
  }

  /**
   * `GET /containers/{id}/logs`: the lines the container wrote, oldest first, as an async iterator;
   * with `follow: true` it goes on with each new line until the container stops (or, with
   * `follow_restarts`, is deleted); stop it early with `break` or `signal`.
   *
   * ```ts
   * for await (const { time, stream, line } of client.api.containers.logs(id, { tail: 100, follow: true })) console.log(time, stream, line);
   * ```
   */
  async *logs(id: string, query: LogQuery & CallOptions = {}): AsyncGenerator<LogLine> {
    const { tail, since, until, stream, follow, follow_restarts } = query;
    const res = await this.http.open('GET', `/containers/${segment(id)}/logs`, { query: { tail, since, until, stream, follow, follow_restarts }, ...callOptions(query), accept: 'application/x-ndjson' });
    yield* ndjson<LogLine>(res);
  }

  /** `POST /containers/{id}/exec`: runs a command in the running container; answers its exit code and output once it has ended. */
  exec(id: string, body: ExecBody, options: CallOptions = {}): Promise<ApiResponse<ExecResult>> {
    return this.http.request('POST', `/containers/${segment(id)}/exec`, { body, ...callOptions(options) });
  }

  /** The same, with the output as it comes: `{ stream, data }` chunks, then `{ exit }` (or `{ error }`). */
  async *execStream(id: string, body: ExecBody, options: CallOptions = {}): AsyncGenerator<ExecEvent> {
    const res = await this.http.open('POST', `/containers/${segment(id)}/exec`, { body, ...callOptions(options), accept: 'application/x-ndjson' });
    yield* ndjson<ExecEvent>(res);
  }

  /**
   * Where a terminal session of the container is opened: the WebSocket URL and the subprotocols to
   * ask for (`hoody.terminal`, and the token as `hoody.token.<token>`, since a browser's WebSocket
   * cannot send Authorization). Binary frames carry the terminal's bytes; send
   * `{"type":"resize","cols","rows"}` as text; the server sends `{"type":"session","id"}` and, at
   * the end, `{"type":"exit","code"}`.
   *
   * With `index`, the client attaches to the container's shared session of that index (the kit's
   * `terminal-N`; opened when there is none, a shell): every client of it sees the same screen, a
   * late one gets the current screen first, and the session outlives its clients (until its shell
   * exits or the container stops). The server then also sends `{"type":"size","cols","rows"}` when
   * any client resizes it (the last resize wins), `{"type":"clients","index","clients"}` whenever a
   * client attaches or leaves, and a refusal as `{"type":"error","code","message"}`.
   * Who is attached: `runtime_info.terminals[].clients`.
   *
   * ```ts
   * const { url, protocols } = client.api.containers.terminal(id, { cols: 120, rows: 40 });
   * const ws = new WebSocket(url, protocols);
   * ```
   */
  terminal(id: string, opts: { cols?: number; rows?: number; command?: string[]; index?: number } = {}): { url: string; protocols: string[] } {
    const url = new URL(`${this.http.apiBase}/containers/${segment(id)}/terminal`);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (opts.index !== undefined) url.searchParams.set('index', String(opts.index));
    if (opts.cols) url.searchParams.set('cols', String(opts.cols));
    if (opts.rows) url.searchParams.set('rows', String(opts.rows));
    for (const word of opts.command ?? []) url.searchParams.append('command', word);
    return { url: url.toString(), protocols: ['hoody.terminal', ...(this.http.token ? [`hoody.token.${this.http.token}`] : [])] };
  }

  /**
   * Who is connected to the container now: its terminal sessions with the clients attached to each
   * (the kit's shared ones have an `index`) and its display's viewers, as `runtime_info` has them.
   *
   * ```ts
   * const { terminals, displays } = await client.api.containers.connected(id);
   * if (terminals.some((t) => t.clients.length > 0) || displays.connected_clients.length > 0) console.log('someone is working in it');
   * ```
   */
  async connected(id: string, options: CallOptions = {}): Promise<{ terminals: RuntimeInfo['terminals']; displays: RuntimeInfo['displays'] }> {
    const { data } = await this.get(id, { runtime: 'true', ...options });
    return { terminals: data.runtime_info.terminals, displays: data.runtime_info.displays };
  }

  /** `GET /containers/{id}/services`: its programs' URLs, whether each answers now, and for private ones an `open_url` for a browser. */
  services(id: string, options: CallOptions = {}): Promise<ApiResponse<{ services: Service[] }>> {
    return this.http.request('GET', `/containers/${segment(id)}/services`, callOptions(options));
  }

  /** `POST /containers`: answers once the container exists, and runs unless `autostart: false`. */
  create(spec: CreateContainerBody, options: CallOptions = {}): Promise<ApiResponse<Container>> {
    return this.http.request('POST', '/containers', { body: spec, ...callOptions(options) });
  }

  /** `PATCH /containers/{id}`: only while stopped or failed (else `INVALID_STATE`). `environment_vars` replaces the whole set. */
  update(id: string, patch: UpdateContainerBody, options: CallOptions = {}): Promise<ApiResponse<Container>> {
    return this.http.request('PATCH', `/containers/${segment(id)}`, { body: patch, ...callOptions(options) });
  }

  /** `DELETE /containers/{id}`: only while stopped or failed; its status logs stay readable. */
  delete(id: string, options: CallOptions = {}): Promise<ApiResponse<DeletedContainer>> {
    return this.http.request('DELETE', `/containers/${segment(id)}`, callOptions(options));
  }

  /**
   * `POST /containers/{id}/{op}`: start, stop, force-stop, restart, pause or resume. Answers when
   * the operation has finished; `body.reason` is kept in the status log, `body.timeout` is stop's
   * grace period in seconds.
   */
  manage(id: string, op: LifecycleOperation, body?: LifecycleBody, options: CallOptions = {}): Promise<ApiResponse<LifecycleResult>> {
    if (!(LIFECYCLE_OPERATIONS as readonly string[]).includes(op)) {
      return Promise.reject(new TypeError(`unknown operation "${op}": expected one of ${LIFECYCLE_OPERATIONS.join(', ')}`));
    }
    return this.http.request('POST', `/containers/${segment(id)}/${op}`, { body: bodyOf(body), ...callOptions(options) });
  }

  /**
   * `POST /containers/{id}/{op}?wait=false`: the same operation, answered at once (HTTP 202) with
   * `data.operation`, an OperationInfo that is usually still `running`. Follow it with
   * `client.api.operations.get(data.operation.id)`, `wait()` or `client.events.subscribe()`.
   * A refusal known at once (INVALID_TRANSITION, OPERATION_IN_PROGRESS, NOT_FOUND) still rejects.
   */
  manageAsync(id: string, op: LifecycleOperation, body?: LifecycleBody, options: CallOptions = {}): Promise<ApiResponse<AcceptedOperation>> {
    if (!(LIFECYCLE_OPERATIONS as readonly string[]).includes(op)) {
      return Promise.reject(new TypeError(`unknown operation "${op}": expected one of ${LIFECYCLE_OPERATIONS.join(', ')}`));
    }
    return this.http.request('POST', `/containers/${segment(id)}/${op}`, { query: { wait: false }, body: bodyOf(body), ...callOptions(options) });
  }

  /**
   * `GET /containers/{id}/wait?status=…&timeout=…`: the server answers as soon as the container
   * has `status` (at once if it already has it). Rejects with code `WAIT_TIMEOUT` (HTTP 408,
   * `details.status` is the status it has) after `timeout` seconds (default 30, at most 300).
   */
  wait(id: string, status: ContainerStatus, options: WaitOptions = {}): Promise<ApiResponse<Container>> {
    return this.http.request('GET', `/containers/${segment(id)}/wait`, { query: { status, timeout: options.timeout }, ...callOptions(options) });
  }

  /**
   * `POST /containers/bulk`: one lifecycle operation on the given `ids`, or on every container
   * matching `filter` (give exactly one). Answers when all are done, with one result per container
   * (`ok`, `status` or `error`) and a summary; one container failing does not make the call reject.
   */
  bulk(body: BulkBody, options: CallOptions = {}): Promise<ApiResponse<BulkResult>> {
    return this.http.request('POST', '/containers/bulk', { body, ...callOptions(options) });
  }

  /** `GET /containers/{id}/status-logs`: the audit trail, newest first unless `sort_order: 'asc'`. */
  statusLogs(id: string, query: StatusLogQuery = {}, options: CallOptions = {}): Promise<ApiResponse<StatusLogPage>> {
    return this.http.request('GET', `/containers/${segment(id)}/status-logs`, { query: { ...query }, ...callOptions(options) });
  }

  /**
   * `POST /containers/{id}/snapshots`: cuts a snapshot of the container's own files and its
   * configuration (HTTP 201, `data.snapshot`). Allowed while it is running (frozen only while the
   * snapshot is cut: `frozen_ms`), stopped or failed; paused is `INVALID_TRANSITION`. `body.alias`
   * is unique per container (else `SNAPSHOT_ALIAS_TAKEN`) and names the snapshot in later calls;
   * `body.reason` is kept with it.
   *
   * ```ts
   * const { data } = await client.api.containers.createSnapshot(id, { alias: 'pre-deploy-2025-11-09' });
   * ```
   */
  createSnapshot(id: string, body: CreateSnapshotBody = {}, options: CallOptions = {}): Promise<ApiResponse<SnapshotResult>> {
    return this.http.request('POST', `/containers/${segment(id)}/snapshots`, { body, ...callOptions(options) });
  }

  /** `GET /containers/{id}/snapshots`: the container's snapshots, oldest first. */
  listSnapshots(id: string, options: CallOptions = {}): Promise<ApiResponse<SnapshotList>> {
    return this.http.request('GET', `/containers/${segment(id)}/snapshots`, callOptions(options));
  }

  /** `GET /containers/{id}/snapshots/{snapshot}`: one snapshot, named by its id or its alias (`NOT_FOUND` if the container has none such). */
  getSnapshot(id: string, snapshot: string, options: CallOptions = {}): Promise<ApiResponse<SnapshotResult>> {
    return this.http.request('GET', `/containers/${segment(id)}/snapshots/${segment(snapshot)}`, callOptions(options));
  }

  /** `DELETE /containers/{id}/snapshots/{snapshot}` (id or alias): answers its id and the disk freed (`reclaimed_bytes`: the files no other snapshot holds). */
  deleteSnapshot(id: string, snapshot: string, options: CallOptions = {}): Promise<ApiResponse<SnapshotDeleted>> {
    return this.http.request('DELETE', `/containers/${segment(id)}/snapshots/${segment(snapshot)}`, callOptions(options));
  }

  /**
   * `POST /containers/{id}/snapshots/{snapshot}/restore` (id or alias): puts the container's files
   * and configuration (image, command, environment, resources, stop timeout, restart policy,
   * autostart, programs) back as they were in the snapshot, and answers the container. Only while
   * it is stopped or failed (else `INVALID_STATE`: stop it first); a container that is `autostart`
   * after the restore is started again, and answers `running`. `body.reason` is kept in the status log.
   */
  restoreSnapshot(id: string, snapshot: string, body: RestoreSnapshotBody = {}, options: CallOptions = {}): Promise<ApiResponse<Container>> {
    return this.http.request('POST', `/containers/${segment(id)}/snapshots/${segment(snapshot)}/restore`, { body, ...callOptions(options) });
  }

  /**
   * `POST /containers/{id}/copy`: a new container (HTTP 201) named `body.name`, with the source's
   * files (as they are now, or those of snapshot `body.snapshot_id`, an id or alias) and its
   * image, command, environment, resources, stop timeout, restart policy, autostart and programs;
   * not its published ports, and a new address; in project `body.project_id` (default: the
   * source's). It is left `stopped` unless `body.start`. The source may be running (frozen briefly),
   * stopped or failed; a name already taken is `NAME_TAKEN`.
   */
  copy(id: string, body: CopyContainerBody, options: CallOptions = {}): Promise<ApiResponse<Container>> {
    return this.http.request('POST', `/containers/${segment(id)}/copy`, { body, ...callOptions(options) });
  }

  /** `POST /containers/{id}/move`: a stopped container to another server (`server_id` or `server_name`), with its files, id, logs and aliases. */
  move(id: string, body: MoveContainerBody, options: CallOptions = {}): Promise<ApiResponse<Container>> {
    return this.http.request('POST', `/containers/${segment(id)}/move`, { body, ...callOptions(options) });
  }

  /**
   * Reads the container until its status is `status` (or one of several) and answers that read.
   * Rejects with code `TIMEOUT` after `timeoutMs`, and with the API's error if a read fails.
   */
  async waitForStatus(id: string, status: ContainerStatus | readonly ContainerStatus[], options: WaitForStatusOptions = {}): Promise<ApiResponse<Container>> {
    const wanted: readonly ContainerStatus[] = typeof status === 'string' ? [status] : status;
    const timeoutMs = options.timeoutMs ?? 60_000;
    const intervalMs = options.intervalMs ?? 500;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const current = await this.get(id, { signal: options.signal });
      if (wanted.includes(current.data.status)) return current;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new HoodyApiError({
          statusCode: 0,
          code: 'TIMEOUT',
          message: `container "${id}" did not become ${wanted.join(' or ')} within ${timeoutMs} ms (it is ${current.data.status})`,
          details: { container_id: id, wanted: [...wanted], status: current.data.status, timeout_ms: timeoutMs },
        });
      }
      await sleep(Math.min(intervalMs, left), options.signal);
    }
  }
}

/** Page size when following every page: the largest the API allows, for the fewest requests. */
const PAGE_WHEN_FOLLOWING = 1000;

/** Reads page after page until the last, and answers them as one. */
async function everyPage(get: (page: number) => Promise<ApiResponse<ContainerList>>): Promise<ApiResponse<ContainerList>> {
  const first = await get(1);
  const containers = [...first.data.containers];
  for (let page = 2; page <= first.data.pagination.totalPages; page++) {
    const next = await get(page);
    containers.push(...next.data.containers);
    if (next.data.containers.length === 0) break;
  }
  return { ...first, data: { containers, pagination: { total: containers.length, page: 1, limit: Math.max(1, containers.length), totalPages: containers.length ? 1 : 0 } } };
}

/** No body at all when there is nothing in it (curl and fetch without a body are accepted too). */
const bodyOf = (body: LifecycleBody | undefined): LifecycleBody | undefined => (body !== undefined && Object.keys(body).length > 0 ? body : undefined);

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = (): HoodyApiError => new HoodyApiError({ statusCode: 0, code: 'ABORTED', message: 'waiting was aborted', cause: signal?.reason });
    if (signal?.aborted) return reject(aborted());
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
