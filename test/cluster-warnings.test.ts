/**
 * What a daemon of a cluster warns about at start when the others could not reach it: an
 * advertised loopback address, and a router on loopback while the API is advertised elsewhere.
 * Needs root and runc (a real daemon).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestDaemon, type DaemonHandle } from './daemon-harness.ts';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;
const secret = randomBytes(32).toString('hex');

describe('warnings of a cluster daemon at start', { skip }, () => {
  const daemons: DaemonHandle[] = [];
  after(async () => {
    for (const d of daemons) await d.cleanup().catch(() => undefined);
  });

  it('warns when its router listens on loopback while its API is advertised at another address', async () => {
    // the address is only recorded for the other daemons; nothing here dials it
    const d = await startTestDaemon('sqlite', { HOODY_CLUSTER_SECRET: secret, HOODY_ADVERTISE_URL: 'http://192.0.2.10:8080', HOODY_PROXY_PORT: '0', HOODY_PROXY_DOMAIN: 'apps.localhost', HOODY_NETWORK: 'none' });
    daemons.push(d);
    assert.match(d.output(), /router listens on http:\/\/127\.0\.0\.1:\d+, a loopback address: the other servers' routers cannot relay/);
    assert.doesNotMatch(d.output(), /advertises .*a loopback address/, 'its API is advertised elsewhere');
  });

  it('warns when it would advertise a loopback API address, and not about its router then', async () => {
    const d = await startTestDaemon('sqlite', { HOODY_CLUSTER_SECRET: secret, HOODY_PROXY_PORT: '0', HOODY_PROXY_DOMAIN: 'apps.localhost', HOODY_NETWORK: 'none' });
    daemons.push(d);
    assert.match(d.output(), /advertises http:\/\/127\.0\.0\.1:\d+, a loopback address: only daemons on this machine reach it/);
    assert.doesNotMatch(d.output(), /router listens on .*a loopback address/);
  });
});
