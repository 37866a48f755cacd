import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidReferenceError, familiarName, parseReference, registryHost } from './reference.ts';

const D = 'sha256:' + 'a'.repeat(64);

const good: [string, string, string][] = [
  // text, canonical, name
  ['nginx', 'docker.io/library/nginx:latest', 'docker.io/library/nginx:latest'],
  ['nginx:1.27', 'docker.io/library/nginx:1.27', 'docker.io/library/nginx:1.27'],
  ['library/nginx', 'docker.io/library/nginx:latest', 'docker.io/library/nginx:latest'],
  ['acme/api', 'docker.io/acme/api:latest', 'docker.io/acme/api:latest'],
  ['docker.io/nginx', 'docker.io/library/nginx:latest', 'docker.io/library/nginx:latest'],
  ['index.docker.io/nginx:1', 'docker.io/library/nginx:1', 'docker.io/library/nginx:1'],
  ['ghcr.io/acme/api:v2', 'ghcr.io/acme/api:v2', 'ghcr.io/acme/api:v2'],
  [`ghcr.io/acme/api@${D}`, `ghcr.io/acme/api@${D}`, `ghcr.io/acme/api@${D}`],
  [`nginx:1.27@${D}`, `docker.io/library/nginx:1.27@${D}`, 'docker.io/library/nginx:1.27'],
  ['localhost/app', 'localhost/app:latest', 'localhost/app:latest'],
  ['localhost:5000/app:dev', 'localhost:5000/app:dev', 'localhost:5000/app:dev'],
  ['127.0.0.1:5000/test/bbx:1.0', '127.0.0.1:5000/test/bbx:1.0', '127.0.0.1:5000/test/bbx:1.0'],
  ['registry.example.com:443/a/b/c:x_y.z-1', 'registry.example.com:443/a/b/c:x_y.z-1', 'registry.example.com:443/a/b/c:x_y.z-1'],
  ['Registry.Example/app', 'Registry.Example/app:latest', 'Registry.Example/app:latest'],
  ['my__name/a-b--c.d', 'docker.io/my__name/a-b--c.d:latest', 'docker.io/my__name/a-b--c.d:latest'],
  ['[::1]:5000/app', '[::1]:5000/app:latest', '[::1]:5000/app:latest'],
];

test('references are normalised as Docker does', () => {
  for (const [text, canonical, name] of good) {
    const ref = parseReference(text);
    assert.equal(ref.canonical, canonical, text);
    assert.equal(ref.name, name, text);
  }
});

test('a reference keeps its parts apart', () => {
  const ref = parseReference(`localhost:5000/team/app:v1@${D}`);
  assert.deepEqual(ref, { domain: 'localhost:5000', repository: 'team/app', tag: 'v1', digest: D, canonical: `localhost:5000/team/app:v1@${D}`, name: 'localhost:5000/team/app:v1' });
  assert.equal(parseReference(`app@${D}`).tag, undefined);
});

const bad = ['', ' nginx', 'Nginx', 'acme/API', 'nginx:', 'nginx:-x', 'nginx:.x', 'nginx@sha256:abc', `nginx@sha512:${'a'.repeat(128)}`, 'a//b', '/nginx', 'nginx/', 'a..b/c', 'bad_host:x/y', '-a.com/x', `x:${'t'.repeat(129)}`, `${'a'.repeat(250)}/bbbbbbbb`, 'nginx:1 2'];

test('bad references are refused with the text quoted', () => {
  for (const text of bad) {
    assert.throws(() => parseReference(text), (err: unknown) => err instanceof InvalidReferenceError && err.message.includes(`"${text}"`), JSON.stringify(text));
  }
});

test('Docker Hub is reached at registry-1.docker.io and shown short', () => {
  assert.equal(registryHost('docker.io'), 'registry-1.docker.io');
  assert.equal(registryHost('ghcr.io'), 'ghcr.io');
  assert.equal(familiarName(parseReference('nginx')), 'nginx:latest');
  assert.equal(familiarName(parseReference('acme/api:1')), 'acme/api:1');
  assert.equal(familiarName(parseReference('ghcr.io/a/b:1')), 'ghcr.io/a/b:1');
});
