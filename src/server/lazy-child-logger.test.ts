import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { FastifyBaseLogger } from 'fastify';
import { lazyChildLogger } from './lazy-child-logger.ts';

/** A pino logger writing JSON lines into `lines`, and a count of the children made from it. */
function recording(level = 'info') {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const logger = pino({ level }, sink);
  let children = 0;
  const counted = Object.create(logger, { child: { value: (...args: Parameters<typeof logger.child>) => (children++, logger.child(...args)) } }) as FastifyBaseLogger;
  return { lines, logger: counted, children: () => children };
}

describe('lazyChildLogger', () => {
  it('makes no pino child until a line is logged, and then one that carries the bindings', async () => {
    const r = recording();
    const log = lazyChildLogger(r.logger, { reqId: 'abc-123' }, {});
    assert.equal(log.level, 'info');
    assert.equal(r.children(), 0, 'nothing made for a request that logs nothing');
    log.error({ code: 'X' }, 'request failed');
    log.warn('again');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(r.children(), 1, 'one child, reused');
    assert.deepEqual(r.lines.map((l) => [l.reqId, l.msg]), [['abc-123', 'request failed'], ['abc-123', 'again']]);
    assert.equal(r.lines[0]?.code, 'X');
  });

  it('keeps a level of its own from the route options, and below the level logs nothing', async () => {
    const r = recording('info');
    const log = lazyChildLogger(r.logger, { reqId: 'r' }, { level: 'warn' });
    assert.equal(log.level, 'warn');
    log.info('hidden');
    log.debug('hidden too');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(r.lines, []);
  });
});
