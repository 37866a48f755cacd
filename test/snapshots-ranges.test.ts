/**
 * A snapshot cut while containers' files were owned in one host id range, restored (and copied)
 * after the daemon was started again with another HOODY_USERNS_RANGE: the files keep their owners
 * as the container sees them, not `nobody`. A real daemon, real busybox containers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestDaemon, apiClient, type DaemonHandle } from './daemon-harness.ts';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;
const FIRST = '2600000000:65536';
const SECOND = '2700000000:65536';

describe('snapshots across a change of the id range', { skip }, () => {
  let d: DaemonHandle;
  let api: ReturnType<typeof apiClient>;
  const env: Record<string, string> = { HOODY_USERNS_RANGE: FIRST };
  before(async () => {
    d = await startTestDaemon('sqlite', env);
    api = apiClient(d.api, d.adminToken);
  });
  after(async () => {
    await d?.cleanup();
  });

  const exec = async (id: string, script: string): Promise<string> => {
    const r = await api('POST', `/containers/${id}/exec`, { command: ['sh', '-c', script] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.data.exit_code, 0, JSON.stringify(r.body.data));
    return r.body.data.stdout as string;
  };

  it('restored and copied files keep their owners inside the container after HOODY_USERNS_RANGE changed', async () => {
    const made = await api('POST', '/containers', { name: 'ranges', container_image: 'busybox', command: ['sleep', '1000000'] });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const id = made.body.data.id as string;
    await exec(id, 'mkdir -p /data && echo v1 > /data/owned && chown 1000:2000 /data/owned && echo root-file > /data/root');
    const snap = await api('POST', `/containers/${id}/snapshots`, { alias: 'before-range-change' });
    assert.equal(snap.status, 201, JSON.stringify(snap.body));
    assert.equal((await api('POST', `/containers/${id}/stop`, { timeout: 0 })).status, 200);

    env.HOODY_USERNS_RANGE = SECOND;
    await d.restart();

    const restored = await api('POST', `/containers/${id}/snapshots/before-range-change/restore`, {});
    assert.equal(restored.status, 200, JSON.stringify(restored.body));
    assert.equal(restored.body.data.status, 'running', 'autostart: it runs after the restore');
    assert.equal(await exec(id, 'stat -c "%u:%g %n" /data/owned /data/root'), '1000:2000 /data/owned\n0:0 /data/root\n');
    assert.equal(await exec(id, 'cat /data/owned'), 'v1\n');

    const copy = await api('POST', `/containers/${id}/copy`, { name: 'ranges-copy', snapshot_id: 'before-range-change', start: true });
    assert.equal(copy.status, 201, JSON.stringify(copy.body));
    assert.equal(await exec(copy.body.data.id, 'stat -c "%u:%g %n" /data/owned /data/root'), '1000:2000 /data/owned\n0:0 /data/root\n');
  });
});
