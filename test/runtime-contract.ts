/**
 * The runtime driver contract: the same cases run against every RuntimeDriver. Each case
 * observes the real container (its output, CPU time, exit code), not a return value.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerSpec, ExitEvent, RuntimeDriver } from '../src/runtime/driver.ts';
import { eventually, sleep } from './eventually.ts';

export { eventually, sleep };

/** What a driver under test provides: a fresh driver, a second one over the same state, and cleanup. */
export interface DriverHarness {
  driver: RuntimeDriver;
  /** Opens another driver instance over the same state (as a restarted daemon would). */
  reopen(): Promise<RuntimeDriver>;
  cleanup(): Promise<void>;
}

let counter = 0;
/** A container id unique within the test run. */
export const newId = (): string => `t${process.pid.toString(16)}${(counter++).toString(16).padStart(4, '0')}${Date.now().toString(16).slice(-6)}`;

export function spec(id: string, command: string[] | null, extra: Partial<ContainerSpec> = {}): ContainerSpec {
  return { id, image: 'busybox', command, env: {}, hostname: id.slice(0, 12), ...extra };
}

/** Runs the contract cases against the driver that `open` makes. */
export function runtimeContract(name: string, open: () => Promise<DriverHarness>): void {
  describe(`runtime driver contract: ${name}`, () => {
    let h: DriverHarness | undefined;
    const harness = async (): Promise<DriverHarness> => (h = await open());
    afterEach(async () => {
      await h?.cleanup();
      h = undefined;
    });

    it('start runs the command with its environment and captures its output', async () => {
      const { driver } = await harness();
      const id = newId();
      await driver.create(spec(id, ['sh', '-c', 'echo "greeting=$GREETING"; exec sleep 60'], { env: { GREETING: 'hello from hoody' } }));
      const started = await driver.start(id);
      assert.equal(started.status, 'running');
      assert.ok(started.pid && started.pid > 1, 'a host pid is reported');
      const logs = await eventually('the greeting in the logs', () => driver.logs(id), (l) => l.includes('greeting='));
      assert.match(logs, /^greeting=hello from hoody$/m);
      const stats = await driver.stats(id);
      assert.ok(stats.processes.some((p) => p.command === 'sleep 60'), `sleep 60 runs: ${JSON.stringify(stats.processes)}`);
      assert.ok(stats.memoryBytes > 0);
    });

    it('pause freezes the processes (CPU time stops) and resume continues them', async () => {
      const { driver } = await harness();
      const id = newId();
      await driver.create(spec(id, ['sh', '-c', 'while :; do :; done']));
      await driver.start(id);
      // a busy loop gets CPU time; how fast depends on the machine's load, so the test waits for it
      const running1 = (await driver.stats(id)).cpuUsageNs;
      await eventually('a busy loop to use CPU while running', async () => (await driver.stats(id)).cpuUsageNs - running1, (ns) => ns > 50e6, 10_000);

      await driver.pause(id);
      assert.equal((await driver.state(id))?.status, 'paused');
      const paused1 = (await driver.stats(id)).cpuUsageNs;
      await sleep(300);
      const paused2 = (await driver.stats(id)).cpuUsageNs;
      assert.ok(paused2 - paused1 < 5e6, `no CPU time while paused (${paused2 - paused1} ns in 300 ms)`);

      await driver.resume(id);
      assert.equal((await driver.state(id))?.status, 'running');
      await eventually('CPU time to advance again after resume', async () => (await driver.stats(id)).cpuUsageNs - paused2, (ns) => ns > 50e6, 10_000);
    });

    it('a paused counter keeps its value and continues from it after resume', async () => {
      const { driver } = await harness();
      const id = newId();
      await driver.create(spec(id, ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo "n=$i"; sleep 0.02; done']));
      await driver.start(id);
      await eventually('a few counts', () => driver.logs(id), (l) => (l.match(/n=/g) ?? []).length >= 3);
      await driver.pause(id);
      const atPause = lastCount(await driver.logs(id));
      await sleep(300);
      assert.equal(lastCount(await driver.logs(id)), atPause, 'no counting while paused');
      await driver.resume(id);
      const after = await eventually('counting to resume', () => driver.logs(id), (l) => lastCount(l) > atPause + 2);
      const counts = [...after.matchAll(/n=(\d+)/g)].map((m) => Number(m[1]));
      assert.deepEqual(counts, counts.map((_, i) => i + 1), 'the count continues without a gap or restart');
    });

    it('TERM ends an app that handles it, with the exit code the app chose', async () => {
      const { driver } = await harness();
      const id = newId();
      const exits: ExitEvent[] = [];
      driver.onExit((e) => exits.push(e));
      await driver.create(spec(id, ['sh', '-c', 'trap "exit 42" TERM; echo ready; while :; do sleep 0.05; done']));
      await driver.start(id);
      await eventually('the app to be ready', () => driver.logs(id), (l) => l.includes('ready'));
      await driver.kill(id, 'SIGTERM');
      const state = await driver.waitExit(id, 5000);
      assert.equal(state?.status, 'stopped');
      assert.equal(state?.exitCode, 42);
      await eventually('the exit event', async () => exits.filter((e) => e.id === id), (e) => e.length === 1);
      assert.equal(exits.find((e) => e.id === id)?.exitCode, 42);
    });

    it('an app that ignores TERM survives it and dies on KILL with 137', async () => {
      const { driver } = await harness();
      const id = newId();
      await driver.create(spec(id, ['sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 0.05; done']));
      await driver.start(id);
      await eventually('the app to be ready', () => driver.logs(id), (l) => l.includes('ready'));
      await driver.kill(id, 'SIGTERM');
      assert.equal(await driver.waitExit(id, 600), undefined, 'still running 600 ms after TERM');
      assert.equal((await driver.state(id))?.status, 'running');
      await driver.kill(id, 'SIGKILL', { all: true });
      const state = await driver.waitExit(id, 3000);
      assert.equal(state?.exitCode, 137);
      assert.deepEqual((await driver.stats(id)).processes, [], 'no process is left');
    });

    it('KILL ends a paused container', async () => {
      const { driver } = await harness();
      const id = newId();
      await driver.create(spec(id, ['sleep', '600']));
      await driver.start(id);
      await driver.pause(id);
      await driver.kill(id, 'SIGKILL', { all: true });
      const state = await driver.waitExit(id, 3000);
      assert.equal(state?.status, 'stopped');
      assert.equal(state?.exitCode, 137);
    });

    it('reports the exit code of a container that ends by itself', async () => {
      const { driver } = await harness();
      const id = newId();
      const exits: ExitEvent[] = [];
      driver.onExit((e) => exits.push(e));
      await driver.create(spec(id, ['sh', '-c', 'sleep 0.1; exit 7']));
      await driver.start(id);
      const event = await eventually('the exit event', async () => exits.find((e) => e.id === id), (e) => e !== undefined, 5000);
      assert.equal(event?.exitCode, 7);
      assert.deepEqual(await driver.state(id), { id, status: 'stopped', pid: null, exitCode: 7 });
    });

    it('starts again after a stop, keeping the files the container wrote', async () => {
      const { driver } = await harness();
      const id = newId();
      await driver.create(spec(id, ['sh', '-c', 'echo run >> /root/runs; wc -l < /root/runs > /root/count; echo "wrote $(cat /root/count)"; exec sleep 60']));
      // start answers once init is released: the shell writes a moment later, so each run is waited for before its KILL
      await driver.start(id);
      await eventually('the first run to write', () => driver.logs(id), (l) => l.includes('wrote 1'));
      await driver.kill(id, 'SIGKILL', { all: true });
      assert.equal((await driver.waitExit(id, 3000))?.status, 'stopped');
      await driver.start(id);
      await eventually('the second run to write', () => driver.logs(id), (l) => l.includes('wrote 2'));
      const logsCmd = spec(id, ['sh', '-c', 'echo "count=$(cat /root/count)"; exec sleep 60']);
      await driver.kill(id, 'SIGKILL', { all: true });
      assert.equal((await driver.waitExit(id, 3000))?.status, 'stopped');
      await driver.create(logsCmd);
      await driver.start(id);
      const logs = await eventually('the count', () => driver.logs(id), (l) => l.includes('count='));
      assert.match(logs, /count=2/);
    });

    it('refuses operations that do not fit the state, without changing it', async () => {
      const { driver } = await harness();
      const id = newId();
      await driver.create(spec(id, ['sleep', '60']));
      await assert.rejects(driver.pause(id), /cannot pause .*created/);
      await driver.start(id);
      await assert.rejects(driver.start(id), /already running/);
      await assert.rejects(driver.resume(id), /cannot resume .*running/);
      assert.equal((await driver.state(id))?.status, 'running');
      await assert.rejects(driver.start('no-such-container'), /does not exist/);
    });

    it('a second driver over the same state adopts a running container and stops it', async () => {
      const h0 = await harness();
      const id = newId();
      await h0.driver.create(spec(id, ['sh', '-c', 'trap "exit 3" TERM; echo ready; while :; do sleep 0.05; done']));
      const { pid } = await h0.driver.start(id);
      await eventually('the app to be ready', () => h0.driver.logs(id), (l) => l.includes('ready'));
      await h0.driver.close();

      const second = await h0.reopen();
      try {
        const listed = await second.list();
        assert.deepEqual(
          listed.find((s) => s.id === id),
          { id, status: 'running', pid, exitCode: null },
        );
        const exits: ExitEvent[] = [];
        second.onExit((e) => exits.push(e));
        await second.kill(id, 'SIGTERM');
        assert.equal((await second.waitExit(id, 3000))?.exitCode, 3);
        await eventually('the exit event in the new driver', async () => exits.length, (n) => n === 1);
      } finally {
        await second.close();
      }
    });

    it('delete removes a running container and every trace of it', async () => {
      const { driver } = await harness();
      const id = newId();
      await driver.create(spec(id, ['sleep', '600']));
      const { pid } = await driver.start(id);
      await driver.delete(id);
      assert.equal(await driver.state(id), undefined);
      assert.equal((await driver.list()).some((s) => s.id === id), false);
      await eventually('the process to be gone', async () => processAlive(pid ?? 0), (alive) => !alive);
    });
  });
}

function lastCount(logs: string): number {
  const all = [...logs.matchAll(/n=(\d+)/g)];
  return Number(all.at(-1)?.[1] ?? 0);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
