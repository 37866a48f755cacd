/**
 * Manifest documents: the types asked for, parsing with schema 1 refused, the media type of a
 * manifest that omits it, and the shape checks a platform manifest must pass.
 */
import { RegistryError } from './registry-error.ts';
import { type Descriptor, MEDIA_TYPES } from './types.ts';

/** The Accept header of manifest requests: OCI index and manifest, Docker schema 2 and list. */
export const MANIFEST_ACCEPT = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest, MEDIA_TYPES.dockerList].join(', ');
/** Media types of multi-platform indexes. */
export const INDEX_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList]);
/** Media types of single-platform manifests. */
export const MANIFEST_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]);

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const LAYER_TYPE = /tar(\+gzip|\+zstd|\.gzip)?$/;

/** A checked platform manifest. */
export interface ImageManifest {
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

/** Parses manifest bytes; `what` names the image in errors ('unsupported' for non-JSON and schema 1). */
export function parseManifest(bytes: Buffer, contentTypeHeader: string | null, what: string): { mediaType: string; doc: Record<string, unknown> } {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new RegistryError('unsupported', `${what}: the manifest is not JSON`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new RegistryError('unsupported', `${what}: the manifest is not a JSON object`);
  const contentType = (contentTypeHeader ?? '').split(';')[0]?.trim() ?? '';
  if (doc.schemaVersion === 1 || contentType.startsWith('application/vnd.docker.distribution.manifest.v1')) {
    throw new RegistryError('unsupported', `${what}: Docker schema 1 manifests are not supported (push it again with a current client)`);
  }
  const mediaType = typeof doc.mediaType === 'string' && doc.mediaType ? doc.mediaType : inferMediaType(doc, contentType);
  return { mediaType, doc };
}

/** The type of a manifest without a mediaType field (optional in OCI): the Content-Type when it names one, else its shape. */
function inferMediaType(doc: Record<string, unknown>, contentType: string): string {
  if (INDEX_TYPES.has(contentType) || MANIFEST_TYPES.has(contentType)) return contentType;
  if (Array.isArray(doc.manifests)) return MEDIA_TYPES.ociIndex;
  if (Array.isArray(doc.layers)) return MEDIA_TYPES.ociManifest;
  return contentType || 'unknown';
}

/** Checks a platform manifest's config and layer descriptors (sha256 digests, sizes, tar layer types). */
export function checkManifest(doc: Record<string, unknown>, mediaType: string, what: string): ImageManifest {
  const config = doc.config as Descriptor | undefined;
  const layers = doc.layers as Descriptor[] | undefined;
  const valid = (d: Descriptor | undefined) => !!d && typeof d.digest === 'string' && DIGEST.test(d.digest) && Number.isSafeInteger(d.size) && d.size >= 0 && typeof d.mediaType === 'string';
  if (!valid(config) || !Array.isArray(layers) || !layers.every(valid)) throw new RegistryError('unsupported', `${what}: the manifest lacks a valid config or layers (sha256 digests, sizes, media types)`);
  for (const l of layers) {
    if (!LAYER_TYPE.test(l.mediaType)) throw new RegistryError('unsupported', `${what}: layer media type "${l.mediaType}" is not supported`);
  }
  return { mediaType, config: config as Descriptor, layers };
}
