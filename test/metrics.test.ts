/**
 * GET /metrics against the real daemon: who may read it, that operations, containers by status
 * and open event streams show in it as they happen, and the separate listener without a token.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { apiClient, startTestDaemon, untilProcess, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';
import { openSse } from './sse-reader.ts';

/** The value of one sample of the exposition (`name{labels} value`), or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('GET /metrics', () => {
  let d: DaemonHandle;
  let metricsUrl: string;
  before(async () => {
    // port 0: the start-up line says which port the listener got
    // a short sweep interval: drift made behind the daemon is found within a second
    d = await startTestDaemon('sqlite', { HOODY_METRICS_LISTEN: '127.0.0.1:0', HOODY_RECONCILE_INTERVAL_MS: '200' });
    const m = /"metrics":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(d.output());
    assert.ok(m?.[1], `the start-up line names the metrics listener:\n${d.output()}`);
    metricsUrl = `${m[1]}/metrics`;
  });
  after(async () => {
    await d?.cleanup();
  });

  const scrape = async (): Promise<string> => {
    const res = await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${d.adminToken}` } });
    assert.equal(res.status, 200);
    return res.text();
  };

  it('answers 401 without a token and 403 to a token that is not an admin\'s, in the error envelope', async () => {
    const none = await fetch(`${d.url}/metrics`);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { code: string }).code, 'UNAUTHORIZED');
    const admin = apiClient(d.api, d.adminToken);
    const user = await admin('POST', '/users', { name: 'metrics-reader' });
    const token = await admin('POST', '/tokens', { name: 'reader', user_id: user.body.data.id });
    assert.equal(token.status, 201, JSON.stringify(token.body));
    const other = await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${token.body.data.token}` } });
    assert.equal(other.status, 403);
    assert.equal(((await other.json()) as { code: string }).code, 'FORBIDDEN');
  });

  it('answers an admin in the Prometheus text format, with process metrics', async () => {
    const res = await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${d.adminToken}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^# HELP hoody_operations_total /m);
    assert.match(text, /^# TYPE hoody_operation_duration_seconds histogram$/m);
    assert.ok((sample(text, 'process_resident_memory_bytes') ?? 0) > 10_000_000, 'the process\'s resident memory is reported');
    assert.equal(sample(text, 'hoody_reconcile_drift_total{source="reconciler"}'), 0);
  });

  it('counts a pause of a real container, in the counter and the histogram, and shows it paused', async () => {
    const admin = apiClient(d.api, d.adminToken);
    const created = await admin('POST', '/containers', { name: 'metrics-pause', container_image: 'busybox', command: ['sh', '-c', 'while true; do sleep 1; done'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.data.id as string;
    await untilProcess(d, id, 'sleep');
    const before = await scrape();
    const ok = 'operation="pause",result="ok"';
    const countBefore = sample(before, `hoody_operations_total{${ok}}`) ?? 0;
    const histogramBefore = sample(before, `hoody_operation_duration_seconds_count{${ok}}`) ?? 0;
    assert.equal(sample(before, 'hoody_operations_total{operation="start",result="ok"}'), 1, 'the create\'s start was counted');
    assert.equal(sample(before, 'hoody_containers{status="running"}'), 1);
    assert.equal(sample(before, 'hoody_containers{status="paused"}'), 0);

    const paused = await admin('POST', `/containers/${id}/pause`);
    assert.equal(paused.status, 200, JSON.stringify(paused.body));
    const after = await scrape();
    assert.equal(sample(after, `hoody_operations_total{${ok}}`), countBefore + 1);
    assert.equal(sample(after, `hoody_operation_duration_seconds_count{${ok}}`), histogramBefore + 1);
    const seconds = sample(after, `hoody_operation_duration_seconds_sum{${ok}}`) ?? 0;
    assert.ok(seconds > 0 && seconds < 30, `the pause took ${seconds} s`);
    assert.equal(sample(after, 'hoody_containers{status="paused"}'), 1);
    assert.equal(sample(after, 'hoody_containers{status="running"}'), 0);
    // the request itself, by its route's pattern (not its id)
    assert.ok((sample(after, 'hoody_http_request_duration_seconds_count{method="POST",route="/api/v1/containers/:id/pause",status_code="200"}') ?? 0) >= 1, 'the pause request is counted by route');

    const refused = await admin('POST', `/containers/${id}/pause`);
    assert.equal(refused.status, 400, 'pausing a paused container is refused before any claim');
    await admin('POST', `/containers/${id}/force-stop`);
  });

  it('shows an open event stream in hoody_event_streams_open, and not after it is closed', async () => {
    assert.equal(sample(await scrape(), 'hoody_event_streams_open'), 0);
    const stream = await openSse(`${d.api}/events`, d.adminToken);
    try {
      assert.equal(stream.status, 200);
      await eventually('the stream counted', async () => sample(await scrape(), 'hoody_event_streams_open'), (n) => n === 1);
    } finally {
      stream.close();
    }
    await eventually('the stream no longer counted', async () => sample(await scrape(), 'hoody_event_streams_open'), (n) => n === 0);
  });

  it('is served without a token on the HOODY_METRICS_LISTEN address, and nothing else is', async () => {
    const res = await fetch(metricsUrl);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    assert.equal(sample(text, 'hoody_containers{status="stopped"}'), 1);
    assert.ok(text.includes('hoody_operations_total{operation="pause",result="ok"} 1'));
    const other = await fetch(metricsUrl.replace(/\/metrics$/, '/api/v1/containers'));
    assert.equal(other.status, 404, 'the API is not served on the metrics listener');
  });

  it('a daemon whose metrics address is taken exits with status 1, rather than run serving nothing', async () => {
    const taken = new URL(metricsUrl).host;
    await assert.rejects(startTestDaemon('sqlite', { HOODY_METRICS_LISTEN: taken }), (err: Error) => {
      assert.match(err.message, /exited with 1 before serving/);
      assert.match(err.message, /HOODY_METRICS_LISTEN/);
      return true;
    });
  });

  it('counts drift the reconciler corrects (runc pause from outside), and shows an open wait in hoody_waits_open', async () => {
    const admin = apiClient(d.api, d.adminToken);
    const created = await admin('POST', '/containers', { name: 'metrics-drift', container_image: 'busybox', command: ['sh', '-c', 'while true; do sleep 1; done'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.data.id as string;
    await untilProcess(d, id, 'sleep');
    const drift = 'hoody_reconcile_drift_total{source="reconciler"}';
    const before = sample(await scrape(), drift) ?? 0;
    execFileSync('runc', ['--root', join(d.dataDir, 'runtime', 'runc'), 'pause', id]);
    await eventually('the sweep to record the pause', async () => (await admin('GET', `/containers/${id}`)).body.data.status, (s) => s === 'paused');
    assert.equal(sample(await scrape(), drift), before + 1);

    assert.equal(sample(await scrape(), 'hoody_waits_open'), 0);
    const waiting = admin('GET', `/containers/${id}/wait?status=stopped&timeout=60`);
    await eventually('the wait counted', async () => sample(await scrape(), 'hoody_waits_open'), (n) => n === 1);
    assert.equal((await admin('POST', `/containers/${id}/force-stop`)).status, 200);
    assert.equal((await waiting).status, 200);
    await eventually('the wait no longer counted', async () => sample(await scrape(), 'hoody_waits_open'), (n) => n === 0);
  });
});
