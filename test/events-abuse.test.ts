/**
 * Event streams and waits under a hostile or careless client, against a real daemon whose status
 * log holds 200,000 rows of another user: a cursor above the head, a replay of everything, a
 * token deleted while its streams and waits are open, and more of them than a user may hold.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { startTestDaemon, apiClient, type DaemonHandle } from './daemon-harness.ts';
import { openSse, type SseStream } from './sse-reader.ts';
import { eventually } from './eventually.ts';

const SYNTHETIC_ROWS = 200_000;
const transitions = (s: SseStream) => s.events.filter((e) => e.event === 'transition');

/** Writes `n` transitions of one container of `projectId` straight into the daemon's database (it is stopped). */
function insertRows(dataDir: string, projectId: string, n: number): void {
  const db = new BetterSqlite3(join(dataDir, 'hoody.db'));
  const insert = db.prepare(
    'insert into status_logs (id, container_id, project_id, from_status, to_status, transition_time, duration_ms, triggered_by, metadata) values (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const at = new Date().toISOString();
  const metadata = JSON.stringify({ operation: 'start', server_name: 'test-node', project_id: projectId });
  db.transaction(() => {
    for (let i = 0; i < n; i++) insert.run(`e${i.toString(16).padStart(23, '0')}`, 'c00000000000000000000000', projectId, 'stopped', 'running', at, 1, 'system', metadata);
  })();
  db.close();
}

/** How long /healthz takes to answer (at most `limitMs`: a daemon that does not answer counts as that). */
async function healthzMs(d: DaemonHandle, limitMs = 5000): Promise<number> {
  const t = performance.now();
  await fetch(`${d.url}/healthz`, { signal: AbortSignal.timeout(limitMs) })
    .then((r) => r.text())
    .catch(() => undefined);
  return performance.now() - t;
}

describe('event streams and waits that no client can turn against the daemon', () => {
  let d: DaemonHandle;
  let admin: ReturnType<typeof apiClient>;
  let n = 0;
  /** A new user with a token and a project. */
  const tenant = async () => {
    const name = `t${n++}`;
    const user = (await admin('POST', '/users', { name })).body.data;
    const token = (await admin('POST', '/tokens', { name: `${name}-a`, user_id: user.id })).body.data as { id: string; token: string };
    const call = apiClient(d.api, token.token);
    const project = (await call('POST', '/projects', { name: `${name}-p` })).body.data;
    return { user, token, call, project };
  };
  let big: Awaited<ReturnType<typeof tenant>>;

  before(async () => {
    d = await startTestDaemon('sqlite', { HOODY_EVENTS_HEARTBEAT_MS: '200', HOODY_MAX_EVENT_STREAMS_PER_USER: '2', HOODY_MAX_WAITS_PER_USER: '2' });
    admin = apiClient(d.api, d.adminToken);
    big = await tenant();
    await d.stop();
    insertRows(d.dataDir, big.project.id, SYNTHETIC_ROWS);
    await d.restart();
  });
  after(async () => {
    await d?.cleanup();
  });

  it('a cursor above the head starts the stream at the head: /healthz keeps answering and live events still come', async () => {
    const t = await tenant();
    const c = (await t.call('POST', '/containers', { name: 'high', project_id: t.project.id, container_image: 'busybox', autostart: false })).body.data;
    const viaQuery = await openSse(`${d.api}/events?since=999999999`, t.token.token);
    assert.equal(viaQuery.status, 200);
    assert.ok((await healthzMs(d)) < 2000, '/healthz answers');
    await t.call('POST', `/containers/${c.id}/start`);
    const [first] = (await viaQuery.until((es) => es.some((e) => e.event === 'transition'))).filter((e) => e.event === 'transition');
    assert.equal(first?.data.log.to_status, 'running');
    viaQuery.close();

    const viaHeader = await openSse(`${d.api}/events?types=transition`, t.token.token, { 'last-event-id': String(Number.MAX_SAFE_INTEGER) });
    assert.equal(viaHeader.status, 200);
    await viaHeader.until(() => viaHeader.comments.includes('connected'));
    assert.ok((await healthzMs(d)) < 2000, '/healthz answers');
    await t.call('POST', `/containers/${c.id}/pause`);
    const got = await viaHeader.until((es) => es.length === 1);
    assert.equal(got[0]?.data.log.to_status, 'paused');
    assert.ok(Number(got[0]?.id) > Number(first?.id), 'the live event comes with its own cursor');
    viaHeader.close();
  });

  it('a cursor that is not a safe integer is refused with INVALID_INPUT', async () => {
    const t = await tenant();
    for (const headers of [{ 'last-event-id': '9'.repeat(400) }, { 'last-event-id': '9007199254740993' }]) {
      const r = await t.call('GET', '/events', undefined, headers);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.code, 'INVALID_INPUT');
    }
    const r = await t.call('GET', '/events?since=99999999999999999999');
    assert.equal(r.status, 400);
    assert.equal(r.body.code, 'INVALID_INPUT');
    assert.ok((await healthzMs(d)) < 2000);
  });

  it(`a since=0 catch-up of a user with few rows, in a log of ${SYNTHETIC_ROWS} rows of another, is quick and stalls nothing`, async () => {
    const t = await tenant();
    const c = (await t.call('POST', '/containers', { name: 'few', project_id: t.project.id, container_image: 'busybox', autostart: false })).body.data;
    const mine = (await t.call('GET', `/containers/${c.id}/status-logs`)).body.data.pagination.total as number;
    let slowest = 0;
    let probing = true;
    const probe = (async () => {
      while (probing) {
        slowest = Math.max(slowest, await healthzMs(d));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const started = performance.now();
    const stream = await openSse(`${d.api}/events?since=0&types=transition`, t.token.token);
    await stream.until((es) => es.length >= mine, 10_000);
    const took = performance.now() - started;
    probing = false;
    await probe;
    stream.close();
    assert.deepEqual(transitions(stream).map((e) => e.data.container_id), Array(mine).fill(c.id), 'only the caller\'s rows');
    assert.ok(took < 1000, `the catch-up took ${took.toFixed(0)} ms`);
    assert.ok(slowest < 1000, `/healthz took up to ${slowest.toFixed(0)} ms during the catch-up`);
  });

  it('a replay deeper than the cap is a resync event at the head, then the live feed', async () => {
    const token = (await admin('POST', '/tokens', { name: 'big-b', user_id: big.user.id })).body.data.token as string;
    const c = (await apiClient(d.api, token)('POST', '/containers', { name: 'deep', project_id: big.project.id, container_image: 'busybox', autostart: false })).body.data;
    const stream = await openSse(`${d.api}/events?since=0&types=transition`, token);
    const [resync] = await stream.until((es) => es.length >= 1, 10_000);
    assert.equal(resync?.event, 'resync');
    assert.ok(resync?.data.cursor > SYNTHETIC_ROWS, `resync at the head (${resync?.data.cursor})`);
    assert.equal(resync?.id, String(resync?.data.cursor), 'its id is the cursor to resume from');
    await apiClient(d.api, token)('POST', `/containers/${c.id}/start`);
    const got = await stream.until((es) => es.length === 2);
    assert.equal(got[1]?.event, 'transition');
    assert.ok(Number(got[1]?.id) > resync?.data.cursor);
    stream.close();
  });

  it('deleting a token ends its event streams and its waits within a second, and not those of another token', async () => {
    const t = await tenant();
    const other = (await admin('POST', '/tokens', { name: 'other', user_id: t.user.id })).body.data as { id: string; token: string };
    const c = (await t.call('POST', '/containers', { name: 'rev', project_id: t.project.id, container_image: 'busybox', autostart: false })).body.data;
    const doomed = await openSse(`${d.api}/events?container_id=${c.id}`, t.token.token);
    const kept = await openSse(`${d.api}/events?container_id=${c.id}`, other.token);
    await Promise.all([doomed, kept].map((s) => s.until(() => s.comments.includes('connected'))));
    const waiting = apiClient(d.api, t.token.token)('GET', `/containers/${c.id}/wait?status=paused&timeout=60`);
    const otherWait = apiClient(d.api, other.token)('GET', `/containers/${c.id}/wait?status=running&timeout=60`);
    await new Promise((r) => setTimeout(r, 300)); // both waits are in

    const deletedAt = performance.now();
    assert.equal((await admin('DELETE', `/tokens/${t.token.id}`)).status, 200);
    const ended = await Promise.race([doomed.ended, new Promise((r) => setTimeout(() => r('still open'), 3000))]);
    const streamMs = performance.now() - deletedAt;
    assert.equal(ended, 'clean', 'the deleted token\'s stream ended properly');
    assert.ok(streamMs < 1000, `its stream ended ${streamMs.toFixed(0)} ms after the delete`);
    const waited = await Promise.race([waiting, new Promise<{ status: number; body: any }>((r) => setTimeout(() => r({ status: 0, body: 'still waiting' }), 3000))]);
    assert.equal(waited.status, 401, JSON.stringify(waited.body));
    assert.ok(performance.now() - deletedAt < 1000, 'its wait answered within a second');

    await apiClient(d.api, other.token)('POST', `/containers/${c.id}/start`);
    assert.equal((await otherWait).status, 200, 'the other token\'s wait goes on');
    await kept.until((es) => es.some((e) => e.event === 'transition' && e.data.log.to_status === 'running'));
    kept.close();
  });

  it('a token deleted through another daemon of the same database ends its streams within about a second', async () => {
    const t = await tenant();
    const stream = await openSse(`${d.api}/events`, t.token.token);
    await stream.until(() => stream.comments.includes('connected'));
    // what another daemon's DELETE /tokens/{id} does to the shared database
    const db = new BetterSqlite3(join(d.dataDir, 'hoody.db'));
    db.prepare('delete from tokens where id = ?').run(t.token.id);
    db.close();
    const deletedAt = performance.now();
    const ended = await Promise.race([stream.ended, new Promise((r) => setTimeout(() => r('still open'), 3000))]);
    assert.equal(ended, 'clean');
    const ms = performance.now() - deletedAt;
    assert.ok(ms < 1500, `ended ${ms.toFixed(0)} ms after the delete`);
  });

  it('a user over the cap of open streams or waits gets 429 TOO_MANY_REQUESTS; closing one frees its place; others are not held back', async () => {
    const t = await tenant();
    const c = (await t.call('POST', '/containers', { name: 'cap', project_id: t.project.id, container_image: 'busybox', autostart: false })).body.data;
    const open = [await openSse(`${d.api}/events`, t.token.token), await openSse(`${d.api}/events?types=operation`, t.token.token)];
    assert.deepEqual(open.map((s) => s.status), [200, 200]);
    const refused = await t.call('GET', '/events');
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'TOO_MANY_REQUESTS');
    assert.deepEqual({ kind: refused.body.details.kind, limit: refused.body.details.limit }, { kind: 'stream', limit: 2 });
    const someoneElse = await tenant();
    const theirs = await openSse(`${d.api}/events`, someoneElse.token.token);
    assert.equal(theirs.status, 200, 'another user is not held back');
    theirs.close();

    open[0]?.close();
    let again: SseStream | undefined;
    for (let i = 0; i < 100 && again?.status !== 200; i++) {
      again?.close();
      await new Promise((r) => setTimeout(r, 50));
      again = await openSse(`${d.api}/events`, t.token.token);
    }
    assert.equal(again?.status, 200, 'a closed stream frees its place');
    again?.close();
    open[1]?.close();

    const waiting = [t.call('GET', `/containers/${c.id}/wait?status=running&timeout=30`), t.call('GET', `/containers/${c.id}/wait?status=running&timeout=30`)];
    // a third wait is refused once both are in (a probe let in before that ends by itself within a second)
    const tooMany = await eventually('both waits to hold their places', () => t.call('GET', `/containers/${c.id}/wait?status=running&timeout=1`), (r) => r.status === 429, 30_000);
    assert.equal(tooMany.status, 429);
    assert.equal(tooMany.body.details.kind, 'wait');
    await t.call('POST', `/containers/${c.id}/start`);
    assert.deepEqual((await Promise.all(waiting)).map((r) => r.status), [200, 200]);
    assert.equal((await t.call('GET', `/containers/${c.id}/wait?status=running`)).status, 200, 'an answered wait frees its place');
  });
});
