/**
 * The registry client and the puller against a real registry (Debian's docker-registry on a
 * loopback port), with an image built by umoci and pushed by skopeo; skopeo is the oracle for
 * manifest digests and platform selection.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, sign } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { eventually } from './eventually.ts';
import { FakeStore } from './fake-content-store.ts';
import { tarOf } from './stub-registry.ts';
import { StaticCredentials } from '../src/images/credentials.ts';
import { Puller } from '../src/images/puller.ts';
import { LayerContentStore } from '../src/images/store.ts';
import { parseReference } from '../src/images/reference.ts';
import { RegistryClient } from '../src/images/registry-client.ts';
import { RegistryError } from '../src/images/registry-error.ts';
import type { ImageProgress } from '../src/images/types.ts';

const run = promisify(execFile);
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const amd64 = { os: 'linux', architecture: 'amd64' };
const arm64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };

let dir = '';
let registry: ChildProcess | undefined;
let host = '';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function skopeo(...args: string[]): Promise<string> {
  return (await run('skopeo', args, { timeout: 30_000 })).stdout;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hoody-realreg-'));
  const port = await freePort();
  host = `127.0.0.1:${port}`;
  await writeFile(
    join(dir, 'config.yml'),
    `version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: ${dir}/regdata}, delete: {enabled: true}}\nhttp: {addr: ${host}}\n`,
  );
  registry = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  await eventually('the registry answering /v2/', () => fetch(`http://${host}/v2/`).then((r) => r.status, () => 0), (s) => s === 200, 10_000);
  // two layers from hand-written tars (umoci raw add-layer gzips them), a second platform by config
  await writeFile(join(dir, 'l1.tar'), tarOf([{ name: 'etc/os-release', content: 'ID=test\n' }]));
  await writeFile(join(dir, 'l2.tar'), tarOf([{ name: 'hello.txt', content: 'hello from layer 2\n' }]));
  await writeFile(join(dir, 'l3.tar'), tarOf([{ name: 'app/v1.1', content: 'the new layer of 1.1\n' }]));
  const L = join(dir, 'L');
  for (const args of [
    ['init', '--layout', L],
    ['new', '--image', `${L}:base`],
    ['raw', 'add-layer', '--image', `${L}:base`, '--tag', 'l1', join(dir, 'l1.tar')],
    ['raw', 'add-layer', '--image', `${L}:l1`, '--tag', '1.0', join(dir, 'l2.tar')],
    ['config', '--image', `${L}:1.0`, '--tag', '1.0', '--config.cmd', '/bin/sh', '--config.env', 'GREETING=hi'],
    ['config', '--image', `${L}:1.0`, '--tag', '1.0-arm64', '--architecture', 'arm64', '--no-history'],
    ['raw', 'add-layer', '--image', `${L}:1.0`, '--tag', '1.1', join(dir, 'l3.tar')],
  ]) {
    await run('umoci', args, { timeout: 30_000 });
  }
  await skopeo('copy', '--dest-tls-verify=false', `oci:${L}:1.0`, `docker://${host}/test/bbx:1.0`);
  await skopeo('copy', '--dest-tls-verify=false', `oci:${L}:1.0-arm64`, `docker://${host}/test/bbx:1.0-arm64`);
  await skopeo('copy', '--dest-tls-verify=false', `oci:${L}:1.1`, `docker://${host}/test/bbx:1.1`);
  await skopeo('copy', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${L}:1.0`, `docker://${host}/test/bbx:1.0-v2s2`);
  // an OCI index over both platforms, arm64 first
  const entry = async (tag: string, architecture: string) => {
    const raw = Buffer.from(await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${host}/test/bbx:${tag}`));
    return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(raw), size: raw.length, platform: { os: 'linux', architecture } };
  };
  const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [await entry('1.0-arm64', 'arm64'), await entry('1.0', 'amd64')] });
  const put = await fetch(`http://${host}/v2/test/bbx/manifests/multi`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: index });
  assert.equal(put.status, 201, await put.text());
});

after(async () => {
  if (registry?.pid && registry.exitCode === null) {
    const exited = new Promise((resolve) => registry!.once('exit', resolve));
    process.kill(registry.pid, 'SIGTERM');
    await exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function oracleDiffIds(tag: string): Promise<string[]> {
  return JSON.parse(await skopeo('inspect', '--config', '--tls-verify=false', `docker://${host}/test/bbx:${tag}`)).rootfs.diff_ids;
}

/** The digest skopeo reports for a single-platform manifest. */
async function inspectDigest(tag: string): Promise<string> {
  return JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${host}/test/bbx:${tag}`)).Digest;
}

/** The manifest digest skopeo picks from an OCI index: copied for the platform into an OCI layout (kept as is), read from its index.json. */
async function oracleDigest(tag: string, arch?: string): Promise<string> {
  const layout = join(dir, `oracle-${tag}-${arch ?? 'host'}`);
  await rm(layout, { recursive: true, force: true });
  await skopeo('copy', '--src-tls-verify=false', ...(arch ? ['--override-arch', arch] : []), `docker://${host}/test/bbx:${tag}`, `oci:${layout}:x`);
  return JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')).manifests[0].digest;
}

test('manifests, configs and layers resolve as skopeo sees them (OCI, Docker schema 2, index per platform)', async () => {
  const c = new RegistryClient();
  const oci = await c.resolve(parseReference(`${host}/test/bbx:1.0`), amd64);
  assert.equal(oci.manifestDigest, await inspectDigest('1.0'));
  const diffIds = await oracleDiffIds('1.0');
  assert.equal(diffIds.length, 2);
  assert.deepEqual(oci.layers.map((l) => l.diffId), diffIds);
  assert.deepEqual(oci.config.config?.Env, ['GREETING=hi']);
  const v2 = await c.resolve(parseReference(`${host}/test/bbx:1.0-v2s2`), amd64);
  assert.equal(v2.manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  assert.equal(v2.manifestDigest, await inspectDigest('1.0-v2s2'));
  assert.deepEqual(v2.layers.map((l) => l.diffId), diffIds);
  const multiArm = await c.resolve(parseReference(`${host}/test/bbx:multi`), arm64);
  assert.equal(multiArm.manifestDigest, await oracleDigest('multi', 'arm64'));
  assert.equal(multiArm.config.architecture, 'arm64');
  const multiAmd = await c.resolve(parseReference(`${host}/test/bbx:multi`), amd64);
  assert.equal(multiAmd.manifestDigest, await oracleDigest('multi', 'amd64'));
  await assert.rejects(c.resolve(parseReference(`${host}/test/bbx:multi`), { os: 'linux', architecture: 'riscv64' }), (err: unknown) => err instanceof RegistryError && err.code === 'platform');
  await assert.rejects(c.resolve(parseReference(`${host}/test/bbx:nope`), amd64), (err: unknown) => err instanceof RegistryError && err.code === 'not-found');
  await assert.rejects(c.resolve(parseReference(`${host}/test/nothere:1`), amd64), (err: unknown) => err instanceof RegistryError && err.code === 'not-found');
});

test('a pull from the real registry stores verified blobs whose layers gunzip to their diff_ids and hold the pushed files; a second pull fetches nothing', async () => {
  const store = await FakeStore.create(join(dir, 'store'));
  const puller = new Puller({ client: new RegistryClient(), store, platform: amd64 });
  const events: ImageProgress[] = [];
  const image = await puller.pull(`${host}/test/bbx:multi`, { onProgress: (e) => events.push(e) });
  assert.equal(image.names[0], `${host}/test/bbx:multi`);
  assert.equal(store.committed[0]!.manifestDigest, await oracleDigest('multi', 'amd64'));
  assert.equal(store.applied.length, 2);
  const contents: string[] = [];
  for (const { blobPath, diffId } of store.applied) {
    const tar = gunzipSync(await readFile(blobPath));
    assert.equal(sha256(tar), diffId);
    contents.push(tar.toString('latin1'));
  }
  // umoci re-writes the tars it is given, so compare what they hold, not their bytes
  assert.ok(contents.some((t) => t.includes('etc/os-release') && t.includes('ID=test')));
  assert.ok(contents.some((t) => t.includes('hello.txt') && t.includes('hello from layer 2')));
  assert.deepEqual(new Set(store.applied.map((a) => a.diffId)), new Set(await oracleDiffIds('1.0')));
  const again: ImageProgress[] = [];
  await puller.pull(`${host}/test/bbx:1.0-v2s2`, { onProgress: (e) => again.push(e) });
  assert.deepEqual(again.filter((e) => e.kind !== 'resolved').map((e) => e.kind), ['layer-exists', 'layer-exists']);
  assert.equal(store.applied.length, 2);
});

/** A JWT for docker-registry's token auth: RS256, the certificate in x5c, the access asked for in the scope. */
function registryToken(key: string, certPem: string, service: string, scope: string | null, subject: string): string {
  const b64 = (v: object | Buffer) => (Buffer.isBuffer(v) ? v : Buffer.from(JSON.stringify(v))).toString('base64url');
  const der = certPem.replace(/-----[^-]+-----|\s/g, '');
  const access = (scope ?? '').split(' ').filter(Boolean).map((sc) => {
    const [type, ...rest] = sc.split(':');
    const actions = (rest.pop() ?? '').split(',');
    return { type, name: rest.join(':'), actions };
  });
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: 'RS256', typ: 'JWT', x5c: [der] })}.${b64({ iss: 'hoody-test', sub: subject, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: String(Math.random()), access })}`;
  return `${body}.${b64(sign('sha256', Buffer.from(body), key))}`;
}

test('Bearer token auth of a real registry: anonymous refused, the pull with credentials gets one token per scope', async () => {
  const tdir = join(dir, 'token');
  await mkdir(tdir);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(tdir, 'key.pem'), '-out', join(tdir, 'cert.pem'), '-days', '2', '-subj', '/CN=hoody-test'], { timeout: 30_000 });
  const [key, cert] = await Promise.all([readFile(join(tdir, 'key.pem'), 'utf8'), readFile(join(tdir, 'cert.pem'), 'utf8')]);
  const tokenRequests: { scope: string | null; authorization?: string }[] = [];
  const tokens = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    tokenRequests.push({ scope: url.searchParams.get('scope'), authorization: req.headers.authorization });
    if (req.headers.authorization !== `Basic ${Buffer.from('alice:s3cret').toString('base64')}`) return void res.writeHead(401).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: registryToken(key, cert, url.searchParams.get('service') ?? '', url.searchParams.get('scope'), 'alice'), expires_in: 300 }));
  });
  await new Promise<void>((resolve) => tokens.listen(0, '127.0.0.1', resolve));
  const tokenPort = (tokens.address() as AddressInfo).port;
  const port = await freePort();
  const thost = `127.0.0.1:${port}`;
  await writeFile(
    join(tdir, 'config.yml'),
    `version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: ${tdir}/regdata}}\nhttp: {addr: ${thost}}\n` +
      `auth: {token: {realm: "http://127.0.0.1:${tokenPort}/token", service: "hoody-test-registry", issuer: "hoody-test", rootcertbundle: "${tdir}/cert.pem"}}\n`,
  );
  const reg2 = spawn('docker-registry', ['serve', join(tdir, 'config.yml')], { stdio: 'ignore' });
  try {
    await eventually('the token registry answering /v2/', () => fetch(`http://${thost}/v2/`).then((r) => r.status, () => 0), (st) => st === 401, 10_000);
    await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', 'alice:s3cret', `oci:${join(dir, 'L')}:1.0`, `docker://${thost}/secure/bbx:1.0`);
    tokenRequests.length = 0;
    const ref = `${thost}/secure/bbx:1.0`;
    await assert.rejects(new RegistryClient().resolve(parseReference(ref), amd64), (err: unknown) => err instanceof RegistryError && err.code === 'unauthorized' && err.message.includes(`"${ref}"`));
    const store = await FakeStore.create(join(tdir, 'store'));
    const creds = new StaticCredentials({ [thost]: { username: 'alice', password: 's3cret' } });
    const image = await new Puller({ client: new RegistryClient({ credentials: creds }), store, platform: amd64 }).pull(ref);
    assert.deepEqual(image.diffIds, await oracleDiffIds('1.0'));
    assert.equal(store.applied.length, 2);
    // one anonymous attempt refused, then one token for the manifest, the config and both layers
    assert.deepEqual(tokenRequests.map((t) => t.scope), ['repository:secure/bbx:pull', 'repository:secure/bbx:pull']);
    assert.equal(tokenRequests[0]!.authorization, undefined);
    assert.ok(tokenRequests[1]!.authorization?.startsWith('Basic '));
  } finally {
    const exited = new Promise((resolve) => reg2.once('exit', resolve));
    if (reg2.pid && reg2.exitCode === null) process.kill(reg2.pid, 'SIGTERM');
    await exited;
    tokens.closeAllConnections();
    await new Promise<void>((resolve) => tokens.close(() => resolve()));
  }
});

test('a pull into the content store: the image recorded with its repo digest; an image on the same base fetches only its new layer', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async () => {
  const root = join(dir, 'images');
  await mkdir(root);
  const store = new LayerContentStore({ root, ids: { uid: 1_000_000, gid: 1_000_000, size: 65_536 } });
  await store.sweep();
  const blobGets: string[] = [];
  const counting: typeof fetch = (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url.includes('/blobs/')) blobGets.push(url.slice(url.lastIndexOf('/') + 1));
    return fetch(input, init);
  };
  const puller = new Puller({ client: new RegistryClient({ fetchImpl: counting }), store, platform: amd64 });
  const first = await puller.pull(`${host}/test/bbx:multi`);
  const digest = await oracleDigest('multi', 'amd64');
  assert.deepEqual(first.repoDigests, [`${host}/test/bbx@${digest}`]);
  assert.equal((await store.find(`${host}/test/bbx:multi`))?.id, first.id);
  assert.equal((await store.lowerDirs(first)).length, 2);
  const base = blobGets.length;
  const second = await puller.pull(`${host}/test/bbx:1.1`);
  assert.equal(second.diffIds.length, 3);
  assert.deepEqual(second.diffIds.slice(0, 2), first.diffIds);
  // the config and the one new layer; the two shared layers were already unpacked
  const r = await new RegistryClient().resolve(parseReference(`${host}/test/bbx:1.1`), amd64);
  assert.deepEqual(blobGets.slice(base).sort(), [r.configDigest, r.layers[2]!.digest].sort());
  assert.equal((await store.list()).length, 2);
});

test('a blob altered in the registry storage fails the download with digest-mismatch', async () => {
  const c = new RegistryClient();
  const ref = parseReference(`${host}/test/bbx:1.0`);
  const r = await c.resolve(ref, amd64);
  const layer = r.layers[1]!;
  const hex = layer.digest.slice(7);
  const data = join(dir, 'regdata', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
  const original = await readFile(data);
  const bad = Buffer.from(original);
  bad[bad.length - 3]! ^= 0xff;
  await writeFile(data, bad);
  try {
    await assert.rejects(c.downloadBlob(ref, layer, join(dir, 'bad.tmp')), (err: unknown) => err instanceof RegistryError && err.code === 'digest-mismatch');
  } finally {
    await writeFile(data, original);
  }
});
