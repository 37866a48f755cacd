/**
 * The daemon's log, against the real daemon: JSON lines on stdout (pretty text when asked), the
 * request id taken from `x-request-id` or made, echoed in the answer and carried by the request's
 * log lines, and no secret in any line.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { apiClient, startTestDaemon, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';

type Line = Record<string, unknown> & { level: number; time: number; msg: string };

/** The daemon's output as JSON lines; fails on a line that is not one. */
function jsonLines(d: DaemonHandle): Line[] {
  return d
    .output()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Line;
      } catch {
        assert.fail(`not a JSON line: ${l}`);
      }
    });
}

/** A made request id: the process's random prefix and a counter. */
const MADE_ID = /^[0-9a-f]{8}-[0-9a-z]+$/;

describe('the daemon\'s log, as JSON lines', () => {
  let d: DaemonHandle;
  before(async () => {
    d = await startTestDaemon('sqlite');
  });
  after(async () => {
    await d?.cleanup();
  });

  it('writes every line as JSON with level, time and msg; the start-up line gives version, URL, server, data folder, database, runtime and start-up time', () => {
    const lines = jsonLines(d);
    for (const l of lines) {
      assert.equal(typeof l.level, 'number', JSON.stringify(l));
      assert.equal(typeof l.time, 'number', JSON.stringify(l));
      assert.equal(typeof l.msg, 'string', JSON.stringify(l));
    }
    const start = lines.find((l) => l.msg.startsWith('hoody serving '));
    assert.ok(start, `a start-up line:\n${d.output()}`);
    assert.equal(start.level, 30, 'info');
    assert.equal(start.url, `${d.url}/api/v1`);
    assert.match(String(start.version), /^\d+\.\d+\.\d+/);
    assert.equal(start.server, 'test-node');
    assert.equal(start.dataDir, d.dataDir);
    assert.equal(start.database, 'sqlite');
    assert.match(String(start.runtime), /runc/);
    assert.ok(typeof start.startupMs === 'number' && start.startupMs > 0, JSON.stringify(start));
    assert.ok(!lines.some((l) => l.msg === 'incoming request' || l.msg === 'request completed'), 'no line per request at the info level');
  });

  it('echoes a sane x-request-id, and the 5xx answer\'s error line carries it (and no token)', async () => {
    const admin = apiClient(d.api, d.adminToken);
    // a first container builds the busybox image the broken copy is made from
    const first = await admin('POST', '/containers', { name: 'log-first', container_image: 'busybox', autostart: false });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const images = join(d.dataDir, 'images');
    // an image whose /proc is a file: the runtime cannot start it, the create answers 500
    execFileSync('sh', ['-c', `cp -a ${images}/busybox ${images}/broken && rm -rf ${images}/broken/rootfs/proc && : > ${images}/broken/rootfs/proc`]);
    const res = await fetch(`${d.api}/containers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${d.adminToken}`, 'content-type': 'application/json', 'x-request-id': 'abc-123' },
      body: JSON.stringify({ name: 'log-doomed', container_image: 'broken', command: ['sleep', '600'] }),
    });
    const body = (await res.json()) as { code: string };
    assert.equal(res.status, 500, JSON.stringify(body));
    assert.equal(body.code, 'RUNTIME_ERROR');
    assert.equal(res.headers.get('x-request-id'), 'abc-123');
    const line = await eventually('the error line', async () => jsonLines(d).find((l) => l.reqId === 'abc-123' && l.msg === 'request failed'), (l) => l !== undefined);
    assert.equal(line?.level, 50, 'error');
    assert.equal(line?.code, 'RUNTIME_ERROR');
    assert.equal(line?.url, '/api/v1/containers');
    assert.ok(!d.output().includes(d.adminToken), 'the token is in no line');
  });

  it('replaces a missing, overlong or unsafe x-request-id with one it makes, different for each request', async () => {
    const seen = new Set<string>();
    for (const given of [undefined, 'x'.repeat(129), 'has spaces', '<script>', 'a"b']) {
      const res = await fetch(`${d.url}/healthz`, { headers: given === undefined ? {} : { 'x-request-id': given } });
      assert.equal(res.status, 200);
      const id = res.headers.get('x-request-id') ?? '';
      assert.match(id, MADE_ID, `for ${JSON.stringify(given)}`);
      seen.add(id);
    }
    assert.equal(seen.size, 5, 'each request gets its own');
    const longest = 'y'.repeat(128);
    const kept = await fetch(`${d.url}/healthz`, { headers: { 'x-request-id': longest } });
    assert.equal(kept.headers.get('x-request-id'), longest, '128 characters are kept');
  });

  it('answers an error envelope with the request id too (401 from authentication)', async () => {
    const res = await fetch(`${d.api}/containers`, { headers: { 'x-request-id': 'trace-401' } });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('x-request-id'), 'trace-401');
  });
});

describe('the daemon\'s log at the debug level', () => {
  let d: DaemonHandle;
  before(async () => {
    d = await startTestDaemon('sqlite', { HOODY_LOG_LEVEL: 'debug' });
  });
  after(async () => {
    await d?.cleanup();
  });

  it('logs each completed request with its id, status and time, without the token', async () => {
    const res = await fetch(`${d.api}/containers`, { headers: { authorization: `Bearer ${d.adminToken}`, 'x-request-id': 'abc-123' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-request-id'), 'abc-123');
    const line = await eventually('the request line', async () => jsonLines(d).find((l) => l.reqId === 'abc-123'), (l) => l !== undefined);
    assert.equal(line?.msg, 'request completed');
    assert.equal(line?.level, 20, 'debug');
    assert.equal(line?.statusCode, 200);
    assert.equal(line?.url, '/api/v1/containers');
    assert.equal(typeof line?.ms, 'number');
    assert.ok(!d.output().includes(d.adminToken), 'the token is in no line');
  });

  it('keeps the token out of every line: sent in the Authorization header and in a query string, on a 2xx, a 4xx and a 5xx', async () => {
    const secret = d.adminToken;
    const get = (path: string, id: string) => fetch(`${d.api}${path}`, { headers: { authorization: `Bearer ${secret}`, 'x-request-id': id } });
    // declared parameters are logged as sent; an unknown one (the API refuses it) carries the token
    const listed = await get(`/containers?limit=5&access_token=${secret}`, 'leak-400');
    assert.equal(listed.status, 400);
    const also = await get(`/containers?limit=5&token=${encodeURIComponent(`Bearer ${secret}`)}`, 'leak-400b');
    assert.equal(also.status, 400);
    assert.equal((await get('/containers?limit=5', 'leak-200')).status, 200);
    // a 5xx: an image whose /proc is a file cannot start, the create fails in the runtime
    const admin = apiClient(d.api, secret);
    assert.equal((await admin('POST', '/containers', { name: 'leak-first', container_image: 'busybox', autostart: false })).status, 201);
    const images = join(d.dataDir, 'images');
    execFileSync('sh', ['-c', `cp -a ${images}/busybox ${images}/broken && rm -rf ${images}/broken/rootfs/proc && : > ${images}/broken/rootfs/proc`]);
    const failed = await fetch(`${d.api}/containers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'x-request-id': 'leak-500' },
      body: JSON.stringify({ name: 'leak-doomed', container_image: 'broken', command: ['sleep', '600'] }),
    });
    assert.equal(failed.status, 500, await failed.text());

    // the lines of those requests are there (this test would pass vacuously without them)
    const lines = await eventually('the request lines', async () => jsonLines(d), (ls) => ['leak-400', 'leak-400b', 'leak-200', 'leak-500'].every((id) => ls.some((l) => l.reqId === id && l.msg === 'request completed')));
    const of = (id: string) => lines.filter((l) => l.reqId === id);
    assert.equal(of('leak-400')[0]?.url, '/api/v1/containers?limit=5&access_token=[redacted]', 'the declared parameter kept, the unknown one redacted');
    assert.equal(of('leak-200')[0]?.url, '/api/v1/containers?limit=5');
    assert.ok(of('leak-500').some((l) => l.msg === 'request failed' && l.level === 50), 'the 5xx error line');
    assert.ok(!d.output().includes(secret), `the token is in no line:\n${d.output().split('\n').filter((l) => l.includes(secret)).join('\n')}`);
  });
});

describe('the daemon\'s log with HOODY_LOG_FORMAT=pretty', () => {
  let d: DaemonHandle;
  before(async () => {
    d = await startTestDaemon('sqlite', { HOODY_LOG_FORMAT: 'pretty' });
  });
  after(async () => {
    await d?.cleanup();
  });

  it('writes text for a person: the start-up line is not JSON and shows its level', () => {
    const start = d.output().split('\n').find((l) => l.includes('hoody serving'));
    assert.ok(start, d.output());
    assert.throws(() => JSON.parse(start), SyntaxError);
    assert.match(start, /INFO/);
    assert.match(start, /\d\d:\d\d:\d\d\.\d{3}/, 'a time of day');
    assert.ok(!d.output().includes('"level":'), 'no JSON line anywhere');
  });
});

describe('HOODY_LOG_LEVEL and HOODY_LOG_FORMAT', () => {
  it('refuse a value they do not know, naming the variable and the choices', async () => {
    const { configFromEnv } = await import('../src/main.ts');
    const hostIds = { subuid: '', subgid: '', passwd: '', group: '' };
    assert.throws(() => configFromEnv({}, { HOODY_LOG_LEVEL: 'loud' }, hostIds), /HOODY_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, not "loud"/);
    assert.throws(() => configFromEnv({}, { HOODY_LOG_FORMAT: 'xml' }, hostIds), /HOODY_LOG_FORMAT must be one of json, pretty, not "xml"/);
    assert.throws(() => configFromEnv({}, { HOODY_METRICS_LISTEN: '9464' }, hostIds), /HOODY_METRICS_LISTEN must be HOST:PORT/);
    assert.deepEqual(configFromEnv({}, { HOODY_METRICS_LISTEN: '[::1]:9464' }, hostIds).metricsListen, { host: '::1', port: 9464 });
    const defaults = configFromEnv({}, {}, hostIds);
    assert.equal(defaults.logLevel, 'info');
    assert.equal(defaults.metricsListen, undefined, 'no metrics listener unless asked');
  });
});
