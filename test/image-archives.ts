/**
 * Image archives made from a fixture layout: `docker-archive` (the legacy `docker save` and
 * `podman save` layout) and `oci-archive` by skopeo, and a Docker 25+ style `docker save` by hand
 * (an OCI layout plus the legacy manifest.json whose layers are `blobs/sha256/<hex>`, uncompressed).
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { layoutConfig, run } from './image-fixtures.ts';

/** The archive kinds the importer reads. */
export type ArchiveKind = 'docker-archive' | 'oci-archive' | 'docker25';

/**
 * Writes `<layout>:<tag>` as an archive at `out`, named `name` (`test/edge:1.0`): the RepoTags
 * entry of a docker archive, the ref name (the part after the last `:`) of an OCI archive.
 */
export async function makeArchive(layout: string, tag: string, kind: ArchiveKind, out: string, name: string, signal?: AbortSignal): Promise<string> {
  if (kind === 'docker-archive') await run('skopeo', ['copy', '--quiet', `oci:${layout}:${tag}`, `docker-archive:${out}:${name}`], { signal });
  else if (kind === 'oci-archive') await run('skopeo', ['copy', '--quiet', `oci:${layout}:${tag}`, `oci-archive:${out}:${name.slice(name.lastIndexOf(':') + 1)}`], { signal });
  else await docker25(layout, tag, out, name, signal);
  return out;
}

/** `docker save` as Docker 25+ writes it: layers uncompressed, so each layer blob's digest is its diff_id. */
async function docker25(layout: string, tag: string, out: string, name: string, signal?: AbortSignal): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hoody-docker25-'));
  try {
    const { manifest } = await layoutConfig(layout, tag);
    const blobs = join(dir, 'blobs/sha256');
    await mkdir(blobs, { recursive: true });
    const put = async (bytes: Uint8Array): Promise<string> => {
      const hex = createHash('sha256').update(bytes).digest('hex');
      await writeFile(join(blobs, hex), bytes);
      return `sha256:${hex}`;
    };
    const read = (digest: string): Promise<Buffer> => readFile(join(layout, 'blobs/sha256', digest.slice('sha256:'.length)));
    const configBytes = await read(manifest.config.digest);
    const configDigest = await put(configBytes);
    const layers: { mediaType: string; digest: string; size: number }[] = [];
    for (const l of manifest.layers as { mediaType: string; digest: string }[]) {
      const raw = await read(l.digest);
      const tar = l.mediaType.endsWith('gzip') ? gunzipSync(raw) : raw;
      layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: await put(tar), size: tar.length });
    }
    const ociManifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: configBytes.length }, layers }));
    const manifestDigest = await put(ociManifest);
    const repoTag = name;
    const index = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: ociManifest.length, annotations: { 'io.containerd.image.name': `docker.io/${repoTag}`, 'org.opencontainers.image.ref.name': repoTag.slice(repoTag.lastIndexOf(':') + 1) } }],
    };
    await writeFile(join(dir, 'index.json'), JSON.stringify(index));
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(join(dir, 'manifest.json'), JSON.stringify([{ Config: `blobs/sha256/${configDigest.slice(7)}`, RepoTags: [repoTag], Layers: layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`) }]));
    const [repo, t] = [repoTag.slice(0, repoTag.lastIndexOf(':')), repoTag.slice(repoTag.lastIndexOf(':') + 1)];
    await writeFile(join(dir, 'repositories'), JSON.stringify({ [repo]: { [t]: layers.at(-1)!.digest.slice(7) } }));
    await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', dir, '-cf', out, 'blobs', 'index.json', 'manifest.json', 'oci-layout', 'repositories'], { signal });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
