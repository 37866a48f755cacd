/**
 * `GET /containers/{id}` says what runs at the time of the request: a container killed, frozen or
 * thawed behind the daemon's back shows it on the very next read, after reads that kept its
 * state's files open. And the answer's record is the database's at that time, also when another
 * connection changed it.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestDaemon, apiClient, postgresUrl, type Backend, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';
import { cgroupPrefixFor } from '../src/runtime/runc/runc-driver.ts';
import { parseProcStat } from '../src/runtime/runc/init-probes.ts';

/** The process state letter of a pid, or 'gone'. */
function procState(pid: number): string {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'latin1')).state;
  } catch {
    return 'gone';
  }
}

const backends: Backend[] = postgresUrl ? ['sqlite', 'postgres'] : ['sqlite'];

for (const backend of backends) {
  describe(`observed status on ${backend}`, () => {
    let d: DaemonHandle | undefined;
    after(async () => {
      await d?.cleanup();
    });

    /** A running busybox container, read a few times so that its state is read through open files. */
    async function runningContainer(call: ReturnType<typeof apiClient>, name: string): Promise<{ id: string; pid: number }> {
      const made = await call('POST', '/containers', { name: `${name}-${Date.now().toString(36)}`, container_image: 'busybox', command: ['sleep', '600'] });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const id = made.body.data.id as string;
      for (let i = 0; i < 3; i++) assert.equal((await call('GET', `/containers/${id}`)).body.data.observed_status, 'running');
      const pid = (await call('GET', `/containers/${id}?runtime=true`)).body.data.runtime_info.pid as number;
      assert.ok(pid > 0, 'the init has a pid');
      return { id, pid };
    }

    it('a container whose init is killed behind the daemon\'s back is not running on the next read', async () => {
      d = await startTestDaemon(backend, { HOODY_RECONCILE_INTERVAL_MS: '600000' });
      const call = apiClient(d.api, d.adminToken);
      const { id, pid } = await runningContainer(call, 'killed');
      process.kill(pid, 'SIGKILL');
      // the kernel's truth first: the init is dead (a zombie, or reaped by conmon)
      await eventually('the init to die', async () => procState(pid), (s) => s === 'Z' || s === 'X' || s === 'gone', 10_000);
      const seen = (await call('GET', `/containers/${id}`)).body.data;
      assert.equal(seen.observed_status, 'stopped');
      // the record already says stopped, or says it is out of sync, or the daemon is recording the exit
      // right now (a transition under way counts as in sync: its operation is shown)
      assert.ok(seen.status === 'stopped' || seen.in_sync === false || seen.current_operation !== null, `recorded ${seen.status} and observed stopped is out of sync: ${JSON.stringify(seen)}`);
      if (seen.status !== 'stopped') {
        const after = await eventually('the exit to be recorded', async () => (await call('GET', `/containers/${id}`)).body.data, (c) => c.current_operation === null && c.status !== 'running', 15_000);
        assert.equal(after.status, 'stopped');
        assert.equal(after.in_sync, true);
      }
    });

    it('a container frozen and thawed behind the daemon\'s back shows paused, then running, on the next read', async () => {
      assert.ok(d, 'the daemon of the previous case');
      const call = apiClient(d.api, d.adminToken);
      const { id } = await runningContainer(call, 'frozen');
      const freezer = join('/sys/fs/cgroup/freezer', cgroupPrefixFor(d.dataDir), id, 'freezer.state');
      writeFileSync(freezer, 'FROZEN');
      await eventually('the cgroup to be frozen', async () => readFileSync(freezer, 'utf8').trim(), (s) => s === 'FROZEN', 10_000);
      const paused = (await call('GET', `/containers/${id}`)).body.data;
      assert.equal(paused.observed_status, 'paused');
      assert.equal(paused.in_sync, false, 'recorded running, observed paused');
      writeFileSync(freezer, 'THAWED');
      await eventually('the cgroup to be thawed', async () => readFileSync(freezer, 'utf8').trim(), (s) => s === 'THAWED', 10_000);
      const running = (await call('GET', `/containers/${id}`)).body.data;
      assert.equal(running.observed_status, 'running');
      assert.equal(running.in_sync, true);
    });

    it('a container paused and resumed through the API reads as such at once', async () => {
      assert.ok(d, 'the daemon of the first case');
      const call = apiClient(d.api, d.adminToken);
      const { id } = await runningContainer(call, 'paused');
      assert.equal((await call('POST', `/containers/${id}/pause`)).status, 200);
      const paused = (await call('GET', `/containers/${id}`)).body.data;
      assert.deepEqual([paused.status, paused.observed_status, paused.in_sync], ['paused', 'paused', true]);
      assert.equal((await call('POST', `/containers/${id}/resume`)).status, 200);
      const resumed = (await call('GET', `/containers/${id}`)).body.data;
      assert.deepEqual([resumed.status, resumed.observed_status, resumed.in_sync], ['running', 'running', true]);
      assert.equal((await call('POST', `/containers/${id}/force-stop`)).status, 200);
      const stopped = (await call('GET', `/containers/${id}`)).body.data;
      assert.deepEqual([stopped.status, stopped.observed_status, stopped.in_sync], ['stopped', 'stopped', true]);
      assert.equal((await call('POST', `/containers/${id}/start`)).status, 200);
      const again = (await call('GET', `/containers/${id}`)).body.data;
      assert.deepEqual([again.status, again.observed_status, again.in_sync], ['running', 'running', true]);
    });
  });
}
