/**
 * Hostile layers for the limit tests, made while the test runs: a "bomb" (one file of zeros, a
 * few hundred MB of tar that gzip or zstd shrinks to a few hundred kB, generated as a stream so
 * nothing large is ever held), a layer of thousands of empty files, an image around any layers,
 * and an oci-archive or docker-archive holding it.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { run } from './image-fixtures.ts';
import { sha256, tarOf, ustarHeader, type StubLayer, type TinyImage } from './stub-registry.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const OCI_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

/** A layer blob with its media type. */
export interface BombLayer extends Omit<StubLayer, 'tar'> {
  mediaType: string;
  /** The length of its uncompressed tar. */
  tarBytes: number;
}


/** The tar of one file of `bytes` zeros, a MiB at a time. */
function* zeroTar(bytes: number): Generator<Buffer> {
  yield ustarHeader('zeros', bytes);
  const mib = Buffer.alloc(1024 * 1024);
  for (let left = bytes; left > 0; left -= mib.length) yield left >= mib.length ? mib : mib.subarray(0, left);
  yield Buffer.alloc(((512 - (bytes % 512)) % 512) + 1024);
}

/** Collects a stream's output. */
async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk);
  return Buffer.concat(parts);
}

/**
 * A layer whose tar is one file of `bytes` zeros, compressed as a stream by zlib (`gzip`) or a
 * `zstd` child; its diff_id is hashed on the way, so it is a valid layer of a valid image.
 */
export async function zeroBomb(bytes: number, compression: 'gzip' | 'zstd' = 'gzip'): Promise<BombLayer> {
  const hash = createHash('sha256');
  let tarBytes = 0;
  const source = Readable.from(
    (function* () {
      for (const chunk of zeroTar(bytes)) {
        hash.update(chunk);
        tarBytes += chunk.length;
        yield chunk;
      }
    })(),
  );
  let gz: Buffer;
  if (compression === 'gzip') {
    gz = await collect(source.pipe(createGzip({ level: 9 })));
  } else {
    const zstd = spawn('zstd', ['-q', '-c', '-3'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const out = collect(zstd.stdout);
    source.pipe(zstd.stdin);
    const code = await new Promise<number | null>((resolve) => zstd.on('close', resolve));
    if (code !== 0) throw new Error(`zstd exited ${code}`);
    gz = await out;
  }
  return { gz, digest: sha256(gz), diffId: `sha256:${hash.digest('hex')}`, mediaType: compression === 'gzip' ? OCI_GZIP : OCI_ZSTD, tarBytes };
}

/** A gzip layer of `count` empty files (512 bytes of tar each, a few kB of gzip). */
export function manyFiles(count: number): BombLayer {
  const tar = tarOf(Array.from({ length: count }, (_, i) => ({ name: `f/${i}`, content: '' })));
  const gz = gzipSync(tar);
  return { gz, digest: sha256(gz), diffId: sha256(tar), mediaType: OCI_GZIP, tarBytes: tar.length };
}

/** A small ordinary gzip layer holding one file. */
export function plainLayer(name: string, content: string | Buffer): BombLayer {
  const tar = tarOf([{ name, content }]);
  const gz = gzipSync(tar);
  return { gz, digest: sha256(gz), diffId: sha256(tar), mediaType: OCI_GZIP, tarBytes: tar.length };
}

/**
 * An OCI image of these layers (the StubRegistry serves it with putImage); `declare` overrides
 * the sizes its manifest states (a registry may lie; the download then fails on the real size).
 */
export function imageOf(layers: BombLayer[], opts: { declare?: (layer: BombLayer, i: number) => number } = {}): TinyImage {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: layers.map((l, i) => ({ mediaType: l.mediaType, digest: l.digest, size: opts.declare ? opts.declare(l, i) : l.gz.length })),
    }),
  );
  return { config, configDigest: sha256(config), layers: layers.map((l) => ({ ...l, tar: Buffer.alloc(0) })), manifest, manifestDigest: sha256(manifest), mediaType: OCI_MANIFEST };
}

/** Writes `image` as an oci-archive (`index.json`, `oci-layout`, `blobs/sha256/…`) at `out`, named `name`. */
export async function ociArchiveOf(image: TinyImage, dir: string, out: string, name: string): Promise<string> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = (digest: string, bytes: Buffer): Promise<void> => writeFile(join(blobs, digest.slice('sha256:'.length)), bytes);
  await put(image.configDigest, image.config);
  await put(image.manifestDigest, image.manifest);
  for (const l of image.layers) await put(l.digest, l.gz);
  const index = { schemaVersion: 2, manifests: [{ mediaType: image.mediaType, digest: image.manifestDigest, size: image.manifest.length, annotations: { 'io.containerd.image.name': name } }] };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', dir, '-cf', out, 'blobs', 'index.json', 'oci-layout']);
  return out;
}

/** Writes `image` as a docker-archive (`manifest.json`, `<n>/layer.tar` as the blobs are, config) at `out`. */
export async function dockerArchiveOf(image: TinyImage, dir: string, out: string, name: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const layers: string[] = [];
  for (const [i, l] of image.layers.entries()) {
    await mkdir(join(dir, String(i)));
    await writeFile(join(dir, String(i), 'layer.tar'), l.gz);
    layers.push(`${i}/layer.tar`);
  }
  const config = `${image.configDigest.slice('sha256:'.length)}.json`;
  await writeFile(join(dir, config), image.config);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify([{ Config: config, RepoTags: [name], Layers: layers }]));
  await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', dir, '-cf', out, '.']);
  return out;
}
