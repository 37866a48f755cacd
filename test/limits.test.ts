/**
 * What one tenant may take, against the real daemon with real containers, on SQLite and on
 * PostgreSQL: resource maxima and the container cap, the request timeout against a body trickled
 * in slowly (while waits and event streams stay open), paginated lists, a process listing that
 * stays bounded, and a restart policy whose back-off and retry count survive a daemon restart.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startTestDaemon, apiClient, postgresUrl, type Backend, type DaemonHandle } from './daemon-harness.ts';
import { eventually, sleep } from './eventually.ts';

const REQUEST_TIMEOUT_MS = 1000;

for (const backend of ['sqlite', 'postgres'] as Backend[]) {
  describe(`limits (${backend})`, { skip: backend === 'postgres' && !postgresUrl ? 'HOODY_TEST_POSTGRES_URL is not set' : undefined }, () => {
    let d: DaemonHandle;
    let admin: ReturnType<typeof apiClient>;
    let n = 0;
    const uniqueName = (base: string): string => `${base}-${(n++).toString(36)}`;

    before(async () => {
      d = await startTestDaemon(backend, {
        HOODY_MAX_CPU: '1.5',
        HOODY_MAX_MEMORY_MB: '256',
        HOODY_MAX_PIDS: '2000',
        HOODY_MAX_CONTAINERS_PER_USER: '3',
        HOODY_MAX_PROJECTS_PER_USER: '4',
        HOODY_MAX_TOKENS_PER_USER: '3',
        HOODY_MAX_SNAPSHOTS_PER_CONTAINER: '2',
        HOODY_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        HOODY_RESTART_BACKOFF_MS: '400',
        HOODY_RESTART_MAX_RETRIES: '3',
      });
      admin = apiClient(d.api, d.adminToken);
    });
    after(async () => {
      await d?.cleanup();
    });

    /** A user of their own with a token, so each test starts below the container cap. */
    async function newUser() {
      const user = await admin('POST', '/users', { name: uniqueName('u') });
      const tok = await admin('POST', '/tokens', { name: uniqueName('t'), user_id: user.body.data.id });
      return Object.assign(apiClient(d.api, tok.body.data.token), { token: tok.body.data.token as string });
    }

    it('refuses resources above the server maxima with QUOTA_EXCEEDED naming the maximum, and creates or changes nothing', async () => {
      const alice = await newUser();
      for (const [resources, resource, max] of [
        [{ cpu: 2 }, 'cpu', 1.5],
        [{ memory_mb: 257 }, 'memory_mb', 256],
        [{ pids: 2001 }, 'pids', 2000],
      ] as const) {
        const r = await alice('POST', '/containers', { name: uniqueName('big'), container_image: 'busybox', resources });
        assert.equal(r.status, 403, JSON.stringify(r.body));
        assert.equal(r.body.code, 'QUOTA_EXCEEDED');
        assert.equal(r.body.details.resource, resource);
        assert.equal(r.body.details.max, max);
        assert.match(r.body.message, new RegExp(`maximum of ${max}`));
      }
      assert.equal((await alice('GET', '/containers')).body.data.pagination.total, 0, 'nothing was created');
      const ok = await alice('POST', '/containers', { name: uniqueName('fits'), container_image: 'busybox', autostart: false, resources: { cpu: 1.5, memory_mb: 256, pids: 2000 } });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      const id = ok.body.data.id;
      const patch = await alice('PATCH', `/containers/${id}`, { resources: { memory_mb: 1024 } });
      assert.equal(patch.status, 403);
      assert.equal(patch.body.code, 'QUOTA_EXCEEDED');
      const after = (await alice('GET', `/containers/${id}`)).body.data;
      assert.deepEqual(after.resources, { cpu: 1.5, memory_mb: 256, pids: 2000 }, 'unchanged');
      assert.equal(after.updated_at, ok.body.data.updated_at);
    });

    it('caps the snapshots of one container, parallel asks included; a delete makes room; another container is not affected', async () => {
      const carol = await newUser();
      const a = (await carol('POST', '/containers', { name: uniqueName('snap'), container_image: 'busybox', autostart: false })).body.data.id as string;
      const b = (await carol('POST', '/containers', { name: uniqueName('snap'), container_image: 'busybox', autostart: false })).body.data.id as string;
      // one operation at a time per container: of parallel asks, some are OPERATION_IN_PROGRESS; keep asking until the cap answers
      const made: string[] = [];
      for (let round = 0; round < 20 && made.length < 2; round++) {
        const answers = await Promise.all([1, 2, 3].map(() => carol('POST', `/containers/${a}/snapshots`, {})));
        for (const r of answers) {
          if (r.status === 201) made.push(r.body.data.snapshot.id);
          else assert.ok(['OPERATION_IN_PROGRESS', 'QUOTA_EXCEEDED'].includes(r.body.code), JSON.stringify(r.body));
        }
      }
      assert.equal(made.length, 2, 'never more than the cap');
      const over = await carol('POST', `/containers/${a}/snapshots`, { alias: 'one-more' });
      assert.equal(over.status, 403, JSON.stringify(over.body));
      assert.equal(over.body.code, 'QUOTA_EXCEEDED');
      assert.deepEqual([over.body.details.resource, over.body.details.count, over.body.details.max], ['snapshots', 2, 2]);
      assert.equal((await carol('GET', `/containers/${a}/snapshots`)).body.data.snapshots.length, 2, 'nothing was made');
      assert.equal((await carol('POST', `/containers/${b}/snapshots`, {})).status, 201, 'another container has its own count');
      assert.equal((await carol('DELETE', `/containers/${a}/snapshots/${made[0]}`)).status, 200);
      assert.equal((await carol('POST', `/containers/${a}/snapshots`, { alias: 'one-more' })).status, 201, 'a delete makes room');
    });

    it('a container that does not say gets the defaults lowered to the server maxima', async () => {
      const bob = await newUser();
      const r = await bob('POST', '/containers', { name: uniqueName('small'), container_image: 'busybox', autostart: false });
      assert.equal(r.status, 201);
      assert.deepEqual(r.body.data.resources, { cpu: 1, memory_mb: 256, pids: 1024 });
    });

    it('caps the containers of one user, parallel creates included; a delete makes room; other users are not affected', async () => {
      const carol = await newUser();
      const creates = await Promise.all([0, 1, 2, 3, 4].map(() => carol('POST', '/containers', { name: uniqueName('c'), container_image: 'busybox', autostart: false })));
      assert.deepEqual(creates.map((r) => r.status).sort(), [201, 201, 201, 403, 403]);
      const refused = creates.find((r) => r.status === 403);
      assert.equal(refused?.body.code, 'QUOTA_EXCEEDED');
      assert.deepEqual(refused?.body.details, { resource: 'containers', count: 3, max: 3 });
      assert.equal((await carol('GET', '/containers')).body.data.pagination.total, 3);
      const dave = await newUser();
      assert.equal((await dave('POST', '/containers', { name: uniqueName('d'), container_image: 'busybox', autostart: false })).status, 201);
      const first = creates.find((r) => r.status === 201)?.body.data.id;
      assert.equal((await carol('DELETE', `/containers/${first}`)).status, 200);
      assert.equal((await carol('POST', '/containers', { name: uniqueName('c'), container_image: 'busybox', autostart: false })).status, 201);
    });

    it('caps the projects of one user, parallel creates included, and still makes the default project for a container', async () => {
      const kim = await newUser();
      const creates = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => kim('POST', '/projects', { name: `p${i}` })));
      assert.deepEqual(creates.map((r) => r.status).sort(), [201, 201, 201, 201, 403, 403]);
      const refused = creates.find((r) => r.status === 403);
      assert.equal(refused?.body.code, 'QUOTA_EXCEEDED');
      assert.deepEqual(refused?.body.details, { resource: 'projects', count: 4, max: 4 });
      assert.equal((await kim('GET', '/projects')).body.data.projects.length, 4, 'nothing more was created');
      // the default project is one per user: a container create is not refused for want of it
      const c = await kim('POST', '/containers', { name: uniqueName('c'), container_image: 'busybox', autostart: false });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      const other = await newUser();
      assert.equal((await other('POST', '/projects', { name: 'p' })).status, 201, 'another user is not affected');
    });

    it('caps the tokens of one user, whoever creates them, parallel creates included; a delete makes room', async () => {
      const user = (await admin('POST', '/users', { name: uniqueName('u') })).body.data.id;
      // the admin's own tokens: the bootstrap one and those made here are below the cap of 3
      const own = await admin('POST', '/tokens', { name: uniqueName('mine') });
      assert.equal(own.status, 201, JSON.stringify(own.body));
      const first = await admin('POST', '/tokens', { name: uniqueName('t'), user_id: user });
      assert.equal(first.status, 201);
      const lee = apiClient(d.api, first.body.data.token);
      const creates = await Promise.all([0, 1, 2, 3].map(() => lee('POST', '/tokens', { name: uniqueName('t') })));
      assert.deepEqual(creates.map((r) => r.status).sort(), [201, 201, 403, 403]);
      const refused = creates.find((r) => r.status === 403);
      assert.equal(refused?.body.code, 'QUOTA_EXCEEDED');
      assert.deepEqual(refused?.body.details, { resource: 'tokens', count: 3, max: 3 });
      const byAdmin = await admin('POST', '/tokens', { name: uniqueName('t'), user_id: user });
      assert.equal(byAdmin.status, 403, 'an admin creating for the user meets the same cap');
      const listed = (await lee('GET', '/tokens')).body.data.tokens as any[];
      assert.equal(listed.length, 3, 'nothing more was created');
      const spare = listed.find((t) => t.id !== first.body.data.id);
      assert.equal((await lee('DELETE', `/tokens/${spare.id}`)).status, 200);
      assert.equal((await lee('POST', '/tokens', { name: uniqueName('t') })).status, 201, 'a delete makes room');
      assert.equal((await admin('GET', '/projects')).status, 200, 'the bootstrap token still works');
    });

    it('a user deletes their own tokens only; another user\'s is not found, and an admin may delete any', async () => {
      const mia = await newUser();
      const ned = await newUser();
      const nedToken = ((await ned('GET', '/tokens')).body.data.tokens as any[])[0].id;
      const miaToken = ((await mia('GET', '/tokens')).body.data.tokens as any[])[0].id;
      const r = await mia('DELETE', `/tokens/${nedToken}`);
      assert.equal(r.status, 404);
      assert.equal(r.body.code, 'NOT_FOUND');
      assert.equal((await ned('GET', '/tokens')).status, 200, 'the token still works');
      assert.equal((await admin('DELETE', `/tokens/${miaToken}`)).status, 200);
      assert.equal((await mia('GET', '/tokens')).status, 401);
    });

    it(`a request whose body trickles in is answered 408 and closed within the request timeout (${REQUEST_TIMEOUT_MS} ms)`, async () => {
      const { port } = new URL(d.url);
      for (const [partial, dripped] of [
        // the body never completes
        [`POST /api/v1/containers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${d.adminToken}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name":`, ' '],
        // the headers never complete
        ['GET /api/v1/containers HTTP/1.1\r\nHost: x\r\n', 'x-pad: 1\r\n'],
      ]) {
        const t0 = Date.now();
        const answer = await new Promise<{ text: string; ms: number }>((resolve, reject) => {
          const socket = connect(Number(port), '127.0.0.1');
          let text = '';
          const drip = setInterval(() => socket.write(dripped as string), 100);
          const giveUp = setTimeout(() => {
            clearInterval(drip);
            socket.destroy();
            reject(new Error(`still open after 6 s; received ${JSON.stringify(text)}`));
          }, 6000);
          socket.on('data', (b) => (text += b.toString()));
          socket.on('error', () => undefined);
          socket.on('close', () => {
            clearInterval(drip);
            clearTimeout(giveUp);
            resolve({ text, ms: Date.now() - t0 });
          });
          socket.write(partial as string);
        });
        assert.ok(answer.text === '' || answer.text.startsWith('HTTP/1.1 408'), answer.text);
        assert.ok(answer.ms < REQUEST_TIMEOUT_MS + 1500, `closed after ${answer.ms} ms`);
      }
      assert.equal((await admin('GET', '/containers')).status, 200, 'the daemon still answers');
    });

    it('waits and event streams outlive the request timeout', async () => {
      const eve = await newUser();
      const id = (await eve('POST', '/containers', { name: uniqueName('w'), container_image: 'busybox', autostart: false, command: ['sleep', '600'] })).body.data.id;
      const t0 = Date.now();
      const waited = await eve('GET', `/containers/${id}/wait?status=running&timeout=2.5`);
      assert.equal(waited.status, 408, JSON.stringify(waited.body));
      assert.equal(waited.body.code, 'WAIT_TIMEOUT', 'answered by the wait, not cut by the request timeout');
      assert.ok(Date.now() - t0 >= 2400);

      const stream = await fetch(`${d.api}/events?container_id=${id}`, { headers: { authorization: `Bearer ${eve.token}` } });
      assert.equal(stream.status, 200);
      const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
      let text = '';
      const reading = (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          text += Buffer.from(value).toString();
          if (text.includes('"to_status":"running"')) return;
        }
      })();
      await sleep(REQUEST_TIMEOUT_MS * 2.5);
      assert.equal((await eve('POST', `/containers/${id}/start`)).status, 200);
      await Promise.race([reading, sleep(5000).then(() => assert.fail(`no transition on a stream opened ${REQUEST_TIMEOUT_MS * 2.5} ms before: ${text}`))]);
      await reader.cancel();
      assert.equal((await eve('POST', `/containers/${id}/force-stop`)).status, 200);
    });

    it('pages GET /containers and GET /projects/{id}/containers: a default page, page and limit, a maximum', async () => {
      const frank = await newUser();
      const project = (await frank('POST', '/projects', { name: 'p' })).body.data.id;
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await frank('POST', '/containers', { name: `p${i}`, project_id: project, container_image: 'busybox', autostart: false })).body.data.id);
      const all = (await frank('GET', '/containers')).body.data;
      assert.deepEqual(all.pagination, { total: 3, page: 1, limit: 100, totalPages: 1 });
      assert.deepEqual(all.containers.map((c: any) => c.id), ids);
      const second = (await frank('GET', '/containers?page=2&limit=2')).body.data;
      assert.deepEqual(second.containers.map((c: any) => c.id), [ids[2]]);
      assert.deepEqual(second.pagination, { total: 3, page: 2, limit: 2, totalPages: 2 });
      const beyond = (await frank('GET', '/containers?page=3&limit=2')).body.data;
      assert.deepEqual(beyond.containers, []);
      const ofProject = (await frank('GET', `/projects/${project}/containers?limit=1&page=3`)).body.data;
      assert.deepEqual(ofProject.containers.map((c: any) => c.id), [ids[2]]);
      assert.deepEqual(ofProject.pagination, { total: 3, page: 3, limit: 1, totalPages: 3 });
      const filtered = (await frank('GET', `/containers?name=p1`)).body.data;
      assert.deepEqual(filtered.pagination, { total: 1, page: 1, limit: 100, totalPages: 1 });
      for (const q of ['limit=1001', 'limit=0', 'page=0']) {
        const r = await frank('GET', `/containers?${q}`);
        assert.equal(r.status, 400, q);
        assert.equal(r.body.code, 'INVALID_INPUT');
      }
      assert.equal((await frank('GET', '/containers?limit=1000')).status, 200);
    });

    it('?runtime=true still lists processes, at most 500 of them, and counts them all', async () => {
      const gina = await newUser();
      const few = (await gina('POST', '/containers', { name: uniqueName('few'), container_image: 'busybox', command: ['sleep', '600'] })).body.data.id;
      // start answers once init is released; its child execs the command a moment later
      const info = await eventually(
        'the container to run "sleep 600"',
        async () => (await gina('GET', `/containers/${few}?runtime=true`)).body.data.runtime_info,
        (ri) => ri.processes.some((p: any) => p.command === 'sleep 600'),
      );
      assert.equal(info.processes_total, info.processes.length);
      const many = (await gina('POST', '/containers', { name: uniqueName('many'), container_image: 'busybox', command: ['sh', '-c', 'for i in $(seq 600); do sleep 600 & done; wait'] })).body.data.id;
      const crowded = await eventually(
        'the container to run its 600 sleeps',
        async () => (await gina('GET', `/containers/${many}?runtime=true`)).body.data.runtime_info,
        // while the shell still forks, a child between fork and exec has no command yet and is not listed
        (ri) => ri.processes_total >= 602 && ri.processes.length >= 500,
        15_000,
      );
      assert.equal(crowded.processes.length, 500);
      assert.equal(new Set(crowded.processes.map((p: any) => p.pid)).size, 500);
      for (const id of [few, many]) assert.equal((await gina('POST', `/containers/${id}/force-stop`)).status, 200);
    });

    it('?runtime=true stays small when processes carry megabytes of argv: each command is cut at 4 KiB and marked', async () => {
      const ivy = await newUser();
      // five shells, each with 100 arguments of 8 KiB (800 KiB of argv apiece) and a sleep as child
      const script = 'a=x; i=0; while [ $i -lt 13 ]; do a=$a$a; i=$((i+1)); done; set --; i=0; while [ $i -lt 100 ]; do set -- "$@" "$a"; i=$((i+1)); done; for j in 1 2 3 4 5; do sh -c "sleep 600; :" x "$@" & done; wait';
      const id = (await ivy('POST', '/containers', { name: uniqueName('argv'), container_image: 'busybox', command: ['sh', '-c', script] })).body.data.id;
      const huge = (p: any) => p.command.startsWith('sh -c sleep 600; : x xxxx');
      const answer = await eventually(
        'the five shells with huge argv to run',
        async () => (await ivy('GET', `/containers/${id}?runtime=true`)).body,
        (body) => body.data.runtime_info?.processes.filter(huge).length === 5,
        15_000,
      );
      const bytes = Buffer.byteLength(JSON.stringify(answer));
      assert.ok(bytes < 64 * 1024, `the answer is ${bytes} bytes`);
      for (const p of answer.data.runtime_info.processes.filter(huge)) {
        assert.ok(p.command.length <= 4097, `${p.command.length} characters`);
        assert.ok(p.command.endsWith('…'), 'a cut command line says so');
      }
      assert.equal((await ivy('POST', `/containers/${id}/force-stop`)).status, 200);
    });

    it('a crash-looping container keeps its retry count across a daemon restart: 3 retries in all, not 3 more', async () => {
      const hank = await newUser();
      const id = (await hank('POST', '/containers', { name: uniqueName('loop'), container_image: 'busybox', command: ['sh', '-c', 'exit 1'], restart_policy: 'on-failure' })).body.data.id;
      const rows = async () => (await hank('GET', `/containers/${id}/status-logs?limit=100&sort_order=asc`)).body.data.logs as any[];
      const retries = (logs: any[]) => logs.filter((l) => l.triggered_by === 'restart-policy').length;
      const exits = (logs: any[]) => logs.filter((l) => l.metadata.operation === 'exit').length;
      // two retries made, and the exit after the second recorded: the third is pending in its back-off
      await eventually('two retries and their exits', rows, (logs) => retries(logs) === 2 && exits(logs) === 3, 15_000);
      await d.restart();
      await eventually('the third retry, after the daemon restarted', rows, (logs) => retries(logs) === 3 && exits(logs) === 4, 15_000);
      // a fourth would come 3.2 s after that exit; a fresh count would have made it sooner
      await sleep(4500);
      const logs = await rows();
      assert.equal(retries(logs), 3, JSON.stringify(logs.map((l) => `${l.metadata.operation}:${l.to_status}:${l.triggered_by}`)));
      assert.equal((await hank('GET', `/containers/${id}`)).body.data.status, 'stopped');
    });
  });
}
