/**
 * The SDK's way of knowing when operations complete, against a real daemon: client.events
 * (in order, resumed across a daemon restart with nothing lost or repeated, giving up on a 4xx),
 * containers.wait, containers.manageAsync with operations.get, and containers.bulk.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { untilProcess, type DaemonHandle } from './daemon-harness.ts';
import { daemonWithClient, removeContainers } from './sdk-fixture.ts';
import { eventually, sleep } from './eventually.ts';
import { HoodyApiError, HoodyClient, SseParser, type FetchLike, type HoodyEvent, type OperationInfo, type TransitionEvent } from '../src/sdk/index.ts';

/** Awaits a promise that must reject with a HoodyApiError, and answers it. */
async function apiError(promise: Promise<unknown>): Promise<HoodyApiError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof HoodyApiError, `expected a HoodyApiError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

const transitionsOf = (events: HoodyEvent[]): TransitionEvent[] => events.filter((e): e is TransitionEvent => e.type === 'transition');
const steps = (events: HoodyEvent[]): string[] => transitionsOf(events).map((e) => `${e.log.from_status}>${e.log.to_status}`);

describe('SDK: events, wait, background operations and bulk against a real daemon', () => {
  let d: DaemonHandle;
  let client: HoodyClient;
  const made: string[] = [];
  let n = 0;

  /** A busybox container (stopped unless autostart), deleted after the test. */
  async function container(autostart = false, command?: string[]): Promise<string> {
    const c = await client.api.containers.create({ name: `sdkev-${(n++).toString(36)}`, container_image: 'busybox', autostart, ...(command ? { command } : {}) });
    made.push(c.data.id);
    if (autostart) await client.api.containers.wait(c.data.id, 'running', { timeout: 10 });
    return c.data.id;
  }
  /** The status log rows of a container, oldest first. */
  const logIds = async (id: string): Promise<string[]> => (await client.api.containers.statusLogs(id, { limit: 100, sort_order: 'asc' })).data.logs.map((l) => l.id);

  daemonWithClient((daemon, c) => {
    d = daemon;
    client = c;
  });
  afterEach(async () => {
    await removeContainers(client, made);
  });

  it('subscribe hands every transition of a scripted sequence to the handler, in order, typed, with operation events too', async () => {
    const id = await container();
    const events: HoodyEvent[] = [];
    let opened = 0;
    const sub = client.events.subscribe({ container_id: id }, (e) => void events.push(e), { onOpen: () => opened++ });
    await eventually('the stream to open', async () => opened, (o) => o === 1);
    for (const op of ['start', 'pause', 'resume', 'stop'] as const) await client.api.containers.manage(id, op);
    await eventually('four transitions', async () => transitionsOf(events).length, (k) => k >= 4);
    assert.deepEqual(steps(events), ['stopped>running', 'running>paused', 'paused>running', 'running>stopped']);
    const transitions = transitionsOf(events);
    assert.deepEqual(
      transitions.map((e) => e.log.id),
      (await logIds(id)).slice(1),
      'the same rows as the status log, after the create row',
    );
    const who = transitions[0]?.log.triggered_by;
    assert.match(who ?? '', /^user_/);
    for (const e of transitions) {
      assert.equal(e.container_id, id);
      assert.equal(e.log.triggered_by, who);
    }
    const cursors = transitions.map((e) => e.cursor);
    assert.ok(cursors.every((c, i) => i === 0 || c > (cursors[i - 1] ?? Infinity)), `cursors grow: ${cursors.join(',')}`);
    assert.equal(sub.lastEventId, String(cursors.at(-1)), 'lastEventId is the newest cursor');
    await eventually('the last operation to succeed', async () => events.filter((e) => e.type === 'operation').length, (k) => k >= 8);
    const operations = events.flatMap((e) => (e.type === 'operation' ? [`${e.operation}:${e.phase}:${e.status ?? ''}`] : []));
    assert.ok(events.every((e) => e.type !== 'operation' || e.triggered_by === who));
    assert.deepEqual(operations, ['start:accepted:', 'start:succeeded:running', 'pause:accepted:', 'pause:succeeded:paused', 'resume:accepted:', 'resume:succeeded:running', 'stop:accepted:', 'stop:succeeded:stopped']);

    sub.close();
    await sub.done;
    const seen = events.length;
    await client.api.containers.manage(id, 'start');
    await sleep(300);
    assert.equal(events.length, seen, 'nothing arrives after close()');
    assert.equal(opened, 1, 'it never reconnected');
  });

  it('keeps going across a daemon restart: retries with growing delays, resumes with Last-Event-ID, and gets the transitions made meanwhile exactly once', async () => {
    const id = await container();
    // every /events request the SDK makes, with its Last-Event-ID; a gate can hold reconnections
    const requests: (string | undefined)[] = [];
    let gate: Promise<void> | undefined;
    const gated: FetchLike = async (url, init) => {
      if (url.includes('/events')) {
        if (gate) await gate;
        requests.push((init.headers as Record<string, string>)['last-event-id']);
      }
      return fetch(url, init);
    };
    const watcher = new HoodyClient({ baseUrl: d.url, token: d.adminToken, fetch: gated });
    const events: HoodyEvent[] = [];
    const drops: { code: string; retryInMs: number }[] = [];
    let opened = 0;
    const sub = watcher.events.subscribe({ container_id: id, types: ['transition'] }, (e) => void events.push(e), {
      onOpen: () => opened++,
      onDisconnect: (err, retryInMs) => drops.push({ code: err.code, retryInMs }),
      maxRetryMs: 1000,
    });
    try {
      await eventually('the stream to open', async () => opened, (o) => o === 1);
      await client.api.containers.manage(id, 'start');
      await eventually('the start transition', async () => events.length, (k) => k === 1);
      const before = sub.lastEventId;
      assert.equal(before, String(transitionsOf(events)[0]?.cursor));

      // the daemon goes away: the stream ends, then every attempt fails, each after a longer delay
      await d.stop();
      await eventually('three failed reconnections', async () => drops.length, (k) => k >= 3, 10_000);
      assert.ok(drops.every((x) => x.code === 'NETWORK_ERROR'), JSON.stringify(drops));
      const delays = drops.map((x) => x.retryInMs);
      assert.deepEqual(delays.slice(0, 3), [100, 200, 400], 'the delay doubles from 100 ms');

      // it comes back; the reconnection is held until transitions happened that the stream did not see live
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      await d.restart();
      await sleep(1200); // at least one more attempt is now held at the gate
      for (const op of ['pause', 'resume', 'stop'] as const) await client.api.containers.manage(id, op);
      gate = undefined;
      release();

      await eventually('the three transitions made while it was reconnecting', async () => events.length, (k) => k >= 4, 10_000);
      await sleep(300);
      assert.equal(opened, 2, 'it opened the stream again');
      assert.deepEqual(steps(events), ['stopped>running', 'running>paused', 'paused>running', 'running>stopped'], 'nothing lost, in order');
      const ids = transitionsOf(events).map((e) => e.log.id);
      assert.equal(new Set(ids).size, ids.length, 'no log id twice');
      assert.deepEqual(ids, (await logIds(id)).slice(1), 'exactly the status log');
      assert.equal(requests[0], undefined, 'the first request resumes from nothing');
      assert.equal(requests.at(-1), before, 'the reconnection sent the last id it had');
      assert.equal(sub.lastEventId, String(transitionsOf(events).at(-1)?.cursor));
    } finally {
      sub.close();
    }
    await sub.done;
  });

  it('subscribe gives up on a 4xx answer: onError gets the HoodyApiError once, done rejects with it, no retries', async () => {
    const errors: unknown[] = [];
    const drops: unknown[] = [];
    const missing = client.events.subscribe({ container_id: 'ffffffffffffffffffffffff' }, () => assert.fail('no event expected'), {
      onError: (err) => errors.push(err),
      onDisconnect: (err) => drops.push(err),
    });
    const notFound = await apiError(missing.done);
    assert.equal(notFound.code, 'NOT_FOUND');
    assert.equal(notFound.statusCode, 404);
    assert.deepEqual(errors, [notFound]);
    assert.deepEqual(drops, []);

    const stranger = new HoodyClient({ baseUrl: d.url, token: 'hoody_not_a_token' });
    const refused = await apiError(stranger.events.subscribe({}, () => undefined).done);
    assert.equal(refused.code, 'UNAUTHORIZED');
    const invalid = await apiError(client.events.subscribe({ since: -1 }, () => undefined).done);
    assert.equal(invalid.code, 'INVALID_INPUT');
  });

  it('subscribe with since replays the transitions after that cursor first', async () => {
    const id = await container();
    const first: TransitionEvent[] = [];
    const sub = client.events.subscribe({ container_id: id, types: ['transition'] }, (e) => void first.push(e as TransitionEvent));
    await client.api.containers.manage(id, 'start');
    await client.api.containers.manage(id, 'pause');
    await eventually('two transitions', async () => first.length, (k) => k === 2);
    sub.close();
    const replayed: HoodyEvent[] = [];
    const again = client.events.subscribe({ container_id: id, since: first[0]?.cursor ?? 0 }, (e) => void replayed.push(e));
    await eventually('the replay', async () => replayed.length, (k) => k >= 1);
    await sleep(200);
    again.close();
    assert.deepEqual(steps(replayed), ['running>paused']);
    assert.equal(again.lastEventId, String(first[1]?.cursor));
  });

  it('a handler that throws stops the subscription with its error', async () => {
    const id = await container();
    const boom = new Error('handler broke');
    const errors: unknown[] = [];
    const sub = client.events.subscribe({ container_id: id }, () => {
      throw boom;
    }, { onError: (err) => errors.push(err) });
    await client.api.containers.manage(id, 'start');
    await assert.rejects(sub.done, (err) => err === boom);
    assert.deepEqual(errors, [boom]);
  });

  it('wait answers at once when the status is there, when the transition comes, and rejects with WAIT_TIMEOUT (408) after the timeout', async () => {
    const id = await container();
    const already = await client.api.containers.wait(id, 'stopped');
    assert.equal(already.statusCode, 200);
    assert.equal(already.message, 'Container is stopped');
    assert.equal(already.data.id, id);

    const waiting = client.api.containers.wait(id, 'running', { timeout: 10 });
    await sleep(100);
    await client.api.containers.manageAsync(id, 'start');
    const running = await waiting;
    assert.equal(running.data.status, 'running');

    const startedAt = Date.now();
    const timedOut = await apiError(client.api.containers.wait(id, 'paused', { timeout: 0.3 }));
    const took = Date.now() - startedAt;
    assert.equal(timedOut.code, 'WAIT_TIMEOUT');
    assert.equal(timedOut.statusCode, 408);
    assert.equal(timedOut.details?.status, 'running');
    assert.match(timedOut.message, /did not become paused within 0\.3 s/);
    assert.ok(took >= 250 && took < 3000, `answered after ${took} ms`);
    assert.equal((await apiError(client.api.containers.wait('ffffffffffffffffffffffff', 'running'))).code, 'NOT_FOUND');
  });

  it('manageAsync answers 202 with a running operation that operations.get follows to its end', async () => {
    const id = await container(true, ['sh', '-c', 'trap "" TERM; while :; do sleep 0.05; done']);
    await untilProcess(d, id, 'sleep 0.05');
    const accepted = await client.api.containers.manageAsync(id, 'stop', { timeout: 1, reason: 'async test' });
    assert.equal(accepted.statusCode, 202);
    assert.equal(accepted.message, 'Operation accepted');
    const op = accepted.data.operation;
    assert.match(op.id, /^[0-9a-f]{24}$/);
    assert.equal(op.container_id, id);
    assert.equal(op.operation, 'stop');
    assert.equal(op.status, 'running', 'it ignores SIGTERM, so the stop takes its 1 s timeout');
    assert.equal(op.finished_at, null);

    const busy = await apiError(client.api.containers.manageAsync(id, 'pause'));
    assert.equal(busy.code, 'OPERATION_IN_PROGRESS');
    const done: OperationInfo = (await eventually('the operation to finish', () => client.api.operations.get(op.id), (r) => r.data.status !== 'running', 10_000)).data;
    assert.equal(done.status, 'succeeded');
    assert.equal(done.result_status, 'stopped');
    assert.equal(done.error, null);
    assert.ok(done.finished_at && Date.parse(done.finished_at) >= Date.parse(done.started_at));
    assert.equal((await client.api.containers.get(id)).data.status, 'stopped');
    const last = (await client.api.containers.statusLogs(id, { limit: 1 })).data.logs[0];
    assert.equal(last?.metadata.reason, 'async test', 'the body reached the operation');

    assert.equal((await apiError(client.api.containers.manageAsync(id, 'pause'))).code, 'INVALID_TRANSITION');
    assert.equal((await apiError(client.api.operations.get('ffffffffffffffffffffffff'))).code, 'NOT_FOUND');
    await assert.rejects(client.api.containers.manageAsync(id, 'explode' as never), TypeError);
  });

  it('bulk runs one operation on ids or on a filter, and reports each container, failures included', async () => {
    const project = (await client.api.projects.create({ name: 'sdk-bulk' })).data;
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const c = await client.api.containers.create({ name: `bulk-${i}`, project_id: project.id, container_image: 'busybox', autostart: false });
      made.push(c.data.id);
      ids.push(c.data.id);
    }
    const missing = 'ffffffffffffffffffffffff';
    const started = await client.api.containers.bulk({ operation: 'start', ids: [...ids, missing], reason: 'bulk test' });
    assert.equal(started.statusCode, 200);
    assert.equal(started.data.operation, 'start');
    assert.deepEqual(started.data.summary, { total: 3, succeeded: 2, failed: 1 });
    for (const id of ids) assert.deepEqual(started.data.results.find((r) => r.container_id === id), { container_id: id, ok: true, status: 'running' });
    const failed = started.data.results.find((r) => r.container_id === missing);
    assert.equal(failed?.ok, false);
    assert.equal(failed?.error?.code, 'NOT_FOUND');
    assert.equal(failed?.error?.statusCode, 404);

    const paused = await client.api.containers.bulk({ operation: 'pause', filter: { project_id: project.id, status: 'running' } });
    assert.deepEqual(paused.data.summary, { total: 2, succeeded: 2, failed: 0 });
    const listed = await client.api.containers.list({ project_id: project.id, status: 'paused' });
    assert.deepEqual(listed.data.containers.map((c) => c.id).sort(), [...ids].sort());
    const none = await client.api.containers.bulk({ operation: 'resume', filter: { project_id: project.id, name: 'no-such-name' } });
    assert.deepEqual(none.data, { operation: 'resume', results: [], summary: { total: 0, succeeded: 0, failed: 0 } });
    assert.equal((await apiError(client.api.containers.bulk({ operation: 'stop', ids, filter: {} }))).code, 'INVALID_INPUT');
  });

  it('SseParser reads the event-stream format: CRLF or CR line ends split across chunks, comments, multi-line data, ids kept', () => {
    const parser = new SseParser();
    const text = ': connected\r\n\r\nid: 7\r\nevent: transition\r\ndata: {"a":\r\ndata:1}\r\n\r\nevent: operation\rdata: x\r\rid: 9\n\n';
    const messages = [];
    for (let i = 0; i < text.length; i += 3) messages.push(...parser.push(text.slice(i, i + 3)));
    assert.deepEqual(messages, [
      { event: 'transition', data: '{"a":\n1}', lastEventId: '7' },
      { event: 'operation', data: 'x', lastEventId: '7' },
    ]);
    assert.equal(parser.lastEventId, '9', 'an id without data still moves the last id');
  });
});
