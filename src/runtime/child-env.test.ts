import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { childEnv } from './child-env.ts';

describe('childEnv', () => {
  it('passes on PATH and locale settings but no secret of the daemon', () => {
    const env = childEnv({}, { PATH: '/bin', LANG: 'C.UTF-8', HOODY_ADMIN_TOKEN: 'secret', HOODY_DATABASE_URL: 'postgres://u:pw@h/db', AWS_SECRET_ACCESS_KEY: 'x' });
    assert.deepEqual(env, { PATH: '/bin', LANG: 'C.UTF-8' });
  });

  it('gives a PATH when the daemon has none, and adds the child\'s own settings', () => {
    const env = childEnv({ _OCI_SYNCPIPE: '3' }, {});
    assert.match(env.PATH ?? '', /\/usr\/sbin/);
    assert.equal(env._OCI_SYNCPIPE, '3');
  });
});
