/**
 * A content store for runtime tests: each layer tar unpacked by GNU tar into its own folder and
 * shifted into the id range, records in memory, the user resolved through the layers' passwd.
 */
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { shiftTree } from '../src/runtime/id-shift.ts';
import type { IdRange } from '../src/runtime/id-range.ts';
import type { ContentStore, ImageConfig, ResolvedUser, StoredImage } from '../src/images/types.ts';

/** The content store the runtime tests use. */
export async function openTestContentStore(root: string, ids: IdRange): Promise<ContentStore> {
  await mkdir(join(root, '.test-layers'), { recursive: true, mode: 0o700 });
  return new FolderContentStore(join(root, '.test-layers'), ids) as unknown as ContentStore;
}

class FolderContentStore implements Partial<ContentStore> {
  private readonly images = new Map<string, StoredImage>();
  constructor(
    private readonly root: string,
    private readonly ids: IdRange,
  ) {}

  private layerDir(diffId: string): string {
    return join(this.root, diffId.slice(7, 19));
  }

  async applyLayer(blobPath: string, diffId: string) {
    const dest = this.layerDir(diffId);
    const tmp = `${dest}.tmp`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    execFileSync('tar', ['-x', '-p', '--numeric-owner', '-C', tmp, '-f', blobPath]);
    await shiftTree(tmp, undefined, this.ids);
    await rm(dest, { recursive: true, force: true });
    await rename(tmp, dest);
    return { sizeBytes: 0 };
  }

  async commitImage(input: { configBytes: Uint8Array; names: string[]; source: string }) {
    const config = JSON.parse(Buffer.from(input.configBytes).toString('utf8')) as ImageConfig;
    const id = `sha256:${createHash('sha256').update(input.configBytes).digest('hex')}`;
    for (const other of this.images.values()) other.names = other.names.filter((n) => !input.names.includes(n));
    const user = await this.resolveUser(config);
    const image: StoredImage = { id, names: input.names, repoDigests: [], diffIds: config.rootfs.diff_ids, config, sizeBytes: 0, storedAt: new Date().toISOString(), source: input.source, ...user };
    this.images.set(id, image);
    return image;
  }

  async find(text: string) {
    return [...this.images.values()].find((i) => i.id === text || i.names.includes(text));
  }

  async list() {
    return [...this.images.values()];
  }

  async lowerDirs(image: StoredImage) {
    return [...image.diffIds].reverse().map((d) => this.layerDir(d));
  }

  async sweep() {}

  /** `name` or `uid` through the topmost layer's /etc/passwd and /etc/group. */
  private async resolveUser(config: ImageConfig): Promise<{ user?: ResolvedUser; userError?: string }> {
    const name = config.config?.User ?? '';
    const read = async (file: string): Promise<string[][]> => {
      for (const d of [...config.rootfs.diff_ids].reverse()) {
        const text = await readFile(join(this.layerDir(d), file), 'utf8').catch(() => undefined);
        if (text !== undefined) return text.split('\n').filter(Boolean).map((l) => l.split(':'));
      }
      return [];
    };
    const passwd = await read('etc/passwd');
    const entry = passwd.find((p) => p[0] === (name || 'root') || p[2] === name);
    if (!entry) return name ? { userError: `user "${name}" is not in the image's /etc/passwd` } : { user: { uid: 0, gid: 0, additionalGids: [], home: '/' } };
    const groups = (await read('etc/group')).filter((g) => (g[3] ?? '').split(',').includes(entry[0] as string)).map((g) => Number(g[2]));
    return { user: { uid: Number(entry[2]), gid: Number(entry[3]), additionalGids: groups, home: entry[5] || '/' } };
  }
}
