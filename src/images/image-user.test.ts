/** The image's User resolved through /etc/passwd and /etc/group text, as runc and umoci do. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseGroup, parsePasswd, resolveUser } from './image-user.ts';

const PASSWD = ['root:x:0:0:root:/root:/bin/sh', 'app:x:1000:1000::/home/app:/bin/sh', 'svc:x:1001:50:svc:', 'broken line', '# comment'].join('\n');
const GROUP = ['root:x:0:', 'staff:x:50:app', 'app:x:1000:', 'web:x:33:app,svc', 'bad:x:zz:app'].join('\n');

describe('image user', () => {
  it('parses passwd and group, skipping malformed lines', () => {
    assert.deepEqual(parsePasswd(PASSWD).map((e) => e.name), ['root', 'app', 'svc']);
    assert.equal(parsePasswd(PASSWD)[2]?.home, '/', 'an empty home is /');
    assert.deepEqual(parseGroup(GROUP).find((g) => g.name === 'web')?.members, ['app', 'svc']);
    assert.equal(parseGroup(GROUP).some((g) => g.name === 'bad'), false);
  });

  it('resolves an empty User to root with its home', () => {
    assert.deepEqual(resolveUser('', PASSWD, GROUP), { uid: 0, gid: 0, additionalGids: [], home: '/root' });
    assert.deepEqual(resolveUser(undefined, undefined, undefined), { uid: 0, gid: 0, additionalGids: [], home: '/' });
  });

  it('resolves a name to its uid, primary group, supplementary groups and home', () => {
    assert.deepEqual(resolveUser('app', PASSWD, GROUP), { uid: 1000, gid: 1000, additionalGids: [50, 33], home: '/home/app' });
  });

  it('resolves a uid found in passwd like its name, and one not found to itself with gid 0', () => {
    assert.deepEqual(resolveUser('1000', PASSWD, GROUP), { uid: 1000, gid: 1000, additionalGids: [50, 33], home: '/home/app' });
    assert.deepEqual(resolveUser('4242', PASSWD, GROUP), { uid: 4242, gid: 0, additionalGids: [], home: '/' });
    assert.deepEqual(resolveUser('4242', undefined, undefined), { uid: 4242, gid: 0, additionalGids: [], home: '/' });
  });

  it('takes a given group by name or number over the primary one', () => {
    assert.deepEqual(resolveUser('app:web', PASSWD, GROUP), { uid: 1000, gid: 33, additionalGids: [50], home: '/home/app' });
    assert.deepEqual(resolveUser('1000:7', PASSWD, GROUP), { uid: 1000, gid: 7, additionalGids: [50, 33], home: '/home/app' });
    assert.deepEqual(resolveUser('5:6', undefined, undefined), { uid: 5, gid: 6, additionalGids: [], home: '/' });
  });

  it('refuses unknown names with the name in the message', () => {
    assert.throws(() => resolveUser('nobody', PASSWD, GROUP), /user "nobody" is not in the image's \/etc\/passwd/);
    assert.throws(() => resolveUser('app', undefined, undefined), /user "app" cannot be resolved: the image has no \/etc\/passwd/);
    assert.throws(() => resolveUser('app:wheel', PASSWD, GROUP), /group "wheel" is not in the image's \/etc\/group/);
  });
});
