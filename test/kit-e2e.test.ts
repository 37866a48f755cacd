/**
 * The kit against a real daemon, runc and Xvnc: a `hoody_kit` container's shared terminals
 * (several clients on one session, a late joiner given the screen, who is attached in
 * runtime_info and the event stream, the CLI attaching from a pipe) and its display (an Xvnc in
 * its own cgroup, answering RFB through the router, view-only viewers, gone when the container
 * stops and back when it starts).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import WebSocket from 'ws';
import { Client, PROMPT } from './terminal-client.ts';
import { startTestDaemon, apiClient, HOODY_BIN, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';
import { openSse, type SseStream } from './sse-reader.ts';
import { cgroupPrefixFor } from '../src/runtime/runc/runc-driver.ts';
import { HoodyClient } from '../src/sdk/index.ts';

const skip = process.getuid?.() !== 0 ? 'needs root (runc, cgroups)' : existsSync('/usr/bin/Xvnc') ? undefined : 'needs Xvnc (tigervnc-standalone-server)';
const tag = randomBytes(3).toString('hex');

describe('the kit: shared terminals and the display', { skip }, () => {
  let d: DaemonHandle;
  let call: ReturnType<typeof apiClient>;
  let router = '';
  let kit: any;
  let hosts: Record<string, string> = {};
  const cookies: Record<string, string> = {};
  const open: Client[] = [];
  let events: SseStream | undefined;

  before(async () => {
    d = await startTestDaemon('sqlite', { HOODY_PROXY_PORT: '0', HOODY_PROXY_DOMAIN: 'apps.localhost' });
    call = apiClient(d.api, d.adminToken);
    const m = /service URLs \S+ on (http:\/\/[0-9.]+:\d+)/.exec(d.output());
    assert.ok(m?.[1], `the daemon names its router: ${d.output()}`);
    router = m[1];
    const project = (await call('POST', '/projects', { name: `kit${tag}` })).body.data.id;
    const created = await call('POST', '/containers', { container_image: 'busybox', project_id: project, name: 'box', hoody_kit: true, command: ['sleep', '3600'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    kit = created.body.data;
    events = await openSse(`${d.api}/events?container_id=${kit.id}&types=client`, d.adminToken);
  });
  after(async () => {
    for (const c of open) c.ws.terminate();
    events?.close();
    await d?.cleanup();
  });

  /** A cookie of `host` (its open link traded at the router), kept per host. */
  async function cookieOf(program: string): Promise<string> {
    const host = hosts[program] as string;
    if (cookies[host]) return cookies[host];
    const services = (await call('GET', `/containers/${kit.id}/services`)).body.data.services;
    const s = services.find((x: any) => `${x.program}-${x.index}` === program);
    const res = await request(s.open_url.replace(`http://${host}:`, 'http://127.0.0.1:'), { headers: { host } });
    assert.equal(res.statusCode, 303);
    await res.body.dump();
    return (cookies[host] = String(res.headers['set-cookie']).split(';')[0] as string);
  }

  async function attach(program: string, size = 'cols=80&rows=24'): Promise<Client> {
    const c = await Client.open(`${router.replace('http', 'ws')}/__hoody/terminal?${size}`, { host: hosts[program] as string, cookie: await cookieOf(program) });
    open.push(c);
    return c;
  }

  const runtime = async (): Promise<any> => (await call('GET', `/containers/${kit.id}?runtime=true`)).body.data.runtime_info;

  it('gives a kit container terminal-1…3 and display-1, the display active once its Xvnc answers', async () => {
    const services = await eventually(
      'display-1 active',
      async () => (await call('GET', `/containers/${kit.id}/services`)).body.data.services as any[],
      (s) => s.find((x) => x.program === 'display')?.status === 'active',
      30_000,
    );
    assert.deepEqual(
      services.map((s) => `${s.program}-${s.index}`),
      ['terminal-1', 'terminal-2', 'terminal-3', 'display-1'],
    );
    hosts = Object.fromEntries(services.map((s) => [`${s.program}-${s.index}`, s.host]));
    assert.equal(hosts['display-1'], `kit${tag}-box-display-1.test-node.apps.localhost`);
    const info = await runtime();
    assert.equal(info.displays.active, true);
    assert.ok(info.displays.memory_bytes > 0, `the display's memory is accounted: ${info.displays.memory_bytes}`);
    // its own cgroup beside the container's, and its socket in the folder the container binds
    const prefix = cgroupPrefixFor(d.dataDir);
    const procs = readFileSync(`/sys/fs/cgroup/memory/${prefix}/${kit.id}-display/cgroup.procs`, 'utf8').trim();
    assert.match(procs, /^\d+$/);
    assert.match(readFileSync(`/proc/${procs}/cmdline`, 'utf8'), /Xvnc/);
    // the container sees the X socket and its cookie, and is told where they are
    const inside = await call('POST', `/containers/${kit.id}/exec`, { command: ['sh', '-c', 'ls -a /tmp/.X11-unix; echo "$DISPLAY $XAUTHORITY"; wc -c < /tmp/.Xauthority'] });
    assert.equal(inside.body.data?.exit_code, 0, JSON.stringify(inside.body));
    assert.match(inside.body.data.stdout, /X0/);
    assert.match(inside.body.data.stdout, /:0 \/tmp\/\.Xauthority/);
    assert.match(inside.body.data.stdout, /\n45\n?$/);
    // read-only: the container cannot replace the socket or the cookie
    const write = await call('POST', `/containers/${kit.id}/exec`, { command: ['sh', '-c', 'rm -f /tmp/.X11-unix/X0 || echo refused; echo x > /tmp/.Xauthority || echo refused2'] });
    assert.match(write.body.data.stdout + write.body.data.stderr, /refused[\s\S]*refused2|Read-only/);
  });

  it('shares terminal-1: both clients see each other\'s commands, a late joiner gets the screen, and who is attached is listed', async () => {
    const a = await attach('terminal-1');
    await a.until(PROMPT);
    a.type('echo hello-$((20+1))\r');
    await a.until(/hello-21/);
    const b = await attach('terminal-1');
    // the late joiner's first output is the screen as it is: the earlier command and its output
    await b.until(/hello-21/);
    const mark = a.text.length;
    b.type('echo second-$((6*7))\r');
    await a.until(/second-42/, mark);
    await b.until(/second-42/);
    const session = a.control.find((m) => m.type === 'session');
    assert.equal(session.index, 1);
    assert.equal(b.control.find((m) => m.type === 'session').id, session.id, 'one session for both');
    const terminals = (await runtime()).terminals;
    assert.equal(terminals.length, 1);
    assert.equal(terminals[0].index, 1);
    assert.equal(terminals[0].clients.length, 2);
    assert.ok(terminals[0].clients.every((c: any) => c.user_id && c.address && c.since), JSON.stringify(terminals[0].clients));
    // the SDK's view of the same
    const connected = await new HoodyClient({ baseUrl: d.url, token: d.adminToken }).api.containers.connected(kit.id);
    assert.deepEqual(connected.terminals.map((t) => [t.index, t.clients.length]), [[1, 2]]);
    assert.equal(connected.displays.active, true);
    // terminal-2 is another session
    const other = await attach('terminal-2');
    await other.until(PROMPT);
    other.type('echo other-$((1+1))\r');
    await other.until(/other-2/);
    assert.ok(!a.text.includes('other-2'));
    other.ws.close();
    // one leaves: the session goes on for the other, and the list follows
    b.ws.close();
    await eventually('one client left', async () => (await runtime()).terminals.find((t: any) => t.index === 1)?.clients.length, (n) => n === 1, 15_000);
    const mark2 = a.text.length;
    a.type('echo still-$((3*3))\r');
    await a.until(/still-9/, mark2);
    // a re-attach sees what happened while it was away
    const again = await attach('terminal-1');
    await again.until(/still-9/);
    const seen = await eventually(
      'attach and detach events',
      async () => events?.events.map((e) => e.data) ?? [],
      (list) => list.filter((e: any) => e.action === 'detached' && e.program === 'terminal').length >= 2,
      15_000,
    );
    const first = seen.find((e: any) => e.action === 'attached') as any;
    assert.equal(first.type, 'client');
    assert.equal(first.container_id, kit.id);
    assert.equal(first.index, 1);
    assert.ok(first.client.user_id);
  });

  it('attaches the CLI to a shared session from a pipe', async () => {
    const watcher = await attach('terminal-3');
    await watcher.until(PROMPT);
    const cli = spawn(process.execPath, [HOODY_BIN, 'containers', 'terminal', kit.id, '--index', '3'], { env: { ...process.env, HOODY_API_URL: d.url, HOODY_TOKEN: d.adminToken }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    cli.stdout.on('data', (b: Buffer) => (out += b.toString()));
    cli.stderr.on('data', (b: Buffer) => (out += b.toString()));
    await eventually('the CLI attached', async () => (await runtime()).terminals.find((t: any) => t.index === 3)?.clients.length, (n) => n === 2, 20_000);
    cli.stdin.write('echo from-cli-$((5*5))\r');
    await watcher.until(/from-cli-25/);
    await eventually('the CLI shows the output', async () => out, (o) => /from-cli-25/.test(o), 15_000);
    // the shell's exit ends the session for everyone
    cli.stdin.write('exit\r');
    const code = await new Promise<number | null>((resolve) => cli.once('exit', resolve));
    assert.equal(code, 0, out);
    await eventually('the watcher closed', async () => watcher.closed, (c) => c !== undefined, 15_000);
    assert.ok(!(await runtime()).terminals.some((t: any) => t.index === 3));
  });

  it('relays the display\'s RFB through the router, with view-only viewers, and lists them', async () => {
    const host = hosts['display-1'] as string;
    const cookie = await cookieOf('display-1');
    const page = await request(`${router}/`, { headers: { host, cookie } });
    assert.equal(page.statusCode, 200);
    assert.match(await page.body.text(), /display\.js/);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    const rfb = await request(`${router}/display/assets/novnc/core/rfb.js`, { headers: { host, cookie } });
    assert.equal(rfb.statusCode, 200);
    await rfb.body.dump();
    const viewer = async (query: string): Promise<{ ws: WebSocket; banner: Promise<string> }> => {
      const ws = new WebSocket(`${router.replace('http', 'ws')}/__hoody/display${query}`, ['binary'], { headers: { host, cookie } });
      const banner = new Promise<string>((resolve, reject) => {
        ws.once('message', (data: Buffer) => resolve(data.toString('latin1')));
        ws.once('error', reject);
        ws.once('unexpected-response', (_q, res) => reject(new Error(`refused ${res.statusCode}`)));
      });
      return { ws, banner };
    };
    const control = await viewer('');
    assert.equal(await control.banner, 'RFB 003.008\n');
    const watcher = await viewer('?view_only=1');
    assert.equal(await watcher.banner, 'RFB 003.008\n');
    const info = await eventually('two viewers', async () => (await runtime()).displays, (x) => x.connected_clients.length === 2, 15_000);
    assert.deepEqual(info.connected_clients.map((c: any) => c.view_only).sort(), [false, true]);
    // a view-only viewer that breaks the protocol is cut off; the other stays
    watcher.ws.send(Buffer.from('RFB 003.003\n'));
    await eventually('the bad viewer closed', async () => watcher.ws.readyState, (s) => s === WebSocket.CLOSED, 15_000);
    assert.equal(control.ws.readyState, WebSocket.OPEN);
    control.ws.close();
    await eventually('no viewers', async () => (await runtime()).displays.connected_clients.length, (n) => n === 0, 15_000);
    const seen = events?.events.map((e) => e.data as any).filter((e) => e.program === 'display') ?? [];
    assert.ok(seen.some((e) => e.action === 'attached' && e.client.view_only === true), JSON.stringify(seen));
  });

  it('stops the display and every session with the container; the URLs answer 503, and serve again after a start', async () => {
    const term = await attach('terminal-1');
    await term.until(/still-9|[#$] /);
    const prefix = cgroupPrefixFor(d.dataDir);
    const procs = `/sys/fs/cgroup/memory/${prefix}/${kit.id}-display/cgroup.procs`;
    const xvnc = Number(readFileSync(procs, 'utf8').trim());
    assert.equal((await call('POST', `/containers/${kit.id}/stop`)).status, 200);
    await eventually('the session closed', async () => term.closed, (c) => c !== undefined, 15_000);
    await eventually('Xvnc gone', async () => existsSync(`/proc/${xvnc}`), (alive) => !alive, 15_000);
    assert.equal(existsSync(procs), false, 'its cgroup is removed');
    for (const program of ['terminal-1', 'display-1']) {
      const res = await request(`${router}/`, { headers: { host: hosts[program] as string, cookie: await cookieOf(program) } });
      assert.equal(res.statusCode, 503, program);
      await res.body.dump();
    }
    const info = await runtime();
    assert.deepEqual([info.terminals, info.displays.active], [[], false]);
    assert.equal((await call('GET', `/containers/${kit.id}/services`)).body.data.services.find((s: any) => s.program === 'display').status, 'unavailable');

    assert.equal((await call('POST', `/containers/${kit.id}/start`)).status, 200);
    await eventually('display active again', async () => (await runtime()).displays.active, (a) => a === true, 30_000);
    const again = await attach('terminal-1');
    await again.until(PROMPT);
    again.type('echo back-$((4+4))\r');
    await again.until(/back-8/);
    const page = await request(`${router}/`, { headers: { host: hosts['display-1'] as string, cookie: await cookieOf('display-1') } });
    assert.equal(page.statusCode, 200);
    await page.body.dump();
  });

  it('keeps the display across a daemon restart: the new daemon adopts the same Xvnc', async () => {
    const prefix = cgroupPrefixFor(d.dataDir);
    const procs = `/sys/fs/cgroup/memory/${prefix}/${kit.id}-display/cgroup.procs`;
    const before = readFileSync(procs, 'utf8').trim();
    await d.restart();
    call = apiClient(d.api, d.adminToken);
    router = /service URLs \S+ on (http:\/\/[0-9.]+:\d+)/.exec(d.output().split('\n').filter((l) => l.includes('service URLs')).at(-1) ?? '')?.[1] ?? router;
    await eventually('display active after the restart', async () => (await runtime()).displays.active, (a) => a === true, 30_000);
    assert.equal(readFileSync(procs, 'utf8').trim(), before, 'the same Xvnc');
    const services = (await call('GET', `/containers/${kit.id}/services`)).body.data.services;
    assert.equal(services.find((s: any) => s.program === 'display').status, 'active');
  });

  it('gives a container without the kit no terminal or display host', async () => {
    const plain = await call('POST', '/containers', { container_image: 'busybox', name: `plain${tag}`, command: ['sleep', '600'] });
    assert.equal(plain.status, 201);
    const services = (await call('GET', `/containers/${plain.body.data.id}/services`)).body.data.services;
    assert.deepEqual(services, []);
    const res = await request(`${router}/`, { headers: { host: `kit${tag}-plain${tag}-display-1.test-node.apps.localhost` } });
    assert.equal(res.statusCode, 404);
    await res.body.dump();
    assert.equal((await call('GET', `/containers/${plain.body.data.id}?runtime=true`)).body.data.runtime_info.displays.active, false);
    assert.equal(join('a', 'b'), 'a/b');
  });
});
