/**
 * `client.events`: follow `GET /events` (Server-Sent Events) with fetch and a stream reader, and
 * stay subscribed: a dropped connection (network error, end of stream, daemon restart) is opened
 * again with backoff, sending `Last-Event-ID`, so no transition is lost or handed out twice.
 */
import { HoodyApiError } from './errors.ts';
import { describeFailure, type Transport } from './transport.ts';
import type { EventFilter, HoodyEvent, OperationEvent, TransitionEvent } from './types.ts';

export interface SubscribeOptions {
  /** Called each time the stream is open (the first time and after every reconnection). */
  onOpen?: () => void;
  /** Called when the connection dropped and will be opened again in `retryInMs`. */
  onDisconnect?: (error: HoodyApiError, retryInMs: number) => void;
  /**
   * Called once when the subscription gives up: a HoodyApiError for a 4xx answer (UNAUTHORIZED,
   * NOT_FOUND, INVALID_INPUT…) or an answer that is not an event stream, or whatever `handler` threw.
   */
  onError?: (error: unknown) => void;
  /** First delay before reconnecting (default 100 ms); it doubles on each failed attempt… */
  minRetryMs?: number;
  /** …up to this (default 5000 ms). */
  maxRetryMs?: number;
  /** Reconnect when nothing (not even a heartbeat) arrived for this long (default 45 000 ms; 0: never). */
  idleTimeoutMs?: number;
  /** Ends the subscription, as `close()` does. */
  signal?: AbortSignal;
  /** Extra request headers. */
  headers?: Record<string, string>;
}

export interface EventSubscription {
  /** Stops for good: aborts the open request and any pending reconnection. */
  close(): void;
  /** The SSE id (transition cursor) of the last event received: what a reconnection resumes from. */
  readonly lastEventId: string | undefined;
  /** Resolves once stopped by `close()` (or the signal); rejects with the error that made it give up. */
  readonly done: Promise<void>;
}

export type EventHandler = (event: HoodyEvent) => void | Promise<void>;

/** Answers that will not change by asking again: the subscription gives up on them. */
const isFatal = (err: HoodyApiError): boolean =>
  (err.statusCode >= 400 && err.statusCode <= 499 && err.statusCode !== 408 && err.statusCode !== 429) || (err.code === 'INVALID_RESPONSE' && err.statusCode < 500);

/** Thrown out of a connection when the handler failed: stops the subscription with `cause`. */
class HandlerFailure {
  constructor(readonly cause: unknown) {}
}

export class EventsApi {
  constructor(private readonly http: Transport) {}

  /**
   * Opens `GET /events` with `filter` and calls `handler` with each event, in order (an async
   * handler is awaited before the next event). Reconnects by itself; see SubscribeOptions.
   *
   * ```ts
   * const sub = client.events.subscribe({ container_id: id }, (e) => {
   *   if (e.type === 'transition') console.log(e.log.from_status, '→', e.log.to_status);
   * });
   * // later
   * sub.close();
   * ```
   */
  subscribe(filter: EventFilter, handler: EventHandler, options: SubscribeOptions = {}): EventSubscription {
    const minRetry = Math.max(1, options.minRetryMs ?? 100);
    const maxRetry = Math.max(minRetry, options.maxRetryMs ?? 5000);
    const idleTimeout = options.idleTimeoutMs ?? 45_000;
    let lastEventId: string | undefined;
    // transitions at or below this cursor were handed out already (or precede `since`)
    let floor = filter.since ?? -1;
    let stopped = false;
    let current: AbortController | undefined;
    let wake: (() => void) | undefined;

    let settle!: { resolve: () => void; reject: (err: unknown) => void };
    const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    done.catch(() => undefined); // a rejection nobody awaits is not an unhandled one

    const stop = (error?: unknown): void => {
      if (stopped) return;
      stopped = true;
      options.signal?.removeEventListener('abort', onAbort);
      current?.abort();
      wake?.();
      if (error === undefined) return settle.resolve();
      try {
        options.onError?.(error);
      } finally {
        settle.reject(error);
      }
    };
    const onAbort = (): void => stop();
    if (options.signal?.aborted) stop();
    else options.signal?.addEventListener('abort', onAbort, { once: true });

    const query = (): Record<string, string | number | undefined> => ({
      container_id: filter.container_id,
      project_id: filter.project_id,
      types: filter.types?.length ? filter.types.join(',') : undefined,
      // once there is a Last-Event-ID it says where to resume
      since: lastEventId === undefined ? filter.since : undefined,
    });

    /** Moves the resume point forward (never back) to an id the server sent. */
    const advance = (id: string): void => {
      if (id === '') return;
      const cursor = /^\d+$/.test(id) ? Number(id) : undefined;
      const now = lastEventId !== undefined && /^\d+$/.test(lastEventId) ? Number(lastEventId) : undefined;
      if (cursor !== undefined && now !== undefined && cursor < now) return;
      lastEventId = id;
      if (cursor !== undefined) floor = Math.max(floor, cursor);
    };

    /** Hands one parsed event to the handler, unless it is a transition already handed out. */
    const deliver = async (message: SseMessage): Promise<void> => {
      if (message.event !== 'transition' && message.event !== 'operation' && message.event !== 'client') return advance(message.lastEventId);
      let data: unknown;
      try {
        data = JSON.parse(message.data);
      } catch {
        throw new HoodyApiError({ statusCode: 200, code: 'INVALID_RESPONSE', message: `GET /events sent a ${message.event} event whose data is not JSON: ${message.data.slice(0, 200)}` });
      }
      if (!isObject(data)) throw new HoodyApiError({ statusCode: 200, code: 'INVALID_RESPONSE', message: `GET /events sent a ${message.event} event whose data is not an object` });
      if (message.event === 'transition') {
        const cursor = typeof data.cursor === 'number' ? data.cursor : Number(message.lastEventId);
        if (Number.isFinite(cursor) && cursor <= floor) return;
        if (Number.isFinite(cursor)) floor = cursor;
      }
      advance(message.lastEventId);
      try {
        await handler({ ...data, type: message.event } as TransitionEvent | OperationEvent);
      } catch (err) {
        throw new HandlerFailure(err);
      }
    };

    /** One connection, until it ends or fails; `opened` is called once the stream is open. */
    const connect = async (opened: () => void, delivered: () => void): Promise<void> => {
      const controller = new AbortController();
      current = controller;
      // the daemon closes a stream's connection when the stream ends (revocation, shutdown): asking for
      // that up front keeps the client from sending a later request on it (browsers drop this header)
      const headers: Record<string, string> = { connection: 'close', ...options.headers };
      if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
      const res = await this.http.open('GET', '/events', { accept: 'text/event-stream', query: query(), headers, signal: controller.signal });
      const type = res.headers.get('content-type') ?? '';
      if (!type.startsWith('text/event-stream') || !res.body) {
        controller.abort();
        throw new HoodyApiError({ statusCode: res.status, code: 'INVALID_RESPONSE', message: `GET /events answered HTTP ${res.status} with ${type || 'no content type'}, not an event stream` });
      }
      opened();
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser();
      let idle: ReturnType<typeof setTimeout> | undefined;
      let wentIdle = false;
      const armIdle = (): void => {
        if (idleTimeout <= 0) return;
        clearTimeout(idle);
        idle = setTimeout(() => {
          wentIdle = true;
          controller.abort();
        }, idleTimeout);
      };
      armIdle();
      try {
        for (;;) {
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (err) {
            if (wentIdle) throw new HoodyApiError({ statusCode: 0, code: 'NETWORK_ERROR', message: `GET /events sent nothing for ${idleTimeout} ms`, cause: err });
            throw err;
          }
          if (chunk.done) return;
          armIdle();
          for (const message of parser.push(decoder.decode(chunk.value, { stream: true }))) {
            if (stopped) return;
            await deliver(message);
            delivered();
          }
          // a block with an id and no data moves the resume point too
          advance(parser.lastEventId);
        }
      } finally {
        clearTimeout(idle);
        controller.abort();
      }
    };

    const pause = (ms: number): Promise<void> =>
      new Promise((resolve) => {
        const timer = setTimeout(() => {
          wake = undefined;
          resolve();
        }, ms);
        wake = () => {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        };
      });

    const run = async (): Promise<void> => {
      let delay = minRetry;
      while (!stopped) {
        let openedAt: number | undefined;
        let gotEvent = false;
        let failure: HoodyApiError;
        try {
          await connect(
            () => {
              openedAt = Date.now();
              options.onOpen?.();
            },
            () => (gotEvent = true),
          );
          failure = new HoodyApiError({ statusCode: 0, code: 'NETWORK_ERROR', message: 'GET /events: the server ended the stream' });
        } catch (err) {
          if (stopped) return;
          if (err instanceof HandlerFailure) return stop(err.cause);
          if (err instanceof HoodyApiError && isFatal(err)) return stop(err);
          failure =
            err instanceof HoodyApiError ? err : new HoodyApiError({ statusCode: 0, code: 'NETWORK_ERROR', message: `GET /events: the stream broke: ${describeFailure(err)}`, cause: err });
        }
        if (stopped) return;
        // a connection that was useful starts the backoff over; one that failed at once doubles it
        if (gotEvent || (openedAt !== undefined && Date.now() - openedAt >= maxRetry)) delay = minRetry;
        options.onDisconnect?.(failure, delay);
        if (stopped) return; // onDisconnect may have called close()
        await pause(delay);
        delay = Math.min(delay * 2, maxRetry);
      }
    };
    void run().catch((err: unknown) => stop(err));

    return {
      close: () => stop(),
      get lastEventId() {
        return lastEventId;
      },
      done,
    };
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One dispatched SSE message: its event name, its data lines joined, and the last event id at that point. */
export interface SseMessage {
  event: string;
  data: string;
  lastEventId: string;
}

/**
 * The `text/event-stream` format as the HTML standard parses it: lines ending in LF, CRLF or
 * CR (even split across chunks), `field: value` with one optional space, comments starting
 * with `:`, `data` lines joined with LF, a blank line dispatching, and `id` kept across messages.
 */
export class SseParser {
  /** The last `id` field seen (kept across messages, as EventSource's lastEventId is). */
  lastEventId = '';
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private first = true;

  push(text: string): SseMessage[] {
    this.buffer += text;
    if (this.first && this.buffer.length > 0) {
      if (this.buffer.charCodeAt(0) === 0xfeff) this.buffer = this.buffer.slice(1);
      this.first = false;
    }
    const out: SseMessage[] = [];
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf('\r', start);
      const lf = this.buffer.indexOf('\n', start);
      const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
      if (end < 0) break;
      // a CR at the very end may be the first half of a CRLF: wait for the next chunk
      if (end === cr && end === this.buffer.length - 1) break;
      const line = this.buffer.slice(start, end);
      start = end + (end === cr && this.buffer[end + 1] === '\n' ? 2 : 1);
      const message = this.line(line);
      if (message) out.push(message);
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  private line(line: string): SseMessage | undefined {
    if (line === '') {
      const data = this.data;
      const event = this.event || 'message';
      this.data = [];
      this.event = '';
      return data.length ? { event, data: data.join('\n'), lastEventId: this.lastEventId } : undefined;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    return undefined;
  }
}
