import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StubRegistry, indexOf, serveBlob, sha256, tinyImage } from '../../test/stub-registry.ts';
import { StaticCredentials } from './credentials.ts';
import { parseReference } from './reference.ts';
import { parseWwwAuthenticate } from './registry-auth.ts';
import { RegistryClient } from './registry-client.ts';
import { RegistryError } from './registry-error.ts';

const amd64 = { os: 'linux', architecture: 'amd64' };
const arm64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };

async function withStub(fn: (reg: StubRegistry, dir: string) => Promise<void>): Promise<void> {
  const reg = await new StubRegistry().start();
  const dir = await mkdtemp(join(tmpdir(), 'hoody-regc-'));
  try {
    await fn(reg, dir);
  } finally {
    await reg.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const isCode = (code: string) => (err: unknown) => err instanceof RegistryError && err.code === code;

test('WWW-Authenticate challenges parse with quoted commas and several schemes', () => {
  assert.deepEqual(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull,push' } },
  ]);
  assert.deepEqual(parseWwwAuthenticate('Basic realm="a \\"b\\", c", Bearer realm=http://x/t, service=s'), [
    { scheme: 'basic', params: { realm: 'a "b", c' } },
    { scheme: 'bearer', params: { realm: 'http://x/t', service: 's' } },
  ]);
  assert.deepEqual(parseWwwAuthenticate('Basic'), [{ scheme: 'basic', params: {} }]);
  assert.deepEqual(parseWwwAuthenticate(''), []);
});

test('plain http only for loopback and listed registries; https elsewhere (no traffic)', () => {
  const c = new RegistryClient({ insecureRegistries: ['registry.lan:5000'] });
  assert.equal(c.url(parseReference('ghcr.io/acme/api:1'), 'manifests/1'), 'https://ghcr.io/v2/acme/api/manifests/1');
  assert.equal(c.url(parseReference('nginx'), 'manifests/latest'), 'https://registry-1.docker.io/v2/library/nginx/manifests/latest');
  assert.equal(c.url(parseReference('registry.lan:5000/a'), 'manifests/x'), 'http://registry.lan:5000/v2/a/manifests/x');
  assert.equal(c.url(parseReference('registry.lan/a'), 'manifests/x'), 'https://registry.lan/v2/a/manifests/x');
  assert.equal(c.url(parseReference('localhost:5000/a'), 'manifests/x'), 'http://localhost:5000/v2/a/manifests/x');
  assert.equal(c.url(parseReference('127.1.2.3:80/a'), 'manifests/x'), 'http://127.1.2.3:80/v2/a/manifests/x');
  assert.equal(c.url(parseReference('[::1]:5000/a'), 'manifests/x'), 'http://[::1]:5000/v2/a/manifests/x');
  assert.equal(c.url(parseReference('128.0.0.1:5000/a'), 'manifests/x'), 'https://128.0.0.1:5000/v2/a/manifests/x');
});

test('an OCI index and a Docker list resolve to the asked platform, by tag and by digest', async () => {
  await withStub(async (reg) => {
    const a = tinyImage({ architecture: 'amd64' });
    const b = tinyImage({ architecture: 'arm64' });
    const idx = indexOf([b, a]);
    reg.putImage('test/app', a);
    reg.putImage('test/app', b);
    reg.putIndex('test/app', idx, ['multi']);
    const da = tinyImage({ architecture: 'amd64', format: 'docker', seed: 'd' });
    const db = tinyImage({ architecture: 'arm64', format: 'docker', seed: 'd' });
    const list = indexOf([db, da], 'docker');
    reg.putImage('test/app', da);
    reg.putImage('test/app', db);
    reg.putIndex('test/app', list, ['multi-v2']);
    const c = new RegistryClient();
    const r1 = await c.resolve(parseReference(`${reg.host}/test/app:multi`), amd64);
    assert.equal(r1.manifestDigest, a.manifestDigest);
    assert.equal(r1.indexDigest, idx.digest);
    assert.equal(r1.configDigest, a.configDigest);
    assert.deepEqual(r1.layers, a.layers.map((l) => ({ digest: l.digest, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: l.gz.length, diffId: l.diffId })));
    assert.equal((await c.resolve(parseReference(`${reg.host}/test/app:multi`), arm64)).manifestDigest, b.manifestDigest);
    const r2 = await c.resolve(parseReference(`${reg.host}/test/app:multi-v2`), arm64);
    assert.equal(r2.manifestDigest, db.manifestDigest);
    assert.equal(r2.manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(r2.config.architecture, 'arm64');
    // by digest: the index's, and a platform manifest's
    assert.equal((await c.resolve(parseReference(`${reg.host}/test/app@${idx.digest}`), amd64)).manifestDigest, a.manifestDigest);
    const r3 = await c.resolve(parseReference(`${reg.host}/test/app@${b.manifestDigest}`), amd64);
    assert.equal(r3.manifestDigest, b.manifestDigest);
    assert.equal(r3.indexDigest, undefined);
    await assert.rejects(c.resolve(parseReference(`${reg.host}/test/app:multi`), { os: 'linux', architecture: 's390x' }), (err: unknown) => isCode('platform')(err) && /linux\/s390x.*linux\/arm64, linux\/amd64/.test((err as Error).message));
    await assert.rejects(c.resolve(parseReference(`${reg.host}/test/app:nope`), amd64), (err: unknown) => isCode('not-found')(err) && (err as Error).message.includes(`"${reg.host}/test/app:nope"`));
    assert.equal(reg.requests.filter((r) => r.path.endsWith('/manifests/nope')).length, 1, 'a 404 is not retried');
  });
});

test('a tampered manifest, a lying Docker-Content-Digest and a tampered config fail with digest-mismatch', async () => {
  await withStub(async (reg) => {
    const a = tinyImage();
    reg.putImage('t/a', a, ['1']);
    const c = new RegistryClient();
    const bad = Buffer.from(a.manifest.toString().replace('"schemaVersion":2', '"schemaVersion": 2'));
    reg.manifests.set(`t/a:${a.manifestDigest}`, { bytes: bad, mediaType: a.mediaType, digestHeader: a.manifestDigest });
    await assert.rejects(c.resolve(parseReference(`${reg.host}/t/a@${a.manifestDigest}`), amd64), isCode('digest-mismatch'));
    reg.manifests.set('t/a:2', { bytes: a.manifest, mediaType: a.mediaType, digestHeader: sha256('other') });
    await assert.rejects(c.resolve(parseReference(`${reg.host}/t/a:2`), amd64), isCode('digest-mismatch'));
    reg.blobs.set(a.configDigest, Buffer.from(a.config.toString().replace('amd64', 'AMD64')));
    await assert.rejects(c.resolve(parseReference(`${reg.host}/t/a:1`), amd64), isCode('digest-mismatch'));
  });
});

test('schema 1, a layer count unlike the diff_ids and a huge manifest are refused', async () => {
  await withStub(async (reg) => {
    const c = new RegistryClient();
    reg.manifests.set('t/a:s1', { bytes: Buffer.from('{"schemaVersion":1,"name":"t/a","fsLayers":[]}'), mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' });
    await assert.rejects(c.resolve(parseReference(`${reg.host}/t/a:s1`), amd64), (err: unknown) => isCode('unsupported')(err) && /schema 1/.test((err as Error).message));
    const a = tinyImage();
    const m = JSON.parse(a.manifest.toString());
    m.layers.pop();
    reg.putImage('t/a', a);
    reg.manifests.set('t/a:short', { bytes: Buffer.from(JSON.stringify(m)), mediaType: a.mediaType });
    await assert.rejects(c.resolve(parseReference(`${reg.host}/t/a:short`), amd64), (err: unknown) => isCode('unsupported')(err) && /1 layers but the config 2 diff_ids/.test((err as Error).message));
    reg.manifests.set('t/a:huge', { bytes: Buffer.alloc(4 * 1024 * 1024 + 1, 32), mediaType: a.mediaType });
    await assert.rejects(c.resolve(parseReference(`${reg.host}/t/a:huge`), amd64), isCode('too-large'));
  });
});

test('a tampered blob fails with digest-mismatch and its temp file is removed', async () => {
  await withStub(async (reg, dir) => {
    const a = tinyImage();
    reg.putImage('t/a', a, ['1']);
    const layer = a.layers[0]!;
    const bad = Buffer.from(layer.gz);
    bad[bad.length - 5]! ^= 1;
    reg.blobs.set(layer.digest, bad);
    const tmp = join(dir, 'blob.tmp');
    await assert.rejects(new RegistryClient().downloadBlob(parseReference(`${reg.host}/t/a:1`), { digest: layer.digest, size: layer.gz.length }, tmp), isCode('digest-mismatch'));
    await assert.rejects(stat(tmp), { code: 'ENOENT' });
  });
});

test('Bearer: one token for the manifest, the config and both blobs; a new one after it expires; re-auth once on a revoked token', async () => {
  await withStub(async (reg, dir) => {
    reg.auth = { kind: 'bearer', user: 'alice', password: 's3cret', expiresIn: 60 };
    const a = tinyImage();
    reg.putImage('t/a', a, ['1']);
    let now = 1_000_000;
    const c = new RegistryClient({ credentials: new StaticCredentials({ [reg.host]: { username: 'alice', password: 's3cret' } }), now: () => now });
    const ref = parseReference(`${reg.host}/t/a:1`);
    const r = await c.resolve(ref, amd64);
    for (const [i, l] of r.layers.entries()) await c.downloadBlob(ref, l, join(dir, `b${i}`));
    assert.equal(reg.tokenRequests.length, 1);
    const tq = new URL(reg.tokenRequests[0]!.path, 'http://x').searchParams;
    assert.equal(tq.get('service'), 'stub,registry');
    assert.equal(tq.get('scope'), 'repository:t/a:pull');
    assert.equal(reg.tokenRequests[0]!.headers.authorization, `Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
    assert.equal(reg.blobRequests(r.layers[1]!.digest)[0]!.headers.authorization, 'Bearer tok-1');
    // expired by the clock: fetched before asking, no 401 round trip
    now += 61_000;
    const before = reg.requests.length;
    await c.resolve(ref, amd64);
    assert.equal(reg.tokenRequests.length, 2);
    assert.equal(reg.requests.length - before, 2, 'manifest and config, no 401');
    // revoked by the registry: one re-auth
    reg.validTokens.clear();
    await c.resolve(ref, amd64);
    assert.equal(reg.tokenRequests.length, 3);
    // a token the registry never accepts: one re-auth, then unauthorized
    reg.hook = (req, res) => (req.url?.includes('/manifests/') ? (res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${reg.host}/token",service="s"` }).end(), true) : false);
    await assert.rejects(c.resolve(ref, amd64), (err: unknown) => isCode('unauthorized')(err) && (err as Error).message.includes(`refused the credentials for "${reg.host}"`));
    assert.equal(reg.tokenRequests.length, 4);
    // anonymous, as Docker Hub answers for a repository that does not exist: a token, then 401 again
    reg.auth = { kind: 'bearer' };
    await assert.rejects(new RegistryClient().resolve(ref, amd64), (err: unknown) => isCode('unauthorized')(err) && /does not exist or needs credentials \(none configured/.test((err as Error).message));
    reg.auth = { kind: 'bearer', user: 'alice', password: 's3cret', expiresIn: 60 };
    // wrong password at the token endpoint
    reg.hook = undefined;
    const wrong = new RegistryClient({ credentials: new StaticCredentials({ [reg.host]: { username: 'alice', password: 'x' } }) });
    await assert.rejects(wrong.resolve(ref, amd64), (err: unknown) => isCode('unauthorized')(err) && (err as Error).message.includes(`"${reg.host}"`));
  });
});

test('Basic: credentials sent when asked; none configured is unauthorized', async () => {
  await withStub(async (reg) => {
    reg.auth = { kind: 'basic', user: 'bob', password: 'pw' };
    const a = tinyImage();
    reg.putImage('t/a', a, ['1']);
    const ref = parseReference(`${reg.host}/t/a:1`);
    const c = new RegistryClient({ credentials: new StaticCredentials({ [reg.host]: { username: 'bob', password: 'pw' } }) });
    assert.equal((await c.resolve(ref, amd64)).manifestDigest, a.manifestDigest);
    assert.equal(reg.requests.at(-1)!.headers.authorization, `Basic ${Buffer.from('bob:pw').toString('base64')}`);
    await assert.rejects(new RegistryClient().resolve(ref, amd64), (err: unknown) => isCode('unauthorized')(err) && /none is configured/.test((err as Error).message));
    // a plain map of host to credential works as well
    assert.equal((await new RegistryClient({ credentials: { [reg.host]: { username: 'bob', password: 'pw' } } }).resolve(ref, amd64)).manifestDigest, a.manifestDigest);
  });
});

test('a blob redirected to another origin is fetched without the Authorization header', async () => {
  await withStub(async (reg, dir) => {
    const seen: (string | undefined)[] = [];
    const a = tinyImage();
    const layer = a.layers[0]!;
    const cdn = createServer((req, res) => {
      seen.push(req.headers.authorization);
      serveBlob(req, res, layer.gz);
    });
    await new Promise<void>((resolve) => cdn.listen(0, '127.0.0.1', resolve));
    try {
      const cdnUrl = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}/blob`;
      for (const auth of [{ kind: 'bearer' as const }, { kind: 'basic' as const, user: 'u', password: 'p' }]) {
        reg.auth = auth;
        reg.putImage('t/a', a, ['1']);
        reg.hook = (req, res, path) => {
          if (!path.includes('/blobs/') || !req.headers.authorization) return false;
          res.writeHead(307, { location: cdnUrl }).end();
          return true;
        };
        const c = new RegistryClient({ credentials: new StaticCredentials({ [reg.host]: { username: 'u', password: 'p' } }) });
        const file = join(dir, `blob-${auth.kind}`);
        await c.downloadBlob(parseReference(`${reg.host}/t/a:1`), { digest: layer.digest, size: layer.gz.length }, file);
        assert.deepEqual(await readFile(file), layer.gz);
        assert.ok(reg.blobRequests().at(-1)!.headers.authorization, 'the registry itself got the credentials');
        assert.equal(seen.length > 0, true);
        assert.equal(seen.at(-1), undefined, `${auth.kind}: no Authorization at the other origin`);
      }
    } finally {
      cdn.closeAllConnections();
      await new Promise<void>((resolve) => cdn.close(() => resolve()));
    }
  });
});

test('a cut download resumes with Range and fetches only the rest', async () => {
  await withStub(async (reg, dir) => {
    const a = tinyImage({ layerBytes: 200_000 });
    reg.putImage('t/a', a, ['1']);
    const layer = a.layers[0]!;
    const half = Math.floor(layer.gz.length / 2);
    let cuts = 1;
    reg.hook = (req, res, path) => {
      if (!path.endsWith(layer.digest) || req.headers.range || cuts-- <= 0) return false;
      res.writeHead(200, { 'content-length': layer.gz.length });
      res.write(layer.gz.subarray(0, half), () => res.destroy());
      return true;
    };
    const ref = parseReference(`${reg.host}/t/a:1`);
    const file = join(dir, 'blob.tmp');
    // no retries: the cut surfaces and the partial file stays
    await assert.rejects(new RegistryClient({ retries: 0 }).downloadBlob(ref, { digest: layer.digest, size: layer.gz.length }, file), isCode('unreachable'));
    const kept = (await stat(file)).size;
    assert.ok(kept > 0 && kept <= half, `kept ${kept}`);
    const progress: number[] = [];
    await new RegistryClient().downloadBlob(ref, { digest: layer.digest, size: layer.gz.length }, file, { onProgress: (d) => progress.push(d) });
    assert.equal(reg.blobRequests(layer.digest).at(-1)!.headers.range, `bytes=${kept}-`);
    assert.equal(progress[0], kept);
    assert.deepEqual(await readFile(file), layer.gz);
    // within one call, retries resume by themselves
    cuts = 1;
    const file2 = join(dir, 'blob2.tmp');
    await new RegistryClient({ retryDelayMs: 1 }).downloadBlob(ref, { digest: layer.digest, size: layer.gz.length }, file2);
    assert.deepEqual(await readFile(file2), layer.gz);
    assert.match(reg.blobRequests(layer.digest).at(-1)!.headers.range ?? '', /^bytes=\d+-$/);
  });
});

test('a registry that ignores Range (200) gets the blob from the start', async () => {
  await withStub(async (reg, dir) => {
    const a = tinyImage({ layerBytes: 5000 });
    reg.putImage('t/a', a, ['1']);
    const layer = a.layers[0]!;
    reg.hook = (req, res, path) => (path.endsWith(layer.digest) ? (res.writeHead(200).end(layer.gz), true) : false);
    const file = join(dir, 'blob.tmp');
    await writeFile(file, layer.gz.subarray(0, 100));
    await new RegistryClient().downloadBlob(parseReference(`${reg.host}/t/a:1`), { digest: layer.digest, size: layer.gz.length }, file);
    assert.equal(reg.blobRequests(layer.digest)[0]!.headers.range, 'bytes=100-');
    assert.deepEqual(await readFile(file), layer.gz);
  });
});

test('429 and 503 are retried, other 4xx are not, and retries are bounded', async () => {
  await withStub(async (reg) => {
    const a = tinyImage();
    reg.putImage('t/a', a, ['1']);
    let fail = [429, 503];
    reg.hook = (_req, res, path) => {
      const status = path.includes('/manifests/') ? fail.shift() : undefined;
      if (!status) return false;
      res.writeHead(status, { 'retry-after': '0' }).end();
      return true;
    };
    const c = new RegistryClient({ retryDelayMs: 1 });
    const ref = parseReference(`${reg.host}/t/a:1`);
    assert.equal((await c.resolve(ref, amd64)).manifestDigest, a.manifestDigest);
    assert.equal(reg.requests.filter((r) => r.path.includes('/manifests/')).length, 3);
    fail = [400];
    await assert.rejects(c.resolve(ref, amd64), isCode('unreachable'));
    assert.equal(reg.requests.filter((r) => r.path.includes('/manifests/')).length, 4);
    fail = [403];
    await assert.rejects(c.resolve(ref, amd64), isCode('denied'));
    fail = [500, 500, 500, 500, 500];
    await assert.rejects(new RegistryClient({ retries: 2, retryDelayMs: 1 }).resolve(ref, amd64), (err: unknown) => isCode('unreachable')(err) && /answered 500 after 3 attempts/.test((err as Error).message));
    assert.equal(fail.length, 2);
  });
});

test('an unreachable registry and an aborted signal end the call', async () => {
  const dead = createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  const port = (dead.address() as AddressInfo).port;
  await new Promise<void>((resolve) => dead.close(() => resolve()));
  await assert.rejects(new RegistryClient({ retries: 1, retryDelayMs: 1 }).resolve(parseReference(`127.0.0.1:${port}/t/a:1`), amd64), isCode('unreachable'));
  await withStub(async (reg) => {
    reg.hook = () => true; // never answers
    const ac = new AbortController();
    const p = new RegistryClient().resolve(parseReference(`${reg.host}/t/a:1`), amd64, ac.signal);
    setImmediate(() => ac.abort());
    await assert.rejects(p, { name: 'AbortError' });
  });
});

test('a kept partial file with wrong bytes is dropped and the blob fetched again from the start', async () => {
  await withStub(async (reg, dir) => {
    const a = tinyImage({ layerBytes: 5000 });
    reg.putImage('t/a', a, ['1']);
    const layer = a.layers[0]!;
    const file = join(dir, 'blob.tmp');
    await writeFile(file, Buffer.alloc(100, 7));
    await new RegistryClient().downloadBlob(parseReference(`${reg.host}/t/a:1`), { digest: layer.digest, size: layer.gz.length }, file);
    assert.deepEqual(reg.blobRequests(layer.digest).map((r) => r.headers.range), ['bytes=100-', undefined]);
    assert.deepEqual(await readFile(file), layer.gz);
    // a complete file from an earlier run is only hashed
    const before = reg.requests.length;
    await new RegistryClient().downloadBlob(parseReference(`${reg.host}/t/a:1`), { digest: layer.digest, size: layer.gz.length }, file);
    assert.equal(reg.requests.length, before);
  });
});

test('a manifest without mediaType is typed by Content-Type or shape; a body cut short is unreachable', async () => {
  await withStub(async (reg) => {
    const a = tinyImage();
    reg.putImage('t/a', a);
    const m = JSON.parse(a.manifest.toString());
    delete m.mediaType;
    const bytes = Buffer.from(JSON.stringify(m));
    reg.manifests.set('t/a:bare', { bytes, mediaType: 'application/json' });
    const c = new RegistryClient({ retries: 0 });
    const r = await c.resolve(parseReference(`${reg.host}/t/a:bare`), amd64);
    assert.equal(r.manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(r.manifestDigest, sha256(bytes));
    reg.hook = (_req, res, path) => {
      if (!path.endsWith('/manifests/cut')) return false;
      res.writeHead(200, { 'content-length': 1000, 'content-type': a.mediaType });
      res.write(a.manifest.subarray(0, 10), () => res.destroy());
      return true;
    };
    await assert.rejects(c.resolve(parseReference(`${reg.host}/t/a:cut`), amd64), isCode('unreachable'));
  });
});

test('an identity token is exchanged at the realm as an OAuth2 refresh token', async () => {
  await withStub(async (reg) => {
    reg.auth = { kind: 'bearer' };
    const a = tinyImage();
    reg.putImage('t/a', a, ['1']);
    const c = new RegistryClient({ credentials: new StaticCredentials({ [reg.host]: { identityToken: 'refresh-1' } }) });
    assert.equal((await c.resolve(parseReference(`${reg.host}/t/a:1`), amd64)).manifestDigest, a.manifestDigest);
    assert.equal(reg.tokenRequests.length, 1);
    assert.equal(reg.tokenRequests[0]!.method, 'POST');
    const form = new URLSearchParams(reg.tokenRequests[0]!.body);
    assert.equal(form.get('refresh_token'), 'refresh-1');
    assert.equal(form.get('scope'), 'repository:t/a:pull');
    assert.equal(form.get('service'), 'stub,registry');
  });
});

/** A loopback server on `host` that records what it is asked and answers with `answer`. */
async function sideServer(host: string, answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; seen: IncomingMessage['headers'][]; paths: string[]; close: () => Promise<void> }> {
  const seen: IncomingMessage['headers'][] = [];
  const paths: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    paths.push(req.url ?? '');
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}`,
    seen,
    paths,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test('manifests and blobs redirected to another origin: followed by the client, without Authorization or Cookie there; back on the registry they are sent again', async () => {
  await withStub(async (reg, dir) => {
    const a = tinyImage();
    reg.putImage('t/a', a, ['1']);
    reg.auth = { kind: 'basic', user: 'u', password: 'p' };
    // the other origin hands manifests and blobs back to the registry under another path, once
    const other = await sideServer('127.0.0.1', (req, res) => {
      const path = (req.url ?? '').replace(/^\/cdn/, '');
      res.writeHead(307, { location: `http://${reg.host}/v2/t/a/${path.includes('manifests') ? 'manifests' : 'blobs'}/${path.split('/').pop()}?via=cdn` }).end();
    });
    try {
      reg.hook = (req, res, path) => {
        if (req.url?.includes('via=cdn') || !req.headers.authorization) return false;
        res.writeHead(302, { location: `${other.url}/cdn${path.slice(path.indexOf('/', 4))}`, 'set-cookie': 'session=secret' }).end();
        return true;
      };
      const c = new RegistryClient({ credentials: new StaticCredentials({ [reg.host]: { username: 'u', password: 'p' } }) });
      const ref = parseReference(`${reg.host}/t/a:1`);
      const r = await c.resolve(ref, amd64);
      assert.equal(r.manifestDigest, a.manifestDigest);
      const file = join(dir, 'blob');
      await c.downloadBlob(ref, r.layers[0]!, file);
      assert.deepEqual(await readFile(file), a.layers[0]!.gz);
      assert.ok(other.seen.length >= 3, `the other origin was asked (${other.seen.length})`);
      for (const h of other.seen) {
        assert.equal(h.authorization, undefined, 'no Authorization at the other origin');
        assert.equal(h.cookie, undefined, 'no Cookie at the other origin');
      }
      const back = reg.requests.filter((q) => q.path.includes('via=cdn'));
      assert.ok(back.length >= 3);
      for (const q of back) assert.equal(q.headers.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`, 'the registry\'s own origin gets them again');
    } finally {
      await other.close();
    }
  });
});

test('redirects: at most five hops (a loop fails), never from https to http, plain http only to loopback or listed hosts', async () => {
  await withStub(async (reg) => {
    const a = tinyImage();
    reg.putImage('t/a', a, ['1']);
    const other = await sideServer('127.0.0.1', (req, res) => void res.writeHead(302, { location: `http://${reg.host}${req.url}` }).end());
    try {
      reg.hook = (req, res) => {
        res.writeHead(307, { location: `${other.url}${req.url}` }).end();
        return true;
      };
      const before = reg.requests.length;
      await assert.rejects(new RegistryClient({ retries: 0 }).resolve(parseReference(`${reg.host}/t/a:1`), amd64), (err: unknown) => isCode('unreachable')(err) && /more than 5 redirects/.test((err as Error).message));
      assert.equal(reg.requests.length - before + other.seen.length, 6, 'the first request and five redirects');
    } finally {
      await other.close();
    }
  });
  // no TLS server here: a fetch that answers as registries would, nothing leaves the process
  const asked: string[] = [];
  const scripted =
    (answers: Record<string, Response>): typeof fetch =>
    async (input) => {
      const url = String(input);
      asked.push(url);
      return answers[url] ?? new Response('{}', { status: 404 });
    };
  const ref = parseReference('registry.example.com/t/a:1');
  const downgrade = scripted({ 'https://registry.example.com/v2/t/a/manifests/1': new Response(null, { status: 302, headers: { location: 'http://cdn.example.com/m' } }) });
  await assert.rejects(new RegistryClient({ fetchImpl: downgrade, retries: 0 }).resolve(ref, amd64), (err: unknown) => isCode('unsupported')(err) && /from https to http/.test((err as Error).message));
  assert.deepEqual(asked.splice(0), ['https://registry.example.com/v2/t/a/manifests/1'], 'the http URL was never asked');
  const plain = scripted({ 'http://127.0.0.1:1/v2/t/a/manifests/1': new Response(null, { status: 307, headers: { location: 'http://cdn.example.com/m' } }) });
  await assert.rejects(new RegistryClient({ fetchImpl: plain, retries: 0 }).resolve(parseReference('127.0.0.1:1/t/a:1'), amd64), (err: unknown) => isCode('unsupported')(err) && /plain http only/.test((err as Error).message));
  assert.deepEqual(asked.splice(0), ['http://127.0.0.1:1/v2/t/a/manifests/1']);
});

test('a token realm on another host gets no credentials (an anonymous token request) unless listed in the auth hosts; a plain-http realm elsewhere is refused', async () => {
  await withStub(async (reg) => {
    const a = tinyImage();
    reg.putImage('t/a', a, ['1']);
    let n = 0;
    // another host of the loopback network, as a hostile registry could name any server
    let refuse = false;
    const realm = await sideServer('127.0.0.2', (req, res) => {
      if (refuse && !req.headers.authorization) return void res.writeHead(401).end();
      const token = `foreign-${++n}`;
      reg.validTokens.add(token);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token }));
    });
    const own = await sideServer('127.0.0.1', (_req, res) => {
      const token = `own-${++n}`;
      reg.validTokens.add(token);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token }));
    });
    let realmUrl = `${realm.url}/token`;
    try {
      reg.hook = (req, res) => {
        const got = req.headers.authorization ?? '';
        if (got.startsWith('Bearer ') && reg.validTokens.has(got.slice(7))) return false;
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${realmUrl}",service="reg"` }).end();
        return true;
      };
      const basic = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;
      const creds = new StaticCredentials({ [reg.host]: { username: 'alice', password: 's3cret' } });
      const ref = parseReference(`${reg.host}/t/a:1`);
      assert.equal((await new RegistryClient({ credentials: creds }).resolve(ref, amd64)).manifestDigest, a.manifestDigest);
      assert.equal(realm.seen.length, 1);
      assert.equal(realm.seen[0]!.authorization, undefined, 'the credentials were not sent to another host');
      assert.match(realm.paths[0]!, /scope=repository%3At%2Fa%3Apull/);
      // an identity token is withheld as well: a plain anonymous GET
      await new RegistryClient({ credentials: new StaticCredentials({ [reg.host]: { identityToken: 'refresh-1' } }) }).resolve(ref, amd64);
      assert.equal(realm.seen[1]!.authorization, undefined);
      assert.doesNotMatch(realm.paths[1]!, /refresh/);
      // listed: trusted with them
      await new RegistryClient({ credentials: creds, authHosts: ['127.0.0.2'] }).resolve(ref, amd64);
      assert.equal(realm.seen[2]!.authorization, basic);
      await new RegistryClient({ credentials: creds, authHosts: [new URL(realm.url).host] }).resolve(ref, amd64);
      assert.equal(realm.seen[3]!.authorization, basic, 'a host:port entry works too');
      // a realm that wants credentials says why none came, and how to trust it
      refuse = true;
      await assert.rejects(new RegistryClient({ credentials: creds }).resolve(ref, amd64), (err: unknown) => isCode('unauthorized')(err) && /were not sent: the token realm's host "127\.0\.0\.2" is not the registry's; list it in HOODY_REGISTRY_AUTH_HOSTS/.test((err as Error).message));
      refuse = false;
      // an anonymous token the registry does not accept: the error says the credentials were withheld
      reg.hook = (req, res) => {
        if ((req.headers.authorization ?? '').startsWith('Bearer own-')) return false;
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${realmUrl}",service="reg"` }).end();
        return true;
      };
      await assert.rejects(new RegistryClient({ credentials: creds }).resolve(ref, amd64), (err: unknown) => isCode('unauthorized')(err) && /were not sent to its token realm "127\.0\.0\.2".*HOODY_REGISTRY_AUTH_HOSTS/.test((err as Error).message));
      // a token server on the registry's own host (another port) is the registry's
      realmUrl = `${own.url}/token`;
      await new RegistryClient({ credentials: creds }).resolve(ref, amd64);
      assert.equal(own.seen.at(-1)!.authorization, basic);
      // plain http to a host that is neither loopback nor listed: refused before any request
      realmUrl = 'http://203.0.113.9/token';
      const seen = realm.seen.length + own.seen.length;
      await assert.rejects(new RegistryClient({ credentials: creds }).resolve(ref, amd64), (err: unknown) => isCode('unauthorized')(err) && /is not https/.test((err as Error).message));
      assert.equal(realm.seen.length + own.seen.length, seen);
    } finally {
      await realm.close();
      await own.close();
    }
  });
});
