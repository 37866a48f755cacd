/**
 * The image facade over an in-memory content store and a scripted puller: the busybox rule, pull
 * policies, pinning by id, errors. No root needed (the built-in image is never built here).
 */
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ImageStore, type ImageError } from './image-store.ts';
import { parseReference } from '../images/reference.ts';
import type { ContentStore, ImageConfig, ImagePuller, StoredImage } from '../images/types.ts';

const sha = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;

/** Images by id, names moved as the real store moves them. */
class MemoryContentStore implements Partial<ContentStore> {
  images = new Map<string, StoredImage>();
  add(name: string, config: ImageConfig['config'], revision = '1'): StoredImage {
    for (const other of this.images.values()) other.names = other.names.filter((n) => n !== name);
    const id = sha(`${name}#${revision}`);
    const image: StoredImage = { id, names: [name], repoDigests: [], diffIds: [sha(`layer-${revision}`)], config: { rootfs: { type: 'layers', diff_ids: [] }, config }, sizeBytes: 10, storedAt: new Date(0).toISOString(), source: `pull ${name}` };
    this.images.set(id, image);
    return image;
  }
  async find(text: string) {
    return [...this.images.values()].find((i) => i.id === text || i.names.includes(text) || i.repoDigests.includes(text) || (/^[a-f0-9]{12,}$/.test(text) && i.id.slice(7).startsWith(text)));
  }
  async list() {
    return [...this.images.values()];
  }
  async lowerDirs(image: StoredImage) {
    return image.diffIds.map((d) => `/store/l/${d.slice(7, 15)}`);
  }
  async remove(text: string) {
    const image = await this.find(text);
    if (image && image.names.includes(text) && image.names.length > 1) {
      image.names = image.names.filter((n) => n !== text);
      return { removed: [], untagged: [text] };
    }
    if (image) this.images.delete(image.id);
    return { removed: image ? [image.id] : [], untagged: image?.names ?? [] };
  }
  /** Stores an image with a chosen id and names. */
  put(id: string, names: string[]): StoredImage {
    const image: StoredImage = { id, names, repoDigests: [], diffIds: [sha(id)], config: { rootfs: { type: 'layers', diff_ids: [] }, config: { Cmd: ['x'] } }, sizeBytes: 10, storedAt: new Date(0).toISOString(), source: 'test' };
    this.images.set(id, image);
    return image;
  }
  async sweep() {}
}

/** Pulls by adding to the memory store; fails for references it is told to. */
class ScriptedPuller implements ImagePuller {
  pulls: string[] = [];
  failWith: { code: string; message: string } | undefined;
  revision = 1;
  constructor(private readonly content: MemoryContentStore) {}
  async pull(reference: string) {
    this.pulls.push(reference);
    if (this.failWith) throw Object.assign(new Error(this.failWith.message), { code: this.failWith.code });
    return this.content.add(parseReference(reference).name, { Entrypoint: ['/bin/app'], Cmd: ['--serve'], Env: ['PATH=/opt/bin'], WorkingDir: '/srv' }, String(this.revision));
  }
}

describe('image facade', () => {
  let dir: string;
  let content: MemoryContentStore;
  let puller: ScriptedPuller;
  let images: ImageStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoody-images-'));
    content = new MemoryContentStore();
    puller = new ScriptedPuller(content);
    images = new ImageStore(join(dir, 'images'), undefined, { content: content as unknown as ContentStore, puller });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the bare name busybox is the built-in image; busybox with a tag or a domain is a reference', async () => {
    assert.equal(await images.ensure('busybox'), 'builtin:busybox');
    assert.deepEqual(puller.pulls, []);
    await images.ensure('busybox:1.36');
    await images.ensure('docker.io/library/busybox');
    assert.deepEqual(puller.pulls, ['docker.io/library/busybox:1.36', 'docker.io/library/busybox:latest']);
    const listed = await images.list();
    assert.equal(listed[0]?.id, 'builtin:busybox', 'the built-in image is always listed');
    assert.deepEqual(listed.slice(1).map((i) => i.name).sort(), ['docker.io/library/busybox:1.36', 'docker.io/library/busybox:latest']);
  });

  it('pull policies: missing pulls once, always pulls every time, never refuses a missing image', async () => {
    const id = await images.ensure('nginx:1.27');
    assert.equal(await images.ensure('nginx:1.27'), id);
    assert.equal(puller.pulls.length, 1, 'present: not pulled again');
    await images.ensure('nginx:1.27', { pull: 'always' });
    assert.equal(puller.pulls.length, 2);
    await assert.rejects(images.ensure('redis:7', { pull: 'never' }), (err: ImageError) => err.kind === 'not-found' && err.details.container_image === 'redis:7');
    assert.equal(await images.ensure('docker.io/library/nginx:1.27', { pull: 'never' }), id, 'any spelling of the reference finds it');
  });

  it('a pull failure keeps the registry\'s kind; a bad reference is refused before any pull', async () => {
    puller.failWith = { code: 'unauthorized', message: 'registry "ghcr.io" answered 401' };
    await assert.rejects(images.ensure('ghcr.io/acme/api:1'), (err: ImageError) => err.kind === 'pull-failed' && err.details.kind === 'unauthorized' && /cannot pull "ghcr.io\/acme\/api:1"/.test(err.message));
    await assert.rejects(images.ensure('Bad Name'), (err: ImageError) => err.kind === 'invalid-reference');
    await assert.rejects(images.pull('library/NGINX'), (err: ImageError) => err.kind === 'invalid-reference');
    assert.deepEqual(puller.pulls, ['ghcr.io/acme/api:1']);
  });

  it('require answers the lowers and the run settings; by id it keeps the image a name moved away from', async () => {
    const first = await images.ensure('example.com/app:1');
    const run = await images.require('example.com/app:1');
    assert.deepEqual(run.run, { entrypoint: ['/bin/app'], cmd: ['--serve'], env: ['PATH=/opt/bin'], workingDir: '/srv', user: { uid: 0, gid: 0, additionalGids: [], home: '/' } });
    assert.equal(run.lowers.length, 1);
    puller.revision = 2;
    const second = await images.ensure('example.com/app:1', { pull: 'always' });
    assert.notEqual(second, first, 'the name now names another image');
    assert.deepEqual((await images.require(first)).lowers, run.lowers, 'the pinned id still runs the first image');
    assert.notDeepEqual((await images.require('example.com/app:1')).lowers, run.lowers);
    assert.equal(await images.resolve(first.slice(7, 19)), first, '12 hex characters find an image');
  });

  it('refuses an image with nothing to run unless the container gives a command, and a user it cannot resolve', async () => {
    content.add('example.com/empty:1', {});
    await assert.rejects(images.ensure('example.com/empty:1'), (err: ImageError) => err.kind === 'not-runnable' && /no Entrypoint or Cmd/.test(err.message));
    assert.ok(await images.ensure('example.com/empty:1', { command: ['sh'] }));
    const named = content.add('example.com/named:1', { Cmd: ['x'], User: 'app' });
    named.userError = 'user "app" is not in the image\'s /etc/passwd';
    await assert.rejects(images.ensure('example.com/named:1'), (err: ImageError) => err.kind === 'not-runnable' && /user "app"/.test(err.message));
  });

  it('the built-in image cannot be removed or tagged; unknown images are not found', async () => {
    await assert.rejects(images.remove('busybox'), (err: ImageError) => err.kind === 'builtin');
    await assert.rejects(images.remove('builtin:busybox'), (err: ImageError) => err.kind === 'builtin');
    await assert.rejects(images.tag('busybox', 'example.com/bb:1'), (err: ImageError) => err.kind === 'builtin');
    await assert.rejects(images.get('example.com/none:1'), (err: ImageError) => err.kind === 'not-found');
    assert.equal(await images.exists('example.com/none:1'), false);
    const id = await images.ensure('example.com/app:1');
    assert.deepEqual((await images.remove(id)).removed, [id]);
    assert.equal(await images.exists(id), false);
  });

  it('one lookup rule for get, delete, tag and create: exact id, then a reference, then an id prefix of 12+ hex that only one id has', async () => {
    const a = content.put(`sha256:abcdef123456${'0'.repeat(52)}`, ['example.com/a:1']);
    const b = content.put(`sha256:abcdef123456${'1'.repeat(52)}`, ['example.com/b:1']);
    // a tag that looks like a short id, and a second name of the same image
    const c = content.put(`sha256:${'c'.repeat(64)}`, ['docker.io/library/abcdef123456:latest', 'example.com/c:1']);
    assert.equal((await images.get('abcdef123456')).id, c.id, 'a name that looks like an id prefix is the name');
    const ambiguous = (err: ImageError) => err.kind === 'ambiguous' && /matches 2 images/.test(err.message) && JSON.stringify(err.details.matches) === JSON.stringify([a.id, b.id].sort());
    await assert.rejects(images.get('sha256:abcdef123456'), ambiguous);
    assert.equal((await images.get('abcdef1234560')).id, a.id, 'a longer prefix picks one');
    assert.equal((await images.get('sha256:abcdef1234561')).id, b.id);
    assert.equal((await images.get(a.id.slice(7))).id, a.id, 'the 64 hex digits alone are the id');
    assert.equal((await images.get(a.id)).id, a.id);
    await assert.rejects(images.get('abcdef12345'), (err: ImageError) => err.kind === 'not-found', '11 hex digits are a name, never a prefix');
    await assert.rejects(images.get('sha256:abcdef12345'), (err: ImageError) => err.kind === 'not-found');
    // the same rule for delete, tag and a new container's image
    await assert.rejects(images.remove('sha256:abcdef123456'), ambiguous);
    await assert.rejects(images.tag('sha256:abcdef123456', 'example.com/t:1'), ambiguous);
    await assert.rejects(images.ensure('sha256:abcdef123456', { pull: 'never' }), ambiguous);
    assert.equal(await images.ensure('abcdef123456', { pull: 'never' }), c.id);
    assert.equal(await images.ensure('abcdef1234560', { pull: 'never' }), a.id);
    assert.deepEqual(puller.pulls, [], 'nothing was pulled');
    // by the name that looks like hex: only that name goes; by a prefix: the image with all its names
    assert.deepEqual(await images.remove('abcdef123456'), { removed: [], untagged: ['docker.io/library/abcdef123456:latest'] });
    assert.equal((await images.get(c.id)).names.join(), 'example.com/c:1');
    assert.deepEqual((await images.remove(c.id.slice(7, 19))).removed, [c.id]);
    assert.deepEqual((await images.remove('abcdef1234560')).removed, [a.id]);
    assert.equal((await images.get('sha256:abcdef123456')).id, b.id, 'once a is gone the prefix is b\'s alone');
  });

  it('without a content store only folder images exist and a pull says why it cannot', async () => {
    const bare = new ImageStore(join(dir, 'bare'));
    assert.equal(await bare.ensure('busybox'), 'builtin:busybox');
    await assert.rejects(bare.ensure('nginx'), (err: ImageError) => err.kind === 'unavailable');
    await assert.rejects(bare.ensure('nginx', { pull: 'never' }), (err: ImageError) => err.kind === 'not-found');
  });
});
