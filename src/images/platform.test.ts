import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidPlatformError, PlatformNotFoundError, formatPlatform, hostPlatform, parsePlatform, selectManifest } from './platform.ts';
import type { Descriptor, Platform } from './types.ts';

const d = (n: number, platform?: Platform, annotations?: Record<string, string>): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  size: 100 + n,
  ...(platform ? { platform } : {}),
  ...(annotations ? { annotations } : {}),
});

test('the host platform uses OCI names', () => {
  const p = hostPlatform();
  assert.equal(p.os, 'linux');
  if (process.arch === 'x64') assert.deepEqual(p, { os: 'linux', architecture: 'amd64' });
  if (process.arch === 'arm64') assert.deepEqual(p, { os: 'linux', architecture: 'arm64', variant: 'v8' });
});

test('platform texts parse, aliases normalise and bad texts are refused with the text quoted', () => {
  assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(parsePlatform('Linux/AArch64'), { os: 'linux', architecture: 'arm64' });
  assert.equal(formatPlatform(parsePlatform('linux/arm/v7')), 'linux/arm/v7');
  for (const bad of ['', 'linux', 'linux/', '/amd64', 'linux/amd64/v8/x', 'linux/am d64', 'linux//v8']) {
    assert.throws(() => parsePlatform(bad), (err: unknown) => err instanceof InvalidPlatformError && err.message.includes(`"${bad}"`), JSON.stringify(bad));
  }
});

const index = {
  manifests: [
    d(1, { os: 'linux', architecture: 'arm64' }),
    d(2, { os: 'linux', architecture: 'amd64' }),
    d(3, { os: 'linux', architecture: 'arm', variant: 'v6' }),
    d(4, { os: 'linux', architecture: 'arm', variant: 'v7' }),
    d(5, { os: 'unknown', architecture: 'unknown' }, { 'vnd.docker.reference.type': 'attestation-manifest' }),
  ],
};

test('an index entry is picked by os, architecture and variant', () => {
  assert.equal(selectManifest(index, { os: 'linux', architecture: 'amd64' }).digest, index.manifests[1]!.digest);
  // arm64/v8 matches an entry that names no variant
  assert.equal(selectManifest(index, { os: 'linux', architecture: 'arm64', variant: 'v8' }).digest, index.manifests[0]!.digest);
  assert.equal(selectManifest(index, { os: 'linux', architecture: 'arm', variant: 'v7' }).digest, index.manifests[3]!.digest);
  assert.equal(selectManifest(index, { os: 'linux', architecture: 'arm', variant: 'v6' }).digest, index.manifests[2]!.digest);
  // an exact variant wins over an entry without one
  const both = { manifests: [d(1, { os: 'linux', architecture: 'arm64' }), d(2, { os: 'linux', architecture: 'arm64', variant: 'v8' })] };
  assert.equal(selectManifest(both, { os: 'linux', architecture: 'arm64', variant: 'v8' }).digest, both.manifests[1]!.digest);
});

test('no match names the platforms available and never offers attestations', () => {
  assert.throws(
    () => selectManifest(index, { os: 'linux', architecture: 's390x' }),
    (err: unknown) => err instanceof PlatformNotFoundError && err.message.includes('"linux/s390x"') && err.message.includes('linux/arm64, linux/amd64, linux/arm/v6, linux/arm/v7') && !err.message.includes('unknown'),
  );
  assert.throws(() => selectManifest({ manifests: [d(5, { os: 'unknown', architecture: 'unknown' })] }, { os: 'unknown', architecture: 'unknown' }), PlatformNotFoundError);
  assert.throws(() => selectManifest({ manifests: null }, { os: 'linux', architecture: 'amd64' }), /available: none/);
  assert.throws(() => selectManifest(index, { os: 'linux', architecture: 'arm', variant: 'v5' }), PlatformNotFoundError);
});
