/**
 * Request ids: a caller's own `x-request-id` is kept when it is sane (so one id follows a request
 * through proxies and clients), else one is made. Every log line of the request carries it, and
 * the answer echoes it.
 */
import type { IncomingMessage } from 'node:http';
import { randomBytes } from 'node:crypto';

/** The header a request id comes in and goes back out in. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** Up to 128 characters a log reader and a shell can take as they are. */
const SANE_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** Made ids: a random prefix per process and a counter, unique across restarts without a random read per request. */
const prefix = randomBytes(4).toString('hex');
let counter = 0;

/** The caller's id when it is sane, else a new one. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER];
  if (typeof given === 'string' && SANE_ID.test(given)) return given;
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${prefix}-${counter.toString(36)}`;
}
