/**
 * The image test rig itself: the fixtures are what they claim (checked on umoci's unpack and
 * with skopeo), the registries answer as a registry does (anonymous, token, htpasswd), and the
 * access log counts blob downloads.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildFixtureLayout, run, type FixtureLayout } from './image-fixtures.ts';
import { manifestOf, pushFixtures, pushImage, registryFetch, type PushedFixtures } from './fixture-push.ts';
import { startRegistry, type TestRegistry } from './registry-harness.ts';
import { oracleUnpack, treeSum, type TreeEntry } from './tree-compare.ts';
import { mountScratch } from './mount-scratch.ts';

const skip = process.getuid?.() !== 0 ? 'needs root (umoci unpack, chown)' : false;

describe('image test fixtures and registries', { skip }, () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let fx: FixtureLayout;
  let reg: TestRegistry;
  let pushed: PushedFixtures;
  const tree = async (tag: string): Promise<Map<string, TreeEntry>> => new Map((await treeSum(await oracleUnpack(fx.layout, tag, join(scratch.dir, `o-${tag}`)), { xattrs: true })).map((e) => [e.path, e]));

  before(async () => {
    scratch = await mountScratch('hoody-fixtures-test-');
    fx = await buildFixtureLayout(join(scratch.dir, 'fx'));
    reg = await startRegistry();
    pushed = await pushFixtures(reg, fx.layout);
  });
  after(async () => {
    await reg?.stop();
    await scratch?.cleanup();
  });

  it('layered applies a whiteout file, a whiteout dir and an opaque dir whose marker follows a sibling', async () => {
    const t = await tree('layered');
    assert.ok(!t.has('etc/motd'));
    assert.ok(!t.has('var/cache'));
    assert.deepEqual([...t.keys()].filter((p) => p.startsWith('opt/data/')), ['opt/data/c.txt']);
    assert.ok(t.has('etc/hello.txt') && t.has('var/www.txt'));
    assert.ok(![...t.keys()].some((p) => p.includes('.wh.')));
    assert.equal(t.get('home/app')?.uid, 1000);
    assert.equal(t.get('tmp')?.mode, 0o1777);
    assert.equal(t.get('bin/sh')?.target, '/bin/busybox');
  });

  it('edge holds setuid, setgid, a hardlink, a FIFO, a long path, unicode and both replacements', async () => {
    const t = await tree('edge');
    assert.equal(t.get('usr/local/bin/suid')?.mode, 0o4755);
    assert.equal(t.get('srv/shared')?.mode, 0o2775);
    assert.equal(t.get('srv/a.txt')?.nlink, 2);
    assert.equal(t.get('srv/fifo')?.type, 'p');
    assert.ok([...t.keys()].some((p) => p.length > 100 && p.startsWith('srv/long/')));
    assert.ok(t.has('srv/héllo-ünïcode-日本.txt'));
    assert.equal(t.get('srv/d2f')?.type, 'f');
    assert.equal(t.get('srv/f2d')?.type, 'd');
    assert.equal(t.get('srv/owned-by-app')?.uid, 1000);
  });

  it('xattr keeps a file capability and a user xattr; insertbug ends without EOF blocks', async () => {
    const x = (await tree('xattr')).get('bin/ping')?.xattrs ?? [];
    assert.ok(x.some((a) => a.startsWith('security.capability=')), x.join());
    assert.ok(x.includes('user.test=0x686f6f6479'), x.join());
    const layer = await readFile(join(fx.dir, 'insertbug.tar'));
    assert.equal(layer.length % 512, 0);
    assert.notDeepEqual(layer.subarray(-1024), Buffer.alloc(1024), 'no end-of-archive blocks');
    assert.ok((await tree('insertbug')).has('etc/insertbug.txt'), 'umoci (Go) reads it');
  });

  it('evil is refused by umoci and leaves the host folder as it was', async () => {
    await assert.rejects(oracleUnpack(fx.layout, 'evil', join(scratch.dir, 'o-evil')));
    assert.equal(await readFile(join(fx.hostTarget, 'victim'), 'utf8'), 'victim\n');
  });

  it('the index and the list name arm64 first, and skopeo picks amd64 from them', async () => {
    for (const p of [pushed.index, pushed.list]) {
      const res = await registryFetch(reg, `/v2/${p.repository}/manifests/${p.tag}`, { headers: { accept: p.mediaType } }, '');
      const body = (await res.json()) as { manifests: { platform: { architecture: string } }[] };
      assert.deepEqual(body.manifests.map((m) => m.platform.architecture), ['arm64', 'amd64']);
      const inspect = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', `docker://${p.reference}`])) as { Architecture: string };
      assert.equal(inspect.Architecture, 'amd64');
    }
    assert.equal(pushed.layeredV2s2.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(pushed.layered.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  });

  it('counts blob downloads: a copy of layered after base fetches only its new layer and config', async () => {
    const dest = join(scratch.dir, 'copy');
    await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${pushed.base.reference}`, `oci:${dest}:base`]);
    const before = (await reg.blobGets()).length;
    await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${pushed.layered.reference}`, `oci:${dest}:layered`]);
    assert.equal((await reg.blobGets()).slice(before).length, 2, 'the top layer and the config');
  });

  for (const auth of ['token', 'htpasswd'] as const) {
    it(`a registry with ${auth} auth refuses anonymous pulls and serves the test user`, async () => {
      const r = await startRegistry({ auth });
      try {
        await pushImage(r, fx.layout, 'base', 'test/private', { destTag: '1.0' });
        assert.equal((await fetch(`${r.url}/v2/test/private/tags/list`)).status, 401);
        const m = await manifestOf(r, 'test/private', '1.0');
        assert.match(m.manifestDigest, /^sha256:[0-9a-f]{64}$/);
        await assert.rejects(run('skopeo', ['inspect', '--tls-verify=false', `docker://${r.host}/test/private:1.0`]));
        await run('skopeo', ['inspect', '--tls-verify=false', '--creds', `${r.creds!.username}:${r.creds!.password}`, `docker://${r.host}/test/private:1.0`]);
        if (auth === 'token') assert.ok(r.tokenRequests() >= 2, `token requests counted: ${r.tokenRequests()}`);
      } finally {
        await r.stop();
      }
    });
  }
});
