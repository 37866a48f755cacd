/**
 * Three servers, one PostgreSQL: each daemon in a network namespace of its own (a "server" with its
 * own address), all sharing one database. Requests go to any daemon; the ones about a container of
 * another server reach its daemon. Needs root, runc, nsenter and PostgreSQL (HOODY_TEST_POSTGRES_URL).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { connect as netConnect } from 'node:net';
import { execFile } from 'node:child_process';
import { adminQuery, apiClient, HOODY_BIN, postgresUrl, startTestDaemon, type DaemonHandle } from './daemon-harness.ts';
import { HoodyClient } from '../src/sdk/index.ts';
import WebSocket from 'ws';
import { createRig, type Rig } from './cluster-rig.ts';
import { eventually } from './eventually.ts';
import { openSse, type SseEvent } from './sse-reader.ts';
import { signForward } from '../src/cluster/signature.ts';

const skip = !postgresUrl ? 'HOODY_TEST_POSTGRES_URL is not set' : process.getuid?.() !== 0 ? 'needs root' : false;

const tag = randomBytes(2).toString('hex');
const prefix = `hc${tag}`;
const third = 16 + (parseInt(tag, 16) % 200);
const net = `10.232.${third}`;
const secret = randomBytes(32).toString('hex');
const adminToken = `hoody_test_${randomBytes(16).toString('hex')}`;
const PORT = 7000;

/** The CLI as shipped, as the admin, against the daemon at `url`: its exit code and what it printed. */
const runCli = (url: string, timeoutMs: number, args: string[]) =>
  new Promise<{ code: number; out: string }>((resolve) => {
    execFile(process.execPath, [HOODY_BIN, ...args], { env: { ...process.env, HOODY_API_URL: url, HOODY_TOKEN: adminToken, NO_COLOR: '1' }, timeout: timeoutMs }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });

/** The parent of a process (conmon, for a container's init). */
const parentOf = (pid: number): number => Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

describe('three servers on one PostgreSQL, each daemon in its own network namespace', { skip }, () => {
  let rig: Rig;
  let dbName = '';
  const daemons: DaemonHandle[] = [];
  const calls: ReturnType<typeof apiClient>[] = [];
  const names = [1, 2, 3].map((i) => `${prefix}-s${i}`);
  const ids: Record<string, string> = {};
  let adminId = '';
  const serverIds: string[] = [];

  before(async () => {
    rig = createRig(prefix, net, 3);
    const pg = new URL(postgresUrl ?? '');
    const relayPort = await rig.relay(pg.hostname, Number(pg.port || 5432));
    dbName = `hoody_cluster_${tag}_${randomBytes(3).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${dbName}`);
    const shared = new URL(postgresUrl ?? '');
    shared.hostname = rig.gateway;
    shared.port = String(relayPort);
    shared.pathname = `/${dbName}`;
    // one after the other: the first migrates the database
    for (const [i, host] of rig.hosts.entries()) {
      const d = await startTestDaemon('postgres', { HOODY_CLUSTER_SECRET: secret, HOODY_SNAPSHOT_REPLICAS: '1' }, { sharedDatabaseUrl: shared.toString(), serverName: names[i], host: host.ip, port: PORT, wrap: host.wrap, adminToken });
      daemons.push(d);
      calls.push(apiClient(d.api, adminToken));
    }
    const servers = (await calls[0]!('GET', '/servers')).body.data.servers;
    for (const n of names) serverIds.push(servers.find((s: any) => s.name === n).id);
    adminId = (await calls[0]!('GET', '/users')).body.data.users.find((u: any) => u.is_admin).id;
  });

  after(async () => {
    for (const d of daemons) await d.cleanup().catch(() => undefined);
    if (dbName) await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    await rig?.destroy();
  });

  const [a, b, c] = [0, 1, 2].map((i) => (method: string, path: string, body?: unknown, headers?: Record<string, string>) => calls[i]!(method, path, body, headers));
  const logsOf = async (id: string): Promise<any[]> => (await a!('GET', `/containers/${id}/status-logs?limit=100&sort_order=asc`)).body.data.logs;

  it('lists the three servers ready, each with the address it listens on, its version, capacity and usage', async () => {
    const { status, body } = await b!('GET', '/servers');
    assert.equal(status, 200);
    const mine = body.data.servers.filter((s: any) => names.includes(s.name));
    assert.deepEqual(
      mine.map((s: any) => [s.name, s.status, s.advertise_url]),
      rig.hosts.map((h, i) => [names[i], 'ready', `http://${h.ip}:${PORT}`]),
    );
    for (const s of mine) {
      assert.match(s.version, /^\d+\.\d+\.\d+/);
      assert.ok(s.capacity.cpus >= 1 && s.capacity.memory_mb > 0, JSON.stringify(s));
      assert.deepEqual(Object.keys(s.usage).sort(), ['containers', 'memory_mb', 'running']);
    }
  });

  it('creates a container on each server through one daemon; its processes are that server\'s', async () => {
    for (const [i, n] of names.entries()) {
      const r = await a!('POST', '/containers', { name: `c${i + 1}`, container_image: 'busybox', command: ['sleep', '3600'], server_name: n });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.data.server_name, n);
      assert.equal(r.body.data.server_status, 'ready');
      assert.equal(r.body.data.status, 'running');
      ids[`c${i + 1}`] = r.body.data.id;
      // the runtime info comes from the owning daemon; its init's parent (conmon) lives in that server's namespace
      const info = (await c!('GET', `/containers/${r.body.data.id}?runtime=true`)).body.data;
      assert.equal(info.observed_status, 'running');
      assert.equal(info.in_sync, true);
      assert.ok(rig.pidsIn(rig.hosts[i]!).includes(parentOf(info.runtime_info.pid)), `conmon of c${i + 1} runs on ${n}`);
    }
    // placed by the daemon: recorded, and on a ready server
    const placed = await b!('POST', '/containers', { name: 'placed', container_image: 'busybox', command: ['sleep', '3600'], autostart: false });
    assert.equal(placed.status, 201, JSON.stringify(placed.body));
    assert.ok(serverIds.includes(placed.body.data.server_id));
    // by id too; an unknown server is 404
    assert.equal((await a!('POST', '/containers', { name: 'by-id', container_image: 'busybox', autostart: false, server_id: serverIds[2] })).body.data?.server_name, names[2]);
    assert.equal((await a!('POST', '/containers', { name: 'nowhere', container_image: 'busybox', server_name: 'no-such-server' })).body.code, 'NOT_FOUND');
  });

  it('carries out every lifecycle operation, PATCH, exec, logs and DELETE through a daemon that does not own the container, logged as the caller', async () => {
    const id = ids.c2!;
    const before = (await logsOf(id)).length;
    for (const [op, status] of [['stop', 'stopped'], ['start', 'running'], ['restart', 'running'], ['pause', 'paused'], ['resume', 'running'], ['force-stop', 'stopped']] as const) {
      const r = await c!('POST', `/containers/${id}/${op}`);
      assert.equal(r.status, 200, `${op}: ${JSON.stringify(r.body)}`);
      assert.deepEqual(r.body.data, { operation: op, container_id: id, status });
    }
    // the same envelope and error as the owner gives: a stopped container cannot be paused
    const refused = await a!('POST', `/containers/${id}/pause`);
    assert.equal(refused.status, 400);
    assert.equal(refused.body.code, 'INVALID_TRANSITION');
    const patched = await a!('PATCH', `/containers/${id}`, { environment_vars: { COLOR: 'green' } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual(patched.body.data.environment_vars, { COLOR: 'green' });
    assert.equal((await c!('POST', `/containers/${id}/start`)).status, 200);
    const exec = await a!('POST', `/containers/${id}/exec`, { command: ['sh', '-c', 'echo $COLOR on $(hostname); exit 3'] });
    assert.equal(exec.status, 200, JSON.stringify(exec.body));
    assert.deepEqual([exec.body.data.stdout, exec.body.data.exit_code], ['green on c2\n', 3]);
    const rows = (await logsOf(id)).slice(before);
    assert.deepEqual(
      rows.map((l) => `${l.from_status}>${l.to_status}`),
      ['running>stopped', 'stopped>running', 'running>stopped', 'stopped>running', 'running>paused', 'paused>running', 'running>stopped', 'stopped>running'],
    );
    assert.ok(rows.every((l) => l.triggered_by === adminId && l.metadata.server_name === names[1]), JSON.stringify(rows.map((l) => [l.triggered_by, l.metadata.server_name])));
    // a program's output, read through another server's daemon
    const talker = await a!('POST', '/containers', { name: 'talker', container_image: 'busybox', command: ['sh', '-c', 'echo hello from the talker; sleep 3600'], server_name: names[2] });
    assert.equal(talker.status, 201);
    const out = await eventually('the talker\'s line through server 1', async () => (await fetch(`${daemons[0]!.api}/containers/${talker.body.data.id}/logs`, { headers: { authorization: `Bearer ${adminToken}` } })).text(), (t) => t.includes('hello from the talker'), 15_000);
    assert.match(out, /hello from the talker/);
    assert.equal((await b!('POST', `/containers/${talker.body.data.id}/force-stop`)).status, 200);
    const removed = await b!('DELETE', `/containers/${talker.body.data.id}`);
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.equal((await c!('GET', `/containers/${talker.body.data.id}`)).status, 404);
  });

  it('opens a terminal of a container on another server through any daemon', async () => {
    const ws = new WebSocket(`${daemons[0]!.url.replace('http', 'ws')}/api/v1/containers/${ids.c2}/terminal?cols=100&rows=30`, ['hoody.terminal'], { headers: { authorization: `Bearer ${adminToken}` } });
    let text = '';
    const control: any[] = [];
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (!binary) return void control.push(JSON.parse(data.toString('utf8')));
      text += data.toString('utf8');
      // busybox ash asks where the cursor is after each prompt
      if (data.includes('\x1b[6n')) ws.send(Buffer.from('\x1b[1;1R'));
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    try {
      ws.send(Buffer.from('echo "$(hostname) $((6*7))"; stty size\r'));
      await eventually('the shell\'s answer', async () => text, (t) => /c2 42/.test(t) && /30 100/.test(t), 15_000);
      assert.equal(control[0]?.type, 'session');
      ws.send(Buffer.from('exit 5\r'));
      await eventually('the exit', async () => control.find((m) => m.type === 'exit'), (m) => m !== undefined, 15_000);
      assert.equal(control.find((m) => m.type === 'exit').code, 5);
    } finally {
      ws.terminate();
    }
  });

  it('runs a bulk operation over containers of several servers', async () => {
    const r = await b!('POST', '/containers/bulk', { operation: 'restart', ids: [ids.c1, ids.c2, ids.c3] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.data.results.map((x: any) => [x.ok, x.status]), [[true, 'running'], [true, 'running'], [true, 'running']]);
  });

  it('carries out a request with an Idempotency-Key once, retried through another daemon', async () => {
    const key = `k-${randomBytes(4).toString('hex')}`;
    const before = (await logsOf(ids.c1!)).length;
    const send = (d: DaemonHandle) => fetch(`${d.api}/containers/${ids.c1}/restart`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'idempotency-key': key } });
    const first = await send(daemons[1]!);
    assert.equal(first.status, 200);
    const firstBody = await first.text();
    const again = await send(daemons[2]!);
    assert.equal(again.status, 200);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(await again.text(), firstBody);
    assert.equal((await logsOf(ids.c1!)).length, before + 2, 'one restart: stopped, then running');
  });

  it('streams every server\'s transitions from any daemon, in one order, resumable with the same cursor', async () => {
    const stream = await openSse(`${daemons[0]!.api}/events?types=transition`, adminToken);
    assert.equal(stream.status, 200);
    const mine = (es: SseEvent[]) => es.filter((e) => [ids.c1, ids.c2, ids.c3].includes(e.data.container_id));
    // each through its own daemon: three writers of one log
    await Promise.all([c!('POST', `/containers/${ids.c3}/pause`), b!('POST', `/containers/${ids.c2}/pause`), a!('POST', `/containers/${ids.c1}/pause`)]);
    await Promise.all([a!('POST', `/containers/${ids.c1}/resume`), c!('POST', `/containers/${ids.c3}/resume`), b!('POST', `/containers/${ids.c2}/resume`)]);
    const got = mine(await stream.until((es) => mine(es).length >= 6, 20_000));
    stream.close();
    assert.deepEqual(new Set(got.map((e) => e.data.log.metadata.server_name)), new Set(names));
    const cursors = got.map((e) => Number(e.id));
    assert.ok(cursors.every((x, i) => i === 0 || x > cursors[i - 1]!), `cursors grow: ${cursors.join(', ')}`);
    // resumed on another daemon from the third event's cursor: the same rows after it
    const resumed = await openSse(`${daemons[2]!.api}/events?types=transition`, adminToken, { 'last-event-id': got[2]!.id ?? '' });
    const rest = mine(await resumed.until((es) => mine(es).length >= 3, 20_000));
    resumed.close();
    assert.deepEqual(rest.slice(0, 3).map((e) => e.id), got.slice(3, 6).map((e) => e.id));
  });

  it('sends a request on to the owner\'s address only: a request line naming another host is not followed', async () => {
    // a listener the daemons could reach, which must hear nothing
    const heard: string[] = [];
    const bait = createServer((req, res) => {
      heard.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      res.end('{"statusCode":200,"message":"bait","data":{}}');
    });
    await new Promise<void>((resolve) => bait.listen(0, rig.gateway, resolve));
    try {
      const port = (bait.address() as { port: number }).port;
      const raw = await new Promise<string>((resolve, reject) => {
        // written, not ended: the answer comes before the connection closes (Connection: close)
        const sock = netConnect(PORT, rig.hosts[0]!.ip, () => sock.write(`GET http://${rig.gateway}:${port}/api/v1/containers/${ids.c2}/logs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${adminToken}\r\nConnection: close\r\n\r\n`));
        let text = '';
        sock.on('data', (d: Buffer) => (text += d.toString()));
        sock.on('end', () => resolve(text));
        sock.on('error', reject);
      });
      assert.match(raw, /^HTTP\/1\.1 200 /, raw.slice(0, 300));
      assert.doesNotMatch(raw, /bait/);
      assert.deepEqual(heard, []);
    } finally {
      bait.close();
    }
  });

  it('a create retried through another daemon with the same Idempotency-Key is one container', async () => {
    const key = `create-${randomBytes(4).toString('hex')}`;
    const body = JSON.stringify({ name: `once-${randomBytes(2).toString('hex')}`, container_image: 'busybox', autostart: false });
    const send = (d: DaemonHandle) => fetch(`${d.api}/containers`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', 'idempotency-key': key }, body });
    const first = await send(daemons[1]!);
    assert.equal(first.status, 201);
    const made = ((await first.json()) as any).data;
    for (const d of [daemons[2]!, daemons[0]!]) {
      const again = await send(d);
      assert.equal(again.status, 201);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.equal(((await again.json()) as any).data.id, made.id);
    }
  });

  it('refuses a request marked as sent on by a daemon whose cluster signature does not hold', async () => {
    const url = `/api/v1/containers/${ids.c2}/stop`;
    const auth = `Bearer ${adminToken}`;
    for (const signature of ['t=1,s=00', signForward('x'.repeat(64), serverIds[0]!, 'POST', url, auth), signForward(secret, serverIds[0]!, 'POST', `/api/v1/containers/${ids.c1}/stop`, auth)]) {
      const r = await fetch(`${daemons[1]!.url}${url}`, { method: 'POST', headers: { authorization: auth, 'x-hoody-forwarded-by': serverIds[0]!, 'x-hoody-cluster-signature': signature } });
      assert.equal(r.status, 401, signature);
      assert.equal(((await r.json()) as { code: string }).code, 'UNAUTHORIZED');
    }
    assert.equal((await a!('GET', `/containers/${ids.c2}`)).body.data.status, 'running', 'nothing was done');
  });

  it('maintenance: stops the server\'s containers with the reason logged, places nothing there, and starts them again on leaving', async () => {
    // a job that ran and ended by itself before: leaving maintenance does not start it again
    const job = await a!('POST', '/containers', { name: 'job', container_image: 'busybox', command: ['true'], server_name: names[2] });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    await eventually('the job to end', async () => (await a!('GET', `/containers/${job.body.data.id}`)).body.data.status, (st) => st === 'stopped', 20_000);
    const enter = await a!('POST', `/servers/${serverIds[2]}/maintenance`, { enabled: true, reason: 'kernel upgrade' });
    assert.equal(enter.status, 200, JSON.stringify(enter.body));
    assert.equal(enter.body.data.server.status, 'maintenance');
    assert.deepEqual(enter.body.data.results.map((r: any) => [r.container_id, r.ok, r.status]), [[ids.c3, true, 'stopped']]);
    const last = (await logsOf(ids.c3!)).at(-1);
    assert.deepEqual([last.to_status, last.triggered_by, last.metadata.reason], ['stopped', adminId, 'kernel upgrade']);
    assert.equal((await b!('GET', `/servers/${serverIds[2]}`)).body.data.status, 'maintenance');
    const refused = await b!('POST', '/containers', { name: 'late', container_image: 'busybox', server_name: names[2] });
    assert.deepEqual([refused.status, refused.body.code], [409, 'SERVER_IN_MAINTENANCE']);
    for (const n of [1, 2, 3]) {
      const p = await c!('POST', '/containers', { name: `auto${n}`, container_image: 'busybox', autostart: false });
      assert.equal(p.status, 201, JSON.stringify(p.body));
      assert.notEqual(p.body.data.server_id, serverIds[2], 'never placed on a server in maintenance');
    }
    const leave = await b!('POST', `/servers/${serverIds[2]}/maintenance`, { enabled: false });
    assert.equal(leave.status, 200, JSON.stringify(leave.body));
    assert.equal(leave.body.data.server.status, 'ready');
    assert.deepEqual(leave.body.data.results.map((r: any) => [r.container_id, r.ok, r.status]), [[ids.c3, true, 'running']]);
    assert.equal((await logsOf(ids.c3!)).at(-1).metadata.reason, 'server maintenance completes');
  });

  it('the CLI and the SDK: servers listed with their usage, a create placed by --server, maintenance kept running then ended', async () => {
    const cli = (...args: string[]) => runCli(daemons[0]!.url, 60_000, args);
    const list = await cli('servers', 'list');
    assert.equal(list.code, 0, list.out);
    for (const n of names) assert.match(list.out, new RegExp(`${n}\\s+ready`));
    const created = await cli('containers', 'create', '--name', 'by-cli', '--image', 'busybox', '--server', names[1]!, '--no-autostart', '--json');
    assert.equal(created.code, 0, created.out);
    assert.equal(JSON.parse(created.out).server_name, names[1]);
    const enter = await cli('servers', 'maintenance', names[1]!, '--keep-running', '--reason', 'disk check');
    assert.equal(enter.code, 0, enter.out);
    assert.match(enter.out, /Server entered maintenance: 0 container\(s\) stopped/);
    assert.equal((await a!('GET', `/containers/${ids.c2}`)).body.data.status, 'running', 'kept running');
    const client = new HoodyClient({ baseUrl: daemons[2]!.url, token: adminToken });
    const left = await client.api.servers.maintenance(serverIds[1]!, { enabled: false });
    assert.equal(left.data.server.status, 'ready');
    assert.deepEqual(left.data.results, [], 'nothing was stopped, so nothing starts');
  });

  it('moves a stopped container to another server with its files, id and status log, and refuses what cannot move', async () => {
    const made = await b!('POST', '/containers', {
      name: 'mover',
      container_image: 'busybox',
      server_name: names[0],
      command: ['sh', '-c', 'if [ ! -e /data.txt ]; then echo payload-$(hostname) > /data.txt; mkdir -p /d/e; echo deep > /d/e/f; ln -s /data.txt /link; rm -f /bin/vi; fi; sleep 3600'],
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const id = made.body.data.id as string;
    await eventually('the files written', async () => (await a!('POST', `/containers/${id}/exec`, { command: ['cat', '/d/e/f'] })).body.data?.stdout, (o) => o === 'deep\n', 20_000);
    assert.equal((await c!('POST', `/containers/${id}/move`, { server_name: names[1] })).body.code, 'INVALID_TRANSITION', 'a running container does not move');
    assert.equal((await c!('POST', `/containers/${id}/stop`)).status, 200);
    assert.equal((await c!('POST', `/containers/${id}/move`, { server_name: names[0] })).body.code, 'INVALID_INPUT', 'it is there already');
    const rows = (await logsOf(id)).length;

    const moved = await c!('POST', `/containers/${id}/move`, { server_name: names[1], reason: 'rebalance' });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.deepEqual([moved.body.data.id, moved.body.data.server_name, moved.body.data.status], [id, names[1], 'stopped']);
    const logs = await logsOf(id);
    assert.equal(logs.length, rows + 1, 'its log kept, one row added');
    const last = logs.at(-1);
    assert.deepEqual([last.metadata.operation, last.metadata.from_server, last.metadata.to_server, last.metadata.reason, last.triggered_by], ['move', serverIds[0], serverIds[1], 'rebalance', adminId]);
    assert.equal(existsSync(join(daemons[0]!.dataDir, 'runtime', 'containers', id)), false, 'nothing of it is left on the server it left');

    assert.equal((await a!('POST', `/containers/${id}/start`)).status, 200);
    const info = (await a!('GET', `/containers/${id}?runtime=true`)).body.data;
    assert.deepEqual([info.server_name, info.observed_status], [names[1], 'running']);
    assert.ok(rig.pidsIn(rig.hosts[1]!).includes(parentOf(info.runtime_info.pid)), 'it runs on the server it moved to');
    const seen = await a!('POST', `/containers/${id}/exec`, { command: ['sh', '-c', 'cat /data.txt /d/e/f; readlink /link; [ -e /bin/vi ] && echo vi-back || echo vi-gone'] });
    assert.equal(seen.body.data.stdout, 'payload-mover\ndeep\n/data.txt\nvi-gone\n');

    // its snapshots go with it, and restore there
    assert.equal((await a!('POST', `/containers/${id}/stop`)).status, 200);
    const snaps: string[] = [];
    for (const alias of ['keep', 'keep2']) {
      const snap = await a!('POST', `/containers/${id}/snapshots`, { alias });
      assert.equal(snap.status, 201, JSON.stringify(snap.body));
      snaps.push(snap.body.data.snapshot.id);
    }
    assert.equal((await a!('POST', `/containers/${id}/start`)).status, 200);
    assert.equal((await a!('POST', `/containers/${id}/exec`, { command: ['sh', '-c', 'echo changed > /data.txt'] })).body.data.exit_code, 0);
    assert.equal((await a!('POST', `/containers/${id}/stop`)).status, 200);
    const back = await b!('POST', `/containers/${id}/move`, { server_name: names[0] });
    assert.equal(back.status, 200, JSON.stringify(back.body));
    const listed = (await c!('GET', `/containers/${id}/snapshots`)).body.data.snapshots;
    assert.deepEqual(listed.map((s: any) => [s.alias, s.server_id]), [['keep', serverIds[0]], ['keep2', serverIds[0]]]);
    const trees = (i: number): string[] => readdirSync(join(daemons[i]!.dataDir, 'snapshots', 'trees'));
    assert.deepEqual(snaps.filter((s) => trees(0).includes(s)), snaps, 'their files are on the server it moved to');
    assert.deepEqual(snaps.filter((s) => trees(1).includes(s)), [], 'and no longer on the one it left');
    const restored = await c!('POST', `/containers/${id}/snapshots/keep/restore`);
    assert.equal(restored.status, 200, JSON.stringify(restored.body));
    // an autostart container starts again after a restore
    assert.deepEqual([restored.body.data.autostart, restored.body.data.status], [true, 'running']);
    assert.equal((await a!('POST', `/containers/${id}/exec`, { command: ['cat', '/data.txt'] })).body.data.stdout, 'payload-mover\n');
    assert.equal((await a!('POST', `/containers/${id}/stop`)).status, 200);

    // a copy made for a third server: made beside its source, moved, started there
    const copy = await a!('POST', `/containers/${id}/copy`, { name: 'mover-copy', server_name: names[2], start: true });
    assert.equal(copy.status, 201, JSON.stringify(copy.body));
    assert.deepEqual([copy.body.data.server_name, copy.body.data.status], [names[2], 'running']);
    const copied = await c!('POST', `/containers/${copy.body.data.id}/exec`, { command: ['sh', '-c', 'cat /data.txt /d/e/f'] });
    assert.equal(copied.body.data.stdout, 'payload-mover\ndeep\n');
    assert.deepEqual(
      (await logsOf(copy.body.data.id)).map((l) => `${l.to_status}:${l.metadata.operation}`),
      ['copying:copy', 'stopped:copy', 'stopped:move', 'running:start'],
    );
    assert.equal((await a!('GET', `/containers/${id}`)).body.data.server_name, names[0], 'the source stays');
    assert.equal((await a!('POST', `/containers/${copy.body.data.id}/force-stop`)).status, 200);
  });

  it('a move whose receiving daemon is killed part-way leaves the container where it was, whole; the receiver keeps nothing of it', async () => {
    const made = await a!('POST', '/containers', { name: 'heavy', container_image: 'busybox', server_name: names[0], command: ['sh', '-c', '[ -e /big.md5 ] || { head -c 300000000 /dev/urandom > /big && md5sum /big > /big.md5; }; sleep 3600'] });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const id = made.body.data.id as string;
    await eventually('the big file written', async () => (await a!('POST', `/containers/${id}/exec`, { command: ['sh', '-c', 'cat /big.md5 2>/dev/null'] })).body.data?.stdout ?? '', (o) => o.length > 32, 120_000);
    const sum = (await a!('POST', `/containers/${id}/exec`, { command: ['cat', '/big.md5'] })).body.data.stdout;
    assert.equal((await a!('POST', `/containers/${id}/stop`)).status, 200);
    const incoming = join(daemons[1]!.dataDir, 'transit', 'in');
    const moving = a!('POST', `/containers/${id}/move`, { server_name: names[1] });
    // the receiver dies while the files arrive
    await eventually('files arriving on server 2', async () => (existsSync(incoming) ? readdirSync(incoming).filter((n) => n.startsWith(id)).length : 0), (n) => n > 0, 60_000);
    await daemons[1]!.stop('SIGKILL');
    const answer = await moving;
    assert.notEqual(answer.status, 200, JSON.stringify(answer.body));
    assert.ok(['SERVER_OFFLINE', 'FORWARD_FAILED'].includes(answer.body.code), JSON.stringify(answer.body));
    const after = (await a!('GET', `/containers/${id}`)).body.data;
    assert.deepEqual([after.server_name, after.status, after.current_operation], [names[0], 'stopped', null]);
    assert.equal((await a!('POST', `/containers/${id}/start`)).status, 200);
    assert.equal((await a!('POST', `/containers/${id}/exec`, { command: ['md5sum', '/big'] })).body.data.stdout, sum, 'its files whole');
    await daemons[1]!.restart();
    assert.equal(existsSync(join(daemons[1]!.dataDir, 'transit')), false, 'the files in transit are gone');
    assert.equal(existsSync(join(daemons[1]!.dataDir, 'runtime', 'containers', id)), false, 'no half container on the receiver');
    assert.equal((await b!('POST', `/containers/${id}/force-stop`)).status, 200);
    assert.equal((await b!('DELETE', `/containers/${id}`)).status, 200);
  });

  it('a daemon killed: its server is offline within 20 s, its containers say so and answer 503, the rest goes on; one is recovered elsewhere from its snapshot\'s replica; restarted, it logs what changed meanwhile and its copy of the recovered one is gone', async () => {
    const pid = (await a!('GET', `/containers/${ids.c3}?runtime=true`)).body.data.runtime_info.pid as number;
    // a container of server 3 with a snapshot, kept on another server too (HOODY_SNAPSHOT_REPLICAS=1)
    const made = await a!('POST', '/containers', { name: 'phoenix', container_image: 'busybox', server_name: names[2], command: ['sh', '-c', '[ -e /data.txt ] || echo as-snapshotted > /data.txt; sleep 3600'] });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const phoenix = made.body.data.id as string;
    await eventually('its file', async () => (await b!('POST', `/containers/${phoenix}/exec`, { command: ['cat', '/data.txt'] })).body.data?.stdout, (o) => o === 'as-snapshotted\n', 20_000);
    const snap = await b!('POST', `/containers/${phoenix}/snapshots`, { alias: 'before-loss' });
    assert.equal(snap.status, 201, JSON.stringify(snap.body));
    assert.equal(snap.body.data.snapshot.server_id, serverIds[2]);
    assert.equal(snap.body.data.snapshot.replicas.length, 1, JSON.stringify(snap.body.data.snapshot));
    const holder = serverIds.indexOf(snap.body.data.snapshot.replicas[0].server_id);
    assert.ok(holder === 0 || holder === 1, 'kept on another server');
    assert.ok(readdirSync(join(daemons[holder]!.dataDir, 'snapshots', 'trees')).includes(snap.body.data.snapshot.id), 'its files are there');
    // a deleted snapshot's replica goes from the server keeping it
    const temp = (await a!('POST', `/containers/${phoenix}/snapshots`, { alias: 'temp' })).body.data.snapshot;
    const tempHolder = serverIds.indexOf(temp.replicas[0]?.server_id);
    assert.ok(readdirSync(join(daemons[tempHolder]!.dataDir, 'snapshots', 'trees')).includes(temp.id));
    assert.deepEqual((await a!('GET', `/containers/${phoenix}/snapshots/temp`)).body.data.snapshot.replicas.map((r: any) => r.server_id), [serverIds[tempHolder]]);
    assert.equal((await c!('DELETE', `/containers/${phoenix}/snapshots/temp`)).status, 200);
    assert.equal(readdirSync(join(daemons[tempHolder]!.dataDir, 'snapshots', 'trees')).includes(temp.id), false, 'the replica is removed');
    assert.equal((await b!('POST', `/containers/${phoenix}/exec`, { command: ['sh', '-c', 'echo changed-after > /data.txt'] })).body.data.exit_code, 0);
    const ghostPid = (await a!('GET', `/containers/${phoenix}?runtime=true`)).body.data.runtime_info.pid as number;
    const refusedBeforeLoss = await a!('POST', `/containers/${phoenix}/move`, { server_name: names[0], snapshot: 'before-loss' });
    assert.deepEqual([refusedBeforeLoss.status, refusedBeforeLoss.body.code], [400, 'INVALID_INPUT'], 'a snapshot is for a lost server\'s container only');

    // a tenant's container there too, with a snapshot: an admin recovers the whole server, any user's containers
    const tenant = (await a!('POST', '/users', { name: `${prefix}-tenant` })).body.data;
    const asTenant = apiClient(daemons[0]!.api, (await a!('POST', '/tokens', { name: 'own', user_id: tenant.id })).body.data.token);
    const tenantBox = await asTenant('POST', '/containers', { name: 'tenant-box', container_image: 'busybox', server_name: names[2], command: ['sleep', '3600'] });
    assert.equal(tenantBox.status, 201, JSON.stringify(tenantBox.body));
    assert.equal((await asTenant('POST', `/containers/${tenantBox.body.data.id}/snapshots`)).status, 201);

    await daemons[2]!.stop('SIGKILL');
    const killedAt = Date.now();
    await eventually('server 3 offline', async () => (await a!('GET', `/servers/${serverIds[2]}`)).body.data.status, (s) => s === 'offline', 30_000);
    assert.ok(Date.now() - killedAt <= 20_000, `offline ${Date.now() - killedAt} ms after the kill`);
    const seen = (await b!('GET', `/containers/${ids.c3}`)).body.data;
    assert.deepEqual([seen.status, seen.server_status, seen.in_sync], ['running', 'offline', false]);
    assert.equal((await a!('GET', '/containers?limit=100')).body.data.containers.find((x: any) => x.id === ids.c3).server_status, 'offline');
    const refused = await a!('POST', `/containers/${ids.c3}/stop`);
    assert.deepEqual([refused.status, refused.body.code, refused.body.details.server_name], [503, 'SERVER_OFFLINE', names[2]]);
    // the other servers are not affected
    assert.equal((await b!('POST', `/containers/${ids.c1}/restart`)).status, 200);
    assert.equal((await a!('POST', `/containers/${ids.c2}/pause`)).status, 200);
    assert.equal((await b!('POST', `/containers/${ids.c2}/resume`)).status, 200);
    const notAdmin = await asTenant('POST', `/servers/${serverIds[2]}/recover`, {});
    assert.deepEqual([notAdmin.status, notAdmin.body.code], [403, 'FORBIDDEN'], JSON.stringify(notAdmin.body));
    const notLost = await a!('POST', `/servers/${serverIds[1]}/recover`, {});
    assert.deepEqual([notLost.status, notLost.body.code], [400, 'INVALID_STATE'], 'a server that answers is not recovered');
    const noCopy = await a!('POST', `/containers/${ids.c3}/move`, { server_name: names[0] });
    assert.deepEqual([noCopy.status, noCopy.body.code], [400, 'INVALID_STATE'], 'no snapshot of it is kept elsewhere');
    // recovered on server 1 from the snapshot's replica (fetched from server 2 when that one keeps it)
    const recovered = await b!('POST', `/containers/${phoenix}/move`, { server_name: names[0], reason: 'server 3 lost' });
    assert.equal(recovered.status, 200, JSON.stringify(recovered.body));
    assert.deepEqual([recovered.body.data.server_name, recovered.body.data.status, recovered.body.data.server_status], [names[0], 'stopped', 'ready']);
    const moveRow = (await logsOf(phoenix)).at(-1);
    assert.deepEqual(
      [moveRow.to_status, moveRow.metadata.operation, moveRow.metadata.from_server, moveRow.metadata.to_server, moveRow.metadata.recovered, moveRow.metadata.snapshot.alias, moveRow.metadata.reason, moveRow.triggered_by],
      ['stopped', 'move', serverIds[2], serverIds[0], true, 'before-loss', 'server 3 lost', adminId],
    );
    const snapsNow = (await a!('GET', `/containers/${phoenix}/snapshots`)).body.data.snapshots;
    assert.deepEqual(snapsNow.map((x: any) => [x.alias, x.server_id]), [['before-loss', serverIds[0]]], 'the snapshot is server 1\'s own now');
    assert.equal((await a!('POST', `/containers/${phoenix}/start`)).status, 200);
    const content = await a!('POST', `/containers/${phoenix}/exec`, { command: ['cat', '/data.txt'] });
    assert.equal(content.body.data.stdout, 'as-snapshotted\n', 'its files are the snapshot\'s');
    const runsOn = (await a!('GET', `/containers/${phoenix}?runtime=true`)).body.data.runtime_info.pid as number;
    assert.ok(rig.pidsIn(rig.hosts[0]!).includes(parentOf(runsOn)), 'it runs on server 1');
    assert.ok(existsSync(`/proc/${ghostPid}`), 'its old copy still runs on the lost server (only the daemon died)');
    // the rest of the lost server, by an admin: the tenant's container is recovered; the one without a snapshot kept elsewhere stays
    // through the CLI, sent to server 2's daemon
    const wide = await runCli(daemons[1]!.url, 120_000, ['servers', 'recover', names[2]!, '--to', names[1]!, '--json']);
    assert.equal(wide.code, 0, wide.out);
    const byId = Object.fromEntries(JSON.parse(wide.out).results.map((r: any) => [r.container_id, r]));
    assert.deepEqual([byId[tenantBox.body.data.id]?.ok, byId[tenantBox.body.data.id]?.status], [true, 'stopped'], wide.out);
    assert.deepEqual([byId[ids.c3!]?.ok, byId[ids.c3!]?.error?.code], [false, 'INVALID_STATE']);
    assert.equal(byId[phoenix], undefined, 'already recovered');
    assert.equal((await asTenant('GET', `/containers/${tenantBox.body.data.id}`)).body.data.server_name, names[1], 'its owner sees it on server 2');

    // while its daemon is away the container's program ends
    process.kill(pid, 'SIGKILL');
    await daemons[2]!.restart();
    // back, server 3 kills its copy of the recovered container and removes its files
    await eventually('the old copy gone', async () => existsSync(`/proc/${ghostPid}`) || existsSync(join(daemons[2]!.dataDir, 'runtime', 'containers', phoenix)), (x) => x === false, 30_000);
    assert.equal((await a!('GET', `/containers/${phoenix}?runtime=true`)).body.data.observed_status, 'running', 'the recovered one runs on');
    await eventually('server 3 ready again', async () => (await a!('GET', `/servers/${serverIds[2]}`)).body.data.status, (s) => s === 'ready', 30_000);
    const after = await eventually('container 3 reconciled', async () => (await a!('GET', `/containers/${ids.c3}`)).body.data, (x) => x.status !== 'running', 30_000);
    assert.equal(after.server_status, 'ready');
    assert.equal(after.in_sync, true);
    const last = (await logsOf(ids.c3!)).at(-1);
    assert.equal(last.from_status, 'running');
    assert.notEqual(last.triggered_by, adminId, 'written by the daemon itself');
    assert.equal((await a!('POST', `/containers/${ids.c3}/start`)).status, 200);
  });
});
