/**
 * Snapshots of containers' files, their restore and copies of containers: the rows in the store
 * say what each snapshot is, the snapshot store (src/snapshots) holds its files. A snapshot exists
 * once both are written: its files first, then its row; a delete removes the row first, then the
 * files. What a crash leaves between the two (files without a row) is swept at the next start.
 */
import type { CopyContainerBody, CreateSnapshotBody, SnapshotConfig } from '../api/schemas.ts';
import type { RuntimeDriver } from '../runtime/driver.ts';
import { sameIdRange, type IdRange } from '../runtime/id-range.ts';
import type { Readable } from 'node:stream';
import type { Packed } from '../cluster/transfer.ts';
import type { FreezeHooks } from '../snapshots/capture.ts';
import type { SnapshotStore } from '../snapshots/store.ts';
import { SnapshotAliasTakenError, type ContainerRecord, type SnapshotRecord, type Store } from '../store/store.ts';
import type { Actor } from './actor.ts';
import type { ContainerService, HeldContainer, ServerIdentity } from './container-service.ts';
import { HoodyError, invalidInput, notFound } from './errors.ts';
import { newId, nowIso } from './ids.ts';

/** The snapshot store's calls the service uses. */
export type SnapshotFiles = Pick<SnapshotStore, 'capture' | 'restore' | 'delete' | 'collect' | 'collectIfIdle' | 'list' | 'get' | 'recordRestored' | 'dropHint' | 'hints' | 'pack' | 'receive'>;

export interface SnapshotServiceDeps {
  store: Store;
  driver: RuntimeDriver;
  containers: ContainerService;
  files: SnapshotFiles;
  server: ServerIdentity;
  /** Settles what a restore cut short left beside a container's files: undone when `undo`, else made final; leftovers removed. */
  settleRestore?: (filesDir: string, undo: boolean) => Promise<'undone' | 'kept' | 'none'>;
  warn?: (message: string, err?: unknown) => void;
  /** The most snapshots one container may have (QUOTA_EXCEEDED past it); no cap without it. */
  maxPerContainer?: number;
  /** The host id range containers' files are owned in now; a snapshot cut in another is moved into it when restored. */
  ids?: IdRange;
  /** Moves a file tree's owners from one id range to another. */
  shiftIds?: (root: string, from: IdRange, to: IdRange) => Promise<void>;
}

/** What the start-up sweep found and removed. */
export interface SnapshotSweepReport {
  /** Snapshot folders with no row (a capture or delete cut short, a copy's own capture). */
  orphanFolders: number;
  /** Rows of this server whose folder is gone (removed: they could not be restored). */
  rowsWithoutFiles: number;
  /** Leftovers of restores cut short beside containers' files. */
  restoreLeftovers: number;
  /** Disk freed from files no snapshot holds any more. */
  reclaimedBytes: number;
}

const ID_FORMAT = /^[0-9a-f]{24}$/;
/** How often freeing snapshot files is tried again while other snapshot work runs. */
const RECLAIM_RETRY_MS = 2000;

export class SnapshotService {
  /** Files being captured for a copy (a copy's own snapshot, never listed): kept from the sweep. */
  private readonly copying = new Set<string>();

  constructor(private readonly deps: SnapshotServiceDeps) {}

  /**
   * Cuts a snapshot of the container's files: a running container is frozen only while the files
   * changed since the first pass are taken (`frozen_ms`); a paused one is refused (its freeze is
   * its owner's), as is one that another operation holds.
   */
  async create(actor: Actor, containerId: string, body: CreateSnapshotBody): Promise<SnapshotRecord> {
    const alias = body.alias ?? null;
    // a path names a snapshot by id or alias: an alias may not read as an id
    if (alias !== null && ID_FORMAT.test(alias)) throw invalidInput('a snapshot alias may not be 24 hex digits (that is how snapshot ids are written)', { field: 'alias' });
    return this.deps.containers.holding(actor, containerId, 'snapshot', body.reason, async (c, held) => {
      const existing = await this.deps.store.listSnapshots({ container_id: c.id });
      if (alias !== null) {
        const taken = existing.find((s) => s.alias === alias);
        if (taken) throw aliasTaken(alias, taken.id);
      }
      // counted under the container's claim: two snapshots of one container cannot pass it together
      const max = this.deps.maxPerContainer;
      if (max !== undefined && existing.length >= max) {
        throw new HoodyError('QUOTA_EXCEEDED', `a container may have at most ${max} snapshots; delete one first`, { resource: 'snapshots', count: existing.length, max });
      }
      const id = newId();
      const previous = await this.previousOf(c.id);
      const captured = await this.capture(c, id, previous, held);
      // this snapshot now says more of the files than what a restore left
      await this.deps.files.dropHint(c.id).catch(() => undefined);
      const record: SnapshotRecord = {
        id,
        container_id: c.id,
        server_id: c.server_id,
        alias,
        image_id: c.image_id ?? null,
        container_image: c.container_image,
        config: configOf(c),
        files: captured.files,
        content_bytes: captured.bytes,
        size_bytes: captured.newBytes,
        frozen_ms: captured.frozenMs,
        created_by: actor.userId,
        created_at: nowIso(),
      };
      try {
        await this.deps.store.createSnapshot(record);
      } catch (err) {
        await this.deps.files.delete(id).catch((e: unknown) => this.deps.warn?.(`files of the snapshot ${id} not recorded`, e));
        if (err instanceof SnapshotAliasTakenError) throw aliasTaken(alias ?? '', undefined);
        throw err;
      }
      return record;
    });
  }

  /** The container's snapshots, oldest first. */
  async list(actor: Actor, containerId: string): Promise<SnapshotRecord[]> {
    const c = await this.deps.containers.get(actor, containerId);
    return this.deps.store.listSnapshots({ container_id: c.id });
  }

  /** One snapshot of the container, by id or alias. */
  async get(actor: Actor, containerId: string, ref: string): Promise<SnapshotRecord> {
    const c = await this.deps.containers.get(actor, containerId);
    return this.find(c, ref);
  }

  /** Deletes a snapshot: its row, then its files; answers the disk freed (files no other snapshot holds). */
  async remove(actor: Actor, containerId: string, ref: string): Promise<{ snapshot_id: string; reclaimed_bytes: number }> {
    const c = await this.deps.containers.get(actor, containerId);
    const snap = await this.find(c, ref);
    if (snap.server_id !== this.deps.server.id) throw wrongServer(c);
    if (!(await this.deps.store.deleteSnapshot(snap.id))) throw notFound('snapshot', ref);
    await this.deps.files.delete(snap.id).catch((err: unknown) => this.deps.warn?.(`files of the deleted snapshot ${snap.id}`, err));
    return { snapshot_id: snap.id, reclaimed_bytes: await this.reclaim() };
  }

  /** Puts a snapshot's files and configuration back onto its stopped container (see ContainerService.restore). */
  async restore(actor: Actor, containerId: string, ref: string, reason: string | undefined): Promise<ContainerRecord> {
    const c = await this.deps.containers.get(actor, containerId);
    const snap = await this.find(c, ref);
    const config = { ...snap.config, container_image: snap.container_image, image_id: snap.image_id };
    return this.deps.containers.restore(actor, c.id, { id: snap.id, alias: snap.alias, config }, reason, async (held, claim) => {
      const dir = this.filesDir(held);
      const from = await this.rangeOf(snap.id, ref);
      const done = await this.deps.files.restore(snap.id, dir, { hold: true, ...(claim.signal ? { signal: claim.signal } : {}) });
      const { commit, undo } = done;
      if (!commit || !undo) throw new Error('the snapshot store did not hold the replaced files');
      try {
        await this.intoCurrentRange(from, dir);
      } catch (err) {
        await undo();
        throw err;
      }
      return {
        undo,
        commit: async () => {
          await commit();
          // the next snapshot of it reads only what changed after the restore
          await this.deps.files.recordRestored(snap.id, dir, held.id).catch((err: unknown) => this.deps.warn?.(`what the restore of ${held.id} wrote`, err));
        },
      };
    });
  }

  /**
   * A new container with the source's files: those of one of its snapshots, or (the source held
   * while they are read, frozen briefly when running) its files as they are now.
   */
  async copy(actor: Actor, containerId: string, body: CopyContainerBody): Promise<ContainerRecord> {
    const source = await this.deps.containers.get(actor, containerId);
    if (source.server_id !== this.deps.server.id) throw wrongServer(source);
    if (body.snapshot_id !== undefined) {
      const snap = await this.find(source, body.snapshot_id);
      const from = { ...source, ...snap.config, container_image: snap.container_image, image_id: snap.image_id };
      return this.deps.containers.copy(actor, from, body, { source_container_id: source.id, snapshot_id: snap.id }, async (target, signal) => {
        const range = await this.rangeOf(snap.id, body.snapshot_id ?? snap.id);
        await this.deps.files.restore(snap.id, this.filesDir(target), signal ? { signal } : {});
        await this.intoCurrentRange(range, this.filesDir(target));
      });
    }
    // the source's files as they are now, cut as a snapshot nobody lists, then put into the new container
    const cutId = `copy-${newId()}`;
    this.copying.add(cutId);
    try {
      const cut = await this.deps.containers.holding(actor, containerId, 'copy', undefined, async (c, held) => ({ source: c, captured: await this.capture(c, cutId, await this.previousOf(c.id), held, true) }));
      return await this.deps.containers.copy(actor, cut.source, body, { source_container_id: source.id, ...(cut.captured.frozenMs === null ? {} : { frozen_ms: cut.captured.frozenMs }) }, async (target, signal) => {
        await this.deps.files.restore(cutId, this.filesDir(target), signal ? { signal } : {});
      });
    } finally {
      this.copying.delete(cutId);
      await this.deps.files.delete(cutId).catch(() => undefined);
      await this.reclaim();
    }
  }

  /**
   * Undoes a restore of the container that was cut short (its operation never recorded it): its
   * files go back to those it had. For recovery at start, before anything runs.
   */
  async undoCutRestore(containerId: string): Promise<boolean> {
    if (!this.deps.settleRestore || !this.deps.driver.filesDir) return false;
    return (await this.deps.settleRestore(this.deps.driver.filesDir(containerId), true)) === 'undone';
  }

  /**
   * Packs the files of container `containerId`'s snapshots (those this server holds) into `file`,
   * for the server it moves to; undefined when it has none.
   */
  async packFor(containerId: string, file: string, signal?: AbortSignal): Promise<{ ids: string[]; packed: Packed } | undefined> {
    const rows = await this.deps.store.listSnapshots({ container_id: containerId, server_id: this.deps.server.id });
    if (rows.length === 0) return undefined;
    const ids = rows.map((r) => r.id);
    return { ids, packed: await this.pack(ids, file, signal) };
  }

  /** Packs the files of snapshots `ids` (held here) into `file`. */
  pack(ids: readonly string[], file: string, signal?: AbortSignal): Promise<Packed> {
    return this.deps.files.pack(ids, file, signal);
  }

  /** Writes snapshot `id`'s files as container `c`'s (made, never started), moved into this server's id range. */
  async restoreInto(id: string, c: ContainerRecord, signal?: AbortSignal): Promise<void> {
    const range = await this.rangeOf(id, id);
    await this.deps.files.restore(id, this.filesDir(c), signal ? { signal } : {});
    await this.intoCurrentRange(range, this.filesDir(c));
  }

  /** Whether this server's store has snapshot `id`'s files (its own, or a replica). */
  async holds(id: string): Promise<boolean> {
    return this.deps.files.get(id).then(
      () => true,
      () => false,
    );
  }

  /** Takes snapshot files packed by another server's `packFor` (SHA-256 checked); answers the ids new here. */
  async receive(body: Readable, sha256: string): Promise<string[]> {
    return this.deps.files.receive(body, sha256);
  }

  /** Removes the files of snapshots this server no longer holds (moved away, received for a move that failed, a deleted snapshot's replica), unless a row says it keeps them. */
  async dropFiles(ids: readonly string[], hintOf?: string): Promise<void> {
    if (hintOf !== undefined) await this.deps.files.dropHint(hintOf).catch(() => undefined);
    let dropped = 0;
    for (const id of ids) {
      // never the files a row says this server keeps (its own snapshot, or a replica): a race that wrote one must not cost them
      const row = await this.deps.store.getSnapshot(id);
      if (row?.server_id === this.deps.server.id || (row && (await this.deps.store.listSnapshotReplicas({ snapshot_id: id, server_id: this.deps.server.id })).length > 0)) continue;
      await this.deps.files.delete(id).catch((err: unknown) => this.deps.warn?.(`files of snapshot ${id}, held elsewhere now`, err));
      dropped++;
    }
    if (dropped > 0) await this.reclaim();
  }

  /** Removes the files of a deleted container's snapshots (their rows went with the container). */
  async removeFilesOf(containerId: string): Promise<void> {
    const records = await this.deps.files.list();
    const mine = records.filter((r) => r.meta.container_id === containerId);
    await this.deps.files.dropHint(containerId);
    if (mine.length === 0) return;
    for (const r of mine) await this.deps.files.delete(r.id);
    await this.reclaim();
  }

  /**
   * At start, before anything is served: removes snapshot folders no row names as this server's
   * or as a replica kept here (captures and deletes cut short, copies' own captures, snapshots
   * deleted or moved away meanwhile), rows of this server (and replicas) whose folder is gone, what cut
   * short restores left beside containers' files, and the files no snapshot holds any more.
   */
  async sweep(): Promise<SnapshotSweepReport> {
    const report: SnapshotSweepReport = { orphanFolders: 0, rowsWithoutFiles: 0, restoreLeftovers: 0, reclaimedBytes: 0 };
    const rows = await this.deps.store.listSnapshots({ server_id: this.deps.server.id });
    const replicas = await this.deps.store.listSnapshotReplicas({ server_id: this.deps.server.id });
    const known = new Set([...rows.map((r) => r.id), ...replicas.map((r) => r.snapshot_id)]);
    const folders = await this.deps.files.list();
    const present = new Set(folders.map((f) => f.id));
    for (const r of replicas) {
      if (present.has(r.snapshot_id)) continue;
      this.deps.warn?.(`the replica of snapshot ${r.snapshot_id} kept here has no files any more; its row is removed`);
      await this.deps.store.deleteSnapshotReplica(r.snapshot_id, r.server_id);
    }
    for (const f of folders) {
      if (known.has(f.id) || this.copying.has(f.id)) continue;
      await this.deps.files.delete(f.id);
      report.orphanFolders++;
    }
    for (const r of rows) {
      if (present.has(r.id)) continue;
      this.deps.warn?.(`snapshot ${r.id} of container ${r.container_id} has no files any more; its row is removed`);
      await this.deps.store.deleteSnapshot(r.id);
      report.rowsWithoutFiles++;
    }
    const settle = this.deps.settleRestore;
    if (settle && this.deps.driver.filesDir) {
      // restores whose operation was cut short were undone by recovery: what is left is recorded, or leftovers
      for (const c of await this.deps.store.listContainers({ server_id: this.deps.server.id })) {
        const found = await settle(this.deps.driver.filesDir(c.id), false).catch((err: unknown) => (this.deps.warn?.(`leftovers of a restore of ${c.id}`, err), 'none' as const));
        if (found !== 'none') report.restoreLeftovers++;
      }
    }
    const containers = new Set((await this.deps.store.listContainers({ server_id: this.deps.server.id })).map((c) => c.id));
    for (const key of await this.deps.files.hints()) if (!containers.has(key)) await this.deps.files.dropHint(key);
    report.reclaimedBytes = (await this.deps.files.collect()).bytes;
    return report;
  }

  /**
   * Frees the files no snapshot holds any more: now when no other snapshot work runs (answers the
   * bytes freed), else soon after, in the background (answers 0), so that one tenant's long capture
   * never makes the others' deletes, copies and snapshots wait behind a collect.
   */
  private async reclaim(): Promise<number> {
    const done = await this.deps.files.collectIfIdle().catch((err: unknown) => (this.deps.warn?.('freeing snapshot files', err), undefined));
    if (done) return done.bytes;
    this.reclaimLater();
    return 0;
  }

  private reclaimTimer: NodeJS.Timeout | undefined;

  private reclaimLater(): void {
    if (this.reclaimTimer) return;
    this.reclaimTimer = setTimeout(() => {
      this.reclaimTimer = undefined;
      void this.deps.files.collectIfIdle().then(
        (done) => done ?? this.reclaimLater(),
        (err: unknown) => this.deps.warn?.('freeing snapshot files', err),
      );
    }, RECLAIM_RETRY_MS);
    this.reclaimTimer.unref();
  }

  private filesDir(c: ContainerRecord): string {
    if (!this.deps.driver.filesDir) throw new HoodyError('RUNTIME_ERROR', `this server's runtime (${this.deps.driver.name}) cannot snapshot containers`, { operation: 'snapshot' });
    return this.deps.driver.filesDir(c.id);
  }

  /** Captures the container's files as `id`: frozen for the last pass when it runs (the freeze always undone). */
  private async capture(c: ContainerRecord, id: string, previous: string | undefined, held: HeldContainer, forCopy = false): Promise<{ files: number; bytes: number; newBytes: number; frozenMs: number | null }> {
    const { driver } = this.deps;
    const dir = this.filesDir(c);
    const running = c.status === 'running';
    const freeze: FreezeHooks | undefined = running ? { freeze: () => driver.pause(c.id, held.signal), thaw: () => driver.resume(c.id) } : undefined;
    const result = await this.deps.files
      .capture(dir, id, {
        ...(previous === undefined ? {} : { previous }),
        hint: c.id,
        ...(freeze ? { freeze } : {}),
        ...(held.signal ? { signal: held.signal } : {}),
        // a copy's own cut is not the source's snapshot: a delete of the source leaves it to the copy
        meta: { ...(forCopy ? { copy_of: c.id } : { container_id: c.id }), server_id: c.server_id, ...(this.deps.ids ? { ids: this.deps.ids } : {}) },
      })
      .catch((err: unknown) => {
        throw new HoodyError('RUNTIME_ERROR', `cannot snapshot container "${c.name}": ${err instanceof Error ? err.message : String(err)}`.slice(0, 2000), { operation: 'snapshot' });
      });
    const t = result.timings;
    return { files: result.files, bytes: result.bytes, newBytes: result.newBytes, frozenMs: running ? round(t.freezeMs + t.frozenMs + t.thawMs) : null };
  }

  /** Files restored from a snapshot cut while containers' files were owned in another id range (HOODY_USERNS_RANGE changed since) move into today's. */
  private async intoCurrentRange(from: IdRange | undefined, dir: string): Promise<void> {
    const { ids, shiftIds } = this.deps;
    if (!ids || !shiftIds || !from || sameIdRange(from, ids)) return;
    await shiftIds(dir, from, ids);
  }

  /** The id range a snapshot's files were cut in, read before they are written anywhere; NOT_FOUND when it was deleted meanwhile. */
  private async rangeOf(snapshotId: string, ref: string): Promise<IdRange | undefined> {
    const files = await this.deps.files.get(snapshotId).catch(() => undefined);
    if (!files) throw notFound('snapshot', ref);
    return files.meta.ids as IdRange | undefined;
  }

  /** The container's newest snapshot whose files are here: a capture reuses its unchanged files unread. */
  private async previousOf(containerId: string): Promise<string | undefined> {
    const rows = await this.deps.store.listSnapshots({ container_id: containerId });
    for (const r of rows.reverse()) {
      if (r.server_id !== this.deps.server.id) continue;
      if (await this.holds(r.id)) return r.id;
    }
    return undefined;
  }

  /** A snapshot of `c` by id or alias; another container's snapshot is not found. */
  private async find(c: ContainerRecord, ref: string): Promise<SnapshotRecord> {
    if (ID_FORMAT.test(ref)) {
      const byId = await this.deps.store.getSnapshot(ref);
      if (byId && byId.container_id === c.id) return byId;
    }
    const byAlias = (await this.deps.store.listSnapshots({ container_id: c.id })).find((s) => s.alias === ref);
    if (!byAlias) throw notFound('snapshot', ref);
    return byAlias;
  }
}

/** The configuration a snapshot keeps: what a restore puts back. */
function configOf(c: ContainerRecord): SnapshotConfig {
  return {
    container_image: c.container_image,
    image_id: c.image_id ?? null,
    command: c.command,
    environment_vars: c.environment_vars,
    autostart: c.autostart,
    hoody_kit: c.hoody_kit,
    resources: c.resources,
    stop_timeout: c.stop_timeout,
    restart_policy: c.restart_policy,
    programs: (c.programs ?? []).map((p) => ({ name: p.name, port: p.port, index: p.index, public: p.public })),
  };
}

function aliasTaken(alias: string, snapshotId: string | undefined): HoodyError {
  return new HoodyError('SNAPSHOT_ALIAS_TAKEN', `this container already has a snapshot named "${alias}"`, { alias, ...(snapshotId ? { snapshot_id: snapshotId } : {}) });
}

function wrongServer(c: ContainerRecord): HoodyError {
  return new HoodyError('WRONG_SERVER', `container "${c.name}" is on another server; send the request to that server's daemon`, { server_id: c.server_id });
}

const round = (ms: number): number => Math.round(ms * 10) / 10;
