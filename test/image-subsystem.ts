/**
 * The image subsystem's concrete parts, loaded for the end-to-end image tests: a content store
 * under a folder, a puller over it, an archive importer, and a mounted view of an image's layers.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import type { ArchiveImporter, ContentStore, ImagePuller, StoredImage } from '../src/images/types.ts';
import type { IdRange } from '../src/runtime/id-range.ts';

const execFileP = promisify(execFile);
const SRC = new URL('../src/images/', import.meta.url).pathname;

/** The modules the tests need; undefined names the first one missing (the tests then skip). */
export function missingModule(): string | undefined {
  return ['store.ts', 'puller.ts', 'registry-client.ts', 'archive.ts'].find((f) => !existsSync(join(SRC, f)));
}

/** A store, puller and importer over `root`, files owned in `ids`; `creds` for a registry that asks. */
export interface ImageKit {
  store: ContentStore;
  puller: ImagePuller;
  importer: ArchiveImporter;
  root: string;
}

/** Builds the kit from the modules on disk (imported by path so this file compiles before they exist). */
export async function imageKit(root: string, ids: IdRange, creds?: { host: string; username: string; password: string }): Promise<ImageKit> {
  const load = (f: string): Promise<Record<string, any>> => import(join(SRC, f));
  const [storeMod, pullerMod, clientMod, archiveMod] = await Promise.all([load('store.ts'), load('puller.ts'), load('registry-client.ts'), load('archive.ts')]);
  const store = new storeMod.LayerContentStore({ root, ids }) as ContentStore;
  const credentials = creds ? { [creds.host]: { username: creds.username, password: creds.password } } : {};
  const client = new clientMod.RegistryClient({ credentials });
  const puller = new pullerMod.Puller({ client, store }) as ImagePuller;
  const importer = new archiveMod.ArchiveImport({ store }) as ArchiveImporter;
  return { store, puller, importer, root };
}

/**
 * Mounts an image's layers read-only-below an empty upper dir at `<dir>/merged` (from the store
 * root, as the runtime does, so short relative lower paths work); returns the merged path.
 */
export async function mountImage(kit: ImageKit, image: StoredImage, dir: string): Promise<string> {
  const lowers = await kit.store.lowerDirs(image);
  for (const d of ['upper', 'work', 'merged']) await mkdir(join(dir, d), { recursive: true });
  const cwd = lowers.every(isAbsolute) ? dir : kit.root;
  await execFileP('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.join(':')},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`, join(dir, 'merged')], { cwd });
  return join(dir, 'merged');
}
