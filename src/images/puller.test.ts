import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeStore } from '../../test/fake-content-store.ts';
import { StubRegistry, indexOf, sha256, tinyImage } from '../../test/stub-registry.ts';
import { eventually } from '../../test/eventually.ts';
import { Puller } from './puller.ts';
import { RegistryClient } from './registry-client.ts';
import { RegistryError } from './registry-error.ts';
import type { ImageProgress } from './types.ts';

async function setup(fn: (reg: StubRegistry, store: FakeStore, puller: Puller) => Promise<void>, clientOpts: ConstructorParameters<typeof RegistryClient>[0] = {}) {
  const reg = await new StubRegistry().start();
  const dir = await mkdtemp(join(tmpdir(), 'hoody-pull-'));
  const store = await FakeStore.create(dir);
  try {
    await fn(reg, store, new Puller({ client: new RegistryClient({ retryDelayMs: 1, ...clientOpts }), store, platform: { os: 'linux', architecture: 'amd64' } }));
  } finally {
    await reg.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('a pull resolves, downloads, unpacks each layer and records the image under its name', async () => {
  await setup(async (reg, store, puller) => {
    const a = tinyImage();
    const b = tinyImage({ architecture: 'arm64' });
    reg.putImage('test/app', a);
    reg.putImage('test/app', b);
    reg.putIndex('test/app', indexOf([b, a]), ['1.0']);
    const events: ImageProgress[] = [];
    const image = await puller.pull(`${reg.host}/test/app:1.0`, { onProgress: (p) => events.push(p) });
    assert.equal(image.names[0], `${reg.host}/test/app:1.0`);
    assert.deepEqual(store.committed, [{ configBytes: a.config, manifestDigest: a.manifestDigest, repository: `${reg.host}/test/app`, names: [`${reg.host}/test/app:1.0`], source: `pull ${reg.host}/test/app:1.0` }]);
    assert.deepEqual(new Set(store.applied.map((x) => x.diffId)), new Set(a.layers.map((l) => l.diffId)));
    assert.deepEqual(new Set(store.committedBlobs), new Set(a.layers.map((l) => l.digest)));
    assert.equal(events[0]!.kind, 'resolved');
    assert.deepEqual((events[0] as Extract<ImageProgress, { kind: 'resolved' }>).layers, a.layers.map((l) => ({ digest: l.digest, size: l.gz.length })));
    for (const l of a.layers) {
      const kinds = events.filter((e) => ('digest' in e && e.digest === l.digest) || ('diffId' in e && e.diffId === l.diffId)).map((e) => e.kind);
      assert.deepEqual(kinds.filter((k) => k !== 'download'), ['downloaded', 'extracting', 'extracted']);
      assert.ok(kinds.includes('download'));
    }
    // the arm64 layers were never fetched
    for (const l of b.layers) assert.equal(reg.blobRequests(l.digest).length, 0);
  });
});

test('layers the store has are not fetched; a stored blob is unpacked without a download', async () => {
  await setup(async (reg, store, puller) => {
    const a = tinyImage({ layerCount: 3 });
    reg.putImage('t/a', a, ['1']);
    store.layers.add(a.layers[0]!.diffId);
    await writeFile(join(store.dir, 'blobs', a.layers[1]!.digest.slice(7)), a.layers[1]!.gz);
    const events: ImageProgress[] = [];
    await puller.pull(`${reg.host}/t/a:1`, { onProgress: (p) => events.push(p) });
    assert.equal(reg.blobRequests(a.layers[0]!.digest).length, 0);
    assert.equal(reg.blobRequests(a.layers[1]!.digest).length, 0);
    assert.equal(reg.blobRequests(a.layers[2]!.digest).length, 1);
    assert.deepEqual(events.filter((e) => e.kind === 'layer-exists'), [{ kind: 'layer-exists', digest: a.layers[0]!.digest, diffId: a.layers[0]!.diffId }]);
    assert.deepEqual(store.applied.map((x) => x.diffId).sort(), [a.layers[1]!.diffId, a.layers[2]!.diffId].sort());
  });
});

test('a pull by digest records the digest name; a tampered blob fails with digest-mismatch and commits nothing', async () => {
  await setup(async (reg, store, puller) => {
    const a = tinyImage();
    reg.putImage('t/a', a, ['1']);
    const img = await puller.pull(`${reg.host}/t/a@${a.manifestDigest}`);
    assert.deepEqual(img.names, [`${reg.host}/t/a@${a.manifestDigest}`]);
    const b = tinyImage({ seed: 'b' });
    reg.putImage('t/b', b, ['1']);
    const bad = Buffer.from(b.layers[1]!.gz);
    bad[20]! ^= 0xff;
    reg.blobs.set(b.layers[1]!.digest, bad);
    const committed = store.committed.length;
    await assert.rejects(puller.pull(`${reg.host}/t/b:1`), (err: unknown) => err instanceof RegistryError && err.code === 'digest-mismatch' && err.message.includes(`"${reg.host}/t/b:1"`));
    assert.equal(store.committed.length, committed);
    assert.ok(!store.committedBlobs.includes(b.layers[1]!.digest));
    assert.ok(!store.applied.some((x) => x.diffId === b.layers[1]!.diffId));
    await assert.rejects(stat(store.blobTempPath(b.layers[1]!.digest)), { code: 'ENOENT' });
  });
});

test('concurrent pulls of one reference make one set of requests; a late caller gets progress from then on', async () => {
  await setup(async (reg, store, puller) => {
    const a = tinyImage({ layerBytes: 50_000 });
    reg.putImage('t/a', a, ['1']);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const inner = reg.hook;
    let held = false;
    reg.hook = (req, res, path) => {
      // hold the first blob until the second caller has joined
      if (path.includes('/blobs/') && path.endsWith(a.layers[0]!.digest) && !held) {
        held = true;
        void gate.then(() => {
          reg.hook = inner;
          res.writeHead(200, { 'content-length': a.layers[0]!.gz.length }).end(a.layers[0]!.gz);
        });
        return true;
      }
      return false;
    };
    const first: ImageProgress[] = [];
    const late: ImageProgress[] = [];
    const p1 = puller.pull(`${reg.host}/t/a:1`, { onProgress: (e) => first.push(e) });
    await eventually('the first blob requested', async () => held, (v) => v);
    const p2 = puller.pull(`${reg.host}/t/a:1`, { onProgress: (e) => late.push(e) });
    release();
    const [i1, i2] = await Promise.all([p1, p2]);
    assert.equal(i1.id, i2.id);
    assert.equal(reg.requests.filter((r) => r.path.includes('/manifests/')).length, 1);
    for (const l of a.layers) assert.equal(reg.blobRequests(l.digest).length, 1);
    assert.equal(store.committed.length, 1);
    assert.equal(late[0]!.kind, 'resolved', 'the late caller is told what is being pulled');
    assert.ok(late.some((e) => e.kind === 'extracted'));
  });
});

test('a pull aborted by its only caller stops downloading and keeps the partial file for a resume', async () => {
  await setup(async (reg, store, puller) => {
    const a = tinyImage({ layerBytes: 300_000, layerCount: 1 });
    reg.putImage('t/a', a, ['1']);
    const layer = a.layers[0]!;
    const half = Math.floor(layer.gz.length / 2);
    let stalled = false;
    reg.hook = (req, res, path) => {
      if (!path.endsWith(layer.digest) || req.headers.range) return false;
      // half the blob, then nothing more
      res.writeHead(200, { 'content-length': layer.gz.length });
      res.write(layer.gz.subarray(0, half), () => (stalled = true));
      return true;
    };
    const ac = new AbortController();
    const p = puller.pull(`${reg.host}/t/a:1`, { signal: ac.signal });
    const temp = store.blobTempPath(layer.digest);
    await eventually('half the blob on disk', () => stat(temp).then((s) => s.size, () => 0), (n) => stalled && n === half);
    ac.abort();
    await assert.rejects(p, { name: 'AbortError' });
    assert.equal(store.committed.length, 0);
    assert.equal((await stat(temp)).size, half);
    // pulled again at once: a new job, which waits for the old download to stop, then resumes
    const img = await puller.pull(`${reg.host}/t/a:1`);
    assert.equal(img.id, a.configDigest);
    assert.equal(reg.blobRequests(layer.digest).at(-1)!.headers.range, `bytes=${half}-`);
  });
});

test('a caller that aborts leaves the pull running for the others', async () => {
  await setup(async (reg, store, puller) => {
    const a = tinyImage();
    reg.putImage('t/a', a, ['1']);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = false;
    reg.hook = (_req, res, path) => {
      if (!path.includes('/manifests/') || held) return false;
      held = true;
      void gate.then(() => res.writeHead(200, { 'content-type': a.mediaType }).end(a.manifest));
      return true;
    };
    const ac = new AbortController();
    const p1 = puller.pull(`${reg.host}/t/a:1`, { signal: ac.signal });
    const p2 = puller.pull(`${reg.host}/t/a:1`);
    await eventually('the manifest requested', async () => held, (v) => v);
    ac.abort();
    await assert.rejects(p1, { name: 'AbortError' });
    release();
    assert.equal((await p2).id, a.configDigest);
    assert.equal(store.committed.length, 1);
  });
});

test('two images sharing a layer download it once when pulled together', async () => {
  await setup(async (reg, store, puller) => {
    const a = tinyImage({ layerCount: 1, seed: 'base' });
    const b = tinyImage({ layerCount: 1, seed: 'base', architecture: 'amd64' });
    const m = JSON.parse(b.manifest.toString());
    const extra = tinyImage({ layerCount: 1, seed: 'top' }).layers[0]!;
    m.layers.push({ mediaType: m.layers[0].mediaType, digest: extra.digest, size: extra.gz.length });
    const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [a.layers[0]!.diffId, extra.diffId] } }));
    m.config = { mediaType: m.config.mediaType, digest: sha256(cfg), size: cfg.length };
    const mb = Buffer.from(JSON.stringify(m));
    reg.putImage('t/a', a, ['1']);
    reg.blobs.set(sha256(cfg), cfg);
    reg.blobs.set(extra.digest, extra.gz);
    reg.manifests.set('t/b:1', { bytes: mb, mediaType: a.mediaType });
    await Promise.all([puller.pull(`${reg.host}/t/a:1`), puller.pull(`${reg.host}/t/b:1`)]);
    assert.equal(reg.blobRequests(a.layers[0]!.digest).length, 1);
    assert.equal(store.applied.filter((x) => x.diffId === a.layers[0]!.diffId).length, 1);
    assert.equal(store.committed.length, 2);
  });
});

test('a bad reference rejects; download progress comes at most about ten times a second per layer', async () => {
  await setup(async (reg, _store, puller) => {
    await assert.rejects(puller.pull('Bad/Name'), /"Bad\/Name"/);
    const a = tinyImage({ layerCount: 1, layerBytes: 400_000 });
    reg.putImage('t/a', a, ['1']);
    const layer = a.layers[0]!;
    reg.hook = (_req, res, path) => {
      if (!path.endsWith(layer.digest)) return false;
      // 40 small writes over about 400 ms
      res.writeHead(200, { 'content-length': layer.gz.length });
      const step = Math.ceil(layer.gz.length / 40);
      let at = 0;
      const timer = setInterval(() => {
        res.write(layer.gz.subarray(at, at + step));
        at += step;
        if (at >= layer.gz.length) {
          clearInterval(timer);
          res.end();
        }
      }, 10);
      return true;
    };
    const times: number[] = [];
    const events: ImageProgress[] = [];
    const started = Date.now();
    await puller.pull(`${reg.host}/t/a:1`, { onProgress: (e) => (events.push(e), e.kind === 'download' && times.push(Date.now())) });
    const took = Date.now() - started;
    const downloads = events.filter((e) => e.kind === 'download') as Extract<ImageProgress, { kind: 'download' }>[];
    assert.ok(downloads.length >= 2, `${downloads.length} events`);
    assert.ok(downloads.length <= Math.ceil(took / 100) + 2, `${downloads.length} events in ${took} ms`);
    assert.deepEqual(downloads.at(-1), { kind: 'download', digest: layer.digest, downloaded: layer.gz.length, total: layer.gz.length });
  });
});

test('a caller whose signal is already aborted starts nothing', async () => {
  await setup(async (reg, _store, puller) => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(puller.pull(`${reg.host}/t/a:1`, { signal: ac.signal }), { name: 'AbortError' });
    assert.equal(reg.requests.length, 0);
  });
});

test('at most three blobs download at once; a tampered manifest commits nothing', async () => {
  await setup(async (reg, store, puller) => {
    const a = tinyImage({ layerCount: 6 });
    reg.putImage('t/a', a, ['1']);
    let inflight = 0;
    let most = 0;
    reg.hook = (req, res, path) => {
      const layer = a.layers.find((l) => path.endsWith(l.digest));
      if (!layer) return false;
      inflight++;
      most = Math.max(most, inflight);
      // each answer waits a little so that downloads overlap
      setTimeout(() => {
        inflight--;
        res.writeHead(200, { 'content-length': layer.gz.length }).end(layer.gz);
      }, 30);
      return true;
    };
    await puller.pull(`${reg.host}/t/a:1`);
    assert.equal(most, 3);
    assert.equal(store.applied.length, 6);
    const b = tinyImage({ seed: 'b' });
    reg.putImage('t/b', b);
    reg.manifests.set(`t/b:${b.manifestDigest}`, { bytes: Buffer.from(b.manifest.toString().replace('"schemaVersion":2', '"schemaVersion":2 ')), mediaType: b.mediaType });
    await assert.rejects(puller.pull(`${reg.host}/t/b@${b.manifestDigest}`), (err: unknown) => err instanceof RegistryError && err.code === 'digest-mismatch');
    assert.equal(store.committed.length, 1);
    assert.equal(reg.blobRequests(b.configDigest).length, 0);
  });
});
