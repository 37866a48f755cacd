/**
 * The content-addressed image store under `<root>/.oci/` (`<root>` is `<data-dir>/images`, where
 * the built-in busybox keeps its own `<root>/busybox/`; a dot name cannot be an image's):
 * `blobs/sha256/<hex>`, `layers/<diffid-hex>/` (an unpacked layer) with `layers/<hex>.json`
 * (its short link, size, blobs and id range), `l/<short>` links to layers (so 100+ lowers fit
 * in one mount), `images/<config-hex>.json` (StoredImage records), `names.json`, and `ids.json`
 * (the id range of layers whose meta names none; see layer-ranges.ts, which moves layers into
 * a new range). Every write lands under a `.tmp` name first and is renamed into place; `sweep`
 * removes leftovers.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, createReadStream, mkdirSync } from 'node:fs';
import { mkdir, readdir, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IdRange } from '../runtime/id-range.ts';
import { makePrivateDir } from '../runtime/fs.ts';
import { applyLayerTar } from './layer-apply.ts';
import { LayerRanges } from './layer-ranges.ts';
import { DEFAULT_IMAGE_LIMITS, checkUnpackedTotal, type ImageLimits, type UnpackBudget } from './limits.ts';
import { readMergedFile, resolveUser } from './image-user.ts';
import { atomicWrite, readJson } from './json-files.ts';
import { Limiter, Mutex } from './store-locks.ts';
import type { ContentStore, ImageConfig, StoredImage } from './types.ts';

/** What the store keeps beside a layer folder. */
export interface LayerMeta {
  diffId: string;
  /** The name of its link in `l/`. */
  link: string;
  sizeBytes: number;
  /** Blobs of the store it was unpacked from (kept while the layer is used). */
  blobs: string[];
  /** The id range its files are owned in; absent when written before ranges were recorded (then the store's `ids.json`). */
  ids?: IdRange;
}

/** Options of a store. */
export interface LayerContentStoreOptions {
  /** `<data-dir>/images`. */
  root: string;
  /** The server's id range: layer files are owned in it. */
  ids: IdRange;
  /** Extractions at once (2 by default). */
  extractions?: number;
  /** Called with a line when a layer's device nodes were left out. */
  log?: (line: string) => void;
  /** What one layer, and one image's layers together, may unpack to (the defaults when absent). */
  limits?: Partial<Pick<ImageLimits, 'maxUnpackedBytes' | 'maxEntries'>>;
}

const DIGEST = /^sha256:([0-9a-f]{64})$/;
const ID_PREFIX = /^(?:sha256:)?([0-9a-f]{12,64})$/;
/** Blobs and layers not yet part of an image are kept this long, for the pull that is storing them. */
const FRESH_MS = 60 * 60 * 1000;
const STORE_DIRS = ['blobs/sha256', 'layers', 'l', 'images'];
const LINK_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** The `<hex>` of a `sha256:<hex>` digest; throws on anything else. */
export function digestHex(digest: string): string {
  const m = DIGEST.exec(digest);
  if (!m) throw new Error(`digest "${digest}" is not sha256:<64 hex>`);
  return m[1] as string;
}

/** sha256 of a file, as `sha256:<hex>`, and its size. */
export async function hashFile(path: string, signal?: AbortSignal): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { signal })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/** The store; one per data folder (one daemon per data folder is guaranteed elsewhere). */
export class LayerContentStore implements ContentStore {
  readonly base: string;
  private readonly mutex = new Mutex();
  private readonly limiter: Limiter;
  private readonly ranges: LayerRanges;
  private readonly extracting = new Map<string, SharedExtraction>();
  /** digest or diff_id → when it was stored, until an image uses it. */
  private readonly fresh = new Map<string, number>();
  private ready: Promise<void> | undefined;
  private madeSync = false;

  private readonly limits: Pick<ImageLimits, 'maxUnpackedBytes' | 'maxEntries'>;

  constructor(private readonly opts: LayerContentStoreOptions) {
    this.base = join(opts.root, '.oci');
    this.limits = { maxUnpackedBytes: opts.limits?.maxUnpackedBytes ?? DEFAULT_IMAGE_LIMITS.maxUnpackedBytes, maxEntries: opts.limits?.maxEntries ?? DEFAULT_IMAGE_LIMITS.maxEntries };
    this.limiter = new Limiter(opts.extractions ?? 2);
    this.ranges = new LayerRanges({ base: this.base, ids: opts.ids, mutex: this.mutex, limiter: this.limiter, blob: (digest) => this.blob(digest), ...(opts.log ? { log: opts.log } : {}) });
  }

  /** The folder of short links (`l/`), for mounting with relative lower paths from `base`. */
  get linkDir(): string {
    return join(this.base, 'l');
  }

  async blob(digest: string): Promise<string | undefined> {
    const path = this.blobPath(digest);
    return (await stat(path).catch(() => undefined))?.isFile() ? path : undefined;
  }

  blobTempPath(digest: string): string {
    this.initSync();
    return `${this.blobPath(digest)}.tmp`;
  }

  async commitBlob(tempPath: string, digest: string, size?: number): Promise<string> {
    await this.init();
    const got = await hashFile(tempPath);
    if (got.digest !== digest || (size !== undefined && got.size !== size)) {
      await rm(tempPath, { force: true });
      throw new Error(`blob "${digest}" does not match its content (got ${got.digest}, ${got.size} bytes${size === undefined ? '' : ` of ${size}`})`);
    }
    const path = this.blobPath(digest);
    await rename(tempPath, path);
    this.fresh.set(digest, Date.now());
    return path;
  }

  async putBlob(digest: string, bytes: Uint8Array): Promise<string> {
    await this.init();
    const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (got !== digest) throw new Error(`blob "${digest}" does not match its content (got ${got})`);
    const path = this.blobPath(digest);
    const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, bytes, { mode: 0o600 });
    await rename(tmp, path);
    this.fresh.set(digest, Date.now());
    return path;
  }

  async hasLayer(diffId: string): Promise<boolean> {
    const here = (await this.layerMeta(diffId)) !== undefined && (await stat(this.layerPath(diffId)).catch(() => undefined))?.isDirectory() === true;
    // found by a pull or an import that will name it: kept for that image even if the last image using it goes meanwhile
    if (here) this.fresh.set(diffId, Date.now());
    return here;
  }

  /**
   * Callers of one diff_id share one extraction; it is aborted only when every caller waiting
   * for it has aborted, and a caller that aborts stops waiting at once.
   */
  async stoppedExtractionsSettled(diffIds: readonly string[]): Promise<void> {
    await Promise.all(
      diffIds.map((d) => {
        const entry = this.extracting.get(d);
        return entry?.controller.signal.aborted ? entry.work.then(noop, noop) : undefined;
      }),
    );
  }

  applyLayer(blobPath: string, diffId: string, signal?: AbortSignal, opts: { budget?: UnpackBudget } = {}): Promise<{ sizeBytes: number }> {
    let shared = this.extracting.get(diffId);
    if (!shared) {
      const controller = new AbortController();
      const entry: SharedExtraction = { controller, waiters: 0, work: Promise.resolve({ sizeBytes: 0 }) };
      // the budget of the caller that started it (the image's total is checked again at commit)
      entry.work = this.extract(blobPath, diffId, controller.signal, opts.budget).finally(() => this.extracting.delete(diffId));
      this.extracting.set(diffId, entry);
      shared = entry;
    }
    return waitShared(shared, signal);
  }

  async commitImage(input: { configBytes: Uint8Array; manifestDigest?: string; repository?: string; names: string[]; source: string }): Promise<StoredImage> {
    await this.init();
    const id = `sha256:${createHash('sha256').update(input.configBytes).digest('hex')}`;
    const config = JSON.parse(Buffer.from(input.configBytes).toString('utf8')) as ImageConfig;
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (!Array.isArray(diffIds)) throw new Error(`image config "${id}" has no rootfs.diff_ids`);
    const layersHere = async (): Promise<{ sizeBytes: number; layerBlobs: string[] }> => {
      let sizeBytes = 0;
      const layerBlobs: string[] = [];
      for (const d of diffIds) {
        const meta = await this.layerMeta(d);
        if (!meta || !(await this.hasLayer(d))) throw new Error(`layer "${d}" of image "${id}" is not stored`);
        sizeBytes += meta.sizeBytes;
        layerBlobs.push(...meta.blobs);
      }
      return { sizeBytes, layerBlobs };
    };
    checkUnpackedTotal((await layersHere()).sizeBytes, this.limits.maxUnpackedBytes, `image "${id}"`);
    await this.putBlob(id, input.configBytes);
    const layers = diffIds.map((d) => this.layerPath(d)).reverse();
    let user: StoredImage['user'];
    let userError: string | undefined;
    try {
      user = resolveUser(config.config?.User, await readMergedFile(layers, '/etc/passwd'), await readMergedFile(layers, '/etc/group'));
    } catch (err) {
      userError = (err as Error).message;
    }
    return this.mutex.run(async () => {
      // again where collect runs: a layer another image's delete took away is never recorded as this one's
      const { sizeBytes, layerBlobs } = await layersHere();
      const old = await this.record(id);
      const repoDigest = input.manifestDigest && input.repository ? `${input.repository}@${input.manifestDigest}` : undefined;
      const image: StoredImage = {
        id,
        names: [...new Set([...input.names, ...(old?.names ?? [])])],
        manifestDigest: input.manifestDigest ?? old?.manifestDigest,
        repoDigests: [...new Set([...(repoDigest ? [repoDigest] : []), ...(old?.repoDigests ?? [])])],
        diffIds,
        config,
        sizeBytes,
        storedAt: old?.storedAt ?? new Date().toISOString(),
        source: old?.source ?? input.source,
        ...(user ? { user } : {}),
        ...(userError ? { userError } : {}),
      };
      if (image.manifestDigest === undefined) delete image.manifestDigest;
      await this.writeRecord(image);
      await this.claimNames(image, input.names);
      for (const d of [id, ...diffIds, ...layerBlobs, ...(input.manifestDigest ? [input.manifestDigest] : [])]) this.fresh.delete(d);
      return image;
    });
  }

  async find(nameOrId: string): Promise<StoredImage | undefined> {
    await this.init();
    if (DIGEST.test(nameOrId)) {
      const exact = await this.record(nameOrId);
      if (exact) return exact;
    }
    const names = await this.names();
    const named = names[nameOrId];
    if (named) return this.record(named);
    const m = ID_PREFIX.exec(nameOrId);
    const records = await this.list();
    if (m) {
      const hits = records.filter((r) => r.id.slice('sha256:'.length).startsWith(m[1] as string));
      if (hits.length === 1) return hits[0];
      if (hits.length > 1) throw new Error(`image id prefix "${nameOrId}" is ambiguous`);
    }
    return nameOrId.includes('@') ? records.find((r) => r.repoDigests.includes(nameOrId)) : undefined;
  }

  async list(): Promise<StoredImage[]> {
    await this.init();
    const files = (await readdir(join(this.base, 'images'))).filter((f) => /^[0-9a-f]{64}\.json$/.test(f));
    const records = await Promise.all(files.map((f) => this.record(`sha256:${f.slice(0, 64)}`)));
    return records.filter((r): r is StoredImage => r !== undefined).sort((a, b) => b.storedAt.localeCompare(a.storedAt));
  }

  /** Layers unpacked for another id range are brought into the server's first (once: see layer-ranges.ts). */
  async lowerDirs(image: StoredImage): Promise<string[]> {
    await this.init();
    const dirs: string[] = [];
    for (const d of [...image.diffIds].reverse()) {
      const meta = await this.layerMeta(d);
      if (!meta) throw new Error(`layer "${d}" of image "${image.id}" is not stored`);
      dirs.push(join(this.linkDir, (await this.ranges.current(meta)).link));
    }
    return dirs;
  }

  /**
   * The lower dirs as `l/<short>` relative to `base`, topmost first: for a mount made with `base`
   * as its working folder when the absolute paths would not fit in one page (about 4096 bytes
   * of options; 9 bytes a layer here against `base.length + 12` absolute).
   */
  async relativeLowerDirs(image: StoredImage): Promise<string[]> {
    return (await this.lowerDirs(image)).map((p) => p.slice(this.base.length + 1));
  }

  async tag(id: string, name: string): Promise<StoredImage> {
    const image = await this.find(id);
    if (!image) throw new Error(`image "${id}" does not exist`);
    return this.mutex.run(async () => {
      const current = (await this.record(image.id)) as StoredImage;
      const tagged = { ...current, names: [name, ...current.names.filter((n) => n !== name)] };
      await this.writeRecord(tagged);
      await this.claimNames(tagged, [name]);
      return tagged;
    });
  }

  async remove(nameOrId: string): Promise<{ removed: string[]; untagged: string[] }> {
    const image = await this.find(nameOrId);
    if (!image) throw new Error(`image "${nameOrId}" does not exist`);
    const result = await this.mutex.run(async () => {
      const current = await this.record(image.id);
      if (!current) return { removed: [], untagged: [] };
      const names = await this.names();
      if (current.names.includes(nameOrId) && current.names.length > 1) {
        // one of several names: only the name goes, as `docker rmi name` does
        delete names[nameOrId];
        await this.writeNames(names);
        await this.writeRecord({ ...current, names: current.names.filter((n) => n !== nameOrId) });
        return { removed: [], untagged: [nameOrId] };
      }
      for (const n of current.names) if (names[n] === current.id) delete names[n];
      await this.writeNames(names);
      await rm(this.recordPath(current.id), { force: true });
      return { removed: [current.id], untagged: current.names };
    });
    if (result.removed.length > 0) await this.collect();
    return result;
  }

  async prune(keep: ReadonlySet<string>): Promise<{ removed: string[]; reclaimedBytes: number }> {
    return this.removeImages((await this.list()).map((i) => i.id).filter((id) => !keep.has(id)));
  }

  async removeImages(ids: readonly string[]): Promise<{ removed: string[]; reclaimedBytes: number }> {
    const removed: string[] = [];
    for (const id of ids) {
      const gone = await this.mutex.run(async () => {
        const image = await this.record(id);
        if (!image) return false;
        const names = await this.names();
        for (const n of image.names) if (names[n] === image.id) delete names[n];
        await this.writeNames(names);
        await rm(this.recordPath(image.id), { force: true });
        return true;
      });
      if (gone) removed.push(id);
    }
    return { removed, reclaimedBytes: await this.collect() };
  }

  async sweep(): Promise<void> {
    await this.init();
    const dirs = [this.base, join(this.base, 'blobs', 'sha256'), join(this.base, 'layers'), join(this.base, 'images')];
    for (const dir of dirs) {
      for (const name of await readdir(dir)) if (name.endsWith('.tmp')) await rm(join(dir, name), { recursive: true, force: true });
    }
    // links whose layer never got committed (a crash between the link and the rename)
    for (const name of await readdir(this.linkDir)) {
      const link = join(this.linkDir, name);
      if (!(await stat(link).catch(() => undefined))) await rm(link, { force: true });
    }
    await this.ranges.dropParked();
  }

  /** Removes layers and blobs no image uses (and not stored within the last hour for an image on its way); returns the bytes freed. */
  private collect(): Promise<number> {
    return this.mutex.run(async () => {
      const images = await this.list();
      const now = Date.now();
      const isFresh = (key: string): boolean => (this.fresh.get(key) ?? 0) > now - FRESH_MS;
      const usedLayers = new Set(images.flatMap((i) => i.diffIds));
      const usedBlobs = new Set(images.flatMap((i) => [i.id, ...(i.manifestDigest ? [i.manifestDigest] : [])]));
      let freed = 0;
      for (const file of await readdir(join(this.base, 'layers'))) {
        const m = /^([0-9a-f]{64})\.json$/.exec(file);
        if (!m) continue;
        const diffId = `sha256:${m[1]}`;
        const meta = await this.layerMeta(diffId);
        if (usedLayers.has(diffId) || isFresh(diffId) || this.extracting.has(diffId) || this.ranges.isMoving(diffId)) {
          meta?.blobs.forEach((b) => usedBlobs.add(b));
          continue;
        }
        freed += meta?.sizeBytes ?? 0;
        if (meta) await rm(join(this.linkDir, meta.link), { force: true });
        const doomed = `${this.layerPath(diffId)}.${randomBytes(4).toString('hex')}.tmp`;
        // renamed first: a half-deleted folder is never taken for a layer
        await rename(this.layerPath(diffId), doomed).catch(() => undefined);
        await rm(join(this.base, 'layers', file), { force: true });
        await rm(doomed, { recursive: true, force: true });
      }
      for (const file of await readdir(join(this.base, 'blobs', 'sha256'))) {
        if (!/^[0-9a-f]{64}$/.test(file)) continue;
        const digest = `sha256:${file}`;
        if (usedBlobs.has(digest) || isFresh(digest)) continue;
        const path = join(this.base, 'blobs', 'sha256', file);
        freed += (await stat(path).catch(() => undefined))?.size ?? 0;
        await rm(path, { force: true });
      }
      await this.ranges.dropParked();
      return freed;
    });
  }

  private async extract(blobPath: string, diffId: string, signal?: AbortSignal, budget?: UnpackBudget): Promise<{ sizeBytes: number }> {
    await this.init();
    const hex = digestHex(diffId);
    const known = await this.layerMeta(diffId);
    if (known && (await this.hasLayer(diffId))) return { sizeBytes: known.sizeBytes };
    return this.limiter.run(async () => {
      const tmp = `${this.layerPath(diffId)}.tmp`;
      await rm(tmp, { recursive: true, force: true });
      try {
        const applied = await applyLayerTar(blobPath, tmp, this.opts.ids, signal, { maxBytes: this.limits.maxUnpackedBytes, maxEntries: this.limits.maxEntries, what: `layer "${diffId}"`, ...(budget ? { budget } : {}) });
        if (applied.diffId !== diffId) throw new Error(`layer "${diffId}" unpacked to diff_id "${applied.diffId}": the blob is not that layer`);
        if (applied.skippedDevices > 0) this.opts.log?.(`layer ${diffId}: ${applied.skippedDevices} device node(s) left out (a user namespace cannot make them)`);
        const blobHex = /\/blobs\/sha256\/([0-9a-f]{64})$/.exec(blobPath)?.[1];
        await this.mutex.run(async () => {
          const link = await this.freeLinkName(hex);
          const meta: LayerMeta = { diffId, link, sizeBytes: applied.sizeBytes, blobs: blobHex && blobPath.startsWith(this.base) ? [`sha256:${blobHex}`] : [], ids: this.opts.ids };
          await atomicWrite(join(this.base, 'layers', `${hex}.json`), JSON.stringify(meta));
          await rm(join(this.linkDir, link), { force: true });
          await symlink(`../layers/${hex}`, join(this.linkDir, link));
          await rename(tmp, this.layerPath(diffId));
        });
        this.fresh.set(diffId, Date.now());
        return { sizeBytes: applied.sizeBytes };
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
        throw err;
      }
    });
  }

  /** An 8-character link name no other layer has, derived from the diff_id (then random on a clash). */
  private async freeLinkName(hex: string): Promise<string> {
    let name = [...Buffer.from(hex.slice(0, 16), 'hex')].map((b) => LINK_CHARS[b % LINK_CHARS.length]).join('').slice(0, 8);
    for (;;) {
      const target = await readlink(join(this.linkDir, name)).catch(() => undefined);
      if (target === undefined || target === `../layers/${hex}`) return name;
      name = [...randomBytes(8)].map((b) => LINK_CHARS[b % LINK_CHARS.length]).join('');
    }
  }

  /** Moves `names` to `image`: other images lose them; the names index follows. */
  private async claimNames(image: StoredImage, names: readonly string[]): Promise<void> {
    const index = await this.names();
    for (const name of names) {
      const other = index[name];
      if (other && other !== image.id) {
        const rec = await this.record(other);
        if (rec) await this.writeRecord({ ...rec, names: rec.names.filter((n) => n !== name) });
      }
      index[name] = image.id;
    }
    await this.writeNames(index);
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await makePrivateDir(this.opts.root);
      await makePrivateDir(this.base);
      for (const d of STORE_DIRS) await mkdir(join(this.base, d), { recursive: true, mode: 0o700 });
      await this.ranges.open();
    })();
    return this.ready;
  }

  /** init for blobTempPath, which must answer at once: a few mkdir calls, once per store. */
  private initSync(): void {
    if (this.madeSync) return;
    for (const d of [this.opts.root, this.base]) {
      mkdirSync(d, { recursive: true, mode: 0o700 });
      chmodSync(d, 0o700);
    }
    for (const d of STORE_DIRS) mkdirSync(join(this.base, d), { recursive: true, mode: 0o700 });
    this.madeSync = true;
  }

  private blobPath(digest: string): string {
    return join(this.base, 'blobs', 'sha256', digestHex(digest));
  }

  private layerPath(diffId: string): string {
    return join(this.base, 'layers', digestHex(diffId));
  }

  private recordPath(id: string): string {
    return join(this.base, 'images', `${digestHex(id)}.json`);
  }

  private async layerMeta(diffId: string): Promise<LayerMeta | undefined> {
    return readJson<LayerMeta>(join(this.base, 'layers', `${digestHex(diffId)}.json`));
  }

  private record(id: string): Promise<StoredImage | undefined> {
    return readJson<StoredImage>(this.recordPath(id));
  }

  private writeRecord(image: StoredImage): Promise<void> {
    return atomicWrite(this.recordPath(image.id), JSON.stringify(image, null, 2));
  }

  private async names(): Promise<Record<string, string>> {
    return (await readJson<Record<string, string>>(join(this.base, 'names.json'))) ?? {};
  }

  private writeNames(names: Record<string, string>): Promise<void> {
    return atomicWrite(join(this.base, 'names.json'), JSON.stringify(names, null, 2));
  }
}

/** One extraction and how many callers still wait for it. */
const noop = (): void => undefined;

interface SharedExtraction {
  controller: AbortController;
  waiters: number;
  work: Promise<{ sizeBytes: number }>;
}

/** The shared work's result for one caller; its abort ends its wait and, when it was the last waiter, the work. */
function waitShared(shared: SharedExtraction, signal?: AbortSignal): Promise<{ sizeBytes: number }> {
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  shared.waiters++;
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      if (--shared.waiters === 0) shared.controller.abort(signal?.reason);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    shared.work.then(resolve, reject).finally(() => signal?.removeEventListener('abort', onAbort));
  });
}
