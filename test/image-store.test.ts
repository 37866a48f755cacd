/**
 * The image store against umoci as the oracle: layers made by hand (whiteouts, an opaque folder,
 * setuid, hard links, FIFOs, long and unicode names, a file capability, a truncated tar), put in
 * an OCI layout with umoci, unpacked per layer by the store, mounted as one overlay and compared
 * entry by entry with `umoci raw unpack`; a hostile layer fails and leaves the host untouched;
 * layers are shared and collected; archives from skopeo and a Docker 25 style one import to the
 * same tree. Needs root, umoci, skopeo, python3, setcap.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { mountScratch } from './mount-scratch.ts';
import { eventually } from './eventually.ts';
import { diffTrees, treeSummary } from './tree-compare.ts';
import { baseLayer, buildLayout, capLayer, edgeLayer, evilLayer, hostileLayers, ingestLayout, readLayoutImage, run, truncatedLayer, whiteoutLayer } from './image-store-fixtures.ts';
import { LayerContentStore } from '../src/images/store.ts';
import { ArchiveImport } from '../src/images/archive.ts';
import { readMergedFile } from '../src/images/image-user.ts';
import { mount } from '../src/runtime/mount-syscalls.ts';
import { unmountOverlay } from '../src/runtime/overlay.ts';
import type { StoredImage } from '../src/images/types.ts';

const IDS = { uid: 1_000_000, gid: 1_000_000, size: 65_536 };
const skip = process.getuid?.() !== 0 ? 'needs root' : false;

describe('image store', { skip }, () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  let layout = '';
  const oracles = new Map<string, string>();

  /** A fresh store in its own data folder. */
  const newStore = async (name: string): Promise<LayerContentStore> => {
    const root = join(dir, name, 'images');
    await mkdir(root, { recursive: true });
    return new LayerContentStore({ root, ids: IDS });
  };

  /** The image's overlay mounted (all its layers as lowers), compared with umoci's unpack of `tag`. */
  const assertSameTree = async (store: LayerContentStore, image: StoredImage, tag: string): Promise<void> => {
    const m = join(dir, `m-${randomBytes(4).toString('hex')}`);
    await Promise.all(['upper', 'work', 'merged'].map((d) => mkdir(join(m, d), { recursive: true })));
    const lowers = await store.lowerDirs(image);
    await mount({ source: 'overlay', target: join(m, 'merged'), fstype: 'overlay', flags: 0, data: `lowerdir=${lowers.join(':')},upperdir=${join(m, 'upper')},workdir=${join(m, 'work')}` });
    try {
      const got = await treeSummary(join(m, 'merged'), { uidOffset: IDS.uid, gidOffset: IDS.gid, skipRoot: true });
      const want = await treeSummary(await oracle(tag), { skipRoot: true });
      assert.deepEqual(diffTrees(got, want), [], `the merged tree of "${tag}" equals umoci's`);
    } finally {
      await unmountOverlay(join(m, 'merged'));
      await rm(m, { recursive: true, force: true });
    }
  };

  /** `umoci raw unpack` of a tag, made once. */
  const oracle = async (tag: string): Promise<string> => {
    const known = oracles.get(tag);
    if (known) return known;
    const out = join(dir, `oracle-${tag}`);
    await run('umoci', ['raw', 'unpack', '--image', `${layout}:${tag}`, out]);
    oracles.set(tag, out);
    return out;
  };

  before(async () => {
    ({ dir, cleanup } = await mountScratch('hoody-image-store-'));
    const tars = join(dir, 'tars');
    await mkdir(tars);
    await baseLayer(tars, join(tars, 'base.tar'));
    await whiteoutLayer(tars, join(tars, 'wh.tar'));
    await edgeLayer(tars, join(tars, 'edge.tar'));
    await capLayer(tars, join(tars, 'cap.tar'));
    await truncatedLayer(tars, join(tars, 'trunc.tar'));
    layout = join(dir, 'layout');
    await buildLayout(
      layout,
      [
        { tag: 'l1', from: 'base', tar: join(tars, 'base.tar') },
        { tag: 'l2', from: 'l1', tar: join(tars, 'wh.tar') },
        { tag: 'edge', from: 'l2', tar: join(tars, 'edge.tar') },
        { tag: 'cap', from: 'l2', tar: join(tars, 'cap.tar') },
        { tag: 'trunc', from: 'l1', tar: join(tars, 'trunc.tar') },
      ],
      { tag: 'app', from: 'edge', args: ['--config.user', 'app', '--config.workingdir', '/home/app', '--config.env', 'GREETING=hi'] },
    );
  });

  after(async () => {
    await cleanup();
  });

  it('unpacks whiteouts, an opaque folder (marker after a sibling) and edge cases to the tree umoci makes', async () => {
    const store = await newStore('edge');
    const image = await ingestLayout(store, layout, 'edge', 'test/bbx:edge');
    assert.equal(image.diffIds.length, 3);
    await assertSameTree(store, image, 'edge');
    // the whiteout layer's folder holds overlay's forms, not the OCI markers
    const whLayer = join(store.base, 'layers', (image.diffIds[1] as string).slice(7));
    const motd = await stat(join(whLayer, 'etc/motd'));
    assert.equal(motd.isCharacterDevice() && motd.rdev === 0, true, 'etc/motd is a whiteout device');
    assert.equal((await run('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', join(whLayer, 'opt/data')])).trim(), 'y');
    assert.deepEqual((await readdir(whLayer, { recursive: true })).filter((p) => String(p).includes('.wh.')), []);
  });

  it('keeps a file capability, owned by the range root', async () => {
    const store = await newStore('cap');
    const image = await ingestLayout(store, layout, 'cap', 'test/bbx:cap');
    await assertSameTree(store, image, 'cap');
    const layer = join(store.base, 'layers', (image.diffIds[2] as string).slice(7));
    assert.match(await run('getcap', [join(layer, 'bin/ping')]), /cap_net_raw[=+]ep/);
    const raw = /security\.capability=(0x[0-9a-f]+)/.exec(await run('getfattr', ['-e', 'hex', '-n', 'security.capability', join(layer, 'bin/ping')]))?.[1] ?? '';
    // a v3 capability whose root is the range's first host uid: it works for the container's root only
    assert.equal(raw.slice(0, 10), '0x01000003', 'a namespaced (v3) capability');
    assert.equal(Buffer.from(raw.slice(-8), 'hex').readUInt32LE(0), IDS.uid);
  });

  it('unpacks a layer cut before its end-of-archive blocks', async () => {
    const store = await newStore('trunc');
    const image = await ingestLayout(store, layout, 'trunc', 'test/bbx:trunc');
    await assertSameTree(store, image, 'trunc');
  });

  it('resolves the config user through the image files', async () => {
    const store = await newStore('user');
    const image = await ingestLayout(store, layout, 'app', 'test/bbx:app');
    assert.deepEqual(image.user, { uid: 1000, gid: 1000, additionalGids: [50], home: '/home/app' });
    assert.equal(image.userError, undefined);
    assert.equal(image.config.config?.WorkingDir, '/home/app');
    // the same layers with a user the image does not have: recorded, with the reason
    const ghost = { ...image.config, config: { ...image.config.config, User: 'ghost' } };
    const other = await store.commitImage({ configBytes: Buffer.from(JSON.stringify(ghost)), names: ['test/bbx:ghost'], source: 'test' });
    assert.equal(other.user, undefined);
    assert.equal(other.userError, 'user "ghost" is not in the image\'s /etc/passwd');
  });

  it('reads /etc/passwd from the topmost layer holding it, respecting whiteouts and opaque folders', async () => {
    const base = join(dir, 'merged-read');
    const [l1, l2, l3] = ['l1', 'l2', 'l3'].map((l) => join(base, l));
    for (const l of [l1, l2, l3]) await mkdir(join(l as string, 'etc'), { recursive: true });
    await writeFile(join(l1 as string, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    await writeFile(join(l1 as string, 'etc/group'), 'root:x:0:\n');
    await writeFile(join(l2 as string, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n');
    await run('mknod', [join(l2 as string, 'etc/group'), 'c', '0', '0']);
    const top = [l2 as string, l1 as string];
    assert.match((await readMergedFile(top, '/etc/passwd')) ?? '', /^web:/m, 'the upper layer wins');
    assert.equal(await readMergedFile(top, '/etc/group'), undefined, 'a whiteout hides the lower file');
    await run('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(l3 as string, 'etc')]);
    assert.equal(await readMergedFile([l3 as string, ...top], '/etc/passwd'), undefined, 'an opaque /etc hides every lower file in it');
    await rm(join(l3 as string, 'etc'), { recursive: true });
    await run('mknod', [join(l3 as string, 'etc'), 'c', '0', '0']);
    assert.equal(await readMergedFile([l3 as string, ...top], '/etc/passwd'), undefined, 'a whited-out /etc hides it too');
  });

  it('fails a hostile layer and leaves the host untouched', async () => {
    const store = await newStore('evil');
    const outside = join(dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'keep'), 'keep\n');
    const absName = `/hoody-evil-${randomBytes(4).toString('hex')}`;
    const tar = join(dir, 'evil.tar');
    await evilLayer(dir, tar, outside, absName);
    const passwd = await readFile('/etc/passwd', 'utf8');
    const digest = `sha256:${createHash('sha256').update(await readFile(tar)).digest('hex')}`;
    const tmp = store.blobTempPath(digest);
    await copyFile(tar, tmp);
    const blob = await store.commitBlob(tmp, digest);
    await assert.rejects(store.applyLayer(blob, digest), /layer tar/);
    assert.deepEqual(await readdir(outside), ['keep'], 'nothing was written through the symlinks');
    assert.equal(await stat(absName).catch(() => undefined), undefined, 'no absolute path was written');
    assert.equal(await stat(join(dir, 'evil', 'x-escaped')).catch(() => undefined), undefined);
    assert.equal(await stat(join(store.base, 'layers', 'x-escaped')).catch(() => undefined), undefined);
    assert.equal(await readFile('/etc/passwd', 'utf8'), passwd);
    assert.equal(await store.hasLayer(digest), false);
    assert.deepEqual(await readdir(join(store.base, 'layers')), [], 'the half-unpacked folder was removed');
  });

  it('fails each hostile trick alone, or keeps it inside the layer; leaves device nodes out with a log line', async () => {
    const logs: string[] = [];
    const root = join(dir, 'hostile', 'images');
    await mkdir(root, { recursive: true });
    const store = new LayerContentStore({ root, ids: IDS, log: (line) => logs.push(line) });
    const outside = join(dir, 'outside-each');
    await mkdir(outside);
    const tars = join(dir, 'hostile-tars');
    await mkdir(tars);
    const put = async (name: string): Promise<{ blob: string; digest: string }> => {
      const bytes = await readFile(join(tars, `${name}.tar`));
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      return { blob: await store.putBlob(digest, bytes), digest };
    };
    for (const name of await hostileLayers(tars, outside)) {
      const { blob, digest } = await put(name);
      if (name === 'abs' || name === 'devices' || name === 'dotwhiteout') {
        await store.applyLayer(blob, digest);
        continue;
      }
      await assert.rejects(store.applyLayer(blob, digest), /layer tar "exit 2"/, name);
      assert.equal(await store.hasLayer(digest), false, name);
    }
    assert.deepEqual(await readdir(outside), [], 'nothing was written outside');
    assert.equal(await stat(join(dir, 'x-escaped')).catch(() => undefined), undefined);
    const abs = join(store.base, 'layers', createHash('sha256').update(await readFile(join(tars, 'abs.tar'))).digest('hex'));
    assert.equal((await readFile(join(abs, outside.slice(1), 'abs-pwned'), 'utf8')), 'p', 'an absolute path lands inside the layer');
    const dots = join(store.base, 'layers', createHash('sha256').update(await readFile(join(tars, 'dotwhiteout.tar'))).digest('hex'));
    assert.deepEqual((await readdir(dots)).sort(), ['d', 'd2'], '`.wh..` and `.wh...` removed nothing but themselves');
    assert.deepEqual(await readdir(join(dots, 'd')), ['keep']);
    assert.equal((await stat(join(dots, 'd2'))).isCharacterDevice(), true, 'a folder whited out after a whiteout inside it');
    assert.ok((await readdir(join(store.base, 'layers'))).length >= 3, 'the other layers are still there');
    const dev = join(store.base, 'layers', createHash('sha256').update(await readFile(join(tars, 'devices.tar'))).digest('hex'));
    assert.deepEqual((await readdir(dev)).sort(), ['after', 'ok'], 'the files around the devices are there, the devices are not');
    assert.equal(logs.length, 1);
    assert.match(logs[0] as string, /2 device node\(s\) left out/);
  });

  it('shares a base layer between two images and collects only unused layers', async () => {
    const store = await newStore('share');
    const edge = await ingestLayout(store, layout, 'edge', 'test/bbx:edge');
    const cap = await ingestLayout(store, layout, 'cap', 'test/bbx:cap');
    const layerDirs = async (): Promise<string[]> => (await readdir(join(store.base, 'layers'))).filter((f) => /^[0-9a-f]{64}$/.test(f)).sort();
    assert.equal((await layerDirs()).length, 4, '3 + 3 layers with 2 shared are 4 folders');
    assert.deepEqual((await store.lowerDirs(cap)).slice(1), (await store.lowerDirs(edge)).slice(1), 'the same lower folders');
    assert.ok((await store.lowerDirs(edge)).every((p) => p.length <= store.linkDir.length + 9), 'short link paths');
    assert.equal((await store.find('test/bbx:edge'))?.id, edge.id);
    assert.equal((await store.find(edge.id.slice(7, 19)))?.id, edge.id, 'a 12-character id prefix');
    assert.equal((await store.find(`test/bbx@${edge.manifestDigest}`))?.id, edge.id, 'a repo digest');
    await store.tag(edge.id, 'other:1');
    assert.deepEqual(await store.remove('other:1'), { removed: [], untagged: ['other:1'] });
    assert.equal((await layerDirs()).length, 4);
    const removed = await store.remove('test/bbx:edge');
    assert.deepEqual(removed, { removed: [edge.id], untagged: ['test/bbx:edge'] });
    // layers stay for an hour after they were stored unless an image took them: edge's own layer is used by none now
    assert.deepEqual(await layerDirs(), [...cap.diffIds].map((d) => d.slice(7)).sort());
    assert.equal(await store.find('test/bbx:edge'), undefined);
    const pruned = await store.prune(new Set());
    assert.deepEqual(pruned.removed, [cap.id]);
    assert.ok(pruned.reclaimedBytes > 1_000_000, 'busybox and its copy were freed');
    assert.deepEqual(await layerDirs(), []);
    assert.deepEqual(await readdir(join(store.base, 'blobs', 'sha256')), []);
    assert.deepEqual(await readdir(store.linkDir), []);
  });

  it('mounts an image of 120 layers through short relative links', async () => {
    const store = await newStore('many');
    const src = join(dir, 'many-src');
    const diffIds: string[] = [];
    for (let i = 0; i < 120; i++) {
      const layerDir = join(src, String(i));
      await mkdir(join(layerDir, 'layers'), { recursive: true });
      await writeFile(join(layerDir, 'layers', `f${i}`), `${i}\n`);
      const tar = join(src, `${i}.tar`);
      await run('tar', ['--numeric-owner', '-C', layerDir, '-cf', tar, 'layers']);
      const bytes = await readFile(tar);
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      await store.applyLayer(await store.putBlob(digest, bytes), digest);
      diffIds.push(digest);
    }
    const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }));
    const image = await store.commitImage({ configBytes, names: ['many:1'], source: 'test' });
    const lowers = await store.relativeLowerDirs(image);
    assert.ok(lowers.join(':').length <= 120 * 11, `the lower option is short (${lowers.join(':').length} bytes)`);
    const m = join(dir, 'many-mount');
    await Promise.all(['upper', 'work', 'merged'].map((d) => mkdir(join(m, d), { recursive: true })));
    // the mount resolves relative lower dirs from its working folder: the store's base
    const { execFile } = await import('node:child_process');
    await new Promise<void>((resolve, reject) =>
      execFile('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.join(':')},upperdir=${join(m, 'upper')},workdir=${join(m, 'work')}`, join(m, 'merged')], { cwd: store.base }, (err) => (err ? reject(err) : resolve())),
    );
    try {
      assert.equal((await readdir(join(m, 'merged', 'layers'))).length, 120);
    } finally {
      await unmountOverlay(join(m, 'merged'));
    }
  });

  it('sweep removes temp leftovers and dangling links', async () => {
    const store = await newStore('sweep');
    await ingestLayout(store, layout, 'l1', 'test/bbx:l1');
    await mkdir(join(store.base, 'layers', `${'a'.repeat(64)}.tmp`, 'etc'), { recursive: true });
    await writeFile(join(store.base, 'blobs', 'sha256', `${'b'.repeat(64)}.tmp`), 'partial');
    await writeFile(join(store.base, 'images', `${'c'.repeat(64)}.json.1234.tmp`), '{');
    await run('ln', ['-s', '../layers/nothing', join(store.linkDir, 'dangling')]);
    await store.sweep();
    const left = [...(await readdir(join(store.base, 'layers'))), ...(await readdir(join(store.base, 'blobs', 'sha256'))), ...(await readdir(join(store.base, 'images'))), ...(await readdir(store.linkDir))];
    assert.deepEqual(left.filter((f) => f.endsWith('.tmp') || f === 'dangling'), []);
    assert.equal((await store.list()).length, 1);
  });

  it('unpacks one layer once when two callers ask at the same time', async () => {
    const store = await newStore('concurrent');
    const { manifest, configBytes } = await readLayoutImage(layout, 'l1');
    const diffId = (JSON.parse(configBytes.toString('utf8')) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids[0] as string;
    const layer = manifest.layers[0]!;
    const tmp = store.blobTempPath(layer.digest);
    await copyFile(join(layout, 'blobs', 'sha256', layer.digest.slice(7)), tmp);
    const blob = await store.commitBlob(tmp, layer.digest);
    const [a, b] = await Promise.all([store.applyLayer(blob, diffId), store.applyLayer(blob, diffId)]);
    assert.deepEqual(a, b);
    assert.equal(await store.hasLayer(diffId), true);
    await assert.rejects(store.applyLayer(blob, `sha256:${'0'.repeat(64)}`), /unpacked to diff_id/);
  });

  it('goes on with a shared extraction when one caller aborts, and stops it when the only one does', async () => {
    const store = await newStore('abort');
    const tar = join(dir, 'tars', 'base.tar');
    const bytes = await readFile(tar);
    const diffId = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const blob = await store.putBlob(diffId, bytes);
    const quitter = new AbortController();
    const first = store.applyLayer(blob, diffId, quitter.signal);
    const second = store.applyLayer(blob, diffId, new AbortController().signal);
    quitter.abort(new Error('caller gave up'));
    await assert.rejects(first, /caller gave up/);
    assert.ok((await second).sizeBytes > 1_000_000);
    assert.equal(await store.hasLayer(diffId), true);

    const alone = await newStore('abort-alone');
    const blob2 = await alone.putBlob(diffId, bytes);
    const only = new AbortController();
    const work = alone.applyLayer(blob2, diffId, only.signal);
    only.abort(new Error('stop'));
    await assert.rejects(work, /stop/);
    await eventually('the aborted extraction to clean up', async () => (await readdir(join(alone.base, 'layers'))).length, (n) => n === 0);
    assert.equal(await alone.hasLayer(diffId), false);
  });

  it('unpacks a zstd layer to the same folder as its gzip twin', async () => {
    const store = await newStore('zstd');
    const tar = join(dir, 'tars', 'base.tar');
    const diffId = `sha256:${createHash('sha256').update(await readFile(tar)).digest('hex')}`;
    await run('zstd', ['-q', '-f', tar, '-o', `${tar}.zst`]);
    const bytes = await readFile(`${tar}.zst`);
    const blob = await store.putBlob(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, bytes);
    await store.applyLayer(blob, diffId);
    const image = await store.commitImage({ configBytes: Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [diffId] } })), names: [], source: 'test' });
    await assertSameTree(store, image, 'l1');
  });

  describe('archives', () => {
    const importInto = async (name: string, archive: string): Promise<{ store: LayerContentStore; images: StoredImage[] }> => {
      const store = await newStore(name);
      const importer = new ArchiveImport(store, { tempDir: store.base });
      await store.sweep();
      return { store, images: await importer.importArchive(archive) };
    };

    it('imports a docker-archive made by skopeo', async () => {
      const archive = join(dir, 'docker-archive.tar');
      await run('skopeo', ['copy', `oci:${layout}:edge`, `docker-archive:${archive}:test/bbx:edge`]);
      const { store, images } = await importInto('docker-archive', archive);
      assert.equal(images.length, 1);
      assert.deepEqual(images[0]?.names, ['docker.io/test/bbx:edge']);
      await assertSameTree(store, images[0]!, 'edge');
      assert.deepEqual((await readdir(store.base)).filter((f) => f.endsWith('.tmp')), [], 'the unpacked archive is gone');
    });

    it('imports an oci-archive made by skopeo, as a stream', async () => {
      const archive = join(dir, 'oci-archive.tar');
      await run('skopeo', ['copy', `oci:${layout}:cap`, `oci-archive:${archive}:test/bbx:cap`]);
      const store = await newStore('oci-archive');
      const { createReadStream } = await import('node:fs');
      const images = await new ArchiveImport(store, { tempDir: store.base }).importArchive(createReadStream(archive));
      assert.deepEqual(images[0]?.names, ['test/bbx:cap']);
      assert.ok(images[0]?.manifestDigest);
      await assertSameTree(store, images[0]!, 'cap');
    });

    it('imports a Docker 25 style archive (OCI layout plus manifest.json, plain tar layers)', async () => {
      const archive = await docker25Archive(join(dir, 'docker25'), layout, 'edge', 'docker.io/test/bbx:edge');
      const { store, images } = await importInto('docker25', archive);
      assert.deepEqual(images[0]?.names, ['docker.io/test/bbx:edge']);
      await assertSameTree(store, images[0]!, 'edge');
    });

    it('refuses an archive holding a hard link, a device or a path climbing out', async () => {
      const bad = join(dir, 'bad-archive');
      await mkdir(join(bad, 'in'), { recursive: true });
      await writeFile(join(bad, 'in', 'manifest.json'), '[]');
      await run('ln', [join(bad, 'in', 'manifest.json'), join(bad, 'in', 'hard')]);
      await run('tar', ['-C', join(bad, 'in'), '-cf', join(bad, 'hard.tar'), '.']);
      const store = await newStore('bad-archive');
      const importer = new ArchiveImport(store, { tempDir: store.base });
      await assert.rejects(importer.importArchive(join(bad, 'hard.tar')), /not a file, folder or symlink/);
      await run('tar', ['-C', bad, '-cf', join(bad, 'dotdot.tar'), '-P', '--transform=s,^in,../in,', 'in/manifest.json']);
      await assert.rejects(importer.importArchive(join(bad, 'dotdot.tar')), /climbs out/);
      await mkdir(join(bad, 'dev'));
      await run('mknod', [join(bad, 'dev', 'null'), 'c', '1', '3']);
      await run('tar', ['-C', join(bad, 'dev'), '-cf', join(bad, 'dev.tar'), '.']);
      await assert.rejects(importer.importArchive(join(bad, 'dev.tar')), /not a file, folder or symlink/);
      assert.deepEqual((await readdir(store.base)).filter((f) => f.endsWith('.tmp')), [], 'no import folder is left');
    });
  });
});

/** An archive as Docker 25 saves it: an OCI layout with uncompressed layers, plus manifest.json naming the blobs. */
async function docker25Archive(out: string, layout: string, tag: string, name: string): Promise<string> {
  const { manifest, configBytes } = await readLayoutImage(layout, tag);
  const blobs = join(out, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (bytes: Buffer): Promise<{ digest: string; size: number }> => {
    const hex = createHash('sha256').update(bytes).digest('hex');
    await writeFile(join(blobs, hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const layers = [];
  for (const l of manifest.layers) layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...(await put(gunzipSync(await readFile(join(layout, 'blobs', 'sha256', l.digest.slice(7)))))) });
  const config = await put(configBytes);
  const m = await put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers })));
  const refTag = name.slice(name.lastIndexOf(':') + 1);
  await writeFile(join(out, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': refTag } }] }));
  await writeFile(join(out, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(out, 'manifest.json'), JSON.stringify([{ Config: `blobs/sha256/${config.digest.slice(7)}`, RepoTags: [name], Layers: layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`) }]));
  const archive = `${out}.tar`;
  await run('tar', ['-C', out, '-cf', archive, '.']);
  return archive;
}
