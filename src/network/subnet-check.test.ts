import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { subnetCollision } from './subnet-check.ts';
import { parseIpv4Cidr } from './ipv4.ts';

const routes = JSON.stringify([
  { dst: 'default', gateway: '192.0.2.1', dev: 'eth0' },
  { dst: '192.0.2.0/24', dev: 'eth0', prefsrc: '192.0.2.2' },
  { dst: '10.210.0.0/16', dev: 'hoody0' },
  { dst: '172.16.5.9', dev: 'tun0' },
  { dst: '10.99.0.0/16', type: 'blackhole' },
]);
const addrs = JSON.stringify([
  { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }, { family: 'inet6', local: '::1', prefixlen: 128 }] },
  { ifname: 'eth1', addr_info: [{ family: 'inet', local: '10.50.3.7', prefixlen: 24 }] },
  { ifname: 'hoody0', addr_info: [{ family: 'inet', local: '10.210.0.1', prefixlen: 16 }] },
]);

const check = (cidr: string): string | undefined => subnetCollision(parseIpv4Cidr(cidr)!, 'hoody0', routes, addrs);

describe('subnet collision check', () => {
  it('passes a subnet only the bridge itself routes', () => {
    assert.equal(check('10.210.0.0/16'), undefined);
    assert.equal(check('10.211.0.0/16'), undefined);
  });

  it('names the route or address a subnet overlaps', () => {
    assert.equal(check('192.0.2.128/25'), 'the route to 192.0.2.0/24 on eth0');
    assert.equal(check('172.16.0.0/12'), 'the route to 172.16.5.9 on tun0');
    assert.equal(check('10.99.1.0/24'), 'the route to 10.99.0.0/16');
    assert.equal(check('10.50.0.0/16'), 'the address 10.50.3.7/24 of eth1');
    assert.equal(check('127.0.0.0/16'), 'the address 127.0.0.1/8 of lo');
  });

  it('reads empty listings as no routes', () => {
    assert.equal(subnetCollision(parseIpv4Cidr('10.0.0.0/8')!, 'b', '', '[]'), undefined);
  });
});
