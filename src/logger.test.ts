/**
 * The logger's redaction: an Authorization header never reaches a line, whatever the object it
 * is logged in is called.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from './logger.ts';

describe('createLogger', () => {
  it('redacts the Authorization header under req, request, headers, err.config or at the top level', () => {
    let out = '';
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        out += chunk.toString();
        done();
      },
    });
    const log = createLogger({ level: 'debug', format: 'json', destination });
    const secret = 'hoody_secret_0123456789abcdef';
    const headers = { authorization: `Bearer ${secret}`, 'x-request-id': 'r1' };
    log.info({ req: { method: 'GET', headers } }, 'as req');
    log.info({ request: { headers } }, 'as request');
    log.info({ headers }, 'as headers');
    log.info({ authorization: headers.authorization }, 'alone');
    log.info({ err: { message: 'failed', config: { headers } } }, 'in an error');
    log.child({ reqId: 'r1' }).debug({ req: { headers } }, 'from a child');
    const lines = out.trim().split('\n');
    assert.equal(lines.length, 6, out);
    assert.ok(!out.includes(secret), out);
    for (const line of lines) assert.match(line, /\[redacted\]/, line);
    assert.match(out, /"x-request-id":"r1"/, 'the other headers are kept');
  });
});
