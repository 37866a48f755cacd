/**
 * The image subsystem's concrete parts, put together for the end-to-end image tests and the
 * benches: a content store under a folder, an archive importer and a puller over it, and a
 * mounted view of an image's layers.
 */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LayerContentStore } from '../src/images/store.ts';
import { ArchiveImport } from '../src/images/archive.ts';
import { parseReference } from '../src/images/reference.ts';
import { Puller } from '../src/images/puller.ts';
import { RegistryClient } from '../src/images/registry-client.ts';
import type { ArchiveImporter, ImagePuller, StoredImage } from '../src/images/types.ts';
import type { IdRange } from '../src/runtime/id-range.ts';

const execFileP = promisify(execFile);

/** A store, importer and puller over one folder. */
export interface ImageKit {
  store: LayerContentStore;
  importer: ArchiveImporter;
  puller: ImagePuller;
  client: RegistryClient;
  root: string;
}

/** Builds the kit over `root` (files owned in `ids`); `creds` for a registry that asks for them. */
export function imageKit(root: string, ids: IdRange, creds?: { host: string; username: string; password: string }): ImageKit {
  const store = new LayerContentStore({ root, ids });
  const importer = new ArchiveImport(store, { tempDir: store.base, normalise: (name) => parseReference(name).name });
  const client = new RegistryClient({ credentials: creds ? { [creds.host]: { username: creds.username, password: creds.password } } : {} });
  return { store, importer, puller: new Puller({ client, store }), client, root };
}

/**
 * Mounts an image's layers below an empty upper dir at `<dir>/merged`, from the store's base
 * with relative lower paths (as the runtime does, so 100+ layers fit); returns the merged path.
 */
export async function mountImage(kit: ImageKit, image: StoredImage, dir: string): Promise<string> {
  const lowers = await kit.store.relativeLowerDirs(image);
  for (const d of ['upper', 'work', 'merged']) await mkdir(join(dir, d), { recursive: true });
  await execFileP('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.join(':')},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`, join(dir, 'merged')], { cwd: kit.store.base });
  return join(dir, 'merged');
}
