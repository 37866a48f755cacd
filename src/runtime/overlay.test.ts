/**
 * Unmounting several mount points at once: the outcome must be that of one unmount at a time,
 * until nothing is mounted. Needs root (mounts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bindMount, isMountPoint, MAX_MOUNT_OPTIONS_BYTES, mountOverlay, overlayOptions, unmountAll, unmountOverlay } from './overlay.ts';
import { mount } from './mount-syscalls.ts';
import { mountScratch } from '../../test/mount-scratch.ts';

const tmpfs = (target: string): Promise<void> => mount({ source: 'tmpfs', target, fstype: 'tmpfs', flags: 0 });

const scratch = (): ReturnType<typeof mountScratch> => mountScratch('hoody-overlay-');

describe('overlay options', () => {
  it('stacks several lowers, topmost first, as lowerdir=a:b:c', () => {
    assert.equal(overlayOptions({ lower: ['/s/l/top', '/s/l/mid', '/s/l/base'], upper: '/c/upper', work: '/c/work' }), 'lowerdir=/s/l/top:/s/l/mid:/s/l/base,upperdir=/c/upper,workdir=/c/work');
    assert.equal(overlayOptions({ lower: '/img/rootfs', upper: '/c/upper', work: '/c/work' }), 'lowerdir=/img/rootfs,upperdir=/c/upper,workdir=/c/work');
  });

  it('refuses options longer than one page, naming the layer count', () => {
    const lowers = Array.from({ length: 200 }, (_, i) => `/var/lib/hoody/images/.oci/l/${String(i).padStart(10, '0')}`);
    assert.throws(() => overlayOptions({ lower: lowers, upper: '/c/upper', work: '/c/work' }), (err: Error) => /200 layers/.test(err.message) && err.message.includes(String(MAX_MOUNT_OPTIONS_BYTES)));
    // 100 short links fit
    assert.ok(overlayOptions({ lower: lowers.slice(0, 100), upper: '/c/upper', work: '/c/work' }).length < MAX_MOUNT_OPTIONS_BYTES);
  });

  it('refuses paths holding a separator and an empty stack', () => {
    assert.throws(() => overlayOptions({ lower: ['/a', '/b:c'], upper: '/u', work: '/w' }), /holds/);
    assert.throws(() => overlayOptions({ lower: [], upper: '/u', work: '/w' }), /without a lower/);
  });
});

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

  it('mounts several lowers with the topmost first', async () => {
    const { dir, cleanup } = await scratch();
    try {
      const [top, base] = [join(dir, 'top'), join(dir, 'base')];
      await Promise.all([mkdir(top), mkdir(base)]);
      await Promise.all([writeFile(join(top, 'f'), 'top'), writeFile(join(base, 'f'), 'base'), writeFile(join(base, 'g'), 'base')]);
      const merged = join(dir, 'merged');
      await mountOverlay({ lower: [top, base], upper: join(dir, 'upper'), work: join(dir, 'work'), merged, owner: { uid: 0, gid: 0 } });
      assert.equal(await readFile(join(merged, 'f'), 'utf8'), 'top');
      assert.equal(await readFile(join(merged, 'g'), 'utf8'), 'base');
      await unmountOverlay(merged);
    } finally {
      await cleanup();
    }
  });

  it('mounts more layers than one page of mount options holds, through the new mount API, nosuid and nodev', async () => {
    const { dir, cleanup } = await scratch();
    try {
      const lowers: string[] = [];
      // long folder names: 150 of them are far past 4096 bytes of lowerdir=
      for (let i = 0; i < 150; i++) {
        const layer = join(dir, `layer-${String(i).padStart(3, '0')}-${'x'.repeat(40)}`);
        await mkdir(layer);
        await writeFile(join(layer, `f${i}`), String(i));
        await writeFile(join(layer, 'top'), String(i));
        lowers.push(layer);
      }
      assert.throws(() => overlayOptions({ lower: lowers, upper: join(dir, 'upper'), work: join(dir, 'work') }), /150 layers/);
      const merged = join(dir, 'merged');
      await mountOverlay({ lower: lowers, upper: join(dir, 'upper'), work: join(dir, 'work'), merged, owner: { uid: 0, gid: 0 } });
      assert.equal(await readFile(join(merged, 'top'), 'utf8'), '0', 'the first lower is the topmost');
      assert.equal(await readFile(join(merged, 'f149'), 'utf8'), '149', 'the lowest layer is there');
      const line = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.split(' ')[4] === merged) ?? '';
      assert.match(line.split(' ')[5] ?? '', /nosuid/);
      assert.match(line.split(' ')[5] ?? '', /nodev/);
      await unmountOverlay(merged);
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
