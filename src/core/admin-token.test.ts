import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adminTokenWeakness } from './admin-token.ts';

describe('adminTokenWeakness', () => {
  it('accepts 32 random hex characters and the test harness\'s tokens', () => {
    assert.equal(adminTokenWeakness('9f2c4e6a8b0d1f3e5a7c9b2d4f6e8a0c'), undefined);
    assert.equal(adminTokenWeakness(`hoody_test_${'0123456789abcdef'.repeat(2)}`), undefined);
  });

  it('refuses a short token, saying how long it is and how long it must be', () => {
    const why = adminTokenWeakness('hoody_admin_1234567890');
    assert.match(why ?? '', /^it is 22 characters long; it must be at least 32 characters/);
  });

  it('refuses a long token made of one or a few characters', () => {
    assert.match(adminTokenWeakness('a'.repeat(64)) ?? '', /^it uses only 1 different character;/);
    assert.match(adminTokenWeakness('ab'.repeat(32)) ?? '', /^it uses only 2 different characters;/);
  });

  it('refuses spaces and control characters, which no bearer header could carry', () => {
    assert.match(adminTokenWeakness('correct horse battery staple 1234567') ?? '', /spaces/);
    assert.match(adminTokenWeakness(`${'0123456789abcdef'.repeat(2)}\n`) ?? '', /control/);
  });

  it('never repeats the token in its answer', () => {
    const token = 'secret-but-short';
    assert.ok(!(adminTokenWeakness(token) ?? '').includes(token));
  });
});
