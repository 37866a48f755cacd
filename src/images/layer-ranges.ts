/**
 * Unpacked layers follow the server's id range. A layer's files are owned in the range it was
 * unpacked for: its meta's `ids`, or, for a meta written before ranges were recorded, the range
 * `<base>/ids.json` names (written when the store is first opened by a version that records
 * ranges: the server's range then, since that is where an older version unpacked its layers).
 *
 * When the range changes, a layer is brought into the new one the first time an image that has
 * it is mounted, once (concurrent callers share the work):
 * - unpacked again from its kept blob into a temp folder, as the first time (owners and the
 *   root id of v3 file capabilities right), checked against its diff_id, and swapped with the
 *   old folder in one renameat2(RENAME_EXCHANGE), so the path and its `l/<short>` link always
 *   name a whole layer; the old folder is then removed, or kept aside while a container started
 *   before the change still has it mounted;
 * - with no blob kept (or when that fails), its owners are shifted in place (shiftTree; a shift
 *   cut short is finished by the next one), which drops file capabilities.
 * The meta names the new range only once every file is in it, so a crash leaves a layer that
 * is moved again on its next use, and temp folders that the store's sweep removes.
 */
import { randomBytes } from 'node:crypto';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { assertShiftable, formatIdRange, sameIdRange, type IdRange } from '../runtime/id-range.ts';
import { shiftTree } from '../runtime/id-shift.ts';
import { exchangePaths } from './exchange-paths.ts';
import { atomicWrite, readJson } from './json-files.ts';
import { applyLayerTar } from './layer-apply.ts';
import { mountKeys, overlaysUsing, type MountKey } from './layer-mounts.ts';
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
/** An old layer folder kept for the mounts listed in `<name>.json`. */
const PARKED = /^[0-9a-f]{64}\.old-[0-9a-f]{8}$/;
const PARKED_NOTE = /^[0-9a-f]{64}\.old-[0-9a-f]{8}\.json$/;
/** A layer unpacked again is held to no limit: its blob was verified and accepted once, and a limit lowered since must not strand an image. */
const UNBOUNDED = { maxBytes: Number.MAX_SAFE_INTEGER, maxEntries: Number.MAX_SAFE_INTEGER };

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

  /** Removes the old layer folders kept aside whose mounts are all gone. */
  async dropParked(): Promise<void> {
    const dir = this.layersDir;
    const names = await readdir(dir);
    if (!names.some((n) => PARKED.test(n) || PARKED_NOTE.test(n))) return;
    const mounted = await mountKeys();
    for (const name of names.filter((n) => PARKED.test(n))) {
      const note = await readJson<{ mounts?: MountKey[] }>(join(dir, `${name}.json`));
      if (note?.mounts?.some((k) => mounted.has(k))) continue;
      await removeTree(join(dir, name));
      await rm(join(dir, `${name}.json`), { force: true });
    }
    // a note whose folder never got its name (a crash in between): the folder was a temp one, swept
    for (const name of names.filter((n) => PARKED_NOTE.test(n) && !names.includes(n.slice(0, -'.json'.length)))) await rm(join(dir, name), { force: true });
  }

  /** Brings one layer into the server's range: from its blob when one is kept, else by shifting its owners. */
  private async move(diffId: string): Promise<LayerMeta> {
    const meta = await this.stored(diffId);
    if (!meta) throw notStored(diffId);
    // moved meanwhile by a caller that read the meta first
    if (sameIdRange(this.rangeOf(meta), this.parts.ids)) return meta;
    const blob = await this.keptBlob(meta.blobs);
    if (!blob) return this.shift(diffId, this.rangeOf(meta), 'no blob of it is kept');
    try {
      return await this.unpackAgain(diffId, blob);
    } catch (err) {
      if (!(await this.stored(diffId))) throw notStored(diffId);
      return this.shift(diffId, this.rangeOf(meta), `unpacking it again failed (${(err as Error).message})`);
    }
  }

  /** Unpacks the blob into a temp folder in the server's range and swaps it with the layer's folder. */
  private unpackAgain(diffId: string, blob: string): Promise<LayerMeta> {
    return this.parts.limiter.run(async () => {
      const fresh = `${this.layerPath(diffId)}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        const applied = await applyLayerTar(blob, fresh, this.parts.ids, undefined, { ...UNBOUNDED, what: `layer "${diffId}"` });
        if (applied.diffId !== diffId) throw new Error(`blob "${blob}" unpacked to diff_id "${applied.diffId}"`);
        return await this.parts.mutex.run(() => this.swapIn(diffId, fresh));
      } finally {
        // the old folder after the swap (unless kept aside), or what a failed unpack left; a temp name, so the sweep finishes a removal cut short
        await rm(fresh, { recursive: true, force: true });
      }
    });
  }

  /** Under the store's lock: the new folder takes the layer's place, then its meta names the new range. */
  private async swapIn(diffId: string, fresh: string): Promise<LayerMeta> {
    const meta = await this.stored(diffId);
    const layer = this.layerPath(diffId);
    if (!meta) throw notStored(diffId);
    // read before the swap: every mount of the layer now is of the old folder
    const users = await overlaysUsing([join(this.parts.base, 'l', meta.link), `l/${meta.link}`, layer]);
    await exchangePaths(fresh, layer);
    const moved: LayerMeta = { ...meta, ids: this.parts.ids };
    await atomicWrite(this.metaPath(diffId), JSON.stringify(moved));
    if (users.length > 0) {
      // containers started before the change still run on the old files: removing them would pull their files from under them
      const parked = `${layer}.old-${randomBytes(4).toString('hex')}`;
      await atomicWrite(`${parked}.json`, JSON.stringify({ mounts: users }));
      await rename(fresh, parked);
    }
    return moved;
  }

  /** Shifts the layer's owners in place (no blob to unpack again): idempotent, so a shift cut short is finished by the next. */
  private shift(diffId: string, from: IdRange, why: string): Promise<LayerMeta> {
    // ranges that overlap but start apart cannot be told apart file by file: refused, as for folder images
    assertShiftable(from, this.parts.ids);
    return this.parts.limiter.run(async () => {
      this.parts.log?.(
        `layer ${diffId}: ${why}, so its files are shifted from id range "${formatIdRange(from)}" to "${formatIdRange(this.parts.ids)}" in place; chown drops their file capabilities (security.capability)`,
      );
      await shiftTree(this.layerPath(diffId), from, this.parts.ids);
      return this.parts.mutex.run(async () => {
        const meta = await this.readMeta(diffId);
        if (!meta) throw notStored(diffId);
        const moved: LayerMeta = { ...meta, ids: this.parts.ids };
        await atomicWrite(this.metaPath(diffId), JSON.stringify(moved));
        return moved;
      });
    });
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
