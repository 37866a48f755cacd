/**
 * Import of image archives: `docker save` (legacy: manifest.json with `<id>/layer.tar` or
 * `<diffid>.tar` layers; Docker 25+: an OCI layout plus manifest.json), `podman save`
 * (docker-archive) and `oci-archive`. The outer tar is listed first and only its files and
 * folders are unpacked (into a temp folder under the store); every blob is hashed as it goes
 * into the store, and layers unpack as pulled ones do, so both share layers by diff_id.
 * Names: manifest.json's RepoTags; without manifest.json, an index entry's
 * `io.containerd.image.name`, else its `org.opencontainers.image.ref.name` when that is a whole
 * name (holds `/` or `:`); a bare tag (`latest`) names nothing, and the image is kept unnamed.
 */
import { createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import { hashFile } from './store.ts';
import { InvalidArchiveError, listArchive, resolveMember, unpackArchiveFiles, type ArchiveMember } from './archive-list.ts';
import { DEFAULT_IMAGE_LIMITS, type ImageLimits, UnpackBudget, checkDeclaredLayers, checkUploadBytes, documentTooLarge } from './limits.ts';
import { MAX_CONFIG_BYTES } from './registry-client.ts';
import { MEDIA_TYPES, type ArchiveImporter, type ContentStore, type Descriptor, type ImageConfig, type ImageProgress, type StoredImage } from './types.ts';

/** Options of the importer. */
export interface ArchiveImportOptions {
  /** A root-only folder on the store's file system for the unpacked archive (the store's `base`). */
  tempDir: string;
  /** Turns an archive's name (`test/bbx:1.0`) into the name images are listed under; throws on an invalid one. */
  normalise?: (name: string) => string;
  /** The archive's size, the layers and bytes its images may declare and unpack to (the defaults when absent). */
  limits?: Partial<ImageLimits>;
}

interface Ctx {
  dir: string;
  members: ArchiveMember[];
  signal?: AbortSignal;
  source: string;
  onProgress?: (p: ImageProgress) => void;
}

/** Manifest and index bodies read from an archive are at most this large. */
const MAX_JSON = 4 * 1024 * 1024;

/** Imports archives into a content store. */
export class ArchiveImport implements ArchiveImporter {
  private readonly limits: ImageLimits;

  constructor(
    private readonly store: ContentStore,
    private readonly opts: ArchiveImportOptions,
  ) {
    this.limits = { ...DEFAULT_IMAGE_LIMITS, ...opts.limits };
  }

  async importArchive(input: NodeJS.ReadableStream | string, opts: { signal?: AbortSignal; source?: string; onProgress?: (progress: ImageProgress) => void } = {}): Promise<StoredImage[]> {
    const dir = join(this.opts.tempDir, `import-${randomBytes(6).toString('hex')}.tmp`);
    await mkdir(join(dir, 'x'), { recursive: true, mode: 0o700 });
    try {
      const archive = typeof input === 'string' ? input : join(dir, 'archive.tar');
      // a stream stops at the first byte past the limit; what it wrote goes with the folder
      if (typeof input !== 'string') await pipeline(capped(input, this.limits.importMaxBytes), createWriteStream(archive, { mode: 0o600 }), { signal: opts.signal });
      else checkUploadBytes((await stat(archive)).size, this.limits.importMaxBytes, `archive "${basename(archive)}"`, true);
      const members = await listArchive(archive, opts.signal);
      await unpackArchiveFiles(archive, members, join(dir, 'x'), opts.signal);
      const ctx: Ctx = { dir: join(dir, 'x'), members, signal: opts.signal, source: opts.source ?? `import ${typeof input === 'string' ? basename(input) : 'archive'}`, onProgress: opts.onProgress };
      const has = (p: string): boolean => members.some((m) => m.path === p && m.type === 'file');
      if (has('manifest.json')) return await this.fromDockerManifest(ctx);
      if (has('index.json')) return await this.fromOciIndex(ctx);
      throw new InvalidArchiveError('archive has neither "manifest.json" nor "index.json": it is not a docker-archive or oci-archive');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** docker-archive: `[{Config, RepoTags, Layers}]`; layers are tars (uncompressed as a rule) whose diff_ids the config lists. */
  private async fromDockerManifest(ctx: Ctx): Promise<StoredImage[]> {
    const entries = archiveJson(await this.readMember(ctx, 'manifest.json'), '"manifest.json"') as { Config?: string; RepoTags?: string[] | null; Layers?: string[] }[];
    if (!Array.isArray(entries) || entries.length === 0) throw new InvalidArchiveError('archive "manifest.json" lists no image');
    const images: StoredImage[] = [];
    for (const entry of entries) {
      if (!isObject(entry) || typeof entry.Config !== 'string' || !Array.isArray(entry.Layers)) throw new InvalidArchiveError('archive "manifest.json" entry has no Config or Layers');
      const configBytes = await readSmall(this.memberPath(ctx, entry.Config), MAX_CONFIG_BYTES, `archive config "${entry.Config}"`);
      const diffIds = diffIdsOf(configBytes);
      if (diffIds.length !== entry.Layers.length) throw new InvalidArchiveError(`archive image "${entry.Config}" lists ${entry.Layers.length} layers for ${diffIds.length} diff_ids`);
      const what = `archive image "${entry.Config}"`;
      const paths = entry.Layers.map((layer) => this.memberPath(ctx, layer));
      // the count first; a docker-archive declares no sizes, so those of its layer files
      checkDeclaredLayers(paths.map(() => ({ size: 0 })), this.limits, what);
      checkDeclaredLayers(await Promise.all(paths.map(async (p) => ({ size: (await stat(p)).size }))), this.limits, what);
      const budget = new UnpackBudget(this.limits, what);
      for (const [i, path] of paths.entries()) await this.storeLayer(ctx, path, (await hashFile(path, ctx.signal)).digest, diffIds[i] as string, budget);
      const names = (entry.RepoTags ?? []).map((n) => this.normalise(n));
      images.push(await this.store.commitImage({ configBytes, names, source: ctx.source }));
    }
    return images;
  }

  /** oci-archive (and Docker 25's layout without its manifest.json): index.json → manifests → config and layer blobs. */
  private async fromOciIndex(ctx: Ctx): Promise<StoredImage[]> {
    const images: StoredImage[] = [];
    const walk = async (descs: Descriptor[], depth: number): Promise<void> => {
      for (const desc of descs) {
        if (desc.mediaType === MEDIA_TYPES.ociIndex || desc.mediaType === MEDIA_TYPES.dockerList) {
          if (depth > 3) throw new InvalidArchiveError('archive "index.json" nests indexes too deep');
          const inner = archiveJson((await this.verifiedBlob(ctx, desc)).toString('utf8'), `index "${desc.digest}"`) as { manifests?: Descriptor[] };
          await walk(descriptors(inner, `index "${desc.digest}"`), depth + 1);
          continue;
        }
        const manifestBytes = await this.verifiedBlob(ctx, desc);
        const manifest = archiveJson(manifestBytes.toString('utf8'), `manifest "${desc.digest}"`) as { config?: Descriptor; layers?: Descriptor[] };
        if (!isObject(manifest) || !isObject(manifest.config) || !Array.isArray(manifest.layers) || !manifest.layers.every(isObject)) throw new InvalidArchiveError(`archive manifest "${desc.digest}" has no config or layers`);
        const configBytes = await this.verifiedBlob(ctx, manifest.config);
        const diffIds = diffIdsOf(configBytes);
        if (diffIds.length !== manifest.layers.length) throw new InvalidArchiveError(`archive manifest "${desc.digest}" lists ${manifest.layers.length} layers for ${diffIds.length} diff_ids`);
        const what = `archive image "${desc.digest}"`;
        checkDeclaredLayers(manifest.layers.map((l) => ({ size: Number.isSafeInteger(l.size) && l.size >= 0 ? l.size : Infinity })), this.limits, what);
        const budget = new UnpackBudget(this.limits, what);
        for (const [i, layer] of manifest.layers.entries()) await this.storeLayer(ctx, this.blobMember(ctx, layer.digest), layer.digest, diffIds[i] as string, budget);
        await this.store.putBlob(desc.digest, manifestBytes);
        const name = nameOf(desc.annotations);
        images.push(await this.store.commitImage({ configBytes, manifestDigest: desc.digest, names: name ? [this.normalise(name)] : [], source: ctx.source }));
      }
    };
    const index = archiveJson(await this.readMember(ctx, 'index.json'), '"index.json"') as { manifests?: Descriptor[] | null };
    await walk(descriptors(index, '"index.json"'), 0);
    if (images.length === 0) throw new InvalidArchiveError('archive "index.json" lists no image');
    return images;
  }

  /** Puts the layer's blob into the store (verified against `digest`) and unpacks it unless its diff_id is there already. */
  private async storeLayer(ctx: Ctx, path: string, digest: string, diffId: string, budget: UnpackBudget): Promise<void> {
    if (await this.store.hasLayer(diffId)) {
      ctx.onProgress?.({ kind: 'layer-exists', digest, diffId });
      return;
    }
    let blob = await this.store.blob(digest);
    if (!blob) {
      // a name of its own: a download of the same blob may be writing the store's usual temp path
      const tmp = `${this.store.blobTempPath(digest)}.${randomBytes(4).toString('hex')}.tmp`;
      // a hard link when the archive's folder is on the store's file system; a layer two images share stays for the second
      await link(path, tmp).catch(() => copyFile(path, tmp));
      blob = await this.store.commitBlob(tmp, digest);
    }
    ctx.onProgress?.({ kind: 'extracting', diffId });
    const { sizeBytes } = await this.store.applyLayer(blob, diffId, ctx.signal, { budget });
    ctx.onProgress?.({ kind: 'extracted', diffId, sizeBytes });
  }

  /** A blob of the layout, checked against its descriptor. */
  private async verifiedBlob(ctx: Ctx, desc: Descriptor): Promise<Buffer> {
    const max = desc.mediaType === MEDIA_TYPES.ociConfig || desc.mediaType === MEDIA_TYPES.dockerConfig ? MAX_CONFIG_BYTES : MAX_JSON;
    if (desc.size > max) throw documentTooLarge(`archive blob "${desc.digest}"`, desc.size, max);
    const path = this.blobMember(ctx, desc.digest);
    const { digest, size } = await hashFile(path, ctx.signal);
    if (digest !== desc.digest || size !== desc.size) throw new InvalidArchiveError(`archive blob "${desc.digest}" does not match its content (got ${digest}, ${size} bytes of ${desc.size})`);
    return readSmall(path, max, `archive blob "${desc.digest}"`);
  }

  private blobMember(ctx: Ctx, digest: string): string {
    const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
    if (!m) throw new InvalidArchiveError(`digest "${digest}" is not sha256:<64 hex>`);
    return this.memberPath(ctx, `blobs/sha256/${m[1]}`);
  }

  private memberPath(ctx: Ctx, name: string): string {
    return join(ctx.dir, resolveMember(ctx.members, name));
  }

  private async readMember(ctx: Ctx, name: string): Promise<string> {
    return (await readSmall(this.memberPath(ctx, name), MAX_JSON, `archive "${name}"`)).toString('utf8');
  }

  private normalise(name: string): string {
    return this.opts.normalise ? this.opts.normalise(name) : name;
  }
}

/**
 * The stream, ending in an ImageTooLargeError at the first chunk past `max` bytes. The source is
 * only unpiped, never destroyed: a request body can still be drained, so its client reads the
 * answer instead of a reset connection.
 */
function capped(input: NodeJS.ReadableStream, max: number): Readable {
  let seen = 0;
  const source = input as Readable;
  const out = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen <= max) return done(null, chunk);
      source.unpipe(out);
      try {
        checkUploadBytes(seen, max, 'the archive', false);
      } catch (err) {
        done(err as Error);
      }
    },
  });
  source.on('error', (err) => out.destroy(err));
  source.pipe(out);
  return out;
}

/** A small file read whole, once its size is known to be at most `max` (a huge one would take the daemon's memory). */
async function readSmall(path: string, max: number, what: string): Promise<Buffer> {
  const { size } = await stat(path);
  if (size > max) throw documentTooLarge(what, size, max);
  return readFile(path);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A JSON document of the archive; one that does not parse is the archive's fault. */
function archiveJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidArchiveError(`archive ${what} is not JSON: ${(err as Error).message}`);
  }
}

/** The `manifests` of an index document: descriptors (objects with a digest), or none. */
function descriptors(doc: unknown, what: string): Descriptor[] {
  const list = isObject(doc) ? (doc.manifests ?? []) : undefined;
  if (!Array.isArray(list) || !list.every((d) => isObject(d) && typeof d.digest === 'string')) throw new InvalidArchiveError(`archive ${what} has no list of manifests`);
  return list as Descriptor[];
}

/** The config's diff_ids; throws when it has none. */
function diffIdsOf(configBytes: Uint8Array): string[] {
  const config = archiveJson(Buffer.from(configBytes).toString('utf8'), 'image config') as ImageConfig;
  const ids = isObject(config) ? config.rootfs?.diff_ids : undefined;
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) throw new InvalidArchiveError('archive image config has no rootfs.diff_ids');
  return ids;
}

/** An index entry's name: containerd's full name, else ref.name when it is a whole name rather than a bare tag. */
function nameOf(annotations: Record<string, string> | undefined): string | undefined {
  const full = annotations?.['io.containerd.image.name'];
  if (full) return full;
  const ref = annotations?.['org.opencontainers.image.ref.name'];
  return ref && /[/:]/.test(ref) ? ref : undefined;
}
