import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../store/open-store.ts';
import type { RuntimeState } from '../runtime/driver.ts';
import { newId } from '../core/ids.ts';
import { containerRecord, logEntry, seed } from '../../test/store-fixtures.ts';
import { removeMovedAway } from './leftovers.ts';

describe('removing what a move left behind at start', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('removes only containers that moved away from this server, or were half made here; never others of other servers, nor running ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoody-leftovers-'));
    dirs.push(dir);
    const store = await openStore({ dataDir: dir });
    try {
      const here = await seed(store);
      const there = await seed(store, 'bob');
      const make = async (name: string, serverId: string, lastOperation?: Record<string, unknown>) => {
        const c = containerRecord({ name, project_id: here.project.id, server_id: serverId });
        await store.createContainer(c, logEntry('creating', 'stopped'));
        if (lastOperation) {
          const claim = { id: newId(), operation: 'move', started_at: new Date().toISOString() };
          await store.beginOperation(c.id, claim);
          await store.moveContainer(c.id, { operation_id: claim.id, from_server: here.server.id, to_server: serverId === here.server.id ? there.server.id : serverId, log: logEntry('stopped', 'stopped', lastOperation) });
        }
        return c.id;
      };
      const third = await seed(store, 'carol');
      // moved from here to there: its files here are left over
      const movedAway = await make('moved-away', here.server.id, { operation: 'move', from_server: here.server.id, to_server: there.server.id });
      // half made here for a move that was not handed over: its row still says there
      const halfMade = await make('half-made', there.server.id);
      // another server's container whose files happen to be here with no evidence (a server id that changed): kept
      const noEvidence = await make('no-evidence', there.server.id);
      // this server's own: kept
      const mine = await make('mine', here.server.id);
      // moved away, but running here (it cannot be: kept, never killed by a clean-up)
      const running = await make('running', here.server.id, { operation: 'move', from_server: here.server.id, to_server: there.server.id });
      // moved away, then started and stopped there: the move is no longer its newest row, still the evidence
      const livedOn = await make('lived-on', here.server.id, { operation: 'move', from_server: here.server.id, to_server: there.server.id });
      await store.transition(livedOn, { to_status: 'running', log: logEntry('stopped', 'running', { operation: 'start' }) });
      await store.transition(livedOn, { to_status: 'stopped', log: logEntry('running', 'stopped', { operation: 'stop' }) });
      // recovered on another server while this one was lost, and still running here: a second copy, killed then removed
      const ghost = await make('ghost', here.server.id, { operation: 'move', from_server: here.server.id, to_server: there.server.id, recovered: true });
      // recovered there from here, then moved on to a third server: the move from here is still the evidence
      const movedOn = await make('moved-on', here.server.id, { operation: 'move', from_server: here.server.id, to_server: there.server.id, recovered: true });
      const onward = { id: newId(), operation: 'move', started_at: new Date().toISOString() };
      await store.beginOperation(movedOn, onward);
      await store.moveContainer(movedOn, { operation_id: onward.id, from_server: there.server.id, to_server: third.server.id, log: logEntry('stopped', 'stopped', { operation: 'move', from_server: there.server.id, to_server: third.server.id }) });
      const made = join(dir, 'made-here');
      await mkdir(made);
      await writeFile(join(made, halfMade), '');
      const alive = new Set([running, ghost, movedOn]);
      const states: RuntimeState[] = [movedAway, halfMade, noEvidence, mine, running, livedOn, ghost, movedOn].map((id) => ({ id, status: alive.has(id) ? 'running' : 'stopped', pid: null, exitCode: null }) as unknown as RuntimeState);
      const deleted: string[] = [];
      const killed: string[] = [];
      const driver = {
        list: async () => states,
        delete: async (id: string) => void deleted.push(id),
        kill: async (id: string, sig: NodeJS.Signals) => void killed.push(`${id}:${sig}`),
        resume: async () => undefined,
        waitExit: async () => undefined,
      };
      // while the daemon runs, a marked container is a move or recovery in progress: left alone
      await writeFile(join(made, movedAway), '');
      const whileRunning = await removeMovedAway(store, driver, here.server, { dir: made, running: true }, () => undefined);
      assert.deepEqual(whileRunning.sort(), [livedOn, ghost, movedOn].sort());
      assert.deepEqual(killed.sort(), [`${ghost}:SIGKILL`, `${movedOn}:SIGKILL`].sort(), 'only the recovered copies are killed');
      deleted.length = 0;
      const removed = await removeMovedAway(store, driver, here.server, { dir: made, running: false }, () => undefined);
      assert.deepEqual(removed.sort(), [movedAway, halfMade, livedOn, ghost, movedOn].sort());
      assert.deepEqual(deleted.sort(), [movedAway, halfMade, livedOn, ghost, movedOn].sort());
    } finally {
      await store.close();
    }
  });
});
