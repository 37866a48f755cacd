/**
 * The /images routes in process (app.inject) over a real SQLite store and real tokens, with an
 * in-memory content store, a scripted puller and importer behind the image facade: answers,
 * the NDJSON pull stream, the streamed upload, IMAGE_IN_USE, and who may do what.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppDeps } from '../src/server/app.ts';
import { openStore } from '../src/store/open-store.ts';
import type { Store } from '../src/store/store.ts';
import { AuthService } from '../src/core/auth-service.ts';
import type { Actor } from '../src/core/actor.ts';
import { ImageStore } from '../src/runtime/image-store.ts';
import { parseReference } from '../src/images/reference.ts';
import type { ArchiveImporter, ContentStore, ImageProgress, ImagePuller, StoredImage } from '../src/images/types.ts';
import { containerRecord, seed } from './store-fixtures.ts';

const sha = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;

function storedImage(name: string, revision = '1'): StoredImage {
  return {
    id: sha(`${name}#${revision}`),
    names: [name],
    repoDigests: [`${name.replace(/:[^:/]+$/, '')}@${sha(`manifest-${name}`)}`],
    diffIds: [sha('base'), sha(`top-${name}`)],
    config: {
      created: '2026-01-02T03:04:05Z',
      config: { Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo hi'], Env: ['PATH=/bin'], WorkingDir: '/srv', User: '1000', ExposedPorts: { '8080/tcp': {} }, Labels: { a: 'b' } },
      rootfs: { type: 'layers', diff_ids: [] },
      history: [{ created_by: 'ADD base', created: '2026-01-01T00:00:00Z' }, { created_by: 'RUN x', empty_layer: true }],
    },
    sizeBytes: 1234,
    storedAt: new Date().toISOString(),
    source: `pull ${name}`,
    user: { uid: 1000, gid: 1000, additionalGids: [], home: '/home/app' },
  };
}

/** The content store's lookups over a map; enough for the routes. */
class MemoryStore implements Partial<ContentStore> {
  images = new Map<string, StoredImage>();
  put(image: StoredImage): StoredImage {
    for (const other of this.images.values()) other.names = other.names.filter((n) => !image.names.includes(n));
    this.images.set(image.id, image);
    return image;
  }
  async find(text: string) {
    return [...this.images.values()].find((i) => i.id === text || i.names.includes(text) || i.repoDigests.includes(text));
  }
  async list() {
    return [...this.images.values()];
  }
  async lowerDirs(image: StoredImage) {
    return image.diffIds.map((d) => `/store/l/${d.slice(7, 15)}`);
  }
  async tag(id: string, name: string) {
    const image = this.images.get(id) as StoredImage;
    for (const other of this.images.values()) other.names = other.names.filter((n) => n !== name);
    image.names = [name, ...image.names];
    return image;
  }
  async remove(text: string) {
    const image = await this.find(text);
    if (!image) return { removed: [], untagged: [] };
    if (image.names.includes(text) && image.names.length > 1) {
      image.names = image.names.filter((n) => n !== text);
      return { removed: [], untagged: [text] };
    }
    this.images.delete(image.id);
    return { removed: [image.id], untagged: image.names };
  }
  async prune(keep: ReadonlySet<string>) {
    return this.removeImages([...this.images.keys()].filter((id) => !keep.has(id)));
  }
  async removeImages(ids: readonly string[]) {
    const removed = ids.filter((id) => this.images.delete(id));
    return { removed, reclaimedBytes: removed.length * 1234 };
  }
  async sweep() {}
}

describe('the images API', () => {
  let dir: string;
  let store: Store;
  let app: FastifyInstance;
  let content: MemoryStore;
  let admin: string;
  let userToken: string;
  let readOnly: string;
  let projectId: string;
  let serverId: string;
  let failPull: { code: string; message: string } | undefined;
  const imported: Buffer[] = [];

  const puller: ImagePuller = {
    async pull(reference, opts) {
      if (failPull) throw Object.assign(new Error(failPull.message), { code: failPull.code });
      const image = storedImage(parseReference(reference).name);
      const events: ImageProgress[] = [
        { kind: 'resolved', reference, manifestDigest: sha('m'), layers: [{ digest: sha('blob'), size: 10 }] },
        { kind: 'download', digest: sha('blob'), downloaded: 10, total: 10 },
        { kind: 'downloaded', digest: sha('blob') },
        { kind: 'extracted', diffId: sha('base'), sizeBytes: 100 },
      ];
      for (const e of events) opts?.onProgress?.(e);
      return content.put(image);
    },
  };
  const importer: ArchiveImporter = {
    async importArchive(input) {
      assert.notEqual(typeof input, 'string');
      const chunks: Buffer[] = [];
      for await (const chunk of input as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk));
      imported.push(Buffer.concat(chunks));
      return [content.put(storedImage('docker.io/library/imported:1'))];
    },
  };

  const call = (method: 'GET' | 'POST' | 'DELETE', url: string, token: string, payload?: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method, url: `/api/v1${url}`, headers: { authorization: `Bearer ${token}`, ...headers }, ...(payload === undefined ? {} : { payload: payload as string }) });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoody-images-api-'));
    store = await openStore({ dataDir: dir });
    const auth = new AuthService(store, {});
    admin = 'admin-'.padEnd(48, 'x');
    await auth.bootstrap(admin);
    const adminActor = (await auth.authenticate(`Bearer ${admin}`)) as Actor;
    const user = await auth.createUser(adminActor, 'bob');
    const bobActor = { ...adminActor, userId: user.id, isAdmin: false };
    userToken = (await auth.createToken(bobActor, { name: 'bob' })).secret;
    readOnly = (await auth.createToken(bobActor, { name: 'bob-ro', read_only: true })).secret;
    const seeded = await seed(store);
    projectId = seeded.project.id;
    serverId = seeded.server.id;
    content = new MemoryStore();
    const images = new ImageStore(join(dir, 'images'), undefined, { content: content as unknown as ContentStore, puller, importer });
    const deps = { store, auth, images, server: { id: serverId, name: seeded.server.name } } as Partial<AppDeps>;
    // the other services are not used by these routes
    const unused = new Proxy({}, { get: () => undefined });
    app = await buildApp({ containers: unused, projects: unused, driver: unused, events: unused, operations: unused, sessions: unused, ...deps } as unknown as AppDeps);
    await app.ready();
  });
  after(async () => {
    await app?.close();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('pull answers the image with its config; an NDJSON pull streams progress then done', async () => {
    const res = await call('POST', '/images/pull', userToken, { reference: 'example.com/app:1' });
    assert.equal(res.statusCode, 200, res.body);
    const image = res.json().data.image;
    assert.equal(image.name, 'example.com/app:1');
    assert.deepEqual(image.config, { entrypoint: ['/bin/sh', '-c'], cmd: ['echo hi'], env: ['PATH=/bin'], working_dir: '/srv', user: '1000', exposed_ports: ['8080/tcp'], labels: { a: 'b' } });
    assert.deepEqual(image.history[1], { created_by: 'RUN x', empty_layer: true });
    const streamed = await call('POST', '/images/pull', userToken, { reference: 'example.com/web:2' }, { accept: 'application/x-ndjson' });
    assert.equal(streamed.statusCode, 200);
    assert.match(streamed.headers['content-type'] as string, /^application\/x-ndjson/);
    const lines = streamed.body.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.kind), ['resolved', 'download', 'downloaded', 'extracted', 'done']);
    assert.equal(lines.at(-1).image.name, 'example.com/web:2');
  });

  it('a pull failure is IMAGE_PULL_FAILED with the registry\'s kind, in JSON and in the stream; a bad reference is INVALID_INPUT', async () => {
    failPull = { code: 'unauthorized', message: 'registry "ghcr.io" refused the credentials' };
    try {
      const res = await call('POST', '/images/pull', userToken, { reference: 'ghcr.io/acme/api:1' });
      assert.equal(res.statusCode, 502);
      assert.equal(res.json().code, 'IMAGE_PULL_FAILED');
      assert.equal(res.json().details.kind, 'unauthorized');
      const streamed = await call('POST', '/images/pull', userToken, { reference: 'ghcr.io/acme/api:1' }, { accept: 'application/x-ndjson' });
      const last = JSON.parse(streamed.body.trim().split('\n').at(-1) as string);
      assert.equal(last.kind, 'error');
      assert.equal(last.error.code, 'IMAGE_PULL_FAILED');
      assert.equal(last.error.details.kind, 'unauthorized');
    } finally {
      failPull = undefined;
    }
    const bad = await call('POST', '/images/pull', userToken, { reference: 'library/NGINX' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'INVALID_INPUT');
    assert.equal((await call('POST', '/images/pull', userToken, { reference: 'a b' })).statusCode, 400);
    const streamedBad = await call('POST', '/images/pull', userToken, { reference: 'library/NGINX' }, { accept: 'application/x-ndjson' });
    assert.equal(streamedBad.statusCode, 400, 'a bad reference is refused before any stream starts');
    const platform = await call('POST', '/images/pull', userToken, { reference: 'example.com/app:1', platform: 'linux' });
    assert.equal(platform.statusCode, 400);
    assert.match(platform.json().message, /platform "linux" is not valid/);
  });

  it('lists busybox first and every stored image with the containers that use it; gets one by URL-encoded name or id', async () => {
    const pulled = (await call('POST', '/images/pull', userToken, { reference: 'example.com/used:1' })).json().data.image;
    const c = containerRecord({ name: 'user-of-image', project_id: projectId, server_id: serverId, container_image: 'example.com/used:1', image_id: pulled.id });
    await store.createContainer(c);
    const list = (await call('GET', '/images', readOnly)).json().data.images;
    assert.equal(list[0].id, 'builtin:busybox');
    assert.equal(list[0].name, 'busybox');
    assert.deepEqual(list.find((i: { id: string }) => i.id === pulled.id).used_by, [c.id]);
    const byName = await call('GET', `/images/${encodeURIComponent('example.com/used:1')}`, readOnly);
    assert.equal(byName.statusCode, 200, byName.body);
    assert.equal(byName.json().data.image.id, pulled.id);
    assert.equal((await call('GET', `/images/${encodeURIComponent(pulled.id)}`, readOnly)).json().data.image.name, 'example.com/used:1');
    const missing = await call('GET', `/images/${encodeURIComponent('example.com/none:1')}`, readOnly);
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().code, 'IMAGE_NOT_FOUND');
  });

  it('delete is refused with IMAGE_IN_USE while a container uses the image, unless forced; busybox cannot be deleted', async () => {
    const pulled = (await call('POST', '/images/pull', userToken, { reference: 'example.com/busy:1' })).json().data.image;
    const c = containerRecord({ name: 'busy-user', project_id: projectId, server_id: serverId, container_image: 'example.com/busy:1', image_id: pulled.id });
    await store.createContainer(c);
    const refused = await call('DELETE', `/images/${encodeURIComponent('example.com/busy:1')}`, admin);
    assert.equal(refused.statusCode, 409);
    assert.equal(refused.json().code, 'IMAGE_IN_USE');
    assert.deepEqual(refused.json().details.container_ids, [c.id]);
    const runner = containerRecord({ name: 'busy-runner', project_id: projectId, server_id: serverId, container_image: 'example.com/busy:1', image_id: pulled.id, status: 'running', desired_status: 'running' });
    await store.createContainer(runner);
    const running = await call('DELETE', `/images/${encodeURIComponent('example.com/busy:1')}?force=true`, admin);
    assert.equal(running.statusCode, 409, 'not even force while a container of it runs');
    assert.deepEqual(running.json().details, { container_ids: [runner.id], running: true });
    await store.deleteContainer(runner.id);
    const forced = await call('DELETE', `/images/${encodeURIComponent('example.com/busy:1')}?force=true`, admin);
    assert.equal(forced.statusCode, 200, forced.body);
    assert.deepEqual(forced.json().data.removed, [pulled.id]);
    const builtin = await call('DELETE', '/images/busybox', admin);
    assert.equal(builtin.statusCode, 400);
    assert.match(builtin.json().message, /built in/);
  });

  it('tag adds a name; prune removes what no container uses', async () => {
    const pulled = (await call('POST', '/images/pull', userToken, { reference: 'example.com/tagme:1' })).json().data.image;
    const tagged = await call('POST', `/images/${encodeURIComponent(pulled.id)}/tag`, admin, { name: 'example.com/tagme:stable' });
    assert.equal(tagged.statusCode, 200, tagged.body);
    assert.deepEqual(tagged.json().data.image.names, ['example.com/tagme:stable', 'example.com/tagme:1']);
    const pruned = await call('POST', '/images/prune', admin);
    assert.equal(pruned.statusCode, 200, pruned.body);
    assert.ok(pruned.json().data.removed.includes(pulled.id));
    const left = (await call('GET', '/images', admin)).json().data.images.map((i: { name: string }) => i.name);
    assert.ok(left.includes('example.com/used:1'), 'an image a container uses stays');
    assert.ok(left.includes('busybox'));
  });

  it('an id prefix that several images have is IMAGE_AMBIGUOUS (409) for get, delete and tag; a name that looks like hex is the name', async () => {
    const hex = 'fedcba987654';
    const one = content.put({ ...storedImage(`example.com/amb1:1`), id: `sha256:${hex}${'1'.repeat(52)}` });
    const two = content.put({ ...storedImage(`example.com/amb2:1`), id: `sha256:${hex}${'2'.repeat(52)}` });
    const named = content.put({ ...storedImage(`docker.io/library/${hex}:latest`), id: `sha256:${'d'.repeat(64)}` });
    for (const [method, url, body] of [
      ['GET', `/images/sha256:${hex}`, undefined],
      ['DELETE', `/images/sha256:${hex}`, undefined],
      ['POST', `/images/sha256:${hex}/tag`, { name: 'example.com/amb:x' }],
    ] as const) {
      const res = await call(method as 'GET', url, admin, body);
      assert.equal(res.statusCode, 409, `${method} ${url}: ${res.body}`);
      assert.equal(res.json().code, 'IMAGE_AMBIGUOUS');
      assert.deepEqual(res.json().details.matches, [one.id, two.id]);
    }
    assert.equal((await call('GET', `/images/${hex}`, readOnly)).json().data.image.id, named.id);
    assert.equal((await call('GET', `/images/${hex}1`, readOnly)).json().data.image.id, one.id);
    assert.ok(content.images.has(one.id) && content.images.has(two.id), 'nothing was deleted');
  });

  it('import streams the tarball body to the importer, whatever its size limit, and answers the images it held', async () => {
    const tarball = Buffer.alloc(3 * 1024 * 1024, 7);
    const res = await call('POST', '/images/import', admin, tarball, { 'content-type': 'application/x-tar' });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().data.images[0].name, 'docker.io/library/imported:1');
    assert.equal(imported.at(-1)?.length, tarball.length, 'every byte reached the importer (above the 1 MiB JSON limit)');
    const json = await call('POST', '/images/import', admin, { a: 1 });
    assert.equal(json.statusCode, 415);
  });

  it('who may do what: every token lists; read-only tokens cannot pull; only admins import, delete, tag and prune', async () => {
    assert.equal((await call('GET', '/images', readOnly)).statusCode, 200);
    assert.equal((await call('POST', '/images/pull', readOnly, { reference: 'example.com/app:1' })).statusCode, 403);
    assert.equal((await call('POST', '/images/import', readOnly, Buffer.alloc(10), { 'content-type': 'application/x-tar' })).statusCode, 403);
    for (const [method, url, body] of [
      ['DELETE', `/images/${encodeURIComponent('example.com/app:1')}`, undefined],
      ['POST', `/images/${encodeURIComponent('example.com/app:1')}/tag`, { name: 'example.com/app:2' }],
      ['POST', '/images/prune', undefined],
      ['POST', '/images/import', Buffer.alloc(10)],
    ] as const) {
      const res = await call(method, url, userToken, body, Buffer.isBuffer(body) ? { 'content-type': 'application/x-tar' } : {});
      assert.equal(res.statusCode, 403, `${method} ${url}`);
      assert.match(res.json().message, /only an admin token/);
    }
  });
});
