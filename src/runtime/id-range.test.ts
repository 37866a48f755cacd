import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseIdRange, shiftId, subordinateRange } from './id-range.ts';

describe('subordinate id range', () => {
  it("takes root's range from /etc/subuid and /etc/subgid, ignoring other users and ranges too small", () => {
    const subuid = 'alice:100000:65536\nroot:200000:10\nroot:300000:65536\n';
    const subgid = 'root:400000:131072\n';
    assert.deepEqual(subordinateRange(subuid, subgid), { uid: 300_000, gid: 400_000, size: 65_536 });
    assert.equal(subordinateRange('', subgid), undefined);
    assert.equal(subordinateRange('root:1000:65536\n', subgid), undefined, 'a range over ordinary host users is not used');
  });

  it('parses START:SIZE and refuses ranges that overlap host users or are too small', () => {
    assert.deepEqual(parseIdRange('1000000:65536'), { uid: 1_000_000, gid: 1_000_000, size: 65_536 });
    assert.throws(() => parseIdRange('0:65536'), /HOODY_USERNS_RANGE start "0"/);
    assert.throws(() => parseIdRange('1000000:1000'), /size "1000" must be at least 65536/);
    assert.throws(() => parseIdRange('abc'), /is not START:SIZE/);
  });

  it('shifts host ids into the range, moves ids between ranges and keeps ids already shifted', () => {
    const to = { uid: 1_000_000, gid: 2_000_000, size: 65_536 };
    assert.equal(shiftId(0, 'uid', undefined, to), 1_000_000);
    assert.equal(shiftId(33, 'gid', undefined, to), 2_000_033);
    assert.equal(shiftId(70_000, 'uid', undefined, to), 1_065_534, 'an id that does not fit becomes nobody');
    assert.equal(shiftId(100_005, 'uid', { uid: 100_000, gid: 100_000, size: 65_536 }, to), 1_000_005);
    assert.equal(shiftId(1_000_007, 'uid', undefined, to), 1_000_007, 'a shift cut short is finished, not done twice');
  });
});
