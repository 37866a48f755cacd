import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertIdRangeFree, idRangeConflict, idRangeFromEnv, parseIdRange, shiftId, subordinateRange, type HostIdFiles } from './id-range.ts';

/** /etc/subuid as useradd leaves it after 14 users: the 14th's range (951968-1017503) reaches into 1000000:65536. */
const FOURTEEN_USERS = Array.from({ length: 14 }, (_, i) => `user${i + 1}:${100_000 + i * 65_536}:65536`).join('\n') + '\n';
const PASSWD = 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/sh\n';
const GROUP = 'root:x:0:\nnogroup:x:65534:\nalice:x:1000:\n';
const files = (over: Partial<HostIdFiles> = {}): HostIdFiles => ({ subuid: '', subgid: '', passwd: PASSWD, group: GROUP, ...over });

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

  it('moves ids between ranges that start at the same id, and refuses ranges that start apart but overlap', () => {
    const old = { uid: 1_000_000, gid: 1_000_000, size: 131_072 };
    const moved = { uid: 1_065_536, gid: 1_065_536, size: 65_536 };
    // container uid 65536 of the old range is host 1065536: left as it is, it would become container root
    assert.throws(() => shiftId(1_065_536, 'uid', old, moved), /cannot move files from id range "1000000:131072" to "1065536:65536": the ranges overlap/);
    assert.throws(() => shiftId(1_000_000, 'gid', moved, old), /the ranges overlap/);
    assert.throws(() => shiftId(5, 'uid', { ...old, gid: 3_000_000 }, { ...moved, gid: 3_000_000 }), /uids 1000000:131072, gids 3000000:131072/, 'either kind overlapping is refused');
    const grown = { uid: 1_000_000, gid: 1_000_000, size: 131_072 };
    const small = { uid: 1_000_000, gid: 1_000_000, size: 65_536 };
    assert.equal(shiftId(1_000_005, 'uid', small, grown), 1_000_005, 'same start: an id means the same container id in both');
    assert.equal(shiftId(1_070_000, 'uid', grown, small), 1_065_534, 'an id past the smaller range becomes nobody');
    assert.equal(shiftId(1_000_005, 'uid', small, { uid: 2_000_000, gid: 2_000_000, size: 65_536 }), 2_000_005, 'ranges apart: moved');
  });
});

describe('id range held by the server alone', () => {
  const range = { uid: 1_000_000, gid: 1_000_000, size: 65_536 };

  it("refuses a range another user's subordinate ids overlap, naming the entry and a free range", () => {
    const subuid = `root:3000000:65536\n${FOURTEEN_USERS}`;
    assert.match(idRangeConflict(range, files({ subuid })) ?? '', /host uids 1000000-1065535 overlap "user14:951968:65536" in \/etc\/subuid \(uids 951968-1017503 of "user14"\)/);
    assert.match(idRangeConflict(range, files({ subgid: 'bob:1065535:1\n' })) ?? '', /host gids 1000000-1065535 overlap "bob:1065535:1" in \/etc\/subgid/);
    assert.equal(idRangeConflict(range, files({ subuid: 'bob:1065536:65536\ncarol:934464:65536\n' })), undefined, 'ranges that touch but do not overlap are fine');
    assert.throws(
      () => assertIdRangeFree(range, files({ subuid }), 'the default id range'),
      (err: Error) =>
        /^the default id range "1000000:65536" is not the server's alone: .*"user14:951968:65536".*could act as the root of every container/.test(err.message) &&
        err.message.includes('usermod --add-subuids 3080192-3145727 --add-subgids 3080192-3145727 root') &&
        err.message.includes('HOODY_USERNS_RANGE="3080192:65536"'),
    );
  });

  it("accepts root's own entries and refuses a range holding a user's or group's id", () => {
    assert.equal(idRangeConflict(range, files({ subuid: 'root:1000000:65536\n0:1000000:65536\n', subgid: 'root:1000000:65536\n' })), undefined);
    assert.match(idRangeConflict(range, files({ passwd: `${PASSWD}svc:x:1000500:100::/:/bin/false\n` })) ?? '', /host uids 1000000-1065535 hold uid 1000500 of "svc" in \/etc\/passwd/);
    assert.match(idRangeConflict(range, files({ group: `${GROUP}ldapusers:x:1065535:\n` })) ?? '', /host gids 1000000-1065535 hold gid 1065535 of "ldapusers" in \/etc\/group/);
    assert.match(idRangeConflict(range, files({ passwd: `${PASSWD}svc:x:2000:1000001::/:/bin/false\n` })) ?? '', /hold gid 1000001 of "svc" in \/etc\/passwd/, "a user's primary group counts");
    assert.equal(idRangeConflict(range, files({ passwd: `# comment 1000001\n+:::::\n${PASSWD}`, subuid: '\n# x:1000000:5\nbroken line\n' })), undefined, 'comments and odd lines are skipped');
  });

  it('resolves the range from the environment or the files, then checks it', () => {
    assert.deepEqual(idRangeFromEnv({}, files()), range);
    assert.deepEqual(idRangeFromEnv({}, files({ subuid: 'root:2000000:65536\n', subgid: 'root:2000000:65536\n' })), { uid: 2_000_000, gid: 2_000_000, size: 65_536 });
    assert.throws(() => idRangeFromEnv({}, files({ subuid: FOURTEEN_USERS })), /^Error: the default id range "1000000:65536" is not the server's alone/);
    assert.throws(
      () => idRangeFromEnv({}, files({ subuid: `root:951968:65536\n${FOURTEEN_USERS}`, subgid: 'root:951968:65536\n' })),
      /^Error: root's range in \/etc\/subuid and \/etc\/subgid "951968:65536" is not the server's alone: host uids 951968-1017503 overlap "user14:951968:65536".*HOODY_USERNS_RANGE="1048576:65536"/,
    );
    assert.throws(() => idRangeFromEnv({ HOODY_USERNS_RANGE: '951968:65536' }, files({ subuid: FOURTEEN_USERS })), /^Error: HOODY_USERNS_RANGE "951968:65536" is not the server's alone/);
    assert.deepEqual(idRangeFromEnv({ HOODY_USERNS_RANGE: '2000000:65536' }, files({ subuid: FOURTEEN_USERS })), { uid: 2_000_000, gid: 2_000_000, size: 65_536 });
  });
});
