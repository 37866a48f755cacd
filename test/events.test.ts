/**
 * Knowing when operations complete without polling, against a real daemon: the event stream
 * (in order, resumable across a daemon restart with nothing lost or repeated), wait, operations
 * run in the background, and bulk operations.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startTestDaemon, apiClient, untilProcess, type DaemonHandle } from './daemon-harness.ts';
import { openSse, type SseEvent } from './sse-reader.ts';
import { eventually } from './eventually.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** The daemon's event fan-out processes (one at most, unless one is being replaced), found among its children. */
async function fanoutPids(daemonPid: number): Promise<number[]> {
  const children = (await readFile(`/proc/${daemonPid}/task/${daemonPid}/children`, 'utf8').catch(() => '')).split(' ').filter(Boolean);
  const found: number[] = [];
  for (const pid of children) {
    if ((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes('fanout-process')) found.push(Number(pid));
  }
  return found;
}
/** The daemon's event fan-out process, found among its children by pid. */
const fanoutPid = async (daemonPid: number): Promise<number | undefined> => (await fanoutPids(daemonPid))[0];
/** The event streams the daemon counts open (its metrics gauge). */
async function streamsOpen(d: DaemonHandle): Promise<number | undefined> {
  const res = await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${d.adminToken}` } });
  const m = /^hoody_event_streams_open (\d+)$/m.exec(await res.text());
  return m ? Number(m[1]) : undefined;
}
const transitions = (events: SseEvent[], id?: string) => events.filter((e) => e.event === 'transition' && (!id || e.data.container_id === id));

describe('events, wait, background operations and bulk', () => {
  let d: DaemonHandle;
  let call: ReturnType<typeof apiClient>;
  let n = 0;
  const create = async (body: Record<string, unknown> = {}) => {
    const r = await call('POST', '/containers', { name: `ev${n++}-${Date.now().toString(36).slice(-4)}`, container_image: 'busybox', ...body });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.data;
  };
  const logs = async (id: string) => (await call('GET', `/containers/${id}/status-logs?limit=100&sort_order=asc`)).body.data.logs;

  before(async () => {
    d = await startTestDaemon('sqlite', { HOODY_EVENTS_HEARTBEAT_MS: '200' });
    call = apiClient(d.api, d.adminToken);
  });
  after(async () => {
    await d?.cleanup();
  });

  it('a subscriber sees every transition of a scripted sequence, in order, with its log row and cursor', async () => {
    const c = await create({ autostart: false });
    const stream = await openSse(`${d.api}/events?container_id=${c.id}`, d.adminToken);
    assert.equal(stream.status, 200);
    for (const op of ['start', 'pause', 'resume', 'stop', 'restart']) assert.equal((await call('POST', `/containers/${c.id}/${op}`)).status, 200);
    await stream.until((es) => transitions(es).length === 5);
    const got = transitions(stream.events);
    assert.deepEqual(got.map((e) => `${e.data.log.from_status}>${e.data.log.to_status}`), ['stopped>running', 'running>paused', 'paused>running', 'running>stopped', 'stopped>running']);
    const rows = (await logs(c.id)).slice(1);
    assert.deepEqual(got.map((e) => e.data.log.id), rows.map((r: any) => r.id), 'the same rows as the status log');
    const cursors = got.map((e) => Number(e.id));
    assert.deepEqual(cursors, [...cursors].sort((a, b) => a - b));
    assert.ok(cursors.every((x, i) => i === 0 || x > (cursors[i - 1] ?? 0)), 'cursors grow');
    const ops = stream.events.filter((e) => e.event === 'operation');
    assert.deepEqual(ops.slice(0, 2).map((e) => [e.data.operation, e.data.phase]), [['start', 'accepted'], ['start', 'succeeded']]);
    assert.equal(ops.find((e) => e.data.operation === 'pause' && e.data.phase === 'succeeded')?.data.status, 'paused');
    const at = (pred: (e: SseEvent) => boolean): number => stream.events.findIndex(pred);
    assert.ok(
      at((e) => e.event === 'transition' && e.data.log.to_status === 'paused') < at((e) => e.event === 'operation' && e.data.operation === 'pause' && e.data.phase === 'succeeded'),
      'an operation succeeds on the stream after the transition it made',
    );
    stream.close();
  });

  it('a subscriber that reconnects with its last id after a daemon restart gets exactly what it missed', async () => {
    const c = await create({ autostart: false });
    const first = await openSse(`${d.api}/events?container_id=${c.id}&types=transition`, d.adminToken);
    await call('POST', `/containers/${c.id}/start`);
    await first.until((es) => transitions(es).length === 1);
    const lastId = first.events.at(-1)?.id as string;
    first.close();

    // missed while disconnected: two before the restart, one after
    await call('POST', `/containers/${c.id}/pause`);
    await call('POST', `/containers/${c.id}/resume`);
    await d.restart();
    await call('POST', `/containers/${c.id}/stop`);

    const again = await openSse(`${d.api}/events?container_id=${c.id}&types=transition`, d.adminToken, { 'last-event-id': lastId });
    await again.until((es) => transitions(es).length >= 3);
    await sleep(300);
    const missed = transitions(again.events);
    assert.deepEqual(missed.map((e) => `${e.data.log.from_status}>${e.data.log.to_status}`), ['running>paused', 'paused>running', 'running>stopped'], 'nothing lost, nothing twice');
    const rows = (await logs(c.id)).filter((r: any) => missed.some((e) => e.data.log.id === r.id));
    assert.equal(rows.length, 3);
    // ?since= does the same
    const viaQuery = await openSse(`${d.api}/events?container_id=${c.id}&types=transition&since=${lastId}`, d.adminToken);
    await viaQuery.until((es) => transitions(es).length === 3);
    again.close();
    viaQuery.close();
  });

  it('a fan-out process that dies is started again, and its subscribers resume with nothing lost', async () => {
    const c = await create({ autostart: false });
    const url = `${d.api}/events?container_id=${c.id}&types=transition`;
    const first = await openSse(url, d.adminToken);
    await call('POST', `/containers/${c.id}/start`);
    await first.until((es) => transitions(es).length === 1);
    const lastId = first.events.at(-1)?.id as string;
    const dead = await fanoutPid(d.pid);
    assert.ok(dead, 'the daemon runs its event fan-out in a child process');
    process.kill(dead, 'SIGKILL');
    assert.equal(await first.ended, 'broken', 'the stream the dead process held is cut');

    await call('POST', `/containers/${c.id}/pause`);
    let next: number | undefined;
    for (let i = 0; i < 100 && (next === undefined || next === dead); i++) {
      await sleep(50);
      next = await fanoutPid(d.pid);
    }
    assert.ok(next !== undefined && next !== dead, 'a new fan-out process runs');
    assert.match(d.output(), /event fan-out process ended \(SIGKILL\); starting it again/);

    const again = await openSse(url, d.adminToken, { 'last-event-id': lastId });
    await again.until((es) => transitions(es).length === 1);
    await call('POST', `/containers/${c.id}/resume`);
    await again.until((es) => transitions(es).length === 2);
    await sleep(200);
    assert.deepEqual(
      transitions(again.events).map((e) => e.data.log.to_status),
      ['paused', 'running'],
      'the missed transition from the log, the next one live, nothing twice',
    );
    again.close();
  });

  it('a daemon stopped with streams open ends them properly and exits', async () => {
    const open = await Promise.all([openSse(`${d.api}/events`, d.adminToken), openSse(`${d.api}/events?types=operation`, d.adminToken)]);
    await open[0].until(() => open[0].comments.includes('connected'));
    const before = d.pid;
    await d.restart();
    assert.notEqual(d.pid, before);
    assert.deepEqual(await Promise.all(open.map((s) => s.ended)), ['clean', 'clean'], 'each stream got its final chunk');
    const c = await create({ autostart: false });
    const after = await openSse(`${d.api}/events?container_id=${c.id}`, d.adminToken);
    await call('POST', `/containers/${c.id}/start`);
    await after.until((es) => transitions(es).length === 1);
    after.close();
  });

  it('sends heartbeats on an idle stream, and shows another user nothing of mine', async () => {
    const user = await call('POST', '/users', { name: 'eve' });
    const token = (await call('POST', '/tokens', { name: 'eve-cli', user_id: user.body.data.id })).body.data.token;
    const theirs = await openSse(`${d.api}/events`, token);
    const c = await create();
    await call('POST', `/containers/${c.id}/pause`);
    await sleep(700);
    assert.ok(theirs.comments.includes('heartbeat'), 'a heartbeat arrived');
    assert.deepEqual(theirs.events, [], 'no event of another user');
    const forbidden = await openSse(`${d.api}/events?container_id=${c.id}`, token);
    assert.equal(forbidden.status, 404);
    theirs.close();
  });

  it('wait answers at once when the status is there, on the transition when it comes, and 408 on timeout', async () => {
    const c = await create({ command: ['sh', '-c', 'sleep 0.5; exit 4'] });
    const already = await call('GET', `/containers/${c.id}/wait?status=running`);
    assert.equal(already.status, 200);
    const waited = await call('GET', `/containers/${c.id}/wait?status=stopped&timeout=10`);
    const answeredAt = Date.now();
    assert.equal(waited.status, 200, JSON.stringify(waited.body));
    assert.equal(waited.body.data.status, 'stopped');
    assert.equal(waited.body.data.exit_code, 4);
    const row = (await logs(c.id)).at(-1);
    const lag = answeredAt - Date.parse(row.transition_time);
    assert.ok(lag < 250, `answered ${lag} ms after the transition was recorded`);
    const timeout = await call('GET', `/containers/${c.id}/wait?status=paused&timeout=0.3`);
    assert.equal(timeout.status, 408);
    assert.equal(timeout.body.code, 'WAIT_TIMEOUT');
    assert.equal(timeout.body.details.status, 'stopped');
  });

  it('?wait=false answers 202 with the operation, which GET /operations/{id} follows to its end', async () => {
    const c = await create({ command: ['sh', '-c', 'trap "" TERM; while :; do sleep 0.05; done'] });
    await untilProcess(d, c.id, 'sleep 0.05');
    const accepted = await call('POST', `/containers/${c.id}/stop?wait=false`, { timeout: 1 });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const op = accepted.body.data.operation;
    assert.equal(op.status, 'running');
    assert.equal(op.operation, 'stop');
    const busy = await call('POST', `/containers/${c.id}/pause?wait=false`);
    assert.equal(busy.status, 409, 'a conflicting operation is refused at once');
    const running = await call('GET', `/operations/${op.id}`);
    assert.equal(running.body.data.status, 'running');
    let done;
    for (let i = 0; i < 100; i++) {
      done = (await call('GET', `/operations/${op.id}`)).body.data;
      if (done.status !== 'running') break;
      await sleep(50);
    }
    assert.equal(done.status, 'succeeded');
    assert.equal(done.result_status, 'stopped');
    assert.ok(done.finished_at);
    const refused = await call('POST', `/containers/${c.id}/pause?wait=false`);
    assert.equal(refused.status, 400);
    assert.equal(refused.body.code, 'INVALID_TRANSITION');
    assert.equal((await call('GET', '/operations/ffffffffffffffffffffffff')).status, 404);
  });

  it('bulk runs one operation over 100 containers and reports each result, invalid ones included', async () => {
    const project = (await call('POST', '/projects', { name: 'bulk' })).body.data;
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push((await create({ project_id: project.id, autostart: false })).id);
    const stopped = ids.slice(0, 95);
    await call('POST', '/containers/bulk', { operation: 'start', ids: ids.slice(95) });
    const missing = 'ffffffffffffffffffffffff';
    const r = await call('POST', '/containers/bulk', { operation: 'start', ids: [...ids, missing] });
    assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 300));
    assert.deepEqual(r.body.data.summary, { total: 101, succeeded: 95, failed: 6 });
    const byId = new Map(r.body.data.results.map((x: any) => [x.container_id, x]));
    for (const id of stopped) assert.deepEqual(byId.get(id), { container_id: id, ok: true, status: 'running' });
    for (const id of ids.slice(95)) assert.equal((byId.get(id) as any).error.code, 'INVALID_TRANSITION');
    assert.equal((byId.get(missing) as any).error.code, 'NOT_FOUND');

    const paused = await call('POST', '/containers/bulk', { operation: 'pause', filter: { project_id: project.id } });
    assert.equal(paused.body.data.summary.succeeded, 100);
    const stop = await call('POST', '/containers/bulk', { operation: 'force-stop', filter: { project_id: project.id, status: 'paused' } });
    assert.equal(stop.body.data.summary.succeeded, 100);
    const listed = (await call('GET', `/containers?project_id=${project.id}&status=stopped`)).body.data.containers;
    assert.equal(listed.length, 100);
    const both = await call('POST', '/containers/bulk', { operation: 'start', ids: [missing], filter: {} });
    assert.equal(both.status, 400);
    for (const id of ids) assert.equal((await call('DELETE', `/containers/${id}`)).status, 200);
  });
});

describe('the event fan-out process runs only while streams are open', () => {
  const IDLE_MS = 300;
  let d: DaemonHandle;
  let call: ReturnType<typeof apiClient>;

  before(async () => {
    d = await startTestDaemon('sqlite', { HOODY_EVENTS_FANOUT_IDLE_MS: String(IDLE_MS) });
    call = apiClient(d.api, d.adminToken);
  });
  after(async () => {
    await d?.cleanup();
  });

  it('starts with the first stream, stays while one is open, exits after the last has gone for the idle time, and starts again', async () => {
    assert.equal(await fanoutPid(d.pid), undefined, 'an idle daemon has no fan-out process');
    const c = (await call('POST', '/containers', { name: 'fan-idle', container_image: 'busybox', command: ['sleep', '600'], autostart: false })).body.data;
    const url = `${d.api}/events?container_id=${c.id}&types=transition`;
    const first = await openSse(url, d.adminToken);
    const second = await openSse(url, d.adminToken);
    assert.equal((await call('POST', `/containers/${c.id}/start`)).status, 200);
    await first.until((es) => transitions(es).length === 1);
    await second.until((es) => transitions(es).length === 1);
    const pid = await fanoutPid(d.pid);
    assert.ok(pid, 'the first stream started the fan-out process');

    first.close();
    assert.equal(await first.ended, 'broken');
    // the daemon has taken the first stream's end: from here, with no stream left, its idle timer would run
    await eventually('the daemon to count one stream open', () => streamsOpen(d), (n) => n === 1);
    const released = performance.now();
    // the idle time passes (at least; a longer wait on a loaded machine only makes the check stricter)...
    await eventually('the idle time to pass', async () => performance.now() - released, (ms) => ms >= IDLE_MS * 2);
    // ...and the daemon answers after it, so a timer due by then has run (timers come before I/O in its loop)
    assert.equal((await call('POST', `/containers/${c.id}/pause`)).status, 200);
    await second.until((es) => transitions(es).length === 2);
    // a process retired with a stream open would have been replaced by the next stream's: the same one takes it
    const extra = await openSse(url, d.adminToken);
    assert.equal((await call('POST', `/containers/${c.id}/resume`)).status, 200);
    await extra.until((es) => transitions(es).length === 1);
    assert.deepEqual(await fanoutPids(d.pid), [pid], 'one stream stayed open: the same process holds the old stream and the new one');
    extra.close();
    assert.equal(await extra.ended, 'broken');
    await eventually('the daemon to count one stream open', () => streamsOpen(d), (n) => n === 1);

    second.close();
    await eventually('the idle fan-out process to exit', () => fanoutPid(d.pid), (p) => p === undefined);
    assert.doesNotMatch(d.output(), /fan-out process ended/, 'an idle exit is not reported as a crash');

    const third = await openSse(`${url}&since=0`, d.adminToken);
    // the replay: created, started, paused, resumed
    await third.until((es) => transitions(es).length === 4);
    assert.equal((await call('POST', `/containers/${c.id}/pause`)).status, 200);
    await third.until((es) => transitions(es).length === 5);
    assert.deepEqual(transitions(third.events).map((e) => e.data.log.to_status), ['stopped', 'running', 'paused', 'running', 'paused'], 'the replay, then live events through a new process');
    const again = await fanoutPid(d.pid);
    assert.ok(again !== undefined && again !== pid, 'a new fan-out process holds the new stream');
    third.close();
    assert.equal((await call('POST', `/containers/${c.id}/force-stop`)).status, 200);
  });
});
