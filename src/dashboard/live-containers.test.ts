import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Container, HoodyEvent } from '../sdk/index.ts';
import { LiveContainers, type ContainerSource } from './live-containers.ts';

const at = (s: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

function container(id: string, status: Container['status'], updatedAt = at(0)): Container {
  return { id, name: `c-${id}`, status, updated_at: updatedAt, current_operation: null, exit_code: null } as Container;
}

function transition(id: string, from: Container['status'], to: Container['status'], time: string): HoodyEvent {
  return { type: 'transition', cursor: 1, container_id: id, log: { id: 'l', container_id: id, from_status: from, to_status: to, transition_time: time, duration_ms: 1, triggered_by: 'user_x', metadata: { operation: 'x', server_name: 's' } } };
}

function operation(id: string, op: string, phase: 'accepted' | 'succeeded' | 'failed', status?: Container['status']): HoodyEvent {
  return { type: 'operation', phase, operation_id: 'op1', container_id: id, operation: op, triggered_by: 'user_x', at: at(5), ...(status ? { status } : {}) };
}

/** A list whose flushes run when asked, and a source that answers from a map. */
function setup(initial: Container[], elsewhere: Record<string, Container> = {}) {
  const flushes: (() => void)[] = [];
  const asked: string[] = [];
  const source: ContainerSource = { all: async () => initial, one: async (id) => (asked.push(id), elsewhere[id]) };
  const live = new LiveContainers(source, (f) => flushes.push(f));
  const told: string[][] = [];
  live.subscribe((ids) => told.push([...ids].sort()));
  const flush = (): void => {
    for (const f of flushes.splice(0)) f();
  };
  return { live, told, flush, asked };
}

describe('the live container list', () => {
  it('takes a transition\'s status and tells listeners once per frame, whatever the burst', async () => {
    const { live, told, flush } = setup([container('a', 'running'), container('b', 'running')]);
    await live.load();
    flush();
    live.apply(transition('a', 'running', 'paused', at(1)));
    live.apply(transition('b', 'running', 'stopped', at(1)));
    live.apply(transition('a', 'paused', 'running', at(2)));
    flush();
    assert.deepEqual(told, [['*', 'a', 'b'], ['a', 'b']]);
    assert.equal(live.get('a')?.status, 'running');
    assert.equal(live.get('b')?.status, 'stopped');
  });

  it('ignores a replayed transition older than what it holds', async () => {
    const { live } = setup([container('a', 'stopped', at(10))]);
    await live.load();
    live.apply(transition('a', 'stopped', 'running', at(3)));
    assert.equal(live.get('a')?.status, 'stopped');
  });

  it('marks a row busy while an operation runs, and settles it with the status it left', async () => {
    const { live } = setup([container('a', 'running')]);
    await live.load();
    live.apply(operation('a', 'stop', 'accepted'));
    assert.equal(live.get('a')?.current_operation?.operation, 'stop');
    live.apply(operation('a', 'stop', 'succeeded', 'stopped'));
    assert.equal(live.get('a')?.current_operation, null);
    assert.equal(live.get('a')?.status, 'stopped');
  });

  it('reads a container first heard of in an event, once, and drops a deleted one for good', async () => {
    const { live, asked } = setup([], { n: container('n', 'running', at(1)) });
    await live.load();
    live.apply(transition('n', 'creating', 'running', at(1)));
    live.apply(transition('n', 'creating', 'running', at(1)));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(asked, ['n']);
    assert.equal(live.get('n')?.status, 'running');
    live.apply(operation('n', 'delete', 'succeeded'));
    assert.equal(live.get('n'), undefined);
    live.apply(transition('n', 'running', 'stopped', at(9)));
    await new Promise((r) => setImmediate(r));
    assert.equal(live.get('n'), undefined, 'a late event does not bring it back');
    assert.deepEqual(asked, ['n']);
  });

  it('a reload drops what no longer exists and keeps the newer of two answers', async () => {
    const list = [container('a', 'running', at(5)), container('b', 'running')];
    const { live } = setup(list);
    await live.load();
    list.splice(1, 1);
    await live.load();
    assert.deepEqual(live.list().map((c) => c.id), ['a']);
    live.put(container('a', 'stopped', at(1)));
    assert.equal(live.get('a')?.status, 'running', 'an older answer is not taken');
  });
});
