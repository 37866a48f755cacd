import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SharedLock } from './shared-lock.ts';

describe('SharedLock', () => {
  it('exclusiveIfIdle runs nothing while a shared holder runs, and keeps no one waiting behind it', async () => {
    const lock = new SharedLock();
    let release: () => void = () => undefined;
    const holder = lock.shared(() => new Promise<void>((r) => (release = r)));
    assert.equal(await lock.exclusiveIfIdle(async () => 'ran'), undefined, 'busy: not run');
    // a new shared holder starts at once: nothing queued in front of it
    assert.equal(await lock.shared(async () => 'second reader'), 'second reader');
    release();
    await holder;
    assert.equal(await lock.exclusiveIfIdle(async () => 'ran'), 'ran', 'idle: run');
  });

  it('an exclusive waiter is served before later shared holders (exclusive waits its turn)', async () => {
    const lock = new SharedLock();
    const order: string[] = [];
    let release: () => void = () => undefined;
    const first = lock.shared(() => new Promise<void>((r) => (release = r)));
    const ex = lock.exclusive(async () => void order.push('exclusive'));
    const later = lock.shared(async () => void order.push('later shared'));
    assert.equal(await lock.exclusiveIfIdle(async () => 'ran'), undefined, 'someone waits: not run');
    release();
    await Promise.all([first, ex, later]);
    assert.deepEqual(order, ['exclusive', 'later shared']);
  });
});
