import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRuncVersion, runcMode } from './runc-version.ts';

describe('runc version gate', () => {
  it('reads the version from the first line of runc --version, distribution suffix included', () => {
    const debian = 'runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\ngo: go1.19.8\nlibseccomp: 2.5.4\n';
    assert.deepEqual(parseRuncVersion(debian), { text: '1.1.5+ds1', major: 1, minor: 1, patch: 5 });
    assert.deepEqual(parseRuncVersion('runc version 1.2.0-rc.1\n'), { text: '1.2.0-rc.1', major: 1, minor: 2, patch: 0 });
    assert.deepEqual(parseRuncVersion('crun version 1.8.1\n'), { text: 'unknown' });
    assert.deepEqual(parseRuncVersion('runc version weird\n'), { text: 'weird' });
  });

  it('uses the direct paths only for the runc branch they were verified against', () => {
    assert.equal(runcMode(parseRuncVersion('runc version 1.1.5+ds1')), 'direct');
    assert.equal(runcMode(parseRuncVersion('runc version 1.1.12')), 'direct');
    for (const other of ['runc version 1.0.3', 'runc version 1.2.0', 'runc version 2.0.0', 'runc version weird', '']) {
      assert.equal(runcMode(parseRuncVersion(other)), 'cli', other);
    }
  });
});
