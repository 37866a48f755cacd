/**
 * The parts behind layered images: the content store under `<data-dir>/images/.oci`, the
 * registry puller and the archive importer. Composition only: main.ts hands the result to the
 * ImageStore facade.
 */
import type { IdRange } from './runtime/id-range.ts';
import type { ImageParts } from './runtime/image-store.ts';
import { LayerContentStore } from './images/store.ts';
import { RegistryClient } from './images/registry-client.ts';
import { FileCredentials } from './images/credentials.ts';
import { Puller } from './images/puller.ts';
import { ArchiveImport } from './images/archive.ts';
import { parseReference } from './images/reference.ts';

export interface ImagePartsConfig {
  /** `<data-dir>/images`. */
  root: string;
  /** The id range image files are owned in (container ids 0… on the host). */
  ids: IdRange;
  /** Registries (`host[:port]`) that may be reached over plain HTTP besides loopback ones. */
  insecureRegistries: string[];
  /** Token realm hosts that may receive a registry's credentials besides its own host (HOODY_REGISTRY_AUTH_HOSTS). */
  authHosts?: string[];
  /** Credential files, first match wins: `<data-dir>/images/auth.json`, then Docker's `config.json` (`$DOCKER_CONFIG` or `~/.docker`). */
  authFiles: string[];
  warn: (message: string, err?: unknown) => void;
}

/** The content store, puller and importer of this server. */
export async function openImageParts(config: ImagePartsConfig): Promise<ImageParts> {
  const content = new LayerContentStore({ root: config.root, ids: config.ids, log: (line) => config.warn(line) });
  const client = new RegistryClient({ credentials: new FileCredentials(config.authFiles), insecureRegistries: config.insecureRegistries, authHosts: config.authHosts ?? [] });
  return {
    content,
    puller: new Puller({ client, store: content }),
    // names in archives (`test/bbx:1.0`) are listed as references normalise them
    importer: new ArchiveImport(content, { tempDir: content.base, normalise: (name) => parseReference(name).name }),
  };
}
