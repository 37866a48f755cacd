/**
 * A restore the daemon was killed in after its files were swapped in and before its log row was
 * written: at the next start recovery puts the container's own files back, so its files match the
 * configuration and the log that stayed. The crash is reproduced exactly: with the daemon stopped,
 * the snapshot store swaps the snapshot's files in as a held restore does, and the container's row
 * is left claimed by a `restore`, as a killed restore leaves it. A real daemon, a real container.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { startTestDaemon, apiClient, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';
import { SnapshotStore } from '../src/snapshots/store.ts';
import { newId } from '../src/core/ids.ts';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;

describe('a restore cut after its swap', { skip }, () => {
  let d: DaemonHandle;
  let api: ReturnType<typeof apiClient>;
  before(async () => {
    d = await startTestDaemon('sqlite');
    api = apiClient(d.api, d.adminToken);
  });
  after(async () => {
    await d?.cleanup();
  });

  const sh = async (id: string, script: string): Promise<string> => {
    const r = await api('POST', `/containers/${id}/exec`, { command: ['sh', '-c', script] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.data.stdout as string;
  };

  it('is undone at the next start: the old files are back, the log says so, and nothing is left beside them', async () => {
    const made = await api('POST', '/containers', { name: 'cut-restore', container_image: 'busybox', command: ['sleep', '1000000'], environment_vars: { V: '1' } });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const id = made.body.data.id as string;
    await sh(id, 'echo before > /marker');
    const snap = (await api('POST', `/containers/${id}/snapshots`, { alias: 'base' })).body.data.snapshot;
    await sh(id, 'echo after > /marker && echo new > /only-after');
    assert.equal((await api('POST', `/containers/${id}/stop`, { timeout: 0 })).status, 200);
    await d.stop();

    // what a restore killed between its swap and its row leaves: the snapshot's files in, the old ones beside, the claim
    const upper = join(d.dataDir, 'runtime', 'containers', id, 'upper');
    for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
      if (line.includes(`upperdir=${upper},`)) execFileSync('umount', [line.split(' ')[4]!]);
    }
    const store = await SnapshotStore.open(join(d.dataDir, 'snapshots'));
    await store.restore(snap.id, upper, { hold: true });
    assert.equal(await readFile(join(upper, 'marker'), 'utf8'), 'before\n', 'the snapshot\'s files are in');
    const db = new BetterSqlite3(join(d.dataDir, 'hoody.db'));
    try {
      db.prepare('update containers set current_operation = ?, current_operation_id = ?, current_operation_started_at = ? where id = ?').run('restore', newId(), new Date().toISOString(), id);
    } finally {
      db.close();
    }

    await d.restart();
    const c = await eventually('settled', async () => (await api('GET', `/containers/${id}`)).body.data, (x) => x.current_operation === null, 60_000);
    assert.equal(c.status, 'stopped');
    assert.deepEqual(c.environment_vars, { V: '1' });
    const logs = (await api('GET', `/containers/${id}/status-logs?sort_order=desc&limit=1`)).body.data.logs;
    assert.equal(logs[0].metadata.interrupted_operation, 'restore');
    assert.equal(logs[0].metadata.restore_undone, true);
    assert.deepEqual((await readdir(join(d.dataDir, 'runtime', 'containers', id))).filter((n) => n.includes('restore')), [], 'nothing left beside');
    assert.equal((await api('POST', `/containers/${id}/start`, {})).status, 200);
    assert.equal(await sh(id, 'cat /marker /only-after'), 'after\nnew\n', 'the container\'s own files, as before the restore');
    // the snapshot is intact and restores whole
    assert.equal((await api('POST', `/containers/${id}/stop`, { timeout: 0 })).status, 200);
    const again = await api('POST', `/containers/${id}/snapshots/base/restore`, {});
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(await sh(id, 'cat /marker; [ -e /only-after ] && echo still || echo gone'), 'before\ngone\n');
  });
});
