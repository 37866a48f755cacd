/**
 * Layers follow a change of the server's id range: a layer unpacked for range A (files of
 * container uid 0 and 1000, a setuid file, a file capability) is, once the store runs with range
 * B, owned in B at the same offsets, its setuid bit and capability (rooted at B's first uid)
 * kept when its blob is unpacked again, or shifted in place when no blob is kept; once only, a
 * crash half-way is finished later, mounts from before the change keep their files (also when
 * the move's record cannot be written, when it shifts, and across a restart), and overlapping
 * ranges are refused. Needs root (user namespaces, chown, mounts), setcap, getfattr, chattr.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, chown, copyFile, link, lstat, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { mountScratch } from './mount-scratch.ts';
import { run } from './image-store-fixtures.ts';
import { inNamespace, openIdNamespace } from '../src/images/id-namespace.ts';
import { LayerContentStore, type LayerMeta } from '../src/images/store.ts';
import { shiftTree } from '../src/runtime/id-shift.ts';
import { mount } from '../src/runtime/mount-syscalls.ts';
import { unmountOverlay } from '../src/runtime/overlay.ts';
import type { IdRange } from '../src/runtime/id-range.ts';
import type { StoredImage } from '../src/images/types.ts';

/** Ranges no other test uses: A and B apart, C overlapping A but starting elsewhere. */
const A: IdRange = { uid: 2_400_000_000, gid: 2_400_100_000, size: 65_536 };
const B: IdRange = { uid: 2_410_000_000, gid: 2_410_100_000, size: 65_536 };
const C: IdRange = { uid: 2_400_032_768, gid: 2_400_132_768, size: 65_536 };
const skip = process.getuid?.() !== 0 ? 'needs root' : false;

describe('layers follow a change of the id range', { skip }, () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  let tar = '';
  let diffId = '';

  /** A store over `<dir>/<name>/images` with the range `ids`. */
  const storeAt = (name: string, ids: IdRange, logs?: string[]): LayerContentStore => new LayerContentStore({ root: join(dir, name, 'images'), ids, ...(logs ? { log: (line: string) => logs.push(line) } : {}) });

  /** The fixture image stored under range A: from a gzip blob the store keeps, or (`kept: false`) from a tar outside it. */
  const storeImage = async (name: string, opts: { kept?: boolean } = {}): Promise<{ image: StoredImage; layer: string }> => {
    const store = storeAt(name, A);
    const bytes = await readFile(tar);
    if (opts.kept === false) {
      await store.sweep();
      await store.applyLayer(tar, diffId);
    } else {
      const gz = gzipSync(bytes);
      const blob = await store.putBlob(sha256(gz), gz);
      await store.applyLayer(blob, diffId);
    }
    const image = await store.commitImage({ configBytes: Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } })), names: [`ranges/${name}:1`], source: 'test' });
    return { image, layer: join(store.base, 'layers', diffId.slice(7)) };
  };

  const meta = async (store: LayerContentStore): Promise<LayerMeta> => JSON.parse(await readFile(join(store.base, 'layers', `${diffId.slice(7)}.json`), 'utf8')) as LayerMeta;

  /** Owners of the fixture's files, as offsets from `ids` (host ids outside it as they are). */
  const owners = async (layer: string, ids: IdRange): Promise<Record<string, string>> => {
    const out: Record<string, string> = {};
    for (const f of ['.', 'root-file', 'home/app', 'home/app/owned', 'bin/su', 'bin/ping']) {
      const s = await lstat(join(layer, f));
      out[f] = `${s.uid - ids.uid}:${s.gid - ids.gid}`;
    }
    return out;
  };
  const WANT_OWNERS = { '.': '0:0', 'root-file': '0:0', 'home/app': '1000:1000', 'home/app/owned': '1000:1000', 'bin/su': '0:0', 'bin/ping': '0:0' };

  /** The root uid of bin/ping's v3 capability, or undefined when it has none. */
  const capabilityRoot = async (layer: string): Promise<number | undefined> => {
    const out = await run('getfattr', ['-e', 'hex', '-n', 'security.capability', join(layer, 'bin/ping')]).catch(() => '');
    const raw = /security\.capability=0x([0-9a-f]+)/.exec(out)?.[1];
    if (!raw) return undefined;
    assert.equal(raw.slice(0, 8), '01000003', 'a namespaced (v3) capability');
    return Buffer.from(raw.slice(-8), 'hex').readUInt32LE(0);
  };

  /** What is in layers/ besides layer folders and their metas (temp or kept-aside folders). */
  const leftovers = async (store: LayerContentStore): Promise<string[]> => (await readdir(join(store.base, 'layers'))).filter((f) => !/^[0-9a-f]{64}(\.json)?$/.test(f));

  /** An overlay of `lowers` at `<dir>/<name>/merged` (its upper and work dirs beside): the root file system of a container. */
  const overlayAt = async (name: string, lowers: string[]): Promise<string> => {
    const m = join(dir, name);
    await Promise.all(['upper', 'work', 'merged'].map((d) => mkdir(join(m, d), { recursive: true })));
    await mount({ source: 'overlay', target: join(m, 'merged'), fstype: 'overlay', flags: 0, data: `lowerdir=${lowers.join(':')},upperdir=${join(m, 'upper')},workdir=${join(m, 'work')}` });
    return join(m, 'merged');
  };

  /** Every path under a folder, sorted. */
  const tree = async (root: string): Promise<string[]> => (await readdir(root, { recursive: true })).sort();

  /** The fixture's layer folder as a container of range `ids` sees it through an overlay: owners and a file's text. */
  const seenThrough = async (merged: string, ids: IdRange): Promise<string> => {
    const s = await stat(join(merged, 'home/app/owned'));
    return `${s.uid - ids.uid}:${s.gid - ids.gid} ${await readFile(join(merged, 'root-file'), 'utf8')}`;
  };

  before(async () => {
    ({ dir, cleanup } = await mountScratch('hoody-layer-ranges-'));
    const root = join(dir, 'fixture');
    for (const d of ['bin', 'home/app']) await mkdir(join(root, d), { recursive: true });
    await writeFile(join(root, 'root-file'), 'root\n');
    await writeFile(join(root, 'home/app/owned'), 'app\n');
    await chown(join(root, 'home/app'), 1000, 1000);
    await chown(join(root, 'home/app/owned'), 1000, 1000);
    await writeFile(join(root, 'bin/su'), 'setuid\n');
    await chmod(join(root, 'bin/su'), 0o4755);
    await copyFile('/bin/busybox', join(root, 'bin/ping'));
    await chmod(join(root, 'bin/ping'), 0o755);
    await run('setcap', ['cap_net_raw+ep', join(root, 'bin/ping')]);
    // a hard link, a whiteout and an opaque folder: what a copy of the layer must keep
    await link(join(root, 'bin/su'), join(root, 'bin/su-link'));
    await writeFile(join(root, '.wh.gone'), '');
    await mkdir(join(root, 'opt'));
    await writeFile(join(root, 'opt/.wh..wh..opq'), '');
    await writeFile(join(root, 'opt/kept'), 'kept\n');
    tar = join(dir, 'layer.tar');
    await run('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-C', root, '-cf', tar, '.']);
    diffId = sha256(await readFile(tar));
  });

  after(async () => {
    await cleanup();
  });

  it('unpacks a layer again from its blob for the new range: owners at the same offsets, setuid and the capability kept, once', async () => {
    const { image, layer } = await storeImage('reunpack');
    assert.deepEqual(await owners(layer, A), WANT_OWNERS);
    assert.equal(await capabilityRoot(layer), A.uid);
    const logs: string[] = [];
    const store = storeAt('reunpack', B, logs);
    const lowers = await store.lowerDirs(image);
    assert.deepEqual(await owners(layer, B), WANT_OWNERS, 'owned in B');
    assert.equal((await lstat(join(layer, 'bin/su'))).mode & 0o7777, 0o4755, 'setuid kept');
    assert.equal(await capabilityRoot(layer), B.uid, "the capability's root is B's first uid");
    assert.deepEqual((await meta(store)).ids, B, 'the meta records B');
    assert.equal(await seenFrom(B, layer, ['home/app/owned', 'root-file', 'bin/su']), '1000:1000 0:0 0:0', 'a container of range B sees its own owners, not nobody');
    assert.equal(await readFile(join(lowers[0] as string, 'root-file'), 'utf8'), 'root\n', 'the short link still names the layer');
    assert.deepEqual(await leftovers(store), [], 'the old folder is gone');
    assert.deepEqual(logs, []);
    // a second store on the same folder (the next start) finds everything in place
    const before = await stat(layer);
    const again = storeAt('reunpack', B, logs);
    assert.deepEqual(await again.lowerDirs(image), lowers);
    const after = await stat(layer);
    assert.equal(after.ino, before.ino, 'not unpacked again');
    assert.equal(after.ctimeMs, before.ctimeMs, 'not shifted either');
    assert.deepEqual(logs, []);
  });

  it('shifts a layer whose blob is not kept, keeping setuid, and says that its capabilities are dropped', async () => {
    const { image, layer } = await storeImage('shift', { kept: false });
    assert.deepEqual((await meta(storeAt('shift', A))).blobs, []);
    const logs: string[] = [];
    const store = storeAt('shift', B, logs);
    await store.lowerDirs(image);
    assert.deepEqual(await owners(layer, B), WANT_OWNERS);
    assert.equal((await lstat(join(layer, 'bin/su'))).mode & 0o7777, 0o4755, 'setuid put back after chown');
    assert.equal(await capabilityRoot(layer), undefined, 'chown dropped the capability');
    assert.deepEqual((await meta(store)).ids, B);
    assert.equal(logs.length, 1);
    assert.match(logs[0] as string, /no blob of it is kept.*shifted from id range .* in place; chown drops their file capabilities/);
    await storeAt('shift', B, logs).lowerDirs(image);
    assert.equal(logs.length, 1, 'a second open shifts nothing');
  });

  it('shifts a layer whose kept blob no longer unpacks to it, saying why', async () => {
    const { image, layer } = await storeImage('bad-blob');
    const store = storeAt('bad-blob', A);
    const [blob] = (await meta(store)).blobs;
    await writeFile(join(store.base, 'blobs', 'sha256', (blob as string).slice(7)), gzipSync(Buffer.from('not that layer')));
    const logs: string[] = [];
    await storeAt('bad-blob', B, logs).lowerDirs(image);
    assert.deepEqual(await owners(layer, B), WANT_OWNERS);
    assert.equal(logs.length, 1);
    assert.match(logs[0] as string, /unpacking it again failed \(layer tar .+\), so its files are shifted/);
    assert.deepEqual(await leftovers(store), [], 'the failed unpack left nothing');
  });

  it('finishes a shift cut short, and moves again a layer whose meta was not updated before a crash', async () => {
    const { image, layer } = await storeImage('crash-shift', { kept: false });
    // a crash half-way: home/ shifted already, the rest and the meta not
    await shiftTree(join(layer, 'home'), A, B);
    await storeAt('crash-shift', B, []).lowerDirs(image);
    assert.deepEqual(await owners(layer, B), WANT_OWNERS);

    const kept = await storeImage('crash-swap');
    const store = storeAt('crash-swap', B);
    await store.lowerDirs(kept.image);
    // a crash after the swap, before the meta named B; and a temp folder of an unpack cut short
    const m = await meta(store);
    await writeFile(join(store.base, 'layers', `${diffId.slice(7)}.json`), JSON.stringify({ ...m, ids: A }));
    await mkdir(join(store.base, 'layers', `${diffId.slice(7)}.0badcafe.tmp`, 'bin'), { recursive: true });
    const next = storeAt('crash-swap', B);
    await next.sweep();
    await next.lowerDirs(kept.image);
    assert.deepEqual(await owners(kept.layer, B), WANT_OWNERS);
    assert.equal(await capabilityRoot(kept.layer), B.uid);
    assert.deepEqual((await meta(next)).ids, B);
    assert.deepEqual(await leftovers(next), []);
  });

  it('takes a layer without a recorded range to be in the store recorded one, and a store without a record to be in the current range', async () => {
    const { image, layer } = await storeImage('legacy');
    const store = storeAt('legacy', A);
    const { ids: _ids, ...old } = await meta(store);
    await writeFile(join(store.base, 'layers', `${diffId.slice(7)}.json`), JSON.stringify(old));
    assert.deepEqual(JSON.parse(await readFile(join(store.base, 'ids.json'), 'utf8')), A, 'the store recorded its range when it was made');
    await storeAt('legacy', B).lowerDirs(image);
    assert.deepEqual(await owners(layer, B), WANT_OWNERS, 'moved from the recorded range');
    assert.equal(await capabilityRoot(layer), B.uid);

    // a store made before ranges were recorded: neither the meta nor the store names one
    const released = await storeImage('released');
    const base = join(dir, 'released', 'images', '.oci');
    const { ids: _gone, ...older } = await meta(storeAt('released', A));
    await writeFile(join(base, 'layers', `${diffId.slice(7)}.json`), JSON.stringify(older));
    await rm(join(base, 'ids.json'));
    await storeAt('released', B).lowerDirs(released.image);
    assert.deepEqual(await owners(released.layer, A), WANT_OWNERS, 'nothing moved: the layer is taken to be in the current range');
    assert.deepEqual(JSON.parse(await readFile(join(base, 'ids.json'), 'utf8')), B, 'the current range is recorded for such layers from now on');
  });

  it('refuses to shift between overlapping ranges that start apart, and unpacks again between them', async () => {
    const { image, layer } = await storeImage('overlap', { kept: false });
    await assert.rejects(storeAt('overlap', C, []).lowerDirs(image), /cannot move files from id range .* the ranges overlap/);
    assert.deepEqual(await owners(layer, A), WANT_OWNERS, 'nothing changed');
    assert.deepEqual((await meta(storeAt('overlap', A))).ids, A);

    const kept = await storeImage('overlap-kept');
    await storeAt('overlap-kept', C).lowerDirs(kept.image);
    assert.deepEqual(await owners(kept.layer, C), WANT_OWNERS, 'a fresh unpack does not depend on the old owners');
    assert.equal(await capabilityRoot(kept.layer), C.uid);
  });

  it('keeps the old folder for an overlay mounted before the change until it is unmounted', async () => {
    const { image } = await storeImage('mounted');
    const old = storeAt('mounted', A);
    const m = join(dir, 'mounted-overlay');
    await Promise.all(['upper', 'work', 'merged'].map((d) => mkdir(join(m, d), { recursive: true })));
    const merged = join(m, 'merged');
    await mount({ source: 'overlay', target: merged, fstype: 'overlay', flags: 0, data: `lowerdir=${(await old.lowerDirs(image)).join(':')},upperdir=${join(m, 'upper')},workdir=${join(m, 'work')}` });
    try {
      const store = storeAt('mounted', B);
      // two starts and a pull of the same layer at once: one move
      const [a, b] = await Promise.all([store.lowerDirs(image), store.lowerDirs(image), store.applyLayer(tar, diffId)]);
      assert.deepEqual(a, b);
      const kept = await leftovers(store);
      assert.equal(kept.filter((f) => /\.old-[0-9a-f]{8}$/.test(f)).length, 1, `the old folder is kept aside (${kept.join(', ')})`);
      assert.equal((await stat(join(merged, 'home/app/owned'))).uid, A.uid + 1000, 'the mount still shows the old files');
      assert.equal(await readFile(join(merged, 'root-file'), 'utf8'), 'root\n');
      await store.sweep();
      assert.equal((await leftovers(store)).length, 2, 'kept while mounted');
    } finally {
      await unmountOverlay(merged);
    }
    const next = storeAt('mounted', B);
    await next.sweep();
    assert.deepEqual(await leftovers(next), [], 'removed once unmounted');
    assert.deepEqual(await owners(join(next.base, 'layers', diffId.slice(7)), B), WANT_OWNERS);
  });

  it('removes nothing a mount uses when the move cannot be recorded after the swap, and records it at the next use, also after a restart', async () => {
    const { image, layer } = await storeImage('unrecorded');
    const merged = await overlayAt('unrecorded-overlay', await storeAt('unrecorded', A).lowerDirs(image));
    const metaFile = join(dir, 'unrecorded', 'images', '.oci', 'layers', `${diffId.slice(7)}.json`);
    const files = await tree(merged);
    assert.ok(files.length >= 10, `the mount sees the layer (${files.join(', ')})`);
    try {
      // the meta cannot be replaced: the write after the swap fails (as on a full disk)
      await run('chattr', ['+i', metaFile]);
      const logs: string[] = [];
      await assert.rejects(storeAt('unrecorded', B, logs).lowerDirs(image), /moved into the new id range but its record could not be written \(EPERM.*its next use records it/);
      assert.deepEqual(logs, [], 'not shifted after the swap');
      // a second try in the same run writes the meta only, and fails the same way
      await assert.rejects(storeAt('unrecorded', B, logs).lowerDirs(image), /moved into the new id range but its record could not be written/);
      assert.equal(logs.length, 1);
      assert.match(logs.join('\n'), /was done but not recorded; recording it now/);
      assert.deepEqual(await tree(merged), files, 'the mount still sees every file');
      assert.equal(await seenThrough(merged, A), '1000:1000 root\n');
      const store = storeAt('unrecorded', B);
      const aside = await leftovers(store);
      assert.equal(aside.length, 2, `the old folder under its kept-aside name with its note, no temp (${aside.join(', ')})`);
      assert.match(aside.join(' '), /^[0-9a-f]{64}\.old-[0-9a-f]{8} [0-9a-f]{64}\.old-[0-9a-f]{8}\.json$/);
      assert.deepEqual(await owners(layer, B), WANT_OWNERS, 'the layer is the new folder');
      assert.deepEqual((await meta(store)).ids, A, 'not recorded');

      // what a crash right after the swap leaves is the same: the next start's sweep keeps the folder the mount uses
      const restartLogs: string[] = [];
      const restart = storeAt('unrecorded', B, restartLogs);
      await restart.sweep();
      assert.deepEqual(await leftovers(restart), aside, 'kept by the sweep');
      assert.deepEqual(await tree(merged), files);

      await run('chattr', ['-i', metaFile]);
      const lowers = await restart.lowerDirs(image);
      assert.deepEqual((await meta(restart)).ids, B, 'recorded now');
      assert.equal(await capabilityRoot(layer), B.uid, 'as unpacked, not shifted');
      assert.equal(restartLogs.length, 1);
      assert.match(restartLogs[0] as string, /was done but not recorded; recording it now/);
      assert.equal(await readFile(join(lowers[0] as string, 'root-file'), 'utf8'), 'root\n', 'the new link names the new folder');
      assert.deepEqual(await leftovers(restart), aside, 'kept while mounted');
      assert.deepEqual(await tree(merged), files);
      assert.equal(await seenThrough(merged, A), '1000:1000 root\n');
    } finally {
      await run('chattr', ['-i', metaFile]).catch(() => undefined);
      await unmountOverlay(merged);
    }
    const next = storeAt('unrecorded', B);
    await next.sweep();
    assert.deepEqual(await leftovers(next), [], 'removed once unmounted');
    const m = await meta(next);
    assert.deepEqual(await readdir(join(next.base, 'l')), [m.link], 'the old link went with it');
    assert.deepEqual(await owners(layer, B), WANT_OWNERS);
  });

  it('sweeps what a move cut short before its swap made, though a mount uses the layer', async () => {
    const { image, layer } = await storeImage('cut-short');
    const old = storeAt('cut-short', A);
    const merged = await overlayAt('cut-short-overlay', await old.lowerDirs(image));
    try {
      // a crash while unpacking: the note (naming the layer's folder), the new link, and part of the new folder
      const layers = join(old.base, 'layers');
      const hex = diffId.slice(7);
      const s = await stat(layer, { bigint: true });
      await symlink(`../layers/${hex}`, join(old.base, 'l', 'newlink0'));
      await writeFile(join(layers, `${hex}.old-0badcafe.json`), JSON.stringify({ dev: String(s.dev), ino: String(s.ino), link: (await meta(old)).link, newLink: 'newlink0', ids: B }));
      await mkdir(join(layers, `${hex}.old-0badcafe`, 'bin'), { recursive: true });
      const store = storeAt('cut-short', B);
      await store.sweep();
      assert.deepEqual(await leftovers(store), [], 'never swapped in: nothing uses it');
      assert.deepEqual(await readdir(join(store.base, 'l')), [(await meta(store)).link], 'its link went too');
      assert.deepEqual(await owners(layer, A), WANT_OWNERS, 'the layer is untouched');
      assert.equal(await seenThrough(merged, A), '1000:1000 root\n');
      // and the move then keeps the old folder for the mount
      await store.lowerDirs(image);
      assert.equal((await leftovers(store)).length, 2);
      await store.sweep();
      assert.equal((await leftovers(store)).length, 2);
      assert.equal(await seenThrough(merged, A), '1000:1000 root\n');
    } finally {
      await unmountOverlay(merged);
    }
    await storeAt('cut-short', B).sweep();
    assert.deepEqual(await leftovers(storeAt('cut-short', B)), []);
  });

  it('shifts a copy of a layer without a kept blob that a mount uses, keeping hard links, whiteouts and opaque folders, and swaps it in', async () => {
    const { image, layer } = await storeImage('shift-mounted', { kept: false });
    const merged = await overlayAt('shift-mounted-overlay', await storeAt('shift-mounted', A).lowerDirs(image));
    const files = await tree(merged);
    try {
      const logs: string[] = [];
      const store = storeAt('shift-mounted', B, logs);
      const lowers = await store.lowerDirs(image);
      assert.equal(logs.length, 1);
      assert.match(logs[0] as string, /no blob of it is kept, so its files are shifted from id range .* in a copy swapped in for it \(1 overlay\(s\) mounted before the change still use its files\); chown drops/);
      assert.deepEqual(await owners(layer, B), WANT_OWNERS, 'the layer is in B');
      assert.equal((await lstat(join(layer, 'bin/su'))).mode & 0o7777, 0o4755, 'setuid put back after chown');
      assert.equal((await lstat(join(layer, 'bin/su-link'))).ino, (await lstat(join(layer, 'bin/su'))).ino, 'hard link kept');
      const gone = await lstat(join(layer, 'gone'));
      assert.ok(gone.isCharacterDevice() && gone.rdev === 0, 'whiteout kept');
      assert.match(await run('getfattr', ['-n', 'trusted.overlay.opaque', join(layer, 'opt')]), /trusted\.overlay\.opaque="y"/, 'opaque folder kept');
      assert.deepEqual((await meta(store)).ids, B);
      assert.equal(await readFile(join(lowers[0] as string, 'opt/kept'), 'utf8'), 'kept\n');
      // the running container's files did not move under it
      assert.equal(await seenThrough(merged, A), '1000:1000 root\n', 'the mount still sees its own owners');
      assert.deepEqual(await tree(merged), files);
      assert.equal((await leftovers(store)).length, 2, 'the old folder is kept aside');
      await store.sweep();
      assert.equal((await leftovers(store)).length, 2, 'kept while mounted');
    } finally {
      await unmountOverlay(merged);
    }
    const next = storeAt('shift-mounted', B);
    await next.sweep();
    assert.deepEqual(await leftovers(next), [], 'removed once unmounted');
  });

  it('removes the old folder once its mount is gone, though the restarted container mounted the new one at the same place', async () => {
    const { image, layer } = await storeImage('remount');
    const merged = await overlayAt('remount-overlay', await storeAt('remount', A).lowerDirs(image));
    const store = storeAt('remount', B);
    let remounted = false;
    try {
      const lowers = await store.lowerDirs(image);
      assert.equal((await leftovers(store)).length, 2, 'kept aside for the mount');
      // the container restarts in range B: same mount point, upper and work dirs, the new lowers
      await unmountOverlay(merged);
      await overlayAt('remount-overlay', lowers);
      remounted = true;
      assert.equal(await seenThrough(merged, B), '1000:1000 root\n', 'the new mount has the new folder');
      await store.sweep();
      assert.deepEqual(await leftovers(store), [], 'the old folder went: no mount uses it');
      assert.equal(await seenThrough(merged, B), '1000:1000 root\n');
      assert.deepEqual(await owners(layer, B), WANT_OWNERS);
    } finally {
      if (remounted) await unmountOverlay(merged);
      else await unmountOverlay(merged).catch(() => undefined);
    }
  });
});

/** Owners (`uid:gid`, space-separated) of files under `cwd` as root of a user namespace mapped to `ids` sees them. */
async function seenFrom(ids: IdRange, cwd: string, files: string[]): Promise<string> {
  const ns = await openIdNamespace(ids);
  try {
    const [file, ...args] = inNamespace(ns, ['stat', '-c', '%u:%g', ...files]);
    const out = await new Promise<string>((resolve, reject) => execFile(file as string, args, { cwd }, (err, stdout) => (err ? reject(err) : resolve(stdout))));
    return out.trim().split('\n').join(' ');
  } finally {
    ns.close();
  }
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
