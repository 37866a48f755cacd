/**
 * Unmounting several mount points at once: the outcome must be that of one unmount at a time,
 * until nothing is mounted. Needs root (mounts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bindMount, isMountPoint, mountOverlay, unmountAll, unmountOverlay } from './overlay.ts';
import { mount } from './mount-syscalls.ts';
import { mountScratch } from '../../test/mount-scratch.ts';

const tmpfs = (target: string): Promise<void> => mount({ source: 'tmpfs', target, fstype: 'tmpfs', flags: 0 });

const scratch = (): ReturnType<typeof mountScratch> => mountScratch('hoody-overlay-');

describe('overlay mounts', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, () => {
  it('unmountAll unmounts the alias and the overlay under it, stacked layers included', async () => {
    const { dir, cleanup } = await scratch();
    try {
      const lower = join(dir, 'lower');
      const alias = join(dir, 'alias');
      await Promise.all([mkdir(lower), mkdir(alias)]);
      const merged = join(dir, 'merged');
      await mountOverlay({ lower, upper: join(dir, 'upper'), work: join(dir, 'work'), merged, owner: { uid: 0, gid: 0 } });
      await bindMount(merged, alias);
      // a second layer on the overlay's mount point: one umount of each path leaves it behind
      await tmpfs(merged);
      await unmountAll([alias, merged]);
      assert.equal(await isMountPoint(alias), false, 'the alias is unmounted');
      assert.equal(await isMountPoint(merged), false, 'every layer on the overlay mount point is unmounted');
    } finally {
      await cleanup();
    }
  });

  it('unmountAll skips what is not mounted', async () => {
    const { dir, cleanup } = await scratch();
    try {
      const a = join(dir, 'a');
      const b = join(dir, 'b');
      await Promise.all([mkdir(a), mkdir(b)]);
      await tmpfs(b);
      await unmountAll([a, b]);
      assert.equal(await isMountPoint(b), false, 'the mounted one is unmounted');
    } finally {
      await cleanup();
    }
  });

  it('unmountOverlay detaches a mount something still holds, and answers once it is gone', async () => {
    const { dir, cleanup } = await scratch();
    try {
      const lower = join(dir, 'lower');
      await mkdir(lower);
      const merged = join(dir, 'merged');
      await mountOverlay({ lower, upper: join(dir, 'upper'), work: join(dir, 'work'), merged, owner: { uid: 0, gid: 0 } });
      await writeFile(join(merged, 'held'), '');
      const held = await open(join(merged, 'held'), 'r');
      try {
        await unmountOverlay(merged);
        assert.equal(await isMountPoint(merged), false, 'the busy overlay is detached');
      } finally {
        await held.close();
      }
    } finally {
      await cleanup();
    }
  });
});
