/**
 * Snapshots of real overlay upper dirs: capture, restore and compare every inode fact (owners,
 * modes, setuid, a file capability, xattrs, whiteouts, an opaque folder, hard links, symlinks,
 * FIFOs, sparse files, odd names, mtimes to the nanosecond); incremental captures read only what
 * changed; a failed restore leaves the target as it was; deleted snapshots' objects are collected.
 * Needs root, setcap, setfattr and getfattr.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, readFile, readlink, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mountScratch } from './mount-scratch.ts';
import { diffTrees, treeSum, whiteouts, type TreeEntry } from './tree-compare.ts';
import { inodeFacts, listTree, makeLower, mountAt, overlayPaths, overlayXattrs, run, unmountAt, writeEverything } from './snapshot-fixtures.ts';
import { SnapshotStore } from '../src/snapshots/store.ts';
import { readManifest } from '../src/snapshots/manifest.ts';
import { settleRestore } from '../src/snapshots/restore.ts';

const IDS = { uid: 2_500_000_000, gid: 2_500_000_000, size: 65_536 };
const skip = process.getuid?.() !== 0 ? 'needs root' : false;

/** Everything a restored upper dir must have as the captured one had it. */
async function assertSameUpper(got: string, want: string): Promise<void> {
  // overlayfs makes its whiteouts hard links of one inode in its work dir, outside the upper dir: a restored one stands alone
  const sum = async (d: string): Promise<TreeEntry[]> => (await treeSum(d, { xattrs: true })).map((e) => (e.type === 'c' ? { ...e, nlink: 1 } : e));
  assert.deepEqual(diffTrees(await sum(got), await sum(want)), [], 'types, modes, owners, links, contents and xattrs');
  assert.deepEqual(await inodeFacts(got), await inodeFacts(want), 'mtimes and link counts');
  assert.equal(await overlayXattrs(got), await overlayXattrs(want), 'trusted.overlay and security xattrs');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('snapshots', { skip }, () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  before(async () => {
    ({ dir, cleanup } = await mountScratch('hoody-snapshots-'));
  });
  after(() => cleanup());

  /** A stopped container's upper dir with everything in it, in a folder of its own. */
  const containerWithEverything = async (name: string): Promise<ReturnType<typeof overlayPaths>> => {
    const o = overlayPaths(join(dir, name));
    await makeLower(o, IDS);
    await mountAt(o, IDS);
    try {
      await writeEverything(o.merged, IDS);
    } finally {
      await unmountAt(o);
    }
    return o;
  };

  it('a restored upper dir equals the captured one in every inode fact, and symlinks are kept, never followed', async () => {
    const o = await containerWithEverything('c1');
    const store = await SnapshotStore.open(join(dir, 'store1'));
    const upperFacts = await inodeFacts(o.upper);
    const snap = await store.capture(o.upper, 'c1-s1', { meta: { container: 'c1', image: 'test' } });
    assert.deepEqual(await inodeFacts(o.upper), upperFacts, 'capture changes nothing in the upper dir');
    assert.equal(snap.id, 'c1-s1');
    assert.deepEqual(snap.meta, { container: 'c1', image: 'test' });
    assert.ok(snap.bytes > 4 << 30, `logical size counts the sparse file (${snap.bytes})`);
    assert.ok(snap.newBytes < 2 << 20, `stored size keeps its holes (${snap.newBytes})`);

    // the tree: a symlink to /etc/passwd stays a symlink; nothing of the host's /etc is in it
    const tree = join(store.dir('c1-s1'), 'tree');
    assert.equal(await readlink(join(tree, 'passwd-link')), '/etc/passwd');
    assert.ok(!(await listTree(tree)).some((p) => p.startsWith('etc/passwd')), 'the host file was not copied');
    assert.equal((await stat(join(tree, 'root-file'))).nlink, 2, 'a tree file is a hard link to its object');
    assert.deepEqual(whiteouts(await treeSum(tree)), ['etc/doomed']);

    const restored = join(dir, 'c1', 'restored');
    const r = await store.restore('c1-s1', restored);
    assert.equal(r.files, snap.files);
    await assertSameUpper(restored, o.upper);
    assert.equal((await stat(join(restored, 'root-file'))).nlink, 1, 'restored files are copies, not links to objects');
    assert.ok((await stat(join(restored, 'sparse.img'))).blocks * 512 < 1 << 20, 'the sparse file is restored sparse');
    assert.match(await run('getcap', [join(restored, 'capable')]), /cap_net_bind_service=ep/);
    assert.equal((await readFile('/etc/passwd', 'utf8')).includes('root:'), true);
  });

  it('restoring onto the container brings its merged view back to the moment of the snapshot', async () => {
    const o = await containerWithEverything('c2');
    const store = await SnapshotStore.open(join(dir, 'store2'));
    await mountAt(o, IDS);
    const before = await treeSum(o.merged, { xattrs: true });
    await unmountAt(o);
    await store.capture(o.upper, 'c2-s1');

    await mountAt(o, IDS);
    await writeFile(join(o.merged, 'root-file'), 'overwritten later\n');
    await rm(join(o.merged, 'home'), { recursive: true });
    await rm(join(o.merged, 'etc/hostname'));
    await writeFile(join(o.merged, 'added-later'), 'x');
    await assert.rejects(store.restore('c2-s1', o.upper), /an overlay mounted now writes to it/);
    await unmountAt(o);

    await store.restore('c2-s1', o.upper);
    await mountAt(o, IDS);
    try {
      assert.deepEqual(diffTrees(await treeSum(o.merged, { xattrs: true }), before), []);
    } finally {
      await unmountAt(o);
    }
    assert.deepEqual((await readdir(join(dir, 'c2'))).filter((n) => n.includes('restore')), [], 'no leftovers beside the upper dir');
  });

  it('a second snapshot after changing one file of many reads that file alone and stores one new object', async () => {
    const o = overlayPaths(join(dir, 'c3'));
    await mkdir(o.lower, { recursive: true });
    await mountAt(o, IDS);
    for (let i = 0; i < 300; i++) await writeFile(join(o.merged, `file-${i}`), `content ${i}\n`.repeat(i + 1));
    await writeFile(join(o.merged, 'big'), Buffer.alloc(3 << 20, 1));
    await unmountAt(o);
    await sleep(150); // a file changed within a clock tick of its capture is read again next time
    const store = await SnapshotStore.open(join(dir, 'store3'));
    const first = await store.capture(o.upper, 's1');
    assert.equal(first.readFiles, 301);
    assert.equal(first.newObjects, 301);

    await mountAt(o, IDS);
    await writeFile(join(o.merged, 'file-17'), 'changed\n');
    await unmountAt(o);
    const second = await store.capture(o.upper, 's2', { previous: 's1' });
    assert.equal(second.readFiles, 1, 'only the changed file was read');
    assert.equal(second.readBytes, 8);
    assert.equal(second.reusedFiles, 300);
    assert.equal(second.newObjects, 1);
    assert.ok(second.newBytes <= 8192, `the second snapshot costs one small object (${second.newBytes} bytes)`);

    const restored = join(dir, 'c3', 'restored');
    await store.restore('s2', restored);
    await assertSameUpper(restored, o.upper);
    assert.deepEqual((await store.list()).map((s) => s.id), ['s1', 's2']);
    assert.equal((await store.get('s2')).previous, 's1');
  });

  it('with freeze hooks, the frozen pass reads only what changed after the first pass, and the hooks run once each', async () => {
    const o = overlayPaths(join(dir, 'c4'));
    await mkdir(o.lower, { recursive: true });
    await mountAt(o, IDS);
    for (let i = 0; i < 50; i++) await writeFile(join(o.merged, `f${i}`), `v1 ${i}\n`);
    await sleep(150);
    const store = await SnapshotStore.open(join(dir, 'store4'));
    const calls: string[] = [];
    const snap = await store.capture(o.upper, 'live', {
      freeze: {
        freeze: async () => {
          calls.push('freeze');
        },
        thaw: async () => {
          calls.push('thaw');
        },
      },
      onStep: async (step) => {
        calls.push(step);
        // the container writes while the first pass has run: the frozen pass must take it
        if (step === 'frozen') await writeFile(join(o.merged, 'f7'), 'v2 written during the first pass\n');
      },
    });
    await unmountAt(o);
    assert.deepEqual(calls, ['prescan', 'frozen', 'freeze', 'thaw', 'store', 'tree', 'commit']);
    assert.equal(snap.readFiles, 51, 'fifty files in the first pass, the one written since in the frozen one');
    assert.equal(snap.reusedFiles, 49);
    assert.ok(snap.timings.frozenMs >= 0 && snap.timings.frozenMs < 1000, `frozen ${snap.timings.frozenMs} ms`);
    const restored = join(dir, 'c4', 'restored');
    await store.restore('live', restored);
    assert.equal(await readFile(join(restored, 'f7'), 'utf8'), 'v2 written during the first pass\n');
    await assertSameUpper(restored, o.upper);
  });

  it('a restore that fails half-way leaves the target as it was, and no leftovers', async () => {
    const o = await containerWithEverything('c5');
    const store = await SnapshotStore.open(join(dir, 'store5'));
    await store.capture(o.upper, 's1');
    const target = join(dir, 'c5', 'target');
    await mkdir(target);
    await writeFile(join(target, 'keep-me'), 'the old upper dir\n');
    const was = await inodeFacts(target);
    let placed = 0;
    await assert.rejects(
      store.restore('s1', target, {
        onFile: () => {
          if (++placed === 5) throw new Error('disk full (simulated)');
        },
      }),
      /disk full/,
    );
    assert.deepEqual(await inodeFacts(target), was);
    // a real failure too: an object gone from under the store
    const manifest = await readManifest(join(store.dir('s1'), 'manifest.jsonl'));
    const victim = manifest.find((e) => e.type === 'f' && e.name.toString() === 'notes.txt')!;
    await unlink(store.objects.path(victim.object!));
    await assert.rejects(store.restore('s1', target), /ENOENT/);
    assert.deepEqual(await inodeFacts(target), was);
    assert.deepEqual((await readdir(join(dir, 'c5'))).filter((n) => n.includes('restore')), []);
  });

  it('a held restore keeps the replaced files until commit or undo, and after a crash settleRestore undoes or keeps it by its mark', async () => {
    const o = await containerWithEverything('c9');
    const store = await SnapshotStore.open(join(dir, 'store9'));
    await store.capture(o.upper, 's1');
    const target = join(dir, 'c9', 'target');
    const reset = async (): Promise<void> => {
      await rm(target, { recursive: true, force: true });
      await mkdir(target);
      await writeFile(join(target, 'old-file'), 'the files before the restore\n');
    };
    const leftovers = async (): Promise<string[]> => (await readdir(join(dir, 'c9'))).filter((n) => n.includes('restore'));
    const marked = async (): Promise<boolean> => (await run('getfattr', ['-d', '-m', 'trusted.hoody', '--absolute-names', target]).catch(() => '')).includes('trusted.hoody.restore');

    // committed: the snapshot's files stay, the replaced ones and the mark go
    await reset();
    const committed = await store.restore('s1', target, { hold: true });
    assert.equal(await marked(), true, 'swapped in and not committed: the root carries the mark');
    assert.equal((await leftovers()).length, 1, 'the replaced files are kept beside');
    await committed.commit!();
    await assertSameUpper(target, o.upper);
    assert.equal(await marked(), false);
    assert.deepEqual(await leftovers(), []);
    await assert.rejects(committed.undo!(), /committed or undone already/);

    // undone: the replaced files come back as they were
    await reset();
    const before = await inodeFacts(target);
    const undone = await store.restore('s1', target, { hold: true });
    await undone.undo!();
    assert.deepEqual(await inodeFacts(target), before);
    assert.deepEqual(await leftovers(), []);

    // a crash after the swap, the restore never recorded: settled with undo, the old files come back
    await reset();
    const old = await inodeFacts(target);
    await store.restore('s1', target, { hold: true });
    assert.equal(await settleRestore(target, true), 'undone');
    assert.deepEqual(await inodeFacts(target), old);
    assert.deepEqual(await leftovers(), []);

    // a crash after the swap and after the restore was recorded: settled without undo, the snapshot's files stay, unmarked
    await reset();
    await store.restore('s1', target, { hold: true });
    assert.equal(await settleRestore(target, false), 'kept');
    await assertSameUpper(target, o.upper);
    assert.equal(await marked(), false);
    assert.deepEqual(await leftovers(), []);

    // a crash before the swap (a half-built tree beside): nothing to undo, the leftover goes
    await reset();
    const untouched = await inodeFacts(target);
    let placed = 0;
    await assert.rejects(store.restore('s1', target, { hold: true, onFile: () => { if (++placed === 3) throw new Error('killed (simulated)'); } }), /killed/);
    assert.equal(await settleRestore(target, true), 'none');
    assert.deepEqual(await inodeFacts(target), untouched);
    assert.deepEqual(await leftovers(), []);
  });

  it('after a restore, the next capture given its hint reads only what changed since, and the snapshot is whole', async () => {
    const o = overlayPaths(join(dir, 'c10'));
    await mkdir(o.lower, { recursive: true });
    await mountAt(o, IDS);
    for (let i = 0; i < 200; i++) await writeFile(join(o.merged, `file-${i}`), `content ${i}\n`.repeat(i + 1));
    await mkdir(join(o.merged, 'sub'));
    await writeFile(join(o.merged, 'sub', 'deep'), 'deep\n');
    await unmountAt(o);
    await sleep(150);
    const store = await SnapshotStore.open(join(dir, 'store10'));
    await store.capture(o.upper, 's1');
    // the container's files replaced by the snapshot's, as a restore does
    const upper = join(dir, 'c10', 'upper2');
    await store.restore('s1', upper);
    assert.equal(await store.recordRestored('s1', upper, 'box'), 201, 'every regular file recorded');
    assert.deepEqual(await store.hints(), ['box']);

    // the container runs again and changes two files, one to the same size with its old mtime put back
    const o2 = { ...o, upper };
    await mountAt(o2, IDS);
    await writeFile(join(o.merged, 'file-3'), 'changed\n');
    const old = await stat(join(o.merged, 'file-9'));
    await writeFile(join(o.merged, 'file-9'), 'CONTENT 9\n'.repeat(10));
    await run('touch', ['-d', old.mtime.toISOString(), join(o.merged, 'file-9')]);
    await unmountAt(o2);
    const next = await store.capture(upper, 's2', { previous: 's1', hint: 'box' });
    assert.equal(next.readFiles, 2, 'the two changed files were read, the 199 others reused unread');
    assert.equal(next.reusedFiles, 199);
    assert.equal((await store.get('s2')).previous, 's1');
    const back = join(dir, 'c10', 'back');
    await store.restore('s2', back);
    await assertSameUpper(back, upper);
    assert.equal(await readFile(join(back, 'file-9'), 'utf8'), 'CONTENT 9\n'.repeat(10), 'the rewrite with its mtime put back was read, not reused');

    // a hint whose snapshot is gone is not used: everything is read
    await store.delete('s1');
    const third = await store.capture(upper, 's3', { hint: 'box' });
    assert.equal(third.readFiles, 201);
    await store.dropHint('box');
    assert.deepEqual(await store.hints(), []);
  });

  it('collecting garbage removes the objects only deleted snapshots held, and keeps the rest', async () => {
    const o = overlayPaths(join(dir, 'c6'));
    await mkdir(o.lower, { recursive: true });
    await mountAt(o, IDS);
    await writeFile(join(o.merged, 'shared'), 'in both snapshots\n');
    await writeFile(join(o.merged, 'only-first'), 'first snapshot only\n');
    await unmountAt(o);
    const store = await SnapshotStore.open(join(dir, 'store6'));
    await store.capture(o.upper, 'a');
    await mountAt(o, IDS);
    await rm(join(o.merged, 'only-first'));
    await writeFile(join(o.merged, 'only-second'), 'second snapshot only\n');
    await unmountAt(o);
    await store.capture(o.upper, 'b', { previous: 'a' });

    assert.deepEqual(await store.collect(), { removed: 0, bytes: 0, kept: 3 });
    await store.delete('a');
    assert.deepEqual((await store.list()).map((s) => s.id), ['b']);
    const collected = await store.collect();
    assert.equal(collected.removed, 1);
    assert.equal(collected.kept, 2);
    const restored = join(dir, 'c6', 'restored');
    await store.restore('b', restored);
    await assertSameUpper(restored, o.upper);
    await store.delete('b');
    assert.equal((await store.collect()).removed, 2);
    const left = await readdir(join(dir, 'store6', 'objects'), { recursive: true });
    assert.ok(left.every((p) => !p.includes('/')), `no object left: ${left.join(', ')}`);
    await assert.rejects(store.get('b'), /ENOENT/);
  });

  it('a tree deeper than PATH_MAX, with long names, a name that is not UTF-8 and a hard link at the bottom, is captured and restored whole', async () => {
    const o = overlayPaths(join(dir, 'c7'));
    await mkdir(o.lower, { recursive: true });
    await mkdir(o.upper, { recursive: true });
    try {
      const name = 'd'.repeat(200);
      await run('bash', ['-c', `cd "$1" && for i in $(seq 40); do mkdir ${name} && cd ${name}; done && echo bottom > file && ln -s /etc/shadow shadow-link && ln file file-link && printf x > $'bad\\xff\\xfe'`, '-', o.upper]);
      const store = await SnapshotStore.open(join(dir, 'store7'));
      const snap = await store.capture(o.upper, 'deep');
      assert.equal(snap.entries, 1 + 40 + 4);
      const restored = join(dir, 'c7', 'restored');
      await store.restore('deep', restored);
      const facts = await inodeFacts(restored);
      assert.deepEqual(facts, await inodeFacts(o.upper));
      assert.ok(facts.some((l) => l.includes('/bad\u00ff\u00fe"')), 'the name keeps its bytes');
      assert.equal(await run('find', [restored, '-name', 'shadow-link', '-printf', '%l']), '/etc/shadow');
      assert.equal(await run('find', [restored, '-name', 'file', '-printf', '%n']), '2');
    } finally {
      // Node's recursive rm stops at PATH_MAX
      await run('rm', ['-rf', join(dir, 'c7'), join(dir, 'store7')]);
    }
  });

  it('snapshots packed by one store are received whole by another: files two of them share arrive once, objects it had already are shared', async () => {
    const o = await containerWithEverything('c10');
    const from = await SnapshotStore.open(join(dir, 'store9a'));
    await from.capture(o.upper, 's1');
    await mountAt(o, IDS);
    await writeFile(join(o.merged, 'added-later'), 'second snapshot only\n');
    await unmountAt(o);
    await from.capture(o.upper, 's2', { previous: 's1' });
    const packed = await from.pack(['s1', 's2'], join(dir, 'c10', 'out.tar'));
    const sizeOfBoth = (await stat(join(from.dir('s1'), 'tree', 'sparse.img'))).blocks * 512;
    assert.ok(packed.bytes < sizeOfBoth + (8 << 20), `a shared file goes once (${packed.bytes} bytes)`);

    // the receiving store has one of the objects already (a snapshot of its own with the same file)
    const to = await SnapshotStore.open(join(dir, 'store9b'));
    const own = overlayPaths(join(dir, 'c9own'));
    await mkdir(own.lower, { recursive: true });
    await mountAt(own, IDS);
    await writeFile(join(own.merged, 'added-later'), 'second snapshot only\n');
    await unmountAt(own);
    await to.capture(own.upper, 'own');
    const ownObject = (await readManifest(join(to.dir('own'), 'manifest.jsonl'))).find((e) => e.name.toString() === 'added-later')!.object!;

    assert.deepEqual(await to.receive(packed.open(), packed.sha256), ['s1', 's2']);
    assert.deepEqual(await to.receive(packed.open(), packed.sha256), [], 'snapshots it has are left as they are');
    assert.deepEqual(await readdir(join(dir, 'store9b', 'tmp')), [], 'nothing left in tmp');
    assert.deepEqual((await to.list()).map((s) => s.id).sort(), ['own', 's1', 's2']);
    // the received trees are names of the objects here: one inode for the shared file, the one it had for its own
    const inode = async (p: string): Promise<bigint> => (await stat(p, { bigint: true })).ino;
    assert.equal(await inode(join(to.dir('s2'), 'tree', 'added-later')), await inode(to.objects.path(ownObject)));
    assert.equal(await inode(join(to.dir('s1'), 'tree', 'root-file')), await inode(join(to.dir('s2'), 'tree', 'root-file')));
    assert.equal((await to.collect()).removed, 0, 'every object received is held by a snapshot');
    for (const id of ['s1', 's2']) {
      const restored = join(dir, 'c10', `restored-${id}`);
      await to.restore(id, restored);
      const want = join(dir, 'c10', `want-${id}`);
      await from.restore(id, want);
      await assertSameUpper(restored, want);
    }

    // a damaged stream is refused and leaves nothing
    const bad = await to.receive(packed.open(), '0'.repeat(64)).then(() => 'taken', (err: Error) => err.message);
    assert.match(bad, /SHA-256/);
    await from.delete('s1');
    await from.delete('s2');
    const again = await SnapshotStore.open(join(dir, 'store9c'));
    await assert.rejects(again.receive(packed.open(), '1'.repeat(64)), /SHA-256/);
    assert.deepEqual(await readdir(join(dir, 'store9c', 'trees')), []);
    assert.deepEqual(await readdir(join(dir, 'store9c', 'tmp')), []);
    await packed.remove();
  });

  it('a snapshot id that could name another folder is refused', async () => {
    const store = await SnapshotStore.open(join(dir, 'store8'));
    for (const id of ['../x', 'a/b', '', '.hidden', 'x'.repeat(129)]) await assert.rejects(store.capture(dir, id), /snapshot id/);
    assert.deepEqual(await readdir(join(dir, 'store8', 'trees')), []);
    assert.ok((await lstat(join(dir, 'store8', 'tmp'))).isDirectory());
  });
});
