/**
 * HTTP plumbing of the registry client: which scheme a registry gets, bounded retries with
 * backoff on fetch, and bodies read with a size cap.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isIP } from 'node:net';
import { RegistryError, isAbortError } from './registry-error.ts';
import { registryHost } from './reference.ts';

/** The host part of `host[:port]` (brackets kept off an IPv6 literal). */
export function hostOf(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort.slice(1, hostPort.indexOf(']'));
  const colon = hostPort.lastIndexOf(':');
  return colon >= 0 ? hostPort.slice(0, colon) : hostPort;
}

/** Whether a host name is the loopback (`localhost`, `127.0.0.0/8`, `::1`). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1' || h === '0:0:0:0:0:0:0:1';
}

/** `http://` for loopback or listed registries, `https://` for every other; `insecure` holds `host[:port]` entries. */
export function registryBaseUrl(domain: string, insecure: readonly string[] = []): string {
  const host = registryHost(domain);
  const plain = isLoopbackHost(hostOf(host)) || insecure.some((i) => i.toLowerCase() === host.toLowerCase() || i.toLowerCase() === domain.toLowerCase());
  return `${plain ? 'http' : 'https'}://${host}`;
}

/** Whether a URL's scheme is allowed for talking to (and sending credentials to) its host. */
export function schemeAllowed(url: URL, insecure: readonly string[] = []): boolean {
  if (url.protocol === 'https:') return true;
  if (url.protocol !== 'http:') return false;
  return isLoopbackHost(url.hostname) || insecure.some((i) => i.toLowerCase() === url.host.toLowerCase());
}

/** How retries back off. */
export interface RetryPolicy {
  /** Further attempts after the first (default 3). */
  retries: number;
  /** The first wait; doubled each time (default 250 ms). */
  baseDelayMs: number;
  /** The longest single wait, also the cap on Retry-After (default 10 s). */
  maxDelayMs: number;
}

/** Three retries from a quarter second, doubling, none longer than ten seconds. */
export const DEFAULT_RETRY: RetryPolicy = { retries: 3, baseDelayMs: 250, maxDelayMs: 10_000 };

/** Whether a status is worth another try: 429 and 5xx. */
export function retryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599);
}

/**
 * fetch with bounded retries on network errors, 429 and 5xx (never other 4xx); the last
 * retryable answer is returned as it is, a network failure becomes 'unreachable'.
 */
export async function fetchWithRetry(fetchImpl: typeof fetch, url: string, init: RequestInit, policy: RetryPolicy, what: string, signal?: AbortSignal): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    signal?.throwIfAborted();
    let res: Response;
    try {
      res = await fetchImpl(url, { ...init, signal });
    } catch (err) {
      if (isAbortError(err) || signal?.aborted) throw signal?.reason ?? err;
      if (attempt >= policy.retries) throw new RegistryError('unreachable', `${what}: ${describeNetworkError(err)}`, { cause: err });
      await sleep(backoff(policy, attempt), undefined, { signal });
      continue;
    }
    if (!retryableStatus(res.status) || attempt >= policy.retries) return res;
    const wait = retryAfterMs(res.headers.get('retry-after')) ?? backoff(policy, attempt);
    await res.body?.cancel().catch(() => {});
    await sleep(Math.min(wait, policy.maxDelayMs), undefined, { signal });
  }
}

/** The most redirects one request follows. */
export const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Headers that carry credentials: sent to the trusted origin only. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);

/** Where a request may send its credentials and which plain-http hosts it may reach. */
export interface FollowPolicy {
  /** The origin (`scheme://host[:port]`) the credential headers are for; every other hop goes without them. */
  credentialOrigin: string;
  /** `host[:port]` of registries reachable over plain http besides loopback ones. */
  insecure: readonly string[];
}

/**
 * fetchWithRetry with redirects followed here, not by fetch: at most MAX_REDIRECTS hops, never
 * from https to http, plain http only to loopback or listed hosts, and the credential headers
 * (Authorization, Cookie) only on hops to `credentialOrigin`. A 303 (or a 301/302 of a POST)
 * goes on as a GET without the body, as browsers do.
 */
export async function fetchFollowing(fetchImpl: typeof fetch, url: string, init: RequestInit & { headers?: Record<string, string> }, policy: RetryPolicy, follow: FollowPolicy, what: string, signal?: AbortSignal): Promise<Response> {
  let current = new URL(url);
  let request = init;
  for (let hop = 0; ; hop++) {
    const headers = current.origin === follow.credentialOrigin ? (request.headers ?? {}) : withoutCredentials(request.headers ?? {});
    const res = await fetchWithRetry(fetchImpl, current.href, { ...request, headers, redirect: 'manual' }, policy, what, signal);
    if (!REDIRECTS.has(res.status)) return res;
    const location = res.headers.get('location');
    await res.body?.cancel().catch(() => {});
    if (!location) throw new RegistryError('unreachable', `${what}: ${current.host} answered ${res.status} without a Location`, { status: res.status });
    if (hop >= MAX_REDIRECTS) throw new RegistryError('unreachable', `${what}: more than ${MAX_REDIRECTS} redirects (last to ${current.host})`, { status: res.status });
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw new RegistryError('unreachable', `${what}: ${current.host} redirected to "${location}", which is not a URL`, { status: res.status });
    }
    if (current.protocol === 'https:' && next.protocol !== 'https:') throw new RegistryError('unsupported', `${what}: ${current.host} redirected from https to ${next.protocol.replace(/:$/, '')} (${next.host}): refused`, { status: res.status });
    if (!schemeAllowed(next, follow.insecure)) throw new RegistryError('unsupported', `${what}: ${current.host} redirected to ${next.protocol}//${next.host}: plain http only for loopback or insecure registries`, { status: res.status });
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && (request.method ?? 'GET') === 'POST')) {
      const { body: _body, ...rest } = request;
      request = { ...rest, method: 'GET', headers: Object.fromEntries(Object.entries(rest.headers ?? {}).filter(([k]) => k.toLowerCase() !== 'content-type')) };
    }
    current = next;
  }
}

function withoutCredentials(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !CREDENTIAL_HEADERS.has(k.toLowerCase())));
}

function backoff(policy: RetryPolicy, attempt: number): number {
  // jitter so parallel layer downloads do not retry in lock step
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt) * (0.75 + Math.random() * 0.5);
}

function retryAfterMs(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** A short text for a fetch failure (undici hides the reason in `cause`). */
export function describeNetworkError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return (cause?.code ?? cause?.message ?? (err as Error).message ?? String(err)).toString();
}

/** Reads a body of at most `max` bytes; a longer one is 'too-large'. */
export async function readCapped(res: Response, max: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > max) {
    await res.body?.cancel().catch(() => {});
    throw new RegistryError('too-large', `${what} is ${declared} bytes, more than the ${max} allowed`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  if (res.body) {
    try {
      for await (const chunk of res.body) {
        total += chunk.byteLength;
        if (total > max) throw new RegistryError('too-large', `${what} is more than the ${max} bytes allowed`);
        chunks.push(Buffer.from(chunk));
      }
    } catch (err) {
      if (err instanceof RegistryError || isAbortError(err)) throw err;
      throw new RegistryError('unreachable', `${what}: the answer was cut: ${describeNetworkError(err)}`, { cause: err });
    }
  }
  return Buffer.concat(chunks, total);
}
