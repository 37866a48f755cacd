import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostNameservers, networkSettingsFromEnv } from './settings.ts';

const resolv = (text: string) => (): string => text;
const noResolv = (): string => {
  throw new Error('ENOENT');
};

describe('network settings', () => {
  it('defaults to a bridge hoody0 on 10.210.0.0/16, its table named for it, and the host name servers', () => {
    const s = networkSettingsFromEnv({}, resolv('# x\nnameserver 10.255.255.53\nnameserver 127.0.0.53\nnameserver ::1\nsearch lan\n'));
    assert.deepEqual(s, { mode: 'bridge', bridge: 'hoody0', subnet: '10.210.0.0/16', table: 'hoody0', nameservers: ['10.255.255.53'] });
  });

  it('takes every variable, and an empty name server list means none', () => {
    const s = networkSettingsFromEnv(
      { HOODY_NETWORK: 'none', HOODY_NETWORK_BRIDGE: 'br-x.1', HOODY_NETWORK_SUBNET: '10.9.8.0/24', HOODY_NETWORK_TABLE: 'tab', HOODY_NETWORK_NAMESERVERS: '' },
      noResolv,
    );
    assert.deepEqual(s, { mode: 'none', bridge: 'br-x.1', subnet: '10.9.8.0/24', table: 'tab', nameservers: [] });
    assert.deepEqual(networkSettingsFromEnv({ HOODY_NETWORK_NAMESERVERS: ' 1.1.1.1, 9.9.9.9 ' }, noResolv).nameservers, ['1.1.1.1', '9.9.9.9']);
    assert.deepEqual(networkSettingsFromEnv({}, noResolv).nameservers, []);
  });

  it('refuses bad values with a message naming the variable', () => {
    const bad: [Record<string, string>, RegExp][] = [
      [{ HOODY_NETWORK: 'host' }, /HOODY_NETWORK must be/],
      [{ HOODY_NETWORK_BRIDGE: 'a-very-long-bridge-name' }, /HOODY_NETWORK_BRIDGE/],
      [{ HOODY_NETWORK_BRIDGE: 'br 0' }, /HOODY_NETWORK_BRIDGE/],
      [{ HOODY_NETWORK_BRIDGE: 'br/0' }, /HOODY_NETWORK_BRIDGE/],
      [{ HOODY_NETWORK_SUBNET: '10.210.0.1/16' }, /HOODY_NETWORK_SUBNET/],
      [{ HOODY_NETWORK_SUBNET: 'ten' }, /HOODY_NETWORK_SUBNET/],
      [{ HOODY_NETWORK_SUBNET: '10.0.0.0/7' }, /HOODY_NETWORK_SUBNET.*prefix/],
      [{ HOODY_NETWORK_SUBNET: '10.0.0.0/31' }, /HOODY_NETWORK_SUBNET.*prefix/],
      [{ HOODY_NETWORK_TABLE: '1abc' }, /HOODY_NETWORK_TABLE/],
      [{ HOODY_NETWORK_TABLE: 'a;b' }, /HOODY_NETWORK_TABLE/],
      [{ HOODY_NETWORK_NAMESERVERS: '1.1.1.1,dns.example' }, /HOODY_NETWORK_NAMESERVERS/],
    ];
    for (const [env, message] of bad) assert.throws(() => networkSettingsFromEnv(env, noResolv), message, JSON.stringify(env));
  });

  it('keeps IPv4 name servers of a resolv.conf once each, without loopback ones', () => {
    assert.deepEqual(hostNameservers('nameserver 8.8.8.8\nnameserver 8.8.8.8\n  nameserver 127.0.0.1\nnameserver fe80::1\n'), ['8.8.8.8']);
  });
});
