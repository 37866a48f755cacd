/** POST /containers/{id}/exec: a command in a running container, its output and exit code. */
import { PassThrough } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ExecBody, ExecResultSchema, Id } from '../../api/schemas.ts';
import { AUTHENTICATED_ERRORS, BODY_ERRORS, envelope, errorResponses } from '../../api/responses.ts';
import { toErrorBody } from '../errors.ts';
import { HoodyError } from '../../core/errors.ts';
import type { ExecRequest } from '../../core/container-exec.ts';
import type { AppDeps } from '../app.ts';
import { NDJSON, abortOnHangUp, acceptsNdjson, sendStreamNow, writeAtPace } from '../streaming.ts';
import { ok } from '../wire.ts';

const schema = {
  tags: ['containers'],
  summary: 'Run a command in a container',
  description:
    'Only while it is `running` (else 400 `INVALID_TRANSITION`, as for the lifecycle). Answers once the command has ended, with its exit code and output (each stream up to 1 MiB, with the byte counts). With `Accept: application/x-ndjson` the output streams as it comes instead: `{"stream": "stdout"|"stderr", "data": "…"}` per chunk, then `{"exit": {…the same fields, without the output}}`. With `encoding: "base64"` stdin and all output are base64, so binary data passes unchanged. The command is killed with its whole session past `timeout`, when the client goes or when its token is deleted. Each user may have so many execs running at once on a daemon (16, `HOODY_MAX_EXECS_PER_USER`; one more is 429 `TOO_MANY_REQUESTS`). The container\'s environment is its own plus `env`.',
  params: Type.Object({ id: Id }, { additionalProperties: false }),
  body: ExecBody,
  response: { 200: envelope(ExecResultSchema), ...errorResponses(...AUTHENTICATED_ERRORS, ...BODY_ERRORS, 'NOT_FOUND', 'INVALID_TRANSITION', 'WRONG_SERVER', 'EXEC_UNSUPPORTED', 'TOO_MANY_REQUESTS', 'RUNTIME_ERROR') },
};

export async function execRoutes(api: FastifyInstance, deps: AppDeps): Promise<void> {
  // a stdin of 1 MiB in base64 is about 1.4 MB of JSON
  api.post('/containers/:id/exec', { schema, config: { idempotency: false }, bodyLimit: 2 * 1024 * 1024 }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const body = request.body as ExecRequest;
    // a running exec counts against its user's cap, and is killed when its token is deleted
    const session = deps.sessions.open(request.actor, 'exec');
    const signal = AbortSignal.any([abortOnHangUp(reply), session.signal]);
    if (!acceptsNdjson(request.headers.accept)) {
      try {
        const result = await deps.exec.run(request.actor, id, body, undefined, signal);
        if (session.signal.aborted) throw new HoodyError('UNAUTHORIZED', 'the token of this exec was deleted: the command was killed');
        return ok('Command ran', result);
      } finally {
        session.close();
      }
    }
    // refusals are answered before the stream begins
    let prepared;
    try {
      prepared = await deps.exec.prepare(request.actor, id, body);
    } catch (err) {
      session.close();
      throw err;
    }
    const out = new PassThrough({ highWaterMark: 64 * 1024 });
    const line = (value: unknown): Promise<void> => writeAtPace(out, `${JSON.stringify(value)}\n`, signal);
    // a character cut between two chunks is sent whole with the second; base64 is of each chunk as it is
    const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
    const text = body.encoding === 'base64' ? (_stream: 'stdout' | 'stderr', chunk: Buffer) => chunk.toString('base64') : (stream: 'stdout' | 'stderr', chunk: Buffer) => decoders[stream].write(chunk);
    void deps.exec
      .run(request.actor, id, body, (stream, chunk) => line({ stream, data: text(stream, chunk) }), signal, prepared)
      .then(({ stdout: _o, stderr: _e, ...exit }) => line({ exit }))
      .catch((err: unknown) => {
        const { statusCode, code, message } = toErrorBody(err);
        return line({ error: { statusCode, code, message } });
      })
      .finally(() => {
        session.close();
        out.end();
      });
    return sendStreamNow(reply.type(NDJSON), out);
  });
}
