/**
 * The TypeScript SDK driving a real daemon (real runc containers, real SQLite) through
 * HoodyClient: every call, the envelopes it answers, and the HoodyApiError it throws.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { untilProcess, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';
import { closedPort, daemonWithClient, removeContainers } from './sdk-fixture.ts';
import { LIFECYCLE_OPERATIONS as API_OPERATIONS } from '../src/api/schemas.ts';
import { HoodyApiError, HoodyClient, LIFECYCLE_OPERATIONS, apiBaseOf, isHoodyApiError, type ContainerStatus, type LifecycleOperation, type RuntimeInfo } from '../src/sdk/index.ts';

const SDK_DIR = new URL('../src/sdk/', import.meta.url).pathname;

/** Awaits a promise that must reject with a HoodyApiError, and answers it. */
async function apiError(promise: Promise<unknown>): Promise<HoodyApiError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof HoodyApiError, `expected a HoodyApiError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

/** A TCP port nothing listens on. */
describe('the TypeScript SDK against a real daemon', () => {
  let d: DaemonHandle;
  let client: HoodyClient;
  const made: string[] = [];
  let n = 0;
  const uniqueName = (base: string): string => `sdk-${base}-${(n++).toString(36)}`;

  /** A busybox container in the wanted status, deleted after the test. */
  async function containerIn(status: 'running' | 'stopped' | 'paused', command?: string[]): Promise<string> {
    const created = await client.api.containers.create({ name: uniqueName(status), container_image: 'busybox', autostart: status !== 'stopped', ...(command ? { command } : {}) });
    made.push(created.data.id);
    await client.api.containers.waitForStatus(created.data.id, status === 'stopped' ? 'stopped' : 'running', { timeoutMs: 10_000, intervalMs: 50 });
    if (status === 'paused') await client.api.containers.manage(created.data.id, 'pause');
    return created.data.id;
  }

  daemonWithClient((daemon, c) => {
    d = daemon;
    client = c;
  });
  afterEach(async () => {
    await removeContainers(client, made);
  });

  it('creates a busybox container that runs the image default command, in the 201 envelope', async () => {
    const created = await client.api.containers.create({ name: uniqueName('web'), container_image: 'busybox', environment_vars: { GREETING: 'hi' } });
    made.push(created.data.id);
    assert.equal(created.statusCode, 201);
    assert.equal(created.message, 'Container created successfully');
    assert.match(created.data.id, /^[0-9a-f]{24}$/);
    assert.equal(created.data.container_image, 'busybox');
    assert.equal(created.data.command, null);
    assert.deepEqual(created.data.environment_vars, { GREETING: 'hi' });
    assert.equal(created.data.autostart, true);
    const running = await client.api.containers.waitForStatus(created.data.id, 'running', { timeoutMs: 10_000, intervalMs: 50 });
    assert.equal(running.data.server_name, 'test-node');
    const info = (await client.api.containers.get(created.data.id, { runtime: 'true' })).data.runtime_info;
    assert.ok(info.processes.some((p) => p.command.includes('sleep infinity')), JSON.stringify(info.processes));
  });

  it('runs every lifecycle operation and answers each in the envelope the seed page shows', async () => {
    const id = await containerIn('running');
    const steps: [LifecycleOperation, string, ContainerStatus][] = [
      ['pause', 'Container paused successfully', 'paused'],
      ['resume', 'Container resumed successfully', 'running'],
      ['restart', 'Container restarted successfully', 'running'],
      ['stop', 'Container stopped successfully', 'stopped'],
      ['start', 'Container started successfully', 'running'],
      ['force-stop', 'Container force-stopped successfully', 'stopped'],
    ];
    for (const [op, message, status] of steps) {
      const res = await client.api.containers.manage(id, op, op === 'stop' ? { reason: 'sdk test', timeout: 2 } : undefined);
      assert.deepEqual(res, { statusCode: 200, message, data: { operation: op, container_id: id, status } });
      assert.equal((await client.api.containers.get(id)).data.status, status, `after ${op}`);
    }
    const logs = await client.api.containers.statusLogs(id, { limit: 100, sort_order: 'asc' });
    const stop = logs.data.logs.find((l) => l.metadata.operation === 'stop');
    assert.equal(stop?.metadata.reason, 'sdk test', 'the reason is kept in the log');
  });

  it('get adds runtime_info for runtime "true" or true, and leaves it out otherwise', async () => {
    const id = await containerIn('running', ['sh', '-c', 'exec sleep 600']);
    // start answers once init is released; the shell's exec follows a moment later
    await untilProcess(d, id, 'sleep 600');
    for (const runtime of ['true', true] as const) {
      const res = await client.api.containers.get(id, { runtime });
      const info: RuntimeInfo = res.data.runtime_info; // typed as present by the overload
      assert.ok(info.pid !== null && info.pid > 1);
      assert.ok(info.processes.some((p) => p.command === 'sleep 600'), JSON.stringify(info.processes));
      assert.ok(info.memory_bytes > 0);
      assert.deepEqual(info.displays, { active: false, memory_bytes: 0, connected_clients: [] }, 'no kit: no display');
    }
    assert.equal((await client.api.containers.get(id)).data.runtime_info, undefined);
    assert.equal((await client.api.containers.get(id, { runtime: false })).data.runtime_info, undefined);
  });

  it('update changes a stopped container, and the new environment reaches its process', async () => {
    const id = await containerIn('running');
    const refused = await apiError(client.api.containers.update(id, { autostart: false }));
    assert.equal(refused.statusCode, 400);
    assert.equal(refused.code, 'INVALID_STATE');
    await client.api.containers.manage(id, 'stop');
    const res = await client.api.containers.update(id, { environment_vars: { CONFIG_VERSION: '2.0' }, autostart: false, stop_timeout: 3 });
    assert.equal(res.statusCode, 200);
    assert.equal(res.message, 'Container updated successfully');
    assert.deepEqual(res.data.environment_vars, { CONFIG_VERSION: '2.0' });
    assert.equal(res.data.autostart, false);
    assert.equal(res.data.stop_timeout, 3);
    await client.api.containers.manage(id, 'start');
    const pid = (await client.api.containers.get(id, { runtime: 'true' })).data.runtime_info.pid;
    // start answers once init is released: its exec of the container's init may be a moment later
    await eventually('the new environment in the container\'s init', async () => (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0'), (environ) => environ.includes('CONFIG_VERSION=2.0'));
  });

  it('statusLogs pages through the audit trail in both orders', async () => {
    const id = await containerIn('running');
    for (const op of ['pause', 'resume', 'stop'] as const) await client.api.containers.manage(id, op);
    // create, start, pause, resume, stop
    const all = await client.api.containers.statusLogs(id, { limit: 100, sort_order: 'asc' });
    assert.deepEqual(all.data.logs.map((l) => `${l.from_status}>${l.to_status}`), ['creating>stopped', 'stopped>running', 'running>paused', 'paused>running', 'running>stopped']);
    const page2 = await client.api.containers.statusLogs(id, { page: 2, limit: 2, sort_order: 'desc' });
    assert.equal(page2.message, 'Status logs retrieved successfully');
    assert.deepEqual(page2.data.pagination, { total: 5, page: 2, limit: 2, totalPages: 3 });
    assert.deepEqual(page2.data.logs.map((l) => l.id), all.data.logs.slice().reverse().slice(2, 4).map((l) => l.id));
    const newest = await client.api.containers.statusLogs(id);
    assert.equal(newest.data.logs[0]?.to_status, 'stopped', 'newest first by default');
    const bad = await apiError(client.api.containers.statusLogs(id, { limit: 101 }));
    assert.equal(bad.code, 'INVALID_INPUT');
    assert.ok(Array.isArray(bad.details?.errors));
  });

  it('list filters by status and name, and listByProject answers one project', async () => {
    const project = await client.api.projects.create({ name: 'sdk-staging' });
    assert.equal(project.statusCode, 201);
    const created = await client.api.containers.create({ name: uniqueName('api'), project_id: project.data.id, container_image: 'busybox', autostart: false });
    made.push(created.data.id);
    const other = await containerIn('running');
    const inProject = await client.api.containers.listByProject(project.data.id);
    assert.deepEqual(inProject.data.containers.map((c) => c.id), [created.data.id]);
    const stopped = await client.api.containers.list({ status: 'stopped' });
    assert.ok(stopped.data.containers.some((c) => c.id === created.data.id));
    assert.ok(!stopped.data.containers.some((c) => c.id === other));
    const byName = await client.api.containers.list({ name: created.data.name });
    assert.deepEqual(byName.data.containers.map((c) => c.id), [created.data.id]);
    const all = await client.api.containers.list();
    assert.ok([created.data.id, other].every((id) => all.data.containers.some((c) => c.id === id)));
    const projects = await client.api.projects.list();
    assert.ok(projects.data.projects.some((p) => p.id === project.data.id && p.name === 'sdk-staging'));
    const missing = await apiError(client.api.containers.listByProject('ffffffffffffffffffffffff'));
    assert.equal(missing.code, 'NOT_FOUND');
  });

  it('waitForStatus follows a container whose process exits by itself, and times out or aborts otherwise', async () => {
    const created = await client.api.containers.create({ name: uniqueName('short'), container_image: 'busybox', command: ['sh', '-c', 'sleep 0.5; exit 3'] });
    made.push(created.data.id);
    const stopped = await client.api.containers.waitForStatus(created.data.id, 'stopped', { timeoutMs: 10_000, intervalMs: 50 });
    assert.equal(stopped.data.status, 'stopped');
    assert.equal(stopped.data.exit_code, 3);

    const t0 = Date.now();
    const timeout = await apiError(client.api.containers.waitForStatus(created.data.id, ['running', 'paused'], { timeoutMs: 300, intervalMs: 50 }));
    assert.ok(Date.now() - t0 < 2000, 'gave up near the deadline');
    assert.equal(timeout.code, 'TIMEOUT');
    assert.equal(timeout.statusCode, 0);
    assert.deepEqual(timeout.details, { container_id: created.data.id, wanted: ['running', 'paused'], status: 'stopped', timeout_ms: 300 });

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const aborted = await apiError(client.api.containers.waitForStatus(created.data.id, 'running', { signal: controller.signal, intervalMs: 50 }));
    assert.equal(aborted.code, 'ABORTED');
  });

  it('delete removes a stopped container; its status logs stay readable and a second delete is 404', async () => {
    const id = await containerIn('stopped');
    const res = await client.api.containers.delete(id);
    assert.deepEqual(res, { statusCode: 200, message: 'Container deleted successfully', data: { container_id: id, deleted: true } });
    assert.equal((await apiError(client.api.containers.get(id))).code, 'NOT_FOUND');
    const again = await apiError(client.api.containers.delete(id));
    assert.equal(again.statusCode, 404);
    const logs = await client.api.containers.statusLogs(id, { sort_order: 'desc', limit: 1 });
    assert.equal(logs.data.logs[0]?.metadata.operation, 'delete');
  });

  it('throws a typed HoodyApiError for 400, 404 and 409 answers, carrying the server envelope', async () => {
    const id = await containerIn('stopped');

    const transition = await apiError(client.api.containers.manage(id, 'pause'));
    assert.equal(transition.statusCode, 400);
    assert.equal(transition.code, 'INVALID_TRANSITION');
    assert.equal(transition.error, 'Bad Request');
    assert.match(transition.message, /cannot pause container ".*": it is stopped/);
    assert.equal(transition.details?.status, 'stopped');
    assert.ok((transition.details?.allowed_operations as string[]).includes('start'));
    assert.ok(isHoodyApiError(transition, 'INVALID_TRANSITION'));
    assert.deepEqual(transition.toJSON(), { statusCode: 400, error: 'Bad Request', code: 'INVALID_TRANSITION', message: transition.message, details: transition.details });

    const input = await apiError(client.api.containers.create({ name: 'Bad Name!', container_image: 'busybox' }));
    assert.equal(input.statusCode, 400);
    assert.equal(input.code, 'INVALID_INPUT');

    const missing = await apiError(client.api.containers.get('ffffffffffffffffffffffff'));
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.code, 'NOT_FOUND');

    const name = (await client.api.containers.get(id)).data.name;
    const taken = await apiError(client.api.containers.create({ name, container_image: 'busybox', autostart: false }));
    assert.equal(taken.statusCode, 409);
    assert.equal(taken.code, 'NAME_TAKEN');

    // a stop that waits out its timeout holds the container; a pause meanwhile is refused
    const busy = await containerIn('running', ['sh', '-c', 'trap "" TERM; while :; do sleep 0.05; done']);
    await untilProcess(d, busy, 'sleep 0.05');
    const stopping = client.api.containers.manage(busy, 'stop', { timeout: 1 });
    await new Promise((r) => setTimeout(r, 200));
    const inProgress = await apiError(client.api.containers.manage(busy, 'pause'));
    assert.equal(inProgress.statusCode, 409);
    assert.equal(inProgress.code, 'OPERATION_IN_PROGRESS');
    assert.equal((inProgress.details?.current_operation as { operation: string }).operation, 'stop');
    assert.equal((await stopping).data.status, 'stopped');
  });

  it('answers UNAUTHORIZED for a bad or missing token and FORBIDDEN for a read-only token that writes', async () => {
    for (const token of ['hoody_wrong', undefined]) {
      const err = await apiError(new HoodyClient({ baseUrl: d.url, token }).api.containers.list());
      assert.equal(err.statusCode, 401);
      assert.equal(err.code, 'UNAUTHORIZED');
    }
    const id = await containerIn('running');
    const ro = await client.api.tokens.create({ name: 'sdk-dashboard', read_only: true });
    const reader = new HoodyClient({ baseUrl: d.url, token: ro.data.token });
    assert.equal((await reader.api.containers.get(id)).data.status, 'running');
    const err = await apiError(reader.api.containers.manage(id, 'stop'));
    assert.equal(err.statusCode, 403);
    assert.equal(err.code, 'FORBIDDEN');
    assert.equal((await client.api.containers.get(id)).data.status, 'running', 'nothing changed');
  });

  it('wraps an unreachable daemon as NETWORK_ERROR with status 0', async () => {
    const port = await closedPort();
    const err = await apiError(new HoodyClient({ baseUrl: `http://127.0.0.1:${port}`, token: 'x' }).api.containers.list());
    assert.equal(err.statusCode, 0);
    assert.equal(err.code, 'NETWORK_ERROR');
    assert.match(err.message, new RegExp(`cannot reach http://127.0.0.1:${port}/api/v1: .*ECONNREFUSED`));
    assert.ok(err.cause, 'the original failure is kept as the cause');
  });

  it('sends requests through the fetch it is given, with the bearer token, under /api/v1 exactly once', async () => {
    const seen: { url: string; method: string; auth: string | undefined; body: unknown }[] = [];
    const recording = async (url: string, init: RequestInit): Promise<Response> => {
      const headers = init.headers as Record<string, string>;
      seen.push({ url, method: init.method ?? 'GET', auth: headers.authorization, body: init.body });
      return fetch(url, init);
    };
    for (const baseUrl of [d.url, `${d.url}/`, `${d.url}/api/v1`, `${d.url}/api/v1/`]) {
      const c = new HoodyClient({ baseUrl, token: d.adminToken, fetch: recording });
      assert.equal(c.apiBase, `${d.url}/api/v1`);
      assert.equal((await c.api.images.list()).statusCode, 200);
    }
    assert.deepEqual(new Set(seen.map((s) => s.url)), new Set([`${d.url}/api/v1/images`]));
    assert.ok(seen.every((s) => s.auth === `Bearer ${d.adminToken}`));

    seen.length = 0;
    const id = await containerIn('running');
    const c = new HoodyClient({ baseUrl: d.url, token: d.adminToken, fetch: recording });
    await c.api.containers.manage(id, 'pause');
    await c.api.containers.manage(id, 'resume', { reason: 'back to work' });
    await c.api.containers.get(id, { runtime: 'true' });
    await c.api.containers.statusLogs(id, { page: 1, limit: 5, sort_order: 'asc' });
    assert.deepEqual(
      seen.map((s) => [s.method, s.url.replace(d.url, ''), s.body ?? null]),
      [
        ['POST', `/api/v1/containers/${id}/pause`, null],
        ['POST', `/api/v1/containers/${id}/resume`, '{"reason":"back to work"}'],
        ['GET', `/api/v1/containers/${id}?runtime=true`, null],
        ['GET', `/api/v1/containers/${id}/status-logs?page=1&limit=5&sort_order=asc`, null],
      ],
    );

    assert.throws(() => new HoodyClient({ baseUrl: 'not a url' }), TypeError);
    assert.equal(apiBaseOf('https://hoody.example/base/'), 'https://hoody.example/base/api/v1');
  });

  it('manages users, tokens, servers and images', async () => {
    const user = await client.api.users.create({ name: 'sdk-bob' });
    assert.equal(user.statusCode, 201);
    assert.equal(user.data.is_admin, false);
    assert.ok((await client.api.users.list()).data.users.some((u) => u.id === user.data.id));

    const token = await client.api.tokens.create({ name: 'sdk-bob-cli', user_id: user.data.id, automation: true });
    assert.equal(token.statusCode, 201);
    assert.match(token.data.token, /\S{16,}/);
    assert.equal(token.data.automation, true);
    const listed = (await client.api.tokens.list()).data.tokens.find((t) => t.id === token.data.id);
    assert.ok(listed && !('token' in listed), 'listing never shows the secret');
    const bob = new HoodyClient({ baseUrl: d.url, token: token.data.token });
    assert.deepEqual((await bob.api.containers.list()).data.containers, [], 'bob sees none of the admin\'s containers');
    assert.equal((await apiError(bob.api.users.list())).code, 'FORBIDDEN');
    const revoked = await client.api.tokens.delete(token.data.id);
    assert.deepEqual(revoked.data, { token_id: token.data.id, deleted: true });
    assert.equal((await apiError(bob.api.containers.list())).code, 'UNAUTHORIZED');

    const servers = await client.api.servers.list();
    const server = servers.data.servers.find((s) => s.name === 'test-node');
    assert.equal(server?.status, 'ready');
    assert.equal((await client.api.servers.get(server.id)).data.name, 'test-node');
    assert.ok((await client.api.images.list()).data.images.some((i) => i.name === 'busybox'));
  });

  it('lists the same lifecycle operations as the API', () => {
    assert.deepEqual([...LIFECYCLE_OPERATIONS], [...API_OPERATIONS]);
  });

  it('is what the package exports as "hoody/sdk"', async () => {
    const viaPackage = await import('hoody/sdk');
    assert.equal(viaPackage.HoodyClient, HoodyClient);
    assert.equal(viaPackage.HoodyApiError, HoodyApiError);
  });

  it('imports nothing Node-only and no runtime code from outside src/sdk, so it runs in a browser', async () => {
    for (const file of (await readdir(SDK_DIR)).filter((f) => f.endsWith('.ts'))) {
      const source = await readFile(join(SDK_DIR, file), 'utf8');
      assert.doesNotMatch(source, /\bfrom ['"]node:|\brequire\(|\bprocess\.|\bBuffer\b|\b__dirname\b/, file);
      for (const m of source.matchAll(/^(import|export)\s+(type\s+)?[^;]*?from\s+['"]([^'"]+)['"]/gm)) {
        const [statement, , typeOnly, specifier] = m;
        assert.ok(typeOnly || specifier?.startsWith('./'), `${file}: value import from outside src/sdk: ${statement}`);
      }
    }
  });
});
