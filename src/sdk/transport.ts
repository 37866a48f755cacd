/** JSON over fetch: builds the URL, sends the bearer token, and turns every failure into a HoodyApiError. */
import type { ErrorBody } from '../api/error-codes.ts';
import { HoodyApiError } from './errors.ts';
import type { ApiResponse } from './types.ts';

/** The subset of `fetch` the client uses; pass your own to add retries, logging or a proxy. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export type QueryValue = string | number | boolean | undefined;

export interface CallOptions {
  /** Cancels the request; the call then rejects with code `ABORTED`. */
  signal?: AbortSignal;
  /** Extra request headers, e.g. `Idempotency-Key` or `If-Match`. */
  headers?: Record<string, string>;
}

export interface RequestSpec extends CallOptions {
  query?: Record<string, QueryValue>;
  body?: unknown;
}

export const API_PATH = '/api/v1';

/** `http://host:8080`, `http://host:8080/` and `http://host:8080/api/v1` all name the same API. */
export function apiBaseOf(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TypeError(`baseUrl "${baseUrl}" is not a valid URL (expected something like http://127.0.0.1:8080)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`baseUrl "${baseUrl}" must be an http or https URL`);
  const path = url.pathname.replace(/\/+$/, '');
  url.pathname = path.endsWith(API_PATH) ? path : `${path}${API_PATH}`;
  url.search = '';
  url.hash = '';
  return url.toString().replace(/\/+$/, '');
}

/** One path segment, escaped so an id can never change the route. */
export const segment = (value: string): string => encodeURIComponent(value);

export class Transport {
  readonly apiBase: string;
  private readonly fetchImpl: FetchLike;

  constructor(
    baseUrl: string,
    private readonly token: string | undefined,
    fetchImpl?: FetchLike,
  ) {
    this.apiBase = apiBaseOf(baseUrl);
    const fallback = typeof globalThis.fetch === 'function' ? globalThis.fetch.bind(globalThis) : undefined;
    const chosen = fetchImpl ?? fallback;
    if (!chosen) throw new TypeError('no fetch implementation: pass one as the `fetch` option');
    this.fetchImpl = chosen;
  }

  async request<T>(method: string, path: string, spec: RequestSpec = {}): Promise<ApiResponse<T>> {
    const url = new URL(`${this.apiBase}${path}`);
    for (const [key, value] of Object.entries(spec.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json', ...spec.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (spec.body !== undefined) headers['content-type'] = 'application/json';
    const what = `${method} ${url.pathname}`;

    let status: number;
    let text: string;
    try {
      const res = await this.fetchImpl(url.toString(), {
        method,
        headers,
        body: spec.body === undefined ? undefined : JSON.stringify(spec.body),
        signal: spec.signal,
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      if (spec.signal?.aborted) {
        throw new HoodyApiError({ statusCode: 0, code: 'ABORTED', message: `${what} was aborted`, cause: spec.signal.reason ?? err });
      }
      throw new HoodyApiError({ statusCode: 0, code: 'NETWORK_ERROR', message: `cannot reach ${this.apiBase}: ${describeFailure(err)}`, cause: err });
    }

    const parsed = parseJson(text);
    if (status < 200 || status > 299) {
      if (isErrorBody(parsed)) {
        throw new HoodyApiError({ statusCode: parsed.statusCode || status, code: parsed.code, message: parsed.message, details: parsed.details, error: parsed.error });
      }
      throw new HoodyApiError({ statusCode: status, code: 'INVALID_RESPONSE', message: `${what} answered HTTP ${status} without an error envelope: ${text.slice(0, 200)}` });
    }
    if (!isEnvelope(parsed)) {
      throw new HoodyApiError({ statusCode: status, code: 'INVALID_RESPONSE', message: `${what} answered HTTP ${status} without the {statusCode, message, data} envelope` });
    }
    return parsed as ApiResponse<T>;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function isErrorBody(v: unknown): v is ErrorBody {
  return isObject(v) && typeof v.code === 'string' && typeof v.message === 'string';
}

function isEnvelope(v: unknown): v is ApiResponse<unknown> {
  return isObject(v) && typeof v.statusCode === 'number' && typeof v.message === 'string' && 'data' in v;
}

/** fetch's own message is "fetch failed"; the reason (ECONNREFUSED, a DNS failure) is in its cause. */
function describeFailure(err: unknown): string {
  const cause = isObject(err) ? err.cause : undefined;
  for (const e of [cause, err]) {
    if (!isObject(e)) continue;
    if (typeof e.message === 'string' && e.message !== '') return e.message;
    if (typeof e.code === 'string') return e.code;
  }
  return String(err);
}

/** The per-call settings a method passes on (and nothing else it was given). */
export const callOptions = (o: CallOptions): CallOptions => ({ signal: o.signal, headers: o.headers });
