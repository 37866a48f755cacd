/** The one place errors become HTTP: status from the code table, the error envelope, nothing internal leaked. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { ERROR_CODES, type ErrorBody, type ErrorCode } from '../api/error-codes.ts';
import { HoodyError } from '../core/errors.ts';

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

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(async (err, request, reply) => {
    const body = toErrorBody(err);
    if (body.statusCode >= 500) request.log.error({ err }, 'request failed');
    if (body.code === 'INTERNAL_ERROR') console.error(`${request.method} ${request.url}:`, err);
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
