/**
 * The store contract: the same cases against every backend (SQLite always; PostgreSQL when
 * HOODY_TEST_POSTGRES_URL points at a server where the role may create databases), each case
 * in a fresh, empty database. Then what only the SQLite backend promises.
 */
import { describe, it, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { openStore, type OpenStoreOptions } from '../src/store/open-store.ts';
import { AddressTakenError, AliasTakenError, ContainerLimitError, NameTakenError, PortTakenError, ServiceNameTakenError, SnapshotAliasTakenError, type ContainerRecord, type ServerRecord, type StatusLogRecord, type Store, type UserRecord } from '../src/store/store.ts';
import { containerRecord, isoNow, logEntry, newId, postgresBackend, seed, sqliteBackend, tokenRecord, type StorePlace } from './store-fixtures.ts';

const backends = [sqliteBackend, postgresBackend(process.env.HOODY_TEST_POSTGRES_URL)];
after(() => Promise.all(backends.map((b) => b.finish())));

/** Runs statements on a store's database behind its back (what an older version left, say). */
async function rawSql(options: OpenStoreOptions, statements: string[]): Promise<void> {
  if (options.databaseUrl) {
    const client = new pg.Client({ connectionString: options.databaseUrl });
    await client.connect();
    try {
      for (const statement of statements) await client.query(statement);
    } finally {
      await client.end();
    }
    return;
  }
  const db = new BetterSqlite3(join(options.dataDir, 'hoody.db'));
  try {
    for (const statement of statements) db.exec(statement);
  } finally {
    db.close();
  }
}

/** Statements that take a database back to before migration 0008 (container networks). */
const UNDO_NETWORK = [
  // 0012, 0011, 0010 and 0009 first: they came after
  'drop table snapshot_replicas',
  'alter table servers drop column advertise_url',
  'alter table servers drop column proxy_url',
  'alter table servers drop column version',
  'alter table servers drop column capacity',
  'alter table servers drop column usage',
  'drop table snapshots',
  'drop table proxy_aliases',
  'drop table service_hosts',
  'alter table containers drop column programs',
  'alter table containers drop column service_labels',
  'drop table published_ports',
  'drop index containers_server_id_ipv4_address_unique',
  'alter table containers drop column network_mode',
  'alter table containers drop column ipv4_address',
  'alter table containers drop column ports',
];

const op = (operation = 'start') => ({ id: newId(), operation, started_at: isoNow() });
const ids = (records: { id: string }[]): string[] => records.map((r) => r.id).sort();

for (const backend of backends) {
  describe(`store contract: ${backend.name}`, () => {
    const places: StorePlace[] = [];
    const stores: Store[] = [];
    afterEach(async () => {
      for (const s of stores.splice(0)) await s.close();
      for (const p of places.splice(0)) await p.remove();
    });
    const freshPlace = async (): Promise<OpenStoreOptions> => {
      const place = await backend.freshPlace();
      places.push(place);
      return place.options;
    };
    const open = async (options: OpenStoreOptions): Promise<Store> => {
      const store = await openStore(options);
      stores.push(store);
      return store;
    };
    const freshStore = async (): Promise<Store> => open(await freshPlace());
    const test = (name: string, fn: () => Promise<void>): void => {
      it(name, { skip: backend.skip }, fn);
    };

    /** A container in a seeded project, created with its first log row. */
    const created = async (store: Store, fields: Partial<ContainerRecord> = {}) => {
      const s = await seed(store);
      const container = containerRecord({ name: 'web', project_id: s.project.id, server_id: s.server.id, ...fields });
      const firstLog = logEntry('creating', container.status, { operation: 'create' });
      await store.createContainer(container, firstLog);
      return { ...s, container, firstLog };
    };

    test('running the migrations again on a migrated database changes nothing', async () => {
      const place = await freshPlace();
      const store = await open(place);
      const user: UserRecord = { id: 'user_1', name: 'alice', is_admin: true, created_at: isoNow() };
      await store.createUser(user);
      await store.migrate();
      await store.migrate();
      const restarted = await open(place); // a restarted daemon migrates on open
      assert.deepEqual(await restarted.listUsers(), [user]);
      assert.deepEqual(await store.listUsers(), [user]);
    });

    // On SQLite one process runs the two migrations one after the other (better-sqlite3 is
    // synchronous); the process test at the end of this file races them for real.
    test('two daemons migrating the same fresh database at once both succeed and share it', async () => {
      const place = await freshPlace();
      const [a, b] = await Promise.all([open(place), open(place)]);
      const { container } = await created(a);
      assert.deepEqual(await b.getContainer(container.id), container);
    });

    test('a container reads back exactly as created, booleans and JSON included', async () => {
      const store = await freshStore();
      const s = await seed(store);
      const full = containerRecord({
        name: 'full',
        project_id: s.project.id,
        server_id: s.server.id,
        status: 'failed',
        desired_status: 'running',
        command: ['sh', '-c', 'echo "hi there" && exec sleep 60'],
        environment_vars: { GREETING: 'héllo wörld ✓', QUOTED: '"\'\\n{}', EMPTY: '' },
        autostart: false,
        hoody_kit: true,
        resources: { cpu: 0.25, memory_mb: 128, pids: 64 },
        stop_timeout: 3,
        restart_policy: 'on-failure',
        current_operation: op('create'),
        exit_code: 137,
      });
      const bare = containerRecord({ name: 'bare', project_id: s.project.id, server_id: s.server.id });
      await store.createContainer(full, logEntry('creating', 'failed'));
      await store.createContainer(bare, logEntry('creating', 'stopped'));
      assert.deepEqual(await store.getContainer(full.id), full);
      assert.deepEqual(await store.getContainer(bare.id), bare);
      assert.equal(await store.getContainer(newId()), undefined);
      const listed = await store.listContainers({});
      assert.deepEqual(listed.find((c) => c.id === full.id), full);
      assert.deepEqual(listed.find((c) => c.id === bare.id), bare);
    });

    test('listing containers filters by owner, project, server, status and name', async () => {
      const store = await freshStore();
      const alice = await seed(store, 'alice');
      const bob = await seed(store, 'bob');
      const aliceOther = { id: newId(), name: 'second', owner_id: alice.user.id, created_at: isoNow() };
      await store.createProject(aliceOther);
      const make = async (name: string, project_id: string, server_id: string, status: ContainerRecord['status']) => {
        const c = containerRecord({ name, project_id, server_id, status });
        await store.createContainer(c, logEntry('creating', status));
        return c;
      };
      const web1 = await make('web', alice.project.id, alice.server.id, 'running');
      const db = await make('db', alice.project.id, bob.server.id, 'stopped');
      const web2 = await make('web', aliceOther.id, alice.server.id, 'stopped');
      const api = await make('api', bob.project.id, alice.server.id, 'running');

      assert.deepEqual(ids(await store.listContainers({})), ids([web1, db, web2, api]));
      assert.deepEqual(ids(await store.listContainers({ owner_id: alice.user.id })), ids([web1, db, web2]));
      assert.deepEqual(ids(await store.listContainers({ owner_id: bob.user.id })), ids([api]));
      assert.deepEqual(ids(await store.listContainers({ project_id: alice.project.id })), ids([web1, db]));
      assert.deepEqual(ids(await store.listContainers({ server_id: bob.server.id })), ids([db]));
      assert.deepEqual(ids(await store.listContainers({ status: 'running' })), ids([web1, api]));
      assert.deepEqual(ids(await store.listContainers({ name: 'web' })), ids([web1, web2]));
      assert.deepEqual(ids(await store.listContainers({ owner_id: alice.user.id, status: 'stopped' })), ids([db, web2]));
      assert.deepEqual(await store.listContainers({ owner_id: bob.user.id, name: 'web' }), []);
      assert.deepEqual(await store.listContainers({ owner_id: 'user_nobody' }), []);
    });

    test('a second container with a taken name in the same project is refused and nothing of it is written', async () => {
      const store = await freshStore();
      const { project, server } = await created(store);
      const twin = containerRecord({ name: 'web', project_id: project.id, server_id: server.id });
      await assert.rejects(store.createContainer(twin, logEntry('creating', 'stopped')), (err: unknown) => {
        assert.ok(err instanceof NameTakenError, `NameTakenError, got ${String(err)}`);
        assert.equal(err.containerName, 'web');
        return true;
      });
      assert.equal(await store.getContainer(twin.id), undefined);
      assert.equal((await store.listStatusLogs(twin.id, { page: 1, limit: 10, sort_order: 'asc' })).total, 0);

      const elsewhere = { id: newId(), name: 'other', owner_id: project.owner_id, created_at: isoNow() };
      await store.createProject(elsewhere);
      await store.createContainer({ ...twin, project_id: elsewhere.id }, logEntry('creating', 'stopped'));
      assert.equal((await store.getContainer(twin.id))?.project_id, elsewhere.id, 'the same name is free in another project');
    });

    test('a duplicate id or an unknown project is refused, but not as a taken name', async () => {
      const store = await freshStore();
      const { container, project, server } = await created(store);
      const notNameTaken = (err: unknown): boolean => !(err instanceof NameTakenError);
      await assert.rejects(store.createContainer({ ...container, name: 'other' }, logEntry('creating', 'stopped')), notNameTaken);
      const orphan = containerRecord({ name: 'orphan', project_id: newId(), server_id: server.id });
      await assert.rejects(store.createContainer(orphan, logEntry('creating', 'stopped')), notNameTaken);
      assert.equal(await store.getContainer(orphan.id), undefined);
      assert.equal((await store.listContainers({ project_id: project.id })).length, 1);
    });

    test('updating a container changes only the patched fields, and renaming onto a taken name is refused', async () => {
      const store = await freshStore();
      const past = '2025-01-01T00:00:00.000Z';
      const { container: web, project, server } = await created(store, { created_at: past, updated_at: past, command: ['sleep', '1'] });
      const db = containerRecord({ name: 'db', project_id: project.id, server_id: server.id });
      await store.createContainer(db, logEntry('creating', 'stopped'));

      await assert.rejects(store.updateContainer(db.id, { name: 'web' }), NameTakenError);
      assert.equal((await store.getContainer(db.id))?.name, 'db');

      const patch = {
        name: 'cache',
        command: null,
        environment_vars: { MODE: 'fast' },
        autostart: false,
        resources: { cpu: 2.5, memory_mb: 1024, pids: 100 },
        stop_timeout: 30,
        restart_policy: 'always' as const,
        desired_status: 'running' as const,
      };
      const updated = await store.updateContainer(web.id, patch);
      assert.ok(updated);
      assert.deepEqual({ ...updated, updated_at: web.updated_at }, { ...web, ...patch, version: web.version + 1 });
      assert.ok(updated.updated_at > past, 'updated_at moves forward');
      assert.deepEqual(await store.getContainer(web.id), updated);
      assert.equal(await store.updateContainer(newId(), { autostart: true }), undefined);
    });

    test('beginOperation claims a free container once; a second claim sees the first operation', async () => {
      const store = await freshStore();
      const { container } = await created(store);
      const first = op('start');
      const claim = await store.beginOperation(container.id, first);
      assert.deepEqual(claim, { claimed: true, container: { ...container, current_operation: first } });
      const second = await store.beginOperation(container.id, op('stop'));
      assert.equal(second?.claimed, false);
      assert.deepEqual(second?.container.current_operation, first);
      assert.equal(await store.beginOperation(newId(), op()), undefined);
    });

    test('of ten concurrent claims from two daemons sharing the database, exactly one wins', async () => {
      const place = await freshPlace();
      const a = await open(place);
      const b = await open(place);
      const { container } = await created(a);
      const ops = Array.from({ length: 10 }, () => op('start'));
      const results = await Promise.all(ops.map((o, i) => (i % 2 ? a : b).beginOperation(container.id, o)));
      const winners = results.filter((r) => r?.claimed);
      assert.equal(winners.length, 1, `one winner, got ${winners.length}`);
      const held = winners[0]?.container.current_operation;
      assert.ok(held && ops.some((o) => o.id === held.id));
      for (const r of results.filter((r) => !r?.claimed)) assert.deepEqual(r?.container.current_operation, held);
      assert.deepEqual((await b.getContainer(container.id))?.current_operation, held);
    });

    test('a transition writes the status and its log row together', async () => {
      const store = await freshStore();
      const { container, firstLog } = await created(store, { exit_code: 1 });
      const start = op('start');
      await store.beginOperation(container.id, start);
      const log = logEntry('stopped', 'running', { reason: 'deploy', extra: { nested: [1, 2] } });
      const after = await store.transition(container.id, { to_status: 'running', log, operation_id: start.id, exit_code: null, desired_status: 'running', finish_operation: true });
      assert.ok(after);
      assert.equal(after.status, 'running');
      assert.equal(after.desired_status, 'running');
      assert.equal(after.exit_code, null);
      assert.equal(after.current_operation, null);
      assert.deepEqual(await store.getContainer(container.id), after);

      const { logs, total } = await store.listStatusLogs(container.id, { page: 1, limit: 10, sort_order: 'asc' });
      assert.equal(total, 2);
      assert.deepEqual(logs.map((l) => l.id), [firstLog.id, log.id]);
      const { seq, ...written } = logs[1]!;
      assert.deepEqual(written, { ...log, container_id: container.id, project_id: container.project_id });
      assert.equal(typeof seq, 'number');
      assert.ok(seq > logs[0]!.seq);

      const stopped = await store.transition(container.id, { to_status: 'stopped', log: logEntry('running', 'stopped', { operation: 'exit', exit_code: 0 }), exit_code: 0 });
      assert.equal(stopped?.exit_code, 0);
      const restarted = await store.transition(container.id, { to_status: 'running', log: logEntry('stopped', 'running') });
      assert.equal(restarted?.exit_code, 0, 'an undefined exit_code keeps the stored one');
      assert.equal(restarted?.desired_status, 'running');
    });

    test('a transition under a stale operation id, or of a missing container, writes nothing', async () => {
      const store = await freshStore();
      const { container } = await created(store);
      const stale = op('start');
      await store.beginOperation(container.id, stale);
      await store.finishOperation(container.id, stale.id);
      const current = op('stop');
      await store.beginOperation(container.id, current);

      const log = logEntry('stopped', 'running');
      assert.equal(await store.transition(container.id, { to_status: 'running', log, operation_id: stale.id, finish_operation: true }), undefined);
      const unchanged = await store.getContainer(container.id);
      assert.equal(unchanged?.status, 'stopped');
      assert.deepEqual(unchanged?.current_operation, current);
      assert.equal((await store.listStatusLogs(container.id, { page: 1, limit: 10, sort_order: 'asc' })).total, 1);

      const ghost = newId();
      assert.equal(await store.transition(ghost, { to_status: 'running', log: logEntry('stopped', 'running') }), undefined);
      const all = await store.statusLogsSince(0, 100);
      assert.equal(all.length, 1, 'no log row for the refused transitions');
      assert.ok(!all.some((l) => l.id === log.id || l.container_id === ghost));
    });

    test('a transition whose log row cannot be written leaves the status as it was', async () => {
      const store = await freshStore();
      const { container, firstLog } = await created(store);
      const duplicate = { ...logEntry('stopped', 'running'), id: firstLog.id };
      await assert.rejects(store.transition(container.id, { to_status: 'running', log: duplicate }));
      assert.equal((await store.getContainer(container.id))?.status, 'stopped');
      assert.equal((await store.listStatusLogs(container.id, { page: 1, limit: 10, sort_order: 'asc' })).total, 1);
    });

    test('finishOperation clears only the operation that holds the container', async () => {
      const store = await freshStore();
      const { container } = await created(store);
      const held = op('restart');
      await store.beginOperation(container.id, held);
      await store.finishOperation(container.id, newId());
      assert.deepEqual((await store.getContainer(container.id))?.current_operation, held);
      await store.finishOperation(container.id, held.id);
      assert.equal((await store.getContainer(container.id))?.current_operation, null);
      assert.equal((await store.beginOperation(container.id, op('start')))?.claimed, true);
    });

    test('status logs page in both orders with a total, and outlive their container', async () => {
      const store = await freshStore();
      const { container, firstLog, project, server } = await created(store);
      const logIds = [firstLog.id];
      let status: ContainerRecord['status'] = 'stopped';
      for (let i = 0; i < 24; i++) {
        const next: ContainerRecord['status'] = status === 'stopped' ? 'running' : 'stopped';
        const log = logEntry(status, next);
        await store.transition(container.id, { to_status: next, log });
        logIds.push(log.id);
        status = next;
      }
      const other = containerRecord({ name: 'other', project_id: project.id, server_id: server.id });
      await store.createContainer(other, logEntry('creating', 'stopped'));

      const page = async (n: number, sort_order: 'asc' | 'desc') => {
        const r = await store.listStatusLogs(container.id, { page: n, limit: 10, sort_order });
        assert.equal(r.total, 25);
        return r.logs.map((l) => l.id);
      };
      const reversed = [...logIds].reverse();
      const check = async (): Promise<void> => {
        assert.deepEqual(await page(1, 'asc'), logIds.slice(0, 10));
        assert.deepEqual(await page(2, 'asc'), logIds.slice(10, 20));
        assert.deepEqual(await page(3, 'asc'), logIds.slice(20));
        assert.deepEqual(await page(1, 'desc'), reversed.slice(0, 10));
        assert.deepEqual(await page(2, 'desc'), reversed.slice(10, 20));
        assert.deepEqual(await page(4, 'desc'), []);
      };
      await check();

      assert.equal(await store.deleteContainer(container.id), true);
      assert.equal(await store.deleteContainer(container.id), false);
      assert.equal(await store.getContainer(container.id), undefined);
      await check();
    });

    test('the migration that numbers status log rows per container numbers the rows written before it', async () => {
      const place = await freshPlace();
      const store = await open(place);
      const { container: a, firstLog, project, server } = await created(store);
      const b = containerRecord({ name: 'b', project_id: project.id, server_id: server.id });
      const bFirst = logEntry('creating', 'stopped');
      await store.createContainer(b, bFirst);
      const written: Record<string, string[]> = { [a.id]: [firstLog.id], [b.id]: [bFirst.id] };
      for (const c of [a, b, a, a, b, a]) {
        const log = logEntry('stopped', 'stopped', { operation: 'reconcile' });
        await store.transition(c.id, { to_status: 'stopped', log });
        written[c.id]?.push(log.id);
      }
      // back to the schema before the migration, as a database made by an older version is
      await rawSql(place, [...UNDO_NETWORK, 'drop index status_logs_container_id_ordinal', 'alter table status_logs drop column ordinal', 'alter table containers drop column image_id', "delete from kysely_migration where name >= '0006'"]);
      await store.migrate();
      const later = logEntry('stopped', 'running');
      await store.transition(a.id, { to_status: 'running', log: later });
      written[a.id]?.push(later.id);
      for (const c of [a, b]) {
        const all = written[c.id] ?? [];
        for (const sort_order of ['asc', 'desc'] as const) {
          const pages = [];
          for (let n = 1; n <= 3; n++) pages.push((await store.listStatusLogs(c.id, { page: n, limit: 2, sort_order })).logs.map((l) => l.id));
          const expected = sort_order === 'asc' ? all : [...all].reverse();
          assert.deepEqual(pages, [expected.slice(0, 2), expected.slice(2, 4), expected.slice(4, 6)], `${c.name}, ${sort_order}`);
        }
        assert.equal((await store.listStatusLogs(c.id, { page: 1, limit: 2, sort_order: 'desc' })).total, all.length);
      }
    });

    test('log rows of one container written at once (by two daemons on PostgreSQL) are numbered 1..N with no gap or repeat', async () => {
      const place = await freshPlace();
      // one SQLite file has one daemon, whose one connection takes the writes in turn; a shared
      // PostgreSQL has several daemons with several connections each
      const one = await open(place);
      const two = backend.name === 'PostgreSQL' ? await open(place) : one;
      const { container, firstLog } = await created(one);
      const logs = Array.from({ length: 40 }, () => logEntry('stopped', 'stopped', { operation: 'reconcile' }));
      const results = await Promise.all(logs.map((log, i) => (i % 2 ? one : two).transition(container.id, { to_status: 'stopped', log })));
      assert.ok(results.every((r) => r?.status === 'stopped'), 'every transition was written');
      const expected = new Set([firstLog.id, ...logs.map((l) => l.id)]);
      for (const sort_order of ['asc', 'desc'] as const) {
        const seen: string[] = [];
        for (let n = 1; n <= 6; n++) {
          const { logs: page, total } = await two.listStatusLogs(container.id, { page: n, limit: 7, sort_order });
          assert.equal(total, 41);
          // a gap would leave a page short, a repeat would have failed its insert
          assert.equal(page.length, n < 6 ? 7 : 6, `page ${n} ${sort_order}`);
          seen.push(...page.map((l) => l.id));
        }
        assert.deepEqual(new Set(seen), expected);
        const seqs = (await one.listStatusLogs(container.id, { page: 1, limit: 41, sort_order })).logs.map((l) => l.seq);
        assert.deepEqual(seqs, [...seqs].sort((x, y) => (sort_order === 'asc' ? x - y : y - x)), 'positions follow the log order');
      }
    });

    test('statusLogsSince returns the rows after a cursor, across containers, oldest first', async () => {
      const store = await freshStore();
      const { container: a, firstLog, project, server } = await created(store);
      const b = containerRecord({ name: 'b', project_id: project.id, server_id: server.id });
      const bFirst = logEntry('creating', 'stopped');
      await store.createContainer(b, bFirst);
      const order = [firstLog.id, bFirst.id];
      for (const c of [a, b, a, b]) {
        const log = logEntry('stopped', 'stopped', { operation: 'reconcile' });
        await store.transition(c.id, { to_status: 'stopped', log });
        order.push(log.id);
      }
      const all = await store.statusLogsSince(0, 100);
      assert.deepEqual(all.map((l) => l.id), order);
      assert.deepEqual(all.map((l) => l.container_id), [a.id, b.id, a.id, b.id, a.id, b.id]);
      assert.ok(all.every((l, i) => i === 0 || l.seq > all[i - 1]!.seq), 'seq grows');
      assert.deepEqual((await store.statusLogsSince(all[2]!.seq, 2)).map((l) => l.id), order.slice(3, 5));
      assert.deepEqual(await store.statusLogsSince(all.at(-1)!.seq, 10), []);
    });

    test('onLogAppended hands over each row written, after its commit, exactly as statusLogsSince reads it', async () => {
      const place = await freshPlace();
      const store = await open(place);
      const reader = await open(place);
      const handed: StatusLogRecord[] = [];
      const seenElsewhere: Promise<boolean>[] = [];
      store.onLogAppended((row) => {
        handed.push(row);
        // committed before it is handed over: another connection reads it already
        seenElsewhere.push(reader.statusLogsSince(row.seq - 1, 1).then((rows) => rows[0]?.id === row.id));
      });
      const { container, project, server } = await created(store);
      const running = await store.transition(container.id, { to_status: 'running', log: logEntry('stopped', 'running', { note: 'x', nested: { a: [1, 2] } }) });
      assert.ok(running);
      // a transition that writes nothing hands nothing over
      assert.equal(await store.transition(container.id, { to_status: 'stopped', operation_id: 'not-current', log: logEntry('running', 'stopped') }), undefined);
      await store.deleteContainer(container.id, logEntry('running', 'stopped', { operation: 'delete' }));
      const plain = containerRecord({ name: 'plain', project_id: project.id, server_id: server.id });
      await store.createContainer(plain);
      assert.equal(await store.deleteContainer('ffffffffffffffffffffffff', logEntry('stopped', 'stopped')), false);
      assert.deepEqual(await Promise.all(seenElsewhere), [true, true, true], 'each row was committed when handed over');
      const all = await store.statusLogsSince(0, 100);
      assert.equal(all.length, 3, 'the first row, the transition and the delete');
      assert.deepEqual(handed, all, 'the same rows, fields and seq, in the same order');
      store.onLogAppended(undefined);
      await store.transition(plain.id, { to_status: 'stopped', log: logEntry('stopped', 'stopped') });
      assert.equal(handed.length, 3, 'a removed listener gets nothing');
    });

    test('a transition that runs while another write\'s transaction is open is not rolled back with it', async () => {
      const store = await freshStore();
      const { container, project, server, user } = await created(store);
      // refused after its count: a transaction that is open across awaits, then rolled back
      const refused = store.createContainer(containerRecord({ name: 'over', project_id: project.id, server_id: server.id }), logEntry('creating', 'stopped'), {
        ownerLimit: { owner_id: user.id, max: 1 },
      });
      let settled = false;
      void refused.catch(() => undefined).finally(() => (settled = true));
      const written: string[] = [];
      for (let i = 0; !settled && i < 200; i++) {
        const [from, to] = i % 2 === 0 ? (['stopped', 'running'] as const) : (['running', 'stopped'] as const);
        const log = logEntry(from, to);
        // one microtask apart: some of these land between the other transaction's statements
        if (await store.transition(container.id, { to_status: to, log })) written.push(log.id);
      }
      await assert.rejects(refused, ContainerLimitError);
      assert.ok(written.length > 0);
      const rows = await store.statusLogsSince(0, 1000);
      assert.deepEqual(
        rows.slice(1).map((r) => r.id),
        written,
        'every transition that answered is in the log, in order',
      );
      assert.equal((await store.getContainer(container.id))?.version, container.version + written.length);
    });

    test('status log rows carry their container\'s project, the row written with a delete included', async () => {
      const store = await freshStore();
      const { container, project, server } = await created(store);
      await store.transition(container.id, { to_status: 'running', log: logEntry('stopped', 'running') });
      const other = await seed(store, 'bob');
      const theirs = containerRecord({ name: 'theirs', project_id: other.project.id, server_id: server.id });
      await store.createContainer(theirs, logEntry('creating', 'stopped'));
      await store.transition(container.id, { to_status: 'stopped', log: logEntry('running', 'stopped') });
      assert.equal(await store.deleteContainer(container.id, logEntry('stopped', 'stopped', { operation: 'delete' })), true);
      const rows = await store.statusLogsSince(0, 100);
      assert.deepEqual(
        rows.map((r) => [r.container_id, r.project_id]),
        [container.id, container.id, theirs.id, container.id, container.id].map((id) => [id, id === theirs.id ? other.project.id : project.id]),
      );
    });

    test('statusLogsSince narrows rows to an owner, a project, a container and a last cursor; the count stops at its bound; the head is the newest cursor', async () => {
      const store = await freshStore();
      assert.equal(await store.statusLogHead(), 0, 'an empty log');
      const alice = await created(store);
      const second = { id: newId(), name: 'second', owner_id: alice.user.id, created_at: isoNow() };
      await store.createProject(second);
      const a2 = containerRecord({ name: 'a2', project_id: second.id, server_id: alice.server.id });
      await store.createContainer(a2, logEntry('creating', 'stopped'));
      const bob = await seed(store, 'bob');
      const b1 = containerRecord({ name: 'b1', project_id: bob.project.id, server_id: bob.server.id });
      await store.createContainer(b1, logEntry('creating', 'stopped'));
      for (const c of [alice.container, a2, b1, alice.container, b1, a2]) await store.transition(c.id, { to_status: 'stopped', log: logEntry('stopped', 'stopped', { operation: 'reconcile' }) });
      const all = await store.statusLogsSince(0, 100);
      assert.equal(all.length, 9);
      assert.equal(await store.statusLogHead(), all.at(-1)?.seq);

      const seqs = (rows: { seq: number }[]) => rows.map((r) => r.seq);
      const expect = (pred: (r: (typeof all)[number]) => boolean) => seqs(all.filter(pred));
      const aliceIds = new Set([alice.container.id, a2.id]);
      assert.deepEqual(seqs(await store.statusLogsSince(0, 100, { owner_id: alice.user.id })), expect((r) => aliceIds.has(r.container_id)));
      assert.deepEqual(seqs(await store.statusLogsSince(0, 100, { owner_id: bob.user.id })), expect((r) => r.container_id === b1.id));
      assert.deepEqual(seqs(await store.statusLogsSince(0, 100, { owner_id: alice.user.id, project_id: second.id })), expect((r) => r.container_id === a2.id));
      assert.deepEqual(seqs(await store.statusLogsSince(0, 100, { owner_id: alice.user.id, container_id: alice.container.id })), expect((r) => r.container_id === alice.container.id));
      assert.deepEqual(await store.statusLogsSince(0, 100, { owner_id: bob.user.id, container_id: alice.container.id }), [], 'another owner\'s container: nothing');
      const third = all[2]?.seq ?? 0;
      const sixth = all[5]?.seq ?? 0;
      assert.deepEqual(seqs(await store.statusLogsSince(third, 100, { through: sixth })), seqs(all.slice(3, 6)));
      assert.deepEqual(seqs(await store.statusLogsSince(0, 2, { owner_id: alice.user.id })), expect((r) => aliceIds.has(r.container_id)).slice(0, 2), 'the limit holds');

      assert.equal(await store.countStatusLogsSince(0, { owner_id: alice.user.id }, 100), 6);
      assert.equal(await store.countStatusLogsSince(0, { owner_id: alice.user.id }, 4), 4, 'counting stops at the bound');
      assert.equal(await store.countStatusLogsSince(third, { owner_id: bob.user.id, through: sixth }, 100), expect((r) => r.seq > third && r.seq <= sixth && r.container_id === b1.id).length);
      assert.equal(await store.countStatusLogsSince(0, { owner_id: 'user_nobody' }, 100), 0);
    });

    test('existingTokenIds answers which of the ids still exist', async () => {
      const store = await freshStore();
      const { user } = await seed(store);
      const [t1, t2] = [tokenRecord(user.id), tokenRecord(user.id)];
      for (const t of [t1, t2]) await store.createToken(t);
      await store.deleteToken(t2.id);
      assert.deepEqual(await store.existingTokenIds([t1.id, t2.id, newId()]), new Set([t1.id]));
      assert.deepEqual(await store.existingTokenIds([]), new Set());
    });

    test('the migration that adds status log projects fills them in for rows written before it', async () => {
      const place = await freshPlace();
      const store = await open(place);
      const { container, project, server } = await created(store);
      const gone = containerRecord({ name: 'gone', project_id: project.id, server_id: server.id });
      await store.createContainer(gone, logEntry('creating', 'stopped', { project_id: project.id }));
      await store.deleteContainer(gone.id, logEntry('stopped', 'stopped', { operation: 'delete', project_id: project.id }));
      const unknown = containerRecord({ name: 'unknown', project_id: project.id, server_id: server.id });
      await store.createContainer(unknown, logEntry('creating', 'stopped'));
      await store.deleteContainer(unknown.id, logEntry('stopped', 'stopped', { operation: 'delete' }));
      // back to the schema before the migration, as a database made by an older version is
      // (the migrations after it are undone too: Kysely applies migrations only in order)
      await rawSql(place, [
        ...UNDO_NETWORK,
        'drop index status_logs_container_id_ordinal',
        'alter table status_logs drop column ordinal',
        'drop index status_logs_project_id_seq',
        'alter table status_logs drop column project_id',
        'drop index idempotency_keys_server_id',
        'alter table idempotency_keys drop column server_id',
        'alter table containers drop column restart_attempts',
        'alter table containers drop column last_started_at',
        'alter table containers drop column restart_due_at',
        'alter table containers drop column image_id',
        "delete from kysely_migration where name >= '0003'",
      ]);
      await store.migrate();
      const rows = await store.statusLogsSince(0, 100);
      assert.deepEqual(
        rows.map((r) => [r.container_id, r.project_id]),
        [
          [container.id, project.id], // from its container
          [gone.id, project.id], // from the row's metadata: the container is gone
          [gone.id, project.id],
          [unknown.id, null], // neither: unknown
          [unknown.id, null],
        ],
      );
      assert.equal(await store.countStatusLogsSince(0, { owner_id: (await store.getProject(project.id))?.owner_id }, 100), 3);
    });

    test('tokens are found by their secret hash, listed per user and deleted once', async () => {
      const store = await freshStore();
      const alice = await seed(store, 'alice');
      const bob = await seed(store, 'bob');
      const t1 = tokenRecord(alice.user.id, { read_only: true });
      const t2 = tokenRecord(alice.user.id, { name: 'deployer', automation: true });
      const t3 = tokenRecord(bob.user.id);
      for (const t of [t1, t2, t3]) await store.createToken(t);

      assert.deepEqual(await store.findTokenByHash(t1.secret_hash), t1);
      assert.deepEqual(await store.findTokenByHash(t2.secret_hash), t2);
      assert.equal(await store.findTokenByHash('0'.repeat(64)), undefined);
      assert.deepEqual(ids(await store.listTokens()), ids([t1, t2, t3]));
      assert.deepEqual(ids(await store.listTokens(alice.user.id)), ids([t1, t2]));
      assert.deepEqual(await store.listTokens(bob.user.id), [t3]);
      await assert.rejects(store.createToken(tokenRecord(bob.user.id, { secret_hash: t1.secret_hash })), 'a secret hash is unique');

      assert.equal(await store.deleteToken(t1.id), true);
      assert.equal(await store.deleteToken(t1.id), false);
      assert.equal(await store.findTokenByHash(t1.secret_hash), undefined);
    });

    test('users and projects read back with booleans decoded, projects listed per owner', async () => {
      const store = await freshStore();
      const admin: UserRecord = { id: 'user_admin', name: 'admin', is_admin: true, created_at: '2025-01-01T00:00:00.000Z' };
      await store.createUser(admin);
      const { user: alice, project } = await seed(store, 'alice');
      assert.deepEqual(await store.getUser(admin.id), admin);
      assert.deepEqual(await store.getUser(alice.id), alice);
      assert.equal(await store.getUser('user_nobody'), undefined);
      assert.deepEqual(await store.listUsers(), [admin, alice]);
      const adminProject = { id: newId(), name: 'ops', owner_id: admin.id, created_at: isoNow() };
      await store.createProject(adminProject);
      assert.deepEqual(await store.getProject(project.id), project);
      assert.deepEqual(await store.listProjects(admin.id), [adminProject]);
      assert.deepEqual(ids(await store.listProjects()), ids([project, adminProject]));
    });

    test('every transition and update raises the container version; claims do not', async () => {
      const store = await freshStore();
      const { container } = await created(store);
      assert.equal((await store.getContainer(container.id))?.version, 0);
      const claim = op('start');
      await store.beginOperation(container.id, claim);
      assert.equal((await store.getContainer(container.id))?.version, 0, 'a claim is not a change');
      await store.transition(container.id, { to_status: 'running', operation_id: claim.id, finish_operation: true, log: logEntry('stopped', 'running') });
      assert.equal((await store.getContainer(container.id))?.version, 1);
      assert.equal((await store.updateContainer(container.id, { autostart: false }))?.version, 2);
      await store.transition(container.id, { to_status: 'stopped', operation_id: newId(), log: logEntry('running', 'stopped') });
      assert.equal((await store.getContainer(container.id))?.version, 2, 'a refused transition changes nothing');
    });

    test('an idempotency key is claimed once, completed with its answer, released and purged', async () => {
      const store = await freshStore();
      const rec = { scope: 'user_1', key: 'k-1', request_hash: 'h1', status_code: null, response_body: null, server_id: 'server_a', created_at: '2025-01-01T00:00:00.000Z' };
      assert.deepEqual(await store.claimIdempotencyKey(rec), { claimed: true });
      const again = await Promise.all([store.claimIdempotencyKey(rec), store.claimIdempotencyKey({ ...rec, request_hash: 'h2' })]);
      assert.deepEqual(again, [{ claimed: false, existing: rec }, { claimed: false, existing: rec }]);
      assert.deepEqual(await store.claimIdempotencyKey({ ...rec, scope: 'user_2' }), { claimed: true }, 'keys are per caller');
      await store.completeIdempotencyKey('user_1', 'k-1', 200, '{"ok":true}');
      assert.deepEqual(await store.claimIdempotencyKey(rec), { claimed: false, existing: { ...rec, status_code: 200, response_body: '{"ok":true}' } });
      await store.releaseIdempotencyKey('user_1', 'k-1');
      assert.deepEqual(await store.claimIdempotencyKey({ ...rec, created_at: isoNow() }), { claimed: true });
      assert.equal(await store.purgeIdempotencyKeys('2025-06-01T00:00:00.000Z'), 1, 'only the old user_2 key');
      assert.equal((await store.claimIdempotencyKey(rec)).claimed, false);
    });

    test('a server releases only its own keys still in flight: answered keys and other servers\' stay', async () => {
      const store = await freshStore();
      const key = (scope: string, k: string, server_id: string | null) => ({ scope, key: k, request_hash: 'h', status_code: null, response_body: null, server_id, created_at: isoNow() });
      const cut = key('user_1', 'cut', 'server_a');
      const answered = key('user_1', 'answered', 'server_a');
      const elsewhere = key('user_1', 'elsewhere', 'server_b');
      const legacy = key('user_2', 'legacy', null);
      for (const rec of [cut, answered, elsewhere, legacy]) assert.deepEqual(await store.claimIdempotencyKey(rec), { claimed: true });
      await store.completeIdempotencyKey('user_1', 'answered', 201, '{"ok":true}');
      assert.equal(await store.releaseInFlightIdempotencyKeys('server_a'), 1);
      assert.deepEqual(await store.claimIdempotencyKey({ ...cut, server_id: 'server_c' }), { claimed: true }, 'the cut key can be claimed again');
      assert.deepEqual(await store.claimIdempotencyKey(answered), { claimed: false, existing: { ...answered, status_code: 201, response_body: '{"ok":true}' } });
      assert.deepEqual(await store.claimIdempotencyKey(elsewhere), { claimed: false, existing: elsewhere }, 'another server may still be answering it');
      assert.deepEqual(await store.claimIdempotencyKey(legacy), { claimed: false, existing: legacy });
      assert.equal(await store.releaseInFlightIdempotencyKeys('server_a'), 0, 'nothing more to release');
    });

    test('a create past the owner\'s container cap is refused with ContainerLimitError and inserts nothing, also when creates race', async () => {
      const store = await freshStore();
      const { project, server, user } = await created(store);
      const ownerLimit = { owner_id: user.id, max: 3 };
      const other = await seed(store, 'bob');
      await store.createContainer(containerRecord({ name: 'bobs', project_id: other.project.id, server_id: server.id }), undefined, { ownerLimit: { owner_id: other.user.id, max: 1 } });
      const attempts = await Promise.allSettled(
        ['a', 'b', 'c', 'd'].map((name) => store.createContainer(containerRecord({ name, project_id: project.id, server_id: server.id }), logEntry('creating', 'stopped'), { ownerLimit })),
      );
      assert.equal(attempts.filter((a) => a.status === 'fulfilled').length, 2, 'web plus two more make three');
      const refused = attempts.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
      assert.equal(refused.length, 2);
      for (const r of refused) {
        assert.ok(r.reason instanceof ContainerLimitError, String(r.reason));
        assert.deepEqual([r.reason.count, r.reason.max], [3, 3]);
      }
      assert.equal(await store.countContainers({ owner_id: user.id }), 3);
      assert.equal(await store.countContainers({ owner_id: other.user.id }), 1, 'another owner is counted apart');
    });

    test('lists containers a page at a time, oldest first, and counts them with the same filter', async () => {
      const store = await freshStore();
      const { project, server, user, container: web } = await created(store, { created_at: '2025-01-01T00:00:00.000Z' });
      const more = ['b', 'c', 'd', 'e'].map((name, i) => containerRecord({ name, project_id: project.id, server_id: server.id, created_at: `2025-01-0${i + 2}T00:00:00.000Z`, status: i % 2 ? 'running' : 'stopped' }));
      for (const c of more) await store.createContainer(c);
      const all = [web, ...more].map((c) => c.id);
      assert.deepEqual((await store.listContainers({ owner_id: user.id }, { limit: 2, offset: 0 })).map((c) => c.id), all.slice(0, 2));
      assert.deepEqual((await store.listContainers({ owner_id: user.id }, { limit: 2, offset: 4 })).map((c) => c.id), all.slice(4));
      assert.deepEqual(await store.listContainers({ owner_id: user.id }, { limit: 2, offset: 6 }), []);
      assert.equal(await store.countContainers({ owner_id: user.id }), 5);
      assert.equal(await store.countContainers({ owner_id: user.id, status: 'running' }), 2);
      assert.equal(await store.countContainers({ owner_id: 'user_nobody' }), 0);
    });

    test('counts one server\'s containers by status in one query, and nothing of another server\'s', async () => {
      const store = await freshStore();
      const { project, server } = await created(store, { status: 'running' });
      const other = { ...server, id: newId(), name: 'node-2' };
      await store.upsertServer(other);
      const more: [string, ContainerRecord['status'], string][] = [
        ['b', 'running', server.id],
        ['c', 'paused', server.id],
        ['d', 'stopped', server.id],
        ['e', 'running', other.id],
        ['f', 'failed', other.id],
      ];
      for (const [name, status, serverId] of more) await store.createContainer(containerRecord({ name, project_id: project.id, server_id: serverId, status }));
      assert.deepEqual(await store.countContainersByStatus(server.id), { running: 2, paused: 1, stopped: 1 });
      assert.deepEqual(await store.countContainersByStatus(other.id), { running: 1, failed: 1 });
      assert.deepEqual(await store.countContainersByStatus(newId()), {}, 'a server with no containers has no statuses');
    });

    test('keeps a container\'s restart history apart from its record: no version bump, pending restarts listed per server', async () => {
      const store = await freshStore();
      const { container, server, project } = await created(store);
      assert.deepEqual(await store.getRestartHistory(container.id), { attempts: 0, last_started_at: null, restart_due_at: null });
      const before = await store.getContainer(container.id);
      await store.saveRestartHistory(container.id, { last_started_at: '2025-01-01T00:00:00.000Z' });
      await store.saveRestartHistory(container.id, { attempts: 2, restart_due_at: '2025-01-01T00:00:05.000Z' });
      assert.deepEqual(await store.getRestartHistory(container.id), { attempts: 2, last_started_at: '2025-01-01T00:00:00.000Z', restart_due_at: '2025-01-01T00:00:05.000Z' });
      assert.deepEqual(await store.getContainer(container.id), before, 'the record and its version are unchanged');
      const elsewhere = containerRecord({ name: 'db', project_id: project.id, server_id: (await seed(store, 'carol')).server.id });
      await store.createContainer(elsewhere);
      await store.saveRestartHistory(elsewhere.id, { attempts: 1, restart_due_at: '2025-01-01T00:00:01.000Z' });
      assert.deepEqual(await store.listPendingRestarts(server.id), [{ id: container.id, attempts: 2, restart_due_at: '2025-01-01T00:00:05.000Z' }]);
      await store.saveRestartHistory(container.id, { restart_due_at: null });
      assert.deepEqual(await store.listPendingRestarts(server.id), []);
      assert.equal((await store.getRestartHistory(container.id))?.attempts, 2, 'only the named field changed');
      assert.equal(await store.getRestartHistory(newId()), undefined);
    });

    test('a container\'s network reads back as written: mode, address and published ports', async () => {
      const store = await freshStore();
      const s = await seed(store);
      const ports = [
        { container_port: 80, host_port: 20080, protocol: 'tcp' as const, host_ip: '0.0.0.0' },
        { container_port: 53, host_port: 20053, protocol: 'udp' as const, host_ip: '127.0.0.1' },
      ];
      const web = containerRecord({ name: 'web', project_id: s.project.id, server_id: s.server.id, network_mode: 'bridge', ipv4_address: '10.210.0.2', ports });
      await store.createContainer(web, logEntry('creating', 'stopped'));
      assert.deepEqual(await store.getContainer(web.id), web);
      assert.deepEqual(await store.takenAddresses(s.server.id), ['10.210.0.2']);
      assert.deepEqual(await store.takenHostPorts(s.server.id), [
        { protocol: 'tcp', host_port: 20080, container_id: web.id },
        { protocol: 'udp', host_port: 20053, container_id: web.id },
      ]);
      // another server's containers hold their own addresses and ports
      assert.deepEqual(await store.takenAddresses(newId()), []);
      assert.deepEqual(await store.takenHostPorts(newId()), []);
    });

    test('an address or a host port another container of the server holds is refused and nothing of the new container is written', async () => {
      const store = await freshStore();
      const s = await seed(store);
      const port = { container_port: 80, host_port: 20080, protocol: 'tcp' as const, host_ip: '0.0.0.0' };
      const web = containerRecord({ name: 'web', project_id: s.project.id, server_id: s.server.id, network_mode: 'bridge', ipv4_address: '10.210.0.2', ports: [port] });
      await store.createContainer(web, logEntry('creating', 'stopped'));
      const sameAddress = containerRecord({ name: 'twin', project_id: s.project.id, server_id: s.server.id, network_mode: 'bridge', ipv4_address: '10.210.0.2' });
      await assert.rejects(store.createContainer(sameAddress, logEntry('creating', 'stopped')), (err: unknown) => err instanceof AddressTakenError && err.address === '10.210.0.2');
      const samePort = containerRecord({ name: 'thief', project_id: s.project.id, server_id: s.server.id, network_mode: 'bridge', ipv4_address: '10.210.0.3', ports: [{ ...port, container_port: 8080, host_ip: '127.0.0.1' }] });
      await assert.rejects(store.createContainer(samePort, logEntry('creating', 'stopped')), (err: unknown) => err instanceof PortTakenError && err.hostPort === 20080 && err.protocol === 'tcp');
      assert.equal(await store.getContainer(sameAddress.id), undefined);
      assert.equal(await store.getContainer(samePort.id), undefined);
      assert.equal((await store.listStatusLogs(samePort.id, { page: 1, limit: 10, sort_order: 'asc' })).total, 0);
      assert.deepEqual(await store.takenAddresses(s.server.id), ['10.210.0.2']);
      assert.deepEqual((await store.takenHostPorts(s.server.id)).map((p) => p.container_id), [web.id]);
      // the same port number with the other protocol, and the same address and port on another server, are free
      const udp = containerRecord({ name: 'dns', project_id: s.project.id, server_id: s.server.id, network_mode: 'bridge', ipv4_address: '10.210.0.3', ports: [{ ...port, protocol: 'udp' }] });
      await store.createContainer(udp, logEntry('creating', 'stopped'));
      const other = await seed(store, 'bob');
      const elsewhere = containerRecord({ name: 'web', project_id: other.project.id, server_id: other.server.id, network_mode: 'bridge', ipv4_address: '10.210.0.2', ports: [port] });
      await store.createContainer(elsewhere, logEntry('creating', 'stopped'));
      // containers without an address do not clash with each other
      for (const name of ['lone-1', 'lone-2']) await store.createContainer(containerRecord({ name, project_id: s.project.id, server_id: s.server.id }), logEntry('creating', 'stopped'));
    });

    test('of concurrent creates asking for one address and one host port, exactly one wins each', async () => {
      const place = await freshPlace();
      // two daemons on PostgreSQL; on SQLite one store (two in one process would wait on each other's write lock in a blocking busy handler)
      const a = await open(place);
      const b = backend.name === 'PostgreSQL' ? await open(place) : a;
      const s = await seed(a);
      const port = { container_port: 80, host_port: 20080, protocol: 'tcp' as const, host_ip: '0.0.0.0' };
      const attempts = Array.from({ length: 8 }, (_, i) =>
        (i % 2 ? a : b).createContainer(
          containerRecord({ name: `web-${i}`, project_id: s.project.id, server_id: s.server.id, network_mode: 'bridge', ipv4_address: i < 4 ? '10.210.0.2' : `10.210.0.${10 + i}`, ports: i < 4 ? [] : [port] }),
          logEntry('creating', 'stopped'),
        ),
      );
      const outcomes = await Promise.allSettled(attempts);
      const addressRace = outcomes.slice(0, 4);
      const portRace = outcomes.slice(4);
      assert.equal(addressRace.filter((o) => o.status === 'fulfilled').length, 1);
      assert.ok(addressRace.every((o) => o.status === 'fulfilled' || o.reason instanceof AddressTakenError));
      assert.equal(portRace.filter((o) => o.status === 'fulfilled').length, 1);
      assert.ok(portRace.every((o) => o.status === 'fulfilled' || o.reason instanceof PortTakenError));
      assert.equal((await a.takenHostPorts(s.server.id)).length, 1);
      assert.equal((await a.takenAddresses(s.server.id)).length, 2);
    });

    test('updating ports replaces the container\'s host ports in one transaction; a clash changes nothing; delete frees them', async () => {
      const store = await freshStore();
      const s = await seed(store);
      const p = (host_port: number, container_port = 80) => ({ container_port, host_port, protocol: 'tcp' as const, host_ip: '0.0.0.0' });
      const web = containerRecord({ name: 'web', project_id: s.project.id, server_id: s.server.id, network_mode: 'bridge', ipv4_address: '10.210.0.2', ports: [p(20080)] });
      const api = containerRecord({ name: 'api', project_id: s.project.id, server_id: s.server.id, network_mode: 'bridge', ipv4_address: '10.210.0.3', ports: [p(20090)] });
      await store.createContainer(web, logEntry('creating', 'stopped'));
      await store.createContainer(api, logEntry('creating', 'stopped'));
      const moved = await store.updateContainer(web.id, { ports: [p(20081), p(20082, 443)] });
      assert.deepEqual(moved?.ports, [p(20081), p(20082, 443)]);
      // the port it gave up is free for another container now
      await store.updateContainer(api.id, { ports: [p(20090), p(20080)] });
      await assert.rejects(store.updateContainer(web.id, { ports: [p(20090)], name: 'renamed' }), PortTakenError);
      const kept = await store.getContainer(web.id);
      assert.equal(kept?.name, 'web');
      assert.deepEqual(kept?.ports, [p(20081), p(20082, 443)]);
      assert.deepEqual((await store.takenHostPorts(s.server.id)).map((r) => `${r.host_port}:${r.container_id === web.id ? 'web' : 'api'}`), ['20080:api', '20081:web', '20082:web', '20090:api']);
      // an address another container has is refused on update too
      await assert.rejects(store.updateContainer(web.id, { ipv4_address: '10.210.0.3' }), AddressTakenError);
      // to network none: no address, no ports
      const none = await store.updateContainer(web.id, { network_mode: 'none', ipv4_address: null, ports: [] });
      assert.equal(none?.network_mode, 'none');
      assert.equal(none?.ipv4_address, null);
      assert.deepEqual(await store.takenAddresses(s.server.id), ['10.210.0.3']);
      await store.deleteContainer(api.id);
      assert.deepEqual(await store.takenHostPorts(s.server.id), []);
      assert.deepEqual(await store.takenAddresses(s.server.id), []);
    });

    test('a service label is held by one container of a server: a clash on create or update writes nothing, delete frees it', async () => {
      const store = await freshStore();
      const s = await seed(store);
      const web = { name: 'web', port: 8080, index: 1, public: false };
      const blue = containerRecord({ name: 'blue', project_id: s.project.id, server_id: s.server.id, programs: [web], service_labels: ['shop-blue-web-1'] });
      await store.createContainer(blue, logEntry('creating', 'stopped'));
      assert.deepEqual(await store.getContainer(blue.id), blue);
      const twin = containerRecord({ name: 'twin', project_id: s.project.id, server_id: s.server.id, programs: [web], service_labels: ['shop-twin-web-1', 'shop-blue-web-1'] });
      await assert.rejects(store.createContainer(twin, logEntry('creating', 'stopped')), (err: unknown) => err instanceof ServiceNameTakenError && err.label === 'shop-blue-web-1');
      assert.equal(await store.getContainer(twin.id), undefined);
      // the same label on another server is another host name
      const other = await seed(store, 'bob');
      await store.createContainer(containerRecord({ name: 'blue', project_id: other.project.id, server_id: other.server.id, programs: [web], service_labels: ['shop-blue-web-1'] }), logEntry('creating', 'stopped'));
      const green = containerRecord({ name: 'green', project_id: s.project.id, server_id: s.server.id, programs: [web], service_labels: ['shop-green-web-1'] });
      await store.createContainer(green, logEntry('creating', 'stopped'));
      await assert.rejects(store.updateContainer(green.id, { name: 'teal', service_labels: ['shop-blue-web-1'] }), ServiceNameTakenError);
      assert.equal((await store.getContainer(green.id))?.name, 'green');
      const renamed = await store.updateContainer(blue.id, { name: 'azure', service_labels: ['shop-azure-web-1'] });
      assert.deepEqual(renamed?.service_labels, ['shop-azure-web-1']);
      // the label blue gave up is free now
      assert.deepEqual((await store.updateContainer(green.id, { service_labels: ['shop-blue-web-1'] }))?.service_labels, ['shop-blue-web-1']);
      await store.deleteContainer(green.id);
      await store.createContainer(containerRecord({ name: 'cyan', project_id: s.project.id, server_id: s.server.id, programs: [web], service_labels: ['shop-blue-web-1'] }), logEntry('creating', 'stopped'));
    });

    test('moveContainer hands a container to another server under its claim: row, ports, labels, aliases and a log row at once; a clash or a stale claim writes nothing', async () => {
      const store = await freshStore();
      const a = await seed(store);
      const b = await seed(store, 'bob');
      const p = (host_port: number) => ({ container_port: 80, host_port, protocol: 'tcp' as const, host_ip: '0.0.0.0' });
      const web = { name: 'web', port: 8080, index: 1, public: false };
      const c = containerRecord({ name: 'mover', project_id: a.project.id, server_id: a.server.id, network_mode: 'bridge', ipv4_address: '10.210.0.2', ports: [p(21080)], programs: [web], service_labels: ['shop-mover-web-1'] });
      await store.createContainer(c, logEntry('creating', 'stopped'));
      await store.createProxyAlias({ id: newId(), alias: 'moving', container_id: c.id, server_id: a.server.id, program: 'web', index: 1, target_path: '/', public: false, created_by: 'u', created_at: isoNow() });
      // b's server holds the port: the hand-over is refused whole
      const squatter = containerRecord({ name: 'squatter', project_id: b.project.id, server_id: b.server.id, network_mode: 'bridge', ipv4_address: '10.210.0.2', ports: [p(21080)] });
      await store.createContainer(squatter, logEntry('creating', 'stopped'));
      const claim = op('move');
      assert.equal((await store.beginOperation(c.id, claim))?.claimed, true);
      const move = () => store.moveContainer(c.id, { operation_id: claim.id, from_server: a.server.id, to_server: b.server.id, log: logEntry('stopped', 'stopped') });
      await assert.rejects(move(), PortTakenError);
      assert.equal((await store.getContainer(c.id))?.server_id, a.server.id);
      assert.equal((await store.listStatusLogs(c.id, { page: 1, limit: 10, sort_order: 'asc' })).total, 1);
      await store.deleteContainer(squatter.id);
      // another claim, or the wrong source, moves nothing
      assert.equal(await store.moveContainer(c.id, { operation_id: newId(), from_server: a.server.id, to_server: b.server.id, log: logEntry('stopped', 'stopped') }), undefined);
      assert.equal(await store.moveContainer(c.id, { operation_id: claim.id, from_server: b.server.id, to_server: a.server.id, log: logEntry('stopped', 'stopped') }), undefined);
      const moved = await move();
      assert.equal(moved?.server_id, b.server.id);
      assert.equal(moved?.ipv4_address, null, 'an address is given anew on the new server');
      assert.equal(moved?.current_operation, null);
      assert.equal(moved?.version, c.version + 1, 'the hand-over raises the version (a claim does not)');
      assert.deepEqual((await store.listProxyAliases({ server_id: b.server.id })).map((x) => x.alias), ['moving']);
      assert.equal((await store.listStatusLogs(c.id, { page: 1, limit: 10, sort_order: 'asc' })).total, 2);
      // its port and label are b's now, free on a
      const taker = containerRecord({ name: 'taker', project_id: a.project.id, server_id: a.server.id, network_mode: 'bridge', ipv4_address: '10.210.0.3', ports: [p(21080)], programs: [web], service_labels: ['shop-mover-web-1'] });
      await store.createContainer(taker, logEntry('creating', 'stopped'));
      await assert.rejects(store.createContainer(containerRecord({ name: 'late', project_id: b.project.id, server_id: b.server.id, network_mode: 'bridge', ipv4_address: '10.210.0.4', ports: [p(21080)] }), logEntry('creating', 'stopped')), PortTakenError);
    });

    test('snapshot replicas: recorded once, listed by snapshot, server and container; gone with their snapshot or container; a move makes the new server\'s its own', async () => {
      const store = await freshStore();
      const a = await seed(store);
      const b = await seed(store, 'bob');
      const c3 = await seed(store, 'carol');
      const c = containerRecord({ name: 'kept', project_id: a.project.id, server_id: a.server.id });
      await store.createContainer(c, logEntry('creating', 'stopped'));
      const config = { container_image: 'busybox', image_id: null, command: ['sleep', '1'], environment_vars: {}, autostart: false, hoody_kit: false, resources: c.resources, stop_timeout: 10, restart_policy: 'no' as const, programs: [] };
      const snap = (alias: string) => ({ id: newId(), container_id: c.id, server_id: a.server.id, alias, image_id: null, container_image: 'busybox', config, files: 1, content_bytes: 1, size_bytes: 4096, frozen_ms: null, created_by: a.user.id, created_at: isoNow() });
      const [s1, s2] = [snap('one'), snap('two')];
      await store.createSnapshot(s1);
      await store.createSnapshot(s2);
      const at = (n: number) => `2026-01-01T00:00:0${n}.000Z`;
      assert.equal(await store.addSnapshotReplica({ snapshot_id: s1.id, server_id: b.server.id, created_at: at(1) }), true);
      assert.equal(await store.addSnapshotReplica({ snapshot_id: s1.id, server_id: b.server.id, created_at: at(2) }), true, 'recorded again: nothing changes');
      assert.equal(await store.addSnapshotReplica({ snapshot_id: s2.id, server_id: c3.server.id, created_at: at(3) }), true);
      assert.equal(await store.addSnapshotReplica({ snapshot_id: s1.id, server_id: c3.server.id, created_at: at(4) }), true);
      assert.equal(await store.addSnapshotReplica({ snapshot_id: newId(), server_id: b.server.id, created_at: at(5) }), false, 'a snapshot that is gone');
      const pairs = (rs: Array<{ snapshot_id: string; server_id: string }>) => rs.map((r) => `${r.snapshot_id === s1.id ? 'one' : 'two'}@${r.server_id === b.server.id ? 'b' : r.server_id === c3.server.id ? 'c' : 'a'}`);
      assert.deepEqual(pairs(await store.listSnapshotReplicas({ container_id: c.id })), ['one@b', 'two@c', 'one@c']);
      assert.deepEqual((await store.listSnapshotReplicas({ server_id: b.server.id }))[0]?.created_at, at(1));
      assert.deepEqual(pairs(await store.listSnapshotReplicas({ snapshot_id: s2.id })), ['two@c']);
      assert.deepEqual(await store.listSnapshotReplicas({ container_id: newId() }), []);
      // moved to b: the snapshots are b's, b's replica of one is no longer a replica; c's stay
      const claim = op('move');
      assert.equal((await store.beginOperation(c.id, claim))?.claimed, true);
      assert.ok(await store.moveContainer(c.id, { operation_id: claim.id, from_server: a.server.id, to_server: b.server.id, log: logEntry('stopped', 'stopped') }));
      assert.deepEqual((await store.listSnapshots({ container_id: c.id })).map((x) => x.server_id), [b.server.id, b.server.id]);
      assert.deepEqual(pairs(await store.listSnapshotReplicas({ container_id: c.id })), ['two@c', 'one@c']);
      // moved on to c: a snapshot still recorded on another server (a's) keeps its replica on c
      const kept = snap('kept-elsewhere');
      await store.createSnapshot(kept);
      await store.addSnapshotReplica({ snapshot_id: kept.id, server_id: c3.server.id, created_at: at(7) });
      const onward = op('move');
      assert.equal((await store.beginOperation(c.id, onward))?.claimed, true);
      assert.ok(await store.moveContainer(c.id, { operation_id: onward.id, from_server: b.server.id, to_server: c3.server.id, log: logEntry('stopped', 'stopped') }));
      assert.deepEqual((await store.listSnapshotReplicas({ container_id: c.id })).map((r) => r.snapshot_id), [kept.id], 'c\'s replicas of b\'s snapshots are c\'s own now; the other one stays a replica');
      assert.equal((await store.getSnapshot(kept.id))?.server_id, a.server.id);
      assert.equal(await store.deleteSnapshot(kept.id), true);
      await store.addSnapshotReplica({ snapshot_id: s1.id, server_id: a.server.id, created_at: at(8) });
      assert.equal(await store.deleteSnapshotReplica(s1.id, a.server.id), true);
      assert.equal(await store.deleteSnapshotReplica(s1.id, a.server.id), false);
      assert.equal(await store.deleteSnapshot(s2.id), true);
      assert.deepEqual(await store.listSnapshotReplicas({}), [], 'a deleted snapshot\'s replicas go with it');
      const s3 = snap('three');
      await store.createSnapshot({ ...s3, server_id: b.server.id });
      await store.addSnapshotReplica({ snapshot_id: s3.id, server_id: a.server.id, created_at: at(6) });
      await store.deleteContainer(c.id);
      assert.deepEqual(await store.listSnapshotReplicas({}), [], 'so do a deleted container\'s');
    });

    test('claimForRecovery takes a lost server\'s container once, over its stale claim, only while its heartbeat is old; a recovery hand-over is refused once it is fresh again', async () => {
      const store = await freshStore();
      const lost = await seed(store);
      const b = await seed(store, 'bob');
      const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
      await store.touchServer(lost.server.id, iso(60_000), { containers: 1, running: 1, memory_mb: 0 });
      const c = containerRecord({ name: 'lost-one', project_id: lost.project.id, server_id: lost.server.id });
      await store.createContainer(c, logEntry('creating', 'running'));
      // the lost server's own claim, left when it died
      assert.equal((await store.beginOperation(c.id, op('stop')))?.claimed, true);
      const claim = (opts: { staleBefore?: string; claimStaleBefore?: string; from?: string } = {}) =>
        store.claimForRecovery(c.id, { from_server: opts.from ?? lost.server.id, operation_id: newId(), started_at: isoNow(), stale_before: opts.staleBefore ?? iso(15_000), claim_stale_before: opts.claimStaleBefore ?? iso(600_000) });
      assert.equal(await claim({ staleBefore: iso(120_000) }), undefined, 'its heartbeat is not older than that');
      assert.equal(await claim({ from: b.server.id }), undefined, 'not on that server');
      const first = await claim();
      assert.equal(first?.current_operation?.operation, 'recover');
      assert.equal(await claim(), undefined, 'one recovery at a time');
      const taken = await claim({ claimStaleBefore: iso(-60_000) });
      assert.ok(taken && taken.current_operation?.id !== first?.current_operation?.id, 'a recovery claim older than the bound is taken over');
      // swapClaim: only the claim that holds it is renewed or given back
      const held = taken!.current_operation!;
      assert.equal(await store.swapClaim(c.id, first!.current_operation!.id, null), false, 'a claim taken over no longer holds it');
      const renewedAt = isoNow();
      assert.equal(await store.swapClaim(c.id, held.id, { ...held, started_at: renewedAt }), true);
      assert.equal((await store.getContainer(c.id))?.current_operation?.started_at, renewedAt);
      const given = { id: newId(), operation: 'stop', started_at: iso(90_000) };
      assert.equal(await store.swapClaim(c.id, held.id, given), true);
      assert.deepEqual((await store.getContainer(c.id))?.current_operation, given);
      assert.equal(await store.swapClaim(c.id, given.id, held), true);
      // the lost server came back before the hand-over: nothing is written
      const config = { container_image: 'busybox', image_id: null, command: ['sleep', '1'], environment_vars: {}, autostart: false, hoody_kit: false, resources: c.resources, stop_timeout: 10, restart_policy: 'no' as const };
      const handOver = (staleBefore: string) =>
        store.moveContainer(c.id, { operation_id: taken!.current_operation!.id, from_server: lost.server.id, to_server: b.server.id, log: logEntry('running', 'stopped'), recovery: { config, snapshot_ids: [], stale_before: staleBefore } });
      await store.touchServer(lost.server.id, iso(0), { containers: 1, running: 1, memory_mb: 0 });
      assert.equal(await handOver(iso(15_000)), undefined);
      assert.equal((await store.getContainer(c.id))?.server_id, lost.server.id);
      await store.touchServer(lost.server.id, iso(60_000), { containers: 1, running: 1, memory_mb: 0 });
      const moved = await handOver(iso(15_000));
      assert.deepEqual([moved?.server_id, moved?.status, moved?.current_operation], [b.server.id, 'stopped', null]);
    });

    test('proxy aliases: unique names, listed by owner, container and server, deleted with their container', async () => {
      const store = await freshStore();
      const s = await seed(store);
      const bob = await seed(store, 'bob');
      const blue = containerRecord({ name: 'blue', project_id: s.project.id, server_id: s.server.id });
      const other = containerRecord({ name: 'other', project_id: bob.project.id, server_id: s.server.id });
      await store.createContainer(blue, logEntry('creating', 'stopped'));
      await store.createContainer(other, logEntry('creating', 'stopped'));
      const alias = (name: string, c: ContainerRecord) => ({ id: newId(), alias: name, container_id: c.id, server_id: c.server_id, program: 'web', index: 1, target_path: '/', public: false, created_by: 'u', created_at: isoNow() });
      const prod = alias('prod', blue);
      await store.createProxyAlias(prod);
      assert.deepEqual(await store.getProxyAlias(prod.id), prod);
      await assert.rejects(store.createProxyAlias(alias('prod', other)), (err: unknown) => err instanceof AliasTakenError && err.alias === 'prod');
      const bobs = alias('bobs', other);
      await store.createProxyAlias(bobs);
      assert.deepEqual((await store.listProxyAliases({ owner_id: s.user.id })).map((a) => a.alias), ['prod']);
      assert.deepEqual((await store.listProxyAliases({ container_id: other.id })).map((a) => a.alias), ['bobs']);
      assert.deepEqual((await store.listProxyAliases({ server_id: s.server.id })).map((a) => a.alias).sort(), ['bobs', 'prod']);
      assert.equal(await store.deleteProxyAlias(prod.id), true);
      assert.equal(await store.deleteProxyAlias(prod.id), false);
      await store.createProxyAlias(alias('prod', blue));
      await store.deleteContainer(other.id);
      assert.equal(await store.getProxyAlias(bobs.id), undefined);
      assert.deepEqual((await store.listProxyAliases({})).map((a) => a.alias), ['prod']);
    });

    test('snapshots: aliases unique per container, listed oldest first by container and server, deleted with their container', async () => {
      const store = await freshStore();
      const s = await seed(store);
      const blue = containerRecord({ name: 'blue', project_id: s.project.id, server_id: s.server.id });
      const green = containerRecord({ name: 'green', project_id: s.project.id, server_id: s.server.id });
      await store.createContainer(blue, logEntry('creating', 'stopped'));
      await store.createContainer(green, logEntry('creating', 'stopped'));
      const config = { container_image: 'busybox', image_id: null, command: ['sleep', '1'], environment_vars: { A: 'b' }, autostart: true, hoody_kit: false, resources: blue.resources, stop_timeout: 10, restart_policy: 'no' as const, programs: [] };
      let t = Date.parse('2026-01-01T00:00:00.000Z');
      const snap = (c: ContainerRecord, alias: string | null) => ({
        id: newId(),
        container_id: c.id,
        server_id: c.server_id,
        alias,
        image_id: 'sha256:' + 'a'.repeat(64),
        container_image: 'busybox',
        config,
        files: 3,
        // past 2^32: PostgreSQL answers bigint as text
        content_bytes: 5_000_000_000,
        size_bytes: 4096,
        frozen_ms: 12.5,
        created_by: s.user.id,
        created_at: new Date((t += 1000)).toISOString(),
      });
      const first = snap(blue, 'pre-deploy');
      await store.createSnapshot(first);
      assert.deepEqual(await store.getSnapshot(first.id), first);
      await assert.rejects(store.createSnapshot(snap(blue, 'pre-deploy')), (err: unknown) => err instanceof SnapshotAliasTakenError && err.alias === 'pre-deploy');
      // another container may use the alias; many snapshots may have none
      await store.createSnapshot(snap(green, 'pre-deploy'));
      const unnamed = { ...snap(blue, null), frozen_ms: null };
      await store.createSnapshot(unnamed);
      await store.createSnapshot(snap(blue, null));
      assert.deepEqual((await store.listSnapshots({ container_id: blue.id })).map((x) => x.alias), ['pre-deploy', null, null]);
      assert.equal((await store.getSnapshot(unnamed.id))?.frozen_ms, null);
      assert.equal((await store.listSnapshots({ server_id: s.server.id })).length, 4);
      assert.equal(await store.deleteSnapshot(first.id), true);
      assert.equal(await store.deleteSnapshot(first.id), false);
      await store.createSnapshot(snap(blue, 'pre-deploy'));
      // a restore writes the snapshot's configuration with its log row, in one write
      const restored = await store.transition(blue.id, {
        to_status: 'stopped',
        log: logEntry('stopped', 'stopped'),
        config: { ...config, command: ['echo', 'v1'], environment_vars: { V: '1' }, autostart: false, hoody_kit: true, stop_timeout: 3, restart_policy: 'always', container_image: 'example.com/app:1', image_id: 'sha256:' + 'b'.repeat(64) },
      });
      assert.deepEqual(
        [restored?.command, restored?.environment_vars, restored?.autostart, restored?.hoody_kit, restored?.stop_timeout, restored?.restart_policy, restored?.container_image, restored?.image_id],
        [['echo', 'v1'], { V: '1' }, false, true, 3, 'always', 'example.com/app:1', 'sha256:' + 'b'.repeat(64)],
      );
      assert.deepEqual((await store.getContainer(blue.id))?.command, ['echo', 'v1']);
      await store.deleteContainer(blue.id);
      assert.deepEqual((await store.listSnapshots({})).map((x) => x.container_id), [green.id]);
    });

    test('containers written before networks existed read as network none with no address and no ports', async () => {
      const place = await freshPlace();
      const store = await open(place);
      const { container } = await created(store);
      await rawSql(place, [
        ...UNDO_NETWORK,
        "delete from kysely_migration where name >= '0008'",
      ]);
      await store.migrate();
      const read = await store.getContainer(container.id);
      assert.equal(read?.network_mode, 'none');
      assert.equal(read?.ipv4_address, null);
      assert.deepEqual(read?.ports, []);
    });

    test('kit containers made when the kit had one terminal get the host labels of terminal-2, terminal-3 and display-1', async () => {
      const place = await freshPlace();
      const store = await open(place);
      const s = await seed(store);
      const make = async (fields: Pick<ContainerRecord, 'name'> & Partial<ContainerRecord>): Promise<ContainerRecord> => {
        const c = containerRecord({ project_id: s.project.id, server_id: s.server.id, ...fields });
        await store.createContainer(c, logEntry('creating', c.status, { operation: 'create' }));
        return c;
      };
      const programs = [{ name: 'web', port: 8080, index: 1, public: false }];
      const kit = await make({ name: 'desk', hoody_kit: true, programs, service_labels: ['p-desk-web-1', 'p-desk-terminal-1'] });
      // a label the migration would give is another container's already: that one is left empty
      const other = await make({ name: 'other', service_labels: ['p-desk-terminal-3'] });
      const plain = await make({ name: 'plain', programs, service_labels: ['p-plain-web-1'] });
      await rawSql(place, ["delete from kysely_migration where name >= '0013'"]);
      await store.migrate();
      assert.deepEqual((await store.getContainer(kit.id))?.service_labels, ['p-desk-web-1', 'p-desk-terminal-1', 'p-desk-terminal-2', '', 'p-desk-display-1']);
      assert.deepEqual((await store.getContainer(other.id))?.service_labels, ['p-desk-terminal-3']);
      assert.deepEqual((await store.getContainer(plain.id))?.service_labels, ['p-plain-web-1']);
      // the new labels are held: another container cannot take them
      await assert.rejects(make({ name: 'thief', service_labels: ['p-desk-display-1'] }), ServiceNameTakenError);
    });

    test('upsertServer inserts a server, then updates it in place keeping created_at', async () => {
      const store = await freshStore();
      const server: ServerRecord = { id: newId(), name: 'node-1', status: 'ready', runtime: 'runc', last_seen_at: '2025-01-01T00:00:00.000Z', created_at: '2025-01-01T00:00:00.000Z', advertise_url: null, proxy_url: null, version: null, capacity: null, usage: null };
      await store.upsertServer(server);
      assert.deepEqual(await store.getServer(server.id), server);
      const seen: ServerRecord = {
        ...server,
        name: 'node-one',
        status: 'maintenance',
        runtime: 'runc 1.2',
        last_seen_at: isoNow(),
        created_at: isoNow(),
        advertise_url: 'http://10.0.0.5:8080',
        proxy_url: 'http://10.0.0.5:8081',
        version: '0.2.0',
        capacity: { cpus: 8, memory_mb: 32_000 },
        usage: { containers: 3, running: 2, memory_mb: 1024 },
      };
      await store.upsertServer(seen);
      assert.deepEqual(await store.getServer(server.id), { ...seen, created_at: server.created_at });
      assert.deepEqual(await store.listServers(), [{ ...seen, created_at: server.created_at }]);
      assert.equal(await store.getServer(newId()), undefined);
    });

    test('a heartbeat writes when the server was seen and its usage, and leaves its status; status is set alone', async () => {
      const store = await freshStore();
      const server: ServerRecord = { id: newId(), name: 'node-1', status: 'maintenance', runtime: 'runc', last_seen_at: '2025-01-01T00:00:00.000Z', created_at: '2025-01-01T00:00:00.000Z', advertise_url: 'http://10.0.0.5:8080', proxy_url: null, version: '0.2.0', capacity: { cpus: 2, memory_mb: 4096 }, usage: null };
      await store.upsertServer(server);
      const now = isoNow();
      assert.equal(await store.touchServer(server.id, now, { containers: 5, running: 1, memory_mb: 512 }), true);
      assert.deepEqual(await store.getServer(server.id), { ...server, last_seen_at: now, usage: { containers: 5, running: 1, memory_mb: 512 } });
      assert.equal(await store.setServerStatus(server.id, 'ready'), true);
      assert.equal((await store.getServer(server.id))?.status, 'ready');
      assert.equal(await store.touchServer(newId(), now, { containers: 0, running: 0, memory_mb: 0 }), false);
      assert.equal(await store.setServerStatus(newId(), 'offline'), false);
    });
  });
}

describe('openStore', () => {
  const dirs: string[] = [];
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'hoody-store-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  it('refuses a database URL that is not PostgreSQL without echoing its password', async () => {
    const dataDir = await tempDir();
    await assert.rejects(openStore({ dataDir, databaseUrl: 'mysql://root:s3cret@db/hoody' }), (err: Error) => {
      assert.match(err.message, /"mysql:" is not supported/);
      assert.ok(!err.message.includes('s3cret'));
      return true;
    });
  });

  it('keeps the SQLite database at <data-dir>/hoody.db in WAL mode, creating the data dir', async () => {
    const dataDir = join(await tempDir(), 'nested', 'data');
    const store = await openStore({ dataDir, databaseUrl: '' });
    await store.close();
    await access(join(dataDir, 'hoody.db'));
    const db = new BetterSqlite3(join(dataDir, 'hoody.db'), { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      db.close();
    }
  });

  it('reads one container\'s status log total and pages through the (container_id, ordinal) index on SQLite', async () => {
    const dataDir = await tempDir();
    await (await openStore({ dataDir })).close();
    const db = new BetterSqlite3(join(dataDir, 'hoody.db'), { readonly: true });
    try {
      const queries = [
        'select max(ordinal) from status_logs where container_id = ?',
        ...['asc', 'desc'].map((order) => `select * from status_logs where container_id = ? and ordinal >= 11 and ordinal <= 20 order by ordinal ${order}`),
      ];
      for (const query of queries) {
        const plan = db.prepare(`explain query plan ${query}`).all('x') as { detail: string }[];
        const details = plan.map((p) => p.detail).join('; ');
        assert.match(details, /USING (COVERING )?INDEX status_logs_container_id_ordinal/, details);
        assert.doesNotMatch(details, /TEMP B-TREE|SCAN/, `no sort or scan step: ${details}`);
      }
    } finally {
      db.close();
    }
  });

  it('lets daemon processes that start together on a fresh SQLite file wait their turn to migrate', async () => {
    const dataDir = await tempDir();
    // Another daemon mid-write holds the lock until all three have started opening.
    const holder = new BetterSqlite3(join(dataDir, 'hoody.db'));
    holder.pragma('journal_mode = WAL');
    holder.exec('begin immediate');
    const moduleUrl = new URL('../src/store/open-store.ts', import.meta.url).href;
    const script = `const { openStore } = await import(${JSON.stringify(moduleUrl)});
      console.log('opening'); const s = await openStore({ dataDir: process.argv[1] }); await s.close();`;
    const daemons = [1, 2, 3].map(() => spawnDaemon(script, dataDir));
    try {
      await Promise.all(daemons.map((d) => d.opening));
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      holder.exec('commit');
      holder.close();
    }
    const results = await Promise.all(daemons.map((d) => d.exit));
    assert.deepEqual(results.map((r) => r.code), [0, 0, 0], results.map((r) => r.stderr).join('\n'));
    const store = await openStore({ dataDir });
    try {
      await seed(store);
      assert.equal((await store.listUsers()).length, 1);
    } finally {
      await store.close();
    }
  });
});

/** Runs an ESM script under tsx; `opening` resolves when it prints "opening", `exit` when it ends. */
function spawnDaemon(script: string, arg: string): { opening: Promise<void>; exit: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, arg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })));
  const opening = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('opening') && resolve());
    void exit.then(({ stderr }) => reject(new Error(`daemon ended before opening the store: ${stderr}`)));
  });
  return { opening, exit };
}
