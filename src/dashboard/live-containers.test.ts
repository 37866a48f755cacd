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

/** A promise and the functions that settle it. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

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

  it('reads a container first heard of in an event, and drops a deleted one for good', async () => {
    const { live, asked } = setup([], { n: container('n', 'running', at(1)) });
    await live.load();
    live.apply(transition('n', 'creating', 'running', at(1)));
    await settle();
    assert.deepEqual(asked, ['n']);
    assert.equal(live.get('n')?.status, 'running');
    live.apply(operation('n', 'delete', 'succeeded'));
    assert.equal(live.get('n'), undefined);
    live.apply(transition('n', 'running', 'stopped', at(9)));
    await settle();
    assert.equal(live.get('n'), undefined, 'a late event does not bring it back');
    assert.deepEqual(asked, ['n'], 'nor is it read again');
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

  it('reads again a container whose read an event overtook, and takes the second answer', async () => {
    const answers = [deferred<Container | undefined>(), deferred<Container | undefined>()];
    let reads = 0;
    const live = new LiveContainers({ all: async () => [], one: () => answers[reads++]!.promise }, () => undefined);
    await live.load();
    live.apply(operation('x', 'create', 'accepted'));
    live.apply(operation('x', 'create', 'succeeded', 'stopped'));
    answers[0]!.resolve({ ...container('x', 'creating'), current_operation: { id: 'op', operation: 'create', started_at: at(0) } });
    await settle();
    assert.equal(reads, 2, 'read again');
    answers[1]!.resolve(container('x', 'stopped', at(1)));
    await settle();
    assert.equal(live.get('x')?.status, 'stopped');
    assert.equal(live.get('x')?.current_operation, null, 'not left busy');
  });

  it('a reload that the stream overtook neither undoes a delete nor drops a container made meanwhile', async () => {
    const list = deferred<Container[]>();
    const made = container('new', 'running', at(2));
    let calls = 0;
    const live = new LiveContainers({ all: () => (calls++ === 0 ? Promise.resolve([container('old', 'running')]) : list.promise), one: async (id) => (id === 'new' ? made : undefined) }, () => undefined);
    await live.load();
    const reload = live.load();
    live.apply(operation('old', 'delete', 'succeeded'));
    live.apply(transition('new', 'creating', 'running', at(2)));
    await settle();
    // the list was read before both events
    list.resolve([container('old', 'running')]);
    await reload;
    await settle();
    assert.equal(live.get('old'), undefined, 'the deleted one stays deleted');
    assert.equal(live.get('new')?.status, 'running', 'the new one stays');
    live.put(container('old', 'running', at(9)));
    assert.equal(live.get('old'), undefined, 'no answer brings a deleted container back');
  });
});
