/**
 * What a hostile registry or archive may cost the server: gzip and zstd bombs (a few hundred MB of
 * zeros in a few hundred kB) stopped while they unpack, a layer of too many files, a manifest of
 * too many layers or too many bytes refused before any blob is asked for, archives holding the
 * same, and an upload over its cap. Each case checks that nothing of the image stays in the store.
 * Real parts: the content store (GNU tar in a user namespace), the puller and registry client
 * against a stub registry on loopback, the archive importer. Needs root.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { LayerContentStore } from '../src/images/store.ts';
import { ArchiveImport } from '../src/images/archive.ts';
import { Puller } from '../src/images/puller.ts';
import { RegistryClient } from '../src/images/registry-client.ts';
import { ImageTooLargeError, imageLimits, type ImageLimits } from '../src/images/limits.ts';
import { parseReference } from '../src/images/reference.ts';
import { StubRegistry } from './stub-registry.ts';
import { mountScratch } from './mount-scratch.ts';
import { HOODY_BIN, apiClient, startTestDaemon, type DaemonHandle } from './daemon-harness.ts';
import { run } from './image-fixtures.ts';
import { dockerArchiveOf, imageOf, manyFiles, ociArchiveOf, plainLayer, zeroBomb, type BombLayer } from './image-bombs.ts';

const IDS = { uid: 1_000_000, gid: 1_000_000, size: 65_536 };
const MiB = 1024 * 1024;
const skip = process.getuid?.() !== 0 ? 'needs root (user namespace for tar)' : false;

/** Rejects with too-large on `resource`. */
const tooLarge = (resource: string) => (err: unknown) => {
  assert.ok(err instanceof ImageTooLargeError, `expected a too-large error, got ${String(err)}`);
  assert.equal(err.details.resource, resource, err.message);
  return true;
};

describe('image limits', { skip }, () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let reg: StubRegistry;
  let bomb: BombLayer;
  let n = 0;

  before(async () => {
    scratch = await mountScratch('hoody-image-limits-');
    reg = await new StubRegistry().start();
    // 256 MiB of zeros in about 250 kB of gzip
    bomb = await zeroBomb(256 * MiB);
  });
  after(async () => {
    await reg?.close();
    await scratch?.cleanup();
  });

  /** A store, puller and importer of their own, with `limits` over the defaults. */
  const kit = async (limits: Partial<ImageLimits>) => {
    const root = join(scratch.dir, `store-${++n}`);
    await mkdir(root, { recursive: true });
    const all = imageLimits(limits);
    const store = new LayerContentStore({ root, ids: IDS, limits: all });
    const client = new RegistryClient({ retryDelayMs: 1, limits: all });
    return {
      store,
      puller: new Puller({ client, store, platform: { os: 'linux', architecture: 'amd64' }, limits: all }),
      importer: new ArchiveImport(store, { tempDir: store.base, normalise: (name) => parseReference(name).name, limits: all }),
    };
  };

  /** Nothing of a refused image: no record, no layer folder (committed or temporary), no import folder. */
  const assertNothingKept = async (store: LayerContentStore, diffIds: string[]) => {
    assert.deepEqual(await store.list(), [], 'no image recorded');
    for (const d of diffIds) assert.equal(await store.hasLayer(d), false, `layer ${d} is not kept`);
    const layers = await readdir(join(store.base, 'layers')).catch(() => [] as string[]);
    assert.deepEqual(layers.filter((f) => f.endsWith('.tmp') || diffIds.some((d) => f.startsWith(d.slice(7)))), [], 'no layer folder, whole or partial');
    assert.deepEqual((await readdir(store.base).catch(() => [] as string[])).filter((f) => f.endsWith('.tmp')), [], 'no import folder');
  };

  it('stops a gzip bomb served by a registry while it unpacks, and keeps nothing of it', async () => {
    assert.ok(bomb.gz.length < MiB && bomb.tarBytes > 256 * MiB, `a bomb: ${bomb.gz.length} bytes of gzip for ${bomb.tarBytes} of tar`);
    const base = plainLayer('etc/hostname', 'base\n');
    reg.putImage('bomb/gzip', imageOf([base, bomb]), ['1']);
    const { store, puller } = await kit({ maxUnpackedBytes: 4 * MiB });
    const started = Date.now();
    await assert.rejects(puller.pull(`${reg.host}/bomb/gzip:1`), (err: Error) => tooLarge('unpacked-bytes')(err) && err.message.includes(bomb.diffId) && err.message.includes('HOODY_IMAGE_MAX_UNPACKED_BYTES'));
    const took = Date.now() - started;
    await assertNothingKept(store, [bomb.diffId]);
    // the same image, allowed: it unpacks all 256 MiB, which the limit above spared
    const { store: roomy, puller: allowed } = await kit({ maxUnpackedBytes: 512 * MiB });
    const whole = Date.now();
    const image = await allowed.pull(`${reg.host}/bomb/gzip:1`);
    const wholeTook = Date.now() - whole;
    assert.ok(image.sizeBytes > 256 * MiB, `unpacked ${image.sizeBytes}`);
    await roomy.remove(image.id);
    // stopped early: refusing it costs a fraction of unpacking it (about 1.5 s against 6 s measured on a loaded 2-core machine, most of it the download and the base layer)
    assert.ok(took < wholeTook, `refused in ${took} ms, unpacked whole in ${wholeTook} ms`);
  });

  it('stops a zstd bomb the same way (the zstd child is killed with tar)', async () => {
    const zbomb = await zeroBomb(256 * MiB, 'zstd');
    assert.ok(zbomb.gz.length < MiB, `${zbomb.gz.length} bytes of zstd`);
    reg.putImage('bomb/zstd', imageOf([zbomb]), ['1']);
    const { store, puller } = await kit({ maxUnpackedBytes: 4 * MiB });
    await assert.rejects(puller.pull(`${reg.host}/bomb/zstd:1`), tooLarge('unpacked-bytes'));
    await assertNothingKept(store, [zbomb.diffId]);
  });

  it('counts an image\'s layers together: each under the limit, all of them over it', async () => {
    const a = plainLayer('a.bin', Buffer.alloc(3 * MiB, 1));
    const b = plainLayer('b.bin', Buffer.alloc(3 * MiB, 2));
    reg.putImage('bomb/two', imageOf([a, b]), ['1']);
    const { store, puller } = await kit({ maxUnpackedBytes: 5 * MiB });
    await assert.rejects(puller.pull(`${reg.host}/bomb/two:1`), tooLarge('unpacked-bytes'));
    assert.deepEqual(await store.list(), []);
    assert.deepEqual((await readdir(join(store.base, 'layers'))).filter((f) => f.endsWith('.tmp')), []);
    const { puller: roomy } = await kit({ maxUnpackedBytes: 8 * MiB });
    assert.equal((await roomy.pull(`${reg.host}/bomb/two:1`)).diffIds.length, 2);
  });

  it('stops a layer of more files than allowed', async () => {
    const files = manyFiles(3000);
    reg.putImage('bomb/files', imageOf([files]), ['1']);
    const { store, puller } = await kit({ maxEntries: 1000 });
    await assert.rejects(puller.pull(`${reg.host}/bomb/files:1`), (err: Error) => tooLarge('entries')(err) && /HOODY_IMAGE_MAX_ENTRIES/.test(err.message));
    await assertNothingKept(store, [files.diffId]);
    const { puller: roomy } = await kit({ maxEntries: 5000 });
    assert.equal((await roomy.pull(`${reg.host}/bomb/files:1`)).diffIds.length, 1);
  });

  it('refuses a manifest of too many layers, or of too many bytes, before asking for any blob', async () => {
    const layers = Array.from({ length: 5 }, (_, i) => plainLayer(`l${i}`, `layer ${i}\n`));
    reg.putImage('many/layers', imageOf(layers), ['1']);
    reg.putImage('many/bytes', imageOf([plainLayer('x', 'x')], { declare: () => 3 * MiB }), ['1']);
    reg.putImage('many/sum', imageOf(layers, { declare: () => MiB - 1 }), ['1']);
    const { store, puller } = await kit({ maxLayers: 4, maxBytes: 2 * MiB });
    const before = reg.requests.length;
    await assert.rejects(puller.pull(`${reg.host}/many/layers:1`), (err: ImageTooLargeError) => tooLarge('layers')(err) && err.details.requested === 5 && err.details.max === 4);
    await assert.rejects(puller.pull(`${reg.host}/many/bytes:1`), (err: ImageTooLargeError) => tooLarge('blob-bytes')(err) && err.details.requested === 3 * MiB);
    const { puller: fourLayers } = await kit({ maxLayers: 5, maxBytes: 2 * MiB });
    await assert.rejects(fourLayers.pull(`${reg.host}/many/sum:1`), tooLarge('image-bytes'));
    const seen = reg.requests.slice(before);
    assert.ok(seen.some((r) => r.path.includes('/manifests/')), 'the manifests were read');
    assert.deepEqual(seen.filter((r) => r.path.includes('/blobs/')), [], 'no blob was asked for, not even a config');
    assert.deepEqual(await store.list(), []);
  });

  it('stops a bomb in an oci-archive and in a docker-archive, and keeps nothing of either', async () => {
    const image = imageOf([plainLayer('etc/hostname', 'archived\n'), bomb]);
    const oci = await ociArchiveOf(image, join(scratch.dir, 'oci-bomb'), join(scratch.dir, 'oci-bomb.tar'), 'test/bomb:oci');
    const docker = await dockerArchiveOf(image, join(scratch.dir, 'docker-bomb'), join(scratch.dir, 'docker-bomb.tar'), 'test/bomb:docker');
    for (const archive of [oci, docker]) {
      const { store, importer } = await kit({ maxUnpackedBytes: 4 * MiB });
      await assert.rejects(importer.importArchive(archive), (err: Error) => tooLarge('unpacked-bytes')(err) && err.message.includes(bomb.diffId));
      await assertNothingKept(store, [bomb.diffId]);
    }
  });

  it('refuses an archive whose image has too many layers before unpacking any', async () => {
    const image = imageOf(Array.from({ length: 5 }, (_, i) => plainLayer(`l${i}`, `layer ${i}\n`)));
    for (const [kind, make] of [
      ['oci', ociArchiveOf],
      ['docker', dockerArchiveOf],
    ] as const) {
      const archive = await make(image, join(scratch.dir, `layers-${kind}`), join(scratch.dir, `layers-${kind}.tar`), `test/layers:${kind}`);
      const { store, importer } = await kit({ maxLayers: 4 });
      await assert.rejects(importer.importArchive(archive), tooLarge('layers'));
      await assertNothingKept(store, image.layers.map((l) => l.diffId));
      assert.deepEqual((await readdir(join(store.base, 'blobs', 'sha256'))).length, 0, 'no layer blob was stored');
    }
  });

  it('refuses an archive whose manifest.json or image config is over its cap without reading it into memory', async () => {
    const { store, importer } = await kit({});
    const bigManifest = join(scratch.dir, 'big-manifest');
    await mkdir(bigManifest, { recursive: true });
    await writeFile(join(bigManifest, 'manifest.json'), `[${' '.repeat(5 * MiB)}]`);
    await run('tar', ['-C', bigManifest, '-cf', `${bigManifest}.tar`, '.']);
    await assert.rejects(importer.importArchive(`${bigManifest}.tar`), (err: ImageTooLargeError) => tooLarge('manifest-bytes')(err) && err.details.max === 4 * MiB);
    const image = imageOf([plainLayer('x', 'x')]);
    const bigConfig = join(scratch.dir, 'big-config');
    await dockerArchiveOf(image, bigConfig, join(scratch.dir, 'unused.tar'), 'test/big:config');
    await writeFile(join(bigConfig, `${image.configDigest.slice(7)}.json`), Buffer.alloc(17 * MiB, 0x20));
    await run('tar', ['-C', bigConfig, '-cf', `${bigConfig}.tar`, '.']);
    await assert.rejects(importer.importArchive(`${bigConfig}.tar`), (err: ImageTooLargeError) => tooLarge('manifest-bytes')(err) && err.details.max === 16 * MiB);
    await assertNothingKept(store, []);
  });

  it('stops an upload at the first chunk past its cap, removes what it wrote, and leaves the source readable', async () => {
    const { store, importer } = await kit({ importMaxBytes: MiB });
    let sent = 0;
    const source = new Readable({
      read() {
        // 4 MiB in 64 kB chunks, as a request body arrives
        if (sent >= 4 * MiB) return void this.push(null);
        sent += 65_536;
        this.push(Buffer.alloc(65_536));
      },
    });
    await assert.rejects(importer.importArchive(source), (err: ImageTooLargeError) => tooLarge('import-bytes')(err) && err.details.max === MiB);
    assert.ok(sent < 2 * MiB, `stopped after ${sent} bytes`);
    assert.equal(source.destroyed, false, 'the source is left for its owner to drain');
    await assertNothingKept(store, []);
    // a file over the cap is refused before it is read
    const file = join(scratch.dir, 'big-file.tar');
    await writeFile(file, Buffer.alloc(2 * MiB));
    await assert.rejects(importer.importArchive(file), (err: ImageTooLargeError) => tooLarge('import-bytes')(err) && (err.details.requested ?? 0) > MiB);
    await assertNothingKept(store, []);
  });
  describe('through the daemon', () => {
    let d: DaemonHandle;
    let call: ReturnType<typeof apiClient>;
    before(async () => {
      d = await startTestDaemon('sqlite', { HOODY_IMAGE_IMPORT_MAX_BYTES: '1M', HOODY_IMAGE_MAX_UNPACKED_BYTES: '4M', HOODY_IMAGE_MAX_LAYERS: '4' });
      call = apiClient(d.api, d.adminToken);
    });
    after(async () => {
      await d?.cleanup();
    });

    /** Runs the CLI against the daemon, `input` on its standard input. */
    const hoody = (args: string[], input?: Buffer): Promise<{ code: number; stderr: string }> =>
      new Promise((resolve) => {
        const child = execFile(process.execPath, [HOODY_BIN, ...args], { env: { ...process.env, HOODY_API_URL: d.url, HOODY_TOKEN: d.adminToken }, timeout: 60_000 }, (err, _stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
        );
        child.stdin?.on('error', () => undefined);
        child.stdin?.end(input);
      });
    const upload = (body: BodyInit, headers: Record<string, string> = {}): Promise<Response> =>
      fetch(`${d.api}/images/import`, { method: 'POST', headers: { authorization: `Bearer ${d.adminToken}`, 'content-type': 'application/x-tar', ...headers }, body, duplex: 'half' } as RequestInit);
    const storedNothing = async () => {
      const listed = (await call('GET', '/images')).body.data.images.map((i: { id: string }) => i.id);
      assert.deepEqual(listed, ['builtin:busybox'], 'only the built-in image is listed');
      const base = join(d.dataDir, 'images', '.oci');
      assert.deepEqual((await readdir(base).catch(() => [] as string[])).filter((f) => f.endsWith('.tmp')), [], 'no import or layer leftovers');
      assert.deepEqual((await readdir(join(base, 'layers')).catch(() => [] as string[])).filter((f) => f.endsWith('.tmp')), []);
      assert.deepEqual((await readdir(join(base, 'images')).catch(() => [] as string[])), []);
    };

    it('refuses an import upload over HOODY_IMAGE_IMPORT_MAX_BYTES with 413 IMAGE_TOO_LARGE, declared or counted, and stores nothing', async () => {
      const declared = await upload(Buffer.alloc(2 * MiB));
      const body = (await declared.json()) as { code: string; details: Record<string, unknown> };
      assert.equal(declared.status, 413);
      assert.equal(body.code, 'IMAGE_TOO_LARGE');
      assert.deepEqual(body.details, { resource: 'import-bytes', max: MiB, requested: 2 * MiB, setting: 'HOODY_IMAGE_IMPORT_MAX_BYTES' });
      // no Content-Length: counted as it streams, and the client still reads the answer
      let sent = 0;
      const chunked = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= 3 * MiB) return controller.close();
          sent += 65_536;
          controller.enqueue(new Uint8Array(65_536));
        },
      });
      const counted = await upload(chunked);
      const countedBody = (await counted.json()) as { code: string; details: Record<string, unknown>; message: string };
      assert.equal(counted.status, 413, JSON.stringify(countedBody));
      assert.equal(countedBody.code, 'IMAGE_TOO_LARGE');
      assert.equal(countedBody.details.resource, 'import-bytes');
      assert.match(countedBody.message, /more than the 1048576 bytes allowed \(HOODY_IMAGE_IMPORT_MAX_BYTES\)/);
      await storedNothing();
    });

    it('hoody images import prints the refusal and the setting to raise, for a file and for standard input', async () => {
      const file = join(scratch.dir, 'cli-big.tar');
      await writeFile(file, Buffer.alloc(2 * MiB));
      const fromFile = await hoody(['images', 'import', file]);
      assert.equal(fromFile.code, 1, fromFile.stderr);
      assert.match(fromFile.stderr, /^error: cannot import: the archive is 2097152 bytes, more than the 1048576 allowed \(HOODY_IMAGE_IMPORT_MAX_BYTES\) \(IMAGE_TOO_LARGE\)$/m);
      assert.match(fromFile.stderr, /^hint: the server's limit is HOODY_IMAGE_IMPORT_MAX_BYTES=1048576/m);
      const fromStdin = await hoody(['images', 'import', '-'], Buffer.alloc(3 * MiB));
      assert.equal(fromStdin.code, 1, fromStdin.stderr);
      assert.match(fromStdin.stderr, /\(IMAGE_TOO_LARGE\)/);
      await storedNothing();
    });

    it('answers a pull of a gzip bomb with IMAGE_TOO_LARGE: as JSON, as the stream\'s last line, and plainly from the CLI', async () => {
      const reference = `${reg.host}/bomb/daemon:1`;
      reg.putImage('bomb/daemon', imageOf([plainLayer('etc/hostname', 'daemon\n'), bomb]), ['1']);
      const json = await call('POST', '/images/pull', { reference });
      assert.equal(json.status, 413, JSON.stringify(json.body));
      assert.equal(json.body.code, 'IMAGE_TOO_LARGE');
      assert.equal(json.body.details.resource, 'unpacked-bytes');
      assert.equal(json.body.details.reference, reference);
      const res = await fetch(`${d.api}/images/pull`, { method: 'POST', headers: { authorization: `Bearer ${d.adminToken}`, 'content-type': 'application/json', accept: 'application/x-ndjson' }, body: JSON.stringify({ reference }) });
      const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(lines[0].kind, 'resolved');
      assert.ok(lines.some((l) => l.kind === 'extracting' && l.diffId === bomb.diffId), 'the bomb began to unpack');
      const last = lines.at(-1);
      assert.equal(last.kind, 'error');
      assert.equal(last.error.code, 'IMAGE_TOO_LARGE');
      assert.equal(last.error.statusCode, 413);
      const cli = await hoody(['images', 'pull', reference]);
      assert.equal(cli.code, 1, cli.stderr);
      assert.match(cli.stderr, /error: cannot pull ".*bomb\/daemon:1": .*unpacks? to more than the 4194304 bytes allowed.*\(IMAGE_TOO_LARGE\)/);
      assert.match(cli.stderr, /hint: the server's limit is HOODY_IMAGE_MAX_UNPACKED_BYTES=4194304/);
      await storedNothing();
    });

    it('refuses a pull of too many layers before the registry is asked for a blob', async () => {
      reg.putImage('many/daemon', imageOf(Array.from({ length: 5 }, (_, i) => plainLayer(`d${i}`, `${i}\n`))), ['1']);
      const before = reg.requests.length;
      const res = await call('POST', '/images/pull', { reference: `${reg.host}/many/daemon:1` });
      assert.equal(res.status, 413, JSON.stringify(res.body));
      assert.deepEqual({ resource: res.body.details.resource, max: res.body.details.max, requested: res.body.details.requested }, { resource: 'layers', max: 4, requested: 5 });
      assert.deepEqual(reg.requests.slice(before).filter((r) => r.path.includes('/blobs/')), []);
      await storedNothing();
    });
  });
});
