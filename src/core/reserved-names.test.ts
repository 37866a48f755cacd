import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HoodyError } from './errors.ts';
import { assertNameNotReserved, reservedNameReason } from './reserved-names.ts';

describe('reserved names', () => {
  it('reserves the system actors and admin, whatever the case or separator', () => {
    for (const name of ['system', 'SYSTEM', 'System', 'autostart', 'AutoStart', 'restart-policy', 'restart_policy', 'Restart.Policy', 'admin', 'ADMIN', ' system ']) {
      assert.ok(reservedNameReason(name), name);
    }
  });

  it('reserves names that look like a user id', () => {
    assert.match(reservedNameReason('user_0123abcd') ?? '', /user id/);
    assert.match(reservedNameReason('USER_x') ?? '', /user id/);
  });

  it('lets ordinary names through, also ones that contain a reserved word', () => {
    for (const name of ['deployer', 'ci-deploy', 'systemd-timer', 'administrator', 'my-system', 'user-data', 'autostarter']) {
      assert.equal(reservedNameReason(name), undefined, name);
    }
  });

  it('refuses with the stable code RESERVED_NAME, quoting the name', () => {
    assert.throws(
      () => assertNameNotReserved('token', 'system'),
      (err: unknown) => err instanceof HoodyError && err.code === 'RESERVED_NAME' && err.message.startsWith('token name "system" is reserved'),
    );
  });
});
