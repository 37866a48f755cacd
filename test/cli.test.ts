/**
 * The `hoody` CLI as a user runs it: `node bin/hoody.js …` in a child process, configured by
 * HOODY_API_URL and HOODY_TOKEN, against a real daemon. Checks stdout, stderr and exit codes.
 */
import { describe, it, afterEach, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { chown, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './eventually.ts';
import type { DaemonHandle } from './daemon-harness.ts';
import { daemonWithClient, removeContainers } from './sdk-fixture.ts';
import type { HoodyClient } from '../src/sdk/index.ts';
import { withSpinner } from '../src/cli/spinner.ts';

const BIN = new URL('../bin/hoody.js', import.meta.url).pathname;
const ESC = '\x1b[';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('the hoody CLI against a real daemon', () => {
  let d: DaemonHandle;
  let client: HoodyClient;
  const made: string[] = [];

  /** Runs the CLI with the daemon's URL and admin token in the environment (overridable). */
  function hoody(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
    const merged: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, HOODY_API_URL: d.url, HOODY_TOKEN: d.adminToken, ...env })) if (v !== undefined) merged[k] = v;
    return new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...args], { env: merged, timeout: 60_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Runs the CLI and requires success; answers stdout. */
  async function ok(args: string[]): Promise<string> {
    const r = await hoody(args);
    assert.equal(r.code, 0, `hoody ${args.join(' ')} failed: ${r.stderr}`);
    assert.equal(r.stderr, '', 'nothing on stderr when all is well (no spinner when not a terminal)');
    assert.ok(!r.stdout.includes(ESC), 'no colour when stdout is not a terminal');
    return r.stdout;
  }

  /** Runs the CLI and requires it to fail with this exit code and nothing on stdout. */
  async function fails(args: string[], code: number, env: Record<string, string | undefined> = {}): Promise<string> {
    const r = await hoody(args, env);
    assert.equal(r.code, code, `hoody ${args.join(' ')}: expected exit ${code}, got ${r.code}\n${r.stdout}${r.stderr}`);
    assert.equal(r.stdout, '', 'nothing on stdout when it fails');
    return r.stderr;
  }

  /** A busybox container made through the SDK (fast), deleted after the test. */
  async function container(name: string, autostart = true): Promise<string> {
    const c = await client.api.containers.create({ name, container_image: 'busybox', autostart });
    made.push(c.data.id);
    return c.data.id;
  }
  const statusOf = async (id: string): Promise<string> => (await client.api.containers.get(id)).data.status;

  daemonWithClient((daemon, c) => {
    d = daemon;
    client = c;
  });
  afterEach(async () => {
    await removeContainers(client, made);
  });

  it('containers create prints the new container, and with --json prints its data as JSON', async () => {
    const json = JSON.parse(await ok(['containers', 'create', '--name', 'cli-web', '--image', 'busybox', '--env', 'A=1', '--env', 'B=two words', '--json']));
    made.push(json.id);
    assert.match(json.id, /^[0-9a-f]{24}$/);
    assert.equal(json.status, 'running');
    assert.deepEqual(json.environment_vars, { A: '1', B: 'two words' });
    assert.equal(json.command, null);

    const text = await ok(['containers', 'create', '--name', 'cli-job', '--image', 'busybox', '--no-autostart', '--', 'sh', '-c', 'echo hi; sleep 600']);
    const id = /^id:\s+([0-9a-f]{24})$/m.exec(text)?.[1];
    assert.ok(id, text);
    made.push(id);
    assert.match(text, /^Container created successfully$/m);
    assert.match(text, /^status:\s+stopped$/m);
    assert.match(text, /^command:\s+sh -c 'echo hi; sleep 600'$/m);
    assert.match(text, /^autostart:\s+no$/m);
    const c = (await client.api.containers.get(id)).data;
    assert.deepEqual(c.command, ['sh', '-c', 'echo hi; sleep 600']);
    assert.equal(c.autostart, false);
  });

  it('containers list prints an aligned table, filters by --status, and --json parses', async () => {
    const running = await container('cli-list-a');
    const stopped = await container('cli-list-b', false);
    const lines = (await ok(['containers', 'list'])).trimEnd().split('\n');
    const header = lines[0] ?? '';
    assert.deepEqual(header.split(/\s{2,}/), ['ID', 'NAME', 'STATUS', 'IMAGE', 'ADDRESS', 'PORTS', 'SERVER', 'CREATED']);
    const row = lines.find((l) => l.startsWith(running)) ?? '';
    assert.equal(row.indexOf('running'), header.indexOf('STATUS'), `the status sits under STATUS:\n${header}\n${row}`);
    assert.equal(row.indexOf('test-node'), header.indexOf('SERVER'));
    assert.ok(lines.some((l) => l.startsWith(stopped) && / stopped /.test(l)));

    const onlyStopped = await ok(['containers', 'list', '--status', 'stopped']);
    assert.ok(onlyStopped.includes(stopped) && !onlyStopped.includes(running));

    const data = JSON.parse(await ok(['containers', 'list', '--json']));
    assert.deepEqual(data.containers.map((c: any) => c.id).sort(), [running, stopped].sort());
  });

  it('containers get shows one container by id or by name, and --runtime true adds its processes', async () => {
    const id = await container('cli-get');
    const plain = await ok(['containers', 'get', id]);
    assert.match(plain, new RegExp(`^id:\\s+${id}$`, 'm'));
    assert.match(plain, /^name:\s+cli-get$/m);
    assert.match(plain, /^status:\s+running$/m);
    assert.match(plain, /^command:\s+\(image default\)$/m);
    assert.doesNotMatch(plain, /^runtime$/m);

    const withRuntime = await ok(['containers', 'get', 'cli-get', '--runtime', 'true']);
    assert.match(withRuntime, /^runtime$/m);
    assert.match(withRuntime, /^\s+pid:\s+\d+$/m);
    assert.match(withRuntime, /^\s+PID\s+COMMAND$/m);
    assert.match(withRuntime, /sleep infinity/);

    const json = JSON.parse(await ok(['containers', 'get', id, '--runtime', 'true', '--json']));
    assert.equal(json.id, id);
    assert.ok(json.runtime_info.processes.length > 0);
    assert.equal(JSON.parse(await ok(['containers', 'get', id, '--json'])).runtime_info, undefined);
  });

  it('containers manage runs every operation and prints the server\'s message; --json prints data', async () => {
    const id = await container('cli-ops');
    for (const [op, message, status] of [
      ['pause', 'Container paused successfully', 'paused'],
      ['resume', 'Container resumed successfully', 'running'],
      ['restart', 'Container restarted successfully', 'running'],
      ['stop', 'Container stopped successfully', 'stopped'],
      ['start', 'Container started successfully', 'running'],
    ] as const) {
      assert.equal(await ok(['containers', 'manage', id, op]), `${message}: ${id} is ${status}\n`);
      assert.equal(await statusOf(id), status);
    }
    const json = JSON.parse(await ok(['containers', 'manage', 'cli-ops', 'force-stop', '--reason', 'cli test', '--json']));
    assert.deepEqual(json, { operation: 'force-stop', container_id: id, status: 'stopped' });
    const last = (await client.api.containers.statusLogs(id, { limit: 1 })).data.logs[0];
    assert.equal(last?.metadata.reason, 'cli test');
  });

  it('pausing a stopped container exits 1 with INVALID_TRANSITION on stderr and nothing on stdout', async () => {
    const id = await container('cli-stopped', false);
    const stderr = await fails(['containers', 'manage', id, 'pause'], 1);
    assert.equal(stderr, 'error: cannot pause container "cli-stopped": it is stopped (INVALID_TRANSITION)\n');
    assert.equal(await statusOf(id), 'stopped');
    // --json changes what success prints, not how failure is reported
    assert.match(await fails(['containers', 'manage', id, 'resume', '--json'], 1), /^error: .* \(INVALID_TRANSITION\)$/m);
  });

  it('containers update sets autostart and environment variables of a stopped container, as the seed page does', async () => {
    const id = await container('cli-update', false);
    await ok(['containers', 'update', id, '--no-autostart']);
    assert.equal((await client.api.containers.get(id)).data.autostart, false);
    const out = await ok(['containers', 'update', id, '--autostart']);
    assert.match(out, /^Container updated successfully$/m);
    assert.match(out, /^autostart:\s+yes$/m);
    await ok(['containers', 'update', id, '--environment-vars', 'CONFIG_VERSION=2.0', 'MODE=blue=green']);
    const c = (await client.api.containers.get(id)).data;
    assert.equal(c.autostart, true);
    assert.deepEqual(c.environment_vars, { CONFIG_VERSION: '2.0', MODE: 'blue=green' });
    const renamed = JSON.parse(await ok(['containers', 'update', id, '--name', 'cli-renamed', '--stop-timeout', '3', '--json']));
    assert.equal(renamed.name, 'cli-renamed');
    assert.equal(renamed.stop_timeout, 3);
  });

  it('updating a running container exits 1 with INVALID_STATE and changes nothing', async () => {
    const id = await container('cli-busy');
    const stderr = await fails(['containers', 'update', id, '--environment-vars', 'X=1'], 1);
    assert.match(stderr, /^error: .*cli-busy.* \(INVALID_STATE\)$/m);
    assert.deepEqual((await client.api.containers.get(id)).data.environment_vars, {});
  });

  it('containers status-logs prints the audit trail as a table and pages with --page, --limit and --sort-order', async () => {
    const id = await container('cli-logs');
    await client.api.containers.manage(id, 'pause');
    await client.api.containers.manage(id, 'resume');
    await client.api.containers.manage(id, 'stop', { reason: 'nightly' });
    // create, start, pause, resume, stop
    const lines = (await ok(['containers', 'status-logs', id])).trimEnd().split('\n');
    assert.deepEqual(lines[0]?.split(/\s{2,}/), ['TIME', 'FROM', 'TO', 'OPERATION', 'TRIGGERED BY', 'DURATION', 'NOTE']);
    assert.match(lines[1] ?? '', /running\s+stopped\s+stop\s+user_[0-9a-f]+\s+\d+ ms\s+reason: nightly; exit 143$/);
    assert.equal(lines.at(-1), 'page 1 of 1 (5 entries)');

    const page = JSON.parse(await ok(['containers', 'status-logs', 'cli-logs', '--page', '2', '--limit', '2', '--sort-order', 'asc', '--json']));
    assert.deepEqual(page.pagination, { total: 5, page: 2, limit: 2, totalPages: 3 });
    assert.deepEqual(page.logs.map((l: any) => l.metadata.operation), ['pause', 'resume']);
    const text = await ok(['containers', 'status-logs', id, '--limit', '2', '--page', '3']);
    assert.match(text, /page 3 of 3 \(5 entries\)\n$/);
  });

  it('a bad or missing token exits 1 with UNAUTHORIZED', async () => {
    for (const env of [{ HOODY_TOKEN: 'hoody_wrong' }, { HOODY_TOKEN: undefined }]) {
      const stderr = await fails(['containers', 'list'], 1, env);
      assert.match(stderr, /^error: .* \(UNAUTHORIZED\)$/m);
    }
    assert.match(await fails(['containers', 'list', '--token', 'hoody_wrong'], 1), /\(UNAUTHORIZED\)$/m, '--token overrides HOODY_TOKEN');
  });

  it('an unreachable API exits 1 with NETWORK_ERROR; --api-url overrides HOODY_API_URL', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    const closed = `http://127.0.0.1:${port}`;
    assert.match(await fails(['containers', 'list'], 1, { HOODY_API_URL: closed }), new RegExp(`^error: cannot reach ${closed}/api/v1: .* \\(NETWORK_ERROR\\)$`, 'm'));
    const r = await hoody(['containers', 'list', '--api-url', d.url], { HOODY_API_URL: closed });
    assert.equal(r.code, 0, r.stderr);
  });

  it('hoody --version and -V print the version in package.json, as the daemon\'s /healthz does', async () => {
    const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.match(version, /^\d+\.\d+\.\d+/);
    assert.equal(await ok(['--version']), `${version}\n`);
    assert.equal(await ok(['-V']), `${version}\n`);
    const health = (await (await fetch(`${d.url}/healthz`)).json()) as { data: { version: string } };
    assert.equal(health.data.version, version);
  });

  it('usage errors exit 2 and say what is wrong', async () => {
    const id = await container('cli-usage', false);
    const cases: [string[], RegExp][] = [
      [['containers', 'explode'], /unknown command 'explode'/],
      [['containers', 'manage', id, 'explode'], /'explode' is invalid for argument 'operation'.*start, stop, force-stop, restart, pause, resume/],
      [['containers', 'manage', id, 'stop', '--timeout', 'soon'], /expected a whole number/],
      [['containers', 'get'], /missing required argument 'container'/],
      [['containers', 'update', id], /nothing to update/],
      [['containers', 'update', id, '--environment-vars', 'NOEQUALS'], /expected KEY=VALUE/],
      [['containers', 'create', '--image', 'busybox'], /required option '--name <name>'/],
      [['containers', 'list', '--status', 'sleeping'], /Allowed choices are creating, running, stopped, paused, failed, copying/],
      [['containers', 'create', '--name', 'cli-pub', '--image', 'busybox', '--publish', '8080:80/sctp'], /expected tcp or udp/],
      [['containers', 'create', '--name', 'cli-pub', '--image', 'busybox', '--network', 'host'], /Allowed choices are bridge, none/],
      [['containers', 'update', id, '--publish', '80', '--unpublish-all'], /either --publish or --unpublish-all/],
      [['tokens', 'create'], /required option '--name <name>'/],
    ];
    for (const [args, message] of cases) assert.match(await fails(args, 2), message, args.join(' '));
    assert.equal(await statusOf(id), 'stopped');
    const help = await hoody(['containers', 'manage', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: hoody containers manage \[options\] <container> <operation>/);
  });

  it('on a server without a bridge, --publish and --network bridge exit 1 with NETWORK_DISABLED; get shows network none and no address', async () => {
    assert.match(await fails(['containers', 'create', '--name', 'cli-net', '--image', 'busybox', '--publish', '8080:80'], 1), /NETWORK_DISABLED/);
    assert.match(await fails(['containers', 'create', '--name', 'cli-net', '--image', 'busybox', '--network', 'bridge'], 1), /NETWORK_DISABLED/);
    assert.equal((await client.api.containers.list({ name: 'cli-net' })).data.containers.length, 0, 'nothing was created');
    const created = JSON.parse(await ok(['containers', 'create', '--name', 'cli-net', '--image', 'busybox', '--network', 'none', '--no-autostart', '--json']));
    made.push(created.id);
    assert.deepEqual([created.network, created.ip_address, created.ports], ['none', null, []]);
    const shown = await ok(['containers', 'get', 'cli-net']);
    assert.match(shown, /^network:\s+none$/m);
    assert.match(shown, /^address:\s+-$/m);
    assert.match(shown, /^ports:\s+-$/m);
    assert.match(await fails(['containers', 'update', 'cli-net', '--publish', '80'], 1), /INVALID_INPUT|NETWORK_DISABLED/);
    // --unpublish-all on a container that publishes nothing is no change to refuse
    assert.equal(JSON.parse(await ok(['containers', 'update', 'cli-net', '--unpublish-all', '--json'])).ports.length, 0);
  });

  it('containers delete removes a stopped container; a running one exits 1 with INVALID_STATE; an unknown name is NOT_FOUND', async () => {
    const running = await container('cli-del-a');
    const stopped = await container('cli-del-b', false);
    assert.match(await fails(['containers', 'delete', running], 1), /\(INVALID_STATE\)$/m);
    assert.equal(await ok(['containers', 'delete', 'cli-del-b']), `Container deleted successfully: ${stopped}\n`);
    assert.equal((await client.api.containers.list({ name: 'cli-del-b' })).data.containers.length, 0);
    assert.equal(await fails(['containers', 'get', 'cli-del-b'], 1), 'error: container "cli-del-b" not found (NOT_FOUND)\n');
    // the audit trail of a deleted container stays readable by id
    assert.match(await ok(['containers', 'status-logs', stopped]), /stopped\s+stopped\s+delete/);
  });

  it('tokens create prints the secret once; the new token works, and a read-only one cannot manage', async () => {
    const id = await container('cli-tokens');
    const r = await hoody(['tokens', 'create', '--name', 'cli-dashboard', '--read-only']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /not shown again/);
    const secret = /^token:\s+(\S+)$/m.exec(r.stdout)?.[1];
    assert.ok(secret, r.stdout);
    assert.match(r.stdout, /^read-only:\s+yes$/m);
    const asReader = { HOODY_TOKEN: secret };
    const listed = await hoody(['containers', 'list', '--json'], asReader);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(JSON.parse(listed.stdout).containers.some((c: any) => c.id === id));
    assert.match(await fails(['containers', 'manage', id, 'stop'], 1, asReader), /^error: this token is read-only \(FORBIDDEN\)$/m);
    assert.equal(await statusOf(id), 'running');

    const tokens = JSON.parse(await ok(['tokens', 'list', '--json'])).tokens;
    const mine = tokens.find((t: any) => t.name === 'cli-dashboard');
    assert.equal(mine.read_only, true);
    assert.equal(mine.token, undefined, 'the secret is never listed');
    assert.match(await ok(['tokens', 'list']), /cli-dashboard\s+user_[0-9a-f]+\s+yes\s+no/);

    const auto = JSON.parse(await ok(['tokens', 'create', '--name', 'cli-bot', '--automation', '--json']));
    assert.equal(auto.automation, true);
    await hoody(['containers', 'manage', id, 'stop'], { HOODY_TOKEN: auto.token });
    const signed = (await client.api.containers.statusLogs(id, { limit: 1 })).data.logs[0];
    // the user acted through its automation token: the user is who, the token is how
    assert.match(signed?.triggered_by ?? '', /^user_[0-9a-f]+$/);
    assert.equal(signed?.metadata.token, 'cli-bot');
    assert.match(await ok(['tokens', 'delete', mine.id]), /^Token deleted successfully/);
    assert.match(await fails(['containers', 'list'], 1, asReader), /\(UNAUTHORIZED\)$/m);

    const user = JSON.parse(await ok(['users', 'create', '--name', 'cli-carol', '--json']));
    const carols = JSON.parse(await ok(['tokens', 'create', '--name', 'carol-cli', '--user', user.id, '--json']));
    assert.equal(carols.user_id, user.id);
    const seen = await hoody(['containers', 'list', '--json'], { HOODY_TOKEN: carols.token });
    assert.deepEqual(JSON.parse(seen.stdout).containers, [], 'carol sees none of the admin\'s containers');
  });

  it('projects create and list; containers list --project takes a project name or id', async () => {
    const created = await ok(['projects', 'create', '--name', 'cli-staging']);
    assert.match(created, /^Project created successfully$/m);
    const projectId = /^id:\s+([0-9a-f]{24})$/m.exec(created)?.[1];
    assert.ok(projectId);
    assert.match(await ok(['projects', 'list']), new RegExp(`^${projectId}\\s+cli-staging\\s+user_`, 'm'));
    const c = JSON.parse(await ok(['containers', 'create', '--name', 'cli-in-project', '--image', 'busybox', '--project', 'cli-staging', '--no-autostart', '--json']));
    made.push(c.id);
    assert.equal(c.project_id, projectId);
    await container('cli-elsewhere', false);
    for (const ref of ['cli-staging', projectId]) {
      assert.deepEqual(JSON.parse(await ok(['containers', 'list', '--project', ref, '--json'])).containers.map((x: any) => x.name), ['cli-in-project']);
    }
    assert.match(await fails(['containers', 'list', '--project', 'no-such-project'], 1), /project "no-such-project" not found \(NOT_FOUND\)/);
  });

  it('servers, images and users list as tables', async () => {
    assert.match(await ok(['servers', 'list']), /^[0-9a-f]{24}\s+test-node\s+ready\s+runc/m);
    const server = JSON.parse(await ok(['servers', 'list', '--json'])).servers[0];
    assert.match(await ok(['servers', 'get', server.id]), /^name:\s+test-node$/m);
    assert.match(await ok(['images', 'list']), /^busybox\s+builtin:busybox\s+\d/m);
    assert.match(await ok(['users', 'list']), /^user_[0-9a-f]+\s+admin\s+yes/m);
  });
});

describe('hoody images without a registry', () => {
  let d: DaemonHandle;
  function hoody(args: string[]): Promise<Run> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, HOODY_API_URL: d.url, HOODY_TOKEN: d.adminToken })) if (v !== undefined) env[k] = v;
    return new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
    });
  }
  daemonWithClient((daemon) => {
    d = daemon;
  });

  it('inspect shows the built-in busybox with its command; --json parses', async () => {
    const r = await hoody(['images', 'inspect', 'busybox']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^id:\s+builtin:busybox$/m);
    assert.match(r.stdout, /^cmd:\s+sleep infinity$/m);
    const json = JSON.parse((await hoody(['images', 'inspect', 'builtin:busybox', '--json'])).stdout);
    assert.equal(json.image.builtin, true);
    assert.deepEqual(json.image.config.cmd, ['sleep', 'infinity']);
  });

  it('errors: an unknown image is IMAGE_NOT_FOUND, a bad reference INVALID_INPUT, busybox cannot be removed; create --pull never of a missing image creates nothing', async () => {
    const unknown = await hoody(['images', 'inspect', 'example.com/none:1']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /image "example.com\/none:1" does not exist on this server \(IMAGE_NOT_FOUND\)/);
    const bad = await hoody(['images', 'pull', 'library/NGINX']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /is not valid.*\(INVALID_INPUT\)/);
    const rm = await hoody(['images', 'rm', 'busybox']);
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /built in.*\(INVALID_INPUT\)/);
    const never = await hoody(['containers', 'create', '--name', 'never-pulled', '--image', 'example.com/none:1', '--pull', 'never']);
    assert.equal(never.code, 1);
    assert.match(never.stderr, /\(IMAGE_NOT_FOUND\)/);
    const list = await hoody(['containers', 'list', '--name', 'never-pulled', '--json']);
    assert.deepEqual(JSON.parse(list.stdout).containers, [], 'nothing was created');
  });
});

/** An image archive as `docker save` writes it, built offline: a busybox layer, a config that says who runs what where. */
async function imageArchive(dir: string, name: string): Promise<string> {
  const layout = join(dir, 'layout');
  const bundle = join(dir, 'bundle');
  const sh = (cmd: string, args: string[]): void => void execFileSync(cmd, args, { stdio: 'ignore' });
  sh('umoci', ['init', '--layout', layout]);
  sh('umoci', ['new', '--image', `${layout}:base`]);
  sh('umoci', ['unpack', '--image', `${layout}:base`, bundle]);
  const root = join(bundle, 'rootfs');
  for (const d of ['bin', 'etc', 'home/app', 'tmp']) await mkdir(join(root, d), { recursive: true });
  await copyFile('/bin/busybox', join(root, 'bin/busybox'));
  await symlink('busybox', join(root, 'bin/sh'));
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\napp:x:1000:\n');
  await chown(join(root, 'home/app'), 1000, 1000);
  sh('umoci', ['repack', '--image', `${layout}:l1`, bundle]);
  sh('umoci', ['config', '--image', `${layout}:l1`, '--tag', '1.0', '--config.entrypoint', '/bin/sh', '--config.entrypoint', '-c', '--config.cmd', 'echo "uid=$(/bin/busybox id -u) cwd=$(pwd) greeting=$GREETING"; exec /bin/busybox sleep 600', '--config.env', 'PATH=/bin', '--config.env', 'GREETING=hi', '--config.workingdir', '/home/app', '--config.user', 'app']);
  const archive = join(dir, 'image.tar');
  sh('skopeo', ['copy', `oci:${layout}:1.0`, `docker-archive:${archive}:${name}`]);
  return archive;
}

describe('hoody images with an archive and an unreachable registry', () => {
  let d: DaemonHandle;
  let client: HoodyClient;
  let dir: string;
  const made: string[] = [];
  function hoody(args: string[]): Promise<Run> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, HOODY_API_URL: d.url, HOODY_TOKEN: d.adminToken })) if (v !== undefined) env[k] = v;
    return new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
    });
  }
  daemonWithClient((daemon, c) => {
    d = daemon;
    client = c;
  });
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoody-cli-images-'));
  });
  after(async () => {
    await removeContainers(client, made);
    await rm(dir, { recursive: true, force: true });
  });

  it('import streams a docker save archive; a container of it runs as its config says; rm is refused while it is used', async () => {
    const archive = await imageArchive(dir, 'example.com/cli/app:1.0');
    const imported = await hoody(['images', 'import', archive]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /^imported example\.com\/cli\/app:1\.0 \([0-9a-f]{12}, 1 layers, /m);
    const created = await hoody(['containers', 'create', '--name', 'cli-imported', '--image', 'example.com/cli/app:1.0', '--pull', 'never', '--json']);
    assert.equal(created.code, 0, created.stderr);
    const c = JSON.parse(created.stdout);
    made.push(c.id);
    assert.match(c.image_id, /^sha256:[0-9a-f]{64}$/);
    const log = join(d.dataDir, 'runtime', 'containers', c.id, 'ctr.log');
    await eventually('the container\'s line', () => readFile(log, 'utf8').catch(() => ''), (text) => text.includes('greeting='));
    assert.match(await readFile(log, 'utf8'), /uid=1000 cwd=\/home\/app greeting=hi/);
    const rm = await hoody(['images', 'rm', c.image_id]);
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /\(IMAGE_IN_USE\)/);
    const inspect = JSON.parse((await hoody(['images', 'inspect', 'example.com/cli/app:1.0', '--json'])).stdout);
    assert.deepEqual(inspect.image.used_by, [c.id]);
  });

  it('a pull from a registry that does not answer is IMAGE_PULL_FAILED, and creates nothing', async () => {
    const port = await closedPort();
    const pull = await hoody(['images', 'pull', `127.0.0.1:${port}/nothing:1`]);
    assert.equal(pull.code, 1);
    assert.match(pull.stderr, /cannot pull "127\.0\.0\.1:\d+\/nothing:1".*\(IMAGE_PULL_FAILED\)/);
    const create = await hoody(['containers', 'create', '--name', 'cli-unpulled', '--image', `127.0.0.1:${port}/nothing:1`]);
    assert.equal(create.code, 1);
    assert.match(create.stderr, /\(IMAGE_PULL_FAILED\)/);
    assert.deepEqual((await client.api.containers.list({ name: 'cli-unpulled' })).data.containers, []);
  });
});

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

describe('the CLI spinner', () => {
  /** A stand-in for stderr that records what is drawn. */
  const terminal = (isTTY: boolean) => {
    const writes: string[] = [];
    return { writes, stream: { isTTY, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream };
  };
  const after = <T>(ms: number, value: T): Promise<T> => new Promise((r) => setTimeout(() => r(value), ms));

  it('stays hidden for calls under 500 ms, and off a terminal altogether', async () => {
    const fast = terminal(true);
    assert.equal(await withSpinner('starting web', after(100, 'done'), fast.stream), 'done');
    assert.deepEqual(fast.writes, []);
    const piped = terminal(false);
    assert.equal(await withSpinner('stopping web', after(700, 'done'), piped.stream), 'done');
    assert.deepEqual(piped.writes, []);
  });

  it('draws on a terminal after 500 ms and erases its line when the call ends, even when it fails', async () => {
    const tty = terminal(true);
    await assert.rejects(withSpinner('stopping web', after(800, null).then(() => Promise.reject(new Error('boom'))), tty.stream), /boom/);
    assert.ok(tty.writes.length >= 2, tty.writes.join('|'));
    assert.match(tty.writes[0] ?? '', /^\r\S stopping web$/);
    assert.equal(tty.writes.at(-1), '\r\x1b[2K', 'the line is cleared');
  });
});
