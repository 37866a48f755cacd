/** Finding the overlay mounts that use a layer, from mountinfo lines. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lowerDirsOf, parseMountLine } from './layer-mounts.ts';

test('a mountinfo line gives its mount point, file system type and options, with escaped spaces undone', () => {
  const line = '612 26 0:71 / /data/runtime/containers/a\\040b/rootfs rw,nosuid,relatime shared:300 - overlay overlay rw,lowerdir=/d/.oci/l/abcdefgh:/d/.oci/l/ijklmnop,upperdir=/u,workdir=/w,uuid=on';
  assert.deepEqual(parseMountLine(line), {
    point: '/data/runtime/containers/a b/rootfs',
    fstype: 'overlay',
    options: 'rw,lowerdir=/d/.oci/l/abcdefgh:/d/.oci/l/ijklmnop,upperdir=/u,workdir=/w,uuid=on',
  });
  assert.equal(parseMountLine(''), undefined);
});

test('lower dirs are read from lowerdir= (mount) and from each lowerdir+= (fsconfig)', () => {
  assert.deepEqual(lowerDirsOf('rw,lowerdir=/a:/b,upperdir=/u,workdir=/w'), ['/a', '/b']);
  assert.deepEqual(lowerDirsOf('rw,lowerdir+=/a,lowerdir+=/b\\054c,upperdir=/u'), ['/a', '/b,c']);
  assert.deepEqual(lowerDirsOf('rw,upperdir=/u'), []);
  assert.deepEqual(lowerDirsOf('rw,lowerdir=l/ab\\072c:l/de,upperdir=/u'), ['l/ab:c', 'l/de'], 'relative, and a colon escaped in a path');
});
