/** The one place errors become HTTP: status from the code table, the error envelope, nothing internal leaked. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import { ERROR_CODES, type ErrorBody, type ErrorCode } from '../api/error-codes.ts';
import { HoodyError } from '../core/errors.ts';
import { declaredQuery, loggedUrl } from './logged-url.ts';
import { ClientGoneError } from './streaming.ts';

export function errorBody(code: ErrorCode, message: string, details?: Record<string, unknown>): ErrorBody {
  const statusCode = ERROR_CODES[code].status;
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', code, message, ...(details ? { details } : {}) };
}

/** Maps a thrown value to the envelope: domain errors by code, Fastify's own by their kind. */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof HoodyError) return errorBody(err.code, err.message, err.details);
  const fe = err as Partial<FastifyError> & { validation?: { instancePath?: string; message?: string; params?: unknown }[]; validationContext?: string };
  if (fe.validation) {
    const where = fe.validationContext ?? 'request';
    const errors = fe.validation.map((v) => ({ path: `${where}${v.instancePath ?? ''}`, message: v.message ?? 'is not valid', params: v.params }));
    const first = errors[0];
    return errorBody('INVALID_INPUT', first ? `invalid ${first.path}: ${first.message}` : `invalid ${where}`, { errors });
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return errorBody('PAYLOAD_TOO_LARGE', 'request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return errorBody('UNSUPPORTED_MEDIA_TYPE', 'send the request body as application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return errorBody('INVALID_JSON', 'request body is not valid JSON');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return errorBody('INVALID_INPUT', 'request body length does not match Content-Length');
  }
  if (err instanceof SyntaxError && fe.statusCode === 400) return errorBody('INVALID_JSON', 'request body is not valid JSON');
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { ...errorBody('INVALID_INPUT', 'the request is not valid'), statusCode: fe.statusCode, error: STATUS_CODES[fe.statusCode] ?? 'Bad Request' };
  }
  return errorBody('INTERNAL_ERROR', 'internal server error');
}

/** How much of a refused body is read and thrown away, and for how long, so that its client gets the answer. */
const DRAIN_LIMIT_BYTES = 16 * 1024 * 1024;
const DRAIN_TIMEOUT_MS = 5000;

/**
 * Reads and discards what is left of a request body. A body refused unread (too large, not
 * JSON) would otherwise meet a closed connection while its client is still sending it, and the
 * client would see a reset (EPIPE) instead of the 413 or 415. Past the limit or the timeout the
 * connection is closed after the answer, as before.
 */
function drainBody(raw: IncomingMessage): Promise<void> {
  if (raw.readableEnded || raw.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let read = 0;
    const done = (): void => {
      clearTimeout(timer);
      raw.off('data', onData);
      raw.off('end', done);
      raw.off('error', done);
      raw.off('close', done);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      read += chunk.length;
      if (read > DRAIN_LIMIT_BYTES) done();
    };
    const timer = setTimeout(done, DRAIN_TIMEOUT_MS);
    raw.on('data', onData);
    raw.once('end', done);
    raw.once('error', done);
    raw.once('close', done);
    raw.resume();
  });
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(async (err, request, reply) => {
    if (err instanceof ClientGoneError) {
      // work stopped because its client hung up (a create's pull, an upload): nobody reads the answer;
      // 499 as nginx logs it, with no body, so an Idempotency-Key is not kept and stays free for a retry
      request.log.info({ method: request.method, url: loggedUrl(request.url, declaredQuery(request.routeOptions.schema)) }, 'client went away');
      return reply.status(499).send();
    }
    const body = toErrorBody(err);
    if (body.statusCode >= 500) {
      // the request's id is on the line (its child logger): the answer's x-request-id finds it
      const line = { method: request.method, url: loggedUrl(request.url, declaredQuery(request.routeOptions.schema)), statusCode: body.statusCode, code: body.code, ...(body.code === 'INTERNAL_ERROR' ? { err } : { error: body.message }) };
      if (body.code === 'SERVICE_UNAVAILABLE') request.log.warn(line, 'request refused');
      else request.log.error(line, 'request failed');
    }
    if (body.code === 'PAYLOAD_TOO_LARGE' || body.code === 'UNSUPPORTED_MEDIA_TYPE' || body.code === 'IMAGE_TOO_LARGE') await drainBody(request.raw);
    return reply.status(body.statusCode).send(body);
  });
  app.setNotFoundHandler(async (request, reply) => {
    const body = errorBody('NOT_FOUND', `route ${request.method} ${request.url.split('?')[0]} not found`);
    return reply.status(404).send(body);
  });
  // an empty body with a JSON content type means "no body", as curl and fetch send it
  // the API speaks JSON only: anything else is 415, not a string the schema then rejects
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, text, done) => {
    const raw = typeof text === 'string' ? text : text.toString('utf8');
    if (raw.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(raw));
    } catch {
      done(new HoodyError('INVALID_JSON', 'request body is not valid JSON'), undefined);
    }
  });
}
