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
  /** A body sent as it is (an archive upload), with its content type. */
  raw?: { body: Blob | ReadableStream<Uint8Array> | Uint8Array; contentType: string };
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
    readonly token: string | undefined,
    fetchImpl?: FetchLike,
  ) {
    this.apiBase = apiBaseOf(baseUrl);
    const fallback = typeof globalThis.fetch === 'function' ? globalThis.fetch.bind(globalThis) : undefined;
    const chosen = fetchImpl ?? fallback;
    if (!chosen) throw new TypeError('no fetch implementation: pass one as the `fetch` option');
    this.fetchImpl = chosen;
  }

  async request<T>(method: string, path: string, spec: RequestSpec = {}): Promise<ApiResponse<T>> {
    const { res, what } = await this.send(method, path, spec, 'application/json');
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw this.fetchFailure(err, spec.signal, what);
    }
    const parsed = parseJson(text);
    if (res.status < 200 || res.status > 299) throw errorOf(res.status, text, parsed, what);
    if (!isEnvelope(parsed)) {
      throw new HoodyApiError({ statusCode: res.status, code: 'INVALID_RESPONSE', message: `${what} answered HTTP ${res.status} without the {statusCode, message, data} envelope` });
    }
    return parsed as ApiResponse<T>;
  }

  /**
   * Sends a request and answers the Response unread, for a streamed body (`GET /events`).
   * A non-2xx answer is read and thrown as a HoodyApiError, as `request` does.
   */
  async open(method: string, path: string, spec: RequestSpec & { accept: string }): Promise<Response> {
    const { res, what } = await this.send(method, path, spec, spec.accept);
    if (res.status >= 200 && res.status <= 299) return res;
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw this.fetchFailure(err, spec.signal, what);
    }
    throw errorOf(res.status, text, parseJson(text), what);
  }

  private async send(method: string, path: string, spec: RequestSpec, accept: string): Promise<{ res: Response; what: string }> {
    const url = new URL(`${this.apiBase}${path}`);
    for (const [key, value] of Object.entries(spec.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept, ...spec.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (spec.body !== undefined) headers['content-type'] = 'application/json';
    if (spec.raw) headers['content-type'] = spec.raw.contentType;
    const what = `${method} ${url.pathname}`;
    const body = spec.raw ? (spec.raw.body as BodyInit) : spec.body === undefined ? undefined : JSON.stringify(spec.body);
    try {
      const res = await this.fetchImpl(url.toString(), {
        method,
        headers,
        body,
        signal: spec.signal,
        // a stream is sent as it is read (fetch wants this said)
        ...(typeof ReadableStream !== 'undefined' && spec.raw?.body instanceof ReadableStream ? { duplex: 'half' } : {}),
      } as RequestInit);
      return { res, what };
    } catch (err) {
      throw this.fetchFailure(err, spec.signal, what);
    }
  }

  /** A failure before (or while) the answer arrived: ABORTED when the signal fired, else NETWORK_ERROR. */
  private fetchFailure(err: unknown, signal: AbortSignal | undefined, what: string): HoodyApiError {
    if (signal?.aborted) {
      return new HoodyApiError({ statusCode: 0, code: 'ABORTED', message: `${what} was aborted`, cause: signal.reason ?? err });
    }
    return new HoodyApiError({ statusCode: 0, code: 'NETWORK_ERROR', message: `cannot reach ${this.apiBase}: ${describeFailure(err)}`, cause: err });
  }
}

/** The HoodyApiError for a non-2xx answer: the server's error envelope, or INVALID_RESPONSE. */
function errorOf(status: number, text: string, parsed: unknown, what: string): HoodyApiError {
  if (isErrorBody(parsed)) {
    return new HoodyApiError({ statusCode: parsed.statusCode || status, code: parsed.code, message: parsed.message, details: parsed.details, error: parsed.error });
  }
  return new HoodyApiError({ statusCode: status, code: 'INVALID_RESPONSE', message: `${what} answered HTTP ${status} without an error envelope: ${text.slice(0, 200)}` });
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
export function describeFailure(err: unknown): string {
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

/** The JSON objects of an NDJSON body, one per line, as they arrive. */
export async function* ndjson<T>(res: Response): AsyncGenerator<T> {
  if (!res.body) return;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffered += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line) yield JSON.parse(line) as T;
      }
      if (done) break;
    }
    if (buffered.trim()) yield JSON.parse(buffered) as T;
  } finally {
    // a reader that stops early lets the connection go
    await reader.cancel().catch(() => undefined);
  }
}
