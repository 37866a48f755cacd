import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkManifest, parseManifest } from './manifest.ts';
import { RegistryError } from './registry-error.ts';

const D = `sha256:${'b'.repeat(64)}`;
const layer = (mediaType: string) => ({ mediaType, digest: D, size: 10 });
const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D, size: 2 };
const isCode = (code: string) => (err: unknown) => err instanceof RegistryError && err.code === code;

test('manifests parse; schema 1, non-JSON and non-objects are refused', () => {
  assert.equal(parseManifest(Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}'), null, 'x').mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
  assert.equal(parseManifest(Buffer.from('{"schemaVersion":2,"manifests":[]}'), 'application/json', 'x').mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.equal(parseManifest(Buffer.from('{"schemaVersion":2,"layers":[]}'), null, 'x').mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(parseManifest(Buffer.from('{"schemaVersion":2}'), 'application/vnd.oci.image.index.v1+json; charset=utf-8', 'x').mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.throws(() => parseManifest(Buffer.from('{"schemaVersion":1}'), null, 'image "a"'), (err: unknown) => isCode('unsupported')(err) && /^image "a": Docker schema 1/.test((err as Error).message));
  assert.throws(() => parseManifest(Buffer.from('{}'), 'application/vnd.docker.distribution.manifest.v1+prettyjws', 'x'), isCode('unsupported'));
  assert.throws(() => parseManifest(Buffer.from('nope'), null, 'x'), isCode('unsupported'));
  assert.throws(() => parseManifest(Buffer.from('[1]'), null, 'x'), isCode('unsupported'));
});

test('a platform manifest needs sha256 descriptors and tar layers (plain, gzip or zstd)', () => {
  const types = ['application/vnd.oci.image.layer.v1.tar', 'application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar+zstd', 'application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'];
  const m = checkManifest({ config, layers: types.map(layer) }, 'application/vnd.oci.image.manifest.v1+json', 'x');
  assert.equal(m.layers.length, types.length);
  assert.throws(() => checkManifest({ config, layers: [layer('application/vnd.cncf.helm.chart.content.v1.tar+gzip+x')] }, 'm', 'x'), isCode('unsupported'));
  assert.throws(() => checkManifest({ config, layers: [{ ...layer('application/vnd.oci.image.layer.v1.tar'), digest: 'sha512:abc' }] }, 'm', 'x'), isCode('unsupported'));
  assert.throws(() => checkManifest({ config: { ...config, size: -1 }, layers: [] }, 'm', 'x'), isCode('unsupported'));
  assert.throws(() => checkManifest({ layers: [] }, 'm', 'x'), isCode('unsupported'));
});
