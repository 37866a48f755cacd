import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { containerAddressRange, formatIpv4, gatewayOf, ipv4InSubnet, parseIpv4, parseIpv4Cidr, subnetsOverlap } from './ipv4.ts';

describe('ipv4', () => {
  it('parses and formats dotted quads, refusing anything else', () => {
    assert.equal(parseIpv4('10.210.0.1'), 0x0ad20001);
    assert.equal(formatIpv4(0x0ad20001), '10.210.0.1');
    assert.equal(formatIpv4(parseIpv4('255.255.255.255')!), '255.255.255.255');
    for (const bad of ['10.0.0', '10.0.0.256', '1.2.3.4.5', '01.2.3.4', 'a.b.c.d', '', '1..2.3']) assert.equal(parseIpv4(bad), undefined, bad);
  });

  it('parses subnets, refusing host bits and bad prefixes', () => {
    assert.deepEqual(parseIpv4Cidr('10.210.0.0/16'), { network: 0x0ad20000, prefixLength: 16, cidr: '10.210.0.0/16' });
    assert.equal(parseIpv4Cidr('10.210.0.1/16'), undefined);
    assert.equal(parseIpv4Cidr('10.210.0.0/33'), undefined);
    assert.equal(parseIpv4Cidr('10.210.0.0'), undefined);
  });

  it('gives the gateway the first address and containers the rest up to the broadcast', () => {
    const s = parseIpv4Cidr('10.214.7.0/24')!;
    assert.equal(gatewayOf(s), '10.214.7.1');
    const r = containerAddressRange(s);
    assert.equal(formatIpv4(r.first), '10.214.7.2');
    assert.equal(formatIpv4(r.last), '10.214.7.254');
    assert.ok(ipv4InSubnet('10.214.7.200', s));
    assert.ok(!ipv4InSubnet('10.214.8.1', s));
  });

  it('detects overlapping subnets either way round', () => {
    const big = parseIpv4Cidr('10.210.0.0/16')!;
    assert.ok(subnetsOverlap(big, parseIpv4Cidr('10.210.5.0/24')!));
    assert.ok(subnetsOverlap(parseIpv4Cidr('10.210.5.0/24')!, big));
    assert.ok(!subnetsOverlap(big, parseIpv4Cidr('10.211.0.0/24')!));
    assert.ok(subnetsOverlap(parseIpv4Cidr('0.0.0.0/0')!, big));
  });
});
