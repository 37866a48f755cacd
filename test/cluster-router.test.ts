/**
 * Service URLs in a cluster: a container's program is reached through any server's router; the
 * request goes on to the router of the container's server. Two daemons on one PostgreSQL, each
 * with its own bridge and router. Needs root, runc, nftables and PostgreSQL (HOODY_TEST_POSTGRES_URL).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { request } from 'undici';
import { Client, PROMPT } from './terminal-client.ts';
import { adminQuery, apiClient, postgresUrl, startTestDaemon, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';

const skip = !postgresUrl ? 'HOODY_TEST_POSTGRES_URL is not set' : process.getuid?.() !== 0 ? 'needs root' : false;
const tag = randomBytes(3).toString('hex');
const third = 16 + (parseInt(tag.slice(0, 2), 16) % 200);
const adminToken = `hoody_test_${randomBytes(16).toString('hex')}`;
const names = [`hcr${tag}-a`, `hcr${tag}-b`];
const bridges = [`hra${tag}`, `hrb${tag}`];

describe('service URLs through any server\'s router', { skip }, () => {
  const daemons: DaemonHandle[] = [];
  const routers: string[] = [];
  let dbName = '';

  before(async () => {
    dbName = `hoody_cluster_router_${tag}`;
    await adminQuery(`CREATE DATABASE ${dbName}`);
    const shared = new URL(postgresUrl ?? '');
    shared.pathname = `/${dbName}`;
    const secret = randomBytes(32).toString('hex');
    for (const [i, name] of names.entries()) {
      const d = await startTestDaemon(
        'postgres',
        {
          HOODY_CLUSTER_SECRET: secret,
          HOODY_NETWORK: 'bridge',
          HOODY_NETWORK_BRIDGE: bridges[i]!,
          HOODY_NETWORK_TABLE: bridges[i]!,
          HOODY_NETWORK_SUBNET: `10.234.${third}.${i * 64}/26`,
          HOODY_NETWORK_NAMESERVERS: '',
          HOODY_PROXY_PORT: '0',
          HOODY_PROXY_DOMAIN: 'apps.localhost',
        },
        { sharedDatabaseUrl: shared.toString(), serverName: name, adminToken },
      );
      daemons.push(d);
      const m = /service URLs \S+ on (http:\/\/[0-9.]+:\d+)/.exec(d.output());
      assert.ok(m?.[1], d.output());
      routers.push(m[1]);
    }
  });

  after(async () => {
    for (const d of daemons) await d.cleanup().catch(() => undefined);
    if (dbName) await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    for (const bridge of bridges) {
      for (const n of readdirSafe('/run/netns').filter((x) => x.startsWith(`${bridge}-`))) spawnSync('ip', ['netns', 'del', n]);
      spawnSync('ip', ['link', 'del', bridge]);
      for (const family of ['ip', 'bridge', 'inet']) spawnSync('nft', ['delete', 'table', family, bridge]);
    }
  });

  const via = async (router: string, host: string, headers: Record<string, string> = {}) => {
    const res = await request(router, { headers: { host, ...headers }, headersTimeout: 30_000, bodyTimeout: 30_000 });
    return { status: res.statusCode, body: (await res.body.text()).trim() };
  };

  it('serves a program of server b, and an alias of it, through server a\'s router, private to its owner', async () => {
    const a = apiClient(daemons[0]!.api, adminToken);
    const created = await a('POST', '/containers', {
      name: 'web',
      container_image: 'busybox',
      server_name: names[1],
      command: ['sh', '-c', 'mkdir -p /tmp/www && echo served-by-b > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www'],
      programs: [{ name: 'site', port: 8080 }],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.data.id;
    // the services of b's container, as b's daemon names them
    const services = await eventually('the program listening', async () => (await a('GET', `/containers/${id}/services`)).body.data.services, (s: any[]) => s[0]?.status === 'active', 20_000);
    const host = services[0].host as string;
    assert.match(host, new RegExp(`\\.${names[1]}\\.apps\\.localhost$`));
    const auth = { authorization: `Bearer ${adminToken}` };
    assert.deepEqual(await via(routers[1]!, host, auth), { status: 200, body: 'served-by-b' }, 'its own router');
    assert.deepEqual(await via(routers[0]!, host, auth), { status: 200, body: 'served-by-b' }, 'the other server\'s router');
    assert.equal((await via(routers[0]!, host)).status, 401, 'private: b\'s router still asks for the owner');
    // an open link of b's service, opened through a's router: its cookie comes back and serves
    const openUrl = new URL(services[0].open_url as string);
    const opened = await request(`${routers[0]}${openUrl.pathname}${openUrl.search}`, { headers: { host } });
    await opened.body.dump();
    assert.equal(opened.statusCode, 303);
    const cookie = String(opened.headers['set-cookie'] ?? '').split(';')[0] ?? '';
    assert.match(cookie, /^hoody_session=/);
    assert.deepEqual(await via(routers[0]!, host, { cookie }), { status: 200, body: 'served-by-b' });
    // an alias (no server in its name) of b's container, through a's router
    const alias = await a('POST', '/proxy/aliases', { container_id: id, alias: `shop${tag}`, program: 'site', index: 1, target_path: '/' });
    assert.equal(alias.status, 201, JSON.stringify(alias.body));
    const aliased = await eventually('the alias through a', () => via(routers[0]!, `shop${tag}.apps.localhost`, auth), (r) => r.status === 200, 15_000);
    assert.equal(aliased.body, 'served-by-b');
    // b's kit terminal through a's router: the open link's cookie, then the page's WebSocket (an upgrade relayed to b's router)
    const kit = await a('POST', '/containers', { name: 'kit', container_image: 'busybox', server_name: names[1], hoody_kit: true, command: ['sleep', '600'] });
    assert.equal(kit.status, 201, JSON.stringify(kit.body));
    const terminal = (await eventually('the kit terminal', async () => (await a('GET', `/containers/${kit.body.data.id}/services`)).body.data.services, (s: any[]) => s.some((x) => x.program === 'terminal' && x.status === 'active'), 20_000)).find((x: any) => x.program === 'terminal');
    const termOpen = new URL(terminal.open_url as string);
    const termOpened = await request(`${routers[0]}${termOpen.pathname}${termOpen.search}`, { headers: { host: terminal.host } });
    await termOpened.body.dump();
    const termCookie = String(termOpened.headers['set-cookie'] ?? '').split(';')[0] ?? '';
    assert.equal(termOpened.statusCode, 303);
    const term = await Client.open(`${routers[0]!.replace('http', 'ws')}/__hoody/terminal?cols=90&rows=30`, { host: terminal.host, cookie: termCookie });
    await term.until(PROMPT);
    term.type('echo on-b-$((6*7)); hostname\r');
    await term.until(/on-b-42[\s\S]*kit/);
    term.ws.close();
    // without the cookie, b's router refuses the upgrade relayed to it
    const refusedStatus = await Client.open(`${routers[0]!.replace('http', 'ws')}/__hoody/terminal`, { host: terminal.host }).then(
      () => 101,
      (err: { status?: number }) => err.status ?? 0,
    );
    assert.equal(refusedStatus, 401);
    // a host no server serves is still 404 here
    assert.equal((await via(routers[0]!, `nothing-1.${names[1]}.apps.localhost`, auth)).status, 404);
    assert.equal((await via(routers[0]!, `nothing-1.no-such-server.apps.localhost`, auth)).status, 404);
    // b's daemon gone: its services answer 503 through a, at once
    await daemons[1]!.stop('SIGKILL');
    const gone = await via(routers[0]!, host, auth);
    assert.equal(gone.status, 503);
    assert.equal(JSON.parse(gone.body).code, 'SERVER_OFFLINE');
  });
});

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
