import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CredentialsFileError, FileCredentials, StaticCredentials, defaultCredentialFiles, normaliseRegistryKey, serverCredentials } from './credentials.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), 'hoody-cred-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('Docker Hub keys all mean docker.io; schemes and paths are dropped', () => {
  for (const k of ['https://index.docker.io/v1/', 'docker.io', 'registry-1.docker.io', 'index.docker.io']) assert.equal(normaliseRegistryKey(k), 'docker.io', k);
  assert.equal(normaliseRegistryKey('http://localhost:5000/v2/'), 'localhost:5000');
  assert.equal(normaliseRegistryKey('GHCR.io'), 'ghcr.io');
});

test('the data folder file wins, Docker config is the fallback, all three entry shapes decode', async () => {
  await withDir(async (dir) => {
    const dataDir = join(dir, 'data');
    const dockerDir = join(dir, 'docker');
    await mkdir(join(dataDir, 'images'), { recursive: true });
    await mkdir(dockerDir);
    await writeFile(join(dataDir, 'images', 'auth.json'), JSON.stringify({ auths: { 'ghcr.io': { auth: b64('alice:pa:ss') }, '127.0.0.1:5000': { username: 'u', password: 'p' } } }));
    await writeFile(join(dockerDir, 'config.json'), JSON.stringify({ credsStore: 'desktop', auths: { 'https://index.docker.io/v1/': { auth: b64('hub:secret') }, 'ghcr.io': { auth: b64('bob:x') }, 'quay.io': { identitytoken: 'rt-1' }, 'empty.io': {} } }));
    const files = defaultCredentialFiles(dataDir, { DOCKER_CONFIG: dockerDir });
    assert.deepEqual(files, [join(dataDir, 'images', 'auth.json'), join(dockerDir, 'config.json')]);
    const creds = serverCredentials(dataDir, { DOCKER_CONFIG: dockerDir });
    assert.deepEqual(creds.files, files);
    assert.deepEqual(await creds.get('ghcr.io'), { username: 'alice', password: 'pa:ss' });
    assert.deepEqual(await creds.get('127.0.0.1:5000'), { username: 'u', password: 'p' });
    assert.deepEqual(await creds.get('docker.io'), { username: 'hub', password: 'secret' });
    assert.deepEqual(await creds.get('quay.io'), { identityToken: 'rt-1' });
    assert.equal(await creds.get('empty.io'), undefined);
    assert.equal(await creds.get('other.io'), undefined);
  });
});

test('HOME/.docker is used without DOCKER_CONFIG; missing files are no credentials', async () => {
  assert.deepEqual(defaultCredentialFiles('/d', { HOME: '/home/x' }), ['/d/images/auth.json', '/home/x/.docker/config.json']);
  assert.equal(await new FileCredentials(['/nonexistent/a.json']).get('docker.io'), undefined);
});

test('a broken file is an error naming it', async () => {
  await withDir(async (dir) => {
    const f = join(dir, 'auth.json');
    await writeFile(f, '{not json');
    await assert.rejects(new FileCredentials([f]).get('x.io'), (err: unknown) => err instanceof CredentialsFileError && err.message.includes(`"${f}"`));
    await writeFile(f, JSON.stringify({ auths: { 'x.io': { auth: b64('nocolon') } } }));
    await assert.rejects(new FileCredentials([f]).get('x.io'), /not base64 of user:password/);
  });
});

test('static credentials normalise keys too', async () => {
  const c = new StaticCredentials({ 'https://index.docker.io/v1/': { username: 'a', password: 'b' } });
  assert.deepEqual(await c.get('docker.io'), { username: 'a', password: 'b' });
});
