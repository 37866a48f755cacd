/**
 * The image subsystem's concrete parts, put together for the end-to-end image tests: a content
 * store under a folder, an archive importer and (once its module exists) a puller over it, and
 * a mounted view of an image's layers.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LayerContentStore } from '../src/images/store.ts';
import { ArchiveImport } from '../src/images/archive.ts';
import { parseReference } from '../src/images/reference.ts';
import type { ArchiveImporter, ImagePuller, StoredImage } from '../src/images/types.ts';
import type { IdRange } from '../src/runtime/id-range.ts';

const execFileP = promisify(execFile);
const SRC = new URL('../src/images/', import.meta.url).pathname;

/** The registry modules the pull tests need; undefined when all are there, else the first one missing. */
export function missingPullModule(): string | undefined {
  return ['puller.ts', 'registry-client.ts'].find((f) => !existsSync(join(SRC, f)));
}

/** A store, importer and puller over one folder. */
export interface ImageKit {
  store: LayerContentStore;
  importer: ArchiveImporter;
  /** Throws when the registry modules are not there. */
  puller: ImagePuller;
  root: string;
}

/** Builds the kit over `root` (files owned in `ids`); `creds` for a registry that asks for them. */
export async function imageKit(root: string, ids: IdRange, creds?: { host: string; username: string; password: string }): Promise<ImageKit> {
  const store = new LayerContentStore({ root, ids });
  const importer = new ArchiveImport(store, { tempDir: store.base, normalise: (name) => parseReference(name).name });
  let puller: ImagePuller | undefined;
  if (!missingPullModule()) {
    // imported by path: this file compiles before the registry modules exist
    const load = (f: string): Promise<Record<string, any>> => import(join(SRC, f));
    const [pullerMod, clientMod] = await Promise.all([load('puller.ts'), load('registry-client.ts')]);
    const credentials = creds ? { [creds.host]: { username: creds.username, password: creds.password } } : {};
    puller = new pullerMod.Puller({ client: new clientMod.RegistryClient({ credentials }), store }) as ImagePuller;
  }
  const noPuller: ImagePuller = {
    pull: () => Promise.reject(new Error(`src/images/${missingPullModule()} is not there`)),
  };
  return { store, importer, puller: puller ?? noPuller, root };
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
