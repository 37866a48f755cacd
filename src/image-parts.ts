/**
 * The parts behind layered images: the content store under `<data-dir>/images`, the registry
 * puller and the archive importer. Composition only: main.ts hands the result to the ImageStore.
 */
import type { IdRange } from './runtime/id-range.ts';
import type { ImageParts } from './runtime/image-store.ts';

export interface ImagePartsConfig {
  /** `<data-dir>/images`. */
  root: string;
  /** The id range image files are owned in (container ids 0… on the host). */
  ids: IdRange;
  /** Registries (`host[:port]`) that may be reached over plain HTTP besides loopback ones. */
  insecureRegistries: string[];
  /** Credential files, first match wins: `<data-dir>/images/auth.json`, then `~/.docker/config.json`. */
  authFiles: string[];
  warn: (message: string, err?: unknown) => void;
}

/**
 * The content store, puller and importer of this server. Until their implementations are part
 * of the build, none: only folder images (the built-in busybox) exist and pulls answer that this
 * server cannot pull.
 */
export async function openImageParts(_config: ImagePartsConfig): Promise<ImageParts> {
  return {};
}
