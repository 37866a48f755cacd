import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile, link } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffTrees, treeSum, whiteouts } from './tree-compare.ts';

async function twoTrees(): Promise<{ a: string; b: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'hoody-tree-compare-'));
  for (const side of ['a', 'b']) {
    const root = join(dir, side);
    await mkdir(join(root, 'etc/sub'), { recursive: true });
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    await writeFile(join(root, 'etc/sub/gone.txt'), 'here\n');
    await writeFile(join(root, 'run.sh'), 'echo hi\n');
    await chmod(join(root, 'run.sh'), 0o755);
    await symlink('/etc/passwd', join(root, 'link'));
    await link(join(root, 'run.sh'), join(root, 'run-hardlink.sh'));
  }
  return { a: join(dir, 'a'), b: join(dir, 'b'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

test('equal trees have no differences, and the sum lists every entry with its details', async () => {
  const t = await twoTrees();
  try {
    const a = await treeSum(t.a);
    assert.deepEqual(diffTrees(a, await treeSum(t.b)), []);
    assert.deepEqual(
      a.map((e) => e.path),
      ['etc', 'etc/passwd', 'etc/sub', 'etc/sub/gone.txt', 'link', 'run-hardlink.sh', 'run.sh'],
    );
    const run = a.find((e) => e.path === 'run.sh')!;
    assert.equal(run.type, 'f');
    assert.equal(run.mode, 0o755);
    assert.equal(run.nlink, 2);
    assert.equal(run.size, 8);
    assert.match(run.sha256!, /^[0-9a-f]{64}$/);
    assert.equal(a.find((e) => e.path === 'link')!.target, '/etc/passwd');
    assert.deepEqual(whiteouts(a), []);
  } finally {
    await t.cleanup();
  }
});

test('a changed mode, a changed content and a missing file are each reported', async () => {
  const t = await twoTrees();
  try {
    await chmod(join(t.a, 'run.sh'), 0o4750);
    await writeFile(join(t.a, 'etc/passwd'), 'root:x:0:0::/root:/bin/sx\n');
    await rm(join(t.a, 'etc/sub/gone.txt'));
    await writeFile(join(t.a, 'extra.txt'), '');
    const diffs = diffTrees(await treeSum(t.a), await treeSum(t.b));
    assert.ok(diffs.includes('mode differs: run.sh: 4750 (expected 0755)'), diffs.join('\n'));
    assert.ok(diffs.includes('mode differs: run-hardlink.sh: 4750 (expected 0755)'), diffs.join('\n'));
    assert.ok(diffs.some((d) => d.startsWith('sha256 differs: etc/passwd: ')), diffs.join('\n'));
    assert.ok(diffs.some((d) => d.startsWith('missing: etc/sub/gone.txt (f ')), diffs.join('\n'));
    assert.ok(diffs.some((d) => d.startsWith('extra: extra.txt')), diffs.join('\n'));
    assert.equal(diffs.length, 5, diffs.join('\n'));
  } finally {
    await t.cleanup();
  }
});

test('owners are read relative to an offset, and ignored paths are skipped', async () => {
  const t = await twoTrees();
  try {
    const st = await treeSum(t.a, { uidOffset: 0, gidOffset: 0 });
    const shifted = st.map((e) => ({ ...e, uid: e.uid + 1000, gid: e.gid + 1000 }));
    assert.ok(diffTrees(shifted, st).some((d) => d.startsWith('uid differs: etc/passwd: ')));
    assert.deepEqual(diffTrees(await treeSum(t.a, { uidOffset: -1000, gidOffset: -1000 }), shifted), []);
    await rm(join(t.a, 'link'));
    assert.deepEqual(diffTrees(await treeSum(t.a), st, { ignore: (p) => p === 'link' }), []);
  } finally {
    await t.cleanup();
  }
});
