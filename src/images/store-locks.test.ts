/** The image store's keyed read-write lock: readers share a key, a writer holds it alone, in arrival order. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedRwLock } from './store-locks.ts';

/** Lets every queued promise callback run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('readers of a key share it; a writer waits for them and holds it alone; other keys are free', async () => {
  const lock = new KeyedRwLock();
  const order: string[] = [];
  const r1 = await lock.acquireRead('a');
  const r2 = await lock.acquireRead('a');
  const w = lock.acquireWrite('a').then((release) => (order.push('writer'), release));
  // a reader that comes after a waiting writer waits behind it: a stream of readers cannot starve the writer
  const r3 = lock.acquireRead('a').then((release) => (order.push('late reader'), release));
  const other = await lock.acquireWrite('b');
  other();
  await settle();
  assert.deepEqual(order, [], 'both wait while two readers hold the key');
  r1();
  await settle();
  assert.deepEqual(order, [], 'one reader still holds it');
  r2();
  r2();
  const releaseWriter = await w;
  await settle();
  assert.deepEqual(order, ['writer'], 'the late reader waits for the writer');
  releaseWriter();
  (await r3)();
  assert.deepEqual(order, ['writer', 'late reader']);
  assert.equal(lock.busy('a'), false, 'an idle key is forgotten');
  assert.equal(lock.busy('b'), false);
});

test('read and write run a task under the lock and release it when the task fails', async () => {
  const lock = new KeyedRwLock();
  await assert.rejects(lock.write('k', async () => Promise.reject(new Error('boom'))), /boom/);
  assert.equal(lock.busy('k'), false);
  let inside = 0;
  let most = 0;
  const reader = () =>
    lock.read('k', async () => {
      most = Math.max(most, ++inside);
      await settle();
      inside--;
    });
  await Promise.all([reader(), reader(), reader()]);
  assert.equal(most, 3, 'readers ran together');
  const writers: number[] = [];
  const writer = (n: number) =>
    lock.write('k', async () => {
      most = Math.max(most, ++inside);
      writers.push(n);
      await settle();
      inside--;
    });
  most = 0;
  await Promise.all([writer(1), writer(2), writer(3)]);
  assert.equal(most, 1, 'writers one at a time');
  assert.deepEqual(writers, [1, 2, 3], 'in the order they came');
});
