import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { allowedForAll, refusal } from './actions.ts';

const c = (status: 'running' | 'stopped' | 'paused' | 'failed' | 'creating', extra: Record<string, unknown> = {}) => ({ status, current_operation: null, server_status: 'ready' as const, ...extra });

describe('which buttons the dashboard enables', () => {
  it('follows the transition table and says why a button is disabled', () => {
    assert.equal(refusal(c('running'), 'pause'), undefined);
    assert.equal(refusal(c('stopped'), 'pause'), 'cannot pause while stopped');
    assert.equal(refusal(c('paused'), 'resume'), undefined);
    assert.equal(refusal(c('running'), 'delete'), 'cannot delete while running');
    assert.equal(refusal(c('stopped'), 'stop'), 'it is already stopped');
    assert.equal(refusal(c('creating'), 'start'), 'cannot start while creating');
  });

  it('disables every action while an operation runs or the server is offline', () => {
    assert.equal(refusal(c('running', { current_operation: { id: 'x', operation: 'stop', started_at: '' } }), 'pause'), 'stop is in progress');
    assert.equal(refusal(c('running', { server_status: 'offline' }), 'stop'), 'its server is offline');
  });

  it('allows a bulk action only when every selected status allows it', () => {
    assert.equal(allowedForAll(['running', 'running'], 'pause'), true);
    assert.equal(allowedForAll(['running', 'stopped'], 'pause'), false);
    assert.equal(allowedForAll([], 'start'), false);
  });
});
