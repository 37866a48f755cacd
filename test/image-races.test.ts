/**
 * Image delete and prune raced against containers that take the image up: many creates (ensure,
 * then the container row) and starts (the overlay mount of the image's layers) at the same time
 * as deletes, forced deletes and prunes of their image. Real parts throughout: the SQLite store,
 * the content store on disk, runc containers, the /images routes in process. Whatever the order,
 * no container row may name an image that is gone and no start may find its layers missing.
 * Needs root, runc, conmon, catatonit and busybox-static.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppDeps } from '../src/server/app.ts';
import { openStore } from '../src/store/open-store.ts';
import type { Store } from '../src/store/store.ts';
import { AuthService } from '../src/core/auth-service.ts';
import type { Actor } from '../src/core/actor.ts';
import { ProjectService } from '../src/core/project-service.ts';
import { ContainerService } from '../src/core/container-service.ts';
import { HoodyError } from '../src/core/errors.ts';
import { imageCatalog } from '../src/server/image-errors.ts';
import { RuncDriver } from '../src/runtime/runc/runc-driver.ts';
import { ImageStore } from '../src/runtime/image-store.ts';
import { DEFAULT_ID_RANGE } from '../src/runtime/id-range.ts';
import { LayerContentStore } from '../src/images/store.ts';
import { seed } from './store-fixtures.ts';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;
const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('image delete and prune against containers taking the image up', { skip }, () => {
  let dir: string;
  let store: Store;
  let app: FastifyInstance;
  let content: LayerContentStore;
  let images: ImageStore;
  let driver: RuncDriver;
  let containers: ContainerService;
  let admin: string;
  let actor: Actor;
  let layer: { path: string; diffId: string };
  const prefix = `hoody-test-${randomBytes(5).toString('hex')}`;
  const suffix = randomBytes(3).toString('hex');
  const name = `race-${suffix}.example/app:1`;

  /** Stores the test image (again) under `name`; answers its id. */
  async function storeImage(): Promise<string> {
    await content.applyLayer(layer.path, layer.diffId);
    const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/busybox', 'sleep', '600'] }, rootfs: { type: 'layers', diff_ids: [layer.diffId] } }));
    return (await content.commitImage({ configBytes, names: [name], source: 'test' })).id;
  }

  const call = (method: 'DELETE' | 'POST', url: string) => app.inject({ method, url: `/api/v1${url}`, headers: { authorization: `Bearer ${admin}` } });
  const codeOf = (err: unknown): string => (err instanceof HoodyError ? err.code : `${(err as Error)?.message}`);

  /** Every container row names an image that is here, and every container that runs has its layers. */
  async function assertNoDanglingImage(): Promise<void> {
    for (const c of await store.listContainers({})) {
      assert.ok(c.image_id, `container ${c.name} has an image id`);
      assert.equal(await images.resolve(c.image_id), c.image_id, `container ${c.name} (${c.status}) names an image that exists`);
      assert.notEqual(c.status, 'failed', `container ${c.name} failed: its start did not find its image`);
    }
  }

  /** Removes every container of the round, through the runtime and the store. */
  async function clearContainers(): Promise<void> {
    for (const c of await store.listContainers({})) {
      await driver.delete(c.id).catch(() => undefined);
      await store.deleteContainer(c.id);
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoody-image-races-'));
    const tree = join(dir, 'tree');
    for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev']) await mkdir(join(tree, d), { recursive: true });
    await copyFile('/bin/busybox', join(tree, 'bin/busybox'));
    await symlink('busybox', join(tree, 'bin/sh'));
    await chmod(join(tree, 'tmp'), 0o1777);
    await writeFile(join(tree, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    const tar = join(dir, 'layer.tar');
    execFileSync('tar', ['--numeric-owner', '--sort=name', '-C', tree, '-cf', tar, '.']);
    layer = { path: tar, diffId: sha256(await readFile(tar)) };

    store = await openStore({ dataDir: dir });
    const auth = new AuthService(store, {});
    admin = `admin-${randomBytes(24).toString('hex')}`;
    await auth.bootstrap(admin);
    actor = (await auth.authenticate(`Bearer ${admin}`)) as Actor;
    const { server } = await seed(store);
    content = new LayerContentStore({ root: join(dir, 'images'), ids: DEFAULT_ID_RANGE });
    images = new ImageStore(join(dir, 'images'), DEFAULT_ID_RANGE, { content });
    driver = await RuncDriver.open({ stateDir: join(dir, 'runtime'), images, cgroupPrefix: prefix });
    const projects = new ProjectService(store);
    containers = new ContainerService({ store, driver, projects, images: imageCatalog(images), server });
    const unused = new Proxy({}, { get: () => undefined });
    app = await buildApp({ containers, projects, driver, events: unused, operations: unused, sessions: unused, store, auth, images, server } as unknown as AppDeps);
    await app.ready();
  });
  after(async () => {
    if (store) await clearContainers().catch(() => undefined);
    await app?.close();
    await driver?.close();
    await driver?.removeCgroupPrefix();
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('creates (ensure, then the row, then the start) against deletes: a container exists only with its image, and every start finds its layers', async () => {
    let created = 0;
    let deleted = 0;
    const log: number[] = [];
    // six rounds at least, and more (up to 40) until each side has won one: on a loaded machine
    // either side can win every early round, so later rounds give the side that has not won a growing head start
    for (let round = 0; round < 40 && (round < 6 || created === 0 || deleted === 0); round++) {
      const headStart = round < 6 ? 0 : (created === 0 ? 1 : -1) * (round - 5) * 25;
      const id = await storeImage();
      // spread over a few milliseconds each, so that either side comes first in some rounds
      const creates = Array.from({ length: 5 }, async (_, i) => {
        await sleep(round * 4 + i * 4);
        return containers.create(actor, { name: `c${round}-${i}-${suffix}`, container_image: name, pull: 'never' });
      });
      const deletes = Array.from({ length: 3 }, async (_, i) => {
        await sleep(Math.max(0, i * 7 + headStart));
        return call('DELETE', `/images/${encodeURIComponent(name)}`);
      });
      const made = await Promise.allSettled(creates);
      for (const r of made) {
        if (r.status === 'fulfilled') {
          created++;
          assert.equal(r.value.status, 'running');
          assert.equal(r.value.image_id, id);
        } else assert.equal(codeOf(r.reason), 'IMAGE_NOT_FOUND', 'a create that lost the race finds no image, and creates nothing');
      }
      for (const res of await Promise.all(deletes)) {
        assert.ok([200, 404, 409].includes(res.statusCode), res.body);
        if (res.statusCode === 200) deleted++;
        log.push(res.statusCode);
        if (res.statusCode === 409) assert.equal(res.json().code, 'IMAGE_IN_USE');
      }
      await assertNoDanglingImage();
      const rows = await store.listContainers({});
      if (rows.length > 0) assert.equal(await images.resolve(name), id, 'an image with containers was not deleted');
      await clearContainers();
    }
    // both sides won some rounds: the race was real
    assert.ok(created > 0, `some creates won (delete answers: ${log.join(' ')})`);
    assert.ok(deleted > 0, `some deletes won (delete answers: ${log.join(' ')})`);
  });

  it('starts against forced deletes: a start that mounts the layers keeps the image; a forced delete that wins leaves a start that fails cleanly', async () => {
    for (let round = 0; round < 3; round++) {
      await storeImage();
      const made = await Promise.all(Array.from({ length: 4 }, (_, i) => containers.create(actor, { name: `f${round}-${i}-${suffix}`, container_image: name, pull: 'never', autostart: false })));
      const starts = made.map((c) => containers.operate(actor, c.id, 'start', {}));
      const forced = call('DELETE', `/images/${encodeURIComponent(name)}?force=true`);
      const results = await Promise.allSettled(starts);
      const res = await forced;
      assert.ok([200, 409].includes(res.statusCode), res.body);
      const imageThere = (await images.resolve(name)) !== undefined;
      for (const [i, r] of results.entries()) {
        const now = await store.getContainer(made[i]!.id);
        if (r.status === 'fulfilled') {
          assert.equal(r.value.status, 'running');
          assert.ok(imageThere, 'a container runs: its image was not deleted under it');
          assert.equal(res.statusCode, 409, 'the forced delete was refused');
        } else {
          // the image was deleted first (forced): the start failed, saying so
          assert.equal(res.statusCode, 200, `a start failed although the image stayed: ${codeOf(r.reason)}`);
          assert.match(codeOf(r.reason), /RUNTIME_ERROR/);
          assert.equal(now?.status, 'failed');
        }
      }
      await clearContainers();
      if (imageThere) await images.remove(name);
    }
  });

  it('a layer found by an image on its way is not collected when the last image using it is deleted meanwhile', async () => {
    for (let round = 0; round < 10; round++) {
      await storeImage();
      // as a pull or an import does: the layer is here, so only the image is recorded
      assert.ok(await content.hasLayer(layer.diffId));
      const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/busybox', 'true'], Env: [`ROUND=${round}`] }, rootfs: { type: 'layers', diff_ids: [layer.diffId] } }));
      // the record comes a little later each round, so that it lands before, during and after the delete's collection
      const commit = sleep(round).then(() => content.commitImage({ configBytes, names: [`other-${suffix}.example/app:${round}`], source: 'test' }));
      const [removed, committed] = await Promise.allSettled([images.remove(name), commit]);
      assert.equal(removed.status, 'fulfilled');
      assert.equal(committed.status, 'fulfilled', 'the second image is recorded');
      const other = (committed as PromiseFulfilledResult<Awaited<ReturnType<LayerContentStore['commitImage']>>>).value;
      assert.ok(await content.hasLayer(layer.diffId), 'the layer the second image names is still stored');
      for (const lower of await content.lowerDirs(other)) assert.ok((await stat(join(lower, 'bin/busybox')).catch(() => undefined))?.isFile(), `${lower} holds the layer's files`);
      await images.remove(other.id);
    }
  });

  it('creates against prunes: prune removes the image only while no container row names it', async () => {
    for (let round = 0; round < 3; round++) {
      const id = await storeImage();
      const creates = Array.from({ length: 4 }, (_, i) => containers.create(actor, { name: `p${round}-${i}-${suffix}`, container_image: name, pull: 'never' }));
      const prunes = Array.from({ length: 2 }, async (_, i) => {
        await sleep(i * 3);
        return call('POST', '/images/prune');
      });
      const made = await Promise.allSettled(creates);
      for (const r of made) if (r.status === 'rejected') assert.equal(codeOf(r.reason), 'IMAGE_NOT_FOUND');
      const rows = made.filter((r) => r.status === 'fulfilled').length;
      for (const res of await Promise.all(prunes)) {
        assert.equal(res.statusCode, 200, res.body);
        if (rows > 0) assert.ok(!(res.json().data.removed as string[]).includes(id), 'an image containers were made from was not pruned');
      }
      await assertNoDanglingImage();
      await clearContainers();
      if (await images.resolve(name)) await images.remove(name);
    }
  });
});
