/**
 * Pulls images into the content store: resolve, download the blobs the store lacks (three at
 * once), unpack each new layer (the store limits extraction itself), record the image.
 * Concurrent pulls of one reference and platform share one job.
 */
import { hostPlatform, formatPlatform } from './platform.ts';
import { parseReference } from './reference.ts';
import { isAbortError } from './registry-error.ts';
import type { RegistryClient, ResolvedImage } from './registry-client.ts';
import type { ContentStore, ImageProgress, ImagePuller, ImageReference, LayerSource, Platform, PullOptions, StoredImage } from './types.ts';
import { Limiter } from './store-locks.ts';
import { DEFAULT_IMAGE_LIMITS, type ImageLimits, UnpackBudget } from './limits.ts';

/** Parallel blob downloads per pull. */
export const PULL_DOWNLOAD_CONCURRENCY = 3;
/** The shortest gap between two 'download' progress events of one layer. */
export const PROGRESS_INTERVAL_MS = 100;

interface Job {
  promise: Promise<StoredImage>;
  listeners: Set<(p: ImageProgress) => void>;
  callers: number;
  controller: AbortController;
  /** Replayed to callers who join after it was sent. */
  resolved?: ImageProgress;
}

/** The ImagePuller on a RegistryClient and a ContentStore. */
export class Puller implements ImagePuller {
  private readonly jobs = new Map<string, Job>();
  private readonly downloading = new Map<string, Promise<string>>();
  private readonly applying = new Map<string, Promise<{ sizeBytes: number }>>();
  private readonly client: RegistryClient;
  private readonly store: ContentStore;
  private readonly platform: Platform;
  private readonly limits: Pick<ImageLimits, 'maxUnpackedBytes' | 'maxEntries'>;

  /** `limits`: what one pull may unpack, all its new layers together (the defaults when absent). */
  constructor(opts: { client: RegistryClient; store: ContentStore; platform?: Platform; limits?: Partial<Pick<ImageLimits, 'maxUnpackedBytes' | 'maxEntries'>> }) {
    this.client = opts.client;
    this.store = opts.store;
    this.platform = opts.platform ?? hostPlatform();
    this.limits = { maxUnpackedBytes: opts.limits?.maxUnpackedBytes ?? DEFAULT_IMAGE_LIMITS.maxUnpackedBytes, maxEntries: opts.limits?.maxEntries ?? DEFAULT_IMAGE_LIMITS.maxEntries };
  }

  /** Pulls `reference` (joining a pull of it already running); rejects when the caller's signal aborts. */
  pull(reference: string, opts: PullOptions = {}): Promise<StoredImage> {
    let ref: ImageReference;
    try {
      ref = parseReference(reference);
    } catch (err) {
      return Promise.reject(err);
    }
    // an already-aborted caller must not start a job nobody would stop
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
    const platform = opts.platform ?? this.platform;
    const key = `${ref.canonical} ${formatPlatform(platform)}`;
    let job = this.jobs.get(key);
    if (!job) {
      const controller = new AbortController();
      const listeners = new Set<(p: ImageProgress) => void>();
      const created: Job = { listeners, callers: 0, controller, promise: undefined as unknown as Promise<StoredImage> };
      const emit = (p: ImageProgress) => {
        if (p.kind === 'resolved') created.resolved = p;
        for (const l of listeners) {
          try {
            l(p);
          } catch {
            // a listener's failure is its own business
          }
        }
      };
      created.promise = this.run(ref, platform, emit, controller.signal).finally(() => this.forget(key, created));
      created.promise.catch(() => {});
      this.jobs.set(key, created);
      job = created;
    }
    return this.join(key, job, opts);
  }

  private forget(key: string, job: Job): void {
    if (this.jobs.get(key) === job) this.jobs.delete(key);
  }

  private join(key: string, job: Job, opts: PullOptions): Promise<StoredImage> {
    const { signal, onProgress } = opts;
    if (signal?.aborted) return Promise.reject(signal.reason);
    job.callers++;
    if (onProgress) {
      if (job.resolved) onProgress(job.resolved);
      job.listeners.add(onProgress);
    }
    return new Promise<StoredImage>((resolve, reject) => {
      const leave = () => {
        if (onProgress) job.listeners.delete(onProgress);
        signal?.removeEventListener('abort', onAbort);
        job.callers--;
      };
      const onAbort = () => {
        leave();
        // the last caller gone: stop downloading (partial files stay for a resume)
        if (job.callers === 0) {
          // a new caller starts afresh instead of joining a job being torn down
          this.forget(key, job);
          job.controller.abort(signal?.reason);
        }
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      job.promise.then(
        (image) => {
          leave();
          resolve(image);
        },
        (err) => {
          leave();
          reject(err);
        },
      );
    });
  }

  private async run(ref: ImageReference, platform: Platform, emit: (p: ImageProgress) => void, signal: AbortSignal): Promise<StoredImage> {
    const resolved = await this.client.resolve(ref, platform, signal);
    emit({ kind: 'resolved', reference: ref.canonical, manifestDigest: resolved.manifestDigest, layers: resolved.layers.map((l) => ({ digest: l.digest, size: l.size })) });
    // one failing layer stops the others
    const inner = new AbortController();
    const onOuter = () => inner.abort(signal.reason);
    signal.addEventListener('abort', onOuter, { once: true });
    try {
      const downloads = new Limiter(PULL_DOWNLOAD_CONCURRENCY);
      // the new layers of this pull together: a layer past it (or past the per-layer limit) stops as it unpacks
      const budget = new UnpackBudget(this.limits, `image "${ref.canonical}"`);
      const layers = uniqueLayers(resolved);
      const work = layers.map((layer) => this.layer(ref, layer, downloads, budget, emit, inner.signal));
      const results = await Promise.allSettled(work.map((p) => p.catch((err) => (inner.abort(err), Promise.reject(err)))));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) {
        // a stopped layer's extraction stops waiting callers at once and cleans up after: a failed pull answers once nothing of it is left
        await this.store.stoppedExtractionsSettled?.(layers.map((l) => l.diffId));
        throw signal.aborted ? signal.reason : failed.reason;
      }
    } finally {
      signal.removeEventListener('abort', onOuter);
    }
    signal.throwIfAborted();
    return this.store.commitImage({ configBytes: resolved.configBytes, manifestDigest: resolved.manifestDigest, repository: `${ref.domain}/${ref.repository}`, names: [ref.name], source: `pull ${ref.canonical}` });
  }

  private async layer(ref: ImageReference, layer: LayerSource, downloads: Limiter, budget: UnpackBudget, emit: (p: ImageProgress) => void, signal: AbortSignal): Promise<void> {
    if (await this.store.hasLayer(layer.diffId)) {
      emit({ kind: 'layer-exists', digest: layer.digest, diffId: layer.diffId });
      return;
    }
    let blobPath = await this.store.blob(layer.digest);
    if (!blobPath) blobPath = await this.shared(this.downloading, layer.digest, signal, (s) => downloads.run(() => this.download(ref, layer, emit, s)));
    signal.throwIfAborted();
    emit({ kind: 'extracting', diffId: layer.diffId, digest: layer.digest });
    const path = blobPath;
    const { sizeBytes } = await this.shared(this.applying, layer.diffId, signal, (s) => this.store.applyLayer(path, layer.diffId, s, { budget }));
    emit({ kind: 'extracted', diffId: layer.diffId, sizeBytes, digest: layer.digest });
  }

  private async download(ref: ImageReference, layer: LayerSource, emit: (p: ImageProgress) => void, signal: AbortSignal): Promise<string> {
    signal.throwIfAborted();
    const temp = this.store.blobTempPath(layer.digest);
    let last = 0;
    await this.client.downloadBlob(ref, layer, temp, {
      signal,
      onProgress: (downloaded, total) => {
        const now = Date.now();
        if (now - last < PROGRESS_INTERVAL_MS && downloaded < total) return;
        last = now;
        emit({ kind: 'download', digest: layer.digest, downloaded, total });
      },
    });
    const path = await this.store.commitBlob(temp, layer.digest, layer.size);
    emit({ kind: 'downloaded', digest: layer.digest });
    return path;
  }

  /**
   * Runs `task` once per key across all pulls (two images sharing a blob must not write one temp
   * file twice); a pull that joined another's task starts its own if that one was aborted.
   */
  private async shared<T>(map: Map<string, Promise<T>>, key: string, signal: AbortSignal, task: (signal: AbortSignal) => Promise<T>): Promise<T> {
    for (;;) {
      signal.throwIfAborted();
      const running = map.get(key);
      if (!running) {
        const p = task(signal).finally(() => map.delete(key));
        map.set(key, p);
        return p;
      }
      try {
        return await running;
      } catch (err) {
        // the other pull was cancelled, not this one: try again here
        if (signal.aborted || !isAbortError(err)) throw err;
      }
    }
  }
}

/** Layers once each: an image may list one blob twice (an empty layer, say). */
function uniqueLayers(resolved: ResolvedImage): LayerSource[] {
  const seen = new Set<string>();
  return resolved.layers.filter((l) => !seen.has(l.diffId) && !!seen.add(l.diffId));
}
