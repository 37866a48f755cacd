import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KitDisplays, type DisplayHost } from './kit.ts';
import type { HubEvent } from './event-hub.ts';
import type { StatusLogRecord } from '../store/store.ts';

/** Displays in memory: which run, and what was done to them. */
class FakeHost implements DisplayHost {
  readonly running = new Set<string>();
  readonly made = new Set<string>();
  readonly calls: string[] = [];
  paths(id: string) {
    return { x11Dir: `/d/${id}/x11`, clientCookie: `/d/${id}/xauthority`, socket: `/d/${id}/sock/vnc.sock` };
  }
  async prepare(id: string) {
    this.made.add(id);
  }
  async start(id: string) {
    this.calls.push(`start ${id}`);
    this.running.add(id);
  }
  async pids(id: string) {
    return this.running.has(id) ? [42] : [];
  }
  async stop(id: string) {
    this.calls.push(`stop ${id}`);
    this.running.delete(id);
  }
  async remove(id: string) {
    this.calls.push(`remove ${id}`);
    this.running.delete(id);
    this.made.delete(id);
  }
  async memoryBytes() {
    return 1;
  }
  async ids() {
    return [...this.made];
  }
}

const A = 'a'.repeat(24);
const B = 'b'.repeat(24);

function setUp(states: Record<string, { status: string; serverId: string } | undefined>) {
  const host = new FakeHost();
  let deliver: (e: HubEvent) => void = () => undefined;
  const events = { subscribe: (d: (e: HubEvent) => void) => ((deliver = d), { close: () => undefined }), publishClient: () => undefined };
  const kit = new KitDisplays({ host, events, stateOf: async (id) => states[id], serverId: 'here', sweepMs: 0 });
  const stopped = (id: string, at: string): void =>
    deliver({ type: 'transition', row: { container_id: id, to_status: 'stopped', transition_time: at } as unknown as StatusLogRecord });
  return { host, kit, stopped };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('KitDisplays', () => {
  it('stops a display on its container\'s stop, but not on a stop older than the run started since', async () => {
    const { host, kit, stopped } = setUp({});
    const before = new Date(Date.now() - 1000).toISOString();
    await kit.beforeRun({ id: A, hoody_kit: true });
    stopped(A, before);
    await settle();
    assert.equal(host.running.has(A), true, 'a late row of the run before');
    stopped(A, new Date(Date.now() + 1000).toISOString());
    await settle();
    assert.equal(host.running.has(A), false);
  });

  it('sweeps the displays of containers that do not run here, leaving a start in progress alone', async () => {
    const { host, kit } = setUp({ [A]: { status: 'stopped', serverId: 'here' }, [B]: { status: 'running', serverId: 'elsewhere' } });
    for (const id of [A, B]) {
      host.made.add(id);
      host.running.add(id);
    }
    await kit.sweep();
    assert.deepEqual([...host.running], [], 'stopped here, and running on another server');
    await kit.beforeRun({ id: A, hoody_kit: true });
    await kit.sweep();
    assert.equal(host.running.has(A), true, 'started a moment ago: its status may not say running yet');
  });

  it('at start adopts the displays of containers running or paused here and removes the others', async () => {
    const { host, kit } = setUp({ [A]: { status: 'paused', serverId: 'here' }, [B]: { status: 'stopped', serverId: 'here' } });
    host.made.add(B);
    host.running.add(B);
    await kit.reconcile([{ id: A, hoody_kit: true }]);
    assert.deepEqual(host.calls, [`start ${A}`, `remove ${B}`]);
  });
});
