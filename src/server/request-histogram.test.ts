import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, Registry } from 'prom-client';
import { RequestHistogram } from './request-histogram.ts';

describe('RequestHistogram', () => {
  it('writes the same exposition as prom-client\'s Histogram for the same observations', async () => {
    const bounds = [0.001, 0.01, 0.1, 1];
    const ours = new Registry();
    const theirs = new Registry();
    const fast = new RequestHistogram('t_seconds', 'test', bounds, ours);
    const reference = new Histogram({ name: 't_seconds', help: 'test', labelNames: ['method', 'route', 'status_code'], buckets: bounds, registers: [theirs] });
    const samples: [string, string, number, number][] = [
      ['GET', '/a/:id', 200, 0.0004],
      ['GET', '/a/:id', 200, 0.001],
      ['GET', '/a/:id', 200, 0.05],
      ['POST', '/a', 201, 0.5],
      ['GET', '/a/:id', 404, 3],
      ['GET', '/a/:id', 200, 0.0101],
    ];
    for (const [method, route, status, value] of samples) {
      fast.seriesFor(`${method} ${status} ${route}`, { method, route, status_code: status }).observe(value);
      reference.observe({ method, route, status_code: status }, value);
    }
    const text = await ours.metrics();
    assert.equal(text, await theirs.metrics());
    assert.match(text, /^t_seconds_bucket\{le="0\.01",method="GET",route="\/a\/:id",status_code="200"\} 2$/m, 'cumulative buckets; a value on a bound counts in it');
    assert.match(text, /^t_seconds_count\{method="GET",route="\/a\/:id",status_code="404"\} 1$/m);
  });

  it('starts empty again after a reset of its registry', async () => {
    const registry = new Registry();
    const fast = new RequestHistogram('r_seconds', 'test', [1], registry);
    fast.seriesFor('k', { route: '/x' }).observe(0.5);
    registry.resetMetrics();
    assert.doesNotMatch(await registry.metrics(), /r_seconds_count/);
  });
});
