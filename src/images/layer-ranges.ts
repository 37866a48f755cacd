/**
 * Unpacked layers follow the server's id range. A layer's files are owned in the range it was
 * unpacked for: its meta's `ids`, or, for a meta written before ranges were recorded, the range
 * `<base>/ids.json` names (written when the store is first opened by a version that records
 * ranges: the server's range then, since that is where an older version unpacked its layers).
 *
 * When the range changes, a layer is brought into the new one the first time an image that has
 * it is mounted, once (concurrent callers share the work):
 * - unpacked again from its kept blob, as the first time (owners and the root id of v3 file
 *   capabilities right), and checked against its diff_id;
 * - or, with no blob kept (or when that fails), its owners are shifted (shiftTree, which drops
 *   file capabilities): in place when no overlay uses the layer (a shift cut short is finished
 *   by the next one), else in a copy (`cp -a`), since chown under a running container would
 *   take its files from it (a root-owned 0600 file it could read becomes one it cannot).
 * A new folder is made under the name the old one will be kept aside under,
 * `layers/<hex>.old-<rand>`, after a note `<hex>.old-<rand>.json` (synced) that names the old
 * folder (device and inode), the layer's link now and a new one. One renameat2(RENAME_EXCHANGE)
 * then swaps the two folders, so the layer's path always names a whole layer and the old folder
 * is never under a name anything removes unchecked (the sweep removes `*.tmp`); the meta then
 * names the new range and the new link, and the old link leads to the old folder.
 *
 * Overlays list their lower dirs as given at mount time (`<base>/l/<link>`), so the mounts made
 * before the move are those that name the old link (layer-mounts.ts): the old folder is kept
 * while one of them is there, and removed by dropParked() (at start-up and at each collect) once
 * none is, with the old link. What a failure or a crash leaves is told apart by the note:
 * - the folder under the aside name is not the one noted: the swap never happened, and it is
 *   removed with its note and the new link;
 * - it is the noted one but the meta still names the old link: the swap happened and only the
 *   meta is missing; the next use writes it (no second unpack, no shift), and the folder is kept
 *   until then.
 */
import { randomBytes } from 'node:crypto';
import { lstat, readdir, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { assertShiftable, formatIdRange, sameIdRange, type IdRange } from '../runtime/id-range.ts';
import { shiftTree } from '../runtime/id-shift.ts';
import { runCommand } from '../runtime/run-command.ts';
import { exchangePaths } from './exchange-paths.ts';
import { atomicWrite, readJson, syncDir } from './json-files.ts';
import { applyLayerTar } from './layer-apply.ts';
import { folderId, overlaysUsing, type FolderId } from './layer-mounts.ts';
import type { LayerMeta } from './store.ts';
import type { Limiter, Mutex } from './store-locks.ts';

/** What the store shares with its range keeper. */
export interface LayerRangeParts {
  /** `<root>/.oci`. */
  base: string;
  /** The server's range: where layers must be. */
  ids: IdRange;
  /** The store's writer lock: metas and layer folders change under it. */
  mutex: Mutex;
  /** The store's cap on unpacks at once, which moves share. */
  limiter: Limiter;
  /** The path of a stored blob, or undefined. */
  blob(digest: string): Promise<string | undefined>;
  log?: (line: string) => void;
}

/** The file naming the range of layers whose meta names none. */
const RECORD = 'ids.json';
/** A layer's old folder kept aside (or a new one being made), and its note `<name>.json`. */
const PARKED = /^[0-9a-f]{64}\.old-[0-9a-f]{8}$/;
const PARKED_NOTE = /^[0-9a-f]{64}\.old-[0-9a-f]{8}\.json$/;
/** The characters of link names in `l/` (as the store picks them). */
const LINK_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** A copy of a layer to shift may take long on a slow disk. */
const COPY_TIMEOUT_MS = 60 * 60 * 1000;
/** A layer unpacked again is held to no limit: its blob was verified and accepted once, and a limit lowered since must not strand an image. */
const UNBOUNDED = { maxBytes: Number.MAX_SAFE_INTEGER, maxEntries: Number.MAX_SAFE_INTEGER };

/**
 * Noted beside `<hex>.old-<rand>` before anything is made under that name: the layer's folder
 * then (device and inode: the folder under the aside name is this one once the swap is done),
 * the link mounts of it name, the link made for the new folder, and the new folder's range.
 */
interface AsideNote extends FolderId {
  link: string;
  newLink: string;
  ids: IdRange;
}

/** Keeps the store's layers in the server's id range. */
export class LayerRanges {
  private readonly moving = new Map<string, Promise<LayerMeta>>();
  private recorded: IdRange | undefined;

  constructor(private readonly parts: LayerRangeParts) {}

  /** Reads the store's range record; a store without one (new, or made by a version that kept none) records the server's range. */
  async open(): Promise<void> {
    const path = join(this.parts.base, RECORD);
    const recorded = asIdRange(await readJson<unknown>(path));
    if (recorded) {
      this.recorded = recorded;
      return;
    }
    // an older version unpacked for the range it ran with, taken to be this one: an upgrade moves nothing
    await atomicWrite(path, JSON.stringify(this.parts.ids));
    this.recorded = this.parts.ids;
  }

  /** The range a layer's files are owned in. */
  rangeOf(meta: LayerMeta): IdRange {
    return meta.ids ?? this.recorded ?? this.parts.ids;
  }

  /** The meta of the layer once its files are in the server's range: at once when they are, else after moving them. */
  current(meta: LayerMeta): Promise<LayerMeta> {
    if (sameIdRange(this.rangeOf(meta), this.parts.ids)) return Promise.resolve(meta);
    let work = this.moving.get(meta.diffId);
    if (!work) {
      work = this.move(meta.diffId).finally(() => this.moving.delete(meta.diffId));
      this.moving.set(meta.diffId, work);
    }
    return work;
  }

  /** Whether the layer is being moved (a collect leaves it, and the blob it is unpacked from). */
  isMoving(diffId: string): boolean {
    return this.moving.has(diffId);
  }

  /** Removes the old layer folders kept aside that no mount uses, and what moves cut short left under such names. */
  async dropParked(): Promise<void> {
    const names = (await readdir(this.layersDir)).filter((n) => PARKED.test(n) || PARKED_NOTE.test(n));
    for (const name of new Set(names.map((n) => n.replace(/\.json$/, '')))) {
      // a move of that layer under way owns what it made
      if (this.moving.has(`sha256:${name.slice(0, 64)}`)) continue;
      await this.dropIfUnused(name);
    }
  }

  /** Brings one layer into the server's range: from its blob when one is kept, else by shifting its owners. */
  private async move(diffId: string): Promise<LayerMeta> {
    const meta = await this.stored(diffId);
    if (!meta) throw notStored(diffId);
    // moved meanwhile by a caller that read the meta first
    if (sameIdRange(this.rangeOf(meta), this.parts.ids)) return meta;
    // swapped in before a failure or a crash that left the meta unwritten: only the meta is missing
    const finished = await this.parts.mutex.run(() => this.finishSwapped(diffId));
    if (finished) return finished;
    const from = this.rangeOf(meta);
    const blob = await this.keptBlob(meta.blobs);
    if (!blob) return this.shift(diffId, from, 'no blob of it is kept');
    try {
      return await this.parts.limiter.run(() => this.replace(diffId, (dir) => this.unpack(diffId, blob, dir)));
    } catch (err) {
      // the layer's folder is in the new range already: shifting it would be wrong; the next use writes the meta
      if (err instanceof UnrecordedMove) throw err;
      if (!(await this.stored(diffId))) throw notStored(diffId);
      return this.shift(diffId, from, `unpacking it again failed (${(err as Error).message})`);
    }
  }

  /** Unpacks the layer's blob into `dir`, in the server's range, and checks it is the layer. */
  private async unpack(diffId: string, blob: string, dir: string): Promise<void> {
    const applied = await applyLayerTar(blob, dir, this.parts.ids, undefined, { ...UNBOUNDED, what: `layer "${diffId}"` });
    if (applied.diffId !== diffId) throw new Error(`blob "${blob}" unpacked to diff_id "${applied.diffId}"`);
  }

  /**
   * Shifts the layer's owners (no blob to unpack again): in place when no overlay uses it
   * (idempotent, so a shift cut short is finished by the next), else in a copy swapped in.
   */
  private shift(diffId: string, from: IdRange, why: string): Promise<LayerMeta> {
    // ranges that overlap but start apart cannot be told apart file by file: refused, as for folder images
    assertShiftable(from, this.parts.ids);
    return this.parts.limiter.run(async () => {
      const meta = await this.stored(diffId);
      if (!meta) throw notStored(diffId);
      const layer = this.layerPath(diffId);
      const users = await overlaysUsing({ names: this.linkNames(meta.link), base: this.parts.base, folder: await folderId(layer) });
      const where = users.length === 0 ? 'in place' : `in a copy swapped in for it (${users.length} overlay(s) mounted before the change still use its files)`;
      this.parts.log?.(
        `layer ${diffId}: ${why}, so its files are shifted from id range "${formatIdRange(from)}" to "${formatIdRange(this.parts.ids)}" ${where}; chown drops their file capabilities (security.capability)`,
      );
      if (users.length > 0) {
        return this.replace(diffId, async (dir) => {
          await copyTree(layer, dir);
          await shiftTree(dir, from, this.parts.ids);
        });
      }
      await shiftTree(layer, from, this.parts.ids);
      return this.parts.mutex.run(async () => {
        const current = await this.readMeta(diffId);
        if (!current) throw notStored(diffId);
        const moved: LayerMeta = { ...current, ids: this.parts.ids };
        await atomicWrite(this.metaPath(diffId), JSON.stringify(moved));
        return moved;
      });
    });
  }

  /**
   * Makes the layer's folder anew (`fill`) under the name the old one is then kept aside under,
   * swaps the two, and records the move. Up to the swap a failure removes what it made (and the
   * old folder is untouched); after it nothing is removed: the old folder is kept for the mounts
   * that use it, and an UnrecordedMove is thrown when the meta could not be written.
   */
  private async replace(diffId: string, fill: (dir: string) => Promise<void>): Promise<LayerMeta> {
    const layer = this.layerPath(diffId);
    const aside = `${layer}.old-${randomBytes(4).toString('hex')}`;
    const note = await this.parts.mutex.run(() => this.noteAside(diffId, aside));
    let swapped = false;
    try {
      await fill(aside);
      return await this.parts.mutex.run(async () => {
        const meta = await this.stored(diffId);
        if (!meta) throw notStored(diffId);
        if (meta.link !== note.link || !sameFolder(await folderId(layer), note)) throw new Error(`layer "${diffId}" changed while it was moved`);
        await exchangePaths(aside, layer);
        swapped = true;
        return await this.finish(diffId, meta, aside, note);
      });
    } catch (err) {
      if (swapped) throw new UnrecordedMove(diffId, err as Error);
      // never swapped in: the new folder, its note and its link go (the sweep's dropParked does it if this fails)
      await this.dropIfUnused(basename(aside)).catch(() => undefined);
      throw err;
    }
  }

  /** Under the store's lock: a new link for the layer, and the note (on disk) of what the old folder will be, before anything is made under `aside`. */
  private async noteAside(diffId: string, aside: string): Promise<AsideNote> {
    const meta = await this.stored(diffId);
    const old = await folderId(this.layerPath(diffId));
    if (!meta || !old) throw notStored(diffId);
    const newLink = await this.freeLinkName();
    const linkPath = join(this.linkDir, newLink);
    await symlink(`../layers/${hexOf(diffId)}`, linkPath);
    try {
      await syncDir(this.linkDir);
      const note: AsideNote = { ...old, link: meta.link, newLink, ids: this.parts.ids };
      await atomicWrite(`${aside}.json`, JSON.stringify(note), { sync: true });
      return note;
    } catch (err) {
      await rm(linkPath, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  /** Under the store's lock, once `aside` holds the old folder: the meta names the new range and link; the old link leads to the old folder, which goes unless a mount uses it. */
  private async finish(diffId: string, meta: LayerMeta, aside: string, note: AsideNote): Promise<LayerMeta> {
    // the swap is on disk before the meta that relies on it
    await syncDir(this.layersDir);
    const newLink = join(this.linkDir, note.newLink);
    if ((await readlink(newLink).catch(() => undefined)) === undefined) await symlink(`../layers/${hexOf(diffId)}`, newLink);
    const moved: LayerMeta = { ...meta, link: note.newLink, ids: note.ids };
    await atomicWrite(this.metaPath(diffId), JSON.stringify(moved));
    // what mounts made before the move name now leads to the folder they use (they are found by the link's name anyway)
    await relink(join(this.linkDir, note.link), `../layers/${basename(aside)}`).catch(() => undefined);
    await this.dropIfUnused(basename(aside)).catch(() => undefined);
    return moved;
  }

  /** Under the store's lock: finishes a move whose swap was done (a folder aside is the noted old one) but whose meta still names the old link. */
  private async finishSwapped(diffId: string): Promise<LayerMeta | undefined> {
    const meta = await this.stored(diffId);
    if (!meta || sameIdRange(this.rangeOf(meta), this.parts.ids)) return undefined;
    const hex = hexOf(diffId);
    for (const name of (await readdir(this.layersDir)).filter((n) => PARKED.test(n) && n.startsWith(hex))) {
      const aside = join(this.layersDir, name);
      const note = asNote(await readJson<unknown>(`${aside}.json`));
      if (note?.link !== meta.link || !sameIdRange(note.ids, this.parts.ids) || !sameFolder(await folderId(aside), note)) continue;
      this.parts.log?.(`layer ${diffId}: its move into id range "${formatIdRange(this.parts.ids)}" was done but not recorded; recording it now`);
      return this.finish(diffId, meta, aside, note).catch((err: unknown) => {
        throw new UnrecordedMove(diffId, err as Error);
      });
    }
    return undefined;
  }

  /**
   * Removes a folder under an aside name, with its note and the links made for it, unless it
   * must stay: it is the layer's old folder (the one its note names) and either the layer's meta
   * does not name the new folder yet, or an overlay names the old link or resolves to it. A folder
   * under such a name that is not the noted one was never swapped in: nothing uses it.
   */
  private async dropIfUnused(name: string): Promise<boolean> {
    const folder = join(this.layersDir, name);
    const hex = name.slice(0, 64);
    const note = asNote(await readJson<unknown>(`${folder}.json`));
    const here = await folderId(folder);
    const meta = await this.readMeta(`sha256:${hex}`);
    if (here && (!note || sameFolder(here, note))) {
      if (note && meta?.link === note.link) return false;
      // no note (none of this version's moves leaves that): judged by what resolves to it alone
      if ((await overlaysUsing({ names: note ? this.linkNames(note.link) : [], base: this.parts.base, folder: here })).length > 0) return false;
    }
    if (note) for (const link of [note.link, note.newLink]) await this.dropLink(link, hex, name, meta);
    if (here) await removeTree(folder);
    await rm(`${folder}.json`, { force: true });
    return true;
  }

  /** Removes a link a move made or left, unless the layer's meta names it or it leads elsewhere now. */
  private async dropLink(link: string, hex: string, aside: string, meta: LayerMeta | undefined): Promise<void> {
    if (meta?.link === link) return;
    const path = join(this.linkDir, link);
    const target = await readlink(path).catch(() => undefined);
    if (target === `../layers/${hex}` || target === `../layers/${aside}`) await rm(path, { force: true });
  }

  /** The texts an overlay mounted through the link shows for it: absolute, or relative to the store's base (store.relativeLowerDirs). */
  private linkNames(link: string): string[] {
    return [join(this.linkDir, link), `l/${link}`];
  }

  /** A link name no entry of `l/` has (the old one stays, for the mounts made through it). */
  private async freeLinkName(): Promise<string> {
    for (;;) {
      const name = [...randomBytes(8)].map((b) => LINK_CHARS[b % LINK_CHARS.length]).join('');
      if (!(await lstat(join(this.linkDir, name)).catch(() => undefined))) return name;
    }
  }

  /** The first of the layer's blobs the store still has. */
  private async keptBlob(blobs: readonly string[]): Promise<string | undefined> {
    for (const digest of blobs) {
      const path = await this.parts.blob(digest);
      if (path) return path;
    }
    return undefined;
  }

  private get layersDir(): string {
    return join(this.parts.base, 'layers');
  }

  private get linkDir(): string {
    return join(this.parts.base, 'l');
  }

  private layerPath(diffId: string): string {
    return join(this.layersDir, hexOf(diffId));
  }

  private metaPath(diffId: string): string {
    return join(this.layersDir, `${hexOf(diffId)}.json`);
  }

  private readMeta(diffId: string): Promise<LayerMeta | undefined> {
    return readJson<LayerMeta>(this.metaPath(diffId));
  }

  /** The meta of a layer whose folder is there too (a collect may have taken both meanwhile). */
  private async stored(diffId: string): Promise<LayerMeta | undefined> {
    const meta = await this.readMeta(diffId);
    return meta && (await stat(this.layerPath(diffId)).catch(() => undefined))?.isDirectory() ? meta : undefined;
  }
}

/** A move whose swap was done but whose meta could not be written: the layer's folder is in the new range; its next use writes the meta. */
export class UnrecordedMove extends Error {
  constructor(diffId: string, cause: Error) {
    super(`layer "${diffId}" was moved into the new id range but its record could not be written (${cause.message}); its next use records it`, { cause });
    this.name = 'UnrecordedMove';
  }
}

/** Copies a folder whole: owners, modes, times, extended attributes (file capabilities, overlay's opaque marks), hard links, device nodes (whiteouts) and FIFOs. */
async function copyTree(from: string, to: string): Promise<void> {
  await runCommand('cp', ['-a', '--no-target-directory', from, to], undefined, COPY_TIMEOUT_MS);
}

/** Points a symlink elsewhere in one rename. */
async function relink(path: string, target: string): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await symlink(target, tmp);
  await rename(tmp, path).catch(async (err: unknown) => {
    await rm(tmp, { force: true });
    throw err;
  });
}

const sameFolder = (a: FolderId | undefined, b: FolderId): boolean => a?.dev === b.dev && a.ino === b.ino;

/** A note of this version's form, or undefined. */
function asNote(value: unknown): AsideNote | undefined {
  const n = value as Partial<AsideNote> | undefined;
  const ids = asIdRange(n?.ids);
  return n && ids && [n.dev, n.ino, n.link, n.newLink].every((v) => typeof v === 'string' && v !== '') ? { dev: n.dev as string, ino: n.ino as string, link: n.link as string, newLink: n.newLink as string, ids } : undefined;
}

/** Renames a folder to a temp name first (the sweep finishes a removal cut short), then removes it. */
async function removeTree(path: string): Promise<void> {
  const doomed = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  if (await rename(path, doomed).then(() => true, () => false)) await rm(doomed, { recursive: true, force: true });
}

function hexOf(diffId: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(diffId);
  if (!m) throw new Error(`diff_id "${diffId}" is not sha256:<64 hex>`);
  return m[1] as string;
}

const notStored = (diffId: string): Error => new Error(`layer "${diffId}" is not stored`);

/** A recorded range, or undefined for anything else. */
function asIdRange(value: unknown): IdRange | undefined {
  const r = value as Partial<IdRange> | undefined;
  return r && [r.uid, r.gid, r.size].every((n) => Number.isSafeInteger(n)) ? { uid: r.uid as number, gid: r.gid as number, size: r.size as number } : undefined;
}
