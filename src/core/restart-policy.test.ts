import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decideRestart, DEFAULT_RESTART_SETTINGS as S } from './restart-policy.ts';

describe('restart policy', () => {
  it('never restarts with "no", after a user stop, or after a clean exit under on-failure', () => {
    assert.equal(decideRestart('no', 1, 0, { attempts: 0 }, false).restart, false);
    assert.equal(decideRestart('always', 1, 0, { attempts: 0 }, true).restart, false);
    assert.equal(decideRestart('on-failure', 0, 0, { attempts: 0 }, false).restart, false);
  });

  it('restarts on failure with a doubling delay capped at the maximum', () => {
    const delays = [0, 1, 2, 3, 4].map((attempts) => decideRestart('always', 1, 100, { attempts }, false));
    assert.deepEqual(delays.map((d) => (d.restart ? d.delayMs : -1)), [500, 1000, 2000, 4000, 8000]);
    const capped = decideRestart('always', 1, 100, { attempts: 20 }, false);
    assert.deepEqual(capped, { restart: true, delayMs: S.maxDelayMs, attempt: 21 });
  });

  it('always restarts even after a clean exit', () => {
    assert.deepEqual(decideRestart('always', 0, 100, { attempts: 0 }, false), { restart: true, delayMs: 500, attempt: 1 });
  });

  it('gives up on-failure after the maximum retries, and a long run resets the count', () => {
    assert.deepEqual(decideRestart('on-failure', 2, 100, { attempts: S.maxRetries }, false), { restart: false, reason: `gave up after ${S.maxRetries} restarts` });
    assert.deepEqual(decideRestart('on-failure', 2, S.resetAfterMs, { attempts: S.maxRetries }, false), { restart: true, delayMs: 500, attempt: 1 });
  });
});
