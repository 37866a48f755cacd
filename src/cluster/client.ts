/**
 * Requests from this daemon to another server's daemon: signed with the cluster secret, over a
 * keep-alive pool, the answer streamed back as it comes. A daemon that cannot be reached (refused,
 * no route, no answer to the connect) is told apart from one that went away after the request was
 * sent: only the first certainly did nothing.
 */
import type { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { ERROR_CODES, type ErrorCode } from '../api/error-codes.ts';
import { HoodyError } from '../core/errors.ts';
import { FORWARDED_BY, SIGNATURE, signForward } from './signature.ts';

export interface ClusterTarget {
  id: string;
  name: string;
  advertise_url?: string | null;
}

export interface ForwardRequest {
  method: string;
  /** Path and query, as the client sent them (`/api/v1/containers/…`). */
  url: string;
  headers: Record<string, string>;
  body?: string | Buffer | Readable | undefined;
  signal?: AbortSignal | undefined;
}

export interface ForwardAnswer {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

/** The request never reached the other daemon: nothing was done there. */
export class UnreachableError extends Error {
  constructor(
    readonly server: ClusterTarget,
    override readonly cause: unknown,
  ) {
    super(`server "${server.name}" could not be reached at ${server.advertise_url ?? '(no address)'}: ${(cause as { code?: string })?.code ?? (cause as Error)?.message ?? String(cause)}`);
    this.name = 'UnreachableError';
  }
}

/** Connect errors: the request was not sent. */
const NOT_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EADDRNOTAVAIL']);

export class ClusterClient {
  private readonly agent: Agent;

  constructor(
    private readonly self: { id: string },
    private readonly secret: string,
    opts: { connectTimeoutMs?: number } = {},
  ) {
    // no header or body deadline: a forwarded stop waits out its timeout, a followed log never ends;
    // TCP keep-alive finds a peer that vanished
    // no cap on connections per daemon: forwarded log follows and execs hold theirs for as long as
    // they run, and must never queue a stop behind them (the owner caps them per user)
    this.agent = new Agent({ keepAliveTimeout: 10_000, headersTimeout: 0, bodyTimeout: 0, connect: { timeout: opts.connectTimeoutMs ?? 3_000, keepAlive: true, keepAliveInitialDelay: 10_000 } });
  }

  /** Sends `req` to `target`'s daemon with this daemon's signature; throws UnreachableError when it was not sent. */
  async send(target: ClusterTarget, req: ForwardRequest): Promise<ForwardAnswer> {
    if (!target.advertise_url) throw new UnreachableError(target, new Error('it has no advertised address'));
    // a path of that daemon, never another host
    if (!req.url.startsWith('/') || req.url.startsWith('//')) throw new Error(`not a path: ${req.url}`);
    const origin = new URL(target.advertise_url).origin;
    const headers = { ...req.headers, [FORWARDED_BY]: this.self.id, [SIGNATURE]: signForward(this.secret, this.self.id, req.method, req.url, req.headers.authorization) };
    try {
      const res = await request(`${origin}${req.url}`, {
        dispatcher: this.agent,
        method: req.method as 'GET',
        headers,
        body: req.body ?? null,
        ...(req.signal ? { signal: req.signal } : {}),
      });
      return { statusCode: res.statusCode, headers: res.headers, body: res.body };
    } catch (err) {
      if (NOT_SENT.has((err as { code?: string }).code ?? '')) throw new UnreachableError(target, err);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.agent.destroy().catch(() => undefined);
  }
}

/** The whole body of an answer. */
export async function bodyOf(answer: ForwardAnswer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of answer.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A JSON body, undefined when it is not JSON. */
export function parsed<T>(bytes: Buffer): T | undefined {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * The error another daemon's refusal stands for: its own code and details when it answered in the
 * error envelope, FORWARD_FAILED otherwise; `say` words the message.
 */
export function refusalOf(answer: { statusCode: number }, bytes: Buffer, say: (message: string) => string = (m) => m): HoodyError {
  const body = parsed<{ code?: string; message?: string; details?: Record<string, unknown> }>(bytes) ?? {};
  const code = body.code && body.code in ERROR_CODES ? (body.code as ErrorCode) : 'FORWARD_FAILED';
  return new HoodyError(code, say(body.message ?? `answer ${answer.statusCode}`), body.details);
}
