/**
 * mount(2) and umount2(2) through the FFI: real mounts in a scratch folder, checked against
 * /proc/self/mountinfo. Needs root.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoName, MNT_DETACH, MS_BIND, MS_NODEV, MS_NOSUID, mount, umount2 } from './mount-syscalls.ts';
import { RuntimeError } from './driver.ts';
import { mountScratch } from '../../test/mount-scratch.ts';

interface MountInfo {
  fstype: string;
  /** Per-mount options (field 6): rw, nosuid, nodev, relatime… */
  mountOptions: string[];
  /** The file system's options (the last field): lowerdir=… for an overlay. */
  superOptions: string[];
}

/** The mountinfo lines whose mount point is `path`, top of the stack last. */
async function mountsAt(path: string): Promise<MountInfo[]> {
  const lines = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter(Boolean);
  return lines
    .map((l) => l.split(' '))
    .filter((f) => f[4] === path)
    .map((f) => {
      const dash = f.indexOf('-');
      return { fstype: f[dash + 1] ?? '', mountOptions: (f[5] ?? '').split(','), superOptions: (f[dash + 3] ?? '').split(',') };
    });
}

const scratch = (): ReturnType<typeof mountScratch> => mountScratch('hoody-mount-');

describe('mount syscalls', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, () => {
  it('mounts an overlay with its flags and options, as mountinfo shows, and unmounts it', async () => {
    const { dir, cleanup } = await scratch();
    try {
      const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((d) => join(dir, d)) as [string, string, string, string];
      await Promise.all([lower, upper, work, merged].map((d) => mkdir(d)));
      await writeFile(join(lower, 'from-lower'), 'image');
      await mount({ source: 'overlay', target: merged, fstype: 'overlay', flags: MS_NOSUID | MS_NODEV, data: `lowerdir=${lower},upperdir=${upper},workdir=${work}` });
      const [m, ...more] = await mountsAt(merged);
      assert.equal(more.length, 0, 'one mount');
      assert.equal(m?.fstype, 'overlay');
      for (const opt of ['rw', 'nosuid', 'nodev']) assert.ok(m?.mountOptions.includes(opt), `mount option ${opt} in ${m?.mountOptions.join(',')}`);
      for (const opt of [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`]) assert.ok(m?.superOptions.includes(opt), `${opt} in ${m?.superOptions.join(',')}`);
      // the overlay works: the image's file shows, a write lands in the upper dir
      assert.equal(await readFile(join(merged, 'from-lower'), 'utf8'), 'image');
      await writeFile(join(merged, 'written'), 'upper');
      assert.equal(await readFile(join(upper, 'written'), 'utf8'), 'upper');
      await umount2(merged);
      assert.deepEqual(await mountsAt(merged), [], 'nothing mounted after umount2');
    } finally {
      await cleanup();
    }
  });

  it('bind-mounts only the mount given (no MS_REC), as `mount --bind` does', async () => {
    const { dir, cleanup } = await scratch();
    try {
      const [source, below, target] = ['source', 'source/below', 'target'].map((d) => join(dir, d)) as [string, string, string];
      await Promise.all([mkdir(source), mkdir(target)]);
      await mount({ source: 'tmpfs', target: source, fstype: 'tmpfs', flags: 0, data: 'size=1m' });
      await mkdir(below);
      await mount({ source: 'tmpfs', target: below, fstype: 'tmpfs', flags: 0, data: 'size=1m' });
      await writeFile(join(source, 'top'), 'x');
      await mount({ source, target, flags: MS_BIND });
      const [m] = await mountsAt(target);
      assert.equal(m?.fstype, 'tmpfs', 'the bind shows the source file system');
      assert.equal(await readFile(join(target, 'top'), 'utf8'), 'x');
      assert.deepEqual(await mountsAt(join(target, 'below')), [], 'the mount under the source is not carried along');
      await umount2(target);
      assert.deepEqual(await mountsAt(target), []);
    } finally {
      await cleanup();
    }
  });

  it('a failed call rejects with the call, the path and the errno name', async () => {
    const { dir, cleanup } = await scratch();
    try {
      const missing = join(dir, 'missing');
      await assert.rejects(mount({ source: 'tmpfs', target: missing, fstype: 'tmpfs', flags: 0 }), (err: unknown) => {
        assert.ok(err instanceof RuntimeError);
        assert.equal(err.message, `mount "${missing}": ENOENT`);
        assert.equal(err.details.errno, 'ENOENT');
        return true;
      });
      // a folder that is not a mount point
      await assert.rejects(umount2(dir), (err: unknown) => err instanceof RuntimeError && err.message === `umount "${dir}": EINVAL`);
      // an unknown file system type
      await assert.rejects(mount({ source: 'x', target: dir, fstype: 'no-such-fs', flags: 0 }), /: ENODEV$/);
    } finally {
      await cleanup();
    }
  });

  it('a busy mount refuses umount2 with EBUSY and goes with MNT_DETACH', async () => {
    const { dir, cleanup } = await scratch();
    try {
      const target = join(dir, 'busy');
      await mkdir(target);
      await mount({ source: 'tmpfs', target, fstype: 'tmpfs', flags: 0 });
      await writeFile(join(target, 'held'), '');
      const held = await open(join(target, 'held'), 'r');
      try {
        await assert.rejects(umount2(target), /: EBUSY$/);
        await umount2(target, MNT_DETACH);
        assert.deepEqual(await mountsAt(target), []);
      } finally {
        await held.close();
      }
    } finally {
      await cleanup();
    }
  });

  it('takes a burst of calls larger than the FFI queue (256): each answers with its own outcome', async () => {
    const { dir, cleanup } = await scratch();
    try {
      const results = await Promise.allSettled(Array.from({ length: 400 }, (_, i) => umount2(join(dir, `not-mounted-${i}`))));
      const messages = results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'fulfilled'));
      assert.deepEqual(messages, results.map((_, i) => `umount "${join(dir, `not-mounted-${i}`)}": ENOENT`));
    } finally {
      await cleanup();
    }
  });

  it('names errno values', () => {
    assert.equal(errnoName(2), 'ENOENT');
    assert.equal(errnoName(16), 'EBUSY');
    assert.equal(errnoName(99999), 'errno 99999');
  });
});
