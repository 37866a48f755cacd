/** What the routes that stream an answer share: NDJSON negotiation, the client's hang-up, writing at the client's pace. */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';

export const NDJSON = 'application/x-ndjson';

/** Whether an Accept header asks for NDJSON. */
export const acceptsNdjson = (accept: string | undefined): boolean => accept !== undefined && accept.split(',').some((part) => part.trim().split(';')[0] === NDJSON);

/**
 * Sends a streamed answer with its status and headers at once. Fastify leaves them for the first
 * chunk, so a client of a quiet command or log would have no answer at all until it printed.
 */
export function sendStreamNow(reply: FastifyReply, out: Readable): FastifyReply {
  reply.raw.once('pipe', () => reply.raw.flushHeaders());
  return reply.send(out);
}

/** The reason work done for a client is abandoned when that client hangs up: nobody is left to answer. */
export class ClientGoneError extends Error {
  constructor() {
    super('the client went away');
    this.name = 'ClientGoneError';
  }
}

/** Aborted (with a ClientGoneError) when the client goes away before its answer was sent. */
export function abortOnHangUp(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  // gone already (while the request was authenticated, parsed or checked): 'close' has been and gone
  if (reply.raw.destroyed || reply.request.raw.socket?.destroyed) controller.abort(new ClientGoneError());
  else {
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) controller.abort(new ClientGoneError());
    });
  }
  return controller.signal;
}

/** Writes, then waits while the stream is full (the reader's pace: a slow one holds the writer, not the daemon's memory), or until `signal` aborts. */
export async function writeAtPace(out: Writable, text: string, signal: AbortSignal): Promise<void> {
  if (!out.write(text)) await once(out, 'drain', { signal }).catch(() => undefined);
}

/** The host of an Origin header (lower case), undefined when it is not a URL. */
export function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return undefined;
  }
}
