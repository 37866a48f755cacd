/**
 * What one pull or import may cost the server: the upload's size, the layers and bytes a
 * manifest may declare, and the bytes its layers may unpack to. The checks of declared values
 * are pure; the unpacked bytes are counted as layers stream (layer-apply.ts), so a small
 * gzip or zstd blob that expands to far more is stopped while it unpacks.
 */

/** The limits of one server; every field has a default (DEFAULT_IMAGE_LIMITS). */
export interface ImageLimits {
  /** The largest `POST /images/import` body: HOODY_IMAGE_IMPORT_MAX_BYTES. */
  importMaxBytes: number;
  /** The most layers one image may have: HOODY_IMAGE_MAX_LAYERS (at most 500, overlay's own limit). */
  maxLayers: number;
  /** The largest blob, and the largest sum of an image's layer blobs, a manifest may declare: HOODY_IMAGE_MAX_BYTES. */
  maxBytes: number;
  /** The most bytes one layer, and one image's layers together, may unpack to: HOODY_IMAGE_MAX_UNPACKED_BYTES. */
  maxUnpackedBytes: number;
  /** The most tar entries (files, folders, links…) one layer may hold, and one image's layers together. */
  maxEntries: number;
}

const GiB = 1024 ** 3;

/** The overlay file system stacks at most this many lower layers (OVL_MAX_STACK). */
export const OVERLAY_MAX_LAYERS = 500;

/** Far above what real images need, far below what would exhaust a server. */
export const DEFAULT_IMAGE_LIMITS: Readonly<ImageLimits> = {
  importMaxBytes: 16 * GiB,
  maxLayers: 256,
  maxBytes: 16 * GiB,
  maxUnpackedBytes: 64 * GiB,
  // a few hundred thousand files is a large distribution image; each entry costs an inode
  maxEntries: 2_000_000,
};

/** The environment variable of each limit (named in errors, so an operator knows what to raise). */
export const LIMIT_SETTINGS: Readonly<Record<keyof ImageLimits, string>> = {
  importMaxBytes: 'HOODY_IMAGE_IMPORT_MAX_BYTES',
  maxLayers: 'HOODY_IMAGE_MAX_LAYERS',
  maxBytes: 'HOODY_IMAGE_MAX_BYTES',
  maxUnpackedBytes: 'HOODY_IMAGE_MAX_UNPACKED_BYTES',
  maxEntries: 'HOODY_IMAGE_MAX_ENTRIES',
};

/** The defaults with `partial` over them. */
export function imageLimits(partial: Partial<ImageLimits> = {}): ImageLimits {
  return { ...DEFAULT_IMAGE_LIMITS, ...partial };
}

/** What was too large, for `details` of the API error. */
export interface TooLargeDetails {
  /** `import-bytes`, `layers`, `blob-bytes`, `image-bytes`, `unpacked-bytes`, `entries`, or `manifest-bytes` (a manifest, index or config over its fixed cap). */
  resource: 'import-bytes' | 'layers' | 'blob-bytes' | 'image-bytes' | 'unpacked-bytes' | 'entries' | 'manifest-bytes';
  /** The limit. */
  max: number;
  /** What was declared or counted when it is known (a stream stops at the first byte past the limit). */
  requested?: number;
  /** The environment variable that sets the limit (none for the fixed caps of manifests and configs). */
  setting?: string;
}

/** An image, upload or layer over a limit of the server; `code` is the error kind the API maps (`too-large`). */
export class ImageTooLargeError extends Error {
  readonly code = 'too-large';
  constructor(
    message: string,
    readonly details: TooLargeDetails,
  ) {
    super(message);
    this.name = 'ImageTooLargeError';
  }
}

/** Whether an error says something was over a limit (this module's error, or a registry's `too-large`). */
export function isTooLarge(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === 'too-large';
}

const tooLarge = (what: string, text: string, details: TooLargeDetails): ImageTooLargeError => new ImageTooLargeError(`${what}: ${text} (${details.setting})`, details);

/**
 * Checks what a manifest declares before anything is downloaded or unpacked: the number of
 * layers, each layer's size and their sum. `what` names the image in the message.
 */
export function checkDeclaredLayers(layers: readonly { size: number }[], limits: Pick<ImageLimits, 'maxLayers' | 'maxBytes'>, what: string): void {
  if (layers.length > limits.maxLayers) {
    throw tooLarge(what, `it has ${layers.length} layers, more than the ${limits.maxLayers} allowed`, { resource: 'layers', max: limits.maxLayers, requested: layers.length, setting: LIMIT_SETTINGS.maxLayers });
  }
  let total = 0;
  for (const l of layers) {
    if (l.size > limits.maxBytes) {
      throw tooLarge(what, `a layer of ${l.size} bytes is more than the ${limits.maxBytes} allowed`, { resource: 'blob-bytes', max: limits.maxBytes, requested: l.size, setting: LIMIT_SETTINGS.maxBytes });
    }
    total += l.size;
  }
  if (total > limits.maxBytes) {
    throw tooLarge(what, `its layers are ${total} bytes together, more than the ${limits.maxBytes} allowed`, { resource: 'image-bytes', max: limits.maxBytes, requested: total, setting: LIMIT_SETTINGS.maxBytes });
  }
}

/** Checks an upload's declared length (Content-Length) or its size so far. */
export function checkUploadBytes(bytes: number, max: number, what: string, declared: boolean): void {
  if (bytes <= max) return;
  const text = declared ? `${what} is ${bytes} bytes, more than the ${max} allowed` : `${what} is more than the ${max} bytes allowed`;
  throw new ImageTooLargeError(`${text} (${LIMIT_SETTINGS.importMaxBytes})`, { resource: 'import-bytes', max, ...(declared ? { requested: bytes } : {}), setting: LIMIT_SETTINGS.importMaxBytes });
}

/** A manifest, index or config document of `bytes`, over its fixed cap `max`. */
export function documentTooLarge(what: string, bytes: number, max: number): ImageTooLargeError {
  return new ImageTooLargeError(`${what} is ${bytes} bytes, more than the ${max} allowed for it`, { resource: 'manifest-bytes', max, requested: bytes });
}

/** Checks an image's unpacked size: the sum of its layers' (each already within the limit). */
export function checkUnpackedTotal(bytes: number, max: number, what: string): void {
  if (bytes <= max) return;
  throw tooLarge(what, `its layers unpack to ${bytes} bytes together, more than the ${max} allowed`, { resource: 'unpacked-bytes', max, requested: bytes, setting: LIMIT_SETTINGS.maxUnpackedBytes });
}

/**
 * What one pull or import may still unpack: bytes and tar entries, charged as layers stream.
 * Layers unpacked for it at the same time charge one budget; charging past a limit throws.
 */
export class UnpackBudget {
  private bytes = 0;
  private entries = 0;

  constructor(
    readonly limits: Pick<ImageLimits, 'maxUnpackedBytes' | 'maxEntries'>,
    private readonly what: string,
  ) {}

  /** Adds bytes unpacked (by `layer`, named in the error); throws once the total passes the limit. */
  chargeBytes(n: number, layer?: string): void {
    this.bytes += n;
    if (this.bytes > this.limits.maxUnpackedBytes) throw unpackedTooLarge(`${this.what}: its layers unpack to more than the ${this.limits.maxUnpackedBytes} bytes allowed${stoppedIn(layer)}`, this.limits.maxUnpackedBytes);
  }

  /** Adds tar entries (of `layer`, named in the error); throws once the total passes the limit. */
  chargeEntries(n: number, layer?: string): void {
    this.entries += n;
    if (this.entries > this.limits.maxEntries) throw entriesTooMany(`${this.what}: its layers hold more than the ${this.limits.maxEntries} files allowed${stoppedIn(layer)}`, this.limits.maxEntries);
  }
}

const stoppedIn = (layer: string | undefined): string => (layer ? `, stopped in ${layer}` : '');

/** A layer that unpacks to more than the limit. */
export function unpackedTooLarge(text: string, max: number): ImageTooLargeError {
  return new ImageTooLargeError(`${text} (${LIMIT_SETTINGS.maxUnpackedBytes})`, { resource: 'unpacked-bytes', max, setting: LIMIT_SETTINGS.maxUnpackedBytes });
}

/** A layer that holds more tar entries than the limit. */
export function entriesTooMany(text: string, max: number): ImageTooLargeError {
  return new ImageTooLargeError(`${text} (${LIMIT_SETTINGS.maxEntries})`, { resource: 'entries', max, setting: LIMIT_SETTINGS.maxEntries });
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: GiB, t: 1024 ** 4 };

/** A byte count as an operator writes it: `17179869184`, `16G`, `16GiB`, `512M`, `64k` (binary units); undefined when empty. */
export function parseByteSize(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const m = /^\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(value);
  const n = m ? Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] as number) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive byte count (e.g. 16G, 512M, 1048576), not "${value}"`);
  return n;
}

/** The limits set in the environment (unset ones are left out, for the defaults). */
export function imageLimitsFromEnv(env: NodeJS.ProcessEnv): Partial<ImageLimits> {
  const out: Partial<ImageLimits> = {};
  const importMax = parseByteSize(env.HOODY_IMAGE_IMPORT_MAX_BYTES, LIMIT_SETTINGS.importMaxBytes);
  const maxBytes = parseByteSize(env.HOODY_IMAGE_MAX_BYTES, LIMIT_SETTINGS.maxBytes);
  const unpacked = parseByteSize(env.HOODY_IMAGE_MAX_UNPACKED_BYTES, LIMIT_SETTINGS.maxUnpackedBytes);
  const layers = count(env.HOODY_IMAGE_MAX_LAYERS, LIMIT_SETTINGS.maxLayers, OVERLAY_MAX_LAYERS);
  const entries = count(env.HOODY_IMAGE_MAX_ENTRIES, LIMIT_SETTINGS.maxEntries, Number.MAX_SAFE_INTEGER);
  if (importMax !== undefined) out.importMaxBytes = importMax;
  if (maxBytes !== undefined) out.maxBytes = maxBytes;
  if (unpacked !== undefined) out.maxUnpackedBytes = unpacked;
  if (layers !== undefined) out.maxLayers = layers;
  if (entries !== undefined) out.maxEntries = entries;
  return out;
}

function count(value: string | undefined, name: string, max: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`${name} must be a whole number from 1 to ${max}, not "${value}"`);
  return n;
}
