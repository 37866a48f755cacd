/**
 * GET /containers/{id}/logs against the real daemon and real busybox containers: both streams,
 * the filters, NDJSON, follow delivering each new line quickly and ending when the container stops,
 * rotation keeping the cap without a gap while a follower reads, logs across container and daemon
 * restarts, another user's 404, and nothing left once the container is deleted.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { apiClient, HOODY_BIN, startTestDaemon, type DaemonHandle } from './daemon-harness.ts';
import { HoodyClient } from '../src/sdk/index.ts';
import { eventually } from './eventually.ts';
import { recordTime } from '../src/core/container-logs.ts';

/** Bytes at which a container's log file is rotated in this test. */
const FILE_MAX = 20_000;

/** Logs one user may follow at once on the test's daemon. */
const MAX_FOLLOWS = 2;

describe('container logs', () => {
  let d: DaemonHandle;
  let call: ReturnType<typeof apiClient>;

  before(async () => {
    d = await startTestDaemon('sqlite', { HOODY_LOG_FILE_MAX_BYTES: String(FILE_MAX), HOODY_MAX_LOG_FOLLOWS_PER_USER: String(MAX_FOLLOWS) });
    call = apiClient(d.api, d.adminToken);
  });
  after(async () => {
    await d?.cleanup();
  });

  async function create(name: string, script: string, extra: Record<string, unknown> = {}): Promise<string> {
    const res = await call('POST', '/containers', { name, container_image: 'busybox', command: ['sh', '-c', script], ...extra });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.data.id as string;
  }

  async function logs(id: string, query = '', accept = 'text/plain'): Promise<{ status: number; text: string }> {
    const res = await fetch(`${d.api}/containers/${id}/logs${query}`, { headers: { authorization: `Bearer ${d.adminToken}`, accept }, signal: AbortSignal.timeout(20_000) });
    return { status: res.status, text: await res.text() };
  }

  let both = '';

  it('answers what the container wrote to stdout and stderr, filtered by stream, time and tail, as text or NDJSON', async () => {
    both = await create('both', 'echo out-1; echo err-1 >&2; echo out-2; printf "no newline"; exec sleep 600');
    await eventually('the four lines logged', async () => (await logs(both)).text, (t) => t.includes('no newline'), 10_000);
    const all = (await logs(both)).text;
    assert.deepEqual(all.split('\n').filter(Boolean).sort(), ['err-1', 'no newline', 'out-1', 'out-2']);
    assert.deepEqual((await logs(both, '?stream=stderr')).text, 'err-1\n');
    assert.deepEqual((await logs(both, '?stream=stdout&tail=1')).text, 'no newline\n');
    assert.equal((await logs(both, '?tail=0')).text, '');
    const stamped = (await logs(both, '?timestamps=true&stream=stdout')).text.split('\n').filter(Boolean);
    assert.equal(stamped.length, 3);
    for (const l of stamped) assert.match(l, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+(Z|[+-]\d{2}:\d{2}) (out-\d|no newline)$/);
    const records = (await logs(both, '', 'application/x-ndjson')).text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.deepEqual(records.find((r) => r.line === 'err-1')?.stream, 'stderr');
    assert.ok(records.every((r) => Number.isFinite(recordTime(r.time))));
    assert.equal((await logs(both, '?since=1h')).text.split('\n').filter(Boolean).length, 4);
    assert.equal((await logs(both, `?until=${Math.floor(Date.now() / 1000) - 3600}`)).text, '');
    const bad = await logs(both, '?since=yesterday');
    assert.equal(bad.status, 400);
    assert.equal(JSON.parse(bad.text).code, 'INVALID_INPUT');
  });

  it('reads them through the CLI (stdout lines to stdout, stderr lines to stderr) and the SDK', async () => {
    const cli = spawnSync(process.execPath, [HOODY_BIN, 'containers', 'logs', '--tail', '3', both], { encoding: 'utf8', env: { ...process.env, HOODY_API_URL: d.url, HOODY_TOKEN: d.adminToken }, timeout: 30_000 });
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal(cli.stderr, 'err-1\n');
    assert.deepEqual(cli.stdout.split('\n').filter(Boolean).sort(), ['no newline', 'out-2']);
    const client = new HoodyClient({ baseUrl: d.url, token: d.adminToken });
    const lines: string[] = [];
    for await (const r of client.api.containers.logs(both, { stream: 'stdout' })) lines.push(`${r.stream}:${r.line}`);
    assert.deepEqual(lines, ['stdout:out-1', 'stdout:out-2', 'stdout:no newline']);
  });

  it('follows: each new line arrives soon after it is written, and the answer ends when the container stops', async () => {
    const ticker = await create('ticker', 'i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done');
    const res = await fetch(`${d.api}/containers/${ticker}/logs?follow=true&tail=0`, { headers: { authorization: `Bearer ${d.adminToken}`, accept: 'application/x-ndjson' } });
    assert.equal(res.status, 200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    const lags: number[] = [];
    let buffered = '';
    while (lags.length < 12) {
      const { value, done } = await reader.read();
      assert.ok(!done, 'the stream stays open while the container runs');
      buffered += decoder.decode(value, { stream: true });
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const l of lines.filter(Boolean)) lags.push(Date.now() - recordTime(JSON.parse(l).time));
    }
    lags.sort((a, b) => a - b);
    const median = lags[Math.floor(lags.length / 2)] as number;
    process.stdout.write(`# follow lag ms: median ${median}, max ${lags.at(-1)}\n`);
    assert.ok(median < 100, `median lag ${median} ms (all: ${lags.join(', ')})`);
    const stopped = call('POST', `/containers/${ticker}/stop`, { timeout: 0 });
    // the answer ends by itself once the container stopped
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
    assert.equal((await stopped).status, 200);
  });

  it('rotates past the file size, keeping at most two files and every line a follower was sent (at a pace below a file per read)', async () => {
    const lines = 1500;
    // about 200 lines fill a file: a rotation every few hundred ms, each seen by the follower's next read (every 50 ms)
    const chatty = await create('chatty', `sleep 1; i=0; while [ $i -lt ${lines} ]; do echo line-$i-${'x'.repeat(40)}; i=$((i+1)); [ $((i % 10)) = 0 ] && sleep 0.02; done; exec sleep 600`);
    // a follower attached while it writes: rotations are kept as they happen
    const res = await fetch(`${d.api}/containers/${chatty}/logs?follow=true`, { headers: { authorization: `Bearer ${d.adminToken}` } });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes(`line-${lines - 1}-`)) {
      const { value, done } = await reader.read();
      assert.ok(!done);
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel();
    const followed = text.split('\n').filter((l) => l.startsWith('line-')).map((l) => Number(l.split('-')[1]));
    assert.deepEqual(followed, Array.from({ length: lines }, (_, i) => i), 'the follower got every line once, in order');
    // on disk: the current file and the one before it, each near the cap
    const bundle = join(d.dataDir, 'runtime', 'containers', chatty);
    const files = readdirSync(bundle).filter((f) => f.startsWith('ctr.log'));
    const inodes = new Map(files.map((f) => [statSync(join(bundle, f)).ino, statSync(join(bundle, f)).size]));
    const bytes = [...inodes.values()].reduce((a, b) => a + b, 0);
    assert.ok(inodes.size <= 2, `at most two log files: ${files.join(', ')}`);
    assert.ok(bytes <= 2 * FILE_MAX + 200, `${bytes} bytes on disk, cap ${2 * FILE_MAX}`);
    // what is read back is the newest lines, without a gap
    const kept = (await logs(chatty)).text.split('\n').filter((l) => l.startsWith('line-')).map((l) => Number(l.split('-')[1]));
    assert.equal(kept.at(-1), lines - 1);
    assert.ok(kept.length > 100 && kept.length < lines, `${kept.length} lines kept`);
    assert.deepEqual(kept, Array.from({ length: kept.length }, (_, i) => (kept[0] as number) + i), 'no gap');
  });

  it('follows across a stop and a start with follow_restarts, until the container is deleted', async () => {
    const runs = await create('runs', 'echo run-start; exec sleep 600');
    await eventually('the first run logged', async () => (await logs(runs)).text, (t) => t.includes('run-start'), 10_000);
    const res = await fetch(`${d.api}/containers/${runs}/logs?follow=true&follow_restarts=true`, { headers: { authorization: `Bearer ${d.adminToken}` } });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    const readUntil = async (count: number): Promise<void> => {
      while (text.split('run-start').length - 1 < count) {
        const { value, done } = await reader.read();
        assert.ok(!done, `the stream stayed open: ${text}`);
        text += decoder.decode(value, { stream: true });
      }
    };
    await readUntil(1);
    assert.equal((await call('POST', `/containers/${runs}/stop`, { timeout: 0 })).status, 200);
    assert.equal((await call('POST', `/containers/${runs}/start`)).status, 200);
    await readUntil(2);
    assert.equal((await call('POST', `/containers/${runs}/force-stop`)).status, 200);
    assert.equal((await call('DELETE', `/containers/${runs}`)).status, 200);
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
  });

  it('caps the logs a user follows at once, and ends a deleted token\'s follows', async () => {
    const token = (await call('POST', '/tokens', { name: `follows-${process.pid}` })).body.data;
    // bounded: a follow that did not end fails the test instead of holding it
    const follow = (secret: string): Promise<Response> => fetch(`${d.api}/containers/${both}/logs?follow=true&tail=0`, { headers: { authorization: `Bearer ${secret}` }, signal: AbortSignal.timeout(30_000) });
    // the answers begin at once, before the quiet container writes anything
    const held = await Promise.all(Array.from({ length: MAX_FOLLOWS }, () => follow(token.token)));
    assert.deepEqual(held.map((r) => r.status), Array(MAX_FOLLOWS).fill(200));
    const over = await follow(token.token);
    const body = await over.json();
    assert.deepEqual([over.status, body.code, body.details?.kind, body.details?.limit], [429, 'TOO_MANY_REQUESTS', 'follow', MAX_FOLLOWS]);
    // reading without follow is not capped
    assert.equal((await fetch(`${d.api}/containers/${both}/logs?tail=1`, { headers: { authorization: `Bearer ${token.token}` } })).status, 200);
    assert.equal((await call('DELETE', `/tokens/${token.id}`)).status, 200);
    // the follows end (the container still runs)
    await Promise.all(held.map((r) => r.text()));
    const again = await follow(d.adminToken);
    assert.equal(again.status, 200);
    await again.body?.cancel();
  });

  it('keeps the logs across a container restart and a daemon restart, and deletes them with the container', async () => {
    assert.equal((await call('POST', `/containers/${both}/restart`)).status, 200);
    await eventually('the second run logged', async () => (await logs(both, '?stream=stdout')).text, (t) => t.split('out-1').length === 3, 10_000);
    await d.restart();
    call = apiClient(d.api, d.adminToken);
    const after = (await logs(both, '?stream=stderr')).text;
    assert.equal(after, 'err-1\nerr-1\n');
    // another user's container does not exist for them
    const user = (await call('POST', '/users', { name: 'mallory' })).body.data;
    const token = (await call('POST', '/tokens', { name: 'mallory', user_id: user.id })).body.data;
    const other = await fetch(`${d.api}/containers/${both}/logs`, { headers: { authorization: `Bearer ${token.secret ?? token.token}` } });
    assert.equal(other.status, 404);
    assert.equal((await call('POST', `/containers/${both}/force-stop`)).status, 200);
    assert.equal((await call('DELETE', `/containers/${both}`)).status, 200);
    assert.equal((await logs(both)).status, 404);
    assert.equal(readdirSync(join(d.dataDir, 'runtime', 'containers')).includes(both), false);
  });
});
