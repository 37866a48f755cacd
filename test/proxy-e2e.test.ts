/**
 * Service URLs and proxy aliases through the daemon, with real containers (busybox httpd) on a
 * bridge of the test's own and the daemon's router on a loopback port: the seed's blue-green
 * switch under a client hammering the alias, 503 at once on stop and pause and service again on
 * resume, private URLs (token, open link and cookie) and another user's 404, and the TLS `ask`.
 * Traffic goes only to loopback and to addresses inside namespaces this test made.
 */
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import WebSocket from 'ws';
import { Client, PROMPT } from './terminal-client.ts';
import { startTestDaemon, apiClient, HOODY_BIN, type DaemonHandle } from './daemon-harness.ts';
import { HoodyClient } from '../src/sdk/index.ts';
import { eventually, tcpProbe } from './eventually.ts';

const tag = randomBytes(3).toString('hex');
const bridge = `hpx${tag}`;
const table = `hpx${tag}`;
const third = 16 + (parseInt(tag.slice(0, 2), 16) % 200);
const subnet = `10.215.${third}.0/24`;

/** busybox httpd answering `text` on `port`. */
const httpd = (text: string, port: number): string[] => ['sh', '-c', `mkdir -p /tmp/www && echo ${text} > /tmp/www/index.html && exec httpd -f -p ${port} -h /tmp/www`];

/** A TCP port free on loopback now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

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
    // generous: on a loaded 2-core machine an answer may be slow; what must never happen is an error or a wrong color
    const res = await request(`${router}${path}`, { headers: { host, ...headers }, headersTimeout: 60_000, bodyTimeout: 60_000 });
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

  /**
   * Runs `work` while a client requests `host` over and over: what it saw, in order. Every answer
   * must be the old color, then a 503 or the new color, and never the old color (nor an error)
   * once `work` has returned.
   */
  async function hammerDuring(host: string, from: string, to: string, work: () => Promise<void>): Promise<string> {
    const seen: { body: string; at: number }[] = [];
    const errors: string[] = [];
    let hammering = true;
    const auth = { authorization: `Bearer ${d?.adminToken}` };
    const t0 = performance.now();
    let at = t0;
    const hammer = (async () => {
      while (hammering) {
        try {
          // when it was sent: an answer that arrives after the switch may have left before it
          at = performance.now();
          const r = await viaRouter(host, '/', auth);
          seen.push({ body: r.status === 200 ? r.body : String(r.status), at });
        } catch (err) {
          errors.push(`${String(err)} (sent ${Math.round(at - t0)} ms into the switch's hammering; ${seen.length} answers before: ${seen.slice(-3).map((s) => s.body).join(', ')})`);
        }
      }
    })();
    try {
      await eventually('a few answers', async () => seen.length, (n) => n >= 10, 10_000);
      await work();
      const done = performance.now();
      await eventually(`${to} answering after the switch`, async () => seen.filter((s) => s.at > done && s.body === to).length, (n) => n >= 10, 90_000);
      hammering = false;
      await hammer;
      assert.deepEqual(errors, []);
      const bodies = seen.map((s) => s.body);
      assert.ok(bodies.every((b) => b === from || b === to || b === '503'), `only ${from}, ${to} or 503: ${[...new Set(bodies)].join(', ')}`);
      assert.equal(bodies[0], from);
      const firstNew = bodies.indexOf(to);
      assert.ok(!bodies.slice(firstNew).includes(from), `no ${from} once ${to} answered`);
      assert.ok(seen.filter((s) => s.at > done).every((s) => s.body !== from), `no ${from} after the switch returned`);
      return `${bodies.filter((b) => b === from).length} ${from}, ${bodies.filter((b) => b === '503').length} 503, ${bodies.filter((b) => b === to).length} ${to}`;
    } finally {
      hammering = false;
      await hammer;
    }
  }

  /** The page's CLI lines run by bash (without blocking this process: the client keeps hammering), `hoody` being the shipped bin/hoody.js. */
  function bash(script: string, vars: Record<string, string>): Promise<{ code: number | null; out: string }> {
    const shim = `hoody() { "${process.execPath}" "${HOODY_BIN}" "$@"; }\n`;
    return new Promise((resolve) => {
      execFile('bash', ['-c', shim + script], { timeout: 120_000, env: { ...process.env, HOODY_API_URL: d?.url ?? '', HOODY_TOKEN: d?.adminToken ?? '', ...vars } }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: `${stdout}${stderr}` });
      });
    });
  }

  const aliasIdOf = async (name: string): Promise<string> => (await call('GET', '/proxy/aliases')).body.data.aliases.find((a: any) => a.alias === name).id;

  it('switches the alias prod between blue and green as the seed page writes it (CLI, TypeScript, curl) under load: old color, then 503 or new, never an error', async () => {
    const created = await call('POST', '/proxy/aliases', { container_id: blue.id, alias: 'prod', program: 'web', index: 1, target_path: '/' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.data.host, 'prod.apps.localhost');
    assert.equal((await call('POST', '/proxy/aliases', { container_id: green.id, alias: 'prod', program: 'web' })).body.code, 'ALIAS_TAKEN');
    const host = 'prod.apps.localhost';
    const summary: string[] = [];

    // the CLI, blue → green
    summary.push(
      await hammerDuring(host, 'blue', 'green', async () => {
        const r = await bash(
          String.raw`
    # 1. Start green container
    hoody containers manage $GREEN_ID start

    # 2. Verify green is healthy
    hoody containers get $GREEN_ID --runtime true

    # 3. Re-point alias to green (delete + recreate — container_id is immutable)
    hoody proxy delete $ALIAS_ID
    hoody proxy create --container-id $GREEN_ID \
      --alias "prod" --program "web" --index 1 --target-path "/"

    # 4. Monitor green in production

    # 5. After verification, stop blue
    hoody containers manage $BLUE_ID stop
`,
          { GREEN_ID: green.id, BLUE_ID: blue.id, ALIAS_ID: await aliasIdOf('prod') },
        );
        assert.equal(r.code, 0, r.out);
      }),
    );

    // TypeScript, green → blue (the page's GREEN_ID is the container switched to)
    summary.push(
      await hammerDuring(host, 'green', 'blue', async () => {
        const client = new HoodyClient({ baseUrl: d?.url ?? '', token: d?.adminToken });
        const [GREEN_ID, BLUE_ID, ALIAS_ID] = [blue.id as string, green.id as string, await aliasIdOf('prod')];
        const console = { log: (..._: unknown[]) => undefined };
        // 1. Start green container
        await client.api.containers.manage(GREEN_ID, 'start');

        // 2. Verify green is healthy
        const green_ = await client.api.containers.get(GREEN_ID, { runtime: 'true' });
        console.log(green_.data.status); // 'running'

        // 3. Re-point alias to green (delete + recreate — container_id is immutable)
        await client.api.proxyAliases.delete(ALIAS_ID);
        await client.api.proxyAliases.create({
          container_id: GREEN_ID,
          alias: 'prod',
          program: 'web',
          index: 1,
          target_path: '/'
        });

        // 4. After verification, stop blue
        await client.api.containers.manage(BLUE_ID, 'stop');
      }),
    );

    // curl, blue → green
    summary.push(
      await hammerDuring(host, 'blue', 'green', async () => {
        const page = String.raw`
    # 1. Start green container
    curl -X POST "https://api.hoody.icu/api/v1/containers/{green_id}/start" \
      -H "Authorization: Bearer $HOODY_TOKEN"

    # 2. Verify green is healthy
    curl "https://api.hoody.icu/api/v1/containers/{green_id}?runtime=true" \
      -H "Authorization: Bearer $HOODY_TOKEN"

    # 3. Re-point alias to green (delete + recreate — container_id is immutable)
    curl -X DELETE "https://api.hoody.icu/api/v1/proxy/aliases/{alias_id}" \
      -H "Authorization: Bearer $HOODY_TOKEN"

    curl -X POST "https://api.hoody.icu/api/v1/proxy/aliases" \
      -H "Authorization: Bearer $HOODY_TOKEN" \
      -H "Content-Type: application/json" \
      -d '{
        "container_id": "{green_id}",
        "alias": "prod",
        "program": "web",
        "index": 1,
        "target_path": "/"
      }'

    # 4. After verification, stop blue
    curl -X POST "https://api.hoody.icu/api/v1/containers/{blue_id}/stop" \
      -H "Authorization: Bearer $HOODY_TOKEN"
`;
        const script = page.replaceAll('https://api.hoody.icu', d?.url ?? '').replaceAll('{green_id}', green.id).replaceAll('{blue_id}', blue.id).replaceAll('{alias_id}', await aliasIdOf('prod'));
        const r = await bash(`set -e\n${script}`, {});
        assert.equal(r.code, 0, r.out);
      }),
    );
    process.stdout.write(`# blue-green through the router: ${summary.join('; ')}\n`);
    assert.equal((await call('GET', `/containers/${blue.id}`)).body.data.status, 'stopped');
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

  it('is served through Caddy in front with on-demand TLS restricted by the ask endpoint, as docs/proxy.md sets it up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoody-caddy-'));
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    const routerPort = new URL(router).port;
    // the page's configuration, with the ports of this test, its own storage and no admin endpoint
    await writeFile(
      join(dir, 'Caddyfile'),
      `{
	admin off
	http_port ${httpPort}
	https_port ${httpsPort}
	storage file_system ${dir}/data
	skip_install_trust
	on_demand_tls {
		ask ${d?.url}/api/v1/proxy/tls-ask
	}
}

https:// {
	tls internal {
		on_demand
	}
	reverse_proxy 127.0.0.1:${routerPort} {
		flush_interval -1
		transport http {
			keepalive 60s
			keepalive_idle_conns_per_host 128
		}
	}
}
`,
    );
    const caddy = spawn('caddy', ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], { env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir }, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    caddy.stderr?.on('data', (b: Buffer) => (log += b.toString()));
    try {
      await eventually('caddy listening', () => tcpProbe('127.0.0.1', httpsPort), (r) => r === 'open', 20_000);
      const curl = (name: string, extra: string[] = []) =>
        new Promise<{ code: number; out: string }>((resolve) =>
          execFile('curl', ['-sk', '--max-time', '20', '--resolve', `${name}:${httpsPort}:127.0.0.1`, ...extra, `https://${name}:${httpsPort}/`], (err, stdout) =>
            resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, out: stdout.trim() }),
          ),
        );
      const served = await curl('prod.apps.localhost', ['-H', `Authorization: Bearer ${d?.adminToken}`]);
      assert.deepEqual(served, { code: 0, out: 'green' }, log);
      // a name the router does not serve gets no certificate: the handshake fails
      const refused = await curl('stranger.example.com');
      assert.notEqual(refused.code, 0, `no certificate for a name Hoody does not serve: ${refused.out}`);
    } finally {
      caddy.kill('SIGKILL');
      await new Promise((r) => caddy.once('exit', r));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('serves a kit container\'s terminal at its terminal-1 host: the page, and a session opened with the open link\'s cookie', async () => {
    const kit = await create({ name: 'kit', hoody_kit: true, command: ['sleep', '600'] });
    // exec in a container on the bridge runs in its network namespace
    const bridged = await call('POST', `/containers/${green.id}/exec`, { command: ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'] });
    assert.equal(bridged.body.data?.exit_code, 0, JSON.stringify(bridged.body));
    assert.match(bridged.body.data.stdout, new RegExp(`inet ${(await call('GET', `/containers/${green.id}`)).body.data.ip_address.replaceAll('.', '\\.')}/`));
    const refused = await call('POST', '/containers', { container_image: 'busybox', project_id: projectId, name: 'fake', programs: [{ name: 'terminal', port: 80 }], autostart: false });
    assert.deepEqual([refused.status, refused.body.code], [400, 'INVALID_INPUT']);
    const services = (await call('GET', `/containers/${kit.id}/services`)).body.data.services;
    const terminal = services.find((s: any) => s.program === 'terminal');
    assert.equal(terminal.host, `shop-${tag}-kit-terminal-1.test-node.apps.localhost`);
    assert.equal(terminal.status, 'active');
    // a container without the kit has no terminal host
    assert.equal((await viaRouter(`shop-${tag}-green-terminal-1.test-node.apps.localhost`)).status, 404);
    assert.equal((await viaRouter(terminal.host)).status, 401);
    const open = await request(terminal.open_url.replace(`http://${terminal.host}:`, 'http://127.0.0.1:'), { headers: { host: terminal.host } });
    assert.equal(open.statusCode, 303);
    await open.body.dump();
    const cookie = String(open.headers['set-cookie']).split(';')[0] as string;
    const page = await viaRouter(terminal.host, '/', { cookie });
    assert.equal(page.status, 200);
    assert.match(page.body, /terminal\.js/);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    assert.equal((await viaRouter(terminal.host, '/terminal/assets/xterm.js', { cookie })).status, 200);
    // the page's WebSocket, with the cookie of that host
    const term = await Client.open(`${router.replace('http', 'ws')}/__hoody/terminal?cols=90&rows=30`, { host: terminal.host, cookie });
    await term.until(PROMPT);
    term.type('echo kit-$((2+3)); stty size\r');
    await term.until(/kit-5[\s\S]*30 90/);
    term.ws.close();
    // another site cannot open it with the cookie
    const foreign = new WebSocket(`${router.replace('http', 'ws')}/__hoody/terminal`, ['hoody.terminal'], { headers: { host: terminal.host, cookie, origin: 'https://evil.example' } });
    const status = await new Promise<number>((resolve) => {
      foreign.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      foreign.once('open', () => resolve(101));
      foreign.once('error', () => resolve(0));
    });
    assert.equal(status, 403);
    assert.equal((await call('POST', `/containers/${kit.id}/stop`)).status, 200);
    assert.equal((await viaRouter(terminal.host, '/', { cookie })).status, 503);
  });

  it('answers a TLS terminator\'s ask for its own hosts only, and changes programs while stopped', async () => {
    const ask = async (domain: string): Promise<number> => (await fetch(`${d?.url}/api/v1/proxy/tls-ask?domain=${domain}`)).status;
    assert.equal(await ask('prod.apps.localhost'), 200);
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
