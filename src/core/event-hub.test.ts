/**
 * The event hub's order: every row goes out once, in seq order, whether this daemon's store handed
 * it over, another connection wrote it, or handed-over rows arrived out of order. Real SQLite store.
 */
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../store/open-store.ts';
import type { ContainerRecord, StatusLogRecord, Store } from '../store/store.ts';
import { containerRecord, logEntry, seed } from '../../test/store-fixtures.ts';
import { EventHub, type HubEvent } from './event-hub.ts';

describe('event hub', () => {
  let dir: string;
  let store: Store;
  let hub: EventHub;
  let container: ContainerRecord;
  let reads: number;
  const others: Store[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoody-hub-'));
    store = await openStore({ dataDir: dir });
    const s = await seed(store);
    container = containerRecord({ name: 'web', project_id: s.project.id, server_id: s.server.id });
    await store.createContainer(container, logEntry('creating', 'stopped'));
    // counts the hub's reads of the log
    reads = 0;
    const since = store.statusLogsSince.bind(store);
    store.statusLogsSince = (...args) => {
      reads++;
      return since(...args);
    };
    // no poll within a test: every read is one the hub chose to make
    hub = new EventHub(store, 600_000);
    await hub.start();
  });
  afterEach(async () => {
    hub.stop();
    for (const s of others.splice(0)) await s.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const flip = (i: number) => (i % 2 === 0 ? (['stopped', 'running'] as const) : (['running', 'stopped'] as const));
  const write = async (on: Store, i: number): Promise<void> => {
    const [from, to] = flip(i);
    assert.ok(await on.transition(container.id, { to_status: to, log: logEntry(from, to) }));
  };
  const collect = (): HubEvent[] => {
    const got: HubEvent[] = [];
    hub.subscribe((e) => got.push(e));
    return got;
  };
  const seqs = (events: HubEvent[]): number[] => events.flatMap((e) => (e.type === 'transition' ? [e.row.seq] : []));

  it('a row this store writes goes out before the write resolves, as the log reads it, without reading the log', async () => {
    const got = collect();
    await write(store, 0);
    assert.equal(got.length, 1, 'out before transition() resolved');
    assert.equal(reads, 0, 'no read of the log');
    const [row] = await store.statusLogsSince(hub.position - 1, 1);
    assert.deepEqual(got[0], { type: 'transition', row });
  });

  it('an operation event published after a transition reaches subscribers after it, with no read of the log', async () => {
    const got = collect();
    const event = { phase: 'succeeded' as const, operation_id: 'op1', container_id: container.id, project_id: container.project_id, operation: 'start', triggered_by: 'u', at: new Date().toISOString() };
    await write(store, 0);
    hub.publishOperation(event);
    await write(store, 1);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      got.map((e) => e.type),
      ['transition', 'operation', 'transition'],
    );
    assert.equal(reads, 0);
  });

  it('rows another connection wrote before a handed-over row are read first: one order by seq, each row once', async () => {
    const other = await openStore({ dataDir: dir });
    others.push(other);
    const got = collect();
    const before = hub.position;
    await write(other, 0);
    await write(other, 1);
    await write(store, 2);
    assert.deepEqual(seqs(got), [], 'the handed-over row waits for the two before it');
    await hub.settled();
    assert.deepEqual(seqs(got), [before + 1, before + 2, before + 3]);
    assert.ok(reads > 0, 'the gap was read from the log');
    await write(store, 3);
    assert.deepEqual(seqs(got), [before + 1, before + 2, before + 3, before + 4], 'next in line again: out at once');
  });

  it('rows handed over out of order go out in seq order, each once', async () => {
    const got = collect();
    const before = hub.position;
    // written while the hub is not told, then handed over backwards
    store.onLogAppended(undefined);
    for (let i = 0; i < 3; i++) await write(store, i);
    const rows = await store.statusLogsSince(before, 10);
    store.onLogAppended((row) => hub.offer(row));
    for (const row of [...rows].reverse()) hub.offer(row);
    for (const row of rows) hub.offer(row);
    await hub.settled();
    assert.deepEqual(seqs(got), [before + 1, before + 2, before + 3]);
  });

  it('a reader replaying from an old cursor while rows are written joins with nothing missed and nothing twice', async () => {
    for (let i = 0; i < 20; i++) await write(store, i);
    const seen: StatusLogRecord[] = [];
    let joined = false;
    const writing = (async () => {
      for (let i = 20; i < 60; i++) await write(store, i);
    })();
    const replayed = await hub.replay(
      0,
      {},
      async (rows) => {
        seen.push(...rows);
        await new Promise((r) => setImmediate(r));
        return true;
      },
      (at) => {
        joined = true;
        hub.subscribe((e) => {
          if (e.type === 'transition' && e.row.seq > at) seen.push(e.row);
        });
      },
    );
    await writing;
    await hub.settled();
    assert.ok(replayed && joined);
    const all = await store.statusLogsSince(0, 1000);
    assert.equal(all.length, 61);
    assert.deepEqual(
      seen.map((r) => r.seq),
      all.map((r) => r.seq),
    );
  });
});
