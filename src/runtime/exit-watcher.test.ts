import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitWatcher } from './exit-watcher.ts';
import type { ExitEvent } from './driver.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function watcher(containers: string[]): Promise<{ w: ExitWatcher; events: ExitEvent[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'hoody-exits-'));
  dirs.push(dir);
  const w = new ExitWatcher(dir, (name) => containers.includes(name));
  await w.open();
  const events: ExitEvent[] = [];
  w.onExit((e) => events.push(e));
  return { w, events };
}

const settle = (ms = 150): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `done()` holds, or 3 s have passed. */
async function until(done: () => boolean): Promise<void> {
  for (const end = Date.now() + 3000; !done() && Date.now() < end; ) await settle(5);
}

describe('ExitWatcher', () => {
  it('keeps giving an exit to the other listeners when one of them throws', async () => {
    const { w, events } = await watcher(['c3']);
    const seen: number[] = [];
    w.onExit(() => {
      throw new Error('listener bug');
    });
    w.onExit((e) => seen.push(e.exitCode ?? -1));
    try {
      await writeFile(join(w.dir, 'c3'), '1');
      await until(() => seen.length > 0);
      assert.deepEqual(seen, [1]);
      assert.equal(events.length, 1);
    } finally {
      w.close();
    }
  });

  it("reports a container's exit once, and not the temporary file it was written through", async () => {
    const { w, events } = await watcher(['c1']);
    try {
      // what conmon does: write a temporary file, then rename it onto the container's id;
      // the temporary file is left in place for a moment so that a read surely finds it full
      await writeFile(join(w.dir, 'c1.AB12CD'), '3');
      await settle();
      await rename(join(w.dir, 'c1.AB12CD'), join(w.dir, 'c1'));
      await until(() => events.length > 0);
      await settle(); // a second report would come now
      assert.deepEqual(
        events.map((e) => [e.id, e.exitCode]),
        [['c1', 3]],
      );
    } finally {
      w.close();
    }
  });

  it('reports again after rearm, and reads an empty file as no exit yet', async () => {
    const { w, events } = await watcher(['c2']);
    try {
      await writeFile(join(w.dir, 'c2'), '');
      await settle();
      assert.equal(events.length, 0);
      assert.equal(await w.read('c2'), undefined);
      await writeFile(join(w.dir, 'c2'), '137');
      await until(() => events.length > 0);
      await writeFile(join(w.dir, 'c2'), '137');
      await settle();
      assert.deepEqual(events.map((e) => e.exitCode), [137]);
      await rm(w.path('c2'));
      w.rearm('c2');
      await writeFile(join(w.dir, 'c2'), '0');
      await until(() => events.length > 1);
      assert.deepEqual(events.map((e) => e.exitCode), [137, 0]);
    } finally {
      w.close();
    }
  });
});
