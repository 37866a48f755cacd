/**
 * The shapes shared by the image subsystem's parts: references, the registry client, the
 * content store, archive import and the puller. Pure types and constants.
 */
import type { UnpackBudget } from './limits.ts';

/** A parsed image reference, normalised as Docker does (`nginx` → `docker.io/library/nginx:latest`). */
export interface ImageReference {
  /** The registry's name as users write it: `docker.io`, `ghcr.io`, `localhost:5000`, `127.0.0.1:5000`. */
  domain: string;
  /** The repository path: `library/nginx`, `acme/api`. */
  repository: string;
  /** The tag; `latest` when neither a tag nor a digest was given; undefined with a digest alone. */
  tag?: string;
  /** `sha256:<64 hex>` when pinned by digest. */
  digest?: string;
  /** `domain/repository[:tag][@digest]`: the full normal form, e.g. `docker.io/library/nginx:latest`. */
  canonical: string;
  /** `domain/repository:tag` (or `@digest` when there is no tag): the name an image is listed under. */
  name: string;
}

/** An OS/architecture pair, with an optional CPU variant (`linux/arm64/v8`). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** A content descriptor as in OCI manifests. */
export interface Descriptor {
  mediaType: string;
  /** `sha256:<64 hex>`. */
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** The parts of an OCI/Docker image config that running a container needs. */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  created?: string;
  config?: {
    User?: string;
    Env?: string[] | null;
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    ExposedPorts?: Record<string, object> | null;
    Volumes?: Record<string, object> | null;
    Labels?: Record<string, string> | null;
    StopSignal?: string;
  };
  rootfs: { type: string; diff_ids: string[] };
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }[];
}

/** A layer to be stored: its compressed blob and the diff_id its uncompressed tar must hash to. */
export interface LayerSource {
  /** The blob's digest (of the bytes as stored: gzip, zstd or plain tar). */
  digest: string;
  /** The blob's media type; decides the decompression (gzip, zstd, none). */
  mediaType: string;
  size: number;
  /** `sha256:<hex>` of the uncompressed tar, from config.rootfs.diff_ids. */
  diffId: string;
}

/** How far a pull or import has come, per layer; sent as it changes. */
export type ImageProgress =
  | { kind: 'resolved'; reference: string; manifestDigest: string; layers: { digest: string; size: number }[] }
  | { kind: 'layer-exists'; digest: string; diffId: string }
  | { kind: 'download'; digest: string; downloaded: number; total: number }
  | { kind: 'downloaded'; digest: string }
  /** `digest`: the layer's blob (as in `resolved` and `download`), when it came from a registry. */
  | { kind: 'extracting'; diffId: string; digest?: string }
  | { kind: 'extracted'; diffId: string; sizeBytes: number; digest?: string };

/** The user a container's process runs as, resolved through the image's /etc/passwd and /etc/group. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** The user's home from /etc/passwd, `/` when unknown (umoci's and runc's choice). */
  home: string;
}

/** One stored image, as the store records it (`images/<config-hex>.json`). */
export interface StoredImage {
  /** The config digest, `sha256:<hex>`: the image's identity. */
  id: string;
  /** The names it is known by (`docker.io/library/nginx:1.27`), newest first. */
  names: string[];
  /** Digest of the manifest it was pulled by (absent for an archive without one). */
  manifestDigest?: string;
  /** `domain/repository@sha256:...` for every manifest digest it was pulled by. */
  repoDigests: string[];
  /** diff_ids, lowest layer first (as in config.rootfs.diff_ids). */
  diffIds: string[];
  config: ImageConfig;
  /** Sum of the layers' unpacked sizes. */
  sizeBytes: number;
  /** When it was stored here. */
  storedAt: string;
  /** How it got here: `pull <reference>`, `import <file name>`. */
  source: string;
  /** The config's User resolved once at store time (undefined when the image has no /etc/passwd and User is a name). */
  user?: ResolvedUser;
  /** Problems found resolving the user, reported at create time. */
  userError?: string;
}

/** The media types the registry client asks for and the store understands. */
export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

/** The compression a layer blob's media type says it has. */
export function layerCompression(mediaType: string): 'gzip' | 'zstd' | 'none' {
  if (mediaType.endsWith('+zstd') || mediaType.endsWith('.zstd')) return 'zstd';
  if (mediaType.endsWith('gzip')) return 'gzip';
  return 'none';
}

/**
 * The content-addressed store under `<data-dir>/images/` (implemented in store.ts): blobs by
 * digest, one read-only layer folder per diff_id, image records by config digest, names.
 * The puller and archive import feed it; the runtime reads lower dirs and records from it.
 */
export interface ContentStore {
  /** The verified blob's path, or undefined when it is not stored. */
  blob(digest: string): Promise<string | undefined>;
  /**
   * A fresh temporary file path for writing a blob with this digest (removed by `sweep` when
   * left behind). The same path is returned again for a digest whose download was cut, so a
   * download can resume from its size.
   */
  blobTempPath(digest: string): string;
  /** Checks the temp file's sha256 (and size when given) and renames it into place; throws (and removes it) on a mismatch. */
  commitBlob(tempPath: string, digest: string, size?: number): Promise<string>;
  /** Stores bytes already in memory (manifests, configs) as a blob, verified against `digest`. */
  putBlob(digest: string, bytes: Uint8Array): Promise<string>;
  /** True when the layer with this diff_id is unpacked and committed. */
  hasLayer(diffId: string): Promise<boolean>;
  /**
   * Unpacks a layer blob (gzip, zstd or plain tar, sniffed from its first bytes) into its own
   * folder, checking its diff_id; at most two at once; a layer already present is not redone.
   * A layer past the store's limits (unpacked bytes, entries) or the caller's budget is stopped
   * as it streams, leaves nothing, and throws an ImageTooLargeError (code `too-large`).
   */
  applyLayer(blobPath: string, diffId: string, signal?: AbortSignal, opts?: { budget?: UnpackBudget }): Promise<{ sizeBytes: number }>;
  /** Waits until the extractions of these layers that were stopped (no caller waits for them any more) have removed what they wrote. */
  stoppedExtractionsSettled?(diffIds: readonly string[]): Promise<void>;
  /** Records an image whose layers are all present, under the given names; returns the record (refused, `too-large`, when its layers unpack to more than the limit together). */
  commitImage(input: {
    configBytes: Uint8Array;
    manifestDigest?: string;
    /** `domain/repository` of the pull, for repoDigests. */
    repository?: string;
    names: string[];
    source: string;
  }): Promise<StoredImage>;
  /** An image by name (normalised reference text), id (`sha256:...`, or 12+ hex chars of it) or repo digest. */
  find(nameOrId: string): Promise<StoredImage | undefined>;
  list(): Promise<StoredImage[]>;
  /** The overlay lower dirs for an image, topmost layer first (short paths, so 100+ layers fit in one mount). */
  lowerDirs(image: StoredImage): Promise<string[]>;
  /** Adds a name (moving it from any image that had it). */
  tag(id: string, name: string): Promise<StoredImage>;
  /** Removes one name, or the image with all its names; unused layers and blobs go with it. */
  remove(nameOrId: string): Promise<{ removed: string[]; untagged: string[] }>;
  /** Removes images not in `keep` (ids) and layers no image uses. */
  prune(keep: ReadonlySet<string>): Promise<{ removed: string[]; reclaimedBytes: number }>;
  /** Removes these images (ids; those already gone are skipped) with all their names, then the layers and blobs no image uses. */
  removeImages(ids: readonly string[]): Promise<{ removed: string[]; reclaimedBytes: number }>;
  /** Removes temp leftovers of interrupted writes (call at start-up). */
  sweep(): Promise<void>;
}

/** Options of one pull. */
export interface PullOptions {
  /** The platform to pick from an index; the host's when absent. */
  platform?: Platform;
  signal?: AbortSignal;
  onProgress?: (progress: ImageProgress) => void;
}

/** Pulls images from registries into the content store (implemented in puller.ts). */
export interface ImagePuller {
  /**
   * Resolves the reference, downloads what the store lacks (verified by digest), unpacks new
   * layers and records the image under the reference's name. Concurrent pulls of one reference
   * share the work (each caller still gets progress from then on).
   */
  pull(reference: string, opts?: PullOptions): Promise<StoredImage>;
}

/** Imports `docker save`, `podman save` and `oci-archive` tarballs (implemented in archive.ts). */
export interface ArchiveImporter {
  /** Reads the archive from the stream (or a file path); returns the images it held, recorded under their names. */
  importArchive(input: NodeJS.ReadableStream | string, opts?: { signal?: AbortSignal; source?: string; onProgress?: (progress: ImageProgress) => void }): Promise<StoredImage[]>;
}
