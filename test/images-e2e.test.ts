/**
 * Real images end to end: fixture images built in the test, pushed to a real local registry
 * (docker-registry on loopback), pulled by the puller into a content store, mounted as an
 * overlay of their layers and compared with what umoci unpacks from the same image; archives
 * imported; a container run from one through the daemon.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { buildFixtureLayout, buildManyLayers, layoutConfig, LAYERED_CONFIG, type FixtureLayout } from './image-fixtures.ts';
import { pushFixtures, pushImage, type PushedFixtures } from './fixture-push.ts';
import { makeArchive, type ArchiveKind } from './image-archives.ts';
import { startRegistry, type TestRegistry } from './registry-harness.ts';
import { diffTrees, oracleUnpack, treeSum, whiteouts, type TreeEntry } from './tree-compare.ts';
import { imageKit, mountImage, type ImageKit } from './image-subsystem.ts';
import { mountScratch } from './mount-scratch.ts';
import { MNT_DETACH, umount2 } from '../src/runtime/mount-syscalls.ts';
import { apiClient, startTestDaemon, type DaemonHandle } from './daemon-harness.ts';
import { eventually } from './eventually.ts';
import type { ImageProgress, StoredImage } from '../src/images/types.ts';

const execFileP = promisify(execFile);
const IDS = { uid: 1_000_000, gid: 1_000_000, size: 65_536 };
const skip = process.getuid?.() !== 0 ? 'needs root (mounts, umoci, chown)' : false;
const ROUTES = new URL('../src/server/routes/images.ts', import.meta.url).pathname;
const daemonSkip = existsSync(ROUTES) && readFileSync(ROUTES, 'utf8').includes("'/images/pull'") ? false : 'the daemon has no POST /images/pull yet';

describe('real images through a local registry', { skip }, () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let fx: FixtureLayout;
  let reg: TestRegistry;
  let pushed: PushedFixtures;
  const oracles = new Map<string, TreeEntry[]>();
  let n = 0;

  before(async () => {
    scratch = await mountScratch('hoody-images-e2e-');
    fx = await buildFixtureLayout(join(scratch.dir, 'fixtures'));
    reg = await startRegistry();
    pushed = await pushFixtures(reg, fx.layout);
  });
  after(async () => {
    await reg?.stop();
    await scratch?.cleanup();
  });

  const freshKit = async (creds?: { host: string; username: string; password: string }): Promise<ImageKit> => {
    const root = join(scratch.dir, `store-${++n}`);
    await mkdir(root, { recursive: true });
    return imageKit(root, IDS, creds);
  };
  const oracle = async (tag: string): Promise<TreeEntry[]> => {
    if (!oracles.has(tag)) oracles.set(tag, normalise(await treeSum(await oracleUnpack(fx.layout, tag, join(scratch.dir, `oracle-${tag}`)), { xattrs: true })));
    return oracles.get(tag)!;
  };
  /** The image's merged tree, owners shifted back out of the id range. */
  const merged = async (kit: ImageKit, image: StoredImage): Promise<TreeEntry[]> => {
    const dir = join(scratch.dir, `mnt-${++n}`);
    const path = await mountImage(kit, image, dir);
    try {
      return normalise(await treeSum(path, { uidOffset: IDS.uid, gidOffset: IDS.gid, xattrs: true }));
    } finally {
      await umount2(path, MNT_DETACH);
    }
  };
  const assertSameTree = async (kit: ImageKit, image: StoredImage, tag: string): Promise<void> => {
    const tree = await merged(kit, image);
    assert.deepEqual(whiteouts(tree), [], 'no whiteout device shows in the merged view');
    assert.deepEqual(diffTrees(tree, await oracle(tag)), [], `the pulled ${tag} differs from umoci's`);
  };

  for (const [key, tag] of [
    ['base', 'base'],
    ['layered', 'layered'],
    ['layeredV2s2', 'layered'],
    ['edge', 'edge'],
    ['xattr', 'xattr'],
    ['insertbug', 'insertbug'],
  ] as const) {
    it(`pulls ${key} and its layers mount to the tree umoci unpacks`, async () => {
      const kit = await freshKit();
      const image = await kit.puller.pull(pushed[key].reference);
      assert.equal(image.diffIds.length, (await layoutConfig(fx.layout, tag)).config.rootfs.diff_ids.length);
      await assertSameTree(kit, image, tag);
    });
  }

  it('keeps the file capability and the user xattr of the xattr image', async () => {
    const kit = await freshKit();
    const image = await kit.puller.pull(pushed.xattr.reference);
    const dir = join(scratch.dir, `mnt-${++n}`);
    const path = await mountImage(kit, image, dir);
    try {
      const { stdout } = await execFileP('getcap', [join(path, 'bin/ping')]);
      assert.match(stdout, /cap_net_raw[=+]ep/);
      const { stdout: user } = await execFileP('getfattr', ['--only-values', '-n', 'user.test', join(path, 'bin/ping')]);
      assert.equal(user, 'hoody');
    } finally {
      await umount2(path, MNT_DETACH);
    }
  });

  it('records the config of layered as it was built', async () => {
    const kit = await freshKit();
    const image = await kit.puller.pull(pushed.layered.reference);
    const c = image.config.config!;
    assert.deepEqual(c.Entrypoint, LAYERED_CONFIG.entrypoint);
    assert.deepEqual(c.Cmd, LAYERED_CONFIG.cmd);
    assert.deepEqual(c.Env, LAYERED_CONFIG.env);
    assert.equal(c.WorkingDir, LAYERED_CONFIG.workingDir);
    assert.equal(c.User, LAYERED_CONFIG.user);
    assert.deepEqual(Object.keys(c.ExposedPorts ?? {}), LAYERED_CONFIG.exposedPorts);
    assert.equal(image.user?.uid, LAYERED_CONFIG.resolved.uid);
    assert.equal(image.user?.gid, LAYERED_CONFIG.resolved.gid);
    assert.equal(image.user?.home, LAYERED_CONFIG.resolved.home);
    assert.equal(image.manifestDigest, pushed.layered.manifestDigest);
    assert.ok(image.names.includes(pushed.layered.reference), JSON.stringify(image.names));
  });

  for (const [key, what] of [
    ['index', 'an OCI index'],
    ['list', 'a Docker manifest list'],
  ] as const) {
    it(`picks amd64 from ${what} listing arm64 first, and arm64 when asked`, async () => {
      const kit = await freshKit();
      const host = await kit.puller.pull(pushed[key].reference);
      assert.equal(host.config.architecture, 'amd64');
      assert.equal(host.manifestDigest, key === 'index' ? pushed.amd64.manifestDigest : pushed.amd64V2s2.manifestDigest);
      const arm = await kit.puller.pull(pushed[key].reference, { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
      assert.equal(arm.config.architecture, 'arm64');
      assert.notEqual(arm.id, host.id);
      assert.deepEqual(arm.diffIds, host.diffIds, 'both platforms share the layers here');
    });
  }

  it('refuses the hostile image and leaves the host untouched', async () => {
    const kit = await freshKit();
    await assert.rejects(kit.puller.pull(pushed.evil.reference));
    assert.deepEqual((await readdir(fx.hostTarget)).sort(), ['secret', 'victim']);
    assert.equal(await readFile(join(fx.hostTarget, 'victim'), 'utf8'), 'victim\n');
    assert.equal(await readFile(join(fx.hostTarget, 'secret'), 'utf8'), 'secret\n');
    for (let d = kit.root, i = 0; i < 4; d = dirname(d), i++) assert.ok(!existsSync(join(d, 'hoody-evil-dotdot')), `nothing written at ${d}`);
    assert.ok(!existsSync('/hoody-evil-absolute'));
    assert.equal(await kit.store.find(pushed.evil.reference), undefined);
  });

  it('downloads only the new layer for a second image on the same base', async () => {
    const kit = await freshKit();
    const base = await kit.puller.pull(pushed.base.reference);
    const before = (await reg.blobGets()).length;
    const layered = await kit.puller.pull(pushed.layered.reference);
    const fetched = (await reg.blobGets()).slice(before);
    const { manifest } = await layoutConfig(fx.layout, 'layered');
    const layers = (manifest.layers as { digest: string }[]).map((l) => l.digest);
    assert.deepEqual(
      fetched.filter((d) => d !== manifest.config.digest),
      [layers.at(-1)],
      'only the top layer is downloaded',
    );
    assert.deepEqual(layered.diffIds.slice(0, 1), base.diffIds);
    const lowers = await kit.store.lowerDirs(layered);
    assert.equal(lowers.length, 2);
    assert.equal(lowers[1], (await kit.store.lowerDirs(base))[0], 'the base layer is one folder for both');
  });

  it('fails a pull whose layer the registry serves altered, and commits nothing of it', async () => {
    const own = await startRegistry();
    try {
      const image = await pushImage(own, fx.layout, 'insertbug', 'test/tampered', { destTag: '1.0' });
      const { manifest, config } = await layoutConfig(fx.layout, 'insertbug');
      const top = (manifest.layers as { digest: string }[]).at(-1)!.digest.slice('sha256:'.length);
      const data = join(own.root, 'data/docker/registry/v2/blobs/sha256', top.slice(0, 2), top, 'data');
      const bytes = await readFile(data);
      bytes[bytes.length - 10]! ^= 0xff;
      await writeFile(data, bytes);
      const kit = await freshKit();
      await assert.rejects(kit.puller.pull(image.reference), (err: Error & { code?: string }) => err.code === 'digest-mismatch' && err.message.includes(top));
      assert.equal(await kit.store.find(image.reference), undefined);
      assert.equal(await kit.store.hasLayer(config.rootfs.diff_ids.at(-1)), false);
    } finally {
      await own.stop();
    }
  });

  it('reports progress: resolved, each new layer downloaded and extracted, the shared one found', async () => {
    const kit = await freshKit();
    await kit.puller.pull(pushed.base.reference);
    const seen: ImageProgress[] = [];
    await kit.puller.pull(pushed.layered.reference, { onProgress: (p) => seen.push(p) });
    const kinds = new Set(seen.map((p) => p.kind));
    for (const k of ['resolved', 'layer-exists', 'downloaded', 'extracting', 'extracted'] as const) assert.ok(kinds.has(k), `a "${k}" event in ${[...kinds].join(', ')}`);
    assert.equal(seen[0]!.kind, 'resolved');
    assert.equal(seen.filter((p) => p.kind === 'extracted').length, 1, 'one new layer');
  });

  it('pulls through token auth and reuses the token', async () => {
    const treg = await startRegistry({ auth: 'token' });
    try {
      await pushImage(treg, fx.layout, 'layered', 'test/private', { destTag: '1.0' });
      await pushImage(treg, fx.layout, 'edge', 'test/private', { destTag: 'edge' });
      const kit = await freshKit({ host: treg.host, ...treg.creds! });
      const before = treg.tokenRequests();
      const image = await kit.puller.pull(`${treg.host}/test/private:1.0`);
      const first = treg.tokenRequests() - before;
      assert.ok(first >= 1 && first <= 2, `one token for the repository (asked ${first} times)`);
      await assertSameTree(kit, image, 'layered');
      await kit.puller.pull(`${treg.host}/test/private:edge`);
      assert.equal(treg.tokenRequests() - before, first, 'the cached token served the second pull');
      const anonymous = await freshKit();
      await assert.rejects(anonymous.puller.pull(`${treg.host}/test/private:1.0`));
    } finally {
      await treg.stop();
    }
  });

  for (const kind of ['docker-archive', 'oci-archive', 'docker25'] as ArchiveKind[]) {
    it(`imports a ${kind} of edge to the same tree`, async () => {
      const kit = await freshKit();
      const file = await makeArchive(fx.layout, 'edge', kind, join(scratch.dir, `edge-${kind}.tar`), 'test/edge:1.0');
      const images = await kit.importer.importArchive(file);
      assert.equal(images.length, 1);
      await assertSameTree(kit, images[0]!, 'edge');
    });
  }

  for (const tag of ['base', 'layered', 'xattr', 'insertbug'] as const) {
    it(`imports a docker-archive of ${tag} to the tree umoci unpacks`, async () => {
      const kit = await freshKit();
      const file = await makeArchive(fx.layout, tag, 'docker-archive', join(scratch.dir, `${tag}.tar`), `test/${tag}:1.0`);
      const [image] = await kit.importer.importArchive(file);
      await assertSameTree(kit, image!, tag);
      assert.ok(image!.names.includes(`docker.io/test/${tag}:1.0`), JSON.stringify(image!.names));
    });
  }

  it('imports layered with its config and resolves its user', async () => {
    const kit = await freshKit();
    const [image] = await kit.importer.importArchive(await makeArchive(fx.layout, 'layered', 'docker25', join(scratch.dir, 'layered-25.tar'), 'test/layered:1.0'));
    assert.deepEqual(image!.config.config?.Entrypoint, LAYERED_CONFIG.entrypoint);
    assert.deepEqual(image!.config.config?.Cmd, LAYERED_CONFIG.cmd);
    assert.equal(image!.config.config?.WorkingDir, LAYERED_CONFIG.workingDir);
    assert.deepEqual({ uid: image!.user?.uid, gid: image!.user?.gid, home: image!.user?.home }, LAYERED_CONFIG.resolved);
  });

  it('refuses an archive of the hostile image and leaves the host untouched', async () => {
    const kit = await freshKit();
    const file = await makeArchive(fx.layout, 'evil', 'docker25', join(scratch.dir, 'evil-25.tar'), 'test/evil:1.0');
    await assert.rejects(kit.importer.importArchive(file));
    assert.deepEqual((await readdir(fx.hostTarget)).sort(), ['secret', 'victim']);
    assert.equal(await readFile(join(fx.hostTarget, 'victim'), 'utf8'), 'victim\n');
    assert.equal(await readFile(join(fx.hostTarget, 'secret'), 'utf8'), 'secret\n');
    for (let d = kit.root, i = 0; i < 4; d = dirname(d), i++) assert.ok(!existsSync(join(d, 'hoody-evil-dotdot')), `nothing written at ${d}`);
    assert.ok(!existsSync('/hoody-evil-absolute'));
    assert.deepEqual(await kit.store.list(), []);
  });

  it('imports an image of 61 layers and mounts them all from short lower paths', async () => {
    const tag = await buildManyLayers(fx.layout, fx.dir, 60);
    const kit = await freshKit();
    const [image] = await kit.importer.importArchive(await makeArchive(fx.layout, tag, 'docker-archive', join(scratch.dir, 'many.tar'), 'test/many:1.0'));
    assert.equal(image!.diffIds.length, 61);
    await assertSameTree(kit, image!, tag);
    assert.ok((await kit.store.relativeLowerDirs(image!)).join(':').length < 1024, 'short lower paths: 61 layers take under 1 kB of options');
  });

  it('shares layers between a pulled and an imported copy of one image', async () => {
    const kit = await freshKit();
    const pulledImage = await kit.puller.pull(pushed.edge.reference);
    const file = await makeArchive(fx.layout, 'edge', 'docker25', join(scratch.dir, 'edge-shared.tar'), 'test/edge:1.0');
    const [imported] = await kit.importer.importArchive(file);
    assert.equal(imported!.id, pulledImage.id);
    assert.deepEqual(await kit.store.lowerDirs(imported!), await kit.store.lowerDirs(pulledImage));
  });

  describe('through the daemon', { skip: daemonSkip }, () => {
    let d: DaemonHandle;
    let call: ReturnType<typeof apiClient>;
    before(async () => {
      d = await startTestDaemon();
      call = apiClient(d.api, d.adminToken);
    });
    after(async () => {
      await d?.cleanup();
    });

    /** Creates and starts a container, and waits for its first line of output. */
    const runOnce = async (name: string, body: Record<string, unknown>): Promise<string> => {
      const created = await call('POST', '/containers', { name, autostart: true, ...body });
      assert.ok(created.status === 201 || created.status === 200, JSON.stringify(created.body));
      const id = created.body.data.id as string;
      const log = join(d.dataDir, 'runtime', 'containers', id, 'ctr.log');
      return eventually(`output of ${name}`, () => readFile(log, 'utf8').catch(() => ''), (t) => t.includes('user='), 20_000);
    };

    it('pulls layered, lists it beside busybox, and runs it as its config says: user, working dir, environment', async () => {
      const pulled = await call('POST', '/images/pull', { reference: pushed.layered.reference });
      assert.equal(pulled.status, 200, JSON.stringify(pulled.body));
      assert.ok(JSON.stringify(pulled.body.data).includes(pushed.layered.reference), JSON.stringify(pulled.body));
      const listed = JSON.stringify((await call('GET', '/images')).body);
      assert.ok(listed.includes('test/layered'), listed);
      assert.ok(listed.includes('busybox'), 'the built-in busybox is still listed');
      const text = await runOnce('layered-e2e', { container_image: pushed.layered.reference });
      assert.ok(text.includes(LAYERED_CONFIG.output), text);
    });

    it('keeps the image entrypoint and replaces its Cmd with the container command', async () => {
      const text = await runOnce('layered-cmd', { container_image: pushed.layered.reference, command: ['echo "user=$(id -un) greeting=$GREETING"'] });
      assert.ok(text.includes('user=app greeting=hi'), text);
    });

    it('answers 400 INVALID_INPUT, not a server error, for an upload that is no image archive, and names no path of the server', async () => {
      const { spawnSync } = await import('node:child_process');
      const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
      /** A tar holding these files. */
      const tarOf = (files: Record<string, string>): Buffer => {
        const dir = mkdtempSync(join(scratch.dir, 'bad-'));
        for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
        const out = spawnSync('tar', ['-c', '-f', '-', '-C', dir, ...Object.keys(files)]).stdout;
        rmSync(dir, { recursive: true });
        return out;
      };
      const uploads: [string, Buffer][] = [
        ['text', Buffer.from('this is not a tar archive')],
        ['nothing', Buffer.alloc(0)],
        ['a tar without an image', tarOf({ 'readme.txt': 'hello' })],
        ['a manifest.json that is not JSON', tarOf({ 'manifest.json': '[{"Config": ' })],
        ['a manifest.json of the wrong shape', tarOf({ 'manifest.json': '[null]' })],
        ['an index.json of the wrong shape', tarOf({ 'index.json': '{"manifests": 5}' })],
      ];
      for (const [what, body] of uploads) {
        const res = await fetch(`${d.api}/images/import`, { method: 'POST', headers: { authorization: `Bearer ${d.adminToken}`, 'content-type': 'application/x-tar' }, body: new Uint8Array(body) });
        const answer = (await res.json()) as { code: string; message: string };
        assert.deepEqual([res.status, answer.code], [400, 'INVALID_INPUT'], `${what}: ${JSON.stringify(answer)}`);
        assert.ok(!answer.message.includes(d.dataDir) && !answer.message.includes('/tmp/'), answer.message);
      }
    });

    for (const key of ['edge', 'xattr', 'insertbug'] as const) {
      it(`runs ${key}, pulled on create, as root in / with the image's PATH`, async () => {
        const text = await runOnce(`${key}-e2e`, { container_image: pushed[key].reference, command: ['sh', '-c', 'echo "user=$(id -u):$(id -g) cwd=$(pwd) home=$HOME path=$PATH"'] });
        assert.ok(text.includes(`user=0:0 cwd=/ home=/root path=${LAYERED_CONFIG.env[0].slice('PATH='.length)}`), text);
      });
    }
  });
});

/** security.capability as v2 (a v3 value names the namespace's root uid, which differs by store). */
function normalise(entries: TreeEntry[]): TreeEntry[] {
  for (const e of entries) {
    if (e.xattrs) e.xattrs = e.xattrs.map((x) => (x.startsWith('security.capability=0x01000003') ? `security.capability=0x01000002${x.slice('security.capability=0x01000003'.length, -8)}` : x));
  }
  return entries;
}
