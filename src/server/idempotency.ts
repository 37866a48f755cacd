/**
 * Safe retries: a POST carrying `Idempotency-Key` is carried out once per caller and key; a retry
 * gets the first answer again (with `Idempotent-Replayed: true`) and changes nothing.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Store } from '../store/store.ts';
import type { ServerIdentity } from '../core/container-service.ts';
import { HoodyError } from '../core/errors.ts';
import { nowIso } from '../core/ids.ts';

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const HEADER = 'idempotency-key';

declare module 'fastify' {
  interface FastifyRequest {
    idempotency?: { scope: string; key: string };
  }
}

/** Answers that say the request was not carried out, so a retry with the same key should run it. */
const notCarriedOut = (status: number): boolean => status === 409 || status === 429 || status >= 503;

/**
 * Adds the hooks to the POST routes of a scope whose requests are authenticated (request.actor is set). A key in
 * flight is marked with this server's id, so that at its next start it can release the keys whose
 * requests a crash cut (and only those: other daemons of the database may be answering theirs).
 */
export function installIdempotency(api: FastifyInstance, store: Store, server: ServerIdentity): void {
  const preHandler = async (request: FastifyRequest, reply: FastifyReply) => {
    const key = request.headers[HEADER];
    if (request.method !== 'POST' || key === undefined) return;
    // routes whose answer must not be kept (a token's secret is shown once) opt out
    if ((request.routeOptions.config as { idempotency?: boolean }).idempotency === false) {
      throw new HoodyError('INVALID_INPUT', `Idempotency-Key is not accepted on ${request.routeOptions.url}: its answer holds a secret that is shown once`);
    }
    if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
      throw new HoodyError('INVALID_INPUT', 'Idempotency-Key must be 1 to 255 visible ASCII characters');
    }
    const scope = request.actor.userId;
    const requestHash = createHash('sha256')
      .update(`${request.method} ${request.url}\n${JSON.stringify(request.body ?? null)}`)
      .digest('hex');
    const claim = await store.claimIdempotencyKey({ scope, key, request_hash: requestHash, status_code: null, response_body: null, server_id: server.id, created_at: nowIso() });
    if (claim.claimed) {
      request.idempotency = { scope, key };
      return;
    }
    const { existing } = claim;
    if (existing.request_hash !== requestHash) {
      throw new HoodyError('IDEMPOTENCY_KEY_REUSED', `Idempotency-Key "${key}" was used for a different request`);
    }
    if (existing.status_code === null || existing.response_body === null) {
      throw new HoodyError('IDEMPOTENCY_KEY_IN_PROGRESS', `the request with Idempotency-Key "${key}" is still in progress`);
    }
    return reply.status(existing.status_code).header('idempotent-replayed', 'true').type('application/json; charset=utf-8').send(existing.response_body);
  };

  const onSend = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const held = request.idempotency;
    if (!held) return payload;
    request.idempotency = undefined;
    // an answer without a body (499: the client went away and the work was stopped) is not kept either
    if (notCarriedOut(reply.statusCode) || typeof payload !== 'string') await store.releaseIdempotencyKey(held.scope, held.key);
    else await store.completeIdempotencyKey(held.scope, held.key, reply.statusCode, payload);
    return payload;
  };

  // on the POST routes alone (the scope's routes are added after this): a read pays for neither hook
  api.addHook('onRoute', (route) => {
    if (!(Array.isArray(route.method) ? route.method : [route.method]).includes('POST')) return;
    route.preHandler = [preHandler, ...hooksOf(route.preHandler)] as typeof route.preHandler;
    route.onSend = [onSend, ...hooksOf(route.onSend)] as typeof route.onSend;
  });
}

/** A route's own hooks of one kind as a list (Fastify takes one, a list or none). */
const hooksOf = (hooks: unknown): unknown[] => (hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]);
