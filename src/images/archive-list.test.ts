/** Archive member paths and symlinks, and the sniffing of layer compression. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normalMember, resolveMember, type ArchiveMember } from './archive-list.ts';
import { sniffCompression } from './layer-apply.ts';
import { Limiter, Mutex } from './store-locks.ts';

describe('archive members', () => {
  it('normalises ./ and trailing slashes, refuses absolute paths and ..', () => {
    assert.equal(normalMember('./blobs/sha256/ab/'), 'blobs/sha256/ab');
    assert.throws(() => normalMember('/etc/passwd'), /absolute path/);
    assert.throws(() => normalMember('a/../../x'), /climbs out/);
  });

  it('follows symlinks inside the archive and refuses ones leading out', () => {
    const members: ArchiveMember[] = [
      { type: 'file', path: 'abc.tar', raw: './abc.tar' },
      { type: 'dir', path: 'v1', raw: './v1/' },
      { type: 'symlink', path: 'v1/layer.tar', raw: './v1/layer.tar', target: '../abc.tar' },
      { type: 'symlink', path: 'out', raw: 'out', target: '../../etc/passwd' },
      { type: 'symlink', path: 'loop', raw: 'loop', target: 'loop' },
    ];
    assert.equal(resolveMember(members, 'v1/layer.tar'), 'abc.tar');
    assert.throws(() => resolveMember(members, 'out'), /climbs out/);
    assert.throws(() => resolveMember(members, 'loop'), /loop of symlinks/);
    assert.throws(() => resolveMember(members, 'v1'), /is a folder/);
  });
});

describe('layer compression sniffing', () => {
  it('tells gzip, zstd and plain tar apart by their first bytes', () => {
    assert.equal(sniffCompression(Uint8Array.from([0x1f, 0x8b, 8, 0])), 'gzip');
    assert.equal(sniffCompression(Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd');
    assert.equal(sniffCompression(Uint8Array.from([0x2e, 0x2f, 0, 0])), 'none');
  });
});

describe('store locks', () => {
  it('the mutex runs tasks one at a time, and a failed one does not stop the next', async () => {
    const m = new Mutex();
    const order: number[] = [];
    const slow = m.run(async () => {
      await new Promise((r) => setTimeout(r, 20));
      order.push(1);
      throw new Error('x');
    });
    const fast = m.run(async () => order.push(2));
    await assert.rejects(slow);
    await fast;
    assert.deepEqual(order, [1, 2]);
  });

  it('the limiter runs at most its maximum at once', async () => {
    const l = new Limiter(2);
    let active = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 6 }, () =>
        l.run(async () => {
          peak = Math.max(peak, ++active);
          await new Promise((r) => setTimeout(r, 5));
          active--;
        }),
      ),
    );
    assert.equal(peak, 2);
  });
});
