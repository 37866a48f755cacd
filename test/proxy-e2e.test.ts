/**
 * Service URLs and proxy aliases through the daemon, with real containers (busybox httpd) on a
 * bridge of the test's own and the daemon's router on a loopback port: the seed's blue-green
 * switch under a client hammering the alias, 503 at once on stop and pause and service again on
 * resume, private URLs (token, open link and cookie) and another user's 404, and the TLS `ask`.
 * Traffic goes only to loopback and to addresses inside namespaces this test made.
 */
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { startTestDaemon, apiClient, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';

const tag = randomBytes(3).toString('hex');
const bridge = `hpx${tag}`;
const table = `hpx${tag}`;
const third = 16 + (parseInt(tag.slice(0, 2), 16) % 200);
const subnet = `10.215.${third}.0/24`;

/** busybox httpd answering `text` on `port`. */
const httpd = (text: string, port: number): string[] => ['sh', '-c', `mkdir -p /tmp/www && echo ${text} > /tmp/www/index.html && exec httpd -f -p ${port} -h /tmp/www`];

function readdirSyncSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

describe('service URLs and proxy aliases through the daemon', () => {
  let d: DaemonHandle | undefined;
  let call: ReturnType<typeof apiClient>;
  let router = '';

  /** A GET through the router to `host`: status, body and headers; a connection error is an exception. */
  async function viaRouter(host: string, path = '/', headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
    const res = await request(`${router}${path}`, { headers: { host, ...headers }, headersTimeout: 10_000, bodyTimeout: 10_000 });
    return { status: res.statusCode, body: (await res.body.text()).trim(), headers: res.headers };
  }

  before(async () => {
    d = await startTestDaemon('sqlite', {
      HOODY_NETWORK: 'bridge',
      HOODY_NETWORK_BRIDGE: bridge,
      HOODY_NETWORK_SUBNET: subnet,
      HOODY_NETWORK_TABLE: table,
      HOODY_NETWORK_NAMESERVERS: '',
      HOODY_PROXY_PORT: '0',
      HOODY_PROXY_DOMAIN: 'apps.localhost',
    });
    call = apiClient(d.api, d.adminToken);
    const m = /service URLs \S+ on (http:\/\/[0-9.]+:\d+)/.exec(d.output());
    assert.ok(m?.[1], `the daemon names its router: ${d.output()}`);
    router = m[1];
  });

  after(async () => {
    await d?.cleanup();
    for (const n of readdirSyncSafe('/run/netns').filter((n) => n.startsWith(`${bridge}-`))) spawnSync('ip', ['netns', 'del', n]);
    spawnSync('ip', ['link', 'del', bridge]);
    for (const family of ['ip', 'bridge', 'inet']) spawnSync('nft', ['delete', 'table', family, table]);
  });

  let projectId = '';
  let blue: any;
  let green: any;
  let blueHost = '';

  async function create(body: Record<string, unknown>): Promise<any> {
    const res = await call('POST', '/containers', { container_image: 'busybox', project_id: projectId, ...body });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.data;
  }

  it('serves each program at its own host name, private to its owner', async () => {
    projectId = (await call('POST', '/projects', { name: `Shop ${tag}` })).body.data.id;
    blue = await create({ name: 'blue', command: httpd('blue', 8080), programs: [{ name: 'web', port: 8080 }] });
    green = await create({ name: 'green', command: httpd('green', 8080), programs: [{ name: 'web', port: 8080 }], autostart: false });
    assert.deepEqual(blue.programs, [{ name: 'web', port: 8080, index: 1, public: false }]);

    const services = await eventually(
      'blue\'s web program listening',
      async () => (await call('GET', `/containers/${blue.id}/services`)).body.data.services,
      (s: any[]) => s[0]?.status === 'active',
      15_000,
    );
    blueHost = `shop-${tag}-blue-web-1.test-node.apps.localhost`;
    assert.equal(services[0].host, blueHost);
    assert.equal(services[0].url, `${router.replace('127.0.0.1', blueHost)}/`);
    assert.equal(services[0].listening, true);
    const info = (await call('GET', `/containers/${blue.id}?runtime=true`)).body.data.runtime_info;
    assert.equal(info.services[0].status, 'active');

    assert.equal((await viaRouter(blueHost)).status, 401);
    const withToken = await viaRouter(blueHost, '/', { authorization: `Bearer ${d?.adminToken}` });
    assert.deepEqual([withToken.status, withToken.body], [200, 'blue']);
    assert.equal((await viaRouter(`nothing.test-node.apps.localhost`)).status, 404);

    // an open link trades its ticket for a cookie of that host alone; the cookie then serves
    const open = await request(services[0].open_url.replace(`http://${blueHost}:`, 'http://127.0.0.1:'), { headers: { host: blueHost } });
    assert.equal(open.statusCode, 303);
    await open.body.dump();
    const cookie = String(open.headers['set-cookie']).split(';')[0] as string;
    assert.match(String(open.headers['set-cookie']), /HttpOnly; SameSite=Lax/);
    assert.deepEqual([(await viaRouter(blueHost, '/', { cookie })).status, (await viaRouter(blueHost, '/', { cookie })).body], [200, 'blue']);
    // not another host's
    assert.equal((await viaRouter(`shop-${tag}-green-web-1.test-node.apps.localhost`, '/', { cookie })).status, 401);
  });

  it('answers another user 404 for a private service, and refuses a name another container serves', async () => {
    const user = (await call('POST', '/users', { name: `eve${tag}` })).body.data;
    const token = (await call('POST', '/tokens', { name: `eve${tag}`, user_id: user.id })).body.data;
    const secret = token.secret ?? token.token;
    assert.ok(secret, JSON.stringify(token));
    const res = await viaRouter(blueHost, '/', { authorization: `Bearer ${secret}` });
    assert.equal(res.status, 404);
    // eve's own project named like ours, and a container named like blue: the same host name
    const eve = apiClient(d?.api ?? '', secret);
    const eveProject = (await eve('POST', '/projects', { name: `shop-${tag}` })).body.data.id;
    const clash = await eve('POST', '/containers', { container_image: 'busybox', project_id: eveProject, name: 'blue', programs: [{ name: 'web', port: 80 }], autostart: false });
    assert.equal(clash.status, 409, JSON.stringify(clash.body));
    assert.equal(clash.body.code, 'SERVICE_NAME_TAKEN');
    // eve cannot point an alias at our container either
    const alias = await eve('POST', '/proxy/aliases', { container_id: blue.id, alias: `steal${tag}`, program: 'web', index: 1, target_path: '/' });
    assert.equal(alias.status, 404);
  });

  it('switches an alias from blue to green (delete, create) under load: blue, then green or 503, never an error', async () => {
    const created = await call('POST', '/proxy/aliases', { container_id: blue.id, alias: `prod${tag}`, program: 'web', index: 1, target_path: '/', public: true });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const prod = created.body.data;
    assert.equal(prod.host, `prod${tag}.apps.localhost`);
    assert.equal((await call('POST', '/proxy/aliases', { container_id: green.id, alias: `prod${tag}`, program: 'web' })).body.code, 'ALIAS_TAKEN');
    assert.deepEqual([(await viaRouter(prod.host)).status, (await viaRouter(prod.host)).body], [200, 'blue']);

    const seen: { body: string; at: number }[] = [];
    const errors: string[] = [];
    let switched = Infinity;
    let hammering = true;
    const hammer = (async () => {
      while (hammering) {
        try {
          const r = await viaRouter(prod.host);
          seen.push({ body: r.status === 200 ? r.body : String(r.status), at: performance.now() });
        } catch (err) {
          errors.push(String(err));
        }
      }
    })();
    await eventually('a few answers', async () => seen.length, (n) => n >= 20, 10_000);
    assert.equal((await call('POST', `/containers/${green.id}/start`)).status, 200);
    assert.equal((await call('DELETE', `/proxy/aliases/${prod.id}`)).status, 200);
    const again = await call('POST', '/proxy/aliases', { container_id: green.id, alias: `prod${tag}`, program: 'web', index: 1, target_path: '/', public: true });
    assert.equal(again.status, 201, JSON.stringify(again.body));
    switched = performance.now();
    await eventually('answers after the switch', async () => seen.filter((s) => s.at > switched + 1).length, (n) => n >= 20, 15_000);
    assert.equal((await call('POST', `/containers/${blue.id}/stop`)).status, 200);
    const atStop = seen.length;
    await eventually('answers after blue stopped', async () => seen.length, (n) => n >= atStop + 10, 10_000);
    hammering = false;
    await hammer;

    assert.deepEqual(errors, []);
    const bodies = seen.map((s) => s.body);
    assert.ok(bodies.every((b) => b === 'blue' || b === 'green' || b === '503'), `only blue, green or 503: ${[...new Set(bodies)].join(', ')}`);
    const firstGreen = bodies.indexOf('green');
    assert.ok(firstGreen > 0, 'green answered');
    assert.ok(!bodies.slice(firstGreen).includes('blue'), 'no blue once green answered');
    assert.ok(seen.filter((s) => s.at > switched + 1).every((s) => s.body === 'green'), 'only green after the create returned');
    // the gap between the delete and the create answered 503 (a deleted alias is not a 404 for a while), and it was short
    const gap = bodies.filter((b) => b === '503').length;
    process.stdout.write(`# blue-green: ${seen.length} answers, ${bodies.filter((b) => b === 'blue').length} blue, ${gap} 503, ${bodies.filter((b) => b === 'green').length} green\n`);
  });

  it('answers 503 at once on stop and pause, and serves again on resume and start', async () => {
    const greenHost = `shop-${tag}-green-web-1.test-node.apps.localhost`;
    const auth = { authorization: `Bearer ${d?.adminToken}` };
    assert.equal((await viaRouter(greenHost, '/', auth)).body, 'green');
    assert.equal((await call('POST', `/containers/${green.id}/pause`)).status, 200);
    const paused = await viaRouter(greenHost, '/', auth);
    assert.equal(paused.status, 503);
    assert.equal(paused.headers['retry-after'], '5');
    assert.equal(JSON.parse(paused.body).code, 'CONTAINER_NOT_RUNNING');
    assert.match((await viaRouter(greenHost, '/', { ...auth, accept: 'text/html' })).body, /<h1>This service is not available right now<\/h1>/);
    assert.equal((await call('POST', `/containers/${green.id}/resume`)).status, 200);
    assert.equal((await viaRouter(greenHost, '/', auth)).body, 'green');
    assert.equal((await call('POST', `/containers/${green.id}/stop`)).status, 200);
    assert.equal((await viaRouter(greenHost, '/', auth)).status, 503);
    assert.equal((await call('POST', `/containers/${green.id}/start`)).status, 200);
    // the port listens a moment after the start returns: until then a 503 too, never an error
    await eventually('green served again', async () => (await viaRouter(greenHost, '/', auth)).body, (b) => b === 'green', 15_000);
  });

  it('answers a TLS terminator\'s ask for its own hosts only, and changes programs while stopped', async () => {
    const ask = async (domain: string): Promise<number> => (await fetch(`${d?.url}/api/v1/proxy/tls-ask?domain=${domain}`)).status;
    assert.equal(await ask(`prod${tag}.apps.localhost`), 200);
    assert.equal(await ask(`shop-${tag}-green-web-1.test-node.apps.localhost`), 200);
    assert.equal(await ask('example.com'), 404);

    assert.equal((await call('PATCH', `/containers/${green.id}`, { programs: [{ name: 'web', port: 8080, public: true }] })).body.code, 'INVALID_STATE');
    assert.equal((await call('POST', `/containers/${green.id}/stop`)).status, 200);
    const patched = await call('PATCH', `/containers/${green.id}`, { programs: [{ name: 'web', port: 8080 }, { name: 'web', port: 8081 }, { name: 'api', port: 9000, public: true }] });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual(
      patched.body.data.programs.map((p: any) => `${p.name}-${p.index}`),
      ['web-1', 'web-2', 'api-1'],
    );
    assert.equal(await ask(`shop-${tag}-green-web-2.test-node.apps.localhost`), 200);
    const bad = await call('PATCH', `/containers/${green.id}`, { programs: [{ name: 'web', port: 1, index: 1 }, { name: 'web', port: 2, index: 1 }] });
    assert.equal(bad.body.code, 'INVALID_INPUT');
    const list = await call('GET', `/proxy/aliases?container_id=${green.id}`);
    assert.equal(list.body.data.aliases.length, 1);
    // deleting the container deletes its aliases and its names
    assert.equal((await call('DELETE', `/containers/${green.id}`)).status, 200);
    assert.equal((await call('GET', `/proxy/aliases?container_id=${green.id}`)).status, 404);
    assert.equal(await ask(`shop-${tag}-green-web-2.test-node.apps.localhost`), 404);
  });
});
