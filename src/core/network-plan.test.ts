import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { createSocket } from 'node:dgram';
import { checkPortRequests, chooseAddress, choosePorts, HOST_PORT_POOL } from './network-plan.ts';
import { parseIpv4Cidr } from '../network/ipv4.ts';
import { isHostPortFree } from '../network/port-probe.ts';
import { HoodyError } from './errors.ts';

const invalid = (err: unknown): boolean => err instanceof HoodyError && err.code === 'INVALID_INPUT';
const free = async (): Promise<boolean> => true;

describe('published port requests', () => {
  it('fill in tcp and 0.0.0.0, and keep what is given', () => {
    assert.deepEqual(checkPortRequests([{ container_port: 80 }, { container_port: 53, protocol: 'udp', host_port: 5353, host_ip: '127.0.0.1' }]), [
      { container_port: 80, protocol: 'tcp', host_ip: '0.0.0.0' },
      { container_port: 53, host_port: 5353, protocol: 'udp', host_ip: '127.0.0.1' },
    ]);
    assert.deepEqual(checkPortRequests([]), []);
  });

  it('refuse ports out of range, other protocols, bad host addresses and duplicates', () => {
    for (const bad of [
      [{ container_port: 0 }],
      [{ container_port: 65536 }],
      [{ container_port: 1.5 }],
      [{ container_port: 80, host_port: 0 }],
      [{ container_port: 80, protocol: 'sctp' as 'tcp' }],
      [{ container_port: 80, host_ip: 'localhost' }],
      [{ container_port: 80, host_ip: '::1' }],
      [{ container_port: 80 }, { container_port: 80 }],
      [{ container_port: 80, host_port: 8080 }, { container_port: 81, host_port: 8080 }],
    ]) {
      assert.throws(() => checkPortRequests(bad), invalid, JSON.stringify(bad));
    }
    // the same numbers with the other protocol are other ports
    assert.equal(checkPortRequests([{ container_port: 80, host_port: 8080 }, { container_port: 80, host_port: 8080, protocol: 'udp' }]).length, 2);
  });
});

describe('host port choice', () => {
  it('takes named ports as asked and chooses the first free pool port from the start, wrapping around', async () => {
    const requests = checkPortRequests([{ container_port: 80 }, { container_port: 443, host_port: 20001 }, { container_port: 8080 }]);
    const r = await choosePorts(requests, { taken: new Set(['tcp/20000']), probe: free, start: 20000 });
    assert.ok(r.ok);
    // 20000 is taken, 20001 is named by a later request
    assert.deepEqual(r.ports.map((p) => p.host_port), [20002, 20001, 20003]);
    const wrapped = await choosePorts(checkPortRequests([{ container_port: 80 }]), { taken: new Set([`tcp/${HOST_PORT_POOL.last}`]), probe: free, start: HOST_PORT_POOL.last });
    assert.ok(wrapped.ok);
    assert.equal(wrapped.ports[0]?.host_port, HOST_PORT_POOL.first);
  });

  it('skips ports a host process binds; a named one bound on the host or held by a container is in use, unless the container holds it itself', async () => {
    const bound = new Set([20000, 20001, 9000]);
    const probe = async (port: number) => !bound.has(port);
    const chosen = await choosePorts(checkPortRequests([{ container_port: 80 }]), { taken: new Set(), probe, start: 20000 });
    assert.ok(chosen.ok && chosen.ports[0]?.host_port === 20002);
    assert.deepEqual(await choosePorts(checkPortRequests([{ container_port: 80, host_port: 9000 }]), { taken: new Set(), probe }), {
      ok: false,
      failure: { kind: 'in-use', protocol: 'tcp', host_port: 9000, held_by: 'host' },
    });
    assert.deepEqual(await choosePorts(checkPortRequests([{ container_port: 80, host_port: 9001, protocol: 'udp' }]), { taken: new Set(['udp/9001']), probe }), {
      ok: false,
      failure: { kind: 'in-use', protocol: 'udp', host_port: 9001, held_by: 'container' },
    });
    assert.ok((await choosePorts(checkPortRequests([{ container_port: 80, host_port: 9000 }]), { taken: new Set(), own: new Set(['tcp/9000']), probe })).ok);
  });

  it('answers pool-exhausted when every pool port is taken or bound', async () => {
    const pool = { first: 30000, last: 30003 };
    const r = await choosePorts(checkPortRequests([{ container_port: 80 }]), { taken: new Set(['tcp/30000', 'tcp/30001']), probe: async (p) => p > 30003, pool });
    assert.deepEqual(r, { ok: false, failure: { kind: 'pool-exhausted', protocol: 'tcp' } });
  });
});

describe('address choice', () => {
  it('gives the lowest free address after the gateway, and none when the subnet is full', () => {
    const subnet = parseIpv4Cidr('10.99.0.0/29');
    assert.ok(subnet);
    assert.equal(chooseAddress(subnet, new Set()), '10.99.0.2');
    assert.equal(chooseAddress(subnet, new Set(['10.99.0.2', '10.99.0.4'])), '10.99.0.3');
    assert.equal(chooseAddress(subnet, new Set(['10.99.0.2', '10.99.0.3', '10.99.0.4', '10.99.0.5', '10.99.0.6'])), undefined);
  });
});

describe('host port probe', () => {
  it('says a port a listener holds is not free, and is free again once it closes', async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
    const port = (server.address() as { port: number }).port;
    assert.equal(await isHostPortFree(port, 'tcp', '127.0.0.1'), false);
    assert.equal(await isHostPortFree(port, 'tcp', '0.0.0.0'), false, 'every address includes loopback');
    await new Promise((resolve) => server.close(resolve));
    assert.equal(await isHostPortFree(port, 'tcp', '127.0.0.1'), true);
    assert.equal(await isHostPortFree(port, 'udp', '127.0.0.1'), true);
    const udp = createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    assert.equal(await isHostPortFree(udp.address().port, 'udp', '127.0.0.1'), false);
    await new Promise<void>((resolve) => udp.close(resolve));
  });
});
