import { it } from 'node:test';
import assert from 'node:assert/strict';
import { hashSecret } from './ids.ts';

it('hashes a token secret to the SHA-256 of its UTF-8 bytes in hex, as earlier versions stored tokens', () => {
  assert.equal(hashSecret('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  // computed with createHash('sha256').update(secret).digest('hex'), what earlier versions ran
  assert.equal(hashSecret('hoody_ünïcode'), '70ed7d45e4b9a83f369cf0e036d37b9255ae8f58f1cf870012d99152d0c8a6e1');
});
