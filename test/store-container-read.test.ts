/**
 * The read of one container (`getContainer`, on every GET) answers what the database holds at the
 * time of the call, on every backend: after this store's own writes of every kind, and on SQLite,
 * where rows are reused while the database is proven unchanged, after another connection's commit.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { openStore } from '../src/store/open-store.ts';
import type { Store } from '../src/store/store.ts';
import { containerRecord, logEntry, newId, isoNow, postgresBackend, seed, sqliteBackend, type StoreBackend } from './store-fixtures.ts';

const backends: StoreBackend[] = [sqliteBackend, postgresBackend(process.env.HOODY_TEST_POSTGRES_URL)];

for (const backend of backends) {
  describe(`reading one container on ${backend.name}`, { skip: backend.skip }, () => {
    after(() => backend.finish());

    async function withStore(body: (store: Store, dataDir: string) => Promise<void>): Promise<void> {
      const place = await backend.freshPlace();
      const store = await openStore(place.options);
      try {
        await body(store, place.options.dataDir);
      } finally {
        await store.close();
        await place.remove();
      }
    }

    it('shows each of the store\'s own writes on the next read', async () => {
      await withStore(async (store) => {
        const { project, server } = await seed(store);
        const c = containerRecord({ name: 'web', project_id: project.id, server_id: server.id });
        assert.equal(await store.getContainer(c.id), undefined, 'not there before it is created');
        await store.createContainer(c, logEntry('creating', 'stopped'));
        assert.equal((await store.getContainer(c.id))?.name, 'web');
        assert.equal((await store.getContainer(c.id))?.name, 'web', 'read twice, the same');
        await store.updateContainer(c.id, { name: 'api', environment_vars: { A: '1' } });
        const updated = await store.getContainer(c.id);
        assert.deepEqual([updated?.name, updated?.environment_vars], ['api', { A: '1' }]);
        // the claim does not change the version, and is still seen at once
        const op = { id: newId(), operation: 'start', started_at: isoNow() };
        assert.equal((await store.beginOperation(c.id, op))?.claimed, true);
        assert.deepEqual((await store.getContainer(c.id))?.current_operation, op);
        await store.transition(c.id, { to_status: 'running', log: logEntry('stopped', 'running'), finish_operation: true });
        const running = await store.getContainer(c.id);
        assert.deepEqual([running?.status, running?.current_operation], ['running', null]);
        await store.beginOperation(c.id, { id: newId(), operation: 'stop', started_at: isoNow() });
        const claimed = await store.getContainer(c.id);
        assert.equal(claimed?.current_operation?.operation, 'stop');
        await store.finishOperation(c.id, claimed?.current_operation?.id ?? '');
        assert.equal((await store.getContainer(c.id))?.current_operation, null);
        await store.transition(c.id, { to_status: 'stopped', log: logEntry('running', 'stopped') });
        assert.equal(await store.deleteContainer(c.id), true);
        assert.equal(await store.getContainer(c.id), undefined, 'gone once deleted');
      });
    });

    if (backend.name === 'SQLite') {
      it('shows a change another connection committed to the SQLite file on the next read', async () => {
        await withStore(async (store, dataDir) => {
          const { project, server } = await seed(store);
          const c = containerRecord({ name: 'web', project_id: project.id, server_id: server.id });
          await store.createContainer(c, logEntry('creating', 'stopped'));
          assert.equal((await store.getContainer(c.id))?.status, 'stopped');
          assert.equal((await store.getContainer(c.id))?.status, 'stopped');
          const other = new BetterSqlite3(join(dataDir, 'hoody.db'));
          try {
            other.prepare('update containers set status = ?, name = ? where id = ?').run('failed', 'renamed', c.id);
            const seen = await store.getContainer(c.id);
            assert.deepEqual([seen?.status, seen?.name], ['failed', 'renamed']);
            other.prepare('delete from status_logs where container_id = ?').run(c.id);
            other.prepare('delete from containers where id = ?').run(c.id);
            assert.equal(await store.getContainer(c.id), undefined);
          } finally {
            other.close();
          }
        });
      });
    }
  });
}
