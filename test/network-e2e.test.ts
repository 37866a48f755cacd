/**
 * Container networking through the daemon, with real containers on a bridge of the test's own:
 * the host reaches a container's address and its published port on loopback, containers of one
 * project reach each other by name and reach their own published port (hairpin), containers of
 * another project are refused, a stopped container's port is refused at once, and a container
 * killed from outside or a daemon killed with SIGKILL leave nothing on the host after reconcile.
 * Traffic goes only to loopback and to addresses inside namespaces this test made.
 */
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import WebSocket from 'ws';
import { randomBytes } from 'node:crypto';
import { startTestDaemon, apiClient, type DaemonHandle } from './daemon-harness.ts';
import { eventually, tcpProbe } from './eventually.ts';

const tag = randomBytes(3).toString('hex');
const bridge = `hde${tag}`;
const table = `hde${tag}`;
// a /24 of its own per run: parallel test files never share a subnet
const third = 16 + (parseInt(tag.slice(0, 2), 16) % 200);
const subnet = `10.214.${third}.0/24`;
const gateway = `10.214.${third}.1`;

/** Runs a shell command inside a running container's namespaces (as its root, in its root directory). */
function inContainer(pid: number, script: string, timeoutMs = 15_000): { code: number | null; out: string } {
  const r = spawnSync('nsenter', ['-t', String(pid), '-a', '-r', '-w', '--', '/bin/sh', '-c', script], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** An HTTP/1.0 GET of `/` with busybox nc inside the container: the body's first line, or the failure. */
function httpFrom(pid: number, host: string, port: number): { code: number | null; out: string } {
  return inContainer(pid, `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${port}`);
}

async function httpGet(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return (await res.text()).trim();
}

/** What this daemon left on the host: veths on its bridge, namespaces named for it, elements in its table. */
function leftovers(ids: string[]): { veths: string[]; netns: string[]; elements: number } {
  const links = JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'master', bridge], { encoding: 'utf8' }) || '[]') as { ifname: string }[];
  const netns = readdirSyncSafe('/run/netns').filter((n) => n.startsWith(`${bridge}-`) || ids.some((id) => n.includes(id)));
  return { veths: links.map((l) => l.ifname), netns, elements: tableElements() };
}

/** How many map or set elements the daemon's ip table holds. */
function tableElements(): number {
  const r = spawnSync('nft', ['-j', 'list', 'table', 'ip', table], { encoding: 'utf8' });
  if (r.status !== 0) return 0;
  const doc = JSON.parse(r.stdout) as { nftables: Record<string, { elem?: unknown[] }>[] };
  let n = 0;
  for (const item of doc.nftables) for (const kind of ['map', 'set']) n += item[kind]?.elem?.length ?? 0;
  return n;
}

/** The daemon's ip table as nft lists it ('' when it is not there). */
function tableText(): string {
  const r = spawnSync('nft', ['list', 'table', 'ip', table], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : '';
}

/** Whether the table names an address (as an element key or value). */
const tableNames = (address: string): boolean => new RegExp(`\\b${address.replaceAll('.', '\\.')}\\b`).test(tableText());

function readdirSyncSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** busybox httpd serving one page that says `text`, on `port`. */
const httpd = (text: string, port = 80): string[] => ['sh', '-c', `mkdir -p /tmp/www && echo ${text} > /tmp/www/index.html && exec httpd -f -p ${port} -h /tmp/www`];

describe('container networking through the daemon', () => {
  let d: DaemonHandle | undefined;
  let call: ReturnType<typeof apiClient>;
  const made: string[] = [];

  before(async () => {
    d = await startTestDaemon('sqlite', { HOODY_NETWORK: 'bridge', HOODY_NETWORK_BRIDGE: bridge, HOODY_NETWORK_SUBNET: subnet, HOODY_NETWORK_TABLE: table, HOODY_NETWORK_NAMESERVERS: '' });
    call = apiClient(d.api, d.adminToken);
  });

  after(async () => {
    await d?.cleanup();
    // namespaces a failed case left, by this run's bridge name only
    for (const n of readdirSyncSafe('/run/netns').filter((n) => n.startsWith(`${bridge}-`))) spawnSync('ip', ['netns', 'del', n]);
    // the bridge and the table are the only things meant to outlive the containers: removed by their own names
    spawnSync('ip', ['link', 'del', bridge]);
    for (const family of ['ip', 'bridge', 'inet']) spawnSync('nft', ['delete', 'table', family, table]);
  });

  async function create(body: Record<string, unknown>): Promise<any> {
    const res = await call('POST', '/containers', { container_image: 'busybox', ...body });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    made.push(res.body.data.id);
    return res.body.data;
  }

  async function pidOf(id: string): Promise<number> {
    const info = (await call('GET', `/containers/${id}?runtime=true`)).body.data.runtime_info;
    assert.ok(info.pid > 0, `container ${id} has a pid`);
    return info.pid as number;
  }

  async function project(name: string): Promise<string> {
    const res = await call('POST', '/projects', { name: `${name}-${tag}` });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.data.id as string;
  }

  let projectA = '';
  let projectB = '';
  let web: any;
  let client: any;
  let stranger: any;

  it('gives each container an address on the bridge and publishes its ports on the host', async () => {
    projectA = await project('net-a');
    projectB = await project('net-b');
    web = await create({ name: 'web', project_id: projectA, command: httpd('hello-web'), ports: [{ container_port: 80 }] });
    client = await create({ name: 'client', project_id: projectA, command: ['sleep', '600'] });
    stranger = await create({ name: 'stranger', project_id: projectB, command: ['sleep', '600'] });
    assert.equal(web.network, 'bridge');
    assert.match(web.ip_address, new RegExp(`^10\\.214\\.${third}\\.\\d+$`));
    assert.notEqual(web.ip_address, gateway);
    assert.notEqual(web.ip_address, client.ip_address);
    assert.equal(web.ports.length, 1);
    assert.equal(web.ports[0].container_port, 80);
    assert.equal(web.ports[0].protocol, 'tcp');
    assert.ok(web.ports[0].host_port > 0, 'a host port was chosen');
  });

  it('reaches the container from the host by its address and through its published port on loopback', async () => {
    const hostPort = web.ports[0].host_port as number;
    assert.equal(await eventually('the web server to answer on its address', () => httpGet(`http://${web.ip_address}/`).catch((e: Error) => e.message), (t) => t === 'hello-web', 15_000), 'hello-web');
    assert.equal(await httpGet(`http://127.0.0.1:${hostPort}/`), 'hello-web');
    const info = (await call('GET', `/containers/${web.id}?runtime=true`)).body.data.runtime_info;
    assert.ok(info.listening_ports.includes(80), `listening ports ${JSON.stringify(info.listening_ports)}`);
    assert.ok(
      info.addresses.some((a: any) => a.address === web.ip_address && a.gateway === gateway),
      `addresses ${JSON.stringify(info.addresses)}`,
    );
  });

  it('lets containers of one project reach each other by name, and a container reach its own published port', async () => {
    const pid = await pidOf(client.id);
    const byName = httpFrom(pid, 'web', 80);
    assert.match(byName.out, /hello-web/, `client -> web by name: ${byName.out}`);
    const webPid = await pidOf(web.id);
    const hairpin = httpFrom(webPid, gateway, web.ports[0].host_port);
    assert.match(hairpin.out, /hello-web/, `web -> its own published port: ${hairpin.out}`);
    // the container's own files name it
    assert.match(inContainer(pid, 'cat /etc/hostname').out, /client/);
  });

  it('runs exec and terminals in a bridged container\'s network namespace, where its root cannot change the network', async () => {
    const exec = async (command: string[]): Promise<{ exit_code: number; stdout: string; stderr: string }> => {
      const res = await call('POST', `/containers/${client.id}/exec`, { command });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.data;
    };
    const addr = await exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    assert.match(addr.stdout, new RegExp(`inet ${client.ip_address.replaceAll('.', '\\.')}/24`), JSON.stringify(addr));
    const byName = await exec(['sh', '-c', "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web 80"]);
    assert.match(byName.stdout, /hello-web/, JSON.stringify(byName));
    // the namespace is the host's, not the container's: its root may not take another address or drop its link
    for (const command of [['ip', 'addr', 'add', `10.214.${third}.250/24`, 'dev', 'eth0'], ['ip', 'link', 'set', 'eth0', 'down']]) {
      const r = await exec(command);
      assert.notEqual(r.exit_code, 0, `${command.join(' ')}: ${JSON.stringify(r)}`);
      assert.match(r.stderr, /not permitted/i, command.join(' '));
    }
    // a terminal session: its command sees the same eth0
    const ws = new WebSocket(`${d!.url.replace('http', 'ws')}/api/v1/containers/${client.id}/terminal?command=ip&command=-4&command=-o&command=addr&command=show&command=eth0`, ['hoody.terminal'], {
      headers: { authorization: `Bearer ${d!.adminToken}` },
    });
    let screen = '';
    let exit: number | undefined;
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (binary) screen += data.toString('utf8');
      else if (JSON.parse(data.toString('utf8')).type === 'exit') exit = JSON.parse(data.toString('utf8')).code;
    });
    await eventually('the terminal command\'s exit', async () => exit, (code) => code !== undefined, 30_000);
    assert.equal(exit, 0, screen);
    assert.match(screen, new RegExp(`inet ${client.ip_address.replaceAll('.', '\\.')}/24`));
  });

  it('answers EXEC_UNSUPPORTED for a container that an earlier version started joined to its namespace by runc', async () => {
    // what such a start left in the bundle: the network namespace named in config.json
    const config = join(d!.dataDir, 'runtime', 'containers', stranger.id, 'config.json');
    const original = await readFile(config, 'utf8');
    const spec = JSON.parse(original);
    spec.linux.namespaces.push({ type: 'network', path: `/run/netns/${bridge}-${stranger.id}` });
    await writeFile(config, JSON.stringify(spec));
    try {
      const res = await call('POST', `/containers/${stranger.id}/exec`, { command: ['true'] });
      assert.deepEqual([res.status, res.body.code], [409, 'EXEC_UNSUPPORTED']);
      assert.match(res.body.message, /restart/);
    } finally {
      await writeFile(config, original);
    }
  });

  it('refuses traffic between containers of different projects', async () => {
    const pid = await pidOf(stranger.id);
    const refused = httpFrom(pid, web.ip_address, 80);
    assert.doesNotMatch(refused.out, /hello-web/, `stranger -> web must fail: ${refused.out}`);
    // and the name of another project's container is unknown there
    assert.doesNotMatch(inContainer(pid, 'cat /etc/hosts').out, /\bweb\b/);
    // the same request from the web's own project still works (the refusal is the isolation, not a broken network)
    assert.match(httpFrom(await pidOf(client.id), web.ip_address, 80).out, /hello-web/);
  });

  it('refuses a host port another container holds', async () => {
    const res = await call('POST', '/containers', { name: 'thief', project_id: projectA, container_image: 'busybox', command: ['sleep', '600'], ports: [{ container_port: 80, host_port: web.ports[0].host_port }] });
    assert.equal(res.status, 409, JSON.stringify(res.body));
    assert.equal(res.body.code, 'PORT_IN_USE');
    const listed = (await call('GET', `/containers?name=thief&project_id=${projectA}`)).body.data.containers;
    assert.equal(listed.length, 0, 'nothing was created');
  });

  it('keeps the address across a restart, and refuses the published port right after a stop', async () => {
    const hostPort = web.ports[0].host_port as number;
    const restart = await call('POST', `/containers/${web.id}/restart`, {});
    assert.equal(restart.status, 200, JSON.stringify(restart.body));
    assert.equal((await call('GET', `/containers/${web.id}`)).body.data.ip_address, web.ip_address);
    await eventually('the web server to answer after the restart', () => httpGet(`http://127.0.0.1:${hostPort}/`).catch((e: Error) => e.message), (t) => t === 'hello-web', 15_000);
    const stopped = await call('POST', `/containers/${web.id}/stop`, { timeout: 5 });
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    assert.notEqual(await tcpProbe('127.0.0.1', hostPort), 'open');
    // and its translation goes soon after (kept a moment for a restart's start, which needs it again)
    await eventually('the stopped container\'s table elements to go', async () => tableNames(web.ip_address), (named) => !named, 10_000);
  });

  it('changes published ports while stopped and refuses to change them while running', async () => {
    const patched = await call('PATCH', `/containers/${web.id}`, { ports: [{ container_port: 80, protocol: 'tcp' }, { container_port: 8081, protocol: 'tcp' }] });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.data.ports.length, 2);
    const started = await call('POST', `/containers/${web.id}/start`, {});
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const port = patched.body.data.ports[0].host_port as number;
    await eventually('the web server on its new port', () => httpGet(`http://127.0.0.1:${port}/`).catch((e: Error) => e.message), (t) => t === 'hello-web', 15_000);
    const refused = await call('PATCH', `/containers/${web.id}`, { ports: [] });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'INVALID_STATE');
    web = (await call('GET', `/containers/${web.id}`)).body.data;
  });

  it('leaves nothing behind when a container is killed from outside', async () => {
    const pid = await pidOf(client.id);
    process.kill(pid, 'SIGKILL');
    await eventually('the daemon to record the exit', async () => (await call('GET', `/containers/${client.id}`)).body.data.status, (s) => s === 'stopped', 15_000);
    await eventually(
      'the killed container to hold no veth, namespace or table element',
      async () => {
        const left = leftovers([client.id]);
        // the two containers still running (web and stranger) hold one veth each
        return { veths: left.veths.length, netns: left.netns.filter((n) => n.includes(client.id)).length, inTable: tableNames(client.ip_address) };
      },
      (v) => v.veths === 2 && v.netns === 0 && !v.inTable,
      15_000,
    );
  });

  it('a daemon killed with SIGKILL: the next one removes what no running container owns', async () => {
    assert.ok(d);
    const pid = await pidOf(stranger.id);
    await d.stop('SIGKILL');
    process.kill(pid, 'SIGKILL');
    await eventually('the stranger\'s init to die', async () => spawnSync('kill', ['-0', String(pid)]).status, (s) => s !== 0, 10_000);
    await d.restart();
    call = apiClient(d.api, d.adminToken);
    await eventually('the daemon to record the stranger stopped', async () => (await call('GET', `/containers/${stranger.id}`)).body.data.status, (s) => s === 'stopped', 20_000);
    await eventually(
      'only the web container to hold network state',
      async () => ({ ...leftovers([stranger.id]), strangerInTable: tableNames(stranger.ip_address) }),
      (v) => v.veths.length === 1 && !v.netns.some((n) => n.includes(stranger.id)) && !v.strangerInTable,
      20_000,
    );
    // the web container still answers on its port after the daemon came back
    assert.equal(await httpGet(`http://127.0.0.1:${web.ports[0].host_port}/`), 'hello-web');
  });

  it('deleting the last containers leaves only the bridge and the table', async () => {
    for (const id of made) {
      const c = await call('GET', `/containers/${id}`);
      if (c.status !== 200) continue;
      if (c.body.data.status === 'running') assert.equal((await call('POST', `/containers/${id}/force-stop`, {})).status, 200);
      assert.equal((await call('DELETE', `/containers/${id}`)).status, 200);
    }
    await eventually('nothing left on the host', async () => leftovers(made), (v) => v.veths.length === 0 && v.netns.length === 0 && v.elements === 0, 15_000);
    // what stays is the bridge and the table, by their own names
    assert.ok(tableText().includes(`table ip ${table}`), 'the table stays');
    assert.equal(spawnSync('ip', ['link', 'show', bridge]).status, 0, 'the bridge stays');
    // the host ports went with the containers: another container may publish the web's port now
    const reuse = await create({ name: 'reuse', network: 'bridge', command: ['sleep', '600'], ports: [{ container_port: 80, host_port: web.ports[0].host_port }], autostart: false });
    assert.equal(reuse.ports[0].host_port, web.ports[0].host_port);
    assert.equal((await call('DELETE', `/containers/${reuse.id}`)).status, 200);
  });

  it('a container with network none has loopback only', async () => {
    const lone = await create({ name: 'lone', network: 'none', command: ['sleep', '600'] });
    assert.equal(lone.network, 'none');
    assert.equal(lone.ip_address, null);
    const pid = await pidOf(lone.id);
    const links = inContainer(pid, 'ls /sys/class/net').out.trim().split(/\s+/);
    assert.deepEqual(links, ['lo']);
    assert.equal((await call('POST', `/containers/${lone.id}/force-stop`, {})).status, 200);
    assert.equal((await call('DELETE', `/containers/${lone.id}`)).status, 200);
  });
});
