/** What the log shows of a request URL: declared query parameters as sent, the others' values redacted. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { declaredQuery, loggedUrl } from './logged-url.ts';

describe('loggedUrl', () => {
  const declared = declaredQuery({ querystring: { type: 'object', properties: { limit: { type: 'integer' }, since: { type: 'integer' } } } });

  it('keeps the path and the declared parameters, and redacts the value of any other', () => {
    assert.equal(loggedUrl('/api/v1/containers', declared), '/api/v1/containers');
    assert.equal(loggedUrl('/api/v1/containers?limit=5&since=3', declared), '/api/v1/containers?limit=5&since=3');
    assert.equal(loggedUrl('/api/v1/containers?limit=5&access_token=s3cret&flag', declared), '/api/v1/containers?limit=5&access_token=[redacted]&flag');
    assert.equal(loggedUrl('/x?%6Cimit=5&bad%=s3cret', declared), '/x?%6Cimit=5&bad%=[redacted]', 'an encoded declared key is known; a key that does not decode is not');
  });

  it('redacts every value when the route declares no query', () => {
    assert.equal(loggedUrl('/healthz?token=s3cret', undefined), '/healthz?token=[redacted]');
    assert.equal(declaredQuery(undefined), undefined);
    assert.equal(declaredQuery({ querystring: { type: 'object' } }), undefined);
  });
});
