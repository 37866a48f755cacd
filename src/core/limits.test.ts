import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertWithinMaxima, containerCapReached, resourcesFor } from './limits.ts';
import { HoodyError } from './errors.ts';

const max = { cpu: 2, memory_mb: 1024, pids: 4096 };

describe('server maxima for container resources', () => {
  it('accepts resources at the maxima and refuses one above, naming it and the maximum', () => {
    assert.doesNotThrow(() => assertWithinMaxima(max, max));
    assert.throws(
      () => assertWithinMaxima({ cpu: 1, memory_mb: 1025 }, max),
      (err: unknown) => err instanceof HoodyError && err.code === 'QUOTA_EXCEEDED' && JSON.stringify(err.details) === JSON.stringify({ resource: 'memory_mb', requested: 1025, max: 1024 }),
    );
    assert.throws(() => assertWithinMaxima({ cpu: 2.5 }, max), /resources\.cpu 2\.5 is above this server's maximum of 2/);
    assert.throws(() => assertWithinMaxima({ pids: 4097 }, max), /resources\.pids/);
  });

  it('gives the defaults, lowered to the maxima of a small server, where nothing was asked', () => {
    assert.deepEqual(resourcesFor(undefined, max), { cpu: 1, memory_mb: 512, pids: 1024 });
    assert.deepEqual(resourcesFor({ pids: 10 }, { cpu: 0.5, memory_mb: 256, pids: 100 }), { cpu: 0.5, memory_mb: 256, pids: 10 });
  });

  it('the cap refusal says how many there are and the most allowed', () => {
    const err = containerCapReached(3, 3);
    assert.equal(err.code, 'QUOTA_EXCEEDED');
    assert.deepEqual(err.details, { resource: 'containers', count: 3, max: 3 });
  });
});
