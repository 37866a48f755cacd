/**
 * Every error code the API answers with, its HTTP status and what it means. The server maps
 * errors to HTTP through this table alone; docs/errors.md is checked against it by a test.
 */
export const ERROR_CODES = {
  INVALID_INPUT: { status: 400, description: 'The request body, query or path does not match the schema; `details.errors` lists what is wrong.' },
  INVALID_JSON: { status: 400, description: 'The request body is not valid JSON.' },
  INVALID_TRANSITION: { status: 400, description: 'The operation is not allowed in the container\'s current status; `details` names the status and the allowed operations.' },
  INVALID_STATE: { status: 400, description: 'The container (or its server) does not allow this now: it must be stopped or failed for this change (update, delete, move), or, to be recovered from a snapshot, its server must be offline and the snapshot kept on a server that answers.' },
  NETWORK_DISABLED: { status: 400, description: 'This server runs without a bridge (`HOODY_NETWORK=none`): `network: "bridge"` and published ports are refused.' },
  RESERVED_NAME: { status: 400, description: 'A user or token may not be named like a system actor (`system`, `autostart`, `restart-policy`), `admin`, or like a user id (`user_…`), whatever the case; `details.name` is the name refused.' },
  UNAUTHORIZED: { status: 401, description: 'No bearer token, or a token that does not exist (or a request marked as sent on by another daemon whose cluster signature does not hold).' },
  FORBIDDEN: { status: 403, description: 'The token may not do this (read-only token, or an admin-only endpoint).' },
  QUOTA_EXCEEDED: {
    status: 403,
    description: 'Past a limit of this server, and nothing was changed: a resource above its maximum (`details.resource`, `details.requested`, `details.max`), or a user\'s cap on containers, projects or tokens, or a container\'s on snapshots (`details.resource` is `containers`, `projects`, `tokens` or `snapshots`, `details.count`, `details.max`).',
  },
  IMAGE_NOT_FOUND: { status: 404, description: 'No such image on this server (and none was pulled: `pull: "never"`, or a GET/DELETE/tag by name or id); `details.container_image` (or `details.image`) names it.' },
  NOT_FOUND: { status: 404, description: 'No such resource visible to this token (another user\'s resources are not found either).' },
  WAIT_TIMEOUT: { status: 408, description: 'GET /containers/{id}/wait: the status was not reached within the timeout; `details.status` is the status it has.' },
  OPERATION_IN_PROGRESS: { status: 409, description: 'Another operation on this container is in flight (or it is being created or copied); `details.current_operation` says which.' },
  WRONG_SERVER: { status: 409, description: 'The container runs on another server of this database, and this daemon cannot send the request on to it (no `HOODY_CLUSTER_SECRET` here, or no advertised URL there): operate it through that server\'s daemon (`details.server_id`).' },
  SERVER_IN_MAINTENANCE: { status: 409, description: 'The server asked for (`details.server_id`) is in maintenance: it takes no new containers, copies or moves until an admin ends its maintenance.' },
  IDEMPOTENCY_KEY_IN_PROGRESS: { status: 409, description: 'A request with this Idempotency-Key is still being answered; retry after it finishes.' },
  PRECONDITION_FAILED: { status: 412, description: 'The If-Match ETag is not the container\'s current one: it changed since it was read (`details.version`).' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, description: 'This Idempotency-Key was used before for a different request (another method, path or body).' },
  IMAGE_IN_USE: { status: 409, description: 'The image is used by containers of this server (`details.container_ids`); delete them first, or pass `force=true` (refused even then while one of them runs: `details.running`).' },
  IMAGE_AMBIGUOUS: { status: 409, description: 'An image id prefix (12+ hex digits) that the ids of several images begin with; `details.matches` lists their ids. Give more of the id, or the full id.' },
  PORT_IN_USE: {
    status: 409,
    description: 'A host port asked for is published by another container of this server, or bound by a process of the host (`details.host_port`, `details.protocol`, `details.held_by`: `container` or `host`). Nothing was changed.',
  },
  PORT_POOL_EXHAUSTED: { status: 409, description: 'No free host port is left in 20000-32767 to publish a port that names none (`details.protocol`). Nothing was changed.' },
  ADDRESS_POOL_EXHAUSTED: { status: 409, description: 'Every address of the server\'s subnet is given to a container (`details.subnet`). Nothing was changed.' },
  NAME_TAKEN: { status: 409, description: 'A container with this name already exists in the project; `details.container_id` and `details.status` name it.' },
  SERVICE_NAME_TAKEN: {
    status: 409,
    description: 'A program\'s host label (`{project}-{container}-{program}-{index}`) is already served by another container of this server (`details.label`); rename the container or the program. Nothing was changed.',
  },
  SNAPSHOT_ALIAS_TAKEN: { status: 409, description: 'The container already has a snapshot with this alias (`details.alias`, `details.snapshot_id`); aliases are unique per container.' },
  ALIAS_TAKEN: { status: 409, description: 'A proxy alias of this name exists (`details.alias`); aliases are unique. Delete it first to point the name elsewhere.' },
  EXEC_UNSUPPORTED: {
    status: 409,
    description: 'The container cannot be entered by exec or a terminal session as it runs now: it has a network and was started by an earlier version of Hoody (runc 1.1 enters its user namespace first and is then refused its network namespace). Restart it and exec works.',
  },
  TOO_MANY_REQUESTS: { status: 429, description: 'The user already holds as many of one kind of long-lived request as this daemon allows: open event streams (GET /events), waits (GET /containers/{id}/wait), followed logs, running execs, terminal sessions or WebSocket connections to private programs through the router (`details.kind`: `stream`, `wait`, `follow`, `exec`, `terminal`, `tunnel`; `details.limit`); close one first.' },
  PAYLOAD_TOO_LARGE: { status: 413, description: 'The request body is larger than the server accepts.' },
  IMAGE_TOO_LARGE: {
    status: 413,
    description:
      'A pull or import over a limit of this server, refused before it was stored: `details.resource` says which (`import-bytes`: the uploaded archive; `layers`: the layers of one image; `blob-bytes`, `image-bytes`: the size of one layer blob, or all of an image\'s, as its manifest declares; `unpacked-bytes`, `entries`: what its layers unpack to, counted as they unpack; `manifest-bytes`: a manifest, index or config over its fixed cap), `details.max` the limit, `details.requested` the amount when known, `details.setting` the setting that raises it; a pull adds `details.reference`. Nothing of it is kept.',
  },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'The request body is not JSON.' },
  RUNTIME_ERROR: { status: 500, description: 'The container runtime failed; the container was left in an honest status and the failure is in its status log (`metadata.error`). From `POST /containers`, the container exists (its start failed): `details.container_id` and `details.status` (`failed`) say which.' },
  IMAGE_PULL_FAILED: {
    status: 502,
    description: 'The image could not be pulled: `details.kind` is the registry\'s error kind (`unauthorized`, `denied`, `not-found`, `digest-mismatch`, `unreachable`, `platform`, `unsupported`, or `failed`; a manifest over a limit is `IMAGE_TOO_LARGE` instead), `details.registry_message` its text, `details.reference` the reference. Nothing was created.',
  },
  INTERNAL_ERROR: { status: 500, description: 'An unexpected error; nothing internal is disclosed.' },
  CONTAINER_NOT_RUNNING: {
    status: 503,
    description: 'Router only: the container behind this service URL or alias is not running (stopped, paused, starting, stopping, failed); `details.status` says which. Answered with `Retry-After`, as JSON, or as a small HTML page when the client accepts `text/html`.',
  },
  PROGRAM_NOT_ANSWERING: {
    status: 503,
    description: 'Router only: the container runs but nothing answered on the program\'s port (`details.port`), or the program is no longer declared, or the container has no address the router can reach (network `none`). Answered with `Retry-After`.',
  },
  ALIAS_NOT_BOUND: {
    status: 503,
    description: 'Router only: this alias was deleted within the last 30 seconds (it is being pointed elsewhere: delete, then create). Answered with `Retry-After` instead of 404, so clients retry through a blue-green switch.',
  },
  SERVER_OFFLINE: {
    status: 503,
    description: 'The container\'s server (or the server asked for) is offline: its daemon has not written a heartbeat for the cluster\'s offline time, or could not be reached (`details.server_id`, `details.server_name`, `details.last_seen_at`). Nothing was done; the container is shown with its last known status and `server_status: "offline"`.',
  },
  FORWARD_FAILED: {
    status: 502,
    description: 'The request was sent on to the container\'s server, whose daemon did not answer it (it went away meanwhile): the operation may or may not have been carried out. Read the container\'s status logs, or retry with the same Idempotency-Key.',
  },
  SERVICE_UNAVAILABLE: { status: 503, description: 'The daemon is shutting down (or, for a pull or an import, has no image store).' },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The error envelope every failure is answered with. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}
