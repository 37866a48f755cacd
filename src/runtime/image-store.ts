/**
 * Every image this server can run a container from, behind one facade: the folder images (the
 * built-in `busybox`, rootfs tarballs) and the layered images of the content store (pulled from
 * registries or imported from `docker save`/`oci-archive` tarballs).
 *
 * The bare name `busybox` means the built-in image, not Docker's `docker.io/library/busybox:latest`
 * (a deliberate deviation from Docker's normalisation, so that existing containers keep their
 * image): write `busybox:1.36` or `docker.io/library/busybox` to pull it. Every other name is an
 * image reference, resolved in the content store.
 */
import type { ArchiveImporter, ContentStore, ImagePuller, ImageProgress, Platform, ResolvedUser, StoredImage } from '../images/types.ts';
import { InvalidReferenceError, parseReference } from '../images/reference.ts';
import { InvalidArchiveError } from '../images/archive-list.ts';
import { DEFAULT_IMAGE_LIMITS, type ImageLimits, checkUploadBytes, isTooLarge } from '../images/limits.ts';
import { DEFAULT_ID_RANGE, type IdRange } from './id-range.ts';
import { BUILTIN_BUSYBOX, RootfsImages, type ImageInfo } from './rootfs-images.ts';
import { ImageError, registryErrorKind } from './image-error.ts';
import { imageProcess } from './runc/oci-spec.ts';
import { KeyedRwLock } from '../images/store-locks.ts';

export { ImageError } from './image-error.ts';
export type { ImageInfo } from './rootfs-images.ts';

/** How the image says its process runs (its config, with the user resolved). */
export interface ImageRun {
  entrypoint: string[];
  cmd: string[];
  /** `KEY=value`, as in the image config. */
  env: string[];
  workingDir: string;
  user?: ResolvedUser;
  /** Why the image's User cannot be resolved; a container of it cannot be created. */
  userError?: string;
}

/** What the runtime needs to run a container of an image. */
export interface RunnableImage {
  id: string;
  name: string;
  /** The overlay's lower folders, topmost first. */
  lowers: string[];
  run: ImageRun;
  builtin: boolean;
}

/** One image as the API shows it. */
export interface ImageSummary {
  /** `sha256:<hex>` (the config digest), or `builtin:busybox` / `rootfs:<name>` for folder images. */
  id: string;
  name: string;
  names: string[];
  repoDigests: string[];
  sizeBytes: number;
  layers: number;
  createdAt: string;
  storedAt: string;
  source: string;
  builtin: boolean;
  config: { entrypoint: string[]; cmd: string[]; env: string[]; workingDir: string; user: string; exposedPorts: string[]; labels: Record<string, string> };
  history: { created?: string; createdBy?: string; comment?: string; emptyLayer?: boolean }[];
}

/** When a container's image is pulled: when missing here (default), every time, or never. */
export type PullPolicy = 'missing' | 'always' | 'never';

/** An image kept from delete and prune until `release` is called (calling it again does nothing). */
export interface ImageLease {
  id: string;
  release(): void;
}

/** How a text named a stored image: its exact id, one of its names, a repo digest, or an id prefix. */
export interface StoredMatch {
  image: StoredImage;
  by: 'id' | 'name' | 'repo-digest' | 'prefix';
  /** The normalised name, when `by` is `name`. */
  name?: string;
}

/** The parts that store and fetch layered images; without them only folder images exist. */
export interface ImageParts {
  content?: ContentStore;
  puller?: ImagePuller;
  importer?: ArchiveImporter;
  /** The limits the puller and importer were made with (the defaults when absent). */
  limits?: ImageLimits;
}

const FOLDER_ID = /^(builtin|rootfs):([a-z0-9][a-z0-9._-]{0,127})$/;
const FOLDER_NAME = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const FULL_ID = /^(?:sha256:)?([a-f0-9]{64})$/;
const ID_PREFIX = /^(?:sha256:)?([a-f0-9]{12,63})$/;
/** Tries of a lookup whose image was deleted (or whose name moved) between finding it and holding it. */
const HOLD_TRIES = 3;
const ROOT_USER: ResolvedUser = { uid: 0, gid: 0, additionalGids: [], home: '/root' };

/** The facade the driver, the core and the API use; keeps the id range of folder images. */
export class ImageStore {
  readonly folders: RootfsImages;
  /** Stored images by full id, as a container's create and start ask for them: an id's content never changes. */
  private readonly runnable = new Map<string, RunnableImage>();
  /**
   * By image id: held shared by whatever relies on the image staying (a new container until its
   * row is written, a start while it mounts the layers), alone by what removes it (delete, prune),
   * which checks under it that no container uses the image.
   */
  private readonly locks = new KeyedRwLock();

  constructor(
    readonly root: string,
    readonly ids: IdRange = DEFAULT_ID_RANGE,
    private readonly parts: ImageParts = {},
  ) {
    this.folders = new RootfsImages(root, ids);
  }

  /** The largest archive `importArchive` takes. */
  get importMaxBytes(): number {
    return this.parts.limits?.importMaxBytes ?? DEFAULT_IMAGE_LIMITS.importMaxBytes;
  }

  /** Throws too-large when an archive of `bytes` (a declared Content-Length) is more than `importArchive` takes. */
  checkImportSize(bytes: number): void {
    try {
      checkUploadBytes(bytes, this.importMaxBytes, 'the archive', true);
    } catch (err) {
      throw new ImageError('too-large', `cannot import: ${(err as Error).message}`, limitDetails(err));
    }
  }

  /** The read-only root filesystem of a folder image, building the built-in one if needed. */
  rootfs(name: string, signal?: AbortSignal): Promise<string> {
    return this.folders.rootfs(name, signal);
  }

  /** Imports a rootfs tarball (e.g. `docker export` output) as a folder image. */
  importTarball(name: string, tarball: string, opts: { defaultCommand?: string[] } = {}, signal?: AbortSignal): Promise<ImageInfo> {
    return this.folders.importTarball(name, tarball, opts, signal);
  }

  /** What a container of the image (name or id) runs from; builds `busybox` on first use; throws not-found. */
  async require(nameOrId: string, signal?: AbortSignal): Promise<RunnableImage> {
    const folder = await this.folderName(nameOrId);
    if (folder !== undefined) {
      const info = await this.folders.require(folder, signal);
      return { id: folderId(folder), name: folder, lowers: [await this.folders.rootfs(folder, signal)], run: folderRun(info), builtin: folder === BUILTIN_BUSYBOX };
    }
    const known = this.runnable.get(nameOrId);
    if (known) return known;
    const stored = (await this.findStored(nameOrId))?.image;
    if (!stored || !this.parts.content) throw notFound(nameOrId);
    const image: RunnableImage = { id: stored.id, name: stored.names[0] ?? stored.id, lowers: await this.parts.content.lowerDirs(stored), run: storedRun(stored), builtin: false };
    if (nameOrId === stored.id) this.runnable.set(stored.id, image);
    return image;
  }

  /** Whether the image is here (or is the built-in one while busybox-static is installed). */
  async exists(nameOrId: string): Promise<boolean> {
    return (await this.resolve(nameOrId).catch(() => undefined)) !== undefined;
  }

  /** The image's id, or undefined when it is not here; throws invalid-reference for a bad name. */
  async resolve(text: string): Promise<string | undefined> {
    const folder = await this.folderName(text);
    if (folder !== undefined) return (await this.folders.exists(folder)) ? folderId(folder) : undefined;
    return (await this.findStored(text))?.image.id;
  }

  /**
   * Runs `work` with the image (name or id) while no delete or prune can remove it: the driver
   * mounts a container's layers in it. Throws not-found when the image is gone.
   */
  async using<T>(nameOrId: string, work: (image: RunnableImage) => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const first = await this.require(nameOrId, signal);
      const release = await this.locks.acquireRead(first.id);
      try {
        // deleted while we waited: the cached record must not be trusted
        if (!(await this.stillThere(first.id))) {
          this.runnable.delete(first.id);
          throw notFound(nameOrId);
        }
        const image = await this.require(nameOrId, signal);
        if (image.id === first.id) return await work(image);
      } finally {
        release();
      }
      // the name moved to another image meanwhile
      if (attempt >= HOLD_TRIES) throw notFound(nameOrId);
    }
  }

  /** Every image: the folder images (busybox always) and the stored ones. */
  async list(): Promise<ImageSummary[]> {
    const folders = (await this.folders.list()).map(folderSummary);
    const stored = this.parts.content ? (await this.parts.content.list()).map(storedSummary) : [];
    return [...folders, ...stored];
  }

  /** One image by name or id; throws not-found. */
  async get(nameOrId: string): Promise<ImageSummary> {
    const folder = await this.folderName(nameOrId);
    if (folder !== undefined) {
      const info = (await this.folders.list()).find((i) => i.name === folder);
      if (!info) throw notFound(nameOrId);
      return folderSummary(info);
    }
    const stored = (await this.findStored(nameOrId))?.image;
    if (!stored) throw notFound(nameOrId);
    return storedSummary(stored);
  }

  /** Pulls from the reference's registry (always: a bare `busybox` here means Docker Hub's). */
  async pull(reference: string, opts: { platform?: Platform; signal?: AbortSignal; onProgress?: (p: ImageProgress) => void } = {}): Promise<ImageSummary> {
    const ref = parse(reference);
    const puller = this.parts.puller;
    if (!puller) throw new ImageError('unavailable', 'this server cannot pull images: no image store is configured');
    try {
      return storedSummary(await puller.pull(ref.canonical, opts));
    } catch (err) {
      if (err instanceof ImageError) throw err;
      // the caller gave up (its client went away): its own reason, not a registry's failure
      if (opts.signal?.aborted && err === opts.signal.reason) throw err;
      if (err instanceof InvalidReferenceError) throw new ImageError('invalid-reference', err.message, { reference });
      const kind = registryErrorKind(err);
      const message = err instanceof Error ? err.message : String(err);
      if (isTooLarge(err)) throw new ImageError('too-large', `cannot pull "${reference}": ${message}`, { reference, kind, registry_message: message, ...limitDetails(err) });
      throw new ImageError('pull-failed', `cannot pull "${reference}": ${message}`, { reference, kind, registry_message: message });
    }
  }

  /**
   * Makes the image of a new container available as the policy says and checks that a container
   * with this command can run from it; answers the image's id (what the container is pinned to).
   */
  async ensure(reference: string, opts: { pull?: PullPolicy; command?: string[] | null; platform?: Platform; signal?: AbortSignal } = {}): Promise<string> {
    const lease = await this.hold(reference, opts);
    lease.release();
    return lease.id;
  }

  /**
   * ensure, answering the image held: no delete or prune removes it until the lease is released.
   * A new container holds it until its row is written; from then on delete sees the container.
   */
  async hold(reference: string, opts: { pull?: PullPolicy; command?: string[] | null; platform?: Platform; signal?: AbortSignal } = {}): Promise<ImageLease> {
    for (let attempt = 1; ; attempt++) {
      // pulled once: a retry after a delete that came in between takes what is here
      const id = await this.ensureOnce(reference, { ...opts, pull: attempt > 1 && opts.pull === 'always' ? 'missing' : opts.pull });
      const release = await this.locks.acquireRead(id);
      if (await this.stillThere(id)) return { id, release };
      release();
      this.runnable.delete(id);
      if (attempt >= HOLD_TRIES) throw notFound(reference);
    }
  }

  private async ensureOnce(reference: string, opts: { pull?: PullPolicy; command?: string[] | null; platform?: Platform; signal?: AbortSignal }): Promise<string> {
    const policy = opts.pull ?? 'missing';
    const folder = await this.folderName(reference);
    if (folder !== undefined) {
      const info = (await this.folders.read(folder)) ?? (await this.folders.list()).find((i) => i.name === folder);
      if (!info) throw notFound(reference);
      checkRunnable(reference, folderRun(info), opts.command ?? null);
      return folderId(folder);
    }
    let stored = policy === 'always' ? undefined : (await this.findStored(reference))?.image;
    if (!stored) {
      if (policy === 'never') throw notFound(reference);
      const pulled = await this.pull(reference, { ...(opts.platform ? { platform: opts.platform } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
      stored = (await this.findStored(pulled.id))?.image;
      if (!stored) throw notFound(reference);
    }
    checkRunnable(reference, storedRun(stored), opts.command ?? null);
    return stored.id;
  }

  /** Whether the image with this id is still here (folder images: while their folder is). */
  private async stillThere(id: string): Promise<boolean> {
    const folder = FOLDER_ID.exec(id);
    if (folder) return folder[1] === 'builtin' || (await this.folders.read(folder[2] as string)) !== undefined;
    return (await this.parts.content?.find(id))?.id === id;
  }

  /** Imports a `docker save`, `podman save` or `oci-archive` tarball. */
  async importArchive(input: NodeJS.ReadableStream | string, opts: { signal?: AbortSignal; source?: string; onProgress?: (p: ImageProgress) => void } = {}): Promise<ImageSummary[]> {
    if (!this.parts.importer) throw new ImageError('unavailable', 'this server cannot import images: no image store is configured');
    try {
      return (await this.parts.importer.importArchive(input, opts)).map(storedSummary);
    } catch (err) {
      if (isTooLarge(err)) throw new ImageError('too-large', `cannot import: ${(err as Error).message}`, limitDetails(err));
      if (err instanceof InvalidArchiveError) throw new ImageError('invalid-archive', `cannot import: ${err.message}`);
      // a name in the archive (RepoTags, an annotation) that is no reference
      if (err instanceof InvalidReferenceError) throw new ImageError('invalid-archive', `cannot import: ${err.message} (a name in the archive)`);
      throw err;
    }
  }

  /**
   * Removes a name, or an image with all its names (its unused layers go with it). `check` runs
   * while the image is held alone, before an image (not a mere name) is removed: it throws to
   * refuse (the image is in use); no container can take the image up meanwhile.
   */
  async remove(nameOrId: string, opts: { check?: (id: string) => Promise<void> } = {}): Promise<{ removed: string[]; untagged: string[] }> {
    const folder = await this.folderName(nameOrId);
    if (folder === BUILTIN_BUSYBOX) throw builtin(nameOrId);
    if (folder !== undefined) {
      return this.locks.write(folderId(folder), async () => {
        if (!(await this.folders.read(folder))) throw notFound(nameOrId);
        await opts.check?.(folderId(folder));
        await this.folders.remove(folder);
        this.runnable.delete(folderId(folder));
        return { removed: [folderId(folder)], untagged: [folder] };
      });
    }
    const content = this.parts.content;
    for (let attempt = 1; ; attempt++) {
      const first = await this.findStored(nameOrId);
      if (!first || !content) throw notFound(nameOrId);
      const result = await this.locks.write(first.image.id, async () => {
        // what the text names now: a name may have moved, the image may be gone
        const match = await this.findStored(nameOrId);
        if (!match) throw notFound(nameOrId);
        if (match.image.id !== first.image.id) return undefined;
        // a name (as written or normalised) of an image with other names removes that name alone
        const onlyAName = match.by === 'name' && match.image.names.length > 1;
        if (!onlyAName) await opts.check?.(match.image.id);
        const removed = await content.remove(onlyAName ? (match.name as string) : match.image.id);
        for (const id of removed.removed) this.runnable.delete(id);
        return removed;
      });
      if (result) return result;
      if (attempt >= HOLD_TRIES) throw notFound(nameOrId);
    }
  }

  /** Gives a stored image one more name (moved from any image that had it). */
  async tag(nameOrId: string, name: string): Promise<ImageSummary> {
    const folder = await this.folderName(nameOrId);
    if (folder !== undefined) throw builtin(nameOrId);
    const ref = parse(name);
    if (ref.name === BUILTIN_BUSYBOX || name === BUILTIN_BUSYBOX) throw builtin(name);
    const stored = (await this.findStored(nameOrId))?.image;
    if (!stored || !this.parts.content) throw notFound(nameOrId);
    return storedSummary(await this.parts.content.tag(stored.id, ref.name));
  }

  /**
   * Removes the stored images no container uses and the layers no image uses. Every stored image
   * is held alone first; `inUse` (the ids containers use) is asked then, so no container can take
   * up an image between the check and its removal.
   */
  async prune(inUse: () => Promise<ReadonlySet<string>>): Promise<{ removed: string[]; reclaimedBytes: number }> {
    const content = this.parts.content;
    if (!content) return { removed: [], reclaimedBytes: 0 };
    // in one order: two prunes never wait for each other's locks in a circle
    const ids = (await content.list()).map((i) => i.id).sort();
    const releases: (() => void)[] = [];
    try {
      for (const id of ids) releases.push(await this.locks.acquireWrite(id));
      const used = await inUse();
      const pruned = await content.removeImages(ids.filter((id) => !used.has(id)));
      for (const id of pruned.removed) this.runnable.delete(id);
      return pruned;
    } finally {
      for (const release of releases) release();
    }
  }

  /** Removes temp leftovers of interrupted writes (at start-up). */
  async sweep(): Promise<void> {
    await this.parts.content?.sweep();
  }

  /** The folder image a text names: `busybox` always, another bare name with a folder, or a `builtin:`/`rootfs:` id. */
  private async folderName(text: string): Promise<string | undefined> {
    const id = FOLDER_ID.exec(text);
    if (id) return id[2];
    if (text === BUILTIN_BUSYBOX) return text;
    if (FOLDER_NAME.test(text) && (await this.folders.read(text))) return text;
    return undefined;
  }

  /**
   * The one rule that turns a text into a stored image, for get, delete, tag, container create
   * and start (folder images, `busybox` above all, are looked up before it):
   * 1. an exact id: `sha256:<64 hex>`, or the 64 hex digits alone;
   * 2. a reference, normalised as Docker does (`nginx` is `docker.io/library/nginx:latest`): one
   *    of an image's names, or with a digest one of its repo digests;
   * 3. a prefix of 12 to 63 hex digits (`sha256:` optional) of exactly one image's id; a prefix of
   *    several is refused as ambiguous (a name that looks like hex is a name first, as in step 2).
   * Throws invalid-reference for a text that is none of these, ambiguous for such a prefix.
   */
  private async findStored(text: string): Promise<StoredMatch | undefined> {
    const content = this.parts.content;
    const full = FULL_ID.exec(text);
    if (full && content) {
      const id = `sha256:${full[1] as string}`;
      const image = await content.find(id);
      if (image?.id === id) return { image, by: 'id' };
    }
    const prefix = ID_PREFIX.exec(text);
    let ref: ReturnType<typeof parseReference> | undefined;
    try {
      ref = parseReference(text);
    } catch (err) {
      if (!(err instanceof InvalidReferenceError)) throw err;
      if (!prefix && !full) throw new ImageError('invalid-reference', err.message, { reference: text });
    }
    if (!content) return undefined;
    if (ref) {
      if (ref.digest) {
        const byDigest = await content.find(`${ref.domain}/${ref.repository}@${ref.digest}`);
        if (byDigest) return byDigest.names.includes(ref.name) ? { image: byDigest, by: 'name', name: ref.name } : { image: byDigest, by: 'repo-digest' };
      }
      const named = await content.find(ref.name);
      if (named?.names.includes(ref.name)) return { image: named, by: 'name', name: ref.name };
    }
    if (!prefix) return undefined;
    const hex = prefix[1] as string;
    const hits = (await content.list()).filter((i) => i.id.startsWith(`sha256:${hex}`));
    if (hits.length > 1) {
      throw new ImageError('ambiguous', `image id prefix "${text}" matches ${hits.length} images: give more of the id, or the full id`, { image: text, matches: hits.map((i) => i.id).sort() });
    }
    return hits[0] ? { image: hits[0], by: 'prefix' } : undefined;
  }
}

function parse(text: string): ReturnType<typeof parseReference> {
  try {
    return parseReference(text);
  } catch (err) {
    if (err instanceof InvalidReferenceError) throw new ImageError('invalid-reference', err.message, { reference: text });
    throw err;
  }
}

/** The limit's `details` (resource, max, requested, setting) an ImageTooLargeError carries; a registry's too-large answer is a manifest, index or config over its fixed cap. */
const limitDetails = (err: unknown): Record<string, unknown> => ({ ...((err as { details?: Record<string, unknown> }).details ?? { resource: 'manifest-bytes' }) });

const notFound = (text: string): ImageError => new ImageError('not-found', `image "${text}" does not exist on this server`, { container_image: text });
const builtin = (text: string): ImageError => new ImageError('builtin', `image "${text}" is built in: it cannot be removed or tagged`, { image: text });
const folderId = (name: string): string => (name === BUILTIN_BUSYBOX ? `builtin:${name}` : `rootfs:${name}`);

/** Throws when a container with this command could not run from the image. */
function checkRunnable(reference: string, run: ImageRun, command: string[] | null): void {
  try {
    imageProcess({ image: reference, command, env: {}, hostname: 'x' }, run);
  } catch (err) {
    throw new ImageError('not-runnable', (err as Error).message, { container_image: reference });
  }
}

function folderRun(info: ImageInfo): ImageRun {
  return { entrypoint: [], cmd: info.defaultCommand, env: [], workingDir: '/', user: ROOT_USER };
}

/** The run settings of a stored image's config. */
export function storedRun(image: StoredImage): ImageRun {
  const c = image.config.config ?? {};
  const user = image.user ?? (c.User ? undefined : { uid: 0, gid: 0, additionalGids: [], home: '/' });
  return {
    entrypoint: c.Entrypoint ?? [],
    cmd: c.Cmd ?? [],
    env: c.Env ?? [],
    workingDir: c.WorkingDir ?? '',
    ...(user ? { user } : {}),
    ...(image.userError !== undefined ? { userError: image.userError } : c.User && !image.user ? { userError: `image user "${c.User}" cannot be resolved` } : {}),
  };
}

function folderSummary(info: ImageInfo): ImageSummary {
  return {
    id: folderId(info.name),
    name: info.name,
    names: [info.name],
    repoDigests: [],
    sizeBytes: info.sizeBytes,
    layers: 1,
    createdAt: info.createdAt,
    storedAt: info.createdAt,
    source: info.source,
    builtin: info.name === BUILTIN_BUSYBOX,
    config: { entrypoint: [], cmd: info.defaultCommand, env: [], workingDir: '/', user: '', exposedPorts: [], labels: {} },
    history: [],
  };
}

/** The API's view of a stored image. */
export function storedSummary(image: StoredImage): ImageSummary {
  const c = image.config.config ?? {};
  return {
    id: image.id,
    name: image.names[0] ?? image.id,
    names: image.names,
    repoDigests: image.repoDigests,
    sizeBytes: image.sizeBytes,
    layers: image.diffIds.length,
    createdAt: image.config.created ?? image.storedAt,
    storedAt: image.storedAt,
    source: image.source,
    builtin: false,
    config: {
      entrypoint: c.Entrypoint ?? [],
      cmd: c.Cmd ?? [],
      env: c.Env ?? [],
      workingDir: c.WorkingDir ?? '',
      user: c.User ?? '',
      exposedPorts: Object.keys(c.ExposedPorts ?? {}),
      labels: c.Labels ?? {},
    },
    history: (image.config.history ?? []).map((h) => ({
      ...(h.created !== undefined ? { created: h.created } : {}),
      ...(h.created_by !== undefined ? { createdBy: h.created_by } : {}),
      ...(h.comment !== undefined ? { comment: h.comment } : {}),
      ...(h.empty_layer !== undefined ? { emptyLayer: h.empty_layer } : {}),
    })),
  };
}
