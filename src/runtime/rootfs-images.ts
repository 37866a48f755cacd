/**
 * Folder images: plain root filesystems kept under the data folder, used read-only as the lower
 * layer of each container's overlay. The built-in `busybox` is one, built on demand from the
 * host's static busybox; rootfs tarballs (`docker export` output) can be imported as others.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile, copyFile, chmod, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { runCommand } from './run-command.ts';
import { RuntimeError } from './driver.ts';
import { DEFAULT_ID_RANGE, sameIdRange, type IdRange } from './id-range.ts';
import { shiftTree } from './id-shift.ts';
import { makePrivateDir } from './fs.ts';

/** A folder image's record (`<root>/<name>/image.json`). */
export interface ImageInfo {
  name: string;
  /** argv run when a container gives no command. */
  defaultCommand: string[];
  source: string;
  sizeBytes: number;
  createdAt: string;
  /** The id range its files are owned in; absent for an image made before user namespaces. */
  ids?: IdRange;
}

const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;
/** The built-in image's name. */
export const BUILTIN_BUSYBOX = 'busybox';
const BUSYBOX_BINARY_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];
const ROOTFS_DIRS = ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'root', 'tmp', 'proc', 'sys', 'dev', 'run', 'var/tmp'];

/**
 * An image folder: `<root>/<name>/rootfs` plus `<root>/<name>/image.json`. Files are owned by
 * ids shifted into the server's range (`ids`), the owners container processes have.
 */
export class RootfsImages {
  private readonly shifting = new Map<string, Promise<ImageInfo>>();

  constructor(
    readonly root: string,
    readonly ids: IdRange = DEFAULT_ID_RANGE,
  ) {}

  /** The read-only root filesystem of an image, building the built-in one if needed. */
  async rootfs(name: string, signal?: AbortSignal): Promise<string> {
    await this.require(name, signal);
    return join(this.root, name, 'rootfs');
  }

  /** The image's metadata; builds `busybox` on first use; throws not-found for unknown names. */
  async require(name: string, signal?: AbortSignal): Promise<ImageInfo> {
    const info = await this.read(name);
    if (info) return sameIdRange(info.ids, this.ids) ? info : this.shiftOnce(info);
    if (name === BUILTIN_BUSYBOX) return this.buildBusybox(signal);
    throw new RuntimeError('not-found', `image "${name}" does not exist`, { image: name });
  }

  /** Whether the image can be run here: stored, or the built-in one while busybox-static is installed. */
  async exists(name: string): Promise<boolean> {
    if (await this.read(name)) return true;
    return name === BUILTIN_BUSYBOX && (await findBusybox()) !== undefined;
  }

  /** Every folder image, the built-in busybox first when it is not built yet (it is built on first use). */
  async list(): Promise<ImageInfo[]> {
    await mkdir(this.root, { recursive: true });
    const names = (await readdir(this.root)).filter((n) => NAME_PATTERN.test(n)).sort();
    const found = await Promise.all(names.map((n) => this.read(n)));
    const images = found.filter((i): i is ImageInfo => i !== undefined);
    if (!images.some((i) => i.name === BUILTIN_BUSYBOX) && (await findBusybox())) {
      images.unshift({ name: BUILTIN_BUSYBOX, defaultCommand: BUSYBOX_COMMAND, source: 'built-in (built on first use)', sizeBytes: 0, createdAt: new Date(0).toISOString() });
    }
    return images;
  }

  /** Imports a rootfs tarball (e.g. `docker export` output) under a name. */
  async importTarball(name: string, tarball: string, opts: { defaultCommand?: string[] } = {}, signal?: AbortSignal): Promise<ImageInfo> {
    assertName(name);
    if (await this.read(name)) throw new RuntimeError('invalid-state', `image "${name}" already exists`, { image: name });
    return this.buildInto(name, `tarball ${tarball}`, opts.defaultCommand ?? ['/bin/sh'], async (rootfs) => {
      // the tarball's owners are kept, then moved into the server's range by buildInto
      await runCommand('tar', ['-x', '-f', tarball, '-C', rootfs, '--numeric-owner', '--same-owner', '--same-permissions'], signal);
    });
  }

  /** Removes a folder image. */
  async remove(name: string): Promise<void> {
    assertName(name);
    await rm(join(this.root, name), { recursive: true, force: true });
  }

  private buildBusybox(signal?: AbortSignal): Promise<ImageInfo> {
    return this.buildInto(BUILTIN_BUSYBOX, 'host busybox-static', BUSYBOX_COMMAND, async (rootfs) => {
      const binary = await findBusybox();
      if (!binary) throw new RuntimeError('failed', 'busybox is not installed on this server (apt-get install busybox-static)');
      for (const dir of ROOTFS_DIRS) await mkdir(join(rootfs, dir), { recursive: true });
      await copyFile(binary, join(rootfs, 'bin/busybox'));
      await chmod(join(rootfs, 'bin/busybox'), 0o755);
      await chmod(join(rootfs, 'tmp'), 0o1777);
      await runCommand('chroot', [rootfs, '/bin/busybox', '--install', '-s'], signal);
      await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
      await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\nnobody:x:65534:\n');
    });
  }

  /** Builds in a temporary folder and renames it into place, so a half-built image is never seen. */
  private async buildInto(name: string, source: string, defaultCommand: string[], fill: (rootfs: string) => Promise<void>): Promise<ImageInfo> {
    const tmp = join(this.root, `.build-${name}-${randomBytes(4).toString('hex')}`);
    try {
      await this.makeRoot();
      await mkdir(join(tmp, 'rootfs'), { recursive: true });
      await fill(join(tmp, 'rootfs'));
      await shiftTree(join(tmp, 'rootfs'), undefined, this.ids);
      const { stdout } = await runCommand('du', ['-sb', join(tmp, 'rootfs')]);
      const info: ImageInfo = { name, defaultCommand, source, sizeBytes: Number(stdout.split('\t')[0]) || 0, createdAt: new Date().toISOString(), ids: this.ids };
      await writeFile(join(tmp, 'image.json'), JSON.stringify(info, null, 2));
      try {
        await rename(tmp, join(this.root, name));
      } catch (err) {
        // another build of the same image won the race; use it
        const existing = await this.read(name);
        if (existing) return existing;
        throw err;
      }
      return info;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /**
   * Moves an image made for another range (or before user namespaces) into this one, once: calls
   * that come meanwhile wait for the same shift; image.json names the new range only when done.
   */
  private shiftOnce(info: ImageInfo): Promise<ImageInfo> {
    const running = this.shifting.get(info.name);
    if (running) return running;
    const work = (async () => {
      await shiftTree(join(this.root, info.name, 'rootfs'), info.ids, this.ids);
      const shifted: ImageInfo = { ...info, ids: this.ids };
      const file = join(this.root, info.name, 'image.json');
      await writeFile(`${file}.tmp`, JSON.stringify(shifted, null, 2));
      await rename(`${file}.tmp`, file);
      return shifted;
    })().finally(() => this.shifting.delete(info.name));
    this.shifting.set(info.name, work);
    return work;
  }

  /**
   * The store's folder, root's alone: an image being imported holds the tarball's owners and
   * setuid bits until they are shifted, and nothing but the overlay mount (as root) reads images.
   */
  private async makeRoot(): Promise<void> {
    await makePrivateDir(this.root);
  }

  /** The folder image's record, or undefined. */
  async read(name: string): Promise<ImageInfo | undefined> {
    if (!NAME_PATTERN.test(name)) return undefined;
    try {
      return JSON.parse(await readFile(join(this.root, name, 'image.json'), 'utf8')) as ImageInfo;
    } catch {
      return undefined;
    }
  }
}

/** Runs until told to stop; SIGTERM (forwarded by catatonit) ends it with 143. */
export const BUSYBOX_COMMAND = ['sleep', 'infinity'];

async function findBusybox(): Promise<string | undefined> {
  for (const candidate of BUSYBOX_BINARY_CANDIDATES) {
    const s = await stat(candidate).catch(() => undefined);
    if (s?.isFile()) return candidate;
  }
  return undefined;
}

function assertName(name: string): void {
  if (!NAME_PATTERN.test(name)) throw new RuntimeError('invalid-state', `image name "${name}" is not valid: use lowercase letters, digits, ".", "_" and "-"`);
}
