/**
 * Containers from layered images through the runc driver: the overlay of the image's layers, the
 * process from its config (user, working dir, environment), and a container pinned to the image
 * it was created from when its name moves to another. Needs root, runc, conmon, catatonit and
 * busybox-static. The layers are plain tars built here and unpacked by the product's content store.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { RuncDriver } from '../src/runtime/runc/runc-driver.ts';
import { ImageStore } from '../src/runtime/image-store.ts';
import { DEFAULT_ID_RANGE } from '../src/runtime/id-range.ts';
import type { ContentStore, ImageConfig } from '../src/images/types.ts';
import { LayerContentStore } from '../src/images/store.ts';
import { eventually, newId, spec } from './runtime-contract.ts';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;
const sha256 = (bytes: Buffer | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** A layer tar of the tree `fill` makes, owners numeric, as an image has them. */
async function layerTar(dir: string, name: string, fill: (root: string) => Promise<void>): Promise<{ path: string; diffId: string }> {
  const root = join(dir, `${name}-tree`);
  await mkdir(root, { recursive: true });
  await fill(root);
  const path = join(dir, `${name}.tar`);
  execFileSync('tar', ['--numeric-owner', '--sort=name', '-C', root, '-cf', path, '.']);
  return { path, diffId: sha256(await readFile(path)) };
}

describe('containers from layered images', { skip }, () => {
  let dir: string;
  let content: ContentStore;
  let images: ImageStore;
  let driver: RuncDriver;
  const prefix = `hoody-test-${randomBytes(5).toString('hex')}`;
  const made: string[] = [];

  /** Stores an image of these layers with this config under `name`; answers its id. */
  async function storeImage(name: string, layers: { path: string; diffId: string }[], config: ImageConfig['config']): Promise<string> {
    for (const layer of layers) await content.applyLayer(layer.path, layer.diffId);
    const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } }));
    return (await content.commitImage({ configBytes, names: [name], source: `test ${name}` })).id;
  }

  /** Creates and starts a container of the image, answers its first log lines once `marker` shows. */
  async function run(image: string, marker: string, imageId?: string): Promise<string> {
    const id = newId();
    made.push(id);
    await driver.create(spec(id, null, { image, ...(imageId ? { imageId } : {}) }));
    await driver.start(id);
    return eventually(`the container's output (${marker})`, () => driver.logs(id), (l) => l.includes(marker));
  }

  let base: { path: string; diffId: string };
  let app: { path: string; diffId: string };
  const APP_CONFIG: ImageConfig['config'] = {
    Entrypoint: ['/bin/sh', '-c'],
    Cmd: ['echo "uid=$(/bin/busybox id -u) gid=$(/bin/busybox id -g) groups=$(/bin/busybox id -G) cwd=$(pwd) home=$HOME greeting=$GREETING path=$PATH"; /bin/busybox cat /etc/motd; exec /bin/busybox sleep 60'],
    Env: ['PATH=/opt/bin:/bin', 'GREETING=hi'],
    WorkingDir: '/home/app',
    User: 'app',
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoody-image-containers-'));
    base = await layerTar(dir, 'base', async (root) => {
      for (const d of ['bin', 'etc', 'home/app', 'tmp', 'proc', 'sys', 'dev']) await mkdir(join(root, d), { recursive: true });
      await copyFile('/bin/busybox', join(root, 'bin/busybox'));
      await symlink('busybox', join(root, 'bin/sh'));
      await chmod(join(root, 'tmp'), 0o1777);
      await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n');
      await writeFile(join(root, 'etc/group'), 'root:x:0:\napp:x:1000:\nstaff:x:50:app\n');
      await writeFile(join(root, 'etc/motd'), 'motd from the base layer\n');
      await chown(join(root, 'home/app'), 1000, 1000);
    });
    app = await layerTar(dir, 'app', async (root) => {
      await mkdir(join(root, 'etc'), { recursive: true });
      await writeFile(join(root, 'etc/motd'), 'motd from the app layer\n');
    });
    content = new LayerContentStore({ root: join(dir, 'images'), ids: DEFAULT_ID_RANGE });
    images = new ImageStore(join(dir, 'images'), DEFAULT_ID_RANGE, { content });
    driver = await RuncDriver.open({ stateDir: join(dir, 'runtime'), images, cgroupPrefix: prefix });
  });
  after(async () => {
    for (const id of made) await driver?.delete(id).catch(() => undefined);
    await driver?.close();
    await driver?.removeCgroupPrefix();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs the config\'s Entrypoint + Cmd as its user, in its working dir, with its environment, over both layers', async () => {
    await storeImage('example.com/app:1', [base, app], APP_CONFIG);
    const out = await run('example.com/app:1', 'motd');
    assert.match(out, /uid=1000 gid=1000 groups=1000 50 cwd=\/home\/app home=\/home\/app greeting=hi path=\/opt\/bin:\/bin/);
    assert.match(out, /motd from the app layer/, 'the upper layer wins');
  });

  it('a container keeps the image it was created from when its name moves to another', async () => {
    const first = await storeImage('example.com/moving:1', [base, app], APP_CONFIG);
    const pinned = newId();
    made.push(pinned);
    await driver.create(spec(pinned, null, { image: 'example.com/moving:1', imageId: first }));
    // the name now names an image without the app layer
    const second = await storeImage('example.com/moving:1', [base], { ...APP_CONFIG, Env: ['PATH=/bin', 'GREETING=second'] });
    assert.notEqual(second, first);
    await driver.start(pinned);
    const out = await eventually('the pinned container\'s output', () => driver.logs(pinned), (l) => l.includes('motd'));
    assert.match(out, /greeting=hi/, 'the first image\'s environment');
    assert.match(out, /motd from the app layer/, 'the first image\'s layers');
    const fresh = await run('example.com/moving:1', 'motd');
    assert.match(fresh, /greeting=second/);
    assert.match(fresh, /motd from the base layer/);
  });
});
