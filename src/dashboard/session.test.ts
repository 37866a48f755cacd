import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Session, tokenOfFragment } from './session.ts';

describe('signing in to the dashboard', () => {
  it('takes the token of a #token= fragment and leaves the rest of it', () => {
    assert.deepEqual(tokenOfFragment('#token=abc%2Bdef'), { token: 'abc+def', rest: '' });
    assert.deepEqual(tokenOfFragment('#token=abc&x=1'), { token: 'abc', rest: '#x=1' });
    assert.equal(tokenOfFragment('#/containers/abc'), undefined, 'a page route is not a token');
    assert.equal(tokenOfFragment('#token='), undefined);
    assert.equal(tokenOfFragment(''), undefined);
  });

  it('keeps the token until sign-out', () => {
    const kept = new Map<string, string>();
    const session = new Session({ getItem: (k) => kept.get(k) ?? null, setItem: (k, v) => void kept.set(k, v), removeItem: (k) => void kept.delete(k) });
    assert.equal(session.token, undefined);
    session.signIn(' tok ');
    assert.equal(session.token, 'tok');
    session.signOut();
    assert.equal(session.token, undefined);
    assert.equal(kept.size, 0);
  });
});
