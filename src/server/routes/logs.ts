/** GET /containers/{id}/logs: what a container wrote to stdout and stderr, followed when asked. */
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { Id } from '../../api/schemas.ts';
import { AUTHENTICATED_ERRORS, errorResponses } from '../../api/responses.ts';
import { parseLogTime, type LogQuery, type LogRecord } from '../../core/container-logs.ts';
import type { AppDeps } from '../app.ts';
import { NDJSON, abortOnHangUp, acceptsNdjson, sendStreamNow, writeAtPace } from '../streaming.ts';

export const LogsQuery = Type.Object(
  {
    tail: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'only the last N lines (after the other filters)' })),
    since: Type.Optional(Type.String({ maxLength: 64, description: 'lines from this time on: RFC 3339, Unix seconds, or a duration before now (`10m`, `2h`, `1d`)' })),
    until: Type.Optional(Type.String({ maxLength: 64, description: 'lines up to this time (same forms)' })),
    timestamps: Type.Optional(Type.Boolean({ description: 'text answers: each line begins with its RFC 3339 time (NDJSON lines always carry it)' })),
    stream: Type.Optional(Type.Unsafe<'stdout' | 'stderr' | 'all'>({ type: 'string', enum: ['stdout', 'stderr', 'all'], description: 'one stream, or both (default)' })),
    follow: Type.Optional(Type.Boolean({ description: 'after the lines written so far, send each new one as it is written, until the container stops or the client goes' })),
    follow_restarts: Type.Optional(Type.Boolean({ description: 'with follow: go on across stops and starts, until the container is deleted or the client goes' })),
  },
  { additionalProperties: false },
);

const schema = {
  tags: ['containers'],
  summary: 'A container\'s logs',
  description:
    'What the container wrote to stdout and stderr, oldest first, kept across its restarts and the daemon\'s (up to twice the server\'s per-file size, HOODY_LOG_FILE_MAX_BYTES; older lines go) and deleted with it. `text/plain` by default (one line each, with its time when `timestamps=true`); with `Accept: application/x-ndjson`, one JSON object per line: `{"time", "stream", "line"}`. With `follow=true` the answer stays open and each new line is sent as it is written, until the container stops (or is deleted, with `follow_restarts`), the client goes or its token is deleted; each user may follow so many logs at once on a daemon (32, `HOODY_MAX_LOG_FOLLOWS_PER_USER`; one more is 429 `TOO_MANY_REQUESTS`).',
  params: Type.Object({ id: Id }, { additionalProperties: false }),
  querystring: LogsQuery,
  response: errorResponses(...AUTHENTICATED_ERRORS, 'INVALID_INPUT', 'NOT_FOUND', 'WRONG_SERVER', 'TOO_MANY_REQUESTS'),
};

export async function logRoutes(api: FastifyInstance, deps: AppDeps): Promise<void> {
  api.get('/containers/:id/logs', { schema }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const q = request.query as LogQuery & { timestamps?: boolean };
    // every refusal is answered before the stream begins
    if (q.since !== undefined) parseLogTime(q.since, 'since');
    if (q.until !== undefined) parseLogTime(q.until, 'until');
    await deps.logs.check(request.actor, id);
    const ndjson = acceptsNdjson(request.headers.accept);
    // a followed log counts against its user's cap until it ends, and ends when its token is deleted
    const session = q.follow ? deps.sessions.open(request.actor, 'follow') : undefined;
    const signal = session ? AbortSignal.any([abortOnHangUp(reply), session.signal]) : abortOnHangUp(reply);
    const out = new PassThrough({ highWaterMark: 64 * 1024 });
    const emit = (r: LogRecord): Promise<void> => writeAtPace(out, ndjson ? `${JSON.stringify(r)}\n` : `${q.timestamps ? `${r.time} ` : ''}${r.line}\n`, signal);
    void deps.logs
      .read(request.actor, id, q, emit, signal)
      .catch((err: unknown) => request.log.warn({ err }, 'reading container logs'))
      .finally(() => {
        session?.close();
        out.end();
      });
    void reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff');
    return sendStreamNow(reply.type(ndjson ? NDJSON : 'text/plain; charset=utf-8'), out);
  });
}
