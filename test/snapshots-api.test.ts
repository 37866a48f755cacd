/**
 * Container snapshots, restores and copies against the real daemon and real busybox containers:
 * the user guide's deploy-and-roll-back scenario through curl, the CLI and the SDK; snapshots of
 * a running container are consistent (cut while it is frozen); refusals, aliases and tenancy;
 * copies of running containers and of snapshots; the disk a deleted snapshot frees; and the
 * daemon SIGKILLed during a snapshot (also while the container is frozen for the cut), a copy and
 * a restore.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestDaemon, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';
import { HoodyClient } from '../src/sdk/index.ts';
import { curl, diskKiB, freezerOf, freezerState, hoodyOk, IDLE, LONG, Tenant, uniqueName } from './snapshots-api-fixtures.ts';

const ID = /^[0-9a-f]{24}$/;
/** The alias the user guide's Scenario 1 gives its safety snapshot. */
const PRE_DEPLOY = 'pre-deploy-2025-11-09';

/** The restore row of a container's status log, and the row after it. */
function restoreRows(logs: any[]): { restore: any; next: any } {
  const i = logs.map((l) => l.metadata.operation).lastIndexOf('restore');
  assert.ok(i >= 0, `a restore row: ${JSON.stringify(logs.map((l) => [l.from_status, l.to_status, l.metadata.operation]))}`);
  return { restore: logs[i], next: logs[i + 1] };
}

describe('snapshots, restore and copy', () => {
  let d: DaemonHandle;
  let admin: Tenant;

  before(async () => {
    d = await startTestDaemon('sqlite');
    admin = new Tenant(d, d.adminToken);
  });
  after(async () => {
    await admin?.cleanup();
    await d?.cleanup();
  });

  describe('the user guide\'s deploy, failed and rolled back', () => {
    /** What one client (curl, the CLI, the SDK) does in the scenario; the rest is checked through the API. */
    interface Client {
      snapshot(id: string, alias: string): Promise<void>;
      restart(id: string): Promise<void>;
      stop(id: string): Promise<void>;
      /** Restores and answers the container's status as the restore's answer shows it (undefined: the client does not show it). */
      restore(id: string, alias: string): Promise<string | undefined>;
      /** The aliases of the container's snapshots as the client lists them (text for the CLI). */
      list(id: string): Promise<string>;
    }

    /** What the app serves: its version file, and the version its environment says. */
    const serves = async (id: string): Promise<string> => (await admin.sh(id, 'cat /app/version; echo "env $APP_VERSION"; [ -e /app/feature ] && echo feature; true')).trim();

    async function deployScenario(client: Client, prefix: string): Promise<void> {
      const c = await admin.create(uniqueName(prefix), { environment_vars: { APP_VERSION: '1' } });
      await admin.sh(c.id, 'mkdir -p /app && echo 1 > /app/version');
      assert.equal(await serves(c.id), '1\nenv 1');
      const logsBefore = (await admin.logs(c.id)).length;

      // 1. snapshot the current state (safety)
      await client.snapshot(c.id, PRE_DEPLOY);
      const [snap] = await admin.snapshots(c.id);
      assert.equal(snap?.alias, PRE_DEPLOY);
      assert.match(snap.id, ID);
      assert.equal(snap.container_id, c.id);
      assert.equal(typeof snap.frozen_ms, 'number', 'cut while it ran: it was frozen for the cut');
      assert.equal((await admin.logs(c.id)).length, logsBefore, 'a snapshot writes no status-log row');
      assert.match(await client.list(c.id), new RegExp(PRE_DEPLOY));

      // 2. deploy version 2: new files and a new environment, 3. restart for a clean state
      await admin.sh(c.id, 'echo 2 > /app/version && echo on > /app/feature');
      // a container's configuration changes while it is stopped
      assert.equal((await admin.call('POST', `/containers/${c.id}/stop`, {})).status, 200);
      const patched = await admin.call('PATCH', `/containers/${c.id}`, { environment_vars: { APP_VERSION: '2' } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      await client.restart(c.id);
      await eventually('running again after the restart', () => admin.get(c.id), (x) => x.status === 'running' && x.current_operation === null, LONG);
      assert.equal(await serves(c.id), '2\nenv 2\nfeature', 'version 2 is deployed');

      // the deploy fails: roll back
      await client.stop(c.id);
      assert.equal((await admin.get(c.id)).status, 'stopped');
      const answered = await client.restore(c.id, PRE_DEPLOY);
      if (answered !== undefined) assert.equal(answered, 'running', 'the restore answers the container started again (autostart)');
      const back = await eventually('running after the restore', () => admin.get(c.id), (x) => x.status === 'running' && x.current_operation === null, LONG);
      assert.equal(back.observed_status, 'running');
      assert.deepEqual(back.environment_vars, { APP_VERSION: '1' }, 'the configuration is the snapshot\'s');
      assert.deepEqual(back.command, IDLE);
      assert.equal(await serves(c.id), '1\nenv 1', 'version 1 again, and version 2\'s new file is gone');

      const { restore, next } = restoreRows(await admin.logs(c.id));
      assert.deepEqual([restore.from_status, restore.to_status], ['stopped', 'stopped']);
      assert.deepEqual(restore.metadata.snapshot, { id: snap.id, alias: PRE_DEPLOY });
      assert.ok(next, 'the restore is followed by the autostart');
      assert.deepEqual([next.from_status, next.to_status, next.metadata.operation, next.triggered_by], ['stopped', 'running', 'start', 'autostart']);
      assert.equal(next.metadata.reason, 'restored from snapshot');
      assert.deepEqual((await admin.snapshots(c.id)).map((s) => s.id), [snap.id], 'the snapshot stays after its restore');
    }

    it('with curl', async () => {
      const expect = async (status: number, method: string, path: string, body?: unknown): Promise<any> => {
        const r = await curl(d, d.adminToken, method, path, body);
        assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.statusCode, status);
        return r.body.data;
      };
      await deployScenario(
        {
          snapshot: async (id, alias) => {
            const data = await expect(201, 'POST', `/containers/${id}/snapshots`, { alias });
            assert.equal(data.snapshot.alias, alias);
          },
          restart: async (id) => void (await expect(200, 'POST', `/containers/${id}/restart`)),
          stop: async (id) => void (await expect(200, 'POST', `/containers/${id}/stop`)),
          restore: async (id, alias) => {
            const data = await expect(200, 'POST', `/containers/${id}/snapshots/${alias}/restore`, { reason: 'deploy failed' });
            assert.equal(data.id, id);
            return data.status;
          },
          list: async (id) => JSON.stringify((await expect(200, 'GET', `/containers/${id}/snapshots`)).snapshots.map((s: any) => s.alias)),
        },
        'deploy-curl',
      );
    });

    it('with the CLI', async () => {
      const cli = (args: string[]): Promise<string> => hoodyOk(d, d.adminToken, args);
      // the CLI names the container as a user would: by its name
      const nameOf = async (id: string): Promise<string> => (await admin.get(id)).name;
      await deployScenario(
        {
          snapshot: async (id, alias) => {
            const out = await cli(['snapshots', 'create', '--container', await nameOf(id), '--alias', alias]);
            assert.match(out, new RegExp(alias));
          },
          restart: async (id) => void (await cli(['containers', 'manage', await nameOf(id), 'restart'])),
          stop: async (id) => void (await cli(['containers', 'manage', await nameOf(id), 'stop'])),
          restore: async (id, alias) => JSON.parse(await cli(['snapshots', 'restore', '--container', await nameOf(id), alias, '--reason', 'deploy failed', '--json'])).status,
          list: async (id) => cli(['snapshots', 'list', '--container', await nameOf(id)]),
        },
        'deploy-cli',
      );
    });

    it('with the SDK', async () => {
      const client = new HoodyClient({ baseUrl: d.url, token: d.adminToken });
      await deployScenario(
        {
          snapshot: async (id, alias) => {
            const res = await client.api.containers.createSnapshot(id, { alias });
            assert.equal(res.data.snapshot.alias, alias);
          },
          restart: async (id) => void (await client.api.containers.manage(id, 'restart')),
          stop: async (id) => void (await client.api.containers.manage(id, 'stop')),
          restore: async (id, alias) => (await client.api.containers.restoreSnapshot(id, alias)).data.status,
          list: async (id) => JSON.stringify((await client.api.containers.listSnapshots(id)).data.snapshots.map((s) => s.alias)),
        },
        'deploy-sdk',
      );
    });
  });

  describe('snapshots', () => {
    /**
     * Five tokens t1..t5 move one `mv` (one rename) at a time from /s/a/d1 to /s/z/d2 and back,
     * 400 files between them; /s/n counts the rounds (written to a temporary file, then renamed).
     * At every instant each token exists exactly once, one folder holds t1..tj and the other the
     * rest: a snapshot cut while the files move shows that only if it was cut at one instant.
     * A copy started again (its /s/ready set) only sleeps.
     */
    const WRITER = [
      'if [ -f /s/ready ]; then exec sleep 1000000; fi',
      'mkdir -p /s/a/d1 /s/z/d2 /s/m',
      'i=0; while [ $i -lt 400 ]; do echo "filler $i" > /s/m/f$i; i=$((i+1)); done',
      'for k in 1 2 3 4 5; do echo t$k > /s/a/d1/t$k; done',
      'echo 0 > /s/n; touch /s/ready',
      'n=0; while :; do n=$((n+1)); for k in 1 2 3 4 5; do mv /s/a/d1/t$k /s/z/d2/t$k; done; echo $n > /s/n.new; mv /s/n.new /s/n; for k in 1 2 3 4 5; do mv /s/z/d2/t$k /s/a/d1/t$k; done; done',
    ].join('\n');

    /** Checks the writer's invariant in a copy (where nothing moves); answers its round. */
    async function checkInvariant(id: string, what: string): Promise<number> {
      const out = await admin.sh(id, 'for f in /s/a/d1/* /s/z/d2/*; do [ -f "$f" ] && echo "$f $(cat "$f")"; done; echo "n $(cat /s/n)"; echo "m $(ls /s/m | wc -l)"; ls /s');
      const lines = out.trim().split('\n');
      const tokens = lines.filter((l) => l.startsWith('/s/')).map((l) => l.split(' ') as [string, string]);
      const names = tokens.map(([path]) => path.split('/').at(-1));
      assert.deepEqual([...names].sort(), ['t1', 't2', 't3', 't4', 't5'], `${what}: each token exactly once:\n${out}`);
      for (const [path, content] of tokens) assert.equal(content, path.split('/').at(-1), `${what}: ${path} whole`);
      const d1 = tokens.filter(([p]) => p.startsWith('/s/a/d1/')).map(([p]) => Number(p.slice(-1))).sort();
      const d2 = tokens.filter(([p]) => p.startsWith('/s/z/d2/')).map(([p]) => Number(p.slice(-1))).sort();
      const prefix = (xs: number[]): boolean => xs.every((x, i) => x === i + 1);
      assert.ok(prefix(d1) || prefix(d2), `${what}: one folder holds t1..tj, the other the rest (a state that existed):\n${out}`);
      assert.ok(lines.includes('m 400'), `${what}: the 400 files between the folders:\n${out}`);
      const n = Number(/^n (\d+)$/m.exec(out)?.[1]);
      assert.ok(Number.isInteger(n), `${what}: /s/n holds a whole number:\n${out}`);
      return n;
    }

    it('of a running container are consistent: cut at one instant while a writer renames files', async () => {
      const src = await admin.create(uniqueName('writer'), { command: ['sh', '-c', WRITER] });
      const round = async (): Promise<number> => Number((await admin.sh(src.id, 'cat /s/n 2>/dev/null || echo -1')).trim());
      await eventually('the writer moving tokens', round, (n) => n >= 3, LONG);
      const snaps = [];
      for (let i = 0; i < 4; i++) {
        const s = await admin.snapshot(src.id, { alias: `cut-${i}` });
        assert.equal(typeof s.frozen_ms, 'number', JSON.stringify(s));
        assert.ok(s.frozen_ms >= 0 && s.frozen_ms < 60_000, `frozen_ms ${s.frozen_ms}`);
        assert.ok(s.files >= 406, `the writer's files: ${s.files}`);
        assert.equal(s.config.command.join(' '), ['sh', '-c', WRITER].join(' '));
        snaps.push(s);
        // the next snapshot is cut at a later round than this one
        const now = await round();
        await eventually('the writer moving on', round, (n) => n > now, LONG);
      }
      assert.equal((await admin.get(src.id)).status, 'running', 'the writer still runs');
      const rounds = [];
      for (const [i, s] of snaps.entries()) {
        const copy = await admin.call('POST', `/containers/${src.id}/copy`, { name: uniqueName(`cut${i}`), snapshot_id: s.id, start: true });
        assert.equal(copy.status, 201, JSON.stringify(copy.body));
        admin.track(copy.body.data.id);
        await eventually('the copy running', () => admin.get(copy.body.data.id), (x) => x.status === 'running', LONG);
        rounds.push(await checkInvariant(copy.body.data.id, `snapshot ${i}`));
        await admin.remove(copy.body.data.id);
      }
      for (let i = 1; i < rounds.length; i++) assert.ok(rounds[i]! > rounds[i - 1]!, `later snapshots are later rounds: ${rounds.join(', ')}`);
      // a copy of the running container itself is cut the same way
      const live = await admin.call('POST', `/containers/${src.id}/copy`, { name: uniqueName('cutlive'), start: true });
      assert.equal(live.status, 201, JSON.stringify(live.body));
      admin.track(live.body.data.id);
      await eventually('the copy running', () => admin.get(live.body.data.id), (x) => x.status === 'running', LONG);
      assert.ok((await checkInvariant(live.body.data.id, 'the live copy')) >= rounds.at(-1)!);
      await admin.remove(live.body.data.id);
      await admin.remove(src.id);
    });

    it('of a paused container are refused: 400 INVALID_TRANSITION, nothing made; a copy too', async () => {
      const c = await admin.create(uniqueName('paused'));
      await admin.op(c.id, 'pause');
      const r = await admin.call('POST', `/containers/${c.id}/snapshots`, { alias: 'while-paused' });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.code, 'INVALID_TRANSITION');
      assert.deepEqual(await admin.snapshots(c.id), []);
      const copy = await admin.call('POST', `/containers/${c.id}/copy`, { name: uniqueName('paused-copy') });
      assert.equal(copy.status, 400, JSON.stringify(copy.body));
      assert.equal(copy.body.code, 'INVALID_TRANSITION');
      const after = await admin.get(c.id);
      assert.deepEqual([after.status, after.observed_status, after.current_operation], ['paused', 'paused', null], 'left paused, not held');
      await admin.op(c.id, 'resume');
      assert.equal((await admin.get(c.id)).status, 'running');
      await admin.remove(c.id);
    });

    it('have aliases unique per container; are read by id or alias; unknown ones are 404', async () => {
      const c = await admin.create(uniqueName('aliases'), { autostart: false });
      assert.equal((await admin.get(c.id)).status, 'stopped');
      const logsBefore = (await admin.logs(c.id)).length;
      const s1 = await admin.snapshot(c.id, { alias: 'release-1', reason: 'before the release' });
      assert.match(s1.id, ID);
      assert.deepEqual([s1.alias, s1.container_id, s1.frozen_ms, s1.container_image, s1.image_id], ['release-1', c.id, null, c.container_image, c.image_id], 'a stopped container is not frozen');
      assert.ok(!Number.isNaN(Date.parse(s1.created_at)));
      assert.deepEqual(s1.config.command, IDLE);
      assert.equal(s1.config.autostart, false);

      const dup = await admin.call('POST', `/containers/${c.id}/snapshots`, { alias: 'release-1' });
      assert.equal(dup.status, 409, JSON.stringify(dup.body));
      assert.equal(dup.body.code, 'SNAPSHOT_ALIAS_TAKEN');
      assert.deepEqual([dup.body.details?.alias, dup.body.details?.snapshot_id], ['release-1', s1.id]);
      const s2 = await admin.snapshot(c.id);
      assert.equal(s2.alias, null);
      const bad = await admin.call('POST', `/containers/${c.id}/snapshots`, { alias: '-not valid' });
      assert.equal(bad.status, 400, JSON.stringify(bad.body));
      assert.deepEqual((await admin.snapshots(c.id)).map((s) => s.id), [s1.id, s2.id], 'oldest first; the refused ones made nothing');
      assert.equal((await admin.logs(c.id)).length, logsBefore, 'snapshots write no status-log rows');

      // the same alias on another container is another snapshot
      const other = await admin.create(uniqueName('aliases-other'));
      const o1 = await admin.snapshot(other.id, { alias: 'release-1' });
      assert.notEqual(o1.id, s1.id);

      for (const ref of [s1.id, 'release-1']) {
        const got = await admin.call('GET', `/containers/${c.id}/snapshots/${ref}`);
        assert.equal(got.status, 200, JSON.stringify(got.body));
        assert.deepEqual(got.body.data.snapshot, s1, `by ${ref}`);
      }
      const viaOther = await admin.call('GET', `/containers/${other.id}/snapshots/release-1`);
      assert.equal(viaOther.body.data?.snapshot?.id, o1.id, 'an alias names the snapshot of the container in the path');
      const foreign = await admin.call('GET', `/containers/${other.id}/snapshots/${s1.id}`);
      assert.deepEqual([foreign.status, foreign.body.code], [404, 'NOT_FOUND'], 'another container\'s snapshot id is not found through this one');
      for (const ref of ['0'.repeat(24), 'no-such-alias']) {
        for (const [method, path, body] of [
          ['GET', `/containers/${c.id}/snapshots/${ref}`, undefined],
          ['DELETE', `/containers/${c.id}/snapshots/${ref}`, undefined],
          ['POST', `/containers/${c.id}/snapshots/${ref}/restore`, {}],
          ['POST', `/containers/${c.id}/copy`, { name: uniqueName('nope'), snapshot_id: ref }],
        ] as const) {
          const r = await admin.call(method, path, body);
          assert.deepEqual([r.status, r.body.code], [404, 'NOT_FOUND'], `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
        }
      }
      for (const path of [`/containers/${'0'.repeat(24)}/snapshots`, `/containers/${'0'.repeat(24)}/snapshots/release-1`]) {
        const r = await admin.call('GET', path);
        assert.deepEqual([r.status, r.body.code], [404, 'NOT_FOUND'], path);
      }

      // a running container must be stopped before a restore
      const running = await admin.call('POST', `/containers/${other.id}/snapshots/release-1/restore`, {});
      assert.deepEqual([running.status, running.body.code], [400, 'INVALID_STATE'], JSON.stringify(running.body));
      assert.equal((await admin.get(other.id)).status, 'running');

      // deleting by alias frees the alias
      const del = await admin.call('DELETE', `/containers/${c.id}/snapshots/release-1`);
      assert.equal(del.status, 200, JSON.stringify(del.body));
      assert.equal(del.body.data.snapshot_id, s1.id);
      assert.equal(typeof del.body.data.reclaimed_bytes, 'number');
      assert.equal((await admin.call('GET', `/containers/${c.id}/snapshots/${s1.id}`)).status, 404);
      const again = await admin.snapshot(c.id, { alias: 'release-1' });
      assert.notEqual(again.id, s1.id);
      assert.deepEqual((await admin.snapshots(c.id)).map((s) => s.id), [s2.id, again.id]);
      assert.deepEqual((await admin.snapshots(other.id)).map((s) => s.id), [o1.id], 'the other container\'s is untouched');

      // a container's snapshots go with it
      await admin.remove(c.id);
      const gone = await admin.call('GET', `/containers/${c.id}/snapshots`);
      assert.equal(gone.status, 404);
      await admin.remove(other.id);
    });

    it('deleted free their disk; a deleted container\'s snapshots too', async () => {
      const store = join(d.dataDir, 'snapshots');
      const c = await admin.create(uniqueName('big'));
      await admin.sh(c.id, 'head -c 20000000 /dev/urandom > /big');
      const base = diskKiB(store);
      const s = await admin.snapshot(c.id, { alias: 'with-big' });
      assert.ok(s.content_bytes >= 20_000_000, `content_bytes ${s.content_bytes}`);
      assert.ok(s.size_bytes >= 20_000_000, `size_bytes ${s.size_bytes}`);
      const withSnap = diskKiB(store);
      assert.ok(withSnap - base >= 19_000, `the store grew by the file: ${base} → ${withSnap} KiB`);
      // a second snapshot of the unchanged container costs next to nothing (the file is shared)
      const s2 = await admin.snapshot(c.id, { alias: 'unchanged' });
      assert.ok(s2.size_bytes < 5_000_000, `a snapshot of unchanged files adds ${s2.size_bytes} bytes`);
      assert.ok(diskKiB(store) - withSnap < 5_000, 'the second snapshot shares the file');
      const del1 = await admin.call('DELETE', `/containers/${c.id}/snapshots/with-big`);
      assert.equal(del1.status, 200, JSON.stringify(del1.body));
      assert.ok(del1.body.data.reclaimed_bytes < 5_000_000, `the other snapshot still holds the file: reclaimed ${del1.body.data.reclaimed_bytes}`);
      const del2 = await admin.call('DELETE', `/containers/${c.id}/snapshots/unchanged`);
      assert.equal(del2.status, 200, JSON.stringify(del2.body));
      assert.equal(del2.body.data.snapshot_id, s2.id);
      assert.ok(del2.body.data.reclaimed_bytes >= 19_500_000, `the last snapshot holding the file frees it: reclaimed ${del2.body.data.reclaimed_bytes}`);
      const after = diskKiB(store);
      assert.ok(withSnap - after >= 19_000 && after - base < 2_000, `the store shrank back: ${base} → ${withSnap} → ${after} KiB`);
      assert.deepEqual(await admin.snapshots(c.id), []);

      // deleting the container deletes its snapshots, and their disk
      await admin.snapshot(c.id, { alias: 'last' });
      assert.ok(diskKiB(store) - base >= 19_000);
      await admin.remove(c.id);
      await eventually('the deleted container\'s snapshot removed from disk', async () => diskKiB(store), (kib) => kib - base < 2_000, LONG);
    });

    it('are another user\'s: 404 NOT_FOUND on every endpoint, no restore by a guessed id', async () => {
      const victim = await admin.create(uniqueName('victim'));
      await admin.sh(victim.id, 'echo secret > /secret');
      const snap = await admin.snapshot(victim.id, { alias: 'mine' });
      const user = await admin.call('POST', '/users', { name: uniqueName('tenant') });
      assert.equal(user.status, 201, JSON.stringify(user.body));
      const tok = await admin.call('POST', '/tokens', { name: 'tenant-token', user_id: user.body.data.id });
      assert.equal(tok.status, 201, JSON.stringify(tok.body));
      const stranger = new Tenant(d, tok.body.data.token);
      try {
        for (const [method, path, body] of [
          ['GET', `/containers/${victim.id}/snapshots`, undefined],
          ['POST', `/containers/${victim.id}/snapshots`, { alias: 'theirs' }],
          ['GET', `/containers/${victim.id}/snapshots/${snap.id}`, undefined],
          ['GET', `/containers/${victim.id}/snapshots/mine`, undefined],
          ['POST', `/containers/${victim.id}/snapshots/${snap.id}/restore`, {}],
          ['DELETE', `/containers/${victim.id}/snapshots/mine`, undefined],
          ['DELETE', `/containers/${victim.id}/snapshots/${snap.id}`, undefined],
          ['POST', `/containers/${victim.id}/copy`, { name: uniqueName('stolen') }],
          ['POST', `/containers/${victim.id}/copy`, { name: uniqueName('stolen'), snapshot_id: snap.id }],
        ] as const) {
          const r = await stranger.call(method, path, body);
          assert.deepEqual([r.status, r.body.code], [404, 'NOT_FOUND'], `${method} ${path}: ${JSON.stringify(r.body)}`);
        }
        // their own container does not reach the victim's snapshot either
        const own = await stranger.create(uniqueName('own'), { autostart: false });
        for (const [method, path, body] of [
          ['GET', `/containers/${own.id}/snapshots/${snap.id}`, undefined],
          ['POST', `/containers/${own.id}/snapshots/${snap.id}/restore`, {}],
          ['DELETE', `/containers/${own.id}/snapshots/${snap.id}`, undefined],
          ['POST', `/containers/${own.id}/copy`, { name: uniqueName('stolen'), snapshot_id: snap.id }],
        ] as const) {
          const r = await stranger.call(method, path, body);
          assert.deepEqual([r.status, r.body.code], [404, 'NOT_FOUND'], `${method} ${path}: ${JSON.stringify(r.body)}`);
        }
        assert.deepEqual(await stranger.snapshots(own.id), []);
        assert.equal((await stranger.get(own.id)).status, 'stopped');
        assert.equal((await stranger.call('GET', '/containers')).body.data.containers.length, 1, 'no copy was made for them');
        // the victim's snapshot and container are as they were
        assert.deepEqual((await admin.snapshots(victim.id)).map((s) => s.id), [snap.id]);
        assert.equal((await admin.get(victim.id)).status, 'running');
        assert.equal(await admin.sh(victim.id, 'cat /secret'), 'secret\n');
      } finally {
        await stranger.cleanup();
      }
      await admin.remove(victim.id);
    });
  });

  describe('copies', () => {
    it('of a running container: the source keeps running untouched; the copy is stopped, with its files and configuration', async () => {
      const src = await admin.create(uniqueName('source'), {
        command: ['sleep', '1000000'],
        environment_vars: { GREETING: 'hello', MODE: 'prod' },
        resources: { cpu: 0.5, memory_mb: 192, pids: 64 },
        stop_timeout: 7,
        restart_policy: 'on-failure',
      });
      await admin.sh(src.id, 'mkdir -p /data/sub && echo one > /data/f && echo two > /data/sub/g && ln -s /data/f /data/link && rm "$(which vi)"');
      const runtime = async (): Promise<{ pid: number; processes: string[] }> => {
        const info = (await admin.call('GET', `/containers/${src.id}?runtime=true`)).body.data.runtime_info;
        return { pid: info.pid, processes: info.processes.map((p: any) => `${p.pid} ${p.command}`) };
      };
      const before = await runtime();
      const srcLogs = (await admin.logs(src.id)).length;

      const name = uniqueName('copy');
      const r = await admin.call('POST', `/containers/${src.id}/copy`, { name });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const copy = r.body.data;
      admin.track(copy.id);
      assert.match(copy.id, ID);
      assert.notEqual(copy.id, src.id);
      assert.deepEqual([copy.name, copy.status, copy.current_operation], [name, 'stopped', null]);
      for (const key of ['container_image', 'image_id', 'command', 'environment_vars', 'resources', 'stop_timeout', 'restart_policy', 'autostart', 'hoody_kit', 'programs', 'project_id', 'network']) {
        assert.deepEqual(copy[key], src[key], `the copy's ${key}`);
      }

      const after = await admin.get(src.id);
      assert.deepEqual([after.status, after.observed_status, after.current_operation], ['running', 'running', null]);
      assert.deepEqual(await runtime(), before, 'the same processes, never restarted');
      assert.equal((await admin.logs(src.id)).length, srcLogs, 'no status-log row on the source');

      const logs = await admin.logs(copy.id);
      assert.deepEqual(
        logs.slice(0, 2).map((l) => [l.from_status, l.to_status, l.metadata.operation]),
        [
          ['creating', 'copying', 'copy'],
          ['copying', 'stopped', 'copy'],
        ],
        JSON.stringify(logs),
      );
      assert.equal(logs[1].metadata.source_container_id, src.id);
      assert.equal(logs[1].metadata.snapshot_id, undefined);
      assert.equal(logs.length, 2);

      await admin.op(copy.id, 'start');
      assert.equal(await admin.sh(copy.id, 'cat /data/f /data/sub/g; readlink /data/link; which vi; true'), 'one\ntwo\n/data/f\n', 'the files, the symlink and the deletion');
      // they are two containers now
      await admin.sh(copy.id, 'echo copy > /data/f');
      assert.equal(await admin.sh(src.id, 'cat /data/f'), 'one\n');
      const taken = await admin.call('POST', `/containers/${src.id}/copy`, { name });
      assert.deepEqual([taken.status, taken.body.code], [409, 'NAME_TAKEN'], JSON.stringify(taken.body));
      await admin.remove(copy.id);
      await admin.remove(src.id);
    });

    it('with start: true runs; from a snapshot_id has the snapshot\'s files', async () => {
      const src = await admin.create(uniqueName('source'));
      await admin.sh(src.id, 'echo v1 > /version');
      const snap = await admin.snapshot(src.id, { alias: 'v1' });
      await admin.sh(src.id, 'echo v2 > /version');

      const started = await admin.call('POST', `/containers/${src.id}/copy`, { name: uniqueName('started'), start: true });
      assert.equal(started.status, 201, JSON.stringify(started.body));
      admin.track(started.body.data.id);
      assert.equal(started.body.data.status, 'running');
      assert.equal(await admin.sh(started.body.data.id, 'cat /version'), 'v2\n', 'a copy of the files as they are now');
      const startedLogs = await admin.logs(started.body.data.id);
      assert.deepEqual(startedLogs.map((l) => [l.from_status, l.to_status]), [['creating', 'copying'], ['copying', 'stopped'], ['stopped', 'running']]);

      // by the API, the CLI and the SDK; by alias and by id
      const client = new HoodyClient({ baseUrl: d.url, token: d.adminToken });
      const ways: [string, (name: string) => Promise<any>][] = [
        ['v1', async (name) => {
          const r = await admin.call('POST', `/containers/${src.id}/copy`, { name, snapshot_id: 'v1', start: true });
          assert.equal(r.status, 201, JSON.stringify(r.body));
          return r.body.data;
        }],
        [snap.id, async (name) => JSON.parse(await hoodyOk(d, d.adminToken, ['containers', 'copy', src.name, '--name', name, '--snapshot', snap.id, '--start', '--json']))],
        ['v1', async (name) => (await client.api.containers.copy(src.id, { name, snapshot_id: 'v1', start: true })).data],
      ];
      for (const [ref, copy] of ways) {
        const made = await copy(uniqueName('from-snap'));
        admin.track(made.id);
        assert.equal(made.status, 'running');
        assert.equal(await admin.sh(made.id, 'cat /version'), 'v1\n', `from snapshot ${ref}`);
        const logs = await admin.logs(made.id);
        assert.equal(logs[1].metadata.operation, 'copy');
        assert.equal(logs[1].metadata.source_container_id, src.id);
        assert.equal(logs[1].metadata.snapshot_id, snap.id, `named by ${ref}`);
        assert.deepEqual(await admin.snapshots(made.id), [], 'a copy has no snapshots of its own');
        await admin.remove(made.id);
      }
      assert.equal(await admin.sh(src.id, 'cat /version'), 'v2\n', 'the source is untouched');
      await admin.remove(started.body.data.id);
      await admin.remove(src.id);
    });
  });
});

describe('snapshots, copies and restores cut short by a SIGKILL of the daemon', () => {
  let d: DaemonHandle;
  let admin: Tenant;
  let big: { id: string; sum: string };
  /** Files in the big container: a capture, a copy or a restore of them takes seconds. */
  const FILES = 2000;

  before(async () => {
    d = await startTestDaemon('sqlite');
    admin = new Tenant(d, d.adminToken);
    const c = await admin.create(uniqueName('big'));
    // 2000 files of 100 kB: about 200 MB
    await admin.sh(c.id, `mkdir /f && i=0 && while [ $i -lt ${FILES} ]; do head -c 100000 /dev/urandom > /f/$i; i=$((i+1)); done && echo before > /marker`);
    big = { id: c.id, sum: await admin.sh(c.id, 'cat /f/* | md5sum') };
  });
  after(async () => {
    await admin?.cleanup();
    await d?.cleanup();
  });

  const tmpLeft = async (): Promise<string[]> => readdir(join(d.dataDir, 'snapshots', 'tmp'));
  /** A request whose answer may never come (the daemon is killed under it). */
  const inFlight = (p: Promise<{ status: number; body: any }>): Promise<{ answered?: { status: number; body: any }; error?: unknown }> =>
    p.then(
      (answered) => ({ answered }),
      (error: unknown) => ({ error }),
    );
  /** Waits until the container is held by `operation` (polled as fast as the daemon answers). */
  const untilHeldBy = (id: string, operation: string) =>
    eventually(`the ${operation} in progress`, () => admin.get(id), (c) => c.current_operation?.operation === operation, LONG);

  /** The container runs, truly, not frozen and not held; a command runs in it. */
  async function assertRunningThawed(id: string): Promise<void> {
    const c = await eventually('the container settled after the restart', () => admin.get(id), (x) => x.current_operation === null && x.status === 'running' && x.observed_status === 'running', LONG);
    assert.equal(c.in_sync, true);
    const { thawed } = freezerOf(d, id);
    assert.equal(freezerState(d, id), thawed, 'its cgroup is thawed');
    assert.equal((await admin.sh(id, 'echo alive')).trim(), 'alive');
  }

  it('during a snapshot: no snapshot is listed, the container runs, nothing is left in tmp', async () => {
    const pending = inFlight(admin.call('POST', `/containers/${big.id}/snapshots`, { alias: 'doomed' }));
    await untilHeldBy(big.id, 'snapshot');
    // the snapshot holds the container: other operations are refused meanwhile
    const stop = await admin.call('POST', `/containers/${big.id}/stop`);
    assert.deepEqual([stop.status, stop.body.code], [409, 'OPERATION_IN_PROGRESS'], JSON.stringify(stop.body));
    await d.stop('SIGKILL');
    const cut = await pending;
    assert.ok(cut.error, `the kill came before the snapshot was answered: ${JSON.stringify(cut.answered)}`);
    await d.restart();
    await assertRunningThawed(big.id);
    assert.deepEqual(await admin.snapshots(big.id), []);
    const doomed = await admin.call('GET', `/containers/${big.id}/snapshots/doomed`);
    assert.equal(doomed.status, 404);
    assert.deepEqual(await tmpLeft(), []);
    assert.ok(!(await admin.logs(big.id)).some((l) => l.to_status !== 'running' && l.from_status === 'running'), 'no row says it stopped or paused');
  });

  it('while the container is frozen for the cut: it is thawed and running after the restart', async (t) => {
    const { file } = freezerOf(d, big.id);
    assert.ok(existsSync(file), `the container's freezer file ${file}`);
    const pending = inFlight(admin.call('POST', `/containers/${big.id}/snapshots`, { alias: 'doomed-frozen' }));
    await untilHeldBy(big.id, 'snapshot');
    // from here on, nothing but the freezer file is read until the kill: the freeze lasts a moment
    const { thawed } = freezerOf(d, big.id);
    const deadline = Date.now() + 120_000;
    let state = thawed;
    while (Date.now() < deadline) {
      state = readFileSync(file, 'utf8').trim();
      if (state !== thawed) {
        process.kill(d.pid, 'SIGKILL');
        break;
      }
    }
    assert.notEqual(state, thawed, 'the snapshot froze the container (the capture ended without a freeze seen)');
    t.diagnostic(`killed with the freezer at ${state}`);
    await d.stop('SIGKILL');
    assert.ok((await pending).error, 'the kill came before the snapshot was answered');
    assert.notEqual(readFileSync(file, 'utf8').trim(), thawed, 'the daemon died with the container frozen');
    await d.restart();
    await assertRunningThawed(big.id);
    assert.deepEqual(await admin.snapshots(big.id), []);
    assert.deepEqual(await tmpLeft(), []);
    const rows = await admin.logs(big.id);
    assert.equal(rows.at(-1).to_status, 'running', JSON.stringify(rows.at(-1)));
  });

  it('during a copy: the new container is failed after the restart, never copying; the source runs', async () => {
    const name = uniqueName('copy-doomed');
    const pending = inFlight(admin.call('POST', `/containers/${big.id}/copy`, { name }));
    const copying = await eventually('the copy in progress', () => admin.byName(name), (c) => c?.status === 'copying', LONG);
    admin.track(copying.id);
    assert.equal((await admin.get(copying.id)).current_operation?.operation, 'copy');
    await d.stop('SIGKILL');
    assert.ok((await pending).error, 'the kill came before the copy was answered');
    await d.restart();
    const copy = await eventually('the copy settled', () => admin.get(copying.id), (c) => c.current_operation === null && c.status !== 'copying', LONG);
    assert.equal(copy.status, 'failed');
    const logs = await admin.logs(copying.id);
    const last = logs.at(-1);
    assert.deepEqual([last.from_status, last.to_status, last.metadata.interrupted_operation, last.triggered_by], ['copying', 'failed', 'copy', 'system'], JSON.stringify(logs));
    await assertRunningThawed(big.id);
    assert.deepEqual(await tmpLeft(), []);
    // a failed copy can be deleted
    await admin.remove(copying.id);
    assert.equal((await admin.call('GET', `/containers/${copying.id}`)).status, 404);
  });

  it('during a restore: the container is stopped or failed, not held, its files and configuration as before unless the restore was recorded', async (t) => {
    const snap = await admin.snapshot(big.id, { alias: 'base' });
    assert.ok(snap.files >= FILES + 1);
    await admin.sh(big.id, 'rm -rf /f && echo after > /marker');
    await admin.op(big.id, 'stop');
    const restoresBefore = (await admin.logs(big.id)).filter((l) => l.metadata.operation === 'restore').length;
    const pending = inFlight(admin.call('POST', `/containers/${big.id}/snapshots/base/restore`, {}));
    await untilHeldBy(big.id, 'restore');
    await d.stop('SIGKILL');
    assert.ok((await pending).error, 'the kill came before the restore was answered');
    await d.restart();
    const c = await eventually('the container settled', () => admin.get(big.id), (x) => x.current_operation === null, LONG);
    assert.ok(c.status === 'stopped' || c.status === 'failed', `status ${c.status}`);
    assert.notEqual(c.observed_status, 'running');
    const bundle = join(d.dataDir, 'runtime', 'containers', big.id);
    await admin.op(big.id, 'start');
    if (existsSync(bundle)) assert.deepEqual((await readdir(bundle)).filter((n) => n.includes('restore')), [], 'the half-built restore was swept');
    const marker = (await admin.sh(big.id, 'cat /marker')).trim();
    const count = Number((await admin.sh(big.id, 'ls /f 2>/dev/null | wc -l')).trim());
    // a restore that was not recorded (its row) is undone: files as before the restore
    const recorded = (await admin.logs(big.id)).filter((l) => l.metadata.operation === 'restore').length > restoresBefore;
    if (!recorded) assert.equal(marker, 'after', 'the restore was not recorded: the old files are back');
    t.diagnostic(`killed ${recorded ? 'after' : 'before'} the restore was recorded (status ${c.status}, files ${marker === 'after' ? 'as before' : 'the snapshot\'s'})`);
    if (marker === 'after') assert.equal(count, 0, 'all old files');
    else {
      assert.equal(marker, 'before');
      assert.equal(count, FILES, 'all the snapshot\'s files');
      assert.equal(await admin.sh(big.id, 'cat /f/* | md5sum'), big.sum);
    }
    // and the restore can be done again, whole
    await admin.op(big.id, 'stop');
    const again = await admin.call('POST', `/containers/${big.id}/snapshots/base/restore`, {});
    assert.equal(again.status, 200, JSON.stringify(again.body));
    await eventually('running after the restore', () => admin.get(big.id), (x) => x.status === 'running' && x.current_operation === null, LONG);
    assert.equal((await admin.sh(big.id, 'cat /marker')).trim(), 'before');
    assert.equal(await admin.sh(big.id, 'cat /f/* | md5sum'), big.sum);
    assert.deepEqual(await tmpLeft(), []);
  });
});
