/**
 * `hoody containers create --publish` and `get` against a daemon with a bridge of the test's own
 * (its own name, table and /24): the printed address and port are the ones that answer, a taken
 * port exits 1 with PORT_IN_USE, and update --publish / --unpublish-all change the ports of a
 * stopped container. Traffic goes only to loopback and to the test's own container.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { startTestDaemon, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';

const BIN = new URL('../bin/hoody.js', import.meta.url).pathname;
const tag = randomBytes(3).toString('hex');
const bridge = `hcl${tag}`;
const table = `hcl${tag}`;
const third = 16 + (parseInt(tag.slice(0, 2), 16) % 200);
const subnet = `10.215.${third}.0/24`;

describe('hoody containers with published ports, against a daemon with a bridge', () => {
  let d: DaemonHandle | undefined;

  before(async () => {
    d = await startTestDaemon('sqlite', { HOODY_NETWORK: 'bridge', HOODY_NETWORK_BRIDGE: bridge, HOODY_NETWORK_SUBNET: subnet, HOODY_NETWORK_TABLE: table, HOODY_NETWORK_NAMESERVERS: '' });
  });

  after(async () => {
    await d?.cleanup();
    for (const n of readdirSafe('/run/netns').filter((n) => n.startsWith(`${bridge}-`))) spawnSync('ip', ['netns', 'del', n]);
    spawnSync('ip', ['link', 'del', bridge]);
    for (const family of ['ip', 'bridge', 'inet']) spawnSync('nft', ['delete', 'table', family, table]);
  });

  function hoody(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const env = { ...process.env, HOODY_API_URL: d?.url ?? '', HOODY_TOKEN: d?.adminToken ?? '' };
    return new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
    });
  }

  it('publishes a port, shows the address and the port, refuses a taken port, and changes ports while stopped', async () => {
    const httpd = ['--', 'sh', '-c', 'mkdir -p /tmp/www && echo hello-cli > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www'];
    const created = await hoody(['containers', 'create', '--name', 'web', '--image', 'busybox', '--publish', '127.0.0.1::80', '--json', ...httpd]);
    assert.equal(created.code, 0, created.stderr);
    const web = JSON.parse(created.stdout);
    assert.equal(web.network, 'bridge');
    assert.match(web.ip_address, new RegExp(`^10\\.215\\.${third}\\.\\d+$`));
    const port = web.ports[0];
    assert.equal(port.host_ip, '127.0.0.1');
    assert.ok(port.host_port >= 20000 && port.host_port <= 32767, `a pool port: ${port.host_port}`);

    const shown = await hoody(['containers', 'get', 'web', '--runtime', 'true']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^network:\s+bridge$/m);
    assert.match(shown.stdout, new RegExp(`^address:\\s+${web.ip_address.replaceAll('.', '\\.')}$`, 'm'));
    assert.match(shown.stdout, new RegExp(`^ports:\\s+127\\.0\\.0\\.1:${port.host_port}->80/tcp$`, 'm'));
    assert.match(shown.stdout, new RegExp(`addresses:\\s+${web.ip_address.replaceAll('.', '\\.')}/24 via 10\\.215\\.${third}\\.1`));
    // and the list shows the address and the port under their columns, as `docker ps` does
    const listed = (await hoody(['containers', 'list'])).stdout.trimEnd().split('\n');
    const row = listed.find((l) => l.startsWith(web.id)) ?? '';
    assert.equal(row.indexOf(web.ip_address), listed[0]!.indexOf('ADDRESS'), `the address sits under ADDRESS:\n${listed[0]}\n${row}`);
    assert.equal(row.indexOf(`127.0.0.1:${port.host_port}->80/tcp`), listed[0]!.indexOf('PORTS'));

    const body = await eventually(
      'the published port to answer',
      () => fetch(`http://127.0.0.1:${port.host_port}/`, { signal: AbortSignal.timeout(3000) }).then((r) => r.text(), (e: Error) => e.message),
      (t) => t.trim() === 'hello-cli',
      15_000,
    );
    assert.equal(body.trim(), 'hello-cli');

    const thief = await hoody(['containers', 'create', '--name', 'thief', '--image', 'busybox', '--publish', `${port.host_port}:80`]);
    assert.equal(thief.code, 1);
    assert.equal(thief.stdout, '');
    assert.match(thief.stderr, /PORT_IN_USE/);

    const running = await hoody(['containers', 'update', 'web', '--unpublish-all']);
    assert.equal(running.code, 1);
    assert.match(running.stderr, /INVALID_STATE/);
    assert.equal((await hoody(['containers', 'manage', 'web', 'stop', '--timeout', '2'])).code, 0);
    const moved = await hoody(['containers', 'update', 'web', '--publish', '127.0.0.1::80', '--publish', '8443/udp', '--json']);
    assert.equal(moved.code, 0, moved.stderr);
    const ports = JSON.parse(moved.stdout).ports;
    assert.equal(ports[0].host_port, port.host_port, 'the port asked for again keeps its host port');
    assert.equal(ports[1].protocol, 'udp');
    const none = await hoody(['containers', 'update', 'web', '--unpublish-all', '--json']);
    assert.deepEqual(JSON.parse(none.stdout).ports, []);
    assert.equal((await hoody(['containers', 'delete', 'web'])).code, 0);
  });
});

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
