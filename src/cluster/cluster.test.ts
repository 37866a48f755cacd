import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HoodyError } from '../core/errors.ts';
import { serverStatusOf, viewOf, type ServerView } from './membership.ts';
import { placeContainer } from './placement.ts';
import { signForward, verifyForward } from './signature.ts';

const NOW = Date.parse('2026-12-03T10:00:00.000Z');
const ago = (ms: number): string => new Date(NOW - ms).toISOString();

function server(id: string, over: Partial<ServerView> = {}): ServerView {
  return viewOf({ id, name: `node-${id}`, status: 'ready', runtime: 'runc', last_seen_at: ago(1000), created_at: ago(60_000), advertise_url: `http://10.0.0.${id.length}:8080`, version: '0.1.0', capacity: { cpus: 2, memory_mb: 4096 }, usage: { containers: 0, running: 0, memory_mb: 0 }, ...over }, NOW, 15_000);
}

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof HoodyError ? err.code : `not a HoodyError: ${String(err)}`;
  }
  return undefined;
};

describe('server status from heartbeats', () => {
  it('is the recorded status while the heartbeat is fresh, offline once it is older than the offline time', () => {
    assert.equal(serverStatusOf({ status: 'ready', last_seen_at: ago(14_999) }, NOW, 15_000), 'ready');
    assert.equal(serverStatusOf({ status: 'maintenance', last_seen_at: ago(1) }, NOW, 15_000), 'maintenance');
    assert.equal(serverStatusOf({ status: 'ready', last_seen_at: ago(15_001) }, NOW, 15_000), 'offline');
    assert.equal(serverStatusOf({ status: 'maintenance', last_seen_at: ago(60_000) }, NOW, 15_000), 'offline');
    // shut down cleanly: offline at once, however fresh its last heartbeat
    assert.equal(serverStatusOf({ status: 'offline', last_seen_at: ago(0) }, NOW, 15_000), 'offline');
    assert.equal(serverStatusOf({ status: 'ready', last_seen_at: 'not a time' }, NOW, 15_000), 'offline');
  });
});

describe('placement', () => {
  it('chooses the ready server with the largest share of free memory, then the fewest containers', () => {
    const servers = [
      server('a', { usage: { containers: 1, running: 1, memory_mb: 2048 } }),
      server('bb', { usage: { containers: 5, running: 5, memory_mb: 512 } }),
      server('ccc', { usage: { containers: 2, running: 2, memory_mb: 512 } }),
      server('dddd', { status: 'maintenance', usage: { containers: 0, running: 0, memory_mb: 0 } }),
      server('eeeee', { last_seen_at: ago(20_000), usage: { containers: 0, running: 0, memory_mb: 0 } }),
    ];
    assert.equal(placeContainer(servers, {}, 'a', true).id, 'ccc');
    // without forwarding only this server can be chosen
    assert.equal(placeContainer(servers, {}, 'a', false).id, 'a');
    // a server with no address cannot be sent a create
    assert.equal(placeContainer([server('a', { usage: { containers: 0, running: 0, memory_mb: 4000 } }), server('bb', { advertise_url: null })], {}, 'a', true).id, 'a');
  });

  it('takes the server asked for by id or name, and refuses one offline, in maintenance, unknown or ambiguous', () => {
    const servers = [server('a'), server('bb', { status: 'maintenance' }), server('ccc', { last_seen_at: ago(16_000) }), server('dddd', { name: 'twin' }), server('eeeee', { name: 'twin' })];
    assert.equal(placeContainer(servers, { server_name: 'node-a' }, 'dddd', true).id, 'a');
    assert.equal(placeContainer(servers, { server_id: 'dddd' }, 'a', true).id, 'dddd');
    assert.equal(codeOf(() => placeContainer(servers, { server_id: 'bb' }, 'a', true)), 'SERVER_IN_MAINTENANCE');
    assert.equal(codeOf(() => placeContainer(servers, { server_id: 'ccc' }, 'a', true)), 'SERVER_OFFLINE');
    assert.equal(codeOf(() => placeContainer(servers, { server_name: 'nowhere' }, 'a', true)), 'NOT_FOUND');
    assert.equal(codeOf(() => placeContainer(servers, { server_name: 'twin' }, 'a', true)), 'INVALID_INPUT');
    assert.equal(codeOf(() => placeContainer(servers, { server_id: 'a', server_name: 'twin' }, 'a', true)), 'NOT_FOUND');
    assert.equal(codeOf(() => placeContainer(servers, { server_id: 'dddd' }, 'a', false)), 'WRONG_SERVER');
  });

  it('refuses when no server is ready: this one in maintenance says so', () => {
    assert.equal(codeOf(() => placeContainer([server('a', { status: 'maintenance' })], {}, 'a', true)), 'SERVER_IN_MAINTENANCE');
    assert.equal(codeOf(() => placeContainer([server('a', { status: 'maintenance' }), server('bb', { last_seen_at: ago(99_000) })], {}, 'bb', true)), 'SERVER_OFFLINE');
  });
});

describe('cluster signatures', () => {
  const secret = 'a'.repeat(64);
  const auth = 'Bearer hoody_abc';
  it('hold for the request signed, within a minute, with the same secret', () => {
    const sig = signForward(secret, 'srv1', 'POST', '/api/v1/containers/x/start', auth, NOW);
    assert.deepEqual(verifyForward(secret, 'srv1', sig, 'post', '/api/v1/containers/x/start', auth, NOW + 59_000), { ok: true });
  });
  it('do not hold for another secret, server, method, URL or token, nor when too old or malformed', () => {
    const sig = signForward(secret, 'srv1', 'POST', '/api/v1/containers/x/start', auth, NOW);
    const bad = (r: ReturnType<typeof verifyForward>): boolean => !r.ok;
    assert.ok(bad(verifyForward('b'.repeat(64), 'srv1', sig, 'POST', '/api/v1/containers/x/start', auth, NOW)));
    assert.ok(bad(verifyForward(secret, 'srv2', sig, 'POST', '/api/v1/containers/x/start', auth, NOW)));
    assert.ok(bad(verifyForward(secret, 'srv1', sig, 'DELETE', '/api/v1/containers/x/start', auth, NOW)));
    assert.ok(bad(verifyForward(secret, 'srv1', sig, 'POST', '/api/v1/containers/y/start', auth, NOW)));
    assert.ok(bad(verifyForward(secret, 'srv1', sig, 'POST', '/api/v1/containers/x/start', 'Bearer hoody_other', NOW)));
    assert.match((verifyForward(secret, 'srv1', sig, 'POST', '/api/v1/containers/x/start', auth, NOW + 61_000) as { reason: string }).reason, /too old/);
    assert.match((verifyForward(secret, 'srv1', 't=1,s=zz', 'POST', '/', auth, NOW) as { reason: string }).reason, /malformed/);
  });
});
