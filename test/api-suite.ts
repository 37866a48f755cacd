/**
 * End-to-end: the real daemon over HTTP, real runc containers, a real database. The same suite
 * runs on SQLite and on PostgreSQL.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { startTestDaemon, apiClient, untilProcess, type Backend, type DaemonHandle } from './daemon-harness.ts';
import { eventually, sleep } from './eventually.ts';
import { openSse } from './sse-reader.ts';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';


const MESSAGES: Record<string, string> = {
  start: 'Container started successfully',
  stop: 'Container stopped successfully',
  'force-stop': 'Container force-stopped successfully',
  restart: 'Container restarted successfully',
  pause: 'Container paused successfully',
  resume: 'Container resumed successfully',
};
const END_STATUS: Record<string, string> = { start: 'running', stop: 'stopped', 'force-stop': 'stopped', restart: 'running', pause: 'paused', resume: 'running' };
const ALLOWED: Record<string, string[]> = {
  running: ['stop', 'force-stop', 'restart', 'pause'],
  stopped: ['start', 'stop', 'force-stop', 'restart'],
  paused: ['resume', 'stop', 'force-stop'],
  failed: ['start'],
};
const OPS = ['start', 'stop', 'force-stop', 'restart', 'pause', 'resume'];

export function apiSuite(backend: Backend, skip?: string): void {
  describe(`HTTP API end to end (${backend})`, { skip }, () => {
    let d: DaemonHandle;
    let admin: ReturnType<typeof apiClient>;
    let n = 0;
    const uniqueName = (base: string): string => `${base}-${(n++).toString(36)}-${Date.now().toString(36).slice(-4)}`;

    before(async () => {
      d = await startTestDaemon(backend);
      admin = apiClient(d.api, d.adminToken);
    });
    after(async () => {
      await d?.cleanup();
    });

    /** Creates a container and brings it to the wanted status through the API (and a broken bundle for failed). */
    async function containerIn(status: string, command: string[] = ['sleep', '600']): Promise<string> {
      const created = await admin('POST', '/containers', { name: uniqueName(status), container_image: 'busybox', command, autostart: status === 'running' || status === 'paused' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.data.id as string;
      if (status === 'paused') assert.equal((await admin('POST', `/containers/${id}/pause`)).status, 200);
      if (status === 'failed') {
        await breakBundle(id);
        const r = await admin('POST', `/containers/${id}/start`);
        assert.equal(r.status, 500, JSON.stringify(r.body));
        assert.equal(r.body.code, 'RUNTIME_ERROR');
        await repairBundle(id);
      }
      const got = await admin('GET', `/containers/${id}`);
      assert.equal(got.body.data.status, status);
      return id;
    }

    /** Where the container's root filesystem is mounted: config.json's root path. */
    async function rootfsOf(id: string): Promise<string> {
      return JSON.parse(await readFile(join(d.dataDir, 'runtime', 'containers', id, 'config.json'), 'utf8')).root.path as string;
    }
    /** Replaces the container's rootfs mount point with a file, so the runtime cannot start it. */
    async function breakBundle(id: string): Promise<void> {
      const rootfs = await rootfsOf(id);
      execFileSync('sh', ['-c', `umount ${rootfs} 2>/dev/null; rm -rf ${rootfs}; : > ${rootfs}`]);
    }
    async function repairBundle(id: string): Promise<void> {
      await rm(await rootfsOf(id), { force: true });
    }


    const runtimeInfo = async (id: string) => (await admin('GET', `/containers/${id}?runtime=true`)).body.data.runtime_info;
    const logsOf = async (id: string, query = 'limit=100&sort_order=asc') => (await admin('GET', `/containers/${id}/status-logs?${query}`)).body.data;
    const environOf = async (id: string): Promise<string[]> => {
      const pid = (await runtimeInfo(id)).pid as number;
      return (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
    };

    describe('the transition table', () => {
      for (const status of Object.keys(ALLOWED)) {
        for (const op of OPS) {
          const allowed = ALLOWED[status]?.includes(op) ?? false;
          it(`${op} on a ${status} container ${allowed ? `answers 200 and leaves it ${END_STATUS[op]}` : 'answers 400 naming the status and the allowed operations'}`, async () => {
            const id = await containerIn(status);
            const before = (await logsOf(id)).pagination.total;
            const r = await admin('POST', `/containers/${id}/${op}`, { timeout: 2 });
            if (allowed) {
              assert.equal(r.status, 200, JSON.stringify(r.body));
              assert.deepEqual(r.body, { statusCode: 200, message: MESSAGES[op], data: { operation: op, container_id: id, status: END_STATUS[op] } });
              assert.equal((await admin('GET', `/containers/${id}`)).body.data.status, END_STATUS[op]);
              const info = await runtimeInfo(id);
              // the state asked for holds already: nothing to do, nothing to log (SPEC §5)
              if (status === END_STATUS[op] && status === 'stopped') assert.equal((await logsOf(id)).pagination.total, before, 'no log row written');
              if (END_STATUS[op] === 'stopped') assert.deepEqual(info.processes, [], 'no process runs');
              // a start answers once init is released: its command shows a moment later (on a loaded machine, later still)
              else await eventually('processes run', async () => (await runtimeInfo(id)).processes.length, (n) => n > 0, 10_000);
            } else {
              assert.equal(r.status, 400, JSON.stringify(r.body));
              assert.equal(r.body.code, 'INVALID_TRANSITION');
              assert.equal(r.body.error, 'Bad Request');
              assert.match(r.body.message, new RegExp(`cannot ${op} container ".*": it is ${status}`));
              assert.equal(r.body.details.status, status);
              assert.deepEqual(r.body.details.allowed_operations.filter((o: string) => OPS.includes(o)), ALLOWED[status]);
              assert.equal((await admin('GET', `/containers/${id}`)).body.data.status, status, 'nothing changed');
              assert.equal((await logsOf(id)).pagination.total, before, 'no log row written');
            }
          });
        }
      }

      it('update and delete are refused while running or paused, with INVALID_STATE', async () => {
        for (const status of ['running', 'paused']) {
          const id = await containerIn(status);
          const patch = await admin('PATCH', `/containers/${id}`, { autostart: false });
          assert.equal(patch.status, 400);
          assert.equal(patch.body.code, 'INVALID_STATE');
          const del = await admin('DELETE', `/containers/${id}`);
          assert.equal(del.status, 400);
          assert.equal(del.body.code, 'INVALID_STATE');
          assert.equal((await admin('GET', `/containers/${id}`)).body.data.status, status);
        }
      });
    });

    describe('lifecycle against real processes', () => {
      it('pause freezes the container (its CPU time stops) and resume continues it', async () => {
        const id = await containerIn('running', ['sh', '-c', 'while :; do :; done']);
        await sleep(200);
        await admin('POST', `/containers/${id}/pause`);
        const a = (await runtimeInfo(id)).cpu_usage_ns;
        await sleep(300);
        const b = (await runtimeInfo(id)).cpu_usage_ns;
        assert.ok(b - a < 5e6, `no CPU while paused: ${b - a} ns`);
        await admin('POST', `/containers/${id}/resume`);
        await sleep(300);
        const c = (await runtimeInfo(id)).cpu_usage_ns;
        assert.ok(c - b > 50e6, `CPU advances after resume: ${c - b} ns`);
      });

      it('stop delivers SIGTERM: a trapping app exits 42, recorded on the container and in its log', async () => {
        const id = await containerIn('running', ['sh', '-c', 'trap "exit 42" TERM; while :; do sleep 0.05; done']);
        await untilProcess(d, id, 'sleep 0.05');
        const r = await admin('POST', `/containers/${id}/stop`, { reason: 'maintenance window' });
        assert.equal(r.status, 200);
        const c = (await admin('GET', `/containers/${id}`)).body.data;
        assert.equal(c.exit_code, 42);
        const last = (await logsOf(id, 'limit=1&sort_order=desc')).logs[0];
        assert.equal(last.from_status, 'running');
        assert.equal(last.to_status, 'stopped');
        assert.equal(last.metadata.operation, 'stop');
        assert.equal(last.metadata.exit_code, 42);
        assert.equal(last.metadata.reason, 'maintenance window');
        assert.equal(last.metadata.server_name, 'test-node');
      });

      it('stop escalates to KILL after the timeout for an app that ignores TERM', async () => {
        const id = await containerIn('running', ['sh', '-c', 'trap "" TERM; while :; do sleep 0.05; done']);
        await untilProcess(d, id, 'sleep 0.05');
        const t0 = Date.now();
        const r = await admin('POST', `/containers/${id}/stop`, { timeout: 1 });
        const took = Date.now() - t0;
        assert.equal(r.status, 200);
        assert.ok(took >= 1000, `waited the 1 s timeout first (${took} ms)`);
        assert.equal((await admin('GET', `/containers/${id}`)).body.data.exit_code, 137);
        assert.deepEqual((await runtimeInfo(id)).processes, []);
      });

      it('stops a paused container, gracefully', async () => {
        const id = await containerIn('running', ['sh', '-c', 'trap "exit 5" TERM; while :; do sleep 0.05; done']);
        await untilProcess(d, id, 'sleep 0.05');
        await admin('POST', `/containers/${id}/pause`);
        const r = await admin('POST', `/containers/${id}/stop`);
        assert.equal(r.body.data.status, 'stopped');
        assert.equal((await admin('GET', `/containers/${id}`)).body.data.exit_code, 5, 'the app handled TERM after the thaw');
      });

      it('force-stop kills an app that ignores TERM in under a second', async () => {
        const id = await containerIn('running', ['sh', '-c', 'trap "" TERM; while :; do sleep 0.05; done']);
        const t0 = Date.now();
        const r = await admin('POST', `/containers/${id}/force-stop`);
        const took = Date.now() - t0;
        assert.equal(r.status, 200);
        assert.ok(took < 1000, `force-stop took ${took} ms`);
        assert.equal((await admin('GET', `/containers/${id}`)).body.data.exit_code, 137);
      });

      it('force-stop cuts short a graceful stop that is waiting out its timeout', async () => {
        const id = await containerIn('running', ['sh', '-c', 'trap "" TERM; while :; do sleep 0.05; done']);
        await untilProcess(d, id, 'sleep 0.05');
        const t0 = Date.now();
        const stopping = admin('POST', `/containers/${id}/stop`, { timeout: 30 });
        await sleep(300);
        const forced = await admin('POST', `/containers/${id}/force-stop`);
        const stopped = await stopping;
        assert.ok(Date.now() - t0 < 3000, `both answered in ${Date.now() - t0} ms, not after the 30 s timeout`);
        assert.equal(forced.status, 200, JSON.stringify(forced.body));
        assert.deepEqual(forced.body.data, { operation: 'force-stop', container_id: id, status: 'stopped' });
        assert.equal(stopped.status, 200);
        assert.equal((await admin('GET', `/containers/${id}`)).body.data.exit_code, 137);
        const last = (await logsOf(id, 'limit=1')).logs[0];
        assert.equal(last.metadata.operation, 'stop');
        assert.match(last.metadata.forced_by, /^user_/);
      });

      it('restart writes two log rows and runs a new process', async () => {
        const id = await containerIn('running');
        const pid1 = (await runtimeInfo(id)).pid;
        const r = await admin('POST', `/containers/${id}/restart`);
        assert.equal(r.body.data.status, 'running');
        const pid2 = (await runtimeInfo(id)).pid;
        assert.notEqual(pid1, pid2);
        const rows = (await logsOf(id, 'limit=2&sort_order=desc')).logs.reverse();
        assert.deepEqual(rows.map((l: any) => [l.from_status, l.to_status, l.metadata.operation]), [
          ['running', 'stopped', 'restart'],
          ['stopped', 'running', 'restart'],
        ]);
      });

      it('PATCH is refused while running and accepted while stopped; the new environment reaches the process', async () => {
        const id = await containerIn('running');
        assert.equal((await admin('PATCH', `/containers/${id}`, { environment_vars: { CONFIG_VERSION: '2.0' } })).status, 400);
        await admin('POST', `/containers/${id}/stop`);
        const patched = await admin('PATCH', `/containers/${id}`, { environment_vars: { CONFIG_VERSION: '2.0' } });
        assert.equal(patched.status, 200);
        assert.deepEqual(patched.body.data.environment_vars, { CONFIG_VERSION: '2.0' });
        assert.equal(patched.body.data.current_operation, null, 'the update released its claim');
        assert.equal((await admin('POST', `/containers/${id}/start`)).status, 200);
        // start answers once init is released; its exec of the container's init (and environment) follows
        await eventually('the new environment in the process', () => environOf(id), (env) => env.includes('CONFIG_VERSION=2.0'), 3000);
      });

      it('a container whose process ends by itself is stopped with its exit code within a second, by "system"', async () => {
        const id = await containerIn('running', ['sh', '-c', 'sleep 0.3; exit 3']);
        const t0 = Date.now();
        const c = await eventually('the exit to be recorded', async () => (await admin('GET', `/containers/${id}`)).body.data, (x) => x.status === 'stopped', 3000);
        assert.ok(Date.now() - t0 < 1500, 'recorded within a second of the exit');
        assert.equal(c.exit_code, 3);
        const last = (await logsOf(id, 'limit=1')).logs[0];
        assert.equal(last.triggered_by, 'system');
        assert.equal(last.metadata.operation, 'exit');
        assert.equal(last.metadata.exit_code, 3);
      });

      it('reports runtime info: pid, processes, memory, CPU and listening ports', async () => {
        const id = await containerIn('running', ['sh', '-c', 'nc -l -p 8080 & exec sleep 600']);
        // nc may listen before the shell has exec'd sleep: wait for all three (a listing has once
        // been seen without nc while its port was open: the list is read after the ports)
        const info = await eventually(
          'port 8080, the nc and the sleep processes',
          () => runtimeInfo(id),
          (i) => i.listening_ports.includes(8080) && i.processes.some((p: any) => p.command === 'sleep 600') && i.processes.some((p: any) => p.command.startsWith('nc -l')),
        );
        assert.ok(info.pid > 1);
        assert.ok(info.memory_bytes > 0);
        assert.ok('terminals' in info && 'displays' in info && 'services' in info);
        // without a bridge: loopback only, no address and nothing published
        assert.deepEqual([info.addresses, info.ports], [[], []]);
        const c = (await admin('GET', `/containers/${id}`)).body.data;
        assert.deepEqual([c.network, c.ip_address, c.ports], ['none', null, []]);
      });

      it('two concurrent operations on one container: one succeeds, the other gets 409 OPERATION_IN_PROGRESS', async () => {
        const id = await containerIn('running', ['sh', '-c', 'trap "" TERM; while :; do sleep 0.05; done']);
        await untilProcess(d, id, 'sleep 0.05');
        const [a, b] = await Promise.all([admin('POST', `/containers/${id}/stop`, { timeout: 1 }), (async () => (await sleep(100), admin('POST', `/containers/${id}/pause`)))()]);
        assert.equal(a.status, 200);
        assert.equal(b.status, 409);
        assert.equal(b.body.code, 'OPERATION_IN_PROGRESS');
        assert.equal(b.body.details.current_operation.operation, 'stop');
        const logs = await logsOf(id);
        assert.equal(logs.logs.filter((l: any) => l.metadata.operation === 'pause').length, 0);
      });

      it('deletes a stopped container with its runtime state and keeps its status logs readable', async () => {
        const id = await containerIn('stopped');
        const del = await admin('DELETE', `/containers/${id}`);
        assert.equal(del.status, 200);
        assert.equal((await admin('GET', `/containers/${id}`)).status, 404);
        const logs = await logsOf(id);
        assert.ok(logs.logs.length >= 2);
        assert.equal(logs.logs.at(-1).metadata.operation, 'delete');
        await assert.rejects(readFile(join(d.dataDir, 'runtime', 'containers', id, 'config.json')));
      });
    });

    describe('status logs', () => {
      it('are complete, ordered and paginated', async () => {
        const id = await containerIn('running');
        for (const op of ['pause', 'resume', 'stop', 'start', 'restart', 'force-stop']) assert.equal((await admin('POST', `/containers/${id}/${op}`)).status, 200);
        const all = await logsOf(id, 'limit=100&sort_order=asc');
        // create, start, pause, resume, stop, start, restart (2 rows), force-stop
        assert.deepEqual(all.logs.map((l: any) => `${l.from_status}>${l.to_status}:${l.metadata.operation}`), [
          'creating>stopped:create',
          'stopped>running:start',
          'running>paused:pause',
          'paused>running:resume',
          'running>stopped:stop',
          'stopped>running:start',
          'running>stopped:restart',
          'stopped>running:restart',
          'running>stopped:force-stop',
        ]);
        for (const l of all.logs) {
          assert.match(l.id, /^[0-9a-f]{24}$/);
          assert.equal(l.container_id, id);
          assert.match(l.transition_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
          assert.ok(Number.isInteger(l.duration_ms) && l.duration_ms >= 0);
          assert.match(l.triggered_by, /^user_[0-9a-f]+$/);
        }
        const times = all.logs.map((l: any) => l.transition_time);
        assert.deepEqual(times, [...times].sort());
        const page2 = await logsOf(id, 'page=2&limit=4&sort_order=desc');
        assert.deepEqual(page2.pagination, { total: 9, page: 2, limit: 4, totalPages: 3 });
        assert.deepEqual(page2.logs.map((l: any) => l.id), all.logs.slice().reverse().slice(4, 8).map((l: any) => l.id));
        const dflt = await logsOf(id, '');
        assert.equal(dflt.pagination.limit, 10);
        assert.equal(dflt.logs[0].id, all.logs.at(-1).id, 'newest first by default');
        for (const bad of ['limit=0', 'limit=101', 'page=0', 'sort_order=up', 'limit=abc']) {
          const r = await admin('GET', `/containers/${id}/status-logs?${bad}`);
          assert.equal(r.status, 400, bad);
          assert.equal(r.body.code, 'INVALID_INPUT');
        }
      });
    });

    describe('scale', () => {
      it('100 containers started in parallel all end running, with exactly one start row each', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 100; i++) {
          const r = await admin('POST', '/containers', { name: uniqueName('bulk'), container_image: 'busybox', autostart: false });
          assert.equal(r.status, 201);
          ids.push(r.body.data.id);
        }
        const results = await Promise.all(ids.map((id) => admin('POST', `/containers/${id}/start`)));
        assert.deepEqual(results.map((r) => r.status), ids.map(() => 200));
        // more than one default page of containers by now: ask for the largest page
        const list = (await admin('GET', '/containers?limit=1000')).body.data.containers.filter((c: any) => ids.includes(c.id));
        assert.equal(list.length, 100);
        assert.ok(list.every((c: any) => c.status === 'running' && c.current_operation === null));
        for (const id of ids) {
          const logs = await logsOf(id);
          assert.equal(logs.logs.filter((l: any) => l.metadata.operation === 'start').length, 1);
          assert.equal(logs.pagination.total, 2);
        }
        await Promise.all(ids.map((id) => admin('POST', `/containers/${id}/force-stop`)));
        for (const id of ids) assert.equal((await admin('DELETE', `/containers/${id}`)).status, 200);
      });
    });

    describe('auth and tenancy', () => {
      it('answers 401 without a token or with a wrong one', async () => {
        for (const token of [undefined, 'hoody_wrong']) {
          const r = await apiClient(d.api, token)('GET', '/containers');
          assert.equal(r.status, 401);
          assert.equal(r.body.code, 'UNAUTHORIZED');
        }
      });

      it("another user's container is 404; their list does not show it", async () => {
        const id = await containerIn('running');
        const user = await admin('POST', '/users', { name: 'bob' });
        assert.equal(user.status, 201);
        const tok = await admin('POST', '/tokens', { name: 'bob-cli', user_id: user.body.data.id });
        assert.equal(tok.status, 201);
        const bob = apiClient(d.api, tok.body.data.token);
        for (const [method, path] of [
          ['GET', `/containers/${id}`],
          ['POST', `/containers/${id}/stop`],
          ['GET', `/containers/${id}/status-logs`],
          ['PATCH', `/containers/${id}`],
          ['DELETE', `/containers/${id}`],
        ] as const) {
          const r = await bob(method, path, method === 'PATCH' ? { autostart: false } : undefined);
          assert.equal(r.status, 404, `${method} ${path}`);
          assert.equal(r.body.code, 'NOT_FOUND');
        }
        assert.equal((await bob('GET', '/containers')).body.data.containers.length, 0);
        assert.equal((await bob('GET', '/users')).status, 403, 'users are for admins');
        const mine = await bob('POST', '/containers', { name: 'bobs', container_image: 'busybox', autostart: false });
        assert.equal(mine.status, 201);
        assert.deepEqual((await bob('GET', '/containers')).body.data.containers.map((c: any) => c.id), [mine.body.data.id]);
        assert.equal((await admin('GET', `/containers/${id}`)).body.data.status, 'running', 'untouched');
      });

      it('a read-only token reads but gets 403 on every mutation', async () => {
        const id = await containerIn('running');
        const tok = await admin('POST', '/tokens', { name: 'dashboard', read_only: true });
        const ro = apiClient(d.api, tok.body.data.token);
        assert.equal((await ro('GET', `/containers/${id}`)).status, 200);
        for (const [method, path] of [
          ['POST', `/containers/${id}/stop`],
          ['PATCH', `/containers/${id}`],
          ['POST', '/containers'],
          ['POST', '/tokens'],
        ] as const) {
          const r = await ro(method, path, {});
          assert.equal(r.status, 403, `${method} ${path}`);
          assert.equal(r.body.code, 'FORBIDDEN');
        }
        assert.equal((await admin('GET', `/containers/${id}`)).body.data.status, 'running');
      });

      it('an automation token named deployer is recorded in metadata.token; triggered_by stays its user\'s id', async () => {
        const user = (await admin('POST', '/users', { name: uniqueName('ops') })).body.data;
        const tok = await admin('POST', '/tokens', { name: 'deployer', user_id: user.id, automation: true });
        assert.equal(tok.status, 201, JSON.stringify(tok.body));
        const bot = apiClient(d.api, tok.body.data.token);
        const events = await openSse(`${d.api}/events?types=operation`, tok.body.data.token);
        try {
          const created = await bot('POST', '/containers', { name: uniqueName('deployed'), container_image: 'busybox', command: ['sleep', '600'] });
          assert.equal(created.status, 201, JSON.stringify(created.body));
          const id = created.body.data.id as string;
          const stopped = await bot('POST', `/containers/${id}/stop?wait=false`);
          assert.equal(stopped.status, 202, JSON.stringify(stopped.body));
          assert.equal(stopped.body.data.operation.triggered_by, user.id);
          assert.equal(stopped.body.data.operation.token, 'deployer');
          await events.until((es) => es.some((e) => e.data.operation === 'stop' && e.data.phase === 'succeeded'), 15_000);
          const rows = (await bot('GET', `/containers/${id}/status-logs?limit=100&sort_order=asc`)).body.data.logs;
          assert.deepEqual(
            rows.map((l: any) => [l.metadata.operation, l.triggered_by, l.metadata.token]),
            [
              ['create', user.id, 'deployer'],
              ['start', user.id, 'deployer'],
              ['stop', user.id, 'deployer'],
            ],
          );
          const ops = events.events.filter((e) => e.event === 'operation').map((e) => e.data);
          assert.ok(ops.length >= 4, JSON.stringify(ops)); // start and stop: accepted, succeeded
          for (const op of ops) assert.deepEqual([op.triggered_by, op.token], [user.id, 'deployer'], JSON.stringify(op));
        } finally {
          events.close();
        }
      });

      it('a user or token named like a system actor is refused: 400 RESERVED_NAME', async () => {
        const user = (await admin('POST', '/users', { name: uniqueName('tenant') })).body.data;
        const own = apiClient(d.api, (await admin('POST', '/tokens', { name: 'own', user_id: user.id })).body.data.token);
        for (const name of ['system', 'Autostart', 'restart-policy', 'RESTART_POLICY', 'admin', `user_${'0'.repeat(16)}`]) {
          for (const [who, call] of [['admin', admin], ['a tenant', own]] as const) {
            const t = await call('POST', '/tokens', { name, automation: true });
            assert.equal(t.status, 400, `${who}: token "${name}": ${JSON.stringify(t.body)}`);
            assert.equal(t.body.code, 'RESERVED_NAME');
            assert.match(t.body.message, /^token name ".*" is reserved/);
          }
          const u = await admin('POST', '/users', { name });
          assert.equal(u.status, 400, `user "${name}": ${JSON.stringify(u.body)}`);
          assert.equal(u.body.code, 'RESERVED_NAME');
        }
        const tokens = (await admin('GET', '/tokens')).body.data.tokens as { name: string; user_id: string }[];
        assert.deepEqual(tokens.filter((t) => t.user_id === user.id).map((t) => t.name), ['own'], 'nothing was created');
      });

      it('POST /tokens answers the secret with Cache-Control: no-store', async () => {
        const res = await fetch(`${d.api}/tokens`, { method: 'POST', headers: { authorization: `Bearer ${d.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: uniqueName('cached') }) });
        assert.equal(res.status, 201);
        assert.equal(res.headers.get('cache-control'), 'no-store');
      });

      it('a revoked token stops working at once', async () => {
        const tok = await admin('POST', '/tokens', { name: 'temp' });
        const temp = apiClient(d.api, tok.body.data.token);
        assert.equal((await temp('GET', '/containers')).status, 200);
        assert.equal((await admin('DELETE', `/tokens/${tok.body.data.id}`)).status, 200);
        assert.equal((await temp('GET', '/containers')).status, 401);
      });

      it('a token deleted through another daemon of the same database stops working within about half a second', async () => {
        const tok = await admin('POST', '/tokens', { name: uniqueName('shared') });
        const temp = apiClient(d.api, tok.body.data.token);
        assert.equal((await temp('GET', '/containers')).status, 200, 'it works, and is remembered');
        // what another daemon's DELETE /tokens/{id} does to the shared database
        await deleteTokenBehindTheDaemon(d, tok.body.data.id);
        const deletedAt = performance.now();
        const refused = await eventually('the deleted token to be refused', () => temp('GET', '/containers'), (r) => r.status === 401, 5000);
        const ms = performance.now() - deletedAt;
        assert.equal(refused.body.code, 'UNAUTHORIZED');
        assert.ok(ms < 1000, `refused ${ms.toFixed(0)} ms after the delete`);
        assert.equal((await admin('GET', '/containers')).status, 200, 'other tokens go on');
      });
    });

    describe('bad input changes nothing', () => {
      it('answers every malformed request in the envelope with a stable code', async () => {
        const id = await containerIn('stopped');
        const cases: [string, string, unknown, number, string][] = [
          ['POST', '/containers', { name: 'x', container_image: 'busybox', surprise: 1 }, 400, 'INVALID_INPUT'],
          ['POST', '/containers', { name: 'Bad Name!', container_image: 'busybox' }, 400, 'INVALID_INPUT'],
          ['POST', '/containers', { name: 'ok-name', container_image: 'no-such-image:' }, 400, 'INVALID_INPUT'],
          ['POST', '/containers', { name: 'ok-name', container_image: 'no such image' }, 400, 'INVALID_INPUT'],
          ['POST', '/containers', { name: 'ok-name', container_image: 'no-such-image', pull: 'never' }, 404, 'IMAGE_NOT_FOUND'],
          ['POST', '/containers', { name: 'ok-name', container_image: 'busybox', pull: 'sometimes' }, 400, 'INVALID_INPUT'],
          ['POST', '/containers', '{"name": "x", ', 400, 'INVALID_JSON'],
          ['POST', '/containers', { name: 'ok', container_image: 'busybox', resources: { memory_mb: -1 } }, 400, 'INVALID_INPUT'],
          ['PATCH', `/containers/${id}`, { environment_vars: { 'BAD-KEY': 'x' } }, 400, 'INVALID_INPUT'],
          ['PATCH', `/containers/${id}`, { environment_vars: 'nope' }, 400, 'INVALID_INPUT'],
          ['PATCH', `/containers/${id}`, {}, 400, 'INVALID_INPUT'],
          ['POST', '/containers', { name: 'ok', container_image: 'busybox', network: 'host' }, 400, 'INVALID_INPUT'],
          ['POST', '/containers', { name: 'ok', container_image: 'busybox', network: 'bridge', ports: [{ container_port: 0 }] }, 400, 'INVALID_INPUT'],
          ['POST', '/containers', { name: 'ok', container_image: 'busybox', network: 'bridge', ports: [{ container_port: 80, host_ip: 'localhost' }] }, 400, 'INVALID_INPUT'],
          ['POST', '/containers', { name: 'ok', container_image: 'busybox', network: 'bridge', ports: [{ container_port: 80, protocol: 'sctp' }] }, 400, 'INVALID_INPUT'],
          // this daemon has no bridge (HOODY_NETWORK=none)
          ['POST', '/containers', { name: 'ok', container_image: 'busybox', network: 'bridge' }, 400, 'NETWORK_DISABLED'],
          ['POST', '/containers', { name: 'ok', container_image: 'busybox', ports: [{ container_port: 80 }] }, 400, 'NETWORK_DISABLED'],
          ['PATCH', `/containers/${id}`, { network: 'bridge' }, 400, 'NETWORK_DISABLED'],
          ['PATCH', `/containers/${id}`, { ports: [{ container_port: 80, surprise: 1 }] }, 400, 'INVALID_INPUT'],
          ['POST', `/containers/${id}/start`, { timeout: 'soon' }, 400, 'INVALID_INPUT'],
          ['POST', `/containers/${id}/explode`, undefined, 404, 'NOT_FOUND'],
          ['GET', '/containers/not-an-id', undefined, 400, 'INVALID_INPUT'],
          ['GET', '/containers/..%2F..%2Fetc%2Fpasswd', undefined, 400, 'INVALID_INPUT'],
          ['GET', '/containers/ffffffffffffffffffffffff', undefined, 404, 'NOT_FOUND'],
          ['POST', '/containers/ffffffffffffffffffffffff/start', undefined, 404, 'NOT_FOUND'],
        ];
        for (const [method, path, body, status, code] of cases) {
          const r = await admin(method, path, body);
          assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
          assert.equal(r.body.code, code, `${method} ${path}`);
          assert.equal(r.body.statusCode, status);
          assert.equal(typeof r.body.message, 'string');
        }
        const text = await admin('POST', '/containers', 'name=x', { 'content-type': 'text/plain' });
        assert.equal(text.status, 415);
        assert.equal(text.body.code, 'UNSUPPORTED_MEDIA_TYPE');
        const big = await admin('POST', '/containers', { name: 'big', container_image: 'busybox', environment_vars: { X: 'x'.repeat(2 * 1024 * 1024) } });
        assert.equal(big.status, 413);
        assert.equal(big.body.code, 'PAYLOAD_TOO_LARGE');
        assert.equal((await admin('GET', `/containers/${id}`)).body.data.status, 'stopped');
        assert.equal((await logsOf(id)).pagination.total, 1, 'only the create row');
        const dup = await admin('POST', '/containers', { name: (await admin('GET', `/containers/${id}`)).body.data.name, container_image: 'busybox', autostart: false });
        assert.equal(dup.status, 409);
        assert.equal(dup.body.code, 'NAME_TAKEN');
      });
    });

    describe('a create whose start fails', () => {
      /** An image the runtime cannot start: its /proc is a file, so runc cannot mount proc there. */
      async function brokenImage(): Promise<string> {
        const images = join(d.dataDir, 'images');
        const name = uniqueName('broken');
        execFileSync('sh', ['-c', `cp -a ${images}/busybox ${images}/${name} && rm -rf ${images}/${name}/rootfs/proc && : > ${images}/${name}/rootfs/proc`]);
        return name;
      }

      it('answers RUNTIME_ERROR naming the container it made (failed, the error in its log); a retry is told its id, and can delete it and create again', async () => {
        await containerIn('stopped'); // builds the busybox image the broken one is copied from
        const image = await brokenImage();
        const name = uniqueName('doomed');
        const r = await admin('POST', '/containers', { name, container_image: image, command: ['sleep', '600'] });
        assert.equal(r.status, 500, JSON.stringify(r.body));
        assert.equal(r.body.code, 'RUNTIME_ERROR');
        const id = r.body.details.container_id;
        assert.match(id, /^[0-9a-f]{24}$/, JSON.stringify(r.body));
        assert.equal(r.body.details.status, 'failed');
        const got = (await admin('GET', `/containers/${id}`)).body.data;
        assert.equal(got.name, name);
        assert.equal(got.status, 'failed');
        const last = (await logsOf(id, 'limit=1')).logs[0];
        assert.equal(last.to_status, 'failed');
        assert.equal(typeof last.metadata.error, 'string');

        const retry = await admin('POST', '/containers', { name, container_image: image, command: ['sleep', '600'] });
        assert.equal(retry.status, 409);
        assert.equal(retry.body.code, 'NAME_TAKEN');
        assert.deepEqual(retry.body.details, { container_id: id, status: 'failed' });

        // the way out: the id in hand, remove what failed and create it again, right this time
        assert.equal((await admin('DELETE', `/containers/${id}`)).status, 200);
        const again = await admin('POST', '/containers', { name, container_image: 'busybox', command: ['sleep', '600'] });
        assert.equal(again.status, 201, JSON.stringify(again.body));
        assert.equal(again.body.data.status, 'running');
        assert.equal((await admin('POST', `/containers/${again.body.data.id}/force-stop`)).status, 200);
      });

      it('with an Idempotency-Key, the retry replays the answer with the container id and makes nothing more', async () => {
        const image = await brokenImage();
        const body = { name: uniqueName('doomed'), container_image: image };
        const key = { 'idempotency-key': uniqueName('key') };
        const first = await admin('POST', '/containers', body, key);
        assert.equal(first.status, 500);
        const again = await admin('POST', '/containers', body, key);
        assert.equal(again.status, 500);
        assert.equal(again.body.details.container_id, first.body.details.container_id);
        const named = (await admin('GET', `/containers?name=${body.name}`)).body.data.containers;
        assert.deepEqual(named.map((c: any) => c.id), [first.body.details.container_id]);
      });
    });

    describe('the daemon restarting', () => {
      it('leaves containers running, adopts them, and records exits that happened while it was down', async () => {
        const keep = await containerIn('running');
        const dies = await containerIn('running', ['sh', '-c', 'trap "exit 9" TERM; while :; do sleep 0.05; done']);
        await untilProcess(d, dies, 'sleep 0.05');
        const pid = (await runtimeInfo(keep)).pid;
        const diesPid = (await runtimeInfo(dies)).pid;
        await d.stop('SIGKILL');
        process.kill(diesPid, 'SIGTERM');
        await sleep(300);
        await d.restart();
        const again = await runtimeInfo(keep);
        assert.equal(again.pid, pid, 'the same process, untouched');
        assert.equal((await admin('GET', `/containers/${keep}`)).body.data.status, 'running');
        const died = (await admin('GET', `/containers/${dies}`)).body.data;
        assert.equal(died.status, 'stopped');
        assert.equal(died.exit_code, 9);
        const last = (await logsOf(dies, 'limit=1')).logs[0];
        assert.equal(last.triggered_by, 'system');
        assert.equal((await admin('POST', `/containers/${keep}/stop`)).status, 200);
      });
    });

    it('writes the servers and images it serves', async () => {
      const servers = (await admin('GET', '/servers')).body.data.servers;
      assert.ok(servers.some((s: any) => s.name === 'test-node' && s.status === 'ready'));
      const one = await admin('GET', `/servers/${servers[0].id}`);
      assert.equal(one.status, 200);
      const images = (await admin('GET', '/images')).body.data.images;
      assert.ok(images.some((i: any) => i.name === 'busybox'));
      const projects = await admin('POST', '/projects', { name: 'staging' });
      assert.equal(projects.status, 201);
      const inProject = await admin('POST', '/containers', { name: 'staging-api', project_id: projects.body.data.id, container_image: 'busybox', autostart: false });
      assert.equal(inProject.status, 201);
      const listed = await admin('GET', `/projects/${projects.body.data.id}/containers`);
      assert.deepEqual(listed.body.data.containers.map((c: any) => c.name), ['staging-api']);
    });
  });
}

/** Deletes a token row in the daemon's database without telling the daemon, as another daemon of the same database would. */
async function deleteTokenBehindTheDaemon(d: DaemonHandle, tokenId: string): Promise<void> {
  if (!d.databaseUrl) {
    const db = new BetterSqlite3(join(d.dataDir, 'hoody.db'));
    try {
      db.prepare('delete from tokens where id = ?').run(tokenId);
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: d.databaseUrl });
  await client.connect();
  try {
    await client.query('delete from tokens where id = $1', [tokenId]);
  } finally {
    await client.end();
  }
}
