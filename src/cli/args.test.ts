import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { collectPublish, parsePublish } from './args.ts';

describe('--publish values', () => {
  it('read docker\'s -p forms', () => {
    assert.deepEqual(parsePublish('80'), { container_port: 80 });
    assert.deepEqual(parsePublish('8080:80'), { container_port: 80, host_port: 8080 });
    assert.deepEqual(parsePublish('8080:80/udp'), { container_port: 80, host_port: 8080, protocol: 'udp' });
    assert.deepEqual(parsePublish('53/udp'), { container_port: 53, protocol: 'udp' });
    assert.deepEqual(parsePublish('127.0.0.1:8080:80'), { container_port: 80, host_port: 8080, host_ip: '127.0.0.1' });
    assert.deepEqual(parsePublish('127.0.0.1::80/tcp'), { container_port: 80, host_ip: '127.0.0.1', protocol: 'tcp' });
  });

  it('refuse what is not a port, a protocol or an IPv4 address', () => {
    for (const bad of ['', 'http', '0', '65536', '80:', ':80', '8080:80/sctp', '1:2:3:4', 'localhost:8080:80', '300.0.0.1:8080:80', '8080::80', '-1', '80.5']) {
      assert.throws(() => parsePublish(bad), InvalidArgumentError, JSON.stringify(bad));
    }
  });

  it('collect repeated values in order', () => {
    assert.deepEqual(collectPublish('443', collectPublish('8080:80', undefined)), [{ container_port: 80, host_port: 8080 }, { container_port: 443 }]);
  });
});
